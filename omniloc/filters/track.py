"""Track smoothing: absolute position fixes + dead-reckoned steps -> one consistent path.

A fingerprinting method (kNN, MTLoc, ...) gives noisy *absolute* fixes ``z_i`` at times ``t_i``;
pedestrian dead reckoning gives accurate *relative* steps ``d_k`` (metres, in its own frame,
whose heading origin is unknown) at step times ``s_k``. :func:`smooth_track` finds the positions
``x_0 .. x_S`` (at the start time ``s_0`` and at every step time) and the rotation ``theta`` of the
step frame that minimise, over a whole recording (offline smoothing, like the path
post-processing of the Indoor Location Competition),

    E(x, theta) = sum_i w_i |A_i x - z_i|^2 / sigma_f^2 + sum_k |x_k - x_{k-1} - R(theta) d_k|^2 / sigma_s^2

where ``A_i x`` is the path linearly interpolated in time at ``t_i``, ``sigma_f`` the fix noise and
``sigma_s`` the per-step noise (step length and heading drift), both in metres. For fixed
``theta`` this is linear least squares with a tridiagonal normal matrix (solved in O(S)); for fixed
``x`` the best rotation is ``theta = arg(sum_k conj(d_k) (x_k - x_{k-1}))`` (2-D Procrustes, with
complex numbers standing for 2-D vectors). The two are alternated, and the weights ``w_i`` are
Huber's (``w_i = min(1, huber / r_i)`` on the residual ``r_i`` in metres) so that outlier fixes
(a wrong corridor, a wrong floor) lose influence. ``theta`` starts from the rotation that best
aligns the raw step path with the fixes.

:func:`smooth_floors` is the floor counterpart: the sequence of floors that disagrees least with
the per-fix floors plus ``switch_cost`` per change of floor (a Viterbi pass).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Track", "smooth_track", "smooth_floors", "time_weights"]


@dataclass
class Track:
    """A smoothed path.

    Attributes
    ----------
    t : (N,) seconds
        Node times: the start, then every step.
    xy : (N, 2) metres
        Node positions.
    rotation_rad : float
        Rotation from the step frame to the map frame (counter-clockwise).
    fix_weight : (M,)
        Final Huber weights of the fixes (1 = inlier).
    fix_residual_m : (M,) metres
        Distance from each fix to the smoothed path at its time.
    """

    t: np.ndarray
    xy: np.ndarray
    rotation_rad: float
    fix_weight: np.ndarray
    fix_residual_m: np.ndarray

    def at(self, t) -> np.ndarray:
        """Positions (M, 2) metres at times ``t`` (M,) seconds: linear between nodes, held outside."""
        t = np.asarray(t, dtype=np.float64).reshape(-1)
        return np.stack([np.interp(t, self.t, self.xy[:, i]) for i in range(2)], axis=1)


def _interpolation(node_t: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Left node index (M,), weights of the left and right node (M,) for linear interpolation."""
    n = len(node_t)
    if n == 1:
        return np.zeros(len(t), int), np.ones(len(t)), np.zeros(len(t))
    j = np.clip(np.searchsorted(node_t, t, side="right") - 1, 0, n - 2)
    span = node_t[j + 1] - node_t[j]
    w = np.clip((t - node_t[j]) / np.where(span > 0, span, 1.0), 0.0, 1.0)
    return j, 1.0 - w, w


def _solve(node_t, j, wl, wr, weight, z, d_rot, sigma_f, sigma_s) -> np.ndarray:
    """Minimise E for a fixed rotation: tridiagonal normal equations, complex right-hand side."""
    from scipy.linalg import solveh_banded

    n = len(node_t)
    diag = np.zeros(n)
    off = np.zeros(max(n - 1, 0))
    rhs = np.zeros(n, dtype=np.complex128)
    a = weight / sigma_f**2
    np.add.at(diag, j, a * wl * wl)
    if n > 1:
        np.add.at(diag, j + 1, a * wr * wr)
        np.add.at(off, j, a * wl * wr)
    np.add.at(rhs, j, a * wl * z)
    if n > 1:
        np.add.at(rhs, j + 1, a * wr * z)
        b = 1.0 / sigma_s**2
        diag[:-1] += b
        diag[1:] += b
        off -= b
        rhs[1:] += b * d_rot
        rhs[:-1] -= b * d_rot
    if n == 1:
        return rhs / diag
    ab = np.zeros((2, n))
    ab[0, 1:] = off
    ab[1] = diag
    re = solveh_banded(ab, rhs.real)
    im = solveh_banded(ab, rhs.imag)
    return re + 1j * im


def smooth_track(
    fix_t,
    fix_xy,
    step_t,
    step_xy,
    t_start: float | None = None,
    sigma_fix_m: float = 8.0,
    sigma_step_m: float = 0.3,
    huber_m: float | None = 5.0,
    iterations: int = 10,
    rotation_rad: float | None = None,
) -> Track:
    """Fuse absolute fixes with relative steps over one recording (see the module docstring).

    Parameters
    ----------
    fix_t : (M,) seconds
        Times of the fixes (M >= 1).
    fix_xy : (M, 2) metres
        Fixes in the map frame (rows with NaN are ignored).
    step_t : (S,) seconds, increasing
        Step times.
    step_xy : (S, 2) metres
        Displacement of each step in the step frame (any heading origin).
    t_start : float, optional
        Time of the first node (default: the earliest fix or step time).
    sigma_fix_m, sigma_step_m : float
        Noise of a fix and of a step, metres (only their ratio matters without ``huber_m``).
    huber_m : float or None
        Huber threshold on fix residuals, metres; None = plain least squares.
    iterations : int
        Alternations of the position solve and the rotation update (>= 1).
    rotation_rad : float, optional
        Known rotation from the step frame to the map frame (then not estimated).

    Returns
    -------
    Track
    """
    fix_t = np.asarray(fix_t, dtype=np.float64).reshape(-1)
    fix_xy = np.asarray(fix_xy, dtype=np.float64).reshape(-1, 2)
    step_t = np.asarray(step_t, dtype=np.float64).reshape(-1)
    step_xy = np.asarray(step_xy, dtype=np.float64).reshape(-1, 2)
    if len(fix_t) != len(fix_xy):
        raise ValueError(f"fix_t has {len(fix_t)} times but fix_xy has {len(fix_xy)} rows")
    if len(step_t) != len(step_xy):
        raise ValueError(f"step_t has {len(step_t)} times but step_xy has {len(step_xy)} rows")
    if len(step_t) > 1 and np.any(np.diff(step_t) < 0):
        raise ValueError("step_t must be increasing")
    if sigma_fix_m <= 0 or sigma_step_m <= 0:
        raise ValueError("sigma_fix_m and sigma_step_m must be positive")
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    ok = np.all(np.isfinite(fix_xy), axis=1) & np.isfinite(fix_t)
    if not ok.any():
        raise ValueError("smooth_track needs at least one finite fix")
    if t_start is None:
        t_start = float(min(fix_t[ok].min(), step_t[0] if len(step_t) else np.inf))
    keep = step_t > t_start
    node_t = np.concatenate([[float(t_start)], step_t[keep]])
    d = step_xy[keep, 0] + 1j * step_xy[keep, 1]
    z = fix_xy[ok, 0] + 1j * fix_xy[ok, 1]
    j, wl, wr = _interpolation(node_t, fix_t[ok])
    weight = np.ones(len(z))

    def path_at_fixes(x):
        return wl * x[j] + wr * x[np.minimum(j + 1, len(x) - 1)]

    if rotation_rad is not None:
        rot = np.exp(1j * float(rotation_rad))
    else:
        # initial rotation: align the raw step path with the fixes (centred Procrustes)
        p = path_at_fixes(np.concatenate([[0.0], np.cumsum(d)]))
        c = np.sum(np.conj(p - p.mean()) * (z - z.mean()))
        rot = c / abs(c) if abs(c) > 1e-12 else 1.0 + 0j
    x = np.zeros(len(node_t), dtype=np.complex128)
    for _ in range(int(iterations)):
        x = _solve(node_t, j, wl, wr, weight, z, rot * d, sigma_fix_m, sigma_step_m)
        if rotation_rad is None and len(d):
            c = np.sum(np.conj(d) * np.diff(x))
            if abs(c) > 1e-12:
                rot = c / abs(c)
        r = np.abs(path_at_fixes(x) - z)
        if huber_m is not None:
            weight = np.minimum(1.0, float(huber_m) / np.maximum(r, 1e-12))
    if rotation_rad is None and len(d):  # positions consistent with the final rotation
        x = _solve(node_t, j, wl, wr, weight, z, rot * d, sigma_fix_m, sigma_step_m)
    full_w = np.full(len(fix_t), np.nan)
    full_r = np.full(len(fix_t), np.nan)
    full_w[ok] = weight
    full_r[ok] = np.abs(path_at_fixes(x) - z)
    return Track(node_t, np.stack([x.real, x.imag], axis=1), float(np.angle(rot)), full_w, full_r)


def smooth_floors(floor, switch_cost: float = 3.0, weight=None) -> np.ndarray:
    """The floor sequence closest to ``floor`` with few changes (Viterbi).

    Minimises ``sum_i w_i [y_i != floor_i] + switch_cost * #{i : y_i != y_{i-1}}`` over sequences
    ``y`` of the floors that occur in ``floor``. A run of another floor with total weight ``W``
    inside a path is kept only when ``W > 2 * switch_cost`` (changing floor and back costs two
    switches), at either end of the path when ``W > switch_cost``: short runs are taken as noise,
    long ones as real changes (stairs, lifts). With ``w_i`` the time each estimate stands for
    (seconds), ``switch_cost`` is in seconds too, whatever the estimation rate.

    Parameters
    ----------
    floor : (M,) int
        Per-estimate floors, in time order.
    switch_cost : float
        Cost of one change of floor, in units of ``weight`` (>= 0).
    weight : (M,) float >= 0, optional
        Cost of disagreeing with each estimate (default 1: ``switch_cost`` counts estimates).

    Returns
    -------
    (M,) int
    """
    floor = np.asarray(floor).reshape(-1)
    if switch_cost < 0:
        raise ValueError(f"switch_cost must be >= 0, got {switch_cost}")
    w = np.ones(len(floor)) if weight is None else np.asarray(weight, dtype=np.float64).reshape(-1)
    if len(w) != len(floor) or np.any(~np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"weight must be {len(floor)} finite values >= 0")
    if len(floor) == 0:
        return floor.copy()
    labels = np.unique(floor)
    obs = (floor[:, None] != labels[None, :]) * w[:, None]  # (M, L) disagreement cost
    cost = obs[0].copy()
    back = np.zeros((len(floor), len(labels)), dtype=np.int64)
    for i in range(1, len(floor)):
        best = int(np.argmin(cost))
        move = cost[best] + switch_cost
        back[i] = np.where(cost <= move, np.arange(len(labels)), best)
        cost = np.minimum(cost, move) + obs[i]
    path = np.empty(len(floor), dtype=np.int64)
    path[-1] = int(np.argmin(cost))
    for i in range(len(floor) - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    return labels[path]


def time_weights(t) -> np.ndarray:
    """Time each of the sorted times ``t`` (M,) seconds stands for: half the gaps to its neighbours
    (the end ones get their one half-gap twice); all ones when M < 2."""
    t = np.asarray(t, dtype=np.float64).reshape(-1)
    if len(t) < 2:
        return np.ones(len(t))
    gap = np.diff(t)
    left = np.r_[gap[0], gap]
    right = np.r_[gap, gap[-1]]
    return 0.5 * (left + right)
