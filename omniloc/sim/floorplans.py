"""Simulated floor plans: perfect mazes and multi-floor office buildings.

Conventions (used by every module of :mod:`omniloc.sim`)
---------------------------------------------------------
* Building frame: x east, y north, z up, metres. A floor's walkable surface is at
  ``z = FloorPlan.elevation_m``.
* Rasters: row index ``r`` grows with y, column index ``c`` grows with x, one pixel is
  ``pixel_size_m`` (1 m for a maze), and the centre of pixel ``(c, r)`` is at
  ``x = (c + 0.5) * s, y = (r + 0.5) * s``; i.e. ``pixel_to_metre = [[s, 0, s/2], [0, s, s/2], [0, 0, 1]]``.
  The raster covers ``[0, W s] x [0, H s]``. Show it north-up with
  ``imshow(raster, origin="lower", extent=(0, W s, 0, H s))``.
* Occupancy rasters (``meta['raster_kind'] == 'occupancy'``): uint8, 1 = wall, 0 = free.
* Walls are segments in metres; a raster's walls are the boundaries between wall and free
  pixels, collinear runs merged, one segment per face (a 1-pixel-thick wall has two faces).
* ``wall_style`` ids are small integers (0..15) the camera maps to colours/textures.
"""

from __future__ import annotations

import numpy as np

from ..data import FloorPlan
from ._conf import make_rng, merge_conf

__all__ = [
    "maze_floor_plan",
    "maze_cells",
    "maze_boundary_cells",
    "raster_wall_segments",
    "office_floor_plan",
    "office_building",
    "OFFICE_DEFAULTS",
    "N_WALL_STYLES",
]

#: number of distinct wall style ids used by the simulator (ids are ``0 .. N_WALL_STYLES - 1``)
N_WALL_STYLES = 16


# ============================================================================ rasters -> walls
def _runs(d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of equal non-zero values along axis 1 of ``d`` (R, C): (row, first col, last col)."""
    nz = d != 0
    prev = np.zeros_like(nz)
    prev[:, 1:] = d[:, 1:] == d[:, :-1]
    nxt = np.zeros_like(nz)
    nxt[:, :-1] = d[:, :-1] == d[:, 1:]
    r0, c0 = np.nonzero(nz & ~prev)
    _, c1 = np.nonzero(nz & ~nxt)
    return r0, c0, c1


def raster_wall_segments(raster: np.ndarray, pixel_to_metre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Wall faces of an occupancy raster as merged segments.

    Every boundary between a wall pixel (``raster > 0``) and a free pixel becomes part of a
    segment; collinear neighbouring boundaries with the wall on the same side are merged. The
    outside of the raster counts as wall, so the raster border adds no segment.

    Parameters
    ----------
    raster : (H, W) occupancy, >0 = wall
    pixel_to_metre : (3, 3) affine pixel (column, row, 1) -> metres (x, y, 1)

    Returns
    -------
    walls : (S, 2, 2) float64 metres
    normal_side : (S,) int8
        ``+1`` when the wall is on the side of growing row/column index, ``-1`` otherwise.
    """
    occ = np.pad(np.asarray(raster) > 0, 1, constant_values=True).astype(np.int8)
    segs, sides = [], []
    # horizontal faces: between padded rows i and i+1 -> pixel y = i - 0.5
    dh = occ[1:, 1:-1] - occ[:-1, 1:-1]  # (H+1, W)
    r, c0, c1 = _runs(dh)
    y = r - 0.5
    segs.append(np.stack([np.stack([c0 - 0.5, y], -1), np.stack([c1 + 0.5, y], -1)], 1))
    sides.append(dh[r, c0])
    # vertical faces: between padded cols j and j+1 -> pixel x = j - 0.5
    dv = (occ[1:-1, 1:] - occ[1:-1, :-1]).T  # (W+1, H)
    cc, r0, r1 = _runs(dv)
    x = cc - 0.5
    segs.append(np.stack([np.stack([x, r0 - 0.5], -1), np.stack([x, r1 + 0.5], -1)], 1))
    sides.append(dv[cc, r0])
    pix = np.concatenate(segs).astype(np.float64)  # (S, 2, 2) pixel coordinates
    a = np.asarray(pixel_to_metre, dtype=np.float64)
    walls = pix @ a[:2, :2].T + a[:2, 2]
    return walls, np.concatenate(sides).astype(np.int8)


# ============================================================================ maze
def _dfs_maze(n_rows: int, n_cols: int, rng: np.random.Generator) -> np.ndarray:
    """Randomised depth-first search (recursive backtracker) on an ``n_rows x n_cols`` cell grid.

    Returns the occupancy raster (2 n_rows + 1, 2 n_cols + 1), 1 = wall, cells at odd indices.
    """
    grid = np.ones((2 * n_rows + 1, 2 * n_cols + 1), dtype=np.uint8)
    visited = np.zeros((n_rows, n_cols), dtype=bool)
    steps = np.array([(0, 1), (1, 0), (0, -1), (-1, 0)])
    start = (int(rng.integers(n_rows)), int(rng.integers(n_cols)))
    stack = [start]
    visited[start] = True
    grid[2 * start[0] + 1, 2 * start[1] + 1] = 0
    while stack:  # one iteration per cell visit: O(cells), not per pixel or per sample
        r, c = stack[-1]
        nb = np.array([r, c]) + steps
        ok = (nb[:, 0] >= 0) & (nb[:, 0] < n_rows) & (nb[:, 1] >= 0) & (nb[:, 1] < n_cols)
        nb = nb[ok]
        nb = nb[~visited[nb[:, 0], nb[:, 1]]]
        if len(nb) == 0:
            stack.pop()
            continue
        nr, nc = nb[rng.integers(len(nb))]
        visited[nr, nc] = True
        grid[2 * nr + 1, 2 * nc + 1] = 0
        grid[r + nr + 1, c + nc + 1] = 0  # the wall pixel between the two cells
        stack.append((int(nr), int(nc)))
    return grid


def maze_floor_plan(
    size_px: int | tuple[int, int] = 24,
    seed: int = 0,
    n_zones_per_side: int = 3,
    name: str | None = None,
    height_m: float = 2.8,
) -> FloorPlan:
    """A perfect maze (a spanning tree of the cell grid) as a floor plan of 1-m pixels.

    Layout follows the mazelib convention: cells at odd (row, col), walls are whole pixels,
    the outer ring is wall; for an even size the extra last row/column is wall too. The maze is
    grown by a randomised depth-first search, so every free pixel is reachable from every other by
    exactly one path. Start and end points of walks are *boundary cells* (cells next to the outer
    wall), where an opening in the outer wall would be; see :func:`maze_boundary_cells`.

    Parameters
    ----------
    size_px : int or (int, int)
        Raster size ``(H, W)`` in pixels (= metres); an int means square. At least 3.
    seed : int
        Random seed; the same seed gives the same maze.
    n_zones_per_side : int
        The raster square is split into ``n x n`` equal square zones labelled ``"Z0"`` ..
        ``"Z{n*n-1}"``, numbered row-major from the origin: ``k = i_y * n + i_x`` (``i_x`` along x =
        columns, ``i_y`` along y = rows). Zones tile the raster including its walls.
    name : str, optional
        Floor-plan name (default ``"maze-{H}"`` or ``"maze-{H}x{W}"``).
    height_m : float
        Wall height for the camera model.

    Returns
    -------
    FloorPlan
        ``raster`` (H, W) uint8 with 1 = wall, 0 = free; ``pixel_to_metre`` = ``[[1, 0, 0.5],
        [0, 1, 0.5], [0, 0, 1]]``; ``walls`` the merged wall faces; ``wall_style`` 0 for faces
        with the wall on the low-index side, 1 otherwise, plus 2 per orientation (4 styles);
        ``meta``: ``raster_kind='occupancy'``, ``pixel_size_m=1``, ``generator``, ``seed``,
        ``n_cells`` (rows, cols).
    """
    h, w = (size_px, size_px) if np.isscalar(size_px) else tuple(int(v) for v in size_px)
    if h < 3 or w < 3:
        raise ValueError(f"maze size must be at least 3 x 3 pixels, got {h} x {w}")
    if n_zones_per_side < 1:
        raise ValueError(f"n_zones_per_side must be >= 1, got {n_zones_per_side}")
    n_rows, n_cols = (h - 1) // 2, (w - 1) // 2
    raster = np.ones((h, w), dtype=np.uint8)
    raster[: 2 * n_rows + 1, : 2 * n_cols + 1] = _dfs_maze(n_rows, n_cols, make_rng(seed, 11))
    p2m = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
    walls, side = raster_wall_segments(raster, p2m)
    vertical = np.isclose(walls[:, 0, 0], walls[:, 1, 0])
    style = (side > 0).astype(np.int64) + 2 * vertical
    zones = {}
    n = n_zones_per_side
    xs, ys = np.linspace(0, w, n + 1), np.linspace(0, h, n + 1)
    for iy in range(n):
        for ix in range(n):
            zones[f"Z{iy * n + ix}"] = np.array(
                [[xs[ix], ys[iy]], [xs[ix + 1], ys[iy]], [xs[ix + 1], ys[iy + 1]], [xs[ix], ys[iy + 1]]]
            )
    return FloorPlan(
        name=name or (f"maze-{h}" if h == w else f"maze-{h}x{w}"),
        walls=walls,
        zones=zones,
        floor=0,
        building=0,
        bounds=np.array([0.0, 0.0, float(w), float(h)]),
        elevation_m=0.0,
        height_m=float(height_m),
        wall_style=style,
        raster=raster,
        pixel_to_metre=p2m,
        meta={
            "raster_kind": "occupancy",
            "pixel_size_m": 1.0,
            "generator": "maze-dfs",
            "seed": int(seed),
            "n_cells": [n_rows, n_cols],
            "zone_grid": [n, n],
        },
    )


def maze_cells(plan: FloorPlan) -> np.ndarray:
    """Cells of a maze plan: the free pixels at odd (row, col).

    Returns
    -------
    (C, 2) int (row, col)
    """
    free = np.asarray(plan.raster) == 0
    rr, cc = np.nonzero(free)
    keep = (rr % 2 == 1) & (cc % 2 == 1)
    return np.stack([rr[keep], cc[keep]], axis=1)


def maze_boundary_cells(plan: FloorPlan) -> np.ndarray:
    """Cells next to the outer wall of a maze (where start and end openings are placed).

    Returns
    -------
    (B, 2) int (row, col)
    """
    cells = maze_cells(plan)
    n_rows, n_cols = plan.meta.get("n_cells", [(plan.raster.shape[0] - 1) // 2, (plan.raster.shape[1] - 1) // 2])
    r, c = cells[:, 0], cells[:, 1]
    on = (r == 1) | (c == 1) | (r == 2 * n_rows - 1) | (c == 2 * n_cols - 1)
    return cells[on]


# ============================================================================ office
#: Documented defaults of :func:`office_floor_plan` / :func:`office_building`.
OFFICE_DEFAULTS: dict = {
    "length_m": 40.0,  # x extent of a floor (multiple of 0.5)
    "depth_m": 20.0,  # y extent of a floor (multiple of 0.5)
    "corridor_width_m": 2.5,  # main corridor along x, centred in y
    "cross_corridor_width_m": 2.0,  # second corridor from the main one to the north wall at mid-length; 0 = none
    "room_width_m": [4.0, 7.0],  # range of room widths along the corridor
    "door_width_m": 1.2,  # door gap in the corridor wall of each room
    "stairs_width_m": 5.0,  # stairwell: east end of the south band, full band depth
    "elevator_length_m": 3.0,  # elevator: west end of the corridor band, corridor-wide
    "floor_height_m": 3.5,  # elevation step between floors
    "ceiling_height_m": 2.8,  # FloorPlan.height_m
    "building": 0,  # building index written to every FloorPlan
    "name": "office",  # plans are named "{name}-F{floor}"
}


def _snap(v, step=0.25):
    return np.round(np.asarray(v, dtype=np.float64) / step) * step


def _partition(x0: float, x1: float, wmin: float, wmax: float, rng, first_min: float = 0.0) -> np.ndarray:
    """Boundaries ``x0 = b0 < b1 < ... < bn = x1`` of rooms of widths about ``[wmin, wmax]`` (0.5-m grid)."""
    span = x1 - x0
    n = max(1, int(round(span / (0.5 * (wmin + wmax)))))
    for _ in range(50):
        widths = rng.uniform(wmin, wmax, n)
        b = x0 + _snap(np.cumsum(widths) / widths.sum() * span, 0.5)
        b = np.concatenate([[x0], b])
        b[-1] = x1
        d = np.diff(b)
        if d.min() >= min(wmin, span) * 0.85 and d[0] >= min(first_min, span):
            return b
    return np.linspace(x0, x1, n + 1)


def _rect(x0, y0, x1, y1) -> np.ndarray:
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)


def office_floor_plan(floor: int = 0, seed: int = 0, conf: dict | None = None) -> FloorPlan:
    """One floor of a simulated office building.

    Layout (``L x D`` = ``length_m x depth_m``, all coordinates on a 0.25-m grid)::

        y=D  +-------------+--+-------------+       north band: rooms, split by the
             |  R  |  R    |X |  R  |  R    |       cross corridor X (if enabled)
        yc1  +-----+--/ /--+  +-/ /-+--/ /--+
             | E ]        corridor           |       E: elevator (west end of the corridor band)
        yc0  +-/ /-+--/ /---+--/ /--+-/ /-+--+
             |  R  |  R     |  R    |  R | S |       south band: rooms, stairwell S at the east end
        y=0  +-----+--------+-------+----+---+

    Every room has one door (a gap of ``door_width_m``) in its corridor wall. The stairwell and the
    elevator are at the same x, y on every floor; room widths and door positions differ per
    floor (drawn from ``(seed, building, floor)``).

    Parameters
    ----------
    floor : int
        Floor index (0 = ground floor); the elevation is ``floor * floor_height_m``.
    seed : int
        Building seed.
    conf : dict, optional
        Merged over :data:`OFFICE_DEFAULTS`.

    Returns
    -------
    FloorPlan
        Named ``"{name}-F{floor}"``; zones ``"F{floor}-R01"``.. (rooms, numbered west to east, south
        band first), ``"F{floor}-corridor"``, ``"F{floor}-corridor2"`` (cross corridor),
        ``"F{floor}-stairs"``, ``"F{floor}-elevator"``. ``wall_style``: 0 outer walls, 1 stairwell,
        2 elevator, 3..15 a colour per room (its partition and corridor walls). ``meta`` holds the
        stairs and elevator geometry used by the trajectory generator:
        ``stairs = {"zone", "up_path": [[x, y, fraction of floor height], ...]}`` (from the entry on
        the lower floor to the exit on the upper floor) and ``elevator = {"zone", "anchor": [x, y],
        "door_yaw_rad"}``.
    """
    c = merge_conf(OFFICE_DEFAULTS, conf, where="office conf")
    L, D = float(c["length_m"]), float(c["depth_m"])
    cw, dw = float(c["corridor_width_m"]), float(c["door_width_m"])
    sw, ew = float(c["stairs_width_m"]), float(c["elevator_length_m"])
    xw = float(c["cross_corridor_width_m"])
    wmin, wmax = (float(v) for v in c["room_width_m"])
    if L < sw + ew + 2 * wmin or D < cw + 2 * 4.0:
        raise ValueError(f"office floor {L} x {D} m is too small for its corridor, stairs, elevator and rooms")
    rng = make_rng(seed, 21, int(c["building"]), int(floor))
    yc0, yc1 = float(_snap(D / 2 - cw / 2)), float(_snap(D / 2 + cw / 2))
    ym = 0.5 * (yc0 + yc1)
    pre = f"F{int(floor)}"
    walls: list = []
    styles: list = []
    zones: dict = {}

    def wall(x0, y0, x1, y1, style):
        if abs(x1 - x0) + abs(y1 - y0) > 1e-9:
            walls.append([[x0, y0], [x1, y1]])
            styles.append(style)

    # outer walls
    for seg in ([0, 0, L, 0], [L, 0, L, D], [L, D, 0, D], [0, D, 0, 0]):
        wall(*seg, 0)
    first_min = ew + 2.5 + dw  # rooms whose corridor wall touches the elevator still need room for a door

    def band(x_lo, x_hi, y_lo, y_hi, y_door, room_index):
        bounds = _partition(x_lo, x_hi, wmin, wmax, rng, first_min=first_min if x_lo < ew else 0.0)
        for i in range(len(bounds) - 1):
            a, b = float(bounds[i]), float(bounds[i + 1])
            style = int(rng.integers(3, N_WALL_STYLES))
            room_index += 1
            zones[f"{pre}-R{room_index:02d}"] = _rect(a, y_lo, b, y_hi)
            if i > 0:
                wall(a, y_lo, a, y_hi, style)
            lo = max(a, ew) + 0.5
            hi = b - 0.5 - dw
            d0 = float(_snap(rng.uniform(lo, max(lo, hi))))
            wall(a, y_door, d0, y_door, style)
            wall(d0 + dw, y_door, b, y_door, style)
        return room_index

    # south band: rooms, then the stairwell at the east end
    n_rooms = band(0.0, L - sw, 0.0, yc0, yc0, 0)
    xs0 = L - sw
    wall(xs0, 0.0, xs0, yc0, 1)
    xa, xb = xs0 + 1.25, L - 1.25
    wall(xs0, yc0, xa - dw / 2, yc0, 1)
    wall(xa + dw / 2, yc0, L, yc0, 1)
    zones[f"{pre}-stairs"] = _rect(xs0, 0.0, L, yc0)
    # north band: rooms on both sides of the cross corridor
    if xw > 0:
        xm0, xm1 = float(_snap(L / 2 - xw / 2)), float(_snap(L / 2 + xw / 2))
        n_rooms = band(0.0, xm0, yc1, D, yc1, n_rooms)
        cross_style = int(rng.integers(3, N_WALL_STYLES))
        wall(xm0, yc1, xm0, D, cross_style)
        wall(xm1, yc1, xm1, D, cross_style)
        band(xm1, L, yc1, D, yc1, n_rooms)
        zones[f"{pre}-corridor2"] = _rect(xm0, yc1, xm1, D)
    else:
        band(0.0, L, yc1, D, yc1, n_rooms)
    # elevator at the west end of the corridor band, door facing east (+x)
    wall(ew, yc0, ew, ym - dw / 2, 2)
    wall(ew, ym + dw / 2, ew, yc1, 2)
    zones[f"{pre}-elevator"] = _rect(0.0, yc0, ew, yc1)
    zones[f"{pre}-corridor"] = _rect(ew, yc0, L, yc1)
    # stairs: two flights (west one up-going south, east one up-going north) joined by a landing
    y_top, run = yc0 - 0.75, min(3.5, yc0 - 3.0)
    up_path = [
        [xa, y_top, 0.0],
        [xa, y_top - 1.0, 0.0],
        [xa, y_top - 1.0 - run, 0.5],
        [xb, y_top - 1.0 - run, 0.5],
        [xb, y_top - 1.0, 1.0],
        [xb, y_top, 1.0],
    ]
    order = sorted(zones, key=lambda k: (0 if "-R" in k else 1, k))
    return FloorPlan(
        name=f"{c['name']}-F{int(floor)}",
        walls=np.array(walls, dtype=np.float64),
        zones={k: zones[k] for k in order},
        floor=int(floor),
        building=int(c["building"]),
        bounds=np.array([0.0, 0.0, L, D]),
        elevation_m=float(floor) * float(c["floor_height_m"]),
        height_m=float(c["ceiling_height_m"]),
        wall_style=np.array(styles, dtype=np.int64),
        meta={
            "generator": "office",
            "seed": int(seed),
            "floor_height_m": float(c["floor_height_m"]),
            "stairs": {"zone": f"{pre}-stairs", "up_path": up_path},
            "elevator": {"zone": f"{pre}-elevator", "anchor": [ew / 2, ym], "door_yaw_rad": 0.0},
        },
    )


def office_building(n_floors: int = 2, seed: int = 0, conf: dict | None = None) -> list[FloorPlan]:
    """All floors of a simulated office building (see :func:`office_floor_plan`).

    Parameters
    ----------
    n_floors : int
        Number of floors, indices ``0 .. n_floors - 1``.
    seed : int
        Building seed.
    conf : dict, optional
        Merged over :data:`OFFICE_DEFAULTS`.

    Returns
    -------
    list of FloorPlan, one per floor, ordered by floor.
    """
    if n_floors < 1:
        raise ValueError(f"n_floors must be >= 1, got {n_floors}")
    return [office_floor_plan(f, seed, conf) for f in range(int(n_floors))]
