"""Simulated walks: office pedestrians and maze agents."""

import numpy as np
import pytest

from omniloc.data import count_wall_crossings
from omniloc.data.transforms import quat_to_matrix, yaw_from_quat
from omniloc.sim import grid_path, maze_boundary_cells, maze_floor_plan, maze_walk, office_building, office_walk


@pytest.fixture(scope="module")
def building():
    return office_building(2, seed=3)


@pytest.fixture(scope="module")
def walk(building):
    return office_walk(building, 90.0, np.random.default_rng(11), {"floor_change_prob": 0.5}, name="w")


def per_floor(rec, plans):
    for p in plans:
        sel = rec.floor == p.floor
        if sel.any():
            yield p, sel


def test_office_walk_fields(walk):
    rec = walk.validate()
    assert rec.name == "w" and len(rec) == 9000
    np.testing.assert_allclose(np.diff(rec.t), 0.01)
    assert rec.floor.dtype.kind == "i" and set(np.unique(rec.floor)) <= {0, 1}
    assert np.all(rec.building == 0)
    assert all(z.startswith(f"F{f}-") for z, f in zip(rec.zone[::50], rec.floor[::50]))
    np.testing.assert_allclose(np.linalg.norm(rec.orientation, axis=1), 1.0, atol=1e-9)


def test_office_walk_stays_in_free_space(walk, building):
    for plan, sel in per_floor(walk, building):
        xy = walk.position[sel, :2]
        assert plan.is_free(xy, margin_m=0.15).all()
        # consecutive poses never pass through a wall
        assert count_wall_crossings(xy[:-1], xy[1:], plan.walls).sum() == 0
        # height = floor elevation + device height, except on the stairs or in the elevator
        flat = ~np.array([z.endswith(("stairs", "elevator")) for z in walk.zone[sel]])
        np.testing.assert_allclose(walk.position[sel][flat, 2], plan.elevation_m + 1.3, atol=1e-9)


def test_office_walk_speeds_and_heading(walk):
    dt = 0.01
    v = np.linalg.norm(np.gradient(walk.position[:, :2], dt, axis=0), axis=1)
    assert v.max() <= 1.6 + 1e-3
    # cruising (not accelerating/decelerating): walking speed in [0.8, 1.6]
    a = np.abs(np.gradient(v, dt))
    cruise = (v > 0.05) & (a < 0.05)
    assert cruise.mean() > 0.4
    assert np.all(v[cruise] >= 0.8 - 0.01)  # (finite differences on curves read a bit low)
    # paused or turning in place part of the time
    assert (v < 0.01).mean() > 0.02
    # heading: smooth (no jumps), bounded rate, along the velocity while walking
    yaw = np.unwrap(yaw_from_quat(walk.orientation))
    rate = np.gradient(yaw, dt)
    assert np.abs(np.diff(yaw)).max() < np.radians(3)
    assert np.abs(rate).max() < np.radians(250)
    moving = v > 0.7
    vel = np.gradient(walk.position[:, :2], dt, axis=0)[moving]
    fwd = quat_to_matrix(walk.orientation[moving])[:, :2, 0]
    cos = np.sum(vel * fwd, axis=1) / np.linalg.norm(vel, axis=1) / np.linalg.norm(fwd, axis=1)
    assert np.median(cos) > 0.99 and np.percentile(cos, 5) > 0.9
    # pitch/roll sway stays small
    up = quat_to_matrix(walk.orientation)[:, :, 2]
    assert np.degrees(np.arccos(np.clip(up[:, 2], -1, 1))).max() < 5


@pytest.mark.parametrize("mode", ["stairs", "elevator"])
def test_office_walk_floor_changes(building, mode):
    conf = {
        "floor_change_prob": 1.0,
        "elevator_prob": 1.0 if mode == "elevator" else 0.0,
        "start_floor": 0,
        "rate_hz": 50.0,
    }
    rec = office_walk(building, 60.0, np.random.default_rng(2), conf)
    changes = rec.meta["floor_changes"]
    assert changes and changes[0][1:] == [0, 1, mode]
    z = rec.position[:, 2]
    dz = np.gradient(z, rec.t)
    assert np.abs(dz).max() < (1.01 if mode == "elevator" else 0.8)
    assert np.abs(np.gradient(dz, rec.t)).max() < 3.0  # smooth: bounded vertical acceleration
    assert set(np.unique(rec.floor)) == {0, 1}
    # floor label follows the height; during the change the walker is in the stairs/elevator zone
    moving_z = np.abs(dz) > 1e-3
    assert np.all(np.char.endswith(rec.zone[moving_z].astype(str), mode))
    for plan, sel in per_floor(rec, building):
        assert plan.is_free(rec.position[sel, :2], margin_m=0.15).all()


def test_office_walk_deterministic(building):
    a = office_walk(building, 20.0, np.random.default_rng(5))
    b = office_walk(building, 20.0, np.random.default_rng(5))
    c = office_walk(building, 20.0, np.random.default_rng(6))
    np.testing.assert_array_equal(a.position, b.position)
    np.testing.assert_array_equal(a.orientation, b.orientation)
    assert not np.allclose(a.position, c.position)


def test_maze_walk():
    plan = maze_floor_plan(24, 0)
    boundary = {tuple(c) for c in maze_boundary_cells(plan)}
    for seed in range(5):
        rec = maze_walk(plan, np.random.default_rng(seed), name=f"m{seed}").validate()
        start, end = tuple(rec.meta["start_cell"]), tuple(rec.meta["end_cell"])
        assert start in boundary and end in boundary and start != end
        # openings: outer-wall pixels next to the start and end cells
        for (r, c), cell in zip(rec.meta["openings"], (start, end)):
            assert plan.raster[r, c] == 1 and abs(r - cell[0]) + abs(c - cell[1]) == 1
            assert r in (0, 22) or c in (0, 22)
        # poses at pixel centres, one pixel apart, on free pixels, at constant speed
        xy = rec.position[:, :2]
        np.testing.assert_allclose(xy[0], [start[1] + 0.5, start[0] + 0.5])
        np.testing.assert_allclose(xy[-1], [end[1] + 0.5, end[0] + 0.5])
        np.testing.assert_allclose(np.linalg.norm(np.diff(xy, axis=0), axis=1), 1.0)
        np.testing.assert_allclose(np.diff(rec.t), 1.0)
        assert plan.is_free(xy).all()
        assert len(np.unique(np.round(xy, 6), axis=0)) == len(xy)  # the unique path never revisits a place
        assert rec.meta["path_px"] == len(xy) >= 7
        assert set(rec.zone) <= set(plan.zones)
    # sub-pixel steps and a chosen start/end
    rec = maze_walk(plan, conf={"step_px": 0.25, "speed_mps": 0.5, "start_cell": [1, 1], "end_cell": [21, 21]})
    np.testing.assert_allclose(np.diff(rec.t), 0.5)
    assert rec.meta["start_cell"] == [1, 1] and rec.meta["end_cell"] == [21, 21]
    assert plan.is_free(rec.position[:, :2]).all()


def test_grid_path(building):
    plan = building[0]
    room = [z for z in plan.zones if z.endswith("-R01")][0]
    start = plan.zones[room].mean(axis=0)
    goal = plan.zones["F0-stairs"].mean(axis=0)
    path = grid_path(plan, start, goal)
    np.testing.assert_allclose(path[0], start)
    assert np.linalg.norm(path[-1] - goal) < 0.2
    assert plan.is_free(path, margin_m=0.2).all()
    assert count_wall_crossings(path[:-1], path[1:], plan.walls).sum() == 0
    assert plan.zone_of(path[[0, -1]]).tolist() == [room, "F0-stairs"]
    assert "F0-corridor" in set(plan.zone_of(path))


def test_hand_held_camera_tilts_without_changing_the_path(building):
    level = office_walk(building, 30.0, np.random.default_rng(3), {"start_floor": 0})
    held = office_walk(
        building, 30.0, np.random.default_rng(3), {"start_floor": 0, "hand_held": True, "hand_wander_deg": [6, 5, 8]}
    )
    np.testing.assert_array_equal(level.position, held.position)  # the wander is drawn after the walk
    R = quat_to_matrix(held.orientation)
    pitch = np.degrees(np.arcsin(-R[:, 2, 0]))  # Rz(yaw) Ry(pitch) Rx(roll): R[2, 0] = -sin(pitch)
    roll = np.degrees(np.arctan2(R[:, 2, 1], R[:, 2, 2]))
    level_pitch = np.degrees(np.arcsin(-quat_to_matrix(level.orientation)[:, 2, 0]))
    assert abs(pitch.mean() - (-10.0)) < 1.0 and abs(level_pitch.mean()) < 0.5
    assert 5.0 < pitch.std() < 8.0 and 4.0 < roll.std() < 7.0  # wander 6 and 5 degrees plus the gait sway
    # the wander is slow: consecutive poses (100 Hz) differ by far less than its spread
    assert np.abs(np.diff(pitch)).max() < 1.0
