"""Floor plans: walls, labelled zones, obstacles, bounds, optional raster, free-space sampling, and the
walkable grid that map-aware filters look up (:class:`WalkableGrid`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._errors import DataError
from .recording import MAX_COORDINATE_M

__all__ = ["FloorPlan", "WalkableGrid", "point_segment_distance", "count_wall_crossings"]


def point_segment_distance(points: np.ndarray, segments: np.ndarray) -> np.ndarray:
    """Euclidean distance from every point to every segment.

    Parameters
    ----------
    points : (M, 2) metres
    segments : (W, 2, 2) metres, ``segments[w] = [[x0, y0], [x1, y1]]``

    Returns
    -------
    (M, W) metres
    """
    p = np.asarray(points, dtype=np.float64)[:, None, :]
    a = segments[None, :, 0, :]
    ab = segments[None, :, 1, :] - a
    denom = np.maximum(np.sum(ab * ab, axis=-1), 1e-12)
    u = np.clip(np.sum((p - a) * ab, axis=-1) / denom, 0.0, 1.0)
    closest = a + u[..., None] * ab
    return np.linalg.norm(p - closest, axis=-1)


def count_wall_crossings(start: np.ndarray, end: np.ndarray, walls: np.ndarray) -> np.ndarray:
    """Number of walls each straight segment ``start[i] -> end[i]`` crosses.

    Parameters
    ----------
    start, end : (M, 2) metres
    walls : (W, 2, 2) metres

    Returns
    -------
    (M,) int: count of proper intersections (touching an end point counts as crossing).
    """
    if len(walls) == 0:
        return np.zeros(len(start), dtype=np.int64)
    p = np.asarray(start, dtype=np.float64)[:, None, :]
    r = np.asarray(end, dtype=np.float64)[:, None, :] - p
    q = walls[None, :, 0, :]
    s = walls[None, :, 1, :] - q

    def cross(u, v):
        return u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]

    rxs = cross(r, s)
    qp = q - p
    with np.errstate(divide="ignore", invalid="ignore"):
        tt = cross(qp, s) / rxs
        uu = cross(qp, r) / rxs
    hit = (np.abs(rxs) > 1e-12) & (tt >= 0) & (tt <= 1) & (uu >= 0) & (uu <= 1)
    return hit.sum(axis=1)


def _in_box(points: np.ndarray, poly: np.ndarray, pad: float = 0.0) -> np.ndarray:
    """(M,) whether each point lies in the bounding box of ``poly`` widened by ``pad`` metres."""
    lo, hi = poly.min(axis=0) - pad, poly.max(axis=0) + pad
    return (points[:, 0] >= lo[0]) & (points[:, 0] <= hi[0]) & (points[:, 1] >= lo[1]) & (points[:, 1] <= hi[1])


@dataclass
class FloorPlan:
    """The map of one floor of one building.

    Parameters
    ----------
    name : str
        Unique name in its dataset (e.g. ``"office-F1"``).
    walls : (W, 2, 2) float64 metres
        Wall segments ``[[x0, y0], [x1, y1]]`` in the building frame.
    zones : dict[str, (P, 2) metres]
        Labelled zones (rooms, corridors, maze regions, a building's outline) as simple polygons.
    obstacles : dict[str, (P, 2) metres]
        Labelled polygons that are not walkable although a zone contains them (shops, voids,
        pillars inside a mall's outline).
    floor : int
        Floor index this plan describes.
    building : int
        Building index.
    bounds : (4,) metres, optional
        ``(x_min, y_min, x_max, y_max)``; computed from walls and zones when omitted.
    elevation_m : float
        Height of the floor above the building's ground floor.
    height_m : float
        Floor-to-ceiling height (used by the camera model).
    wall_style : (W,) int, optional
        Appearance id per wall (texture/colour in the simulated camera).
    raster : (H, W) or (H, W, 3) uint8, optional
        Floor-plan image (for a maze: 1 = wall, 0 = free).
    pixel_to_metre : (3, 3) float64, optional
        Affine map from homogeneous pixel coordinates (column, row, 1) of ``raster`` to metres
        (x, y, 1). Pixel centres are at integer coordinates.
    meta : dict
        Free-form JSON-serialisable metadata.
    """

    name: str
    walls: np.ndarray
    zones: dict[str, np.ndarray] = field(default_factory=dict)
    obstacles: dict[str, np.ndarray] = field(default_factory=dict)
    floor: int = 0
    building: int = 0
    bounds: np.ndarray | None = None
    elevation_m: float = 0.0
    height_m: float = 2.8
    wall_style: np.ndarray | None = None
    raster: np.ndarray | None = None
    pixel_to_metre: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.walls = np.asarray(self.walls, dtype=np.float64).reshape(-1, 2, 2)
        self.zones = {str(k): np.asarray(v, dtype=np.float64) for k, v in self.zones.items()}
        self.obstacles = {str(k): np.asarray(v, dtype=np.float64) for k, v in self.obstacles.items()}
        if self.wall_style is not None:
            self.wall_style = np.asarray(self.wall_style, dtype=np.int64)
        if self.pixel_to_metre is not None:
            self.pixel_to_metre = np.asarray(self.pixel_to_metre, dtype=np.float64)
        if self.bounds is None:
            pts = [self.walls.reshape(-1, 2)] + list(self.zones.values())
            if self.raster is not None and self.pixel_to_metre is not None:
                h, w = self.raster.shape[:2]
                corners = np.array([[-0.5, -0.5, 1], [w - 0.5, h - 0.5, 1]]) @ self.pixel_to_metre.T
                pts.append(corners[:, :2])
            pts = np.concatenate([p for p in pts if len(p)]) if any(len(p) for p in pts) else np.zeros((1, 2))
            self.bounds = np.array([*pts.min(axis=0), *pts.max(axis=0)])
        self.bounds = np.asarray(self.bounds, dtype=np.float64)

    @property
    def zone_labels(self) -> list[str]:
        return list(self.zones)

    @property
    def size_m(self) -> tuple[float, float]:
        return float(self.bounds[2] - self.bounds[0]), float(self.bounds[3] - self.bounds[1])

    def validate(self, file=None) -> FloorPlan:
        fld = f"floor_plans/{self.name}"
        if self.walls.ndim != 3 or self.walls.shape[1:] != (2, 2):
            raise DataError(f"walls must be (W, 2, 2) metres, got {self.walls.shape}", file=file, field=f"{fld}/walls")
        if not np.all(np.isfinite(self.walls)):
            raise DataError("walls contain NaN or infinity", file=file, field=f"{fld}/walls")
        for kind, polys in (("zone", self.zones), ("obstacle", self.obstacles)):
            for label, poly in polys.items():
                if poly.ndim != 2 or poly.shape[1] != 2 or len(poly) < 3 or not np.all(np.isfinite(poly)):
                    raise DataError(
                        f"{kind} '{label}' must be a polygon (P>=3, 2) of finite metres, got shape {poly.shape}",
                        file=file,
                        field=f"{fld}/{kind}s/{label}",
                    )
        if self.bounds.shape != (4,) or not (self.bounds[2] > self.bounds[0] and self.bounds[3] > self.bounds[1]):
            raise DataError(
                f"bounds must be (x_min, y_min, x_max, y_max) with max > min, got {self.bounds.tolist()}",
                file=file,
                field=f"{fld}/bounds",
            )
        for key, arr in (("bounds", self.bounds), ("walls", self.walls)):
            if arr.size and not (np.all(np.isfinite(arr)) and np.abs(arr).max() <= MAX_COORDINATE_M):
                raise DataError(
                    f"{key} must be finite metres with |coordinate| <= {MAX_COORDINATE_M:g}; got values "
                    f"up to {np.abs(arr).max():g}",
                    file=file,
                    field=f"{fld}/{key}",
                )
        if self.wall_style is not None and self.wall_style.shape != (len(self.walls),):
            raise DataError(
                f"wall_style must be (W,) = ({len(self.walls)},), got {self.wall_style.shape}",
                file=file,
                field=f"{fld}/wall_style",
            )
        if self.raster is not None and (self.pixel_to_metre is None or self.pixel_to_metre.shape != (3, 3)):
            raise DataError(
                "a raster needs a (3, 3) pixel_to_metre transform", file=file, field=f"{fld}/pixel_to_metre"
            )
        return self

    # ------------------------------------------------------------------ geometry
    def zone_of(self, points: np.ndarray) -> np.ndarray:
        """Zone label of each point, ``""`` where no zone contains it.

        Parameters
        ----------
        points : (M, 2) metres

        Returns
        -------
        (M,) str
        """
        from matplotlib.path import Path

        points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        width = max([len(k) for k in self.zones] + [1])
        out = np.full(len(points), "", dtype=f"<U{width}")
        unassigned = np.ones(len(points), dtype=bool)
        for label, poly in self.zones.items():
            idx = np.flatnonzero(unassigned & _in_box(points, poly, 1e-9))
            idx = idx[Path(poly).contains_points(points[idx], radius=1e-9)]
            out[idx] = label
            unassigned[idx] = False
        return out

    def metre_to_pixel(self, points: np.ndarray) -> np.ndarray:
        """(M, 2) metres -> (M, 2) raster (column, row) coordinates."""
        if self.pixel_to_metre is None:
            raise DataError("this floor plan has no raster transform", field=f"floor_plans/{self.name}/pixel_to_metre")
        inv = np.linalg.inv(self.pixel_to_metre)
        pts = np.c_[np.asarray(points, dtype=np.float64).reshape(-1, 2), np.ones(len(points))]
        return (pts @ inv.T)[:, :2]

    def is_free(self, points: np.ndarray, margin_m: float = 0.0) -> np.ndarray:
        """Whether each point is walkable: inside the bounds, inside a zone when zones exist, in no
        obstacle, on a free raster cell when the raster is an occupancy grid (``meta['raster_kind'] ==
        'occupancy'``), and at least ``margin_m`` away from every wall.

        Parameters
        ----------
        points : (M, 2) metres

        Returns
        -------
        (M,) bool
        """
        points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        b = self.bounds
        free = (points[:, 0] >= b[0]) & (points[:, 0] <= b[2]) & (points[:, 1] >= b[1]) & (points[:, 1] <= b[3])
        if self.zones:
            free &= self.zone_of(points) != ""
        if self.obstacles and free.any():
            from matplotlib.path import Path

            for poly in self.obstacles.values():
                idx = np.flatnonzero(free & _in_box(points, poly))
                free[idx[Path(poly).contains_points(points[idx])]] = False
        if self.raster is not None and self.meta.get("raster_kind") == "occupancy":
            cr = np.rint(self.metre_to_pixel(points)).astype(int)
            h, w = self.raster.shape[:2]
            ok = (cr[:, 0] >= 0) & (cr[:, 0] < w) & (cr[:, 1] >= 0) & (cr[:, 1] < h)
            occ = np.ones(len(points), dtype=bool)
            occ[ok] = self.raster[cr[ok, 1], cr[ok, 0]] > 0
            free &= ~occ
        if margin_m > 0 and len(self.walls) and free.any():
            idx = np.flatnonzero(free)
            for chunk in np.array_split(idx, max(1, len(idx) * len(self.walls) // 2_000_000 + 1)):
                free[chunk] = point_segment_distance(points[chunk], self.walls).min(axis=1) >= margin_m
        return free

    def walkable_grid(self, resolution_m: float = 0.2) -> WalkableGrid:
        """The walkable space of this floor on a regular grid (:class:`WalkableGrid`), built once per
        resolution and kept on the plan (plans are not changed after construction)."""
        cache = self.__dict__.setdefault("_grids", {})
        key = float(resolution_m)
        if key not in cache:
            cache[key] = WalkableGrid.from_plan(self, key)
        return cache[key]

    def sample_free_space(self, spacing_m: float = 0.5, margin_m: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
        """Dense grid samples of the walkable space with their zone labels.

        These are OT-Isomap's target points ``y_j``.

        Parameters
        ----------
        spacing_m : float
            Grid step in metres.
        margin_m : float
            Minimum distance to any wall.

        Returns
        -------
        points : (M, 2) metres
        zones : (M,) str (``""`` when the plan has no zones)
        """
        x0, y0, x1, y1 = self.bounds
        xs = np.arange(x0 + spacing_m / 2, x1, spacing_m)
        ys = np.arange(y0 + spacing_m / 2, y1, spacing_m)
        grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
        grid = grid[self.is_free(grid, margin_m)]
        zones = self.zone_of(grid) if self.zones else np.full(len(grid), "")
        return grid, zones

    # ------------------------------------------------------------------ serialisation
    def to_json(self) -> dict:
        """JSON-serialisable description (the raster is stored separately, see ``omniloc.data.io``)."""
        return {
            "name": self.name,
            "floor": int(self.floor),
            "building": int(self.building),
            "bounds": self.bounds.tolist(),
            "elevation_m": float(self.elevation_m),
            "height_m": float(self.height_m),
            "walls": self.walls.tolist(),
            "wall_style": None if self.wall_style is None else self.wall_style.tolist(),
            "zones": {k: v.tolist() for k, v in self.zones.items()},
            "obstacles": {k: v.tolist() for k, v in self.obstacles.items()},
            "pixel_to_metre": None if self.pixel_to_metre is None else self.pixel_to_metre.tolist(),
            "has_raster": self.raster is not None,
            "meta": self.meta,
        }

    @classmethod
    def from_json(cls, d: dict, raster: np.ndarray | None = None, file=None) -> FloorPlan:
        """Inverse of :meth:`to_json`; raises :class:`DataError` naming the missing or bad key."""
        name = d.get("name", "?")
        try:
            plan = cls(
                name=str(d["name"]),
                walls=(
                    np.asarray(d["walls"], dtype=np.float64).reshape(-1, 2, 2)
                    if len(d["walls"])
                    else np.zeros((0, 2, 2))
                ),
                zones=d.get("zones", {}),
                obstacles=d.get("obstacles", {}),
                floor=int(d.get("floor", 0)),
                building=int(d.get("building", 0)),
                bounds=d.get("bounds"),
                elevation_m=float(d.get("elevation_m", 0.0)),
                height_m=float(d.get("height_m", 2.8)),
                wall_style=d.get("wall_style"),
                raster=raster,
                pixel_to_metre=d.get("pixel_to_metre"),
                meta=dict(d.get("meta", {})),
            )
        except KeyError as e:
            raise DataError(f"missing key {e.args[0]!r}", file=file, field=f"floor_plans/{name}") from None
        except (TypeError, ValueError) as e:
            raise DataError(f"malformed floor plan: {e}", file=file, field=f"floor_plans/{name}") from None
        return plan.validate(file=file)


@dataclass
class WalkableGrid:
    """Walkable cells of a floor and each cell's clearance, for fast look-ups by many points.

    A cell is walkable when its centre is (:meth:`FloorPlan.is_free`: bounds, zones, obstacles,
    occupancy raster) and no wall passes through the cell (walls are thin segments: they are
    drawn into the grid, so a straight move across a wall meets a blocked cell). ``clearance`` is
    the distance from each cell centre to the nearest blocked cell (Euclidean distance transform;
    0 on blocked cells), ``depth`` the distance from each blocked cell to the nearest walkable one
    (0 on walkable cells; infinite on wall cells, which no slack lets a walker through): how far
    into a shop or the outside a point is. Walls that are only the outlines of the zones and
    obstacles (``plan.meta["walls_are_polygon_edges"]``, e.g. from a GeoJSON map) are not drawn.

    Attributes
    ----------
    origin : (2,) metres
        Corner ``(x_min, y_min)`` of cell ``(0, 0)``: the plan's bounds widened by two cells on every
        side (walls on the bounds are inside the grid, and so is a rim of blocked cells).
    resolution_m : float
        Cell side, metres.
    free : (ny, nx) bool
        Row ``i`` spans ``y`` in ``origin[1] + [i, i + 1) * resolution_m``, column ``j`` likewise in ``x``.
    clearance : (ny, nx) metres
    depth : (ny, nx) metres
    """

    origin: np.ndarray
    resolution_m: float
    free: np.ndarray
    clearance: np.ndarray
    depth: np.ndarray

    @classmethod
    def from_plan(cls, plan: FloorPlan, resolution_m: float = 0.2) -> WalkableGrid:
        """Rasterise ``plan`` at ``resolution_m`` metres per cell (see the class docstring)."""
        from scipy.ndimage import distance_transform_edt

        res = float(resolution_m)
        if not res > 0:
            raise ValueError(f"resolution_m must be > 0, got {resolution_m!r}")
        pad = 2 * res  # walls on the bounds fall inside the grid, and so does a rim of blocked cells
        x0, y0, x1, y1 = plan.bounds + np.array([-pad, -pad, pad, pad])
        nx, ny = max(1, int(np.ceil((x1 - x0) / res))), max(1, int(np.ceil((y1 - y0) / res)))
        xs, ys = x0 + res * (np.arange(nx) + 0.5), y0 + res * (np.arange(ny) + 0.5)
        centres = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)
        free = plan.is_free(centres).reshape(ny, nx)
        wall = np.zeros_like(free)
        if len(plan.walls) and not plan.meta.get("walls_are_polygon_edges"):
            # points every res / 4 along each wall block their cells (walls that only outline the
            # zones and obstacles are already there)
            a, b = plan.walls[:, 0], plan.walls[:, 1]
            n = np.maximum(np.ceil(np.linalg.norm(b - a, axis=1) / (0.25 * res)).astype(int), 1)
            seg = np.repeat(np.arange(len(a)), n + 1)
            u = np.concatenate([np.linspace(0.0, 1.0, k + 1) for k in n])
            pts = a[seg] + u[:, None] * (b - a)[seg]
            j = np.floor((pts[:, 0] - x0) / res).astype(int)
            i = np.floor((pts[:, 1] - y0) / res).astype(int)
            ok = (i >= 0) & (i < ny) & (j >= 0) & (j < nx)
            wall[i[ok], j[ok]] = True
            free &= ~wall
        clearance = distance_transform_edt(free) * res if (~free).any() else np.full(free.shape, np.inf)
        depth = distance_transform_edt(~free) * res if free.any() else np.full(free.shape, np.inf)
        depth[wall] = np.inf
        return cls(np.array([x0, y0], dtype=np.float64), res, free, clearance, depth)

    def cells(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Row, column (M,) int of the cells of points ``xy`` (M, 2) metres, and whether each is on the grid."""
        xy = np.asarray(xy, dtype=np.float64)
        j = np.floor((xy[..., 0] - self.origin[0]) / self.resolution_m).astype(np.int64)
        i = np.floor((xy[..., 1] - self.origin[1]) / self.resolution_m).astype(np.int64)
        ny, nx = self.free.shape
        inside = (i >= 0) & (i < ny) & (j >= 0) & (j < nx)
        return np.clip(i, 0, ny - 1), np.clip(j, 0, nx - 1), inside

    def is_free(self, xy: np.ndarray) -> np.ndarray:
        """Whether the cell of each point (..., 2) metres is walkable (False off the grid)."""
        i, j, inside = self.cells(xy)
        return inside & self.free[i, j]

    def depth_at(self, xy: np.ndarray) -> np.ndarray:
        """How far (metres) each point (..., 2) is inside blocked space: 0 on walkable cells; off the
        grid, the depth of the nearest edge cell plus the distance to the grid."""
        xy = np.asarray(xy, dtype=np.float64)
        i, j, _ = self.cells(xy)
        lo = self.origin
        hi = self.origin + self.resolution_m * np.array(self.free.shape[::-1])
        out = np.linalg.norm(xy - np.clip(xy, lo, hi), axis=-1)
        return self.depth[i, j] + out

    def blocked_steps(
        self, start: np.ndarray, end: np.ndarray, slack_m: float = 0.0, samples: int | None = None
    ) -> np.ndarray:
        """Whether each straight move ``start[k] -> end[k]`` (M, 2) metres meets blocked space.

        The move is checked at ``samples`` points evenly spaced after its start (default: one per
        half cell of the longest move, at least 2), so a wall one cell thick is never jumped over.
        A point counts as blocked when its cell is more than ``slack_m`` deep inside blocked space
        (a wall cell always; see :attr:`depth`) or off the grid.
        """
        start, end = np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)
        delta = end - start
        if samples is None:
            longest = float(np.sqrt(np.max(np.einsum("ij,ij->i", delta, delta), initial=0.0)))
            samples = max(2, int(np.ceil(longest / (0.5 * self.resolution_m))))
        cache = self.__dict__.setdefault("_hard", {})
        hard = cache.get(float(slack_m))
        if hard is None:
            hard = cache[float(slack_m)] = (self.depth > float(slack_m)).ravel()
        u = np.arange(1, samples + 1) / samples
        inv = 1.0 / self.resolution_m
        j = np.floor((start[:, :1] - self.origin[0] + delta[:, :1] * u) * inv).astype(np.int64)
        i = np.floor((start[:, 1:] - self.origin[1] + delta[:, 1:] * u) * inv).astype(np.int64)
        ny, nx = self.free.shape
        inside = (i >= 0) & (i < ny) & (j >= 0) & (j < nx)
        flat = np.where(inside, i * nx + j, 0)
        return (hard[flat] | ~inside).any(axis=1)
