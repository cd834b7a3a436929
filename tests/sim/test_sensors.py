"""Sensor models: known answers and physical properties."""

import numpy as np
import pytest

from omniloc import ConfigError, FloorPlan
from omniloc.data.transforms import quat_from_yaw
from omniloc.sim import (
    DEVICE_PROFILES,
    device_profile,
    imu_from_trajectory,
    magnetic_field,
    make_magnetic_model,
    maze_floor_plan,
    office_building,
    orientation_from_euler,
    place_access_points,
    simulate_imu,
    simulate_magnetometer,
    simulate_patch,
    simulate_wifi,
    topdown_patch,
    wifi_rss_mean,
)
from omniloc.sim._fields import make_fourier_field
from omniloc.sim.sensors import AccessPoints, gait_vertical_accel

NO_SHADOW = {"shadowing_db": 0.0}


def open_plan(walls=()):
    """A 40 x 40 m floor with the given wall segments (and no zones)."""
    return FloorPlan("open", np.array(walls, dtype=float).reshape(-1, 2, 2), bounds=np.array([0, 0, 40, 40.0]))


def one_ap(x=5.0, y=20.0, p0=-40.0, seed=0):
    field = make_fourier_field(np.random.default_rng(seed), 1, 3, 3.0, 1.0)
    return AccessPoints(np.array(["02:00:00:00:00:00"]), np.array([[x, y, 2.5]]), np.array([0]), np.array([p0]), field)


# ------------------------------------------------------------------------------------------ IMU
def test_imu_at_rest_reads_gravity():
    t = np.arange(200) * 0.01
    pos = np.tile([3.0, 4.0, 1.3], (200, 1))
    q = quat_from_yaw(np.full(200, 0.7))
    imu = imu_from_trajectory(t, pos, q)
    np.testing.assert_allclose(imu[:, :3], np.tile([0, 0, 9.81], (200, 1)), atol=1e-9)
    np.testing.assert_allclose(imu[:, 3:], 0.0, atol=1e-12)
    # an ideal device adds nothing, a real one adds bias and noise
    s = simulate_imu(t, pos, q, np.random.default_rng(0), device="ideal")
    assert s.kind == "imu" and s.values.shape == (200, 6) and s.values.dtype == np.float32
    np.testing.assert_allclose(s.values, imu, atol=1e-5)
    noisy = simulate_imu(t, pos, q, np.random.default_rng(0), device="phone-a").values
    assert 0.02 < np.std(noisy[:, 2]) < 0.2
    s.validate("imu")


def test_imu_tilted_device_sees_gravity_in_its_frame():
    t = np.arange(50) * 0.01
    pitch = np.radians(30.0)
    q = orientation_from_euler(np.zeros(50), np.full(50, pitch))
    acc = imu_from_trajectory(t, np.zeros((50, 3)), q)[:, :3]
    # R^T g: pitch about +y by +30 deg tips the x axis down -> reads -g sin(pitch) on x
    np.testing.assert_allclose(acc[10], [-9.81 * np.sin(pitch), 0, 9.81 * np.cos(pitch)], atol=1e-9)


def test_imu_constant_rate_turn_and_linear_acceleration():
    t = np.arange(300) * 0.01
    rate = 0.8  # rad/s, counter-clockwise
    q = quat_from_yaw(rate * t)
    imu = imu_from_trajectory(t, np.zeros((300, 3)), q)
    np.testing.assert_allclose(imu[:, 5], rate, atol=1e-9)
    np.testing.assert_allclose(imu[:, 3:5], 0.0, atol=1e-9)
    # constant world acceleration along +x, device facing +y: reads -a on device y (y is left)
    a = 0.5
    pos = np.c_[0.5 * a * t**2, np.zeros(300), np.zeros(300)]
    q = quat_from_yaw(np.full(300, np.pi / 2))
    imu = imu_from_trajectory(t, pos, q, {"step_accel_ratio": [0, 0, 0]})
    np.testing.assert_allclose(imu[5:-5, :3], np.tile([0, -a, 9.81], (290, 1)), atol=1e-6)


def test_imu_gait_oscillation_only_while_walking():
    t = np.arange(400) * 0.01
    x = np.where(t < 2, 0.0, 1.2 * (t - 2))  # rest, then walk at 1.2 m/s (jump in speed at t=2)
    pos = np.c_[x, np.zeros(400), np.full(400, 1.3)]
    imu = imu_from_trajectory(t, pos, quat_from_yaw(np.zeros(400)))
    rest, walk = imu[:150, 2], imu[250:, 2]
    np.testing.assert_allclose(rest, 9.81, atol=1e-9)
    # inverted pendulum, leg 0.9 m: f = 1.8 Hz, L = 0.667 m, rise 0.0640 m -> (2 pi 1.8)^2 * 0.0320 = 4.09 m/s^2
    expected = gait_vertical_accel(np.array([1.2]))[0]
    assert expected == pytest.approx(4.093, abs=0.005)
    assert abs(walk.max() - 9.81 - expected) < 0.1 and abs(9.81 - walk.min() - expected) < 0.1
    # step frequency 0.9 + 0.75 v = 1.8 Hz
    spec = np.abs(np.fft.rfft(walk - walk.mean(), 4096))
    f = np.fft.rfftfreq(4096, 0.01)
    assert abs(f[spec.argmax()] - 1.8) < 0.05


# ------------------------------------------------------------------------------------------ WiFi
def test_wifi_rss_decreases_with_distance_in_free_space():
    plan = open_plan()
    ap = one_ap()
    x = np.linspace(6.0, 38.0, 50)
    pos = np.c_[x, np.full(50, 20.0), np.full(50, 1.3)]
    rss = wifi_rss_mean(ap, [plan], pos, np.zeros(50, int), NO_SHADOW)[:, 0]
    assert np.all(np.diff(rss) < 0)
    d = np.linalg.norm(pos - ap.position[0], axis=1)
    np.testing.assert_allclose(rss, -40.0 - 20.0 * np.log10(d))  # P0 - 10 n log10(d), n = 2


def test_wifi_wall_and_floor_attenuation():
    ap = one_ap()
    pos = np.array([[15.0, 20.0, 1.3], [15.0, 21.0, 1.3]])
    free = wifi_rss_mean(ap, [open_plan()], pos, [0, 0], NO_SHADOW)[:, 0]
    walled = wifi_rss_mean(
        ap, [open_plan([[[10, 0], [10, 40]], [[12, 0], [12, 40]]])], pos, [0, 0], {"wall_db": 4.0, **NO_SHADOW}
    )[:, 0]
    np.testing.assert_allclose(free - walled, 8.0)  # two walls x 4 dB
    # a wall not on the line of sight changes nothing
    aside = wifi_rss_mean(ap, [open_plan([[[30, 0], [30, 40]]])], pos, [0, 0], NO_SHADOW)[:, 0]
    np.testing.assert_allclose(aside, free)
    # one floor up (same x, y and 3-D distance): floor_db lower
    ap1 = AccessPoints(ap.ids, ap.position + [0, 0, 3.5], np.array([1]), ap.p0_dbm, ap.shadowing)
    up = wifi_rss_mean(ap1, [open_plan()], pos + [0, 0, 3.5], [0, 0], {"floor_db": 15.0, **NO_SHADOW})[:, 0]
    np.testing.assert_allclose(free - up, 15.0)


def test_wifi_sensitivity_noise_and_device_profile():
    plan = open_plan()
    ap = one_ap(x=1.0, y=1.0)
    t = np.arange(400) * 0.1
    pos = np.c_[np.linspace(2, 39, 400), np.linspace(2, 39, 400), np.full(400, 1.3)]
    floor = np.zeros(400, int)
    scans = t[::4]
    quiet = {"noise_db": 0.0, "quantize_db": 0.0, "sensitivity_dbm": -70.0}
    ref = simulate_wifi(ap, [plan], t, pos, floor, np.random.default_rng(0), quiet, "ideal", scan_times=scans)
    ref.validate("wifi")
    assert ref.kind == "wifi" and ref.values.dtype == np.float32 and ref.ids.tolist() == ["02:00:00:00:00:00"]
    mean = wifi_rss_mean(ap, [plan], pos[::4], floor[::4])[:, 0]
    heard = mean >= -70.0
    assert heard.any() and (~heard).any()
    np.testing.assert_allclose(ref.values[heard, 0], mean[heard], atol=1e-4)
    assert np.all(np.isnan(ref.values[~heard, 0]))  # NaN below sensitivity
    # device response: gain * rss + offset
    dev = {"rss_gain": 0.9, "rss_offset_db": -4.0, "noise_scale": 0.0}
    b = simulate_wifi(
        ap, [plan], t, pos, floor, np.random.default_rng(0), dict(quiet, sensitivity_dbm=-200.0), dev, scan_times=scans
    )
    np.testing.assert_allclose(b.values[:, 0], 0.9 * mean - 4.0, atol=1e-4)
    phone_b = DEVICE_PROFILES["phone-b"]
    c = simulate_wifi(
        ap,
        [plan],
        t,
        pos,
        floor,
        np.random.default_rng(0),
        dict(quiet, sensitivity_dbm=-200.0),
        dict(phone_b, noise_scale=0.0),
        scan_times=scans,
    )
    np.testing.assert_allclose(c.values[:, 0], phone_b["rss_gain"] * mean + phone_b["rss_offset_db"], atol=1e-4)
    # noise: per-scan Gaussian around the mean, integer dBm by default
    d = simulate_wifi(
        ap, [plan], t, pos, floor, np.random.default_rng(1), {"sensitivity_dbm": -200.0}, "phone-a", scan_times=scans
    )
    resid = d.values[:, 0] - mean
    assert 1.5 < resid.std() < 2.6 and abs(resid.mean()) < 0.5
    np.testing.assert_array_equal(d.values, np.round(d.values))
    # default scan times: every 1-4 s
    e = simulate_wifi(ap, [plan], t, pos, floor, np.random.default_rng(2))
    gaps = np.diff(e.t)
    assert len(e) >= 8 and gaps.min() >= 1.0 and gaps.max() <= 4.0 and e.t[0] >= t[0] and e.t[-1] <= t[-1]


def test_wifi_shadowing_is_fixed_in_space():
    plan = open_plan()
    ap = one_ap(seed=3)
    rng = np.random.default_rng(0)
    pos = np.c_[rng.uniform(8, 38, 500), rng.uniform(2, 38, 500), np.full(500, 1.3)]
    a = wifi_rss_mean(ap, [plan], pos, np.zeros(500, int))[:, 0]
    b = wifi_rss_mean(ap, [plan], pos[::-1], np.zeros(500, int))[::-1, 0]
    np.testing.assert_array_equal(a, b)  # same place, same value
    shadow = a - wifi_rss_mean(ap, [plan], pos, np.zeros(500, int), NO_SHADOW)[:, 0]
    assert 2.5 < shadow.std() < 6.0  # about shadowing_db
    # smooth: 5 cm apart is nearly the same, 20 m apart is not correlated
    near = wifi_rss_mean(ap, [plan], pos + [0.05, 0, 0], np.zeros(500, int))[:, 0] - a
    assert np.abs(near).max() < 1.0
    # two noisy visits of the same place agree on average
    t = np.arange(200.0)
    still = np.tile(pos[0], (200, 1))
    v1 = simulate_wifi(ap, [plan], t, still, np.zeros(200, int), np.random.default_rng(1), scan_times=t)
    v2 = simulate_wifi(ap, [plan], t, still, np.zeros(200, int), np.random.default_rng(2), scan_times=t)
    assert abs(np.nanmean(v1.values) - np.nanmean(v2.values)) < 0.6
    assert abs(np.nanmean(v1.values) - a[0]) < 0.6


def test_place_access_points():
    plans = office_building(2, seed=0)
    aps = place_access_points(plans, np.random.default_rng(0), {"aps_per_floor": 5})
    assert len(aps) == 10 and aps.floor.tolist() == [0] * 5 + [1] * 5
    assert len(set(aps.ids.tolist())) == 10 and all(len(i) == 17 for i in aps.ids)
    np.testing.assert_allclose(aps.position[:, 2], np.repeat([2.5, 6.0], 5))
    for p in plans:
        assert p.is_free(aps.position[aps.floor == p.floor, :2]).all()
    json = aps.to_json()
    assert set(json) == {"ids", "position", "floor", "p0_dbm"}


# ------------------------------------------------------------------------------------------ magnetometer
def test_magnetometer_field_and_rotation():
    plans = office_building(1, seed=0)
    model = make_magnetic_model(plans, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    pos = np.c_[rng.uniform(0.5, 39.5, 2000), rng.uniform(0.5, 19.5, 2000), np.full(2000, 1.3)]
    b = magnetic_field(model, pos, np.zeros(2000, int))
    norm = np.linalg.norm(b, axis=1)
    assert abs(np.median(norm) - 45.0) < 5.0 and norm.min() > 15 and norm.max() < 85
    assert 2.0 < np.std(b[:, 0]) < 15.0  # anomalies are there
    # without anomalies: the earth field, 45 uT at 60 deg inclination, pointing north and down
    flat = make_magnetic_model(plans, np.random.default_rng(0), {"anomaly_ut": 0.0, "wall_anomaly_ut": 0.0})
    b0 = magnetic_field(flat, pos[:3], np.zeros(3, int))
    np.testing.assert_allclose(b0, np.tile([0, 22.5, -45 * np.sin(np.radians(60))], (3, 1)), atol=1e-9)
    # same place, same field
    np.testing.assert_array_equal(magnetic_field(model, pos[:5], np.zeros(5, int)), b[:5])
    # device frame: facing north (yaw 90 deg) the horizontal field is along device +x
    t = np.arange(10) * 0.02
    q = quat_from_yaw(np.full(10, np.pi / 2))
    s = simulate_magnetometer(
        flat, t, np.tile(pos[0], (10, 1)), q, np.zeros(10, int), rng, device="ideal", sample_times=t
    )
    np.testing.assert_allclose(s.values, np.tile([22.5, 0, -38.97114], (10, 1)), atol=1e-4)
    s.validate("magnetometer")
    biased = simulate_magnetometer(
        flat,
        t,
        np.tile(pos[0], (10, 1)),
        q,
        None,
        rng,
        device={"noise_scale": 0.0, "mag_bias_ut": [1.0, 2.0, 3.0]},
        sample_times=t,
    )
    np.testing.assert_allclose(biased.values - s.values, np.tile([1, 2, 3], (10, 1)), atol=1e-4)
    # default rate
    s50 = simulate_magnetometer(
        model, np.arange(101) * 0.01, np.tile(pos[0], (101, 1)), quat_from_yaw(np.zeros(101)), np.zeros(101, int), rng
    )
    assert len(s50) == 51 and abs(s50.rate_hz - 50.0) < 1e-6


# ------------------------------------------------------------------------------------------ patches, devices
def test_topdown_patch():
    plan = maze_floor_plan(24, 0)
    rr, cc = np.array([1, 5, 11, 21]), np.array([1, 7, 3, 21])
    pos = np.c_[cc + 0.5, rr + 0.5, np.full(4, 1.3)]
    p = topdown_patch(plan, pos, 7)
    assert p.shape == (4, 7, 7) and p.dtype == np.float32
    big = np.pad(plan.raster, 3, constant_values=1)
    for k, (r, c) in enumerate(zip(rr, cc)):
        np.testing.assert_array_equal(p[k], big[r : r + 7, c : c + 7])  # centred window, outside = wall
    assert np.all(p[:, 3, 3] == 0)  # the agent stands on a free cell
    # between pixel centres: bilinear blend of the two neighbours
    half = topdown_patch(plan, pos[:1] + [0.5, 0, 0], 7)
    np.testing.assert_allclose(half[0], 0.5 * (big[1:8, 1:8] + big[1:8, 2:9]))
    s = simulate_patch(plan, np.arange(4.0), pos, {"size_px": 5})
    assert s.kind == "image" and s.values.shape == (4, 5, 5)
    s.validate("patch")


def test_device_profiles():
    assert {"ideal", "phone-a", "phone-b", "phone-c", "tablet-a"} <= set(DEVICE_PROFILES)
    for name in DEVICE_PROFILES:
        p = device_profile(name)
        assert p["name"] == name and set(p) == {
            "name",
            "rss_gain",
            "rss_offset_db",
            "noise_scale",
            "imu_bias_scale",
            "mag_bias_ut",
        }
    custom = device_profile({"rss_offset_db": 2.0, "name": "mine"})
    assert custom["rss_offset_db"] == 2.0 and custom["rss_gain"] == 1.0 and custom["name"] == "mine"
    with pytest.raises(ConfigError):
        device_profile("phone-z")
    with pytest.raises(ConfigError):
        device_profile({"rss_ofset_db": 2.0})
    # profiles are not mutated by use
    before = {k: dict(v) for k, v in DEVICE_PROFILES.items()}
    device_profile("phone-b")["rss_gain"] = 5.0
    assert DEVICE_PROFILES == before
