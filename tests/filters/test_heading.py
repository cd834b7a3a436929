"""Heading from a phone's orientation stream, the heading offset, step calibration, the walkable grid."""

import numpy as np
import pytest

from omniloc import DataError
from omniloc.data import FloorPlan, Stream
from omniloc.data.transforms import quat_from_yaw, quat_multiply
from omniloc.filters import absolute_heading, calibrate_steps, heading_offset, orientation_stream


def _tilted(yaw, roll_rad=0.35):
    """world_from_device = Rz(yaw) Rx(roll): a tilted phone whose x axis points along yaw."""
    q_roll = np.array([np.cos(roll_rad / 2), np.sin(roll_rad / 2), 0.0, 0.0])
    return quat_multiply(quat_from_yaw(yaw), np.broadcast_to(q_roll, (len(yaw), 4)))


def test_absolute_heading_of_a_synthetic_rotation():
    t = np.arange(0.0, 10.0, 0.5)
    yaw = 0.3 * t - 1.0
    s = Stream("vector", t, _tilted(yaw).astype(np.float32))
    np.testing.assert_allclose(absolute_heading(s, t), np.angle(np.exp(1j * yaw)), atol=1e-5)
    mid = t[:-1] + 0.25  # slerp between samples: the rotation halfway, same tilt
    np.testing.assert_allclose(absolute_heading(s, mid), np.angle(np.exp(1j * (0.3 * mid - 1.0))), atol=1e-5)
    np.testing.assert_allclose(absolute_heading(s, [-5.0, 50.0]), [yaw[0], np.angle(np.exp(1j * yaw[-1]))], atol=1e-5)
    with pytest.raises(DataError, match="quaternions"):
        absolute_heading(Stream("vector", t, np.zeros((len(t), 3), np.float32)), t)


def test_heading_offset_known_answer():
    psi = np.array([0.0, 1.0, 2.0, -3.0])
    d = np.stack([np.cos(psi + 0.5), np.sin(psi + 0.5)], axis=1) * np.array([[1.0], [2.0], [0.5], [1.5]])
    assert heading_offset(d, psi) == pytest.approx(0.5)
    # a longer step weighs more: two steps disagreeing by 90 degrees, one twice as long
    d2 = np.array([[2.0, 0.0], [0.0, 1.0]])
    assert heading_offset(d2, np.zeros(2)) == pytest.approx(np.arctan2(1.0, 2.0))
    assert heading_offset(np.zeros((0, 2)), np.zeros(0)) == 0.0


def test_calibration_on_real_site1_paths_finds_the_phone_held_flat(data_root):
    """The surveyor holds the phone flat and walks along its +y axis: the offset is about +90 degrees,
    and the rotation vector's east-north-up frame is the map frame to within a degree or two."""
    from omniloc.data.loaders import load_indoor_competition

    site = data_root / "indoor-location-competition-20"
    if not site.is_dir():
        pytest.skip("Indoor Location Competition data not found")
    ds = load_indoor_competition(site, floors=["F1"], max_paths_per_floor=6)
    rec = next(iter(ds))
    assert orientation_stream(rec) is rec.streams["rotation_vector"]
    from omniloc.filters import STEP_DEFAULTS

    cal = calibrate_steps(ds, STEP_DEFAULTS)
    assert cal.heading_source == "orientation" and cal.n_steps > 100
    assert np.degrees(cal.heading_offset) == pytest.approx(90.0, abs=4.0)
    assert 0.2 < cal.step_length_k < 0.6
    gyro = calibrate_steps(ds, STEP_DEFAULTS, heading="gyro")
    assert gyro.heading_source == "gyro" and gyro.heading_offset is None  # no orientation truth here


def test_walkable_grid_known_answers():
    plan = FloorPlan(
        "t",
        walls=[[[5, 0], [5, 4]]],  # a wall from y = 0 to 4 at x = 5: pass above it
        zones={"room": np.array([[0, 0], [10, 0], [10, 10], [0, 10]])},
        obstacles={"shop": np.array([[6, 6], [8, 6], [8, 8], [6, 8]])},
    )
    g = plan.walkable_grid(0.2)
    assert plan.walkable_grid(0.2) is g  # built once
    pts = np.array([[1, 1], [7, 7], [5.05, 2], [5.05, 6], [11, 1]])
    assert g.is_free(pts).tolist() == [True, False, False, True, False]
    assert g.blocked_steps(np.array([[4.5, 2.0], [4.5, 6.0]]), np.array([[5.5, 2.0], [5.5, 6.0]])).tolist() == [
        True,
        False,
    ]
    # inside the shop: distance to its edge; on the wall: infinite; off the plan: the distance to it
    assert g.depth_at(np.array([[7.0, 7.0]]))[0] == pytest.approx(1.0, abs=0.15)
    assert np.isinf(g.depth_at(np.array([[5.05, 2.0]]))[0])
    assert g.depth_at(np.array([[1.0, 1.0]]))[0] == 0.0
    assert g.depth_at(np.array([[13.0, 5.0]]))[0] == pytest.approx(3.0, abs=0.45)
    assert g.clearance[g.cells(np.array([[2.5, 5.0]]))[0][0], g.cells(np.array([[2.5, 5.0]]))[1][0]] == pytest.approx(
        2.5, abs=0.3
    )
    # obstacles survive the JSON round trip and make the same grid
    again = FloorPlan.from_json(plan.to_json())
    np.testing.assert_array_equal(again.walkable_grid(0.2).free, g.free)
