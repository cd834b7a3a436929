"""Simulated walks: pedestrians in an office building, agents along maze solution paths.

Both generators return an :class:`omniloc.data.Recording` without streams: the pose
timeline with ground truth ``position`` (N, 3) metres, ``orientation`` (N, 4) ``world_from_device``
quaternions (w, x, y, z), ``floor`` (N,), ``building`` (N,) and ``zone`` (N,). Sensor models
(:mod:`omniloc.sim.sensors`) then turn the timeline into streams.

Device frame: x forward (walking direction), y left, z up. With zero pitch and roll the device
lies flat, its x axis along the heading ``yaw`` (counter-clockwise from east).
"""

from __future__ import annotations

import numpy as np

from ..data import FloorPlan, Recording
from ..data.transforms import quat_from_yaw, quat_multiply, quat_normalize
from ._conf import merge_conf

__all__ = [
    "WALK_DEFAULTS",
    "MAZE_WALK_DEFAULTS",
    "office_walk",
    "maze_walk",
    "gait",
    "walk_grid",
    "grid_path",
    "orientation_from_euler",
]

#: Documented defaults of :func:`office_walk`.
WALK_DEFAULTS: dict = {
    "rate_hz": 100.0,  # pose timeline rate (= IMU rate), Hz
    "grid_m": 0.25,  # planning grid resolution, metres
    "margin_m": 0.35,  # planning clearance from walls, metres
    "min_clearance_m": 0.2,  # smoothed paths keep at least this distance from walls
    "speed_mps": [0.8, 1.6],  # walking speed range; one speed drawn per leg
    "ramp_s": 0.8,  # time to accelerate from rest to walking speed (and to stop)
    "pause_prob": 0.4,  # probability of a pause at the end of a leg
    "pause_s": [1.0, 5.0],  # pause duration range, seconds
    "turn_rate_dps": 120.0,  # peak turning rate in place, degrees/second
    "smooth_m": 0.6,  # corner rounding: Gaussian sigma along the path, metres
    "wall_penalty": 2.0,  # path cost factor 1 + wall_penalty * (1 - clearance / wall_comfort_m)
    "wall_comfort_m": 1.0,  # ... for cells closer than this to a wall (keeps walkers mid-corridor)
    "heading_smooth_s": 0.1,  # Gaussian low-pass of the heading, seconds
    "min_leg_m": 4.0,  # minimum path length of a leg, metres
    "floor_change_prob": 0.3,  # probability that a leg goes to another floor
    "elevator_prob": 0.5,  # probability of the elevator (else the stairs) for a floor change
    "stairs_speed_mps": 0.8,  # horizontal speed on the stairs
    "elevator_speed_mps": 1.0,  # peak vertical speed of the elevator
    "elevator_wait_s": 1.5,  # wait before and after the ride (doors)
    "device_height_m": 1.3,  # device height above the floor
    "sway_pitch_deg": 2.0,  # pitch oscillation amplitude at step frequency while walking
    "sway_roll_deg": 3.0,  # roll oscillation amplitude at half the step frequency
    "start_floor": None,  # floor to start on; None = random
    "hand_held": False,  # hand-held camera/phone: a mean pitch plus slow hand wander (below)
    "hand_pitch_deg": -10.0,  # hand_held: mean pitch (negative = looking down)
    "hand_wander_deg": [6.0, 5.0, 8.0],  # hand_held: std of the slow pitch, roll, yaw wander, degrees
    "hand_wander_s": 1.5,  # hand_held: time scale (Gaussian smoothing sigma) of the wander, seconds
}

#: Documented defaults of :func:`maze_walk`.
MAZE_WALK_DEFAULTS: dict = {
    "step_px": 1.0,  # distance between consecutive poses along the path, pixels (= metres)
    "speed_mps": 1.0,  # constant speed, pixels (= metres) per second: t = arc length / speed
    "device_height_m": 1.3,  # z of the poses above the floor
    "min_path_cells": 4,  # start and end cells are at least this many cells apart along the path
    "heading_smooth_px": 0.5,  # Gaussian low-pass of the heading along the path, pixels
    "start_cell": None,  # (row, col) of the start cell; None = random boundary cell
    "end_cell": None,  # (row, col) of the end cell; None = random boundary cell
}


# ============================================================================ shared helpers
def gait(t: np.ndarray, speed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Step phase and gait amplitude of a walker.

    The step frequency follows the walking speed, ``f = 0.9 + 0.75 v`` Hz (1.5 Hz at 0.8 m/s,
    1.8 Hz at 1.2 m/s, 2.1 Hz at 1.6 m/s), and is zero below 0.05 m/s.

    Parameters
    ----------
    t : (N,) seconds
    speed : (N,) m/s horizontal speed

    Returns
    -------
    phase : (N,) steps (cycles), starting at 0
    amplitude : (N,) in [0, 1], ``min(v / 1 m/s, 1)``: 0 at rest, 1 at normal walking speed
    """
    t = np.asarray(t, dtype=np.float64)
    speed = np.asarray(speed, dtype=np.float64)
    f = np.where(speed > 0.05, 0.9 + 0.75 * speed, 0.0)
    phase = np.zeros_like(t)
    if len(t) > 1:
        phase[1:] = np.cumsum(0.5 * (f[1:] + f[:-1]) * np.diff(t))
    return phase, np.clip(speed / 1.0, 0.0, 1.0)


def orientation_from_euler(
    yaw: np.ndarray, pitch: np.ndarray | None = None, roll: np.ndarray | None = None
) -> np.ndarray:
    """``world_from_device`` quaternions ``Rz(yaw) Ry(pitch) Rx(roll)``.

    Parameters
    ----------
    yaw, pitch, roll : (N,) radians

    Returns
    -------
    (N, 4) unit quaternions (w, x, y, z)
    """
    yaw = np.asarray(yaw, dtype=np.float64)
    q = quat_from_yaw(yaw)
    z = np.zeros_like(yaw)
    if pitch is not None:
        h = 0.5 * np.asarray(pitch, dtype=np.float64)
        q = quat_multiply(q, np.stack([np.cos(h), z, np.sin(h), z], -1))
    if roll is not None:
        h = 0.5 * np.asarray(roll, dtype=np.float64)
        q = quat_multiply(q, np.stack([np.cos(h), np.sin(h), z, z], -1))
    return quat_normalize(q)


def _gauss(x: np.ndarray, sigma: float, axis: int = 0) -> np.ndarray:
    from scipy.ndimage import gaussian_filter1d

    if sigma <= 0:
        return np.asarray(x, dtype=np.float64)
    return gaussian_filter1d(np.asarray(x, dtype=np.float64), sigma, axis=axis, mode="nearest")


def _hand_wander(rng: np.random.Generator, n: int, sigma_samples: float, std_rad) -> np.ndarray:
    """(n, 3) slow zero-mean angles: white noise low-passed by a Gaussian of ``sigma_samples``
    samples and rescaled so each column has the standard deviation ``std_rad`` (3,) radians."""
    w = _gauss(rng.standard_normal((n, 3)), sigma_samples)
    w = w - w.mean(axis=0)
    sd = w.std(axis=0)
    return w / np.where(sd > 0, sd, 1.0) * np.asarray(std_rad, dtype=np.float64)


def _resample_polyline(p: np.ndarray, ds: float) -> np.ndarray:
    """Points every ``ds`` along a polyline (K, D), both ends kept."""
    seg = np.linalg.norm(np.diff(p[:, :2], axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    keep = np.concatenate([[True], seg > 1e-9])
    p, s = p[keep], s[keep]
    if s[-1] <= 0:
        return p[:1]
    n = max(2, int(np.ceil(s[-1] / ds)) + 1)
    q = np.linspace(0.0, s[-1], n)
    return np.stack([np.interp(q, s, p[:, k]) for k in range(p.shape[1])], axis=1)


def _smooth_polyline(p: np.ndarray, sigma_m: float, ds: float) -> np.ndarray:
    """Gaussian corner rounding of a dense polyline; the end points stay fixed.

    The ends are extended by point reflection (``2 p0 - p_k``) before filtering, so straight
    ends stay straight and the end points do not move.
    """
    if sigma_m <= 0 or len(p) < 3:
        return p
    sig = sigma_m / ds
    pad = min(len(p) - 1, int(np.ceil(4 * sig)))
    head = 2 * p[0] - p[pad:0:-1]
    tail = 2 * p[-1] - p[-2 : -pad - 2 : -1]
    q = _gauss(np.concatenate([head, p, tail]), sig)[pad : pad + len(p)]
    q[0], q[-1] = p[0], p[-1]
    return q


def _arclength(p: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(p[:, :2], axis=0), axis=1))])


def _time_law(length: float, v: float, ramp_s: float, dt: float) -> np.ndarray:
    """Arc length at ``t = 0, dt, 2 dt ...`` for a walk of ``length`` at speed ``v`` from rest to rest.

    Speed rises as a raised cosine over ``ramp_s``, holds ``v`` and falls the same way. The last
    returned sample lies before the end point (the next segment starts there).
    """
    v = min(v, length / ramp_s) if ramp_s > 0 else v
    total = length / v + ramp_s
    n = max(1, int(np.ceil(total / dt)))
    t = np.arange(n + 1) * dt
    tr = max(ramp_s, 1e-9)
    ramp = np.minimum(np.clip(t / tr, 0, 1), np.clip((n * dt - t) / tr, 0, 1))
    speed = v * 0.5 * (1 - np.cos(np.pi * ramp))
    s = np.concatenate([[0.0], np.cumsum(0.5 * (speed[1:] + speed[:-1]) * dt)])
    return s[:-1] * (length / s[-1])


# ============================================================================ planning grid
class _Grid:
    """Occupancy grid of one floor for path planning (private; see :func:`walk_grid`)."""

    def __init__(
        self, plan: FloorPlan, res: float, margin: float, wall_penalty: float = 0.0, wall_comfort_m: float = 1.0
    ):
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        x0, y0, x1, y1 = plan.bounds
        self.plan, self.res, self.origin = plan, float(res), np.array([x0, y0])
        self.nx, self.ny = int(np.floor((x1 - x0) / res + 1e-9)), int(np.floor((y1 - y0) / res + 1e-9))
        xs = x0 + res * (np.arange(self.nx) + 0.5)
        ys = y0 + res * (np.arange(self.ny) + 0.5)
        self.centres = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)  # (ny*nx, 2), row-major in y
        self.free = plan.is_free(self.centres)
        self.clearance = np.full(len(self.centres), np.inf)
        if len(plan.walls):
            from ..data import point_segment_distance

            idx_free = np.flatnonzero(self.free)
            self.clearance[idx_free] = point_segment_distance(self.centres[idx_free], plan.walls).min(axis=1)
        self.free &= self.clearance >= margin  # = plan.is_free(centres, margin_m=margin)
        # walkers keep to the middle of corridors and rooms: steps cost more near walls
        cost = 1.0 + wall_penalty * np.clip((wall_comfort_m - self.clearance) / wall_comfort_m, 0.0, 1.0)
        zones = plan.zone_of(self.centres) if plan.zones else np.full(len(self.centres), "")
        self.core = np.char.endswith(zones.astype(str), "-stairs") | np.char.endswith(zones.astype(str), "-elevator")
        f2 = self.free.reshape(self.ny, self.nx)
        idx = np.arange(self.ny * self.nx).reshape(self.ny, self.nx)
        rows, cols, w = [], [], []
        for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
            a = idx[: self.ny - dr, max(0, -dc) : self.nx - max(0, dc)]
            b = idx[dr:, max(0, dc) : self.nx + min(0, dc)]
            ok = f2.reshape(-1)[a] & f2.reshape(-1)[b]
            if dr and dc:  # diagonal: both orthogonal neighbours free (no corner cutting)
                ok &= f2.reshape(-1)[a + dc] & f2.reshape(-1)[b - dc]
            rows.append(a[ok])
            cols.append(b[ok])
            w.append(res * np.hypot(dr, dc) * 0.5 * (cost[a[ok]] + cost[b[ok]]))
        n = self.ny * self.nx
        r, c, ww = np.concatenate(rows), np.concatenate(cols), np.concatenate(w)
        self.graph = coo_matrix((np.r_[ww, ww], (np.r_[r, c], np.r_[c, r])), shape=(n, n)).tocsr()
        _, self.component = connected_components(self.graph, directed=False)

    def nearest_free(self, xy: np.ndarray) -> int:
        cand = np.flatnonzero(self.free)
        d = np.linalg.norm(self.centres[cand] - np.asarray(xy)[None], axis=1)
        return int(cand[np.argmin(d)])

    def dijkstra(self, start: int) -> tuple[np.ndarray, np.ndarray]:
        from scipy.sparse.csgraph import dijkstra

        dist, pred = dijkstra(self.graph, directed=True, indices=start, return_predecessors=True)
        return dist, pred

    def path(self, pred: np.ndarray, start: int, goal: int) -> np.ndarray:
        """Cell centres (K, 2) of the shortest path from ``start`` to ``goal``."""
        cells = [goal]
        while cells[-1] != start:  # one step per path cell (~100), not per sample
            cells.append(int(pred[cells[-1]]))
            if cells[-1] < 0:
                raise RuntimeError("goal not reachable")
        return self.centres[np.array(cells[::-1])]

    def clear(self, a: np.ndarray, b: np.ndarray, min_clearance_m: float = 0.0) -> np.ndarray:
        """Whether the straight segments ``a[i] -> b[i]`` (M, 2) stay on free cells (whose centres are at
        least ``min_clearance_m`` from walls)."""
        step = 0.5 * self.res
        n = int(np.ceil(np.max(np.linalg.norm(b - a, axis=1), initial=0.0) / step)) + 1
        u = np.linspace(0.0, 1.0, n)
        pts = a[:, None, :] + (b - a)[:, None, :] * u[None, :, None]  # (M, n, 2)
        ij = np.floor((pts - self.origin) / self.res).astype(int)
        ok = (ij[..., 0] >= 0) & (ij[..., 0] < self.nx) & (ij[..., 1] >= 0) & (ij[..., 1] < self.ny)
        flat = np.where(ok, ij[..., 1] * self.nx + ij[..., 0], 0)
        good = self.free & (self.clearance >= min_clearance_m)
        return (ok & good[flat]).all(axis=1)

    def shortcut(self, cells: np.ndarray, min_clearance_m: float = 0.0) -> np.ndarray:
        """Waypoints of a grid path after line-of-sight shortcutting (string pulling).

        A shortcut is taken only through cells at least ``min_clearance_m`` from walls, so that
        shortcut paths keep to the middle of corridors and pass doors on the grid path.
        """
        out = [cells[0]]
        i = 0
        while i < len(cells) - 1:  # one iteration per waypoint
            cand = np.arange(i + 1, len(cells))
            vis = self.clear(np.repeat(cells[i][None], len(cand), 0), cells[cand], min_clearance_m)
            j = int(cand[np.flatnonzero(vis)].max()) if vis.any() else i + 1
            out.append(cells[j])
            i = j
        return np.array(out)


def walk_grid(plan: FloorPlan, grid_m: float = 0.25, margin_m: float = 0.35) -> dict:
    """The planning grid of a floor: cell centres, free mask and 8-connected graph.

    Parameters
    ----------
    plan : FloorPlan
    grid_m : float
        Cell size in metres.
    margin_m : float
        A cell is free when its centre is walkable (:meth:`FloorPlan.is_free`) and at least
        ``margin_m`` from every wall.

    Returns
    -------
    dict with ``centres`` (M, 2) metres, ``free`` (M,) bool, ``shape`` (ny, nx), ``graph`` (M, M)
    sparse edge lengths in metres, ``component`` (M,) connected-component label.
    """
    g = _Grid(plan, grid_m, margin_m)
    return {"centres": g.centres, "free": g.free, "shape": (g.ny, g.nx), "graph": g.graph, "component": g.component}


def grid_path(plan: FloorPlan, start_xy, goal_xy, conf: dict | None = None) -> np.ndarray:
    """The path a simulated walker takes between two points of one floor.

    Shortest path on the planning grid (steps near walls cost more, ``wall_penalty``), shortcut
    by line of sight through cells at least ``0.8 wall_comfort_m`` from walls, corners rounded
    (``smooth_m``) while keeping ``min_clearance_m`` from walls -- as in :func:`office_walk`.

    Parameters
    ----------
    plan : FloorPlan
    start_xy, goal_xy : (2,) metres
        The path starts exactly at ``start_xy`` and ends at the free grid cell nearest ``goal_xy``.
    conf : dict, optional
        Merged over :data:`WALK_DEFAULTS` (``grid_m``, ``margin_m``, ``wall_penalty``,
        ``wall_comfort_m``, ``smooth_m``, ``min_clearance_m`` are used).

    Returns
    -------
    (K, 2) metres, points every 5 cm along the path.
    """
    c = merge_conf(WALK_DEFAULTS, conf, where="walk conf")
    g = _Grid(plan, c["grid_m"], c["margin_m"], c["wall_penalty"], c["wall_comfort_m"])
    a, b = g.nearest_free(start_xy), g.nearest_free(goal_xy)
    dist, pred = g.dijkstra(a)
    if not np.isfinite(dist[b]):
        raise ValueError(f"no walkable path from {list(start_xy)} to {list(goal_xy)} in floor plan '{plan.name}'")
    way = g.path(pred, a, b)
    way[0] = np.asarray(start_xy, dtype=np.float64)[:2]
    way = g.shortcut(way, float(c["wall_comfort_m"]) * 0.8)
    return _walk_leg(g, way, plan.walls, c) if len(way) > 1 else way


# ============================================================================ office walks
def _walk_leg(g: _Grid, way: np.ndarray, walls: np.ndarray, c: dict) -> np.ndarray:
    """Dense corner-rounded path (K, 2) through waypoints, keeping ``min_clearance_m`` from walls."""
    from ..data import count_wall_crossings, point_segment_distance

    ds = 0.05
    dense = _resample_polyline(way, ds)
    for sigma in (c["smooth_m"], c["smooth_m"] / 2, c["smooth_m"] / 4, 0.0):
        p = _smooth_polyline(dense, sigma, ds)
        if sigma == 0.0 or not len(walls):
            return p
        clear = point_segment_distance(p, walls).min(axis=1).min() >= c["min_clearance_m"]
        if clear and not count_wall_crossings(p[:-1], p[1:], walls).any():
            return p
    return dense


def _wrap(a):
    return (np.asarray(a) + np.pi) % (2 * np.pi) - np.pi


def _tangent_yaw(p: np.ndarray) -> np.ndarray:
    d = np.gradient(p[:, :2], axis=0)
    return np.unwrap(np.arctan2(d[:, 1], d[:, 0]))


def office_walk(
    floor_plans: list[FloorPlan],
    duration_s: float = 60.0,
    rng: np.random.Generator | None = None,
    conf: dict | None = None,
    name: str = "walk",
    planner_cache: dict | None = None,
) -> Recording:
    """A pedestrian walking through a (multi-floor) building.

    The walker repeatedly picks a random goal in the walkable space of its floor (not in the
    stairwell or the elevator), plans the shortest path on an occupancy grid (``grid_m`` cells at
    least ``margin_m`` from walls, 8-connected, Dijkstra), shortcuts it by line of sight and rounds
    its corners (Gaussian along the path, ``smooth_m``, reduced where that would come closer than
    ``min_clearance_m`` to a wall). Each leg is walked from rest to rest at one speed drawn from
    ``speed_mps`` with raised-cosine acceleration over ``ramp_s``; between legs the walker turns in
    place towards the next leg (at most ``turn_rate_dps``) and, with probability ``pause_prob``,
    pauses for ``pause_s``. With probability ``floor_change_prob`` a leg goes to another floor by the
    stairs (two flights and a landing, ``z`` rising with the path) or the elevator (a minimum-jerk
    vertical ride between door waits). The heading follows the path tangent, low-passed; pitch and
    roll sway with the step phase (:func:`gait`). With ``hand_held`` the device is a camera held in
    front of the body: a mean pitch ``hand_pitch_deg`` and a slow random wander of pitch, roll and
    yaw (white noise smoothed by a Gaussian of ``hand_wander_s``, rescaled to the standard
    deviations ``hand_wander_deg``) are added on top of the gait sway, so camera poses are 6-DoF
    rather than level. The wander is drawn after the walk, so turning it on leaves the path as it was.

    Parameters
    ----------
    floor_plans : list of FloorPlan
        One per floor, as made by :func:`omniloc.sim.office_building` (``meta['stairs']`` and
        ``meta['elevator']`` are needed for floor changes).
    duration_s : float
        Length of the walk in seconds.
    rng : numpy Generator, optional
    conf : dict, optional
        Merged over :data:`WALK_DEFAULTS`.
    name : str
        Recording name.
    planner_cache : dict, optional
        A dict (initially empty) shared by walks in the same building, to reuse the planning
        grids; it is filled with entries keyed by floor plan name and planning parameters.

    Returns
    -------
    Recording
        ``t`` (N,) s at ``rate_hz`` starting at 0; ``position`` (N, 3) m with ``z = elevation +
        device_height_m``; ``orientation`` (N, 4); ``floor`` (N,); ``building`` (N,); ``zone`` (N,);
        ``meta``: ``generator``, ``n_legs``, ``floor_changes`` (list of ``[t, from, to, "stairs"|"elevator"]``).
    """
    c = merge_conf(WALK_DEFAULTS, conf, where="walk conf")
    rng = np.random.default_rng(0) if rng is None else rng
    plans = sorted(floor_plans, key=lambda p: p.floor)
    floors = [p.floor for p in plans]
    dt = 1.0 / float(c["rate_hz"])
    dev_h = float(c["device_height_m"])
    grids: dict = {} if planner_cache is None else planner_cache

    def grid(k):
        key = (
            plans[k].name,
            plans[k].floor,
            plans[k].building,
            len(plans[k].walls),
            float(c["grid_m"]),
            float(c["margin_m"]),
            float(c["wall_penalty"]),
            float(c["wall_comfort_m"]),
        )
        if key not in grids:
            grids[key] = _Grid(plans[k], c["grid_m"], c["margin_m"], c["wall_penalty"], c["wall_comfort_m"])
        return grids[key]

    def elev(k):
        return float(plans[k].elevation_m) + dev_h

    k = int(rng.integers(len(plans))) if c["start_floor"] is None else floors.index(int(c["start_floor"]))
    g = grid(k)
    ok = np.flatnonzero(g.free & ~g.core)
    if len(ok) == 0:
        ok = np.flatnonzero(g.free)
    if len(ok) == 0:
        raise ValueError(
            f"floor plan '{plans[k].name}' has no walkable cell of {c['grid_m']} m at "
            f"{c['margin_m']} m or more from the walls"
        )
    # start in the largest walkable component
    comp = np.bincount(g.component[ok]).argmax()
    ok = ok[g.component[ok] == comp]
    cell = int(ok[rng.integers(len(ok))])
    pos = g.centres[cell].copy()
    segs: list[dict] = []  # each: x, y, z, yaw (n,)
    yaw_prev = None
    total = 0.0
    n_legs = 0
    changes = []

    def emit(x, y, z, yaw):
        nonlocal total, yaw_prev
        yaw = np.asarray(yaw, dtype=np.float64)
        if yaw_prev is not None and len(yaw):
            yaw = yaw + 2 * np.pi * np.round((yaw_prev - yaw[0]) / (2 * np.pi))
        n = len(yaw)
        segs.append(
            {
                "x": np.broadcast_to(x, n).astype(float),
                "y": np.broadcast_to(y, n).astype(float),
                "z": np.broadcast_to(z, n).astype(float),
                "yaw": yaw,
            }
        )
        total += n * dt
        if n:
            yaw_prev = float(yaw[-1])

    def stop(yaw_next: float, z: float, extra_s: float = 0.0):
        """Turn in place towards ``yaw_next`` and pause (maybe)."""
        pause = float(rng.uniform(*c["pause_s"])) if rng.random() < c["pause_prob"] else 0.0
        y0 = yaw_next if yaw_prev is None else yaw_prev
        d = float(_wrap(yaw_next - y0))
        t_turn = 1.5 * abs(d) / np.radians(c["turn_rate_dps"])
        n = int(np.ceil((max(t_turn, pause) + extra_s) / dt))
        if n == 0:
            return
        u = np.clip(np.arange(n) * dt / max(t_turn, 1e-9), 0, 1)
        emit(pos[0], pos[1], z, y0 + d * 0.5 * (1 - np.cos(np.pi * u)))

    while total < duration_s:
        n_legs += 1
        change = len(plans) > 1 and rng.random() < c["floor_change_prob"]
        g = grid(k)
        a = g.nearest_free(pos)
        dist, pred = g.dijkstra(a)
        modes = [m for m in ("stairs", "elevator") if m in plans[k].meta]
        change = change and bool(modes)
        if change:
            k2 = int(rng.choice([i for i in range(len(plans)) if i != k]))
            mode = "elevator" if rng.random() < c["elevator_prob"] else "stairs"
            mode = mode if mode in modes else modes[0]
            meta = plans[k].meta
            if mode == "stairs":
                up = np.asarray(meta["stairs"]["up_path"], dtype=np.float64)
                target = up[0, :2] if k2 > k else up[-1, :2]
            else:
                target = np.asarray(meta["elevator"]["anchor"], dtype=np.float64)
            b = g.nearest_free(target)
            if not np.isfinite(dist[b]):
                change = False
        if not change:
            cand = np.flatnonzero(np.isfinite(dist) & g.free & ~g.core & (dist >= c["min_leg_m"]))
            if len(cand) == 0:
                cand = np.flatnonzero(np.isfinite(dist) & g.free & (dist > 0))
            if len(cand) == 0:  # nowhere to go: stand still for a second
                emit(pos[0], pos[1], elev(k), np.full(int(round(1.0 / dt)), yaw_prev or 0.0))
                continue
            b = int(cand[rng.integers(len(cand))])
        way = g.path(pred, a, b)
        way[0] = pos
        way = g.shortcut(way, float(c["wall_comfort_m"]) * 0.8)
        if change:
            way = np.vstack([way, target[None]]) if np.linalg.norm(way[-1] - target) > 1e-6 else way
        path = _walk_leg(g, way, plans[k].walls, c) if len(way) > 1 else np.repeat(way[:1], 2, 0)
        length = float(_arclength(path)[-1])
        if length > 1e-6:
            yaw_path = _tangent_yaw(path)
            stop(float(yaw_path[0]), elev(k))
            s = _time_law(length, float(rng.uniform(*c["speed_mps"])), float(c["ramp_s"]), dt)
            sp = _arclength(path)
            emit(np.interp(s, sp, path[:, 0]), np.interp(s, sp, path[:, 1]), elev(k), np.interp(s, sp, yaw_path))
            pos = path[-1].copy()
        if not change:
            continue
        changes.append([round(total, 3), int(floors[k]), int(floors[k2]), mode])
        h = elev(k2) - elev(k)
        if mode == "elevator":
            yaw_door = float(plans[k].meta["elevator"]["door_yaw_rad"])
            stop(yaw_door, elev(k), extra_s=float(c["elevator_wait_s"]))
            ride = 1.875 * abs(h) / float(c["elevator_speed_mps"])
            n = max(1, int(np.ceil(ride / dt)))
            u = np.arange(n) * dt / ride
            zz = elev(k) + h * (10 * u**3 - 15 * u**4 + 6 * u**5)
            emit(pos[0], pos[1], zz, np.full(n, yaw_prev))
            stop(yaw_prev, elev(k2), extra_s=float(c["elevator_wait_s"]))
        else:
            up = np.asarray(plans[k].meta["stairs"]["up_path"], dtype=np.float64)
            nf = abs(k2 - k)
            one = up if k2 > k else np.c_[up[::-1, :2], up[::-1, 2] - 1.0]
            step = 1.0 if k2 > k else -1.0
            pts = np.vstack([one + [0, 0, step * i] for i in range(nf)])
            dense = _smooth_polyline(_resample_polyline(pts, 0.05), 0.3, 0.05)
            dense[:, 2] = _gauss(dense[:, 2], 0.3 / 0.05)
            yaw_path = _tangent_yaw(dense)
            stop(float(yaw_path[0]), elev(k))
            sp = _arclength(dense)
            s = _time_law(float(sp[-1]), float(c["stairs_speed_mps"]), float(c["ramp_s"]), dt)
            frac = np.interp(s, sp, dense[:, 2])
            z0 = elev(k)
            emit(
                np.interp(s, sp, dense[:, 0]),
                np.interp(s, sp, dense[:, 1]),
                z0 + frac * (abs(h) / nf),
                np.interp(s, sp, yaw_path),
            )
            pos = dense[-1, :2].copy()
        k = k2

    n_total = int(round(duration_s / dt))
    changes = [ch for ch in changes if ch[0] < n_total * dt]
    x = np.concatenate([s["x"] for s in segs])[:n_total]
    y = np.concatenate([s["y"] for s in segs])[:n_total]
    z = np.concatenate([s["z"] for s in segs])[:n_total]
    yaw = _gauss(np.concatenate([s["yaw"] for s in segs])[:n_total], c["heading_smooth_s"] / dt)
    t = np.arange(len(x)) * dt
    position = np.stack([x, y, z], axis=1)
    speed = np.linalg.norm(np.gradient(position[:, :2], dt, axis=0), axis=1)
    phase, amp = gait(t, speed)
    pitch = amp * np.radians(c["sway_pitch_deg"]) * np.sin(2 * np.pi * phase)
    roll = amp * np.radians(c["sway_roll_deg"]) * np.sin(np.pi * phase)
    if c["hand_held"]:
        wander = _hand_wander(rng, len(t), c["hand_wander_s"] / dt, np.radians(c["hand_wander_deg"]))
        pitch = pitch + np.radians(c["hand_pitch_deg"]) + wander[:, 0]
        roll = roll + wander[:, 1]
        yaw = yaw + wander[:, 2]
    orientation = orientation_from_euler(yaw, pitch, roll)
    elevations = np.array([elev(i) for i in range(len(plans))])
    fidx = np.abs(z[:, None] - elevations[None]).argmin(axis=1)
    floor = np.asarray(floors)[fidx].astype(np.int64)
    zone = np.full(len(t), "", dtype=object)
    for i, plan in enumerate(plans):
        sel = fidx == i
        if sel.any():
            zone[sel] = plan.zone_of(position[sel, :2])
    return Recording(
        name=name,
        t=t,
        position=position,
        orientation=orientation,
        floor=floor,
        building=np.full(len(t), int(plans[0].building), dtype=np.int64),
        zone=zone.astype(str),
        meta={"generator": "omniloc.sim.office_walk", "n_legs": n_legs, "floor_changes": changes},
    )


# ============================================================================ maze walks
def _pixel_graph(free: np.ndarray):
    from scipy.sparse import coo_matrix

    h, w = free.shape
    idx = np.arange(h * w).reshape(h, w)
    a = np.r_[idx[:, :-1][free[:, :-1] & free[:, 1:]], idx[:-1, :][free[:-1, :] & free[1:, :]]]
    b = np.r_[idx[:, 1:][free[:, :-1] & free[:, 1:]], idx[1:, :][free[:-1, :] & free[1:, :]]]
    return coo_matrix((np.ones(len(a)), (a, b)), shape=(h * w, h * w)).tocsr()


def maze_walk(
    plan: FloorPlan, rng: np.random.Generator | None = None, conf: dict | None = None, name: str = "maze-walk"
) -> Recording:
    """An agent walking the solution path between two boundary cells of a maze.

    As in OT-Isomap's maze experiment, the start and end points are random cells next to the
    outer wall (where an opening would be) and the trajectory is the unique path between them
    through the maze corridors (breadth-first search on the free pixels). Poses are sampled every
    ``step_px`` along the pixel-centre polyline (1 px = 1 m), at constant speed ``speed_mps``.

    Parameters
    ----------
    plan : FloorPlan
        A maze from :func:`omniloc.sim.maze_floor_plan` (occupancy raster, 1 = wall).
    rng : numpy Generator, optional
    conf : dict, optional
        Merged over :data:`MAZE_WALK_DEFAULTS`.
    name : str

    Returns
    -------
    Recording
        ``t`` (N,) s from 0; ``position`` (N, 3) m (x = col + 0.5, y = row + 0.5, z =
        ``device_height_m``); ``orientation`` (N, 4) heading along the path (low-passed), level;
        ``floor``, ``building`` zeros; ``zone`` (N,) ``"Z.."``; ``meta``: ``start_cell``,
        ``end_cell`` (row, col), ``openings`` (the outer-wall pixels beside them, row, col),
        ``path_px`` (number of path pixels).
    """
    from scipy.sparse.csgraph import breadth_first_order

    from .floorplans import maze_boundary_cells

    c = merge_conf(MAZE_WALK_DEFAULTS, conf, where="maze walk conf")
    rng = np.random.default_rng(0) if rng is None else rng
    raster = np.asarray(plan.raster)
    h, w = raster.shape
    free = raster == 0
    graph = _pixel_graph(free)
    boundary = maze_boundary_cells(plan)
    if len(boundary) < 2:
        raise ValueError(f"maze '{plan.name}' has fewer than two boundary cells")
    start = None if c["start_cell"] is None else tuple(int(v) for v in c["start_cell"])
    end = None if c["end_cell"] is None else tuple(int(v) for v in c["end_cell"])
    for _ in range(100):
        s_cell = start or tuple(boundary[rng.integers(len(boundary))])
        order, pred = breadth_first_order(graph, s_cell[0] * w + s_cell[1], directed=False, return_predecessors=True)
        if end is not None:
            e_cell = end
            break
        e_cell = tuple(boundary[rng.integers(len(boundary))])
        # path length in cells = (pixels + 1) / 2; count hops
        node, hops = e_cell[0] * w + e_cell[1], 0
        while node != s_cell[0] * w + s_cell[1] and node >= 0:
            node, hops = pred[node], hops + 1
        if hops >= 2 * c["min_path_cells"]:
            break
    node = e_cell[0] * w + e_cell[1]
    pix = [node]
    while pix[-1] != s_cell[0] * w + s_cell[1]:  # one step per path pixel
        pix.append(int(pred[pix[-1]]))
        if pix[-1] < 0:
            raise ValueError(f"cells {s_cell} and {e_cell} are not connected")
    pix = np.array(pix[::-1])
    rc = np.stack([pix // w, pix % w], axis=1)
    pts = np.c_[rc[:, 1], rc[:, 0], np.ones(len(rc))] @ np.asarray(plan.pixel_to_metre).T
    pts = pts[:, :2]
    sp = _arclength(pts)
    step = float(c["step_px"]) * float(np.sqrt(abs(np.linalg.det(np.asarray(plan.pixel_to_metre)[:2, :2]))))
    s = np.arange(0.0, sp[-1] + 1e-9, step)
    xy = np.stack([np.interp(s, sp, pts[:, 0]), np.interp(s, sp, pts[:, 1])], axis=1)
    seg_yaw = np.arctan2(np.diff(pts[:, 1]), np.diff(pts[:, 0])) if len(pts) > 1 else np.zeros(1)
    seg_idx = np.clip(np.searchsorted(sp, s, side="right") - 1, 0, len(seg_yaw) - 1)
    yaw = _gauss(np.unwrap(seg_yaw)[seg_idx], c["heading_smooth_px"] / max(float(c["step_px"]), 1e-9))
    z = np.full(len(s), float(plan.elevation_m) + float(c["device_height_m"]))

    def opening(cell):
        r, cc = int(cell[0]), int(cell[1])
        nr, nc = plan.meta.get("n_cells", [(h - 1) // 2, (w - 1) // 2])
        if r == 1:
            return [0, cc]
        if cc == 1:
            return [r, 0]
        if r == 2 * int(nr) - 1:
            return [r + 1, cc]
        return [r, cc + 1]

    return Recording(
        name=name,
        t=s / float(c["speed_mps"]),
        position=np.c_[xy, z],
        orientation=orientation_from_euler(yaw),
        floor=np.full(len(s), int(plan.floor), dtype=np.int64),
        building=np.full(len(s), int(plan.building), dtype=np.int64),
        zone=plan.zone_of(xy),
        meta={
            "generator": "omniloc.sim.maze_walk",
            "start_cell": [int(v) for v in s_cell],
            "end_cell": [int(v) for v in e_cell],
            "openings": [opening(s_cell), opening(e_cell)],
            "path_px": int(len(pix)),
        },
    )
