"""Tests of the PDR method on synthetic IMU data built here (seeded, physically consistent).

The synthetic walker moves at constant speed ``v`` along heading ``h(t)``, bobs vertically with
acceleration ``A sin(2 pi f (t - t_walk))`` (one peak per step, ``f`` steps/s), and carries the
phone at a fixed attitude ``R_tilt`` relative to the walking frame: ``world_from_device(t) =
Rz(h(t)) R_tilt``. The accelerometer reads the specific force ``R^T (a_world + g e_z)`` and the
gyroscope ``R^T (0, 0, dh/dt)``, plus bias and white noise.
"""

from __future__ import annotations

import numpy as np
import pytest

import omniloc
from omniloc import ConfigError, DataError, Dataset, Recording, Stream
from omniloc.data.transforms import quat_from_yaw, quat_multiply, quat_normalize, quat_to_matrix, yaw_from_quat
from omniloc.methods import create, load
from omniloc.methods.pdr import PDRLocalizer

G = 9.81
K_DEFAULT = PDRLocalizer.default_conf["step_length_k"]


def quat_axis_angle(axis, angle_rad):
    axis = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    return np.concatenate([[np.cos(angle_rad / 2)], np.sin(angle_rad / 2) * axis])


def amplitude_for(step_length, k=K_DEFAULT):
    """Vertical acceleration amplitude A (m/s^2) whose Weinberg length K (2A)^(1/4) is ``step_length``."""
    return 0.5 * (step_length / k) ** 4


def synth_walk(
    *,
    still_before=2.0,
    walk=10.0,
    still_after=1.0,
    step_hz=2.0,
    step_length=0.7,
    amp=None,
    yaw0_deg=30.0,
    turn_deg=0.0,
    turn_span=None,
    tilt=(1.0, 0.0, 0.0, 0.0),
    fs=100.0,
    acc_noise=0.05,
    gyro_noise=0.005,
    gyro_bias=(0.0, 0.0, 0.0),
    start=(3.0, -2.0, 1.2),
    floor=1,
    pause=None,
    seed=0,
    name="walk",
    pose_hz=10.0,
):
    """A Recording with an ``imu`` stream and ground truth; returns (recording, info dict)."""
    rng = np.random.default_rng(seed)
    amp = amplitude_for(step_length) if amp is None else amp
    duration = still_before + walk + still_after
    t = np.arange(int(round(duration * fs)) + 1) / fs
    t_w0, t_w1 = still_before, still_before + walk
    walking = (t >= t_w0) & (t < t_w1)
    if pause is not None:  # standing still (possibly turning on the spot) inside the walk
        walking &= ~((t >= pause[0]) & (t < pause[1]))
    v = step_length * step_hz * walking  # m/s
    # heading: constant rate over turn_span (seconds, absolute) else constant
    yaw0 = np.radians(yaw0_deg)
    rate = np.zeros_like(t)
    if turn_deg:
        a, b = turn_span
        rate[(t >= a) & (t < b)] = np.radians(turn_deg) / (b - a)
    h = yaw0 + np.concatenate([[0.0], np.cumsum(0.5 * (rate[1:] + rate[:-1]) / fs)])
    # world acceleration: vertical bobbing + forward surge + centripetal
    phase = 2 * np.pi * step_hz * (t - t_w0)
    a_up = amp * np.sin(phase) * walking
    surge = 0.3 * amp * np.sin(phase + 0.7) * walking
    fwd = np.stack([np.cos(h), np.sin(h), np.zeros_like(h)], 1)
    left = np.stack([-np.sin(h), np.cos(h), np.zeros_like(h)], 1)
    a_world = surge[:, None] * fwd + (v * rate)[:, None] * left
    a_world[:, 2] += a_up
    q = quat_normalize(quat_multiply(quat_from_yaw(h), np.asarray(tilt, dtype=float)[None, :]))
    Rt = np.transpose(quat_to_matrix(q), (0, 2, 1))  # device_from_world
    f_dev = np.einsum("nij,nj->ni", Rt, a_world + np.array([0.0, 0.0, G]))
    w_dev = np.einsum("nij,nj->ni", Rt, np.stack([np.zeros_like(t), np.zeros_like(t), rate], 1))
    f_dev += rng.normal(0, acc_noise, f_dev.shape)
    w_dev += np.asarray(gyro_bias) + rng.normal(0, gyro_noise, w_dev.shape)
    # ground-truth position (trapezoidal integration of the horizontal velocity)
    vel = v[:, None] * fwd[:, :2]
    xy = np.asarray(start[:2]) + np.concatenate([np.zeros((1, 2)), np.cumsum(0.5 * (vel[1:] + vel[:-1]) / fs, 0)])
    # pose timeline at pose_hz
    idx = np.arange(0, len(t), int(round(fs / pose_hz)))
    pos = np.concatenate([xy[idx], np.full((len(idx), 1), start[2])], 1)
    rec = Recording(
        name,
        t[idx],
        position=pos,
        orientation=q[idx],
        floor=np.full(len(idx), floor),
        streams={"imu": Stream("imu", t, np.concatenate([f_dev, w_dev], 1).astype(np.float32))},
    )
    rec.validate()
    info = {
        "t": t,
        "xy": xy,
        "heading": h,
        "n_steps": int(round(walk * step_hz)),
        "end_xy": xy[-1],
        "start": np.asarray(start, dtype=float),
        "path_length": step_length * step_hz * walk,
    }
    return rec, info


def rec_xy_at(rec, t):
    """Ground-truth horizontal position of a recording at time ``t``."""
    return np.array([np.interp(t, rec.t, rec.position[:, i]) for i in range(2)])


def fitted(conf=None, train=None):
    return create("pdr", conf).fit(train)


# ---------------------------------------------------------------------------- known answers
def test_straight_walk_known_answer():
    rec, info = synth_walk(seed=1)
    loc = fitted()
    est = loc.predict(rec)
    n_steps = len(est) - 1  # first estimate is the start pose
    assert abs(n_steps - 20) <= 1
    # start pose is the ground truth at the first pose
    np.testing.assert_allclose(est.position[0], info["start"], atol=1e-9)
    # end position (at the last step): along the start heading, within a few % of the true distance
    d_true = rec_xy_at(rec, est.t[-1]) - info["start"][:2]
    d_est = est.position[-1, :2] - info["start"][:2]
    assert np.linalg.norm(d_est - d_true) < 0.04 * np.linalg.norm(d_true)
    along = d_est @ d_true / np.linalg.norm(d_true)
    assert along == pytest.approx(np.linalg.norm(d_true), rel=0.04)
    assert np.linalg.norm(d_true) > 0.9 * info["path_length"]
    # z and floor are kept from the start
    np.testing.assert_allclose(est.position[:, 2], 1.2)
    assert np.all(est.floor == 1)
    assert np.all(np.diff(est.t) > 0.3)
    np.testing.assert_allclose(np.degrees(yaw_from_quat(est.orientation)), 30.0, atol=1.0)


def test_constant_rate_turn_is_90_degrees():
    # walking, turning left by 90 deg over 4 s in the middle, with a gyro bias removed by the still start
    rec, info = synth_walk(walk=10.0, turn_deg=90.0, turn_span=(5.0, 9.0), gyro_bias=(0.01, -0.008, 0.012), seed=2)
    loc = fitted()
    tr = loc.trace(rec)
    np.testing.assert_allclose(tr.gyro_bias, [0.01, -0.008, 0.012], atol=2e-3)
    change = np.degrees(tr.heading_change[-1])
    assert change == pytest.approx(90.0, abs=2.0)
    est = loc.predict(rec)
    yaw_end = np.degrees(yaw_from_quat(est.orientation[-1]))
    assert yaw_end == pytest.approx(30.0 + 90.0, abs=2.0)
    # the last steps go along the new heading (120 deg)
    d = est.position[-1, :2] - est.position[-5, :2]
    assert np.degrees(np.arctan2(d[1], d[0])) == pytest.approx(120.0, abs=3.0)
    # the whole trajectory stays close to the truth
    assert np.linalg.norm(est.position[-1, :2] - rec_xy_at(rec, est.t[-1])) < 0.5


def test_turn_without_bias_correction_drifts():
    rec, _ = synth_walk(walk=10.0, turn_deg=90.0, turn_span=(5.0, 9.0), gyro_bias=(0.0, 0.0, 0.02), seed=2)
    on = fitted().trace(rec).heading_change[-1]
    off = fitted({"gyro_bias_window_s": 0.0}).trace(rec).heading_change[-1]
    assert np.degrees(on) == pytest.approx(90.0, abs=2.0)
    assert np.degrees(off) - 90.0 == pytest.approx(np.degrees(0.02 * 13.0), abs=2.0)  # 13 s of bias


def test_gyro_bias_from_a_pause_is_causal_and_ignores_turning_on_the_spot():
    # no still start; a 6-s pause in which the walker turns 90 deg on the spot (2 s at 45 deg/s)
    bias = (0.004, -0.006, 0.02)
    rec, info = synth_walk(
        still_before=0.3, walk=14.0, pause=(4.0, 10.0), turn_deg=90.0, turn_span=(6.5, 8.5), gyro_bias=bias, seed=16
    )
    tr = fitted().trace(rec)
    assert not tr.still[(tr.grid_t > 6.6) & (tr.grid_t < 9.4)].any()  # the turn on the spot is not still
    assert tr.still[(tr.grid_t > 5.5) & (tr.grid_t < 6.4)].all() and tr.still[tr.grid_t > 9.6].any()
    before, after = tr.gyro_bias_t[tr.grid_t < 4.0], tr.gyro_bias_t[tr.grid_t > 10.0]
    np.testing.assert_array_equal(before, 0.0)  # nothing known yet: the estimate is causal
    np.testing.assert_allclose(after, np.repeat(np.array([bias]), len(after), 0), atol=1.5e-3)
    turn = np.degrees(tr.heading_change_at(9.5) - tr.heading_change_at(5.0))
    assert turn == pytest.approx(90.0, abs=1.5)
    # without the pause's bias: 'start' has no still start, so it drifts like 'none'
    for mode in ("start", "none"):
        tr_m = fitted({"gyro_bias": mode}).trace(rec)
        np.testing.assert_array_equal(tr_m.gyro_bias_t, 0.0)
        drift = np.degrees(tr_m.heading_change_at(9.5) - tr_m.heading_change_at(5.0)) - 90.0
        assert drift == pytest.approx(np.degrees(0.02 * 4.5), abs=1.0)


def test_tilted_phone_steps_and_heading_about_gravity():
    # phone pitched 40 deg and rolled 25 deg relative to the walking frame: gravity is far from device z
    tilt = quat_multiply(quat_axis_angle([0, 1, 0], np.radians(40)), quat_axis_angle([1, 0, 0], np.radians(25)))
    assert abs(yaw_from_quat(tilt)) < 1e-9  # pure tilt: device heading = walking heading
    rec, info = synth_walk(tilt=tilt, walk=10.0, turn_deg=-90.0, turn_span=(6.0, 9.0), seed=3)
    loc = fitted()
    tr = loc.trace(rec)
    up_true = quat_to_matrix(tilt).T @ np.array([0.0, 0.0, 1.0])
    assert np.degrees(np.arccos(np.clip(tr.up[50] @ up_true, -1, 1))) < 1.0
    assert abs(len(tr.step_t) - 20) <= 1
    assert np.degrees(tr.heading_change[-1]) == pytest.approx(-90.0, abs=2.0)
    # the device z-axis gyro alone would under-read the turn: cos(40) cos(25) = 0.69
    z_only = np.sum(rec.stream("imu").values[:, 5]) / 100.0
    assert np.degrees(z_only) == pytest.approx(-90.0 * np.cos(np.radians(40)) * np.cos(np.radians(25)), abs=3.0)
    est = loc.predict(rec)
    assert np.linalg.norm(est.position[-1, :2] - rec_xy_at(rec, est.t[-1])) < 0.06 * info["path_length"]
    # orientation 'gravity' recovers the full attitude, 'yaw' only the heading
    est_g = fitted({"orientation": "gravity"}).predict(rec)
    from omniloc.data.align import truth_at
    from omniloc.data.transforms import quat_angle_deg

    gt = truth_at(rec, est_g.t)["orientation"]
    assert np.median(quat_angle_deg(est_g.orientation, gt)) < 3.0
    assert np.median(quat_angle_deg(est.orientation, gt)) > 30.0
    np.testing.assert_allclose(yaw_from_quat(est_g.orientation), yaw_from_quat(est.orientation), atol=1e-9)


def test_no_movement_no_steps():
    tilt = quat_axis_angle([1, 1, 0], np.radians(30))
    rec, info = synth_walk(still_before=5.0, walk=0.0, still_after=5.0, tilt=tilt, gyro_bias=(0.01, 0.0, -0.01), seed=4)
    loc = fitted()
    assert len(loc.trace(rec).step_t) == 0
    est = loc.predict(rec)
    assert len(est) == 1
    np.testing.assert_allclose(est.position[0], info["start"])
    for out in ("poses", 5.0):
        est = fitted({"output": out}).predict(rec)
        assert len(est) > 10
        np.testing.assert_allclose(est.position, np.repeat(info["start"][None], len(est), 0))


# ---------------------------------------------------------------------------- training
def test_fit_calibrates_step_length():
    # the true walker takes 0.9-m steps but its accelerations say 0.7 m with the default K
    amp = amplitude_for(0.7)
    train, _ = synth_walk(step_length=0.9, amp=amp, seed=5, name="train")
    test, info = synth_walk(step_length=0.9, amp=amp, seed=6, name="test", yaw0_deg=-60.0)
    ds = Dataset("train", {"train": train})
    default = fitted().predict(test)
    calib = fitted(train=ds)
    est = calib.predict(test)
    err_default = np.linalg.norm(default.position[-1, :2] - rec_xy_at(test, default.t[-1]))
    err_calib = np.linalg.norm(est.position[-1, :2] - rec_xy_at(test, est.t[-1]))
    assert err_default > 0.15 * info["path_length"]
    assert err_calib < 0.03 * info["path_length"]
    assert calib.step_length_k_ == pytest.approx(K_DEFAULT * 0.9 / 0.7, rel=0.03)
    assert calib.n_train_steps_ >= 18
    # calibration off: the default K stays
    assert fitted({"fit_step_length": False}, train=ds).step_length_k_ == K_DEFAULT
    assert create("pdr", preset="uncalibrated").fit(ds).step_length_k_ == K_DEFAULT


def test_fit_calibrates_heading_offset():
    # phone held in landscape: device x points 90 deg to the right of the walking direction
    tilt = quat_axis_angle([0, 0, 1], np.radians(-90))
    train, _ = synth_walk(tilt=tilt, seed=7, name="train")
    test, info = synth_walk(tilt=tilt, seed=8, name="test", yaw0_deg=100.0)
    loc = fitted(train=Dataset("train", {"train": train}))
    assert np.degrees(loc.heading_offset_) == pytest.approx(90.0, abs=2.0)
    est = loc.predict(test)
    assert np.linalg.norm(est.position[-1, :2] - rec_xy_at(test, est.t[-1])) < 0.04 * info["path_length"]
    # device heading is still reported as the orientation
    assert np.degrees(yaw_from_quat(est.orientation[-1])) == pytest.approx(10.0, abs=2.0)
    # and the configured offset is used without training data
    loc0 = fitted({"heading_offset_deg": 90.0})
    np.testing.assert_allclose(loc0.predict(test).position, est.position, atol=0.3)


def test_zero_training_data_uses_defaults():
    for train in (None, Dataset("empty")):
        loc = create("pdr", {"step_length_k": 0.42, "heading_offset_deg": 10.0}).fit(train)
        assert loc.step_length_k_ == 0.42
        assert loc.heading_offset_ == pytest.approx(np.radians(10.0))
        assert loc.n_train_steps_ == 0


def test_save_load_round_trip(tmp_path):
    train, _ = synth_walk(step_length=0.8, seed=9, name="train")
    test, _ = synth_walk(turn_deg=45.0, turn_span=(4.0, 7.0), seed=10, name="test")
    loc = create("pdr", {"output": 10.0}).fit(Dataset("d", {"train": train}))
    est = loc.predict(test)
    loc.save(tmp_path / "pdr")
    loc2 = load(tmp_path / "pdr")
    assert isinstance(loc2, PDRLocalizer)
    assert loc2.conf == loc.conf
    est2 = loc2.predict(test)
    for key in ("t", "position", "orientation", "floor"):
        np.testing.assert_array_equal(getattr(est2, key), getattr(est, key))
    assert loc2.step_length_k_ == loc.step_length_k_ and loc2.heading_offset_ == loc.heading_offset_


# ---------------------------------------------------------------------------- outputs and errors
def test_output_modes_and_dataset_predict():
    rec, info = synth_walk(seed=11, name="a")
    rec2, _ = synth_walk(seed=12, name="b")
    est_steps = fitted().predict(rec)
    est_poses = fitted({"output": "poses"}).predict(rec)
    np.testing.assert_array_equal(est_poses.t, rec.t)
    # between steps the position moves linearly; at step times it matches the step output
    sel = np.isin(np.round(est_poses.t, 6), np.round(est_steps.t, 6))
    j = np.searchsorted(np.round(est_steps.t, 6), np.round(est_poses.t[sel], 6))
    np.testing.assert_allclose(est_poses.position[sel], est_steps.position[j], atol=1e-6)
    err = np.linalg.norm(est_poses.position[:, :2] - rec.position[:, :2], axis=1)
    assert err.max() < 0.6
    est_rate = fitted({"output": 4.0}).predict(rec)
    np.testing.assert_allclose(np.diff(est_rate.t), 0.25)
    both = fitted().predict(Dataset("d", {"a": rec, "b": rec2}))
    assert set(both.recording) == {"a", "b"}


def test_missing_imu_stream_is_a_clear_error():
    rec, _ = synth_walk(seed=13)
    rec.streams = {"wifi": Stream("wifi", rec.t, np.full((len(rec.t), 2), -70.0, np.float32), ids=["a", "b"])}
    with pytest.raises(omniloc.DataError, match="imu"):
        fitted().predict(rec)
    with pytest.raises(DataError, match="imu"):
        fitted().fit(Dataset("d", {"walk": rec}))


def test_missing_start_pose_error_or_conf_start():
    rec, info = synth_walk(seed=14)
    bare = Recording("bare", rec.t, streams=rec.streams)
    with pytest.raises(DataError, match="start_position"):
        fitted().predict(bare)
    with pytest.raises(DataError, match="start_heading_deg"):
        fitted({"start_position": [3.0, -2.0, 1.2]}).predict(bare)
    est = fitted({"start_position": [3.0, -2.0, 1.2], "start_heading_deg": 30.0, "start_floor": 2}).predict(bare)
    ref = fitted().predict(rec)
    np.testing.assert_allclose(est.position, ref.position, atol=1e-9)
    assert np.all(est.floor == 2)


def test_start_heading_from_the_track_without_orientation_truth():
    # waypoint-only ground truth (real phone traces): the start heading is the track's direction
    rec, info = synth_walk(seed=15, yaw0_deg=30.0)
    waypoints = Recording("wp", rec.t, position=rec.position, floor=rec.floor, streams=rec.streams)
    est, ref = fitted().predict(waypoints), fitted().predict(rec)
    # walking straight at 30 degrees with the device facing forward: the same track as with the true yaw
    np.testing.assert_allclose(np.degrees(yaw_from_quat(est.orientation[0])), 30.0, atol=0.5)
    assert np.max(np.linalg.norm(est.position[:, :2] - ref.position[:, :2], axis=1)) < 0.1
    # a track that never leaves a 2 m radius gives no heading: the error names the conf key
    short = Recording("short", rec.t[:3], position=rec.position[:3], streams=rec.streams)
    with pytest.raises(DataError, match="start_heading_deg"):
        fitted().predict(short)


def test_config_errors_and_registry():
    assert PDRLocalizer.required_streams == ("imu",)
    assert isinstance(create("pdr"), PDRLocalizer)
    with pytest.raises(ConfigError):
        create("pdr", {"step_lenght_k": 0.5})
    # refused at construction (the base class calls _check_conf), before any data is touched
    with pytest.raises(ConfigError, match="gyro_bias"):
        create("pdr", {"gyro_bias": "always"})
    with pytest.raises(ConfigError, match="output"):
        create("pdr", {"output": "everywhere"})
    with pytest.raises(ConfigError, match="output"):
        create("pdr", {"output": -2.0})
    with pytest.raises(ConfigError, match="resample_hz"):
        create("pdr", {"resample_hz": 0})
    # types: 'output' is declared a mode name or a rate (an int rate is a number); a bool is neither
    assert create("pdr", {"output": 10}).conf["output"] == 10
    with pytest.raises(ConfigError, match=r"pdr conf 'output' must be a string or a number, got True \(bool\)"):
        create("pdr", {"output": True})
    with pytest.raises(ConfigError, match=r"pdr conf 'step_length_k' must be a number, got 'long' \(str\)"):
        create("pdr", {"step_length_k": "long"})
    with pytest.raises(ConfigError, match="fit_step_length' must be a bool"):
        create("pdr", {"fit_step_length": 1})
    with pytest.raises(RuntimeError, match="fit"):
        create("pdr").predict(synth_walk(seed=15)[0])
    for preset in PDRLocalizer.presets:
        create("pdr", preset=preset).fit(None)
