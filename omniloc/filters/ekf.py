"""A batched extended Kalman filter whose models may be neural networks (Generative Map, Sec. 3.3).

The state ``x`` (B, n) with covariance ``P`` (B, n, n) holds B independent filters (recordings,
particles, hypotheses). The transition ``f(x, u) -> x'`` and the observation model ``g(x) -> z``
are any batched torch callables, e.g. the pose encoder ``p(z|p)`` of a generative map, with their
Jacobians ``F = df/dx`` (B, n, n) and ``H = dg/dx`` (B, k, n) from autograd or central finite
differences (:func:`jacobian`). One step is

* prediction (Eq. 4-5): ``x <- f(x, u)``, ``P <- F P F^T + Q``;
* correction (Eq. 6-8): ``S = H P H^T + R``, ``K = P H^T S^-1``, ``x <- x + K (z - g(x))`` and
  ``P <- (I - K H) P (I - K H)^T + K R K^T`` (Joseph form, the default) or the paper's
  ``P <- P - K H P``; both are equal for the optimal gain, but the Joseph form stays symmetric
  positive semi-definite under rounding.

``S`` is never inverted: it is factorised by Cholesky (with a small, growing diagonal jitter when
rounding made it indefinite) and the gain comes from triangular solves. ``P`` is symmetrised after
every step. Tensors keep the device and dtype of ``x``; ``Q``, ``R`` and ``z`` are converted to them.

A callable that knows its own Jacobian may carry it as an attribute ``jacobian``: ``f.jacobian(x, u)``
(B, n, n) for a transition, ``g.jacobian(x)`` (B, k, n) for an observation model; it is then used
instead of differentiation (:func:`constant_transition` and :func:`additive_transition` do this).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

__all__ = [
    "jacobian",
    "ekf_predict",
    "ekf_update",
    "ExtendedKalmanFilter",
    "constant_transition",
    "additive_transition",
]

JACOBIAN_METHODS = ("autograd", "finite_difference")


def _identity_jacobian(x: torch.Tensor, u: torch.Tensor | None = None) -> torch.Tensor:
    """``I`` (B, n, n) in the dtype and device of ``x`` (B, n)."""
    b, n = x.shape
    return torch.eye(n, dtype=x.dtype, device=x.device).expand(b, n, n).clone()


def constant_transition(x: torch.Tensor, u: torch.Tensor | None = None) -> torch.Tensor:
    """Constant model ``f(x, u) = x`` (Sec. 4.2.1): the filter only smooths; ``u`` is ignored.

    Its Jacobian (identity) is attached as ``constant_transition.jacobian``.
    """
    return x


def additive_transition(x: torch.Tensor, u: torch.Tensor | None) -> torch.Tensor:
    """Odometry model ``f(x, u) = x + u`` with the control ``u = delta p`` (B, n) (Sec. 4.2.2).

    Its Jacobian (identity) is attached as ``additive_transition.jacobian``.
    """
    if u is None:
        raise ValueError("additive_transition needs a control u = delta p of shape (B, n), got None")
    if u.shape[-1] != x.shape[-1]:
        raise ValueError(f"additive_transition: u has {u.shape[-1]} columns but the state has {x.shape[-1]}")
    return x + u.to(dtype=x.dtype, device=x.device)


constant_transition.jacobian = _identity_jacobian
additive_transition.jacobian = _identity_jacobian


def _check_state(x: torch.Tensor, P: torch.Tensor) -> tuple[int, int]:
    if not isinstance(x, torch.Tensor) or x.ndim != 2:
        raise ValueError(f"x must be a (B, n) tensor, got {getattr(x, 'shape', type(x))}")
    b, n = x.shape
    if not isinstance(P, torch.Tensor) or tuple(P.shape) != (b, n, n):
        raise ValueError(f"P must have shape ({b}, {n}, {n}) for x of shape ({b}, {n}), got {getattr(P, 'shape', P)}")
    return b, n


def _autograd_value_and_jacobian(fn, x: torch.Tensor, check) -> tuple[torch.Tensor, torch.Tensor]:
    """Reverse-mode batched Jacobian; the results keep a graph only where the caller's inputs have one.

    Rows are independent, so ``d(sum_b y[b, i]) / dx[b] = dy[b, i] / dx[b]``: one backward pass per
    output ``i``, all vectorised (``is_grads_batched``). When grad mode is on and ``x`` or the
    parameters of ``fn`` require grad, the Jacobian is built with ``create_graph`` so that a loss on
    the filter's output can be differentiated through ``H`` too.
    """
    b, n = x.shape
    outer = torch.is_grad_enabled()
    y_out = None
    if outer and not x.requires_grad:
        y_out = check(fn(x))  # the value as the caller would get it: a graph only through parameters
        outer = y_out.requires_grad
    with torch.enable_grad():
        xx = x if x.requires_grad else x.detach().requires_grad_(True)
        y = check(fn(xx))
        out = y.shape[1]
        jac = None
        if out > 0 and y.requires_grad:
            v = torch.eye(out, dtype=y.dtype, device=y.device)[:, None, :].expand(out, b, out)
            (jac,) = torch.autograd.grad(y, xx, v, is_grads_batched=True, create_graph=outer, allow_unused=True)
    jac = torch.zeros(b, out, n, dtype=x.dtype, device=x.device) if jac is None else jac.permute(1, 0, 2)
    if y_out is not None:
        y = y_out
    if not outer:
        y, jac = y.detach(), jac.detach()
    return y, jac


def _value_and_jacobian(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, method: str, eps: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``fn(x)`` (B, out) and its batched Jacobian (B, out, n)."""
    if x.ndim != 2:
        raise ValueError(f"jacobian: x must have shape (B, n), got {tuple(x.shape)}")
    b, n = x.shape

    def check(y: torch.Tensor) -> torch.Tensor:
        if not isinstance(y, torch.Tensor) or y.ndim != 2 or y.shape[0] != b:
            raise ValueError(f"jacobian: fn must map (B, n) = ({b}, {n}) to (B, out), got {getattr(y, 'shape', y)}")
        return y

    if method == "autograd":
        return _autograd_value_and_jacobian(fn, x, check)
    if method == "finite_difference":
        if not eps > 0:
            raise ValueError(f"jacobian: eps must be positive, got {eps}")
        y = check(fn(x))
        cols = []
        for j in range(n):
            step = torch.zeros_like(x)
            step[:, j] = eps
            cols.append((check(fn(x + step)) - check(fn(x - step))) / (2.0 * eps))
        return y, torch.stack(cols, dim=-1)
    raise ValueError(f"jacobian method must be one of {JACOBIAN_METHODS}, got {method!r}")


def jacobian(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    method: str = "autograd",
    eps: float = 1e-4,
) -> torch.Tensor:
    """Batched Jacobian of a function that acts on each row independently (``f_p``, ``g_p`` of Eq. 5-8).

    Parameters
    ----------
    fn : callable (B, n) -> (B, out)
        Row ``b`` of the output may depend only on row ``b`` of the input (a network in eval mode,
        without batch statistics). For ``"autograd"`` it must be differentiable by torch autograd
        (no ``.item()``, no numpy) and its ops batchable by ``torch.vmap``.
    x : (B, n)
        Points at which to differentiate.
    method : {"autograd", "finite_difference"}
        Reverse-mode autograd (exact; one vectorised backward pass per output, differentiable
        itself when grad mode is on; not under ``torch.inference_mode``) or central
        differences ``(fn(x + eps e_j) - fn(x - eps e_j)) / (2 eps)`` (2 n evaluations; error
        ``O(eps^2)`` plus rounding ``O(machine eps / eps)``, so prefer float64).
    eps : float
        Absolute step of the finite differences, in the units of ``x``.

    Returns
    -------
    (B, out, n) tensor ``J[b, i, j] = d fn(x)[b, i] / d x[b, j]``.
    """
    return _value_and_jacobian(fn, x, method, eps)[1]


def _as_covariance(M, b: int, d: int, like: torch.Tensor, name: str, diagonal_2d: bool) -> torch.Tensor:
    """A noise covariance as (B, d, d) from a float, (d,), (d, d) / (B, d) or (B, d, d).

    A 2-D array is read as a shared full matrix (d, d) when ``diagonal_2d`` is False (``Q``), as
    per-filter diagonals (B, d) when True (``R``).
    """
    M = torch.as_tensor(M, dtype=like.dtype, device=like.device)
    shape = tuple(M.shape)
    if M.ndim == 0:
        out = M * torch.eye(d, dtype=like.dtype, device=like.device)
    elif M.ndim == 1 and shape == (d,):
        out = torch.diag(M)
    elif M.ndim == 2 and diagonal_2d and shape == (b, d):
        out = torch.diag_embed(M)
    elif M.ndim == 2 and not diagonal_2d and shape == (d, d):
        out = M
    elif M.ndim == 3 and shape == (b, d, d):
        return M
    else:
        forms = (
            f"a float, ({d},), " + (f"({b}, {d}) diagonal" if diagonal_2d else f"({d}, {d})") + f" or ({b}, {d}, {d})"
        )
        raise ValueError(f"{name} must be {forms}, got shape {shape}")
    return out.expand(b, d, d)


def _symmetrise(P: torch.Tensor) -> torch.Tensor:
    return 0.5 * (P + P.transpose(-1, -2))


def _cholesky(S: torch.Tensor, tries: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Lower Cholesky factor of the SPD matrices ``S`` (B, k, k) and the ``S`` actually factorised.

    Where a factorisation fails, ``10^i * 1e-12 * mean(|diag S|)`` is added to that matrix's
    diagonal, ``i = 0 .. tries - 1``.
    """
    L, info = torch.linalg.cholesky_ex(S)
    if not bool((info > 0).any()):
        return L, S
    k = S.shape[-1]
    eye = torch.eye(k, dtype=S.dtype, device=S.device)
    scale = S.diagonal(dim1=-2, dim2=-1).abs().mean(-1).clamp_min(torch.finfo(S.dtype).tiny)
    for i in range(tries):
        bad = (info > 0)[:, None, None]
        jitter = (1e-12 * 10.0**i) * scale[:, None, None] * eye
        S = torch.where(bad, S + jitter, S)
        L, info = torch.linalg.cholesky_ex(S)
        if not bool((info > 0).any()):
            return L, S
    raise torch.linalg.LinAlgError(
        f"innovation covariance S = H P H^T + R is not positive definite for filters "
        f"{torch.nonzero(info > 0).flatten().tolist()}, even with jitter; check R (variances > 0) and P"
    )


def ekf_predict(
    x: torch.Tensor,
    P: torch.Tensor,
    f: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor],
    Q,
    u: torch.Tensor | None = None,
    jacobian_method: str = "autograd",
    eps: float = 1e-4,
) -> tuple[torch.Tensor, torch.Tensor]:
    """EKF prediction with the transition model (Eq. 4-5).

    Parameters
    ----------
    x : (B, n)
        State means.
    P : (B, n, n)
        State covariances.
    f : callable ``f(x, u)`` (B, n), (B, m) or None -> (B, n)
        Transition, e.g. :func:`constant_transition` or :func:`additive_transition`. Its Jacobian
        ``F`` comes from ``f.jacobian(x, u)`` when present, else from :func:`jacobian`.
    Q : float, (n,) diagonal, (n, n) or (B, n, n)
        Transition noise covariance (the paper's ``sigma_q I``).
    u : (B, m), optional
        Control (e.g. odometry ``delta p``).
    jacobian_method : {"autograd", "finite_difference"}
    eps : float
        Finite-difference step.

    Returns
    -------
    x : (B, n)
        ``f(x, u)`` (Eq. 4).
    P : (B, n, n)
        ``F P F^T + Q``, symmetrised (Eq. 5).
    """
    b, n = _check_state(x, P)
    Qb = _as_covariance(Q, b, n, x, "Q", diagonal_2d=False)
    analytic = getattr(f, "jacobian", None)
    if callable(analytic):
        x_new = f(x, u)
        F = analytic(x, u)
    else:
        x_new, F = _value_and_jacobian(lambda xx: f(xx, u), x, jacobian_method, eps)
    if tuple(x_new.shape) != (b, n) or tuple(F.shape) != (b, n, n):
        raise ValueError(f"f must map the state ({b}, {n}) to ({b}, {n}), got {tuple(x_new.shape)}")
    P_new = F @ P @ F.transpose(-1, -2) + Qb
    return x_new, _symmetrise(P_new)


def ekf_update(
    x: torch.Tensor,
    P: torch.Tensor,
    z: torch.Tensor,
    g: Callable[[torch.Tensor], torch.Tensor],
    R,
    jacobian_method: str = "autograd",
    joseph: bool = True,
    eps: float = 1e-4,
    mask: torch.Tensor | None = None,
    iterations: int = 1,
    gate: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """EKF correction with an observation (Eq. 6-8); with ``iterations`` > 1 the iterated EKF.

    Parameters
    ----------
    x : (B, n)
        Predicted state means.
    P : (B, n, n)
        Predicted state covariances.
    z : (B, k)
        Observations (the image encoder's mean ``mu_z`` in the paper).
    g : callable (B, n) -> (B, k)
        Observation model (the pose encoder ``p(z|p)``). Its Jacobian ``H`` comes from
        ``g.jacobian(x)`` when present, else from :func:`jacobian`.
    R : float, (k,) diagonal, (B, k) diagonal or (B, k, k)
        Observation noise covariance, e.g. the encoder's predicted variances ``sigma_z^2`` (B, k).
    jacobian_method : {"autograd", "finite_difference"}
    joseph : bool
        Covariance update in Joseph form ``(I - K H) P (I - K H)^T + K R K^T`` (default) or the
        paper's ``P - K H P`` (Eq. 8).
    eps : float
        Finite-difference step.
    mask : (B,) bool, optional
        False where a filter has no observation: its state and covariance pass through unchanged
        (its ``z`` and ``R`` are not read, so they may be NaN) and its log-likelihood is 0.
    iterations : int
        1: the EKF (Eq. 6-8, one linearisation at the prediction). More: the iterated EKF
        (Gauss-Newton on the posterior mode): ``g`` is re-linearised at the latest estimate
        ``x_i`` and ``x_{i+1} = x + K_i (z - g(x_i) - H_i (x - x_i))``; the covariance uses the last
        ``K``, ``H``. Identical to the EKF for a linear ``g``.
    gate : float, optional
        Validation gate: an observation whose normalised innovation squared
        ``NIS = (z - g(x))^T S^-1 (z - g(x))`` exceeds ``gate`` is rejected as an outlier (its filter
        passes through unchanged, as where ``mask`` is False). A chi-square quantile of ``k``
        degrees of freedom, e.g. 13.8 for ``k = 2`` at 0.999. None: every observation is used.

    Returns
    -------
    x : (B, n)
        ``x + K (z - g(x))`` (Eq. 7).
    P : (B, n, n)
        Updated covariance, symmetrised.
    info : dict
        ``innovation`` (B, k) ``z - g(x)``; ``S`` (B, k, k) ``H P H^T + R`` (as factorised,
        including any jitter); ``K`` (B, n, k) the gain (Eq. 6); ``H`` (B, k, n);
        ``log_likelihood`` (B,) ``log N(z - g(x); 0, S)`` in nats (0 where not used); ``nis`` (B,);
        ``accepted`` (B,) bool, the observations used (``mask`` and the gate).
    """
    b, n = _check_state(x, P)
    z = torch.as_tensor(z, dtype=x.dtype, device=x.device)
    if z.ndim != 2 or z.shape[0] != b:
        raise ValueError(f"z must have shape ({b}, k), got {tuple(z.shape)}")
    k = z.shape[1]
    Rb = _as_covariance(R, b, k, x, "R", diagonal_2d=True)
    if int(iterations) < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations!r}")
    analytic = getattr(g, "jacobian", None)

    def linearise(xl):
        if callable(analytic):
            return g(xl), analytic(xl)
        return _value_and_jacobian(g, xl, jacobian_method, eps)

    if mask is not None:
        mask = torch.as_tensor(mask, dtype=torch.bool, device=x.device)
        if tuple(mask.shape) != (b,):
            raise ValueError(f"mask must have shape ({b},), got {tuple(mask.shape)}")
        Rb = torch.where(mask[:, None, None], Rb, torch.eye(k, dtype=x.dtype, device=x.device))
    xl = x
    for it in range(int(iterations)):
        z_hat, H = linearise(xl)
        if tuple(z_hat.shape) != (b, k) or tuple(H.shape) != (b, k, n):
            raise ValueError(
                f"g must map the state ({b}, {n}) to observations of shape ({b}, {k}), got {tuple(z_hat.shape)}"
            )
        if mask is not None and it == 0:
            z = torch.where(mask[:, None], z, z_hat.detach())
        innovation = z - z_hat
        if it > 0:
            innovation = innovation - (H @ (x - xl)[..., None])[..., 0]
        HP = H @ P  # (B, k, n)
        S = _symmetrise(HP @ H.transpose(-1, -2) + Rb)
        L, S = _cholesky(S)
        K = torch.cholesky_solve(HP, L).transpose(-1, -2)  # K^T = S^-1 H P  (P, S symmetric), Eq. 6
        x_new = x + (K @ innovation[..., None])[..., 0]
        xl = x_new
    if joseph:
        A = torch.eye(n, dtype=x.dtype, device=x.device) - K @ H
        P_new = A @ P @ A.transpose(-1, -2) + K @ Rb @ K.transpose(-1, -2)
    else:
        P_new = P - K @ HP
    P_new = _symmetrise(P_new)
    white = torch.linalg.solve_triangular(L, innovation[..., None], upper=False)[..., 0]
    log_det = 2.0 * torch.log(L.diagonal(dim1=-2, dim2=-1)).sum(-1)
    nis = (white**2).sum(-1)
    log_likelihood = -0.5 * (nis + log_det + k * math.log(2.0 * math.pi))
    accepted = torch.ones(b, dtype=torch.bool, device=x.device) if mask is None else mask
    if gate is not None:
        accepted = accepted & (nis <= float(gate))
    if mask is not None or gate is not None:
        x_new = torch.where(accepted[:, None], x_new, x)
        P_new = torch.where(accepted[:, None, None], P_new, P)
        log_likelihood = torch.where(accepted, log_likelihood, torch.zeros_like(log_likelihood))
    info = {
        "innovation": innovation,
        "S": S,
        "K": K,
        "H": H,
        "log_likelihood": log_likelihood,
        "nis": nis,
        "accepted": accepted,
    }
    return x_new, P_new, info


class ExtendedKalmanFilter:
    """Holds the models of an EKF (Sec. 3.3) and runs it over a sequence of observations.

    Parameters
    ----------
    f : callable ``f(x, u)`` (B, n), (B, m) or None -> (B, n), or None
        Transition; None = :func:`constant_transition`.
    g : callable (B, n) -> (B, k)
        Observation model (e.g. a pose encoder network in eval mode).
    Q : float, (n,), (n, n) or (B, n, n)
        Transition noise covariance.
    jacobian_method : {"autograd", "finite_difference"}
    eps : float
        Finite-difference step.
    joseph : bool
        Joseph-form covariance update (see :func:`ekf_update`).
    iterations : int
        Linearisations per update: 1 = the EKF, more = the iterated EKF (see :func:`ekf_update`).
    gate : float, optional
        Validation gate on the normalised innovation squared (see :func:`ekf_update`).
    """

    def __init__(
        self,
        f: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor] | None,
        g: Callable[[torch.Tensor], torch.Tensor],
        Q,
        jacobian_method: str = "autograd",
        eps: float = 1e-4,
        joseph: bool = True,
        iterations: int = 1,
        gate: float | None = None,
    ):
        if jacobian_method not in JACOBIAN_METHODS:
            raise ValueError(f"jacobian_method must be one of {JACOBIAN_METHODS}, got {jacobian_method!r}")
        self.f = constant_transition if f is None else f
        self.g = g
        self.Q = Q
        self.jacobian_method = jacobian_method
        self.eps = eps
        self.joseph = joseph
        self.iterations = int(iterations)
        self.gate = None if gate is None else float(gate)

    def predict(self, x: torch.Tensor, P: torch.Tensor, u: torch.Tensor | None = None):
        """:func:`ekf_predict` with this filter's ``f`` and ``Q``: returns (x (B, n), P (B, n, n))."""
        return ekf_predict(x, P, self.f, self.Q, u=u, jacobian_method=self.jacobian_method, eps=self.eps)

    def update(self, x: torch.Tensor, P: torch.Tensor, z: torch.Tensor, R, mask: torch.Tensor | None = None):
        """:func:`ekf_update` with this filter's ``g``: returns (x (B, n), P (B, n, n), info)."""
        return ekf_update(
            x,
            P,
            z,
            self.g,
            R,
            jacobian_method=self.jacobian_method,
            joseph=self.joseph,
            eps=self.eps,
            mask=mask,
            iterations=self.iterations,
            gate=self.gate,
        )

    def step(
        self,
        x: torch.Tensor,
        P: torch.Tensor,
        z: torch.Tensor,
        R,
        u: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Predict with ``u`` (B, m) then correct with ``z`` (B, k), ``R`` (see :func:`ekf_update`).

        Returns (x (B, n), P (B, n, n), info) as :func:`ekf_update`.
        """
        x, P = self.predict(x, P, u)
        return self.update(x, P, z, R, mask=mask)

    def run(
        self,
        x0: torch.Tensor,
        P0: torch.Tensor,
        zs: torch.Tensor,
        Rs,
        us: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        predict_first: bool = True,
    ) -> dict[str, torch.Tensor]:
        """Filter a sequence: for every ``t``, predict with ``us[t]`` then correct with ``zs[t]``.

        Parameters
        ----------
        x0 : (B, n)
            Initial state ``p_0``.
        P0 : (B, n, n) or (n, n)
            Initial covariance ``Sigma_p0``.
        zs : (T, B, k)
            Observations; entries where ``mask`` is False are not read (may be NaN).
        Rs : (T, B, k, k), (T, B, k) or (T, k), or a sequence of T covariances
            ``Rs[t]`` is the observation noise of step ``t`` in any form :func:`ekf_update` takes.
        us : (T, B, m), optional
            Controls; ``us[t]`` moves the state from step ``t - 1`` to ``t``.
        mask : (T, B) bool, optional
            False where a filter has no observation at a step: prediction only.
        predict_first : bool
            Predict before the first correction (``x0`` is the state one step before ``zs[0]``);
            False when ``x0, P0`` already are the prior at the time of ``zs[0]``.

        Returns
        -------
        dict
            ``x`` (T, B, n) and ``P`` (T, B, n, n) posteriors after each step, ``log_likelihood``
            (T, B) of each innovation (0 where masked), ``accepted`` (T, B) the observations used
            (``mask`` and the gate).
        """
        if P0.ndim == 2 and x0.ndim == 2:
            P0 = P0.expand(x0.shape[0], *P0.shape)
        _check_state(x0, P0)
        zs = torch.as_tensor(zs, dtype=x0.dtype, device=x0.device)
        if zs.ndim != 3 or zs.shape[1] != x0.shape[0]:
            raise ValueError(f"zs must have shape (T, {x0.shape[0]}, k), got {tuple(zs.shape)}")
        T = zs.shape[0]
        if len(Rs) != T:
            raise ValueError(f"Rs must have one entry per step (T = {T}), got {len(Rs)}")
        if us is not None and len(us) != T:
            raise ValueError(f"us must have one entry per step (T = {T}), got {len(us)}")
        if mask is not None:
            mask = torch.as_tensor(mask, dtype=torch.bool, device=x0.device)
            if tuple(mask.shape) != (T, x0.shape[0]):
                raise ValueError(f"mask must have shape ({T}, {x0.shape[0]}), got {tuple(mask.shape)}")
        x, P = x0, _symmetrise(P0)
        xs, Ps, lls, used = [], [], [], []
        for t in range(T):
            if t > 0 or predict_first:
                x, P = self.predict(x, P, None if us is None else us[t])
            m = None if mask is None else mask[t]
            if m is not None and not bool(m.any()):
                ll = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
                acc = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
            else:
                x, P, info = self.update(x, P, zs[t], Rs[t], mask=None if m is None or bool(m.all()) else m)
                ll, acc = info["log_likelihood"], info["accepted"]
            xs.append(x)
            Ps.append(P)
            lls.append(ll)
            used.append(acc)
        return {
            "x": torch.stack(xs),
            "P": torch.stack(Ps),
            "log_likelihood": torch.stack(lls),
            "accepted": torch.stack(used),
        }
