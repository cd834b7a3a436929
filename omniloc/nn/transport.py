"""Entropic optimal transport and distance-matrix losses for OT-Isomap (Eq. 1-4).

The transport plan comes from POT's log-domain Sinkhorn (``ot.sinkhorn(..., method="sinkhorn_log")``),
run without autograd and warm-started from the previous step's scalings; the loss
``<T, C>`` is then differentiated with ``T`` held fixed. By the envelope theorem this is the exact
gradient of the entropic OT value with respect to the cost (``dW/dC = T*``), the same gradient as
``ot.solve(..., grad="envelope")``, at constant memory: nothing is stored per Sinkhorn iteration.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = [
    "pairwise_distances",
    "distance_kl",
    "zone_penalty",
    "sinkhorn_plan",
    "semi_relaxed_sinkhorn",
    "SinkhornLoss",
    "annealed",
]


def pairwise_distances(
    x: torch.Tensor, y: torch.Tensor | None = None, squared: bool = False, eps: float = 1e-12
) -> torch.Tensor:
    """Euclidean distances between rows, differentiable everywhere (also at zero distance).

    Parameters
    ----------
    x : (N, D), y : (M, D), optional (default ``x``)
    squared : bool
        Return ``||x_i - y_j||^2``.
    eps : float
        Added under the square root.

    Returns
    -------
    (N, M)
    """
    y = x if y is None else y
    d2 = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    return d2 if squared else torch.sqrt(d2 + eps)


def distance_kl(
    target: torch.Tensor, predicted: torch.Tensor, mask: torch.Tensor | None = None, eps: float = 1e-12
) -> torch.Tensor:
    """``KL(D_s || D_hat)`` between two distance matrices normalised to distributions (Eq. 1, first term).

    Each matrix is divided by the sum of its off-diagonal entries, so the loss compares shapes,
    not scales (the geodesic matrix is in units of local standard deviations, the embedding in
    metres).

    Parameters
    ----------
    target : (N, N)
        ``D_s``, non-negative.
    predicted : (N, N)
        ``D_hat``, non-negative.
    mask : (N, N) bool, optional
        Compare only these pairs (e.g. geodesic neighbourhoods); default all ``i != j``.

    Returns
    -------
    scalar tensor ``sum_ij P_ij log(P_ij / Q_ij)`` over ``i != j``.
    """
    n = target.shape[0]
    off = ~torch.eye(n, dtype=torch.bool, device=target.device)
    if mask is not None:
        off = off & mask
    p = target[off]
    q = predicted[off]
    p = p / p.sum().clamp_min(eps)
    q = q / q.sum().clamp_min(eps)
    return (p * (torch.log(p + eps) - torch.log(q + eps))).sum()


def zone_penalty(source_zone_fractions: torch.Tensor, target_zone: torch.Tensor, kappa: float) -> torch.Tensor:
    """Cost multipliers ``kappa_ij`` for transporting source ``i`` to target ``j`` (Sec. 3.1).

    ``kappa_ij = 1 + (kappa - 1) * (1 - F_i[z_j])``: 1 when all samples of source ``i`` carry
    the zone label of target ``j``, ``kappa`` when none does; targets without a zone (``z_j = -1``)
    get 1.

    Parameters
    ----------
    source_zone_fractions : (Ns, Z)
        Fraction of each source's samples in each zone (rows sum to 1, or 0 for unlabelled).
    target_zone : (Nt,) int
        Zone index of each target point, -1 for none.
    kappa : float
        Penalty factor, >= 1.

    Returns
    -------
    (Ns, Nt) tensor, dtype of ``source_zone_fractions``
    """
    f = source_zone_fractions
    z = target_zone.long()
    labelled = z >= 0
    match = torch.zeros(f.shape[0], z.shape[0], dtype=f.dtype, device=f.device)
    match[:, labelled] = f[:, z[labelled]]
    unlabelled_src = f.sum(1, keepdim=True) <= 0
    match = torch.where(unlabelled_src | ~labelled[None, :], torch.ones_like(match), match)
    return 1.0 + (float(kappa) - 1.0) * (1.0 - match)


def sinkhorn_plan(
    cost: torch.Tensor,
    a: torch.Tensor,
    b: torch.Tensor,
    reg: float,
    warmstart: tuple[torch.Tensor, torch.Tensor] | None = None,
    max_iter: int = 200,
    tol: float = 1e-3,
    warn: bool = True,
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor], int]:
    """Entropic OT plan ``T = diag(a') K diag(b')``, ``K = exp(-C / reg)`` (Eq. 2-4), log domain.

    Parameters
    ----------
    cost : (Ns, Nt)
        Detached inside; no gradient flows through the iterations.
    a : (Ns,), b : (Nt,)
        Marginals, each summing to 1.
    reg : float
        Entropic regularisation ``1 / lambda`` (same units as ``cost``).
    warmstart : (log_u, log_v), optional
        Log scalings of a previous solve (see ``returns``).
    max_iter : int
    tol : float
        Stop when the target-marginal violation ``||T^T 1 - b||_2 <= tol * ||b||_2``.
    warn : bool
        Warn when ``max_iter`` is reached first (warm-started training steps run few iterations
        on purpose and pass False).

    Returns
    -------
    plan : (Ns, Nt), detached
    scalings : (log_u, log_v), for the next warm start
    n_iter : int
    """
    import ot

    c = cost.detach()
    b_norm = float(torch.linalg.vector_norm(b))
    plan, log = ot.sinkhorn(
        a,
        b,
        c,
        reg,
        method="sinkhorn_log",
        numItermax=int(max_iter),
        stopThr=tol * b_norm,
        warmstart=warmstart,
        log=True,
        warn=bool(warn),
    )
    return plan, (log["log_u"], log["log_v"]), int(log["niter"]) + 1


def semi_relaxed_sinkhorn(
    cost: torch.Tensor,
    a: torch.Tensor,
    b: torch.Tensor,
    reg: float,
    relax: float,
    warmstart: tuple[torch.Tensor, torch.Tensor] | None = None,
    max_iter: int = 200,
    tol: float = 1e-3,
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor], int]:
    """Entropic OT with the source marginal exact and the target marginal relaxed (log domain).

    Solves ``min_T <T, C> + reg KL(T | a b^T) + relax KL(T^T 1 | b)`` subject to ``T 1 = a``
    (Chizat et al. 2018, semi-relaxed). Targets that no source needs (e.g. free space the
    recordings never visited) may keep less mass than ``b``; ``relax -> inf`` is the balanced
    problem of :func:`sinkhorn_plan`. POT's unbalanced solvers take a finite penalty on both
    marginals only, hence these few lines; they run without autograd (see the module docstring).

    Parameters
    ----------
    cost : (Ns, Nt)
    a : (Ns,), b : (Nt,)
    reg : float
        Entropic regularisation (cost units).
    relax : float
        Weight of the target-marginal KL penalty (cost units); ``inf`` = balanced.
    warmstart : (f, g), optional
        Dual potentials (cost units) of a previous solve; ``f`` may be None (a new set of
        sources against the same targets).
    max_iter : int
    tol : float
        Stop when the largest change of ``f`` over an iteration is below ``tol * reg``.

    Returns
    -------
    plan : (Ns, Nt), detached; rows sum to ``a``
    potentials : (f, g), cost units
    n_iter : int
    """
    with torch.no_grad():
        c = cost.detach()
        log_a, log_b = torch.log(a.to(c)), torch.log(b.to(c))
        f = torch.zeros_like(log_a) if warmstart is None or warmstart[0] is None else warmstart[0].to(c)
        g = torch.zeros_like(log_b) if warmstart is None else warmstart[1].to(c)
        rho = 1.0 if not np.isfinite(relax) else float(relax) / (float(relax) + reg)
        n = 0
        if warmstart is not None and warmstart[0] is None:  # only g known (new source batch)
            f = reg * log_a - reg * torch.logsumexp((g[None, :] - c) / reg, dim=1)
        for _ in range(int(max_iter)):
            n += 1
            g = rho * (reg * log_b - reg * torch.logsumexp((f[:, None] - c) / reg, dim=0))
            f_new = reg * log_a - reg * torch.logsumexp((g[None, :] - c) / reg, dim=1)
            delta = float((f_new - f).abs().max())
            f = f_new
            if delta < tol * reg:
                break
        plan = torch.exp((f[:, None] + g[None, :] - c) / reg)
    return plan, (f, g), n


class SinkhornLoss:
    """``<T, C>`` with ``T`` the entropic plan of ``C``: its gradient is ``T`` (envelope theorem).

    Keeps the dual scalings between calls for warm starts; when ``reg`` changes (annealing) the
    scalings are rescaled so that the dual potentials ``f = reg * log u`` carry over.

    Parameters
    ----------
    a : (Ns,), b : (Nt,)
        Marginals.
    max_iter, tol : see :func:`sinkhorn_plan`.
    relax : float
        ``inf``: balanced OT with POT (:func:`sinkhorn_plan`); finite: target marginal relaxed
        with this KL weight (:func:`semi_relaxed_sinkhorn`).
    """

    def __init__(
        self, a: torch.Tensor, b: torch.Tensor, max_iter: int = 200, tol: float = 1e-3, relax: float = float("inf")
    ):
        self.a, self.b = a, b
        self.max_iter, self.tol, self.relax = int(max_iter), float(tol), float(relax)
        self._scalings = None
        self._reg = None
        self.last_plan = None
        self.last_n_iter = 0

    def __call__(self, cost: torch.Tensor, reg: float, a: torch.Tensor | None = None) -> torch.Tensor:
        """Transport cost ``sum_ij T_ij C_ij`` (scalar tensor, differentiable in ``cost``).

        ``a`` replaces the source marginal for this call (a mini-batch of sources); the target
        potentials still warm-start the solve.
        """
        if a is not None:
            if not np.isfinite(self.relax):
                self._scalings = None
            elif self._scalings is not None:
                self._scalings = (None, self._scalings[1])
        a = self.a if a is None else a
        if np.isfinite(self.relax):
            plan, self._scalings, self.last_n_iter = semi_relaxed_sinkhorn(
                cost, a, self.b, reg, self.relax, self._scalings, self.max_iter, self.tol
            )
        else:
            warm = self._scalings
            if warm is not None and self._reg is not None and self._reg != reg:
                warm = (warm[0] * (self._reg / reg), warm[1] * (self._reg / reg))
            plan, self._scalings, self.last_n_iter = sinkhorn_plan(
                cost, a, self.b, reg, warm, self.max_iter, self.tol, warn=False
            )
        if not bool(torch.isfinite(plan).all()):  # diverged: solve again from scratch
            self._scalings = None
            return self(cost, reg, a)
        self._reg = reg
        self.last_plan = plan
        return (plan.to(cost.dtype) * cost).sum()


def annealed(start: float, end: float, step: int, n_steps: int, schedule: str = "linear") -> float:
    """Value of an annealing schedule at ``step`` of ``n_steps`` (``linear`` or ``geometric``)."""
    f = min(max(step / max(n_steps - 1, 1), 0.0), 1.0)
    if schedule == "geometric":
        return float(np.exp((1 - f) * np.log(start) + f * np.log(end)))
    return float(start + f * (end - start))
