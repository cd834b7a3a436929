"""A particle filter for pedestrian tracking over a floor plan, with an offline smoother.

Each particle ``i`` is a walker hypothesis: position ``x_i`` (metres, map frame), floor ``f_i``,
heading offset ``delta_i`` (walking direction minus the heading source, radians) and step-length
scale ``s_i``, with a log-weight ``log w_i``. A recording is processed in time order:

* **Step** ``k`` with Weinberg length ``L_k`` and heading ``psi_k`` (an absolute heading from the
  phone's orientation, or the gyroscope's heading change, whose unknown origin the offsets then
  absorb): ``delta_i += N(0, offset_walk)``, ``s_i += N(0, scale_walk)``, and
  ``x_i += L_k s_i (1 + N(0, length_noise)) (cos h, sin h) + N(0, position_noise^2 I)`` with
  ``h = psi_k + delta_i + N(0, heading_noise)`` (:meth:`ParticleFilter.step`). Without steps (no
  IMU) particles diffuse instead (:meth:`ParticleFilter.diffuse`).
* **Walls**: a move that meets a blocked cell of the floor's
  :class:`~omniloc.data.WalkableGrid` deeper than ``wall_slack_m`` inside an obstacle (a wall is
  always deeper) multiplies the particle's weight by ``wall_weight`` (a soft constraint: maps are
  approximate, and a hard one kills every particle when all of them are wrong).
* **Floors**: in a zone whose label ends in ``-stairs`` / ``-elevator`` / ``-lift`` a particle moves
  to an adjacent floor with probability ``floor_switch`` per step and per fix with a floor (a
  walker in an elevator takes no steps), and anywhere with the smaller ``floor_switch_anywhere``
  (plans without such zones, and a way back for particles that stayed on the old floor while the
  walker left the stairs).
* **Fixes** ``z`` (another method's position estimate, floor ``g``) carry an error that is
  correlated in time (fingerprinting snaps to the same wrong corridor for many seconds):
  ``z = x + b + e`` with white ``e ~ N(0, fix_sigma^2 I)`` and a bias ``b`` that is a first-order
  Gauss-Markov process, ``b(t + dt) = rho b(t) + sqrt(1 - rho^2) N(0, bias_sigma^2 I)``,
  ``rho = exp(-dt / bias_tau)``. Given a particle's path the bias is linear-Gaussian, so it is
  integrated out exactly (Rao-Blackwellised): each particle keeps the bias mean ``m_i``, and the
  shared variance ``P`` follows the Kalman recursion. The fix weighs a particle by
  ``N(z; x_i + rho m_i, (rho^2 P + (1 - rho^2) bias_sigma^2 + fix_sigma^2) I)`` times the floor
  term ``floor_hit`` (``1 - floor_hit`` when ``g != f_i``) (:meth:`ParticleFilter.update_fix`).
* **Resampling**: systematic (:func:`systematic_resample`) when the effective sample size
  ``1 / sum w_i^2`` falls below ``resample_ess * N``.

The causal estimate is the weighted mean position and the weighted majority floor
(:meth:`ParticleFilter.estimate`). The offline estimate (:func:`smooth_particles`) is
forward-filtering backward-simulation (Godsill, Doucet & West, "Monte Carlo smoothing for
nonlinear time series", JASA 2004): trajectories drawn backwards from the stored filter
particles with probabilities ``w_k^i p(x_{k+1} | x_k^i)``, the step's Gaussian transition density
on position, offset and scale (the heading noise linearised into an isotropic position noise)
times the floor-change probability, averaged; the wall term is left out of the backward pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._conf import merge_conf

__all__ = ["PF_DEFAULTS", "ParticleFilter", "systematic_resample", "smooth_particles", "FilterHistory"]

#: Defaults of :class:`ParticleFilter` (metres, radians as degrees, seconds):
#:
#: * ``particles``: number of particles N;
#: * ``length_noise``: relative standard deviation of one step's length; ``heading_noise_deg``:
#:   white heading noise per step; ``position_noise_m``: isotropic jitter per step;
#: * ``offset_walk_deg``, ``scale_walk``: per-step random walks of each particle's heading offset
#:   and step-length scale; ``init_offset_deg``: spread of the initial offsets around the given
#:   one (None: uniform on the circle, for a gyroscope heading of unknown origin);
#:   ``init_scale_std``: spread of the initial scales around 1;
#: * ``diffuse_speed_m_s``: speed of the random walk used without steps;
#: * ``grid_m``: cell of the walkable grid; ``wall_weight``: weight factor of a blocked move;
#:   ``wall_slack_m``: depth inside an obstacle that still counts as free (walls always block);
#: * ``floor_switch``: probability per step of changing floor inside a stairs or elevator zone;
#:   ``floor_switch_anywhere``: the same anywhere (plans without such zones, missed transitions);
#:   ``floor_hit``: probability that a fix's floor is right;
#: * ``fix_sigma_m``, ``bias_sigma_m``, ``bias_tau_s``: the fix error model (module docstring);
#: * ``resample_ess``: resampling threshold as a fraction of N;
#: * ``smoother_paths``: trajectories drawn by the backward pass of the offline smoother.
PF_DEFAULTS: dict = {
    "particles": 3000,
    "length_noise": 0.15,
    "heading_noise_deg": 6.0,
    "position_noise_m": 0.05,
    "offset_walk_deg": 1.0,
    "scale_walk": 0.01,
    "init_offset_deg": 10.0,
    "init_scale_std": 0.1,
    "diffuse_speed_m_s": 1.0,
    "grid_m": 0.2,
    "wall_weight": 0.02,
    "wall_slack_m": 0.5,
    "floor_switch": 0.02,
    "floor_switch_anywhere": 0.001,
    "floor_hit": 0.9,
    "fix_sigma_m": 4.0,
    "bias_sigma_m": 6.0,
    "bias_tau_s": 20.0,
    "resample_ess": 0.5,
    "smoother_paths": 64,
}

_CORE_SUFFIXES = ("-stairs", "-elevator", "-lift")


def systematic_resample(weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices of N particles drawn from normalised ``weights`` (N,) by systematic resampling.

    One uniform ``u ~ U[0, 1)``; particle ``i`` is copied once for every point ``(u + j) / N``
    (``j = 0 .. N-1``) in its slice of the cumulative weights, so it gets ``floor(N w_i)`` or
    ``ceil(N w_i)`` copies: the expected count is exactly ``N w_i``, with the least variance.
    """
    w = np.asarray(weights, dtype=np.float64)
    n = len(w)
    c = np.cumsum(w)
    c /= c[-1]
    positions = (rng.random() + np.arange(n)) / n
    return np.minimum(np.searchsorted(c, positions, side="right"), n - 1)


@dataclass
class FilterHistory:
    """What the forward pass stores for the smoother, one row per step.

    Attributes
    ----------
    t : (K,) seconds
    state : (K, N, 4) float32: x, y metres, heading offset rad, scale (after the step's fixes)
    log_weight : (K, N) normalised log-weights
    floor : (K, N) int
    psi : (K,) rad
        The step's heading ``psi_k`` before each particle's offset.
    length : (K,) metres
        ``L_k`` before each particle's scale (0 for a diffusion step).
    spread : (K,) metres
        The step's position noise as one isotropic standard deviation.
    """

    t: np.ndarray
    state: np.ndarray
    log_weight: np.ndarray
    floor: np.ndarray
    psi: np.ndarray
    length: np.ndarray
    spread: np.ndarray


class ParticleFilter:
    """Vectorised particle filter over floor plans (module docstring).

    Parameters
    ----------
    plans : dict[int, FloorPlan]
        The floor plan of each floor the walker may be on (empty: no walls, no floor changes).
    conf : dict, optional
        Merged over :data:`PF_DEFAULTS`.
    seed : int
        Seed of the filter's own generator (library code leaves numpy's global one alone).
    """

    def __init__(self, plans: dict, conf: dict | None = None, seed: int = 0):
        self.conf = merge_conf(PF_DEFAULTS, conf, where="particle filter conf")
        self.plans = dict(plans)
        self.grids = {f: p.walkable_grid(self.conf["grid_m"]) for f, p in self.plans.items()}
        self.rng = np.random.default_rng(seed)
        self.floors = np.array(sorted(self.plans), dtype=np.int64)
        any_core = any(self._core_cells(f) is not None for f in self.plans)
        self._switch_anywhere = not any_core
        self.history: list = []

    # ------------------------------------------------------------------ set-up
    def _core_cells(self, floor: int):
        zones = [z for k, z in self.plans[floor].zones.items() if k.endswith(_CORE_SUFFIXES)]
        return zones or None

    def _free(self, xy: np.ndarray, floor: np.ndarray) -> np.ndarray:
        out = np.ones(len(xy), dtype=bool)
        for f, g in self.grids.items():
            sel = floor == f
            if sel.any():
                out[sel] = g.is_free(xy[sel])
        return out

    def initialize(
        self, xy, std_m: float, floors=None, offset_rad: float = 0.0, t: float = 0.0, floor_probs=None
    ) -> None:
        """Particles around ``xy`` (2,) metres with spread ``std_m``, on walkable cells where possible.

        ``floors``: the floor of each particle drawn from these (with probabilities ``floor_probs``,
        default equally likely); ``offset_rad``:
        centre of the heading offsets (spread ``init_offset_deg``; uniform when that is None).
        Without ``xy`` (None) the particles spread uniformly over the walkable cells of the floors.
        """
        c, n = self.conf, int(self.conf["particles"])
        fl = np.asarray(self.floors if floors is None else floors, dtype=np.int64).reshape(-1)
        if len(fl) == 0:
            fl = np.zeros(1, dtype=np.int64)
        p = None if floor_probs is None else np.asarray(floor_probs, dtype=np.float64) / np.sum(floor_probs)
        self.floor = self.rng.choice(fl, size=n, p=p)
        if xy is None:
            self.xy = np.zeros((n, 2))
            for f in np.unique(self.floor):
                sel = np.flatnonzero(self.floor == f)
                g = self.grids.get(int(f))
                if g is None:
                    continue
                cells = np.argwhere(g.free)
                pick = cells[self.rng.integers(0, len(cells), len(sel))]
                self.xy[sel] = g.origin + (pick[:, ::-1] + self.rng.random((len(sel), 2))) * g.resolution_m
        else:
            centre = np.asarray(xy, dtype=np.float64).reshape(2)
            self.xy = centre + float(std_m) * self.rng.standard_normal((n, 2))
            for _ in range(50):  # redraw particles that start inside walls or shops
                bad = ~self._free(self.xy, self.floor)
                if not bad.any():
                    break
                self.xy[bad] = centre + float(std_m) * self.rng.standard_normal((int(bad.sum()), 2))
        if c["init_offset_deg"] is None:
            self.offset = self.rng.uniform(-np.pi, np.pi, n)
        else:
            self.offset = offset_rad + np.radians(c["init_offset_deg"]) * self.rng.standard_normal(n)
        self.scale = 1.0 + c["init_scale_std"] * self.rng.standard_normal(n)
        self.log_w = np.full(n, -np.log(n))
        self.bias = np.zeros((n, 2))
        self.bias_var = float(c["bias_sigma_m"]) ** 2
        self.t = float(t)
        self._t_fix = None
        self.history = []
        self._pending = (self.t, 0.0, 0.0, max(float(std_m), 1e-3))

    # ------------------------------------------------------------------ motion
    def _move(self, t: float, new_xy: np.ndarray, psi: float, length: float, spread: float) -> None:
        c = self.conf
        self.history.append(self._row())  # the previous step, with the fixes that followed it
        blocked = np.zeros(len(new_xy), dtype=bool)
        for f, g in self.grids.items():
            sel = np.flatnonzero(self.floor == f)
            if len(sel):
                blocked[sel] = g.blocked_steps(self.xy[sel], new_xy[sel], c["wall_slack_m"])
        self.log_w[blocked] += np.log(c["wall_weight"])
        self.xy = new_xy
        self._switch_floors()
        self._normalise()
        self.t = float(t)
        self._pending = (self.t, psi, length, spread)

    def step(self, t: float, length_m: float, psi_rad: float) -> None:
        """Move every particle by one step of length ``length_m`` along ``psi_rad`` + its offset."""
        c, n = self.conf, len(self.xy)
        z = self.rng.standard_normal((6, n))  # one draw for all the noise of this step
        self.offset = self.offset + np.radians(c["offset_walk_deg"]) * z[0]
        self.scale = np.maximum(self.scale + c["scale_walk"] * z[1], 0.3)
        h = psi_rad + self.offset + np.radians(c["heading_noise_deg"]) * z[2]
        ell = length_m * self.scale * (1.0 + c["length_noise"] * z[3])
        new = np.empty_like(self.xy)
        new[:, 0] = self.xy[:, 0] + ell * np.cos(h) + c["position_noise_m"] * z[4]
        new[:, 1] = self.xy[:, 1] + ell * np.sin(h) + c["position_noise_m"] * z[5]
        spread = float(np.hypot(length_m * c["length_noise"], length_m * np.radians(c["heading_noise_deg"])))
        self._move(t, new, float(psi_rad), float(length_m), float(np.hypot(spread, c["position_noise_m"])))

    def diffuse(self, t: float) -> None:
        """Without steps: a random walk of ``diffuse_speed_m_s`` per second since the last event."""
        dt = max(float(t) - self.t, 0.0)
        sd = float(self.conf["diffuse_speed_m_s"]) * max(dt, 1e-3)
        new = self.xy + sd * self.rng.standard_normal(self.xy.shape)
        self._move(t, new, 0.0, 0.0, sd)

    def _switch_floors(self) -> None:
        c = self.conf
        p_core, p_any = float(c["floor_switch"]), float(c["floor_switch_anywhere"])
        if len(self.floors) < 2 or max(p_core, p_any) <= 0:
            return
        u = self.rng.random(len(self.xy))
        cand = u < p_any  # anywhere: map errors, plans without stairs or elevators
        if not self._switch_anywhere and p_core > p_any:  # inside stairs / elevators the larger rate
            maybe = np.flatnonzero((u < p_core) & ~cand)
            core = np.zeros(len(maybe), dtype=bool)
            for f in self.plans:
                sel = np.flatnonzero(self.floor[maybe] == f)
                if len(sel) and self._core_cells(f):
                    labels = self.plans[f].zone_of(self.xy[maybe[sel]]).astype(str)
                    core[sel] = np.logical_or.reduce([np.char.endswith(labels, x) for x in _CORE_SUFFIXES])
            cand[maybe[core]] = True
        idx = np.flatnonzero(cand)
        if len(idx):
            pos = np.searchsorted(self.floors, self.floor[idx])
            move = np.where(self.rng.random(len(idx)) < 0.5, -1, 1)
            to = pos + move
            to = np.where((to < 0) | (to >= len(self.floors)), pos - move, to)  # top and bottom: the one way
            self.floor[idx] = self.floors[to]

    # ------------------------------------------------------------------ measurements
    def update_fix(self, t: float, z, floor: int | None = None) -> None:
        """Weigh the particles by a position fix ``z`` (2,) metres (and its floor), module docstring."""
        c = self.conf
        if floor is not None:
            self._switch_floors()  # a walker standing in an elevator changes floor without steps
        dt = 0.0 if self._t_fix is None else max(float(t) - self._t_fix, 0.0)
        self._t_fix = float(t)
        rho = float(np.exp(-dt / c["bias_tau_s"])) if c["bias_tau_s"] > 0 else 0.0
        sb2, sw2 = float(c["bias_sigma_m"]) ** 2, float(c["fix_sigma_m"]) ** 2
        self.bias *= rho
        P = rho * rho * self.bias_var + (1.0 - rho * rho) * sb2
        S = P + sw2
        r = np.asarray(z, dtype=np.float64).reshape(1, 2) - self.xy - self.bias
        self.log_w += -0.5 * np.sum(r * r, axis=1) / S
        if floor is not None and len(self.floors) > 1:
            hit = float(c["floor_hit"])
            self.log_w += np.where(self.floor == int(floor), np.log(hit), np.log(max(1.0 - hit, 1e-12)))
        self.bias += (P / S) * r
        self.bias_var = P * sw2 / S
        self._normalise()
        self._resample_if_needed()

    def update_loglik(self, loglik: np.ndarray, keep_floor_mass: bool = False) -> None:
        """Weigh the particles by any per-particle log-likelihood (N,) (another sensor model).

        ``keep_floor_mass``: shift weight only among the particles of each floor, leaving each
        floor's total as it was (for a likelihood that locates well within a floor but is not
        calibrated across floors).
        """
        ll = np.asarray(loglik, dtype=np.float64).copy()
        if keep_floor_mass:
            for f in np.unique(self.floor):
                sel = self.floor == f
                lw = self.log_w[sel]
                ll[sel] -= np.logaddexp.reduce(lw + ll[sel]) - np.logaddexp.reduce(lw)
        self.log_w += ll
        self._normalise()
        self._resample_if_needed()

    # ------------------------------------------------------------------ weights
    def _normalise(self) -> None:
        m = np.max(self.log_w)
        self.log_w -= m + np.log(np.sum(np.exp(self.log_w - m)))

    @property
    def weights(self) -> np.ndarray:
        return np.exp(self.log_w)

    def ess(self) -> float:
        """Effective sample size ``1 / sum w_i^2``."""
        w = self.weights
        return float(1.0 / np.sum(w * w))

    def _resample_if_needed(self) -> None:
        n = len(self.xy)
        if self.ess() >= self.conf["resample_ess"] * n:
            return
        idx = systematic_resample(self.weights, self.rng)
        self.xy, self.floor, self.offset = self.xy[idx], self.floor[idx], self.offset[idx]
        self.scale, self.bias = self.scale[idx], self.bias[idx]
        self.log_w = np.full(n, -np.log(n))

    def estimate(self) -> tuple[np.ndarray, int, np.ndarray]:
        """Weighted mean position (2,) metres, weighted majority floor, and the 2x2 covariance."""
        w = self.weights
        mean = w @ self.xy
        d = self.xy - mean
        cov = (w[:, None] * d).T @ d
        floors, inv = np.unique(self.floor, return_inverse=True)
        floor = int(floors[np.argmax(np.bincount(inv, weights=w))])
        return mean, floor, cov

    def _row(self) -> tuple:
        """The current step's stored row: its time and move, the particles as they are now."""
        t, psi, length, spread = self._pending
        state = np.empty((len(self.xy), 4), dtype=np.float32)
        state[:, :2], state[:, 2], state[:, 3] = self.xy, self.offset, self.scale
        return (t, state, self.log_w.astype(np.float32), self.floor.astype(np.int16), psi, length, spread)

    def stored(self) -> FilterHistory:
        """The forward pass so far, one row per step (each after the fixes that followed it), for
        :func:`smooth_particles`. A step's row is written when the next step starts, so fixes only
        update the live particles."""
        if not hasattr(self, "_pending"):
            return FilterHistory(
                np.zeros(0),
                np.zeros((0, 0, 4), np.float32),
                np.zeros((0, 0), np.float32),
                np.zeros((0, 0), np.int16),
                np.zeros(0),
                np.zeros(0),
                np.zeros(0),
            )
        cols = list(zip(*(self.history + [self._row()])))
        return FilterHistory(
            np.asarray(cols[0], dtype=np.float64),
            np.stack(cols[1]),
            np.stack(cols[2]),
            np.stack(cols[3]),
            np.asarray(cols[4], dtype=np.float64),
            np.asarray(cols[5], dtype=np.float64),
            np.asarray(cols[6], dtype=np.float64),
        )


def smooth_particles(history: FilterHistory, conf: dict | None = None, seed: int = 0):
    """Forward-filtering backward-simulation over a stored forward pass (module docstring).

    Parameters
    ----------
    history : FilterHistory
        From :meth:`ParticleFilter.stored` (K steps, N particles).
    conf : dict, optional
        The filter's conf (noise levels, ``smoother_paths``), merged over :data:`PF_DEFAULTS`.
    seed : int

    Returns
    -------
    xy : (K, 2) metres
        Mean of the backward trajectories at each step.
    floor : (K,) int
        Majority floor of the backward trajectories.
    """
    c = merge_conf(PF_DEFAULTS, conf, where="particle filter conf")
    K = len(history.t)
    if K == 0:
        return np.zeros((0, 2)), np.zeros(0, dtype=np.int64)
    rng = np.random.default_rng(seed)
    M = int(c["smoother_paths"])
    p_switch = float(max(c["floor_switch"], c["floor_switch_anywhere"]))
    so2 = np.radians(c["offset_walk_deg"]) ** 2
    ss2 = float(c["scale_walk"]) ** 2
    lw = history.log_weight[-1].astype(np.float64)
    j = rng.choice(lw.size, size=M, p=np.exp(lw - np.logaddexp.reduce(lw)))
    cur = history.state[-1][j].astype(np.float64)  # (M, 4)
    cur_floor = history.floor[-1][j]
    xy = np.zeros((K, 2))
    floor = np.zeros(K, dtype=np.int64)
    xy[-1] = cur[:, :2].mean(axis=0)
    floor[-1] = np.bincount(cur_floor - cur_floor.min()).argmax() + cur_floor.min()
    for k in range(K - 2, -1, -1):
        prev = history.state[k].astype(np.float64)  # (N, 4)
        lwk = history.log_weight[k].astype(np.float64)
        psi, ell, sp = history.psi[k + 1], history.length[k + 1], max(history.spread[k + 1], 1e-3)
        # expected step of each trajectory given its (offset, scale) at k + 1
        h = psi + cur[:, 2]
        step = ell * cur[:, 3:4] * np.stack([np.cos(h), np.sin(h)], axis=1)  # (M, 2)
        target = cur[:, :2] - step  # where the particle at k should be
        d2 = ((target[:, None, :] - prev[None, :, :2]) ** 2).sum(-1) / sp**2  # (M, N)
        if ell > 0:
            d2 = d2 + (cur[:, None, 2] - prev[None, :, 2]) ** 2 / so2 + (cur[:, None, 3] - prev[None, :, 3]) ** 2 / ss2
        logits = lwk[None, :] - 0.5 * d2
        # a floor change between the two steps costs its probability
        same = history.floor[k][None, :] == cur_floor[:, None]
        logits = logits + np.where(same, 0.0, np.log(max(p_switch, 1e-12)))
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        u = rng.random((M, 1))
        pick = np.minimum((np.cumsum(p, axis=1) < u).sum(axis=1), prev.shape[0] - 1)
        cur = prev[pick]
        cur_floor = history.floor[k][pick]
        fl = cur_floor.astype(np.int64)
        xy[k] = cur[:, :2].mean(axis=0)
        floor[k] = np.bincount(fl - fl.min()).argmax() + fl.min()
    return xy, floor
