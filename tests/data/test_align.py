"""Known-answer tests of stream alignment, pose interpolation, floor-plan geometry and quaternions."""

import numpy as np
import pytest

from omniloc.data import (
    FloorPlan,
    Recording,
    Stream,
    count_wall_crossings,
    latest_index,
    latest_values,
    nearest_index,
    point_segment_distance,
    resample_windows,
    truth_at,
    window_end_times,
)
from omniloc.data.transforms import (
    quat_angle_deg,
    quat_from_yaw,
    quat_multiply,
    quat_rotate,
    quat_slerp,
    quat_to_matrix,
    yaw_from_quat,
)


def test_window_end_times_mtloc_overlap():
    # 1-s windows every 100 ms (900 ms overlap) over 0..3 s: ends at 1.0, 1.1, ..., 3.0
    ends = window_end_times(0.0, 3.0, duration_s=1.0, step_s=0.1)
    assert len(ends) == 21
    np.testing.assert_allclose(ends[:3], [1.0, 1.1, 1.2])
    assert window_end_times(0.0, 0.5).size == 0


def test_resample_windows_linear_signal_known_values():
    t = np.arange(0, 5, 0.02)  # 50 Hz
    s = Stream("imu", t, np.c_[t, 2 * t, -t, np.zeros((len(t), 3))])
    vals, ok = resample_windows(s, np.array([1.0, 2.5, 4.98, 0.5]), duration_s=1.0, rate_hz=10.0)
    assert vals.shape == (4, 10, 6)
    np.testing.assert_allclose(vals[0, :, 0], np.arange(0.1, 1.01, 0.1), atol=1e-6)
    np.testing.assert_allclose(vals[1, :, 1], 2 * np.arange(1.6, 2.51, 0.1), atol=1e-5)
    assert ok.tolist() == [True, True, True, False]  # the last window starts before the stream
    assert np.all(vals[3] == 0)


def test_resample_windows_gap_invalidates():
    t = np.r_[np.arange(0, 2, 0.02), np.arange(3, 5, 0.02)]
    s = Stream("magnetometer", t, np.ones((len(t), 3)))
    _, ok = resample_windows(s, np.array([1.5, 3.2, 4.5]), 1.0, 10.0)
    assert ok.tolist() == [True, False, True]


def test_latest_and_nearest():
    s = Stream("wifi", np.array([1.0, 3.0, 6.0]), np.array([[-50.0], [-60.0], [-70.0]], np.float32), ids=["a"])
    q = np.array([0.5, 1.0, 2.9, 5.0, 6.5, 20.0])
    assert latest_index(s, q).tolist() == [-1, 0, 0, 1, 2, 2]
    assert latest_index(s, q, max_age_s=1.5).tolist() == [-1, 0, -1, -1, 2, -1]
    vals, age = latest_values(s, q, max_age_s=2.5)
    assert np.isnan(vals[0, 0]) and vals[3, 0] == -60 and age[3] == 2.0
    assert nearest_index(s, q).tolist() == [0, 0, 1, 2, 2, 2]
    assert nearest_index(s, q, max_dt_s=1.0).tolist() == [0, 0, 1, 2, 2, -1]


def test_truth_at():
    t = np.array([0.0, 1.0, 2.0])
    rec = Recording(
        "r",
        t,
        position=[[0, 0, 0], [2, 0, 0], [2, 4, 0]],
        orientation=quat_from_yaw(np.array([0.0, np.pi / 2, np.pi / 2])),
        floor=[0, 0, 1],
        zone=["a", "b", "c"],
    )
    gt = truth_at(rec, [0.5, 1.75, 3.0])
    np.testing.assert_allclose(gt["position"][:2], [[1, 0, 0], [2, 3, 0]])
    assert np.isnan(gt["position"][2]).all() and gt["inside"].tolist() == [True, True, False]
    np.testing.assert_allclose(yaw_from_quat(gt["orientation"][0]), np.pi / 4)
    assert gt["floor"].tolist() == [0, 1, 1] and gt["zone"].tolist() == ["b", "c", "c"]


def test_point_segment_distance_and_crossings():
    walls = np.array([[[0, 0], [4, 0]], [[2, -1], [2, 1]]], dtype=float)
    d = point_segment_distance(np.array([[1, 1], [5, 0], [2, 0.5]]), walls)
    np.testing.assert_allclose(d, [[1, 1], [1, 3], [0.5, 0]])
    n = count_wall_crossings(np.array([[1, -0.5], [0, 1], [3, 3]]), np.array([[3, -0.5], [0, 2], [3, -3]]), walls)
    assert n.tolist() == [1, 0, 1]


def test_floor_plan_zones_and_free_space():
    plan = FloorPlan(
        "f",
        walls=[[[0, 0], [4, 0]], [[4, 0], [4, 2]], [[4, 2], [0, 2]], [[0, 2], [0, 0]], [[2, 0], [2, 1.5]]],
        zones={"west": [[0, 0], [2, 0], [2, 2], [0, 2]], "east": [[2, 0], [4, 0], [4, 2], [2, 2]]},
    )
    assert plan.zone_of(np.array([[1, 1], [3, 1], [9, 9]])).tolist() == ["west", "east", ""]
    pts, zones = plan.sample_free_space(spacing_m=0.5, margin_m=0.3)
    assert len(pts) and set(zones) == {"west", "east"}
    assert point_segment_distance(pts, plan.walls).min() >= 0.3
    assert plan.is_free(np.array([[1.0, 1.0], [2.05, 0.5], [5, 1]]), margin_m=0.2).tolist() == [True, False, False]


def test_occupancy_raster_free_space():
    raster = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=np.uint8)
    plan = FloorPlan(
        "m",
        np.zeros((0, 2, 2)),
        raster=raster,
        pixel_to_metre=[[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]],
        meta={"raster_kind": "occupancy"},
    )
    np.testing.assert_allclose(plan.bounds, [0, 0, 3, 3])
    assert plan.is_free(np.array([[1.5, 1.5], [0.5, 0.5]])).tolist() == [True, False]
    np.testing.assert_allclose(plan.metre_to_pixel(np.array([[1.5, 1.5]])), [[1, 1]])


def test_quaternions():
    q = quat_from_yaw(np.pi / 2)
    np.testing.assert_allclose(quat_rotate(q, [1, 0, 0]), [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(quat_to_matrix(q) @ quat_to_matrix(q).T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(quat_angle_deg(quat_from_yaw(0.1), quat_from_yaw(0.4)), np.degrees(0.3))
    np.testing.assert_allclose(yaw_from_quat(quat_multiply(quat_from_yaw(0.3), quat_from_yaw(0.5))), 0.8)
    mid = quat_slerp(quat_from_yaw(0.0), quat_from_yaw(1.0), 0.25)
    assert yaw_from_quat(mid) == pytest.approx(0.25)
