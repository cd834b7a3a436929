"""6-DoF pose regression in torch: the quaternion logarithm, the learned geometric loss and the
pose regressor of MVLoc (Eq. 11-12, Sec. 3.3; after MapNet and AtLoc).

Quaternions are ``(w, x, y, z)`` with the real part first, as everywhere in omniloc
(:mod:`omniloc.data.transforms`). A unit quaternion ``q = (cos(t/2), sin(t/2) n)`` for a rotation
by ``t`` radians about the unit axis ``n`` has ``log q = (t/2) n`` once ``q`` is made canonical
(``w >= 0``, so ``0 <= t <= pi``); :func:`quat_exp` maps back. ``q`` and ``-q`` are the same
rotation and have the same log.

Positions are in metres (or whatever unit the targets use); the log-quaternion in radians of half
the rotation angle.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..data.transforms import quat_conjugate, quat_mean, quat_multiply, quat_normalize

__all__ = [
    "quat_canonical",
    "quat_log",
    "quat_exp",
    "geometric_loss",
    "GeometricLoss",
    "PoseHead",
    "PoseFrame",
    "pose_vectors",
    "poses_from_vectors",
    "rotation_logs",
]

# Below this squared norm of the vector part, quat_log / quat_exp switch to Taylor series: the series
# truncated after the s^6 term is exact to ~1e-17 there, and the closed forms lose no accuracy above it.
_SERIES_S2 = 1e-4


def quat_canonical(q: torch.Tensor) -> torch.Tensor:
    """The same rotation with a non-negative real part: ``-q`` where ``w < 0``, else ``q``.

    Parameters
    ----------
    q : (..., 4) w, x, y, z

    Returns
    -------
    (..., 4), same dtype and device
    """
    return torch.where(q[..., :1] < 0, -q, q)


def quat_log(q: torch.Tensor) -> torch.Tensor:
    """Logarithm of a unit quaternion, MVLoc Eq. 12: ``v / |v| * arccos(u)``, and 0 when ``|v| = 0``.

    ``q`` is first made canonical (``u >= 0``), so the result is ``(t/2) n`` with the rotation
    angle ``t`` in ``[0, pi]`` and axis ``n``, and ``|log q| <= pi/2``.

    Parameters
    ----------
    q : (..., 4) w, x, y, z
        Need not be exactly unit: it is normalised first, so the result is the log of the rotation
        it represents (``arccos(u)`` is evaluated as ``atan2(|v|, u)``, which equals it for unit
        ``q`` and stays finite otherwise).

    Returns
    -------
    (..., 3), radians (half the rotation angle times the axis)

    Notes
    -----
    Differentiable everywhere except at ``w = 0`` (180-degree rotations, where canonicalisation
    flips the sign) and at ``q = 0`` (returns 0). Near the identity ``atan2(s, u) / s`` (``s = |v|``)
    is replaced by its series ``(1 - x^2/3 + x^4/5 - x^6/7) / u``, ``x = s / u``, with ``|v|``
    never formed there, so values and gradients are exact at and around ``|v| = 0``.
    """
    q = quat_canonical(q)
    n2 = (q * q).sum(-1, keepdim=True)
    q = q / torch.sqrt(torch.where(n2 > 0, n2, torch.ones_like(n2)))
    u, v = q[..., :1], q[..., 1:]
    s2 = (v * v).sum(-1, keepdim=True)
    small = s2 < _SERIES_S2
    s = torch.sqrt(torch.where(small, torch.ones_like(s2), s2))
    big = torch.atan2(s, u) / s
    # for unit q, small means u > 0.99995; the clamp only guards q = 0
    us = torch.where(small, u.clamp_min(0.5), torch.ones_like(u))
    x2 = s2 / (us * us)
    series = (1.0 - x2 / 3.0 + x2 * x2 / 5.0 - x2 * x2 * x2 / 7.0) / us
    return v * torch.where(small, series, big)


def quat_exp(v: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`quat_log`: ``(cos|v|, sin|v| v / |v|)``, and ``(1, 0, 0, 0)`` at ``v = 0``.

    Parameters
    ----------
    v : (..., 3)
        Half the rotation angle times the axis, radians.

    Returns
    -------
    (..., 4) unit quaternion w, x, y, z (canonical when ``|v| <= pi/2``)

    Notes
    -----
    Near ``v = 0`` the cosine and ``sin(s)/s`` come from their Taylor series in ``s^2``, so the
    gradient is exact there.
    """
    s2 = (v * v).sum(-1, keepdim=True)
    small = s2 < _SERIES_S2
    s = torch.sqrt(torch.where(small, torch.ones_like(s2), s2))
    cos = torch.where(small, 1.0 - s2 / 2.0 + s2 * s2 / 24.0 - s2 * s2 * s2 / 720.0, torch.cos(s))
    sinc = torch.where(small, 1.0 - s2 / 6.0 + s2 * s2 / 120.0 - s2 * s2 * s2 / 5040.0, torch.sin(s) / s)
    return torch.cat([cos, sinc * v], dim=-1)


def _norm(d: torch.Tensor, norm: int) -> torch.Tensor:
    if norm == 1:
        return d.abs().sum(-1)
    if norm == 2:
        return torch.linalg.vector_norm(d, dim=-1)
    raise ValueError(f"norm must be 1 or 2, got {norm!r}")


def _reduce(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    raise ValueError(f"unknown reduction {reduction!r}; expected 'none', 'mean' or 'sum'")


def geometric_loss(
    p: torch.Tensor,
    p_true: torch.Tensor,
    logq: torch.Tensor,
    logq_true: torch.Tensor,
    beta: torch.Tensor | float,
    gamma: torch.Tensor | float,
    reduction: str = "none",
    norm: int = 1,
) -> torch.Tensor:
    """Learned-weight pose loss, MVLoc Eq. 11 (MapNet's form of Kendall's homoscedastic weighting)::

        L = ||p - p*|| e^-beta + beta + ||log q - log q*|| e^-gamma + gamma

    Parameters
    ----------
    p, p_true : (..., 3)
        Predicted and true positions.
    logq, logq_true : (..., 3)
        Predicted and true log-quaternions (:func:`quat_log`).
    beta, gamma : float or tensor broadcastable to the per-sample loss (usually 0-dim)
        Log-scale weights of the position and rotation terms.
    reduction : ``"none"``, ``"mean"`` or ``"sum"``
        Per-sample losses ``(...,)``, or their mean or sum.
    norm : 1 or 2
        The norm of Eq. 11. The paper writes ``||.||`` without a subscript; the default 1 is what
        the MapNet and AtLoc implementations use (their ``L1Loss`` also averages over the three
        components, i.e. their term is this one divided by 3, which only shifts the learned
        ``beta``/``gamma`` by ``log 3``). ``2`` is the Euclidean norm (sub-gradient 0 at a zero
        error).

    Returns
    -------
    ``(...,)`` with ``reduction="none"``, else a 0-dim tensor.
    """
    beta = torch.as_tensor(beta, dtype=p.dtype, device=p.device)
    gamma = torch.as_tensor(gamma, dtype=p.dtype, device=p.device)
    loss = _norm(p - p_true, norm) * torch.exp(-beta) + beta + _norm(logq - logq_true, norm) * torch.exp(-gamma) + gamma
    return _reduce(loss, reduction)


class GeometricLoss(nn.Module):
    """:func:`geometric_loss` with ``beta`` and ``gamma`` as parameters (MVLoc Eq. 11).

    Parameters
    ----------
    beta0, gamma0 : float
        Initial values (MVLoc/AtLoc: -3 and 0).
    learnable : bool
        Whether ``beta`` and ``gamma`` receive gradients.
    norm : 1 or 2
        See :func:`geometric_loss`.
    reduction : ``"none"``, ``"mean"`` or ``"sum"``
        Default reduction of :meth:`forward`.

    Attributes
    ----------
    beta, gamma : nn.Parameter, 0-dim

    Notes
    -----
    MVLoc's second training stage fixes the weights: call :meth:`freeze` (their values stay in
    the state dict either way).
    """

    def __init__(
        self,
        beta0: float = -3.0,
        gamma0: float = 0.0,
        learnable: bool = True,
        norm: int = 1,
        reduction: str = "mean",
    ):
        super().__init__()
        _norm(torch.zeros(1, 1), norm)
        _reduce(torch.zeros(1), reduction)
        self.beta = nn.Parameter(torch.tensor(float(beta0)), requires_grad=bool(learnable))
        self.gamma = nn.Parameter(torch.tensor(float(gamma0)), requires_grad=bool(learnable))
        self.norm, self.reduction = int(norm), reduction

    def freeze(self) -> GeometricLoss:
        """Stop updating ``beta`` and ``gamma`` (``requires_grad = False``); returns ``self``."""
        self.beta.requires_grad_(False)
        self.gamma.requires_grad_(False)
        return self

    def unfreeze(self) -> GeometricLoss:
        """Let ``beta`` and ``gamma`` learn again; returns ``self``."""
        self.beta.requires_grad_(True)
        self.gamma.requires_grad_(True)
        return self

    def forward(
        self,
        p: torch.Tensor,
        p_true: torch.Tensor,
        logq: torch.Tensor,
        logq_true: torch.Tensor,
        reduction: str | None = None,
    ) -> torch.Tensor:
        """The loss of ``(..., 3)`` positions and log-quaternions; ``reduction`` overrides the default."""
        return geometric_loss(
            p,
            p_true,
            logq,
            logq_true,
            self.beta,
            self.gamma,
            reduction=self.reduction if reduction is None else reduction,
            norm=self.norm,
        )


class PoseHead(nn.Module):
    """MVLoc's pose regressor: two parallel ``Linear -> ReLU -> Linear`` networks on the latent vector.

    Dropout is applied once to the input (as in AtLoc), so both networks see the same mask.

    Parameters
    ----------
    dim : int
        Input feature size.
    hidden : int
        Width of the hidden layer of each network.
    dropout : float
        Dropout probability on the input (active in training mode only).

    Shapes
    ------
    ``(N, dim)`` -> ``{"position": (N, 3), "log_quat": (N, 3)}``; turn ``log_quat`` into a
    quaternion with :func:`quat_exp`.
    """

    def __init__(self, dim: int, hidden: int = 256, dropout: float = 0.5):
        super().__init__()
        dim, hidden = int(dim), int(hidden)
        self.dropout = nn.Dropout(float(dropout))
        self.position = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, 3))
        self.rotation = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, 3))
        self.dim, self.hidden = dim, hidden

    def forward(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.dropout(z)
        return {"position": self.position(z), "log_quat": self.rotation(z)}


# ---------------------------------------------------------------------------------------------- pose frame
class PoseFrame:
    """The normalised pose frame: training mean position (3,) m, one isotropic scale (m), mean rotation (4,).

    Parameters
    ----------
    mean : (3,) metres
    scale : float metres per normalised unit
    rotation : (4,) unit quaternion w, x, y, z
    """

    def __init__(self, mean, scale: float, rotation):
        self.mean = np.asarray(mean, dtype=np.float64).reshape(3)
        self.scale = float(scale)
        self.rotation = np.asarray(rotation, dtype=np.float64).reshape(4)

    @classmethod
    def fit(cls, position: np.ndarray, orientation: np.ndarray) -> PoseFrame:
        """The frame of training poses ``position`` (N, 3) m and ``orientation`` (N, 4)."""
        p = np.asarray(position, dtype=np.float64)
        scale = float(max(np.sqrt(p.var(axis=0).sum()), 1e-3)) if len(p) > 1 else 1.0
        return cls(p.mean(axis=0), scale, quat_mean(orientation))


def pose_vectors(frame: PoseFrame, position: np.ndarray, orientation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Poses as normalised 6-vectors ``[(t - mean) / scale, log(q_mean^-1 q)]`` (both logs of each rotation).

    Returns
    -------
    canonical, alternative : (N, 6) float64
        With the log of the non-negative-real quaternion (Eq. 12 of MVLoc, norm <= pi/2) and with the
        log of its negative (norm ``pi - |log q|``, the same rotation).
    """
    t = (np.asarray(position, dtype=np.float64) - frame.mean) / frame.scale
    a, alt = rotation_logs(quat_multiply(quat_conjugate(frame.rotation), np.asarray(orientation, dtype=np.float64)))
    return np.concatenate([t, a], axis=1), np.concatenate([t, alt], axis=1)


def rotation_logs(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both logs of each rotation: ``log q`` of the non-negative-real quaternion (Eq. 12, norm <= pi/2)
    and ``log(-q)`` (the same axis reversed, norm ``pi - |log q|``), (N, 4) -> (N, 3), (N, 3) float64.

    A camera that faces every direction crosses half-turns, where the first jumps between
    ``+pi/2 a`` and ``-pi/2 a``; losses and pose encoders that see both logs have no jump there.
    """
    a = quat_log(torch.as_tensor(np.asarray(q, dtype=np.float64))).numpy()
    norm = np.linalg.norm(a, axis=1, keepdims=True)
    alt = np.where(norm > 1e-12, a * (1.0 - np.pi / np.maximum(norm, 1e-12)), a)
    return a, alt


def poses_from_vectors(frame: PoseFrame, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`pose_vectors`: (N, 6) -> position (N, 3) m, orientation (N, 4) w, x, y, z."""
    v = np.asarray(v, dtype=np.float64).reshape(-1, 6)
    q = quat_exp(torch.as_tensor(v[:, 3:])).numpy()
    return v[:, :3] * frame.scale + frame.mean, quat_normalize(quat_multiply(frame.rotation, q))
