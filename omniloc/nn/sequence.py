"""Sequence and multimodal-fusion blocks: LSTM window encoders, masked modality branches,
modality dropout, and MTLoc's fused network (Wei & Radu, Table I).

Every block takes ``float`` tensors and follows the device and dtype of its parameters.
Missing modalities are handled by :class:`MaskedBranch`: the branch output of a window whose
modality is missing is a learned "missing" embedding, so the fused layers are told that the
modality is absent instead of receiving zeros that look like a real feature vector.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from .encoders import MLP

__all__ = [
    "LSTMEncoder",
    "MaskedBranch",
    "modality_dropout",
    "access_point_dropout",
    "MultimodalRegressor",
    "multimodal_regressor",
    "IMURegressor",
    "warm_start_fusion",
    "parameter_rows",
    "format_parameter_table",
    "keras_comparison",
]


class LSTMEncoder(nn.Module):
    """One-layer LSTM over a window; the last hidden state is the window's feature.

    Parameters
    ----------
    in_features : int
        Channels per time step (e.g. 6 for accelerometer + gyroscope axes, 2 for their magnitudes).
    hidden : int
        Hidden units (128 in MTLoc's IMU-LSTM and MAG-LSTM).

    Shapes
    ------
    ``(B, T, in_features)`` -> ``(B, hidden)``.

    Notes
    -----
    PyTorch's LSTM has two bias vectors per gate block (``b_ih`` and ``b_hh``), Keras' one, so
    this block has ``4 * hidden`` more parameters than the same layer in Keras:
    ``4 * (hidden * (in_features + hidden) + 2 * hidden)``.
    """

    def __init__(self, in_features: int, hidden: int = 128):
        super().__init__()
        self.lstm = nn.LSTM(int(in_features), int(hidden), num_layers=1, batch_first=True)
        self.in_features, self.out_dim = int(in_features), int(hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, (h, _) = self.lstm(x)
        return h[-1]


class MaskedBranch(nn.Module):
    """A modality encoder whose output is a learned "missing" embedding where the modality is absent.

    Parameters
    ----------
    encoder : nn.Module
        Maps ``(B, ...)`` inputs to ``(B, out_dim)``; must have an ``out_dim`` attribute.

    Shapes
    ------
    ``x``: ``(B, ...)``, ``present``: ``(B,)`` bool -> ``(B, out_dim)``.

    Notes
    -----
    Rows with ``present = False`` are zeroed before the encoder (so NaN or garbage there cannot
    leak through the arithmetic) and their output is :attr:`missing`, whatever their input.
    A learned embedding rather than zeros plus a mask channel keeps the fused vector at
    ``sum(out_dim)`` (384 in MTLoc, as Table I) while letting the fusion layer distinguish
    "absent" from any real feature.
    """

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder
        self.out_dim = int(encoder.out_dim)
        self.missing = nn.Parameter(torch.zeros(self.out_dim))

    def forward(self, x: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        keep = present.reshape((-1,) + (1,) * (x.dim() - 1)).to(torch.bool)
        feat = self.encoder(torch.where(keep, x, torch.zeros((), dtype=x.dtype, device=x.device)))
        return torch.where(present.reshape(-1, 1).to(torch.bool), feat, self.missing.to(feat.dtype))


def modality_dropout(
    present: torch.Tensor, p: Sequence[float] | torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Randomly remove present modalities (training-time augmentation for missing sensors).

    Parameters
    ----------
    present : (B, K) bool
        Which of K modalities each sample has.
    p : (K,) float
        Probability of removing modality ``k`` from a sample that has it (independently per sample
        and modality).
    generator : torch.Generator, optional

    Returns
    -------
    (B, K) bool
        ``present`` with the removed entries set to False (absent ones stay absent).
    """
    p = torch.as_tensor(p, dtype=torch.float32, device=present.device).reshape(1, -1)
    if not bool((p > 0).any()):
        return present
    u = torch.rand(present.shape, generator=generator, device=present.device if generator is None else "cpu")
    return present & (u.to(present.device) >= p)


def access_point_dropout(
    features: torch.Tensor, p: float, n_access_points: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Randomly hide access points from WiFi feature vectors (training-time augmentation).

    Each access point of each sample is hidden with probability ``p``: all of its feature columns
    (``features`` holds ``G`` groups of ``n_access_points`` columns, e.g. standardised RSS then the
    heard mask) are set to 0, which is what "not heard" encodes. A scan of a test phone often
    misses some of the access points the survey heard at the same place; this teaches the WiFi
    branch not to depend on any single one.

    Parameters
    ----------
    features : (B, G * A) float
    p : float in [0, 1)
    n_access_points : int
        ``A``.
    generator : torch.Generator, optional

    Returns
    -------
    (B, G * A), same dtype and device.
    """
    a = int(n_access_points)
    if a <= 0 or features.shape[-1] % a:
        raise ValueError(f"features have {features.shape[-1]} columns, not a multiple of {a} access points")
    if not 0.0 <= float(p) < 1.0:
        raise ValueError(f"access-point dropout must be in [0, 1), got {p}")
    if p == 0:
        return features
    u = torch.rand(
        (features.shape[0], a), generator=generator, device=features.device if generator is None else "cpu"
    ).to(features.device)
    keep = (u >= float(p)).to(features.dtype)
    return features * keep.repeat(1, features.shape[-1] // a)


def warm_start_fusion(fused: MultimodalRegressor, partial: MultimodalRegressor) -> MultimodalRegressor:
    """Initialise ``fused`` so that it computes exactly what ``partial`` (fewer branches) computes.

    The branches ``partial`` has are copied; in the fusion layer, the weight columns of those
    branches are copied and the columns of the other branches are set to zero, so their features
    do not change the output until training moves those weights; the position and floor heads
    are copied. Training the fused model from here starts at the partial model's error.

    Parameters
    ----------
    fused, partial : MultimodalRegressor
        ``partial``'s branches must be a subset of ``fused``'s, with the same shapes, and both
        must have the same fusion width and floor classes.

    Returns
    -------
    ``fused``, modified in place.
    """
    missing = [k for k in partial.names if k not in fused.names]
    if missing:
        raise ValueError(f"the partial model has branches {missing} that the fused model lacks")
    offsets, o = {}, 0
    for k in fused.names:
        offsets[k] = o
        o += fused.branches[k].out_dim
    with torch.no_grad():
        for k in partial.names:
            fused.branches[k].load_state_dict(partial.branches[k].state_dict())
        w_f, w_p = fused.fusion[0].weight, partial.fusion[0].weight
        if w_f.shape[0] != w_p.shape[0]:
            raise ValueError(f"fusion widths differ: {w_f.shape[0]} and {w_p.shape[0]}")
        w_f.zero_()
        o = 0
        for k in partial.names:
            d = partial.branches[k].out_dim
            w_f[:, offsets[k] : offsets[k] + d] = w_p[:, o : o + d]
            o += d
        fused.fusion[0].bias.copy_(partial.fusion[0].bias)
        fused.position_head.load_state_dict(partial.position_head.state_dict())
        if (fused.floor_head is None) != (partial.floor_head is None):
            raise ValueError("one model has a floor head and the other has not")
        if fused.floor_head is not None:
            fused.floor_head.load_state_dict(partial.floor_head.state_dict())
    return fused


class MultimodalRegressor(nn.Module):
    """Modality branches -> concatenation -> FC -> 2-D position, plus an optional floor classifier.

    MTLoc's network (Table I) with ``branches`` ``{"imu": LSTM, "magnetometer": LSTM, "wifi": DNN}``:
    each branch is a :class:`MaskedBranch`, the fused vector (``sum`` of the branch widths, 384)
    goes through ``Linear(fused, fusion_hidden) -> ReLU -> Dropout``, then ``Linear(fusion_hidden, 2)``
    gives the (normalised) position and ``Linear(fusion_hidden, n_floor_classes)`` the floor
    logits (only when ``n_floor_classes >= 2``).

    Parameters
    ----------
    encoders : mapping name -> nn.Module
        One encoder per modality, in fusion order; each with an ``out_dim`` attribute.
    fusion_hidden : int
    n_floor_classes : int
        0 or 1: no floor head.
    dropout : float
        Dropout on the fused hidden layer.

    Shapes
    ------
    ``forward(data) -> dict``: ``data[name]`` ``(B, ...)`` per modality (e.g. ``imu`` ``(B, 10, 6)``
    standardised m/s^2 and rad/s, ``wifi`` ``(B, 2A)``) and ``data["present"]`` ``(B, K)`` bool in
    the order of ``encoders`` -> ``{"position": (B, 2), "floor_logits": (B, n_floor_classes) or
    None, "features": (B, fusion_hidden)}`` (position in the caller's normalised frame).
    """

    def __init__(
        self,
        encoders: Mapping[str, nn.Module],
        fusion_hidden: int = 128,
        n_floor_classes: int = 0,
        dropout: float = 0.0,
    ):
        super().__init__()
        if not encoders:
            raise ValueError("MultimodalRegressor needs at least one modality encoder")
        self.names = list(encoders)
        self.branches = nn.ModuleDict({k: MaskedBranch(v) for k, v in encoders.items()})
        fused = sum(b.out_dim for b in self.branches.values())
        self.fusion = nn.Sequential(nn.Linear(fused, int(fusion_hidden)), nn.ReLU(), nn.Dropout(float(dropout)))
        self.position_head = nn.Linear(int(fusion_hidden), 2)
        self.floor_head = nn.Linear(int(fusion_hidden), int(n_floor_classes)) if n_floor_classes >= 2 else None
        self.fused_dim = int(fused)

    def forward(self, data: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor | None]:
        present = data["present"]
        feats = [self.branches[k](data[k], present[:, i]) for i, k in enumerate(self.names)]
        h = self.fusion(torch.cat(feats, dim=1))
        logits = self.floor_head(h) if self.floor_head is not None else None
        return {"position": self.position_head(h), "floor_logits": logits, "features": h}

    def parameter_rows(self, input_shapes: Mapping[str, tuple] | None = None) -> list[tuple[str, tuple, int]]:
        """Rows ``(block, output shape, trainable parameters)`` in the layout of the paper's Table I.

        ``input_shapes`` (name -> per-sample input shape) adds 0-parameter input rows.
        """
        rows: list[tuple[str, tuple, int]] = []
        for k in self.names:
            br = self.branches[k]
            if input_shapes and k in input_shapes:
                rows.append((f"input ({k})", tuple(input_shapes[k]), 0))
            enc = br.encoder
            if isinstance(enc, MLP):
                linears = [m for m in enc.net if isinstance(m, nn.Linear)]
                for j, lin in enumerate(linears):
                    rows.append((f"FC {j + 1} ({k})", (lin.out_features,), _count(lin)))
            elif isinstance(enc, LSTMEncoder):
                rows.append((f"LSTM ({k})", (enc.out_dim,), _count(enc)))
            else:
                rows.append((f"encoder ({k})", (br.out_dim,), _count(enc)))
            rows.append((f"missing embedding ({k})", (br.out_dim,), _count(br.missing)))
        rows.append(("fusion (concat)", (self.fused_dim,), 0))
        rows.append(("FC fusion", (self.fusion[0].out_features,), _count(self.fusion)))
        rows.append(("FC position", (2,), _count(self.position_head)))
        if self.floor_head is not None:
            rows.append(("FC floor", (self.floor_head.out_features,), _count(self.floor_head)))
        return rows


def multimodal_regressor(
    input_shapes: Mapping[str, tuple],
    lstm_hidden: int = 128,
    mlp_hidden: Sequence[int] = (128, 128),
    fusion_hidden: int = 128,
    n_floor_classes: int = 0,
    dropout: float = 0.0,
) -> MultimodalRegressor:
    """A :class:`MultimodalRegressor` with one encoder per input, chosen by the input's shape (MTLoc's Table I).

    Parameters
    ----------
    input_shapes : mapping name -> per-sample shape, in fusion order
        ``(T, C)``: a window of ``T`` steps of ``C`` channels, encoded by ``LSTMEncoder(C, lstm_hidden)``;
        ``(D,)``: a vector, encoded by ``MLP(D, mlp_hidden[-1], mlp_hidden[:-1])``.
    lstm_hidden : int
    mlp_hidden : sequence of int
        Widths of the vector encoders (the last one is their output).
    fusion_hidden, n_floor_classes, dropout
        As :class:`MultimodalRegressor`.
    """
    enc: dict[str, nn.Module] = {}
    hidden = [int(h) for h in mlp_hidden]
    for name, shape in input_shapes.items():
        if len(shape) == 2:
            enc[name] = LSTMEncoder(int(shape[1]), int(lstm_hidden))
        elif len(shape) == 1:
            enc[name] = MLP(int(shape[0]), hidden[-1], hidden[:-1])
        else:
            raise ValueError(f"input {name!r} must be (T, C) or (D,) per sample, got shape {tuple(shape)}")
    return MultimodalRegressor(enc, int(fusion_hidden), int(n_floor_classes), float(dropout))


class IMURegressor(nn.Module):
    """MTLoc's pretraining model (Sec. IV-B): IMU-LSTM + linear layer -> 2-D position.

    Parameters
    ----------
    in_features, hidden : int
        As :class:`LSTMEncoder`.

    Shapes
    ------
    ``(B, T, in_features)`` -> ``(B, 2)``.
    """

    def __init__(self, in_features: int, hidden: int = 128):
        super().__init__()
        self.encoder = LSTMEncoder(in_features, hidden)
        self.head = nn.Linear(int(hidden), 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))


def _count(obj) -> int:
    """Trainable parameters of a module or a single parameter (counted even when frozen)."""
    if isinstance(obj, nn.Parameter):
        return int(obj.numel())
    return int(sum(p.numel() for p in obj.parameters()))


def parameter_rows(module: nn.Module) -> list[tuple[str, tuple, int]]:
    """Rows ``(name, shape, parameters)`` for every parameter of ``module`` (generic fallback)."""
    return [(name, tuple(p.shape), int(p.numel())) for name, p in module.named_parameters()]


def format_parameter_table(rows: Sequence[tuple[str, tuple, int]], title: str = "") -> str:
    """A fixed-width text table of ``rows`` with a total line."""
    w = max([len("block")] + [len(r[0]) for r in rows])
    lines = [title] if title else []
    lines.append(f"{'block':<{w}}  {'shape':>12}  {'parameters':>10}")
    lines.append("-" * (w + 26))
    for name, shape, n in rows:
        lines.append(f"{name:<{w}}  {'*'.join(str(s) for s in shape):>12}  {n:>10,}")
    lines.append("-" * (w + 26))
    lines.append(f"{'total':<{w}}  {'':>12}  {sum(r[2] for r in rows):>10,}")
    return "\n".join(lines)


def keras_comparison(
    rows: Sequence[tuple[str, tuple, int]],
    lstm_hidden: int,
    n_lstm: int,
    reference: int,
    title: str,
    reference_name: str = "reference",
) -> str:
    """The parameter table of a :class:`MultimodalRegressor` next to a Keras network's parameter count.

    Lists what this network has that the Keras one has not: the second LSTM bias vector of PyTorch
    (``4 * lstm_hidden`` per LSTM), the learned missing-modality embeddings and the floor head,
    and the count without them (comparable to ``reference``).

    Parameters
    ----------
    rows : :meth:`MultimodalRegressor.parameter_rows`
    lstm_hidden, n_lstm : int
        LSTM width and number of LSTM branches.
    reference : int
        The Keras network's trainable parameters.
    title, reference_name : str
    """
    total = sum(r[2] for r in rows)
    extra_bias = 4 * int(lstm_hidden) * int(n_lstm)
    missing = sum(r[2] for r in rows if r[0].startswith("missing"))
    floor = sum(r[2] for r in rows if r[0] == "FC floor")
    return "\n".join(
        [
            format_parameter_table(rows, title),
            f"{reference_name}: {reference:,}",
            f"  + second LSTM bias vector in PyTorch (b_hh, 4 x {lstm_hidden} per LSTM): {extra_bias:,}",
            f"  + learned missing-modality embeddings: {missing:,}",
            f"  + floor head: {floor:,}",
            f"this network without these additions: {total - extra_bias - missing - floor:,}",
        ]
    )
