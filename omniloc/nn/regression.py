"""Position regression trained through :class:`~omniloc.nn.training.TrainingModule`: the loss and
validation of a :class:`~omniloc.nn.sequence.MultimodalRegressor` (MTLoc's network) or of a
single-input regressor such as :class:`~omniloc.nn.sequence.IMURegressor`.

Loss of a batch of windows with normalised target positions ``xy*`` (B, 2)::

    L = mean_b ||xy_b - xy*_b||^2                     ("mse")
      | mean_b sum_axis huber_delta(xy_b - xy*_b)     ("huber", delta in normalised units)
      + floor_weight * mean over labelled windows of CE(floor logits, floor class)

Validation sums the position error in metres (normalised error x ``position_scale``) and the
floor hits; the monitored metric is ``val_pos_err_m``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .sequence import access_point_dropout, modality_dropout
from .training import TrainingModule

__all__ = ["PositionRegressionModule", "predict_positions"]


def _indices(batch) -> torch.Tensor:
    return batch[0] if isinstance(batch, (list, tuple)) else batch


class PositionRegressionModule(TrainingModule):
    """Training of a position regressor on windows held in buffers; batches are index tensors into them.

    Parameters
    ----------
    net : MultimodalRegressor or a module ``(B, ...) -> (B, 2)``
        With ``single_input``, ``net(x[idx])`` where ``x`` is the tensor named ``single_input``;
        otherwise ``net({**inputs, "present": present})["position"]`` (B, 2) and ``["floor_logits"]``.
    data, val : dict name -> tensor
        Training and validation tensors (``val`` may be None): ``present`` (N, K) bool,
        ``target`` (N, 2) normalised positions, ``floor`` (N,) int64 class (negative = unknown),
        and the inputs: one tensor per branch name, except ``"wifi"``, which is
        ``wifi_scans[scan_index[idx]]`` (scan features (S + 1, W) and (N,) rows into them).
    branches : list of str
        Input names in the order of ``present``'s columns.
    drop_p : list of float
        Modality-dropout probability per branch (:func:`~omniloc.nn.sequence.modality_dropout`).
    floor_weight : float
        Weight of the floor cross-entropy.
    loss : ``"mse"`` or ``"huber"``
    huber_delta : float
        Huber threshold in normalised units.
    optimizer, lr, weight_decay
        :class:`~omniloc.nn.training.TrainingModule`'s.
    position_scale : float
        Metres per normalised unit (validation errors are reported in metres).
    single_input : str, optional
        Name of the only input of a single-input regressor (e.g. ``"imu"``).
    ap_dropout : float
        Access-point dropout of the ``wifi`` input (:func:`~omniloc.nn.sequence.access_point_dropout`).
    n_access_points : int
        APs in the ``wifi`` features (needed with ``ap_dropout``).
    """

    def __init__(
        self,
        net,
        data: dict,
        val: dict | None,
        branches,
        drop_p,
        floor_weight: float,
        loss: str,
        huber_delta: float,
        optimizer: str,
        lr: float,
        weight_decay: float,
        position_scale: float,
        single_input: str | None = None,
        ap_dropout: float = 0.0,
        n_access_points: int = 0,
    ):
        super().__init__(net, optimizer=optimizer, lr=lr, weight_decay=weight_decay)
        self.ap_dropout, self.n_access_points = float(ap_dropout), int(n_access_points)
        self.branches = list(branches)
        self.drop_p = [float(p) for p in drop_p]
        self.floor_weight, self.loss_kind, self.huber_delta = float(floor_weight), loss, float(huber_delta)
        self.position_scale, self.single_input = float(position_scale), single_input
        self.add_data("train", data)
        self.add_data("val", val)

    def _run(self, split: str, idx: torch.Tensor, dropout: bool = False):
        present = self.data(split, "present")[idx]
        if dropout:
            present = modality_dropout(present, self.drop_p)
        if self.single_input is not None:
            return self.net(self.data(split, self.single_input)[idx]), None
        inputs = {}
        for b in self.branches:
            if b == "wifi":
                inputs[b] = self.data(split, "wifi_scans")[self.data(split, "scan_index")[idx]]
                if dropout and self.ap_dropout > 0:
                    inputs[b] = access_point_dropout(inputs[b], self.ap_dropout, self.n_access_points)
            else:
                inputs[b] = self.data(split, b)[idx]
        out = self.net({**inputs, "present": present})
        return out["position"], out["floor_logits"]

    def loss(self, batch):
        idx = _indices(batch)
        pos, logits = self._run("train", idx, dropout=True)
        target = self.data("train", "target")[idx]
        if self.loss_kind == "huber":
            loss = F.huber_loss(pos, target, reduction="none", delta=self.huber_delta).sum(dim=1).mean()
        else:
            loss = (pos - target).square().sum(dim=1).mean()
        extra = {"pos_loss": loss.detach()}
        if logits is not None and self.floor_weight > 0:
            fl = self.data("train", "floor")[idx]
            known = (fl >= 0).to(logits.dtype)
            ce = F.cross_entropy(logits, fl.clamp(min=0), reduction="none")
            ce = (ce * known).sum() / known.sum().clamp(min=1.0)
            extra["floor_ce"] = ce.detach()
            loss = loss + self.floor_weight * ce
        return loss, extra

    def validation_sums(self, batch) -> torch.Tensor:
        """``[error sum (m), windows, floor hits]`` of a batch, float64."""
        idx = _indices(batch)
        pos, logits = self._run("val", idx)
        err = (pos - self.data("val", "target")[idx]).norm(dim=1) * self.position_scale
        hits = torch.zeros((), device=err.device)
        if logits is not None:
            hits = (logits.argmax(dim=1) == self.data("val", "floor")[idx]).sum()
        n = torch.tensor(float(len(idx)), device=err.device)
        return torch.stack([err.sum().double(), n.double(), hits.double()])

    def validation_metrics(self, sums: torch.Tensor) -> dict[str, torch.Tensor]:
        """``val_pos_err_m`` (mean error, m) and, with a floor head, ``val_floor_hit`` (rate)."""
        out = {"val_pos_err_m": sums[0] / sums[1].clamp(min=1.0)}
        if getattr(self.net, "floor_head", None) is not None:
            out["val_floor_hit"] = sums[2] / sums[1].clamp(min=1.0)
        return out


@torch.no_grad()
def predict_positions(
    net, inputs: dict[str, np.ndarray], present: np.ndarray, rows: np.ndarray, batch_size: int, no_head_class: int = -1
) -> tuple[np.ndarray, np.ndarray]:
    """Batched inference of a :class:`~omniloc.nn.sequence.MultimodalRegressor` on CPU arrays.

    Parameters
    ----------
    net : MultimodalRegressor
        Put in eval mode.
    inputs : dict name -> array
        Per branch of ``net`` the (N, ...) float32 inputs, except ``"wifi"``: ``wifi_scans``
        (S, W) features and ``scan_index`` (N,) rows into them.
    present : (N, K) bool
        Availability per branch, in ``net.names`` order.
    rows : (R,) int
        Windows to run.
    batch_size : int
    no_head_class : int
        Floor class reported when ``net`` has no floor head.

    Returns
    -------
    xy : (R, 2) float64
        Normalised positions.
    floor_class : (R,) int64
        Arg-max of the floor logits.
    """
    net.eval()
    xy, cls = [], []
    for s in range(0, len(rows), int(batch_size)):
        r = rows[s : s + int(batch_size)]
        batch = {}
        for b in net.names:
            if b == "wifi":
                batch[b] = torch.from_numpy(inputs["wifi_scans"][inputs["scan_index"][r]])
            else:
                batch[b] = torch.from_numpy(inputs[b][r])
        out = net({**batch, "present": torch.from_numpy(present[r])})
        p, logits = out["position"], out["floor_logits"]
        xy.append(p.numpy().astype(np.float64))
        cls.append(logits.argmax(dim=1).numpy() if logits is not None else np.full(len(r), no_head_class, np.int64))
    if not xy:
        return np.zeros((0, 2)), np.zeros(0, np.int64)
    return np.concatenate(xy), np.concatenate(cls).astype(np.int64)
