"""Simulated floor plans: perfect mazes and office buildings."""

import numpy as np
import pytest

from omniloc.data import count_wall_crossings
from omniloc.sim import (
    maze_boundary_cells,
    maze_cells,
    maze_floor_plan,
    office_building,
    office_floor_plan,
    raster_wall_segments,
    walk_grid,
)


def free_graph_counts(raster):
    """(number of free pixels, number of 4-adjacent free pairs, number of connected components)."""
    from scipy.ndimage import label

    free = raster == 0
    edges = int((free[:, :-1] & free[:, 1:]).sum() + (free[:-1, :] & free[1:, :]).sum())
    _, n_comp = label(free)
    return int(free.sum()), edges, n_comp


@pytest.mark.parametrize("size,seed", [(24, 0), (24, 1), (25, 3), (9, 2), ((13, 21), 5)])
def test_maze_is_perfect(size, seed):
    plan = maze_floor_plan(size, seed)
    h, w = (size, size) if np.isscalar(size) else size
    r = plan.raster
    assert r.shape == (h, w) and r.dtype == np.uint8 and set(np.unique(r)) <= {0, 1}
    # outer ring (and the extra last row/col of an even size) is wall
    assert r[0].all() and r[:, 0].all() and r[-1].all() and r[:, -1].all()
    n_free, n_edges, n_comp = free_graph_counts(r)
    assert n_comp == 1  # connected
    assert n_edges == n_free - 1  # ... and a tree: exactly one path between any two places
    cells = maze_cells(plan)
    n_rows, n_cols = (h - 1) // 2, (w - 1) // 2
    assert len(cells) == n_rows * n_cols
    assert np.all(cells % 2 == 1)
    # wall pixels at even-even positions, free pixels are cells or passages between two cells
    rr, cc = np.nonzero(r == 0)
    assert not np.any((rr % 2 == 0) & (cc % 2 == 0))


def test_maze_conventions_and_zones():
    plan = maze_floor_plan(24, 0)
    plan.validate()
    assert plan.meta["raster_kind"] == "occupancy"
    np.testing.assert_allclose(plan.pixel_to_metre, [[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])
    np.testing.assert_allclose(plan.bounds, [0, 0, 24, 24])
    # pixel (col, row) centre at (col + 0.5, row + 0.5); is_free agrees with the raster
    rr, cc = np.mgrid[0:24, 0:24]
    pts = np.c_[cc.ravel() + 0.5, rr.ravel() + 0.5]
    np.testing.assert_array_equal(plan.is_free(pts), plan.raster.ravel() == 0)
    assert sorted(plan.zones, key=lambda z: int(z[1:])) == [f"Z{k}" for k in range(9)]
    assert plan.zone_of(np.array([[0.5, 0.5], [23.5, 0.5], [0.5, 23.5], [12, 12]])).tolist() == ["Z0", "Z2", "Z6", "Z4"]
    assert len(maze_floor_plan(24, 0, n_zones_per_side=2).zones) == 4
    # deterministic by seed
    np.testing.assert_array_equal(maze_floor_plan(24, 0).raster, plan.raster)
    assert not np.array_equal(maze_floor_plan(24, 1).raster, plan.raster)


def test_maze_walls_are_raster_boundaries():
    plan = maze_floor_plan(16, 4)
    walls = plan.walls
    assert len(walls) == len(plan.wall_style) > 0
    # axis-aligned, on pixel edges (integer metres)
    assert np.all((walls[:, 0, 0] == walls[:, 1, 0]) | (walls[:, 0, 1] == walls[:, 1, 1]))
    np.testing.assert_allclose(walls, np.round(walls))
    # every face has wall on one side and free space on the other, all along
    for a, b in walls:
        d = (b - a) / np.linalg.norm(b - a)
        n = np.array([-d[1], d[0]])
        u = np.linspace(0.25, np.linalg.norm(b - a) - 0.25, 7)
        mid = a + u[:, None] * d
        left, right = plan.is_free(mid + 0.25 * n), plan.is_free(mid - 0.25 * n)
        assert np.all(left != right)
    # merged: no two collinear touching faces with the wall on the same side
    walls2, side = raster_wall_segments(plan.raster, plan.pixel_to_metre)
    np.testing.assert_allclose(walls2, walls)
    ends = {(tuple(np.round(w[1], 6)), s, w[0, 0] == w[1, 0]) for w, s in zip(walls2, side)}
    starts = {(tuple(np.round(w[0], 6)), s, w[0, 0] == w[1, 0]) for w, s in zip(walls2, side)}
    assert not (ends & starts)
    # a straight line between two free cells separated by a wall pixel crosses two faces
    free_pts = plan.sample_free_space(1.0, 0.0)[0]
    assert len(free_pts) == int((plan.raster == 0).sum())
    assert count_wall_crossings(np.array([[1.5, 1.5]]), np.array([[1.5, 13.5]]), walls)[0] % 2 == 0


def test_maze_boundary_cells_touch_outer_wall():
    plan = maze_floor_plan(24, 0)
    b = maze_boundary_cells(plan)
    n = plan.meta["n_cells"][0]
    assert len(b) == 4 * n - 4
    assert np.all((b[:, 0] == 1) | (b[:, 1] == 1) | (b[:, 0] == 2 * n - 1) | (b[:, 1] == 2 * n - 1))


def test_office_building_layout():
    plans = office_building(3, seed=7)
    assert [p.floor for p in plans] == [0, 1, 2]
    assert [p.elevation_m for p in plans] == [0.0, 3.5, 7.0]
    for p in plans:
        p.validate()
        f = p.floor
        assert p.name == f"office-F{f}"
        for z in ("corridor", "corridor2", "stairs", "elevator"):
            assert f"F{f}-{z}" in p.zones
        rooms = [z for z in p.zones if z.startswith(f"F{f}-R")]
        assert len(rooms) >= 8
        np.testing.assert_allclose(p.bounds, [0, 0, 40, 20])
        assert p.wall_style.shape == (len(p.walls),) and p.wall_style.min() >= 0 and p.wall_style.max() < 16
        # every room and the core are reachable on foot from the corridor (doors exist)
        g = walk_grid(p, 0.25, 0.35)
        corridor_comp = g["component"][np.flatnonzero(g["free"] & (p.zone_of(g["centres"]) == f"F{f}-corridor"))[0]]
        zone = p.zone_of(g["centres"])
        for z in p.zones:
            cells = np.flatnonzero(g["free"] & (zone == z))
            assert len(cells) and np.any(g["component"][cells] == corridor_comp), z
    # stairs and elevator at the same place on every floor; rooms differ between floors
    for a, b in zip(plans[:-1], plans[1:]):
        np.testing.assert_allclose(a.zones[f"F{a.floor}-stairs"], b.zones[f"F{b.floor}-stairs"])
        np.testing.assert_allclose(a.zones[f"F{a.floor}-elevator"], b.zones[f"F{b.floor}-elevator"])
        assert a.meta["stairs"]["up_path"] == b.meta["stairs"]["up_path"]
    assert not np.array_equal(plans[0].walls, plans[1].walls) or len(plans[0].walls) != len(plans[1].walls)
    # deterministic by seed, and the conf is merged, not mutated
    np.testing.assert_array_equal(office_floor_plan(1, 7).walls, plans[1].walls)
    small = office_floor_plan(
        0, 0, {"length_m": 30.0, "depth_m": 18.0, "cross_corridor_width_m": 0.0, "building": 2, "name": "annex"}
    )
    assert small.name == "annex-F0" and small.building == 2 and "F0-corridor2" not in small.zones
    np.testing.assert_allclose(small.bounds, [0, 0, 30, 18])


def test_office_conf_errors():
    from omniloc import ConfigError

    with pytest.raises(ConfigError, match="lenght_m"):
        office_floor_plan(0, 0, {"lenght_m": 30})
    with pytest.raises(ValueError):
        office_building(0)
