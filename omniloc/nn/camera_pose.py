"""6-DoF camera pose regression from RGB (+ depth): MVLoc's network and its training (Zhou et al.).

:class:`CameraPoseNet` is Fig. 2 of the paper: one ResNet encoder per modality, a fusion, the
non-local self-attention of Eq. 14-15 over the latent vector, and two parallel pose heads. The
fusion is one of

* ``"single"``: one modality (RGB): its features, a linear layer to the latent -- the
  PoseNet / AtLoc-style baseline, MVLoc (V);
* ``"concat"``: the modalities' features concatenated, then the linear layer -- MVLoc (C); an
  absent modality contributes zero features (there is no other way to concatenate it);
* ``"poe"``: a Gaussian expert per modality (two parallel linear layers: mean and log-variance)
  fused with the prior expert by the product of experts (Eq. 4-5) -- MVLoc (P) and MVLoc; an
  absent modality is an absent expert.

:class:`CameraPoseModule` trains it through the shared :class:`~omniloc.nn.training.TrainingModule`
with the learned geometric loss of Eq. 11 on the position and the log-quaternion (Eq. 12), in one
of three objectives:

* ``"deterministic"``: ``L_p`` at the latent mean (MVLoc's first stage, and the V/C variants);
* ``"vae"``: one reparameterised sample, ``L_p + lam KL(q || N(0, I))`` (MVLoc (P));
* ``"iw"``: ``k`` samples, the importance-weighted bound with ``log w = -L_p + lam (log p(z) -
  log q(z))`` and the DReG gradient (Eq. 9, 13; MVLoc).

Rotation targets: a rotation has two quaternions ``q`` and ``-q``; Eq. 12 takes the one with a
non-negative real part, whose log has norm at most pi/2. For cameras that face every direction
(a walker in a building, unlike 7-Scenes' cameras) the targets then jump between ``+pi/2 a`` and
``-pi/2 a`` near a half-turn. The loss therefore scores a prediction against both logs of the
target rotation, ``log q`` and ``log(-q)`` (norm ``pi - |log q|``), and keeps the smaller: the same
Eq. 11 loss away from half-turns, no jump at them. :func:`omniloc.nn.pose.rotation_logs` gives both.
"""

from __future__ import annotations

import torch
from torch import nn

from .attention import NonLocalAttention
from .pose import GeometricLoss, PoseHead, geometric_loss, quat_exp
from .resnet import GaussianHead, ResNet
from .training import TrainingModule
from .variational import importance_weighted_loss, product_of_experts, reparameterize, vae_loss

__all__ = [
    "FUSIONS",
    "OBJECTIVES",
    "MODALITY_CHANNELS",
    "CameraPoseNet",
    "CameraPoseModule",
    "normalise_images",
    "rotation_error_deg",
    "position_covariance",
]

#: fusions of :class:`CameraPoseNet`
FUSIONS = ("single", "concat", "poe")
#: training objectives of :class:`CameraPoseModule`
OBJECTIVES = ("deterministic", "vae", "iw")
#: input channels per modality
MODALITY_CHANNELS = {"rgb": 3, "depth": 1}


def normalise_images(modality: str, x: torch.Tensor, depth_max_m: float) -> torch.Tensor:
    """Network input in [-1, 1] (Sec. 4.2): RGB ``(N, H, W, 3)`` uint8 -> ``(N, 3, H, W)`` as
    ``x / 127.5 - 1``; depth ``(N, H, W)`` metres -> ``(N, 1, H, W)`` as ``2 min(d / d_max, 1) - 1``
    (0 = no reading maps to -1, as a blank image)."""
    if modality == "rgb":
        # contiguous: the channels-last view of the permutation made torch 2.13's multi-threaded CPU
        # convolution backward corrupt the heap for some batch sizes (e.g. 31 frames of 40x30)
        return (x.permute(0, 3, 1, 2).float() / 127.5 - 1.0).contiguous()
    return 2.0 * torch.clamp(x.float() / float(depth_max_m), 0.0, 1.0).unsqueeze(1) - 1.0


def rotation_error_deg(log_q_pred: torch.Tensor, q_true: torch.Tensor) -> torch.Tensor:
    """Angle (N,) degrees between the rotations ``exp(log_q_pred)`` (N, 3) and ``q_true`` (N, 4)."""
    qp = quat_exp(log_q_pred)
    qp = qp / qp.norm(dim=-1, keepdim=True)
    dot = (qp * q_true).sum(-1).abs().clamp(max=1.0)
    return torch.rad2deg(2.0 * torch.acos(dot))


class CameraPoseNet(nn.Module):
    """Encoders, fusion, attention and pose heads (Fig. 2); see the module docstring.

    Parameters
    ----------
    modalities : list of str
        ``["rgb"]`` or ``["rgb", "depth"]`` (keys of :data:`MODALITY_CHANNELS`), one encoder each.
    fusion : ``"single"``, ``"concat"`` or ``"poe"``
    backbone_depth : 18 or 34
        ResNet depth of every encoder (:class:`~omniloc.nn.resnet.ResNet`).
    width : int
        Channels of the first ResNet stage (64 in the paper's ResNet-34; smaller on CPU).
    stem : ``"imagenet"`` or ``"small"``
    latent_dim : int
        ``D``, the latent (and attention) dimension.
    attention : bool
        Use the self-attention of Eq. 14-15 (else the identity).
    reduction : int
        Attention bottleneck ``D / reduction``.
    hidden : int
        Hidden width of each pose head.
    dropout : float
        Dropout before the pose heads (training only).
    beta0, gamma0 : float
        Initial weights of the learned geometric loss (Eq. 11), held here so that they are saved
        and selected with the weights.
    loss_norm : 1 or 2
        Norm of the geometric loss's distances.
    """

    def __init__(
        self,
        modalities,
        fusion: str = "poe",
        backbone_depth: int = 34,
        width: int = 64,
        stem: str = "imagenet",
        latent_dim: int = 256,
        attention: bool = True,
        reduction: int = 8,
        hidden: int = 256,
        dropout: float = 0.5,
        beta0: float = -3.0,
        gamma0: float = 0.0,
        loss_norm: int = 1,
    ):
        super().__init__()
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {list(FUSIONS)}, got {fusion!r}")
        self.modalities, self.fusion = list(modalities), fusion
        if fusion == "single" and len(self.modalities) != 1:
            raise ValueError("fusion 'single' takes exactly one modality")
        self.encoders = nn.ModuleDict(
            {m: ResNet(backbone_depth, MODALITY_CHANNELS[m], width, stem=stem) for m in self.modalities}
        )
        feat = self.encoders[self.modalities[0]].out_features
        if fusion == "poe":
            self.experts = nn.ModuleDict({m: GaussianHead(feat, latent_dim) for m in self.modalities})
        else:
            self.project = nn.Linear(feat * len(self.modalities), latent_dim)
        self.attention = NonLocalAttention(latent_dim, reduction) if attention else nn.Identity()
        self.head = PoseHead(latent_dim, hidden, dropout)
        self.geometric = GeometricLoss(beta0, gamma0)
        self.loss_norm = int(loss_norm)
        self.latent_dim = int(latent_dim)

    @property
    def variational(self) -> bool:
        return self.fusion == "poe"

    def encode(self, data: dict) -> dict:
        """The latent distribution of a batch.

        Parameters
        ----------
        data : dict
            One normalised image tensor per modality (:func:`normalise_images`): ``rgb`` (N, 3, H, W),
            ``depth`` (N, 1, H, W); ``present`` (N, E) bool, which modalities each sample has
            (default: all).

        Returns
        -------
        dict
            ``mu`` (N, D); ``logvar`` (N, D) for the PoE fusion, else None.
        """
        x0 = data[self.modalities[0]]
        n = x0.shape[0]
        present = data.get("present")
        if present is None:
            present = torch.ones(n, len(self.modalities), dtype=torch.bool, device=x0.device)
        if self.fusion == "poe":
            mus, logvars = [], []
            for e, m in enumerate(self.modalities):
                if present[:, e].any():
                    g = self.experts[m](self.encoders[m](data[m]))
                    mus.append(g["mu"])
                    logvars.append(g["logvar"])
                else:  # no sample has it: no encoder pass, a zero-precision expert
                    mus.append(x0.new_zeros(n, self.latent_dim))
                    logvars.append(x0.new_zeros(n, self.latent_dim))
            mu, logvar = product_of_experts(torch.stack(mus), torch.stack(logvars), present.T)
            return {"mu": mu, "logvar": logvar}
        feats = []
        for e, m in enumerate(self.modalities):
            f = self.encoders[m](data[m]) if present[:, e].any() else None
            if f is None:
                f = x0.new_zeros(n, self.encoders[m].out_features)
            feats.append(f * present[:, e : e + 1].to(f.dtype))
        return {"mu": self.project(torch.cat(feats, dim=1)), "logvar": None}

    def decode(self, z: torch.Tensor) -> dict:
        """Pose from latent vectors: ``z`` (..., D) -> ``position`` (..., 3) normalised units and
        ``log_quat`` (..., 3) (Eq. 12)."""
        shape = z.shape[:-1]
        out = self.head(self.attention(z.reshape(-1, z.shape[-1])))
        return {k: v.reshape(*shape, 3) for k, v in out.items()}

    def forward(self, data: dict) -> dict:
        """``encode`` then ``decode`` at the latent mean: ``position`` (N, 3), ``log_quat`` (N, 3),
        ``mu`` (N, D), ``logvar`` (N, D) or None."""
        enc = self.encode(data)
        return {**self.decode(enc["mu"]), **enc}

    def pose_loss(self, out: dict, target: dict) -> torch.Tensor:
        """Eq. 11 per sample (...,), against both logs of the target rotation (the smaller kept).

        ``target``: ``position`` (N, 3) normalised, ``log_quat`` and ``log_quat_alt`` (N, 3);
        ``out`` may carry leading sample axes (K, N, 3).
        """
        g = self.geometric
        losses = [
            geometric_loss(
                out["position"], target["position"], out["log_quat"], target[key], g.beta, g.gamma, norm=self.loss_norm
            )
            for key in ("log_quat", "log_quat_alt")
        ]
        return torch.minimum(losses[0], losses[1])


class CameraPoseModule(TrainingModule):
    """Training of a :class:`CameraPoseNet` on frames held in buffers; batches are index tensors.

    Parameters
    ----------
    net : CameraPoseNet
    data, val : dict name -> tensor
        Training and validation frames (``val`` may be None): one raw image tensor per modality
        (``rgb`` (N, H, W, 3) uint8, ``depth`` (N, H, W) float32 metres), ``present`` (N, E) bool,
        ``position`` (N, 3) normalised, ``log_quat``, ``log_quat_alt`` (N, 3), ``quat`` (N, 4).
    objective : ``"deterministic"``, ``"vae"`` or ``"iw"``
    samples : int
        ``k`` of the importance-weighted objective.
    lam : float
        Weight of the latent term (KL or ``log p - log q``).
    estimator : ``"dreg"`` or ``"iwae"``
    depth_max_m : float
        Depth normalisation (:func:`normalise_images`).
    expert_dropout : float
        Probability of removing the depth (every non-first) modality from a training sample
        (MVAE-style sub-sampling; 0 = the paper's training).
    position_scale : float
        Metres per normalised position unit (validation reports metres).
    optimizer, lr, weight_decay
        :class:`~omniloc.nn.training.TrainingModule`'s.
    """

    def __init__(
        self,
        net: CameraPoseNet,
        data: dict,
        val: dict | None,
        objective: str,
        samples: int,
        lam: float,
        estimator: str,
        depth_max_m: float,
        expert_dropout: float,
        position_scale: float,
        optimizer: str = "adam",
        lr: float = 5e-5,
        weight_decay: float = 5e-5,
    ):
        super().__init__(net, optimizer=optimizer, lr=lr, weight_decay=weight_decay)
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {list(OBJECTIVES)}, got {objective!r}")
        if objective != "deterministic" and not net.variational:
            raise ValueError(f"objective {objective!r} needs the 'poe' fusion")
        self.objective, self.samples, self.lam, self.estimator = objective, int(samples), float(lam), estimator
        self.depth_max_m, self.expert_dropout = float(depth_max_m), float(expert_dropout)
        self.position_scale = float(position_scale)
        self.add_data("train", data)
        self.add_data("val", val)

    def _inputs(self, split: str, idx: torch.Tensor, dropout: bool = False) -> dict:
        present = self.data(split, "present")[idx]
        if dropout and self.expert_dropout > 0 and present.shape[1] > 1:
            drop = torch.rand(present.shape[0], present.shape[1] - 1, device=present.device) < self.expert_dropout
            present = present.clone()
            present[:, 1:] &= ~drop
        inputs = {"present": present}
        for m in self.net.modalities:
            inputs[m] = normalise_images(m, self.data(split, m)[idx], self.depth_max_m)
        return inputs

    def _targets(self, split: str, idx: torch.Tensor) -> dict:
        return {k: self.data(split, k)[idx] for k in ("position", "log_quat", "log_quat_alt")}

    def loss(self, batch):
        idx = batch[0] if isinstance(batch, (list, tuple)) else batch
        inputs, target = self._inputs("train", idx, dropout=True), self._targets("train", idx)
        net = self.net
        extra = {"beta": float(net.geometric.beta.detach()), "gamma": float(net.geometric.gamma.detach())}
        if self.objective == "deterministic":
            return net.pose_loss(net(inputs), target).mean(), extra
        enc = net.encode(inputs)
        mu, logvar = enc["mu"], enc["logvar"]
        if self.objective == "vae":
            z = reparameterize(mu, logvar)
            return vae_loss(net.pose_loss(net.decode(z), target), mu, logvar, self.lam), extra
        z = reparameterize(mu, logvar, self.samples)
        lp = net.pose_loss(net.decode(z), {k: v.unsqueeze(0) for k, v in target.items()})
        res = importance_weighted_loss(-lp, z, mu, logvar, self.lam, self.estimator)
        extra["bound"] = float(res["bound"].mean())
        return res["loss"], extra

    def validation_sums(self, batch):
        idx = batch[0] if isinstance(batch, (list, tuple)) else batch
        out = self.net(self._inputs("val", idx))
        pos = (out["position"] - self.data("val", "position")[idx]).norm(dim=-1) * self.position_scale
        rot = rotation_error_deg(out["log_quat"], self.data("val", "quat")[idx])
        return torch.stack([pos.sum(), rot.sum(), torch.tensor(float(len(idx)), device=pos.device)])

    def validation_metrics(self, sums):
        n = torch.clamp(sums[2], min=1.0)
        return {"val_pos_err_m": sums[0] / n, "val_rot_err_deg": sums[1] / n}


def position_covariance(net: CameraPoseNet, mu: torch.Tensor, logvar: torch.Tensor, samples: int, generator):
    """Sample covariance (N, 3, 3) of the decoded positions (normalised units^2) of ``samples`` draws
    from the fused Gaussian ``N(mu, exp(logvar))`` (N, D): the per-frame uncertainty MVLoc reports."""
    z = reparameterize(mu, logvar, samples, generator=generator)
    p = net.decode(z)["position"]  # (S, N, 3)
    d = p - p.mean(0, keepdim=True)
    return torch.einsum("sni,snj->nij", d, d) / max(samples - 1, 1)
