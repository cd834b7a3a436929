"""Sensor models: WiFi RSS, magnetometer, IMU, top-down patches, RGB-D camera; device profiles.

Every model is a plain vectorised function of a trajectory (times ``t`` (N,) seconds,
``position`` (N, 3) metres in the building frame, ``orientation`` (N, 4) ``world_from_device``
quaternions w, x, y, z, ``floor`` (N,)), the fixed world (floor plans, access points, magnetic
model) and a seeded ``numpy.random.Generator`` for the noise. The noise-free part of every
model is a deterministic function of the place, so a place revisited reads the same up to noise.

Device frame: x forward, y left, z up. World frame: x east, y north, z up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data import FloorPlan, Stream, count_wall_crossings, point_segment_distance
from ..data.transforms import quat_conjugate, quat_multiply, quat_normalize, quat_slerp, quat_to_matrix, yaw_from_quat
from ._conf import merge_conf
from ._fields import FourierField, make_fourier_field
from .trajectories import gait

__all__ = [
    "DEVICE_PROFILES",
    "device_profile",
    "WIFI_DEFAULTS",
    "MAGNETOMETER_DEFAULTS",
    "IMU_DEFAULTS",
    "CAMERA_DEFAULTS",
    "PATCH_DEFAULTS",
    "AccessPoints",
    "place_access_points",
    "wifi_rss_mean",
    "wifi_scan_times",
    "simulate_wifi",
    "MagneticModel",
    "make_magnetic_model",
    "magnetic_field",
    "simulate_magnetometer",
    "imu_from_trajectory",
    "simulate_imu",
    "topdown_patch",
    "simulate_patch",
    "simulate_camera",
    "interpolate_trajectory",
]

# ============================================================================ devices
#: Named device profiles. Keys of a profile:
#:
#: * ``rss_gain``, ``rss_offset_db``: the device reports ``gain * rss + offset`` dBm for a signal of
#:   ``rss`` dBm at the antenna (before the sensitivity cut and the quantisation);
#: * ``noise_scale``: multiplies the white noise of every sensor (WiFi, IMU, magnetometer);
#: * ``imu_bias_scale``: multiplies the standard deviation of the per-recording IMU biases;
#: * ``mag_bias_ut``: (3,) hard-iron offset of the magnetometer, device frame, microtesla.
#:
#: ``"ideal"`` is noise- and bias-free (for tests and known-answer checks).
DEVICE_PROFILES: dict[str, dict] = {
    "ideal": {
        "rss_gain": 1.0,
        "rss_offset_db": 0.0,
        "noise_scale": 0.0,
        "imu_bias_scale": 0.0,
        "mag_bias_ut": [0.0, 0.0, 0.0],
    },
    "phone-a": {
        "rss_gain": 1.0,
        "rss_offset_db": 0.0,
        "noise_scale": 1.0,
        "imu_bias_scale": 1.0,
        "mag_bias_ut": [0.0, 0.0, 0.0],
    },
    "phone-b": {
        "rss_gain": 0.92,
        "rss_offset_db": -5.0,
        "noise_scale": 1.3,
        "imu_bias_scale": 1.5,
        "mag_bias_ut": [3.0, -2.0, 1.5],
    },
    "phone-c": {
        "rss_gain": 1.06,
        "rss_offset_db": 3.0,
        "noise_scale": 0.8,
        "imu_bias_scale": 0.7,
        "mag_bias_ut": [-4.0, 1.0, -2.0],
    },
    "tablet-a": {
        "rss_gain": 0.85,
        "rss_offset_db": -8.0,
        "noise_scale": 1.6,
        "imu_bias_scale": 2.0,
        "mag_bias_ut": [6.0, 4.0, -3.0],
    },
}


def device_profile(device: str | dict | None) -> dict:
    """A device profile by name (see :data:`DEVICE_PROFILES`), or a dict merged over ``"phone-a"``."""
    from .._errors import ConfigError

    if device is None:
        return dict(DEVICE_PROFILES["phone-a"], name="phone-a")
    if isinstance(device, dict):
        return dict(
            merge_conf(
                DEVICE_PROFILES["phone-a"], {k: v for k, v in device.items() if k != "name"}, where="device profile"
            ),
            name=str(device.get("name", "custom")),
        )
    if device not in DEVICE_PROFILES:
        raise ConfigError(f"unknown device profile {device!r}; known: {sorted(DEVICE_PROFILES)}")
    return dict(DEVICE_PROFILES[device], name=device)


# ============================================================================ helpers
def interpolate_trajectory(
    t: np.ndarray,
    position: np.ndarray,
    t_query: np.ndarray,
    orientation: np.ndarray | None = None,
    floor: np.ndarray | None = None,
) -> dict:
    """Pose at arbitrary times: position linear, orientation slerp, floor nearest.

    Parameters
    ----------
    t : (N,) seconds, increasing
    position : (N, 3) metres
    t_query : (M,) seconds (clipped into ``[t[0], t[-1]]``)
    orientation : (N, 4), optional
    floor : (N,) int, optional

    Returns
    -------
    dict with ``position`` (M, 3) and, when given, ``orientation`` (M, 4) and ``floor`` (M,).
    """
    t = np.asarray(t, dtype=np.float64)
    tq = np.clip(np.asarray(t_query, dtype=np.float64), t[0], t[-1])
    j = np.clip(np.searchsorted(t, tq, side="right"), 1, max(len(t) - 1, 1))
    if len(t) > 1:
        u = np.clip((tq - t[j - 1]) / np.maximum(t[j] - t[j - 1], 1e-12), 0.0, 1.0)
    else:
        j, u = np.ones(len(tq), dtype=int), np.zeros(len(tq))
    i0, i1 = j - 1, np.minimum(j, len(t) - 1)
    pos = np.asarray(position, dtype=np.float64)
    out = {"position": pos[i0] * (1 - u[:, None]) + pos[i1] * u[:, None]}
    if orientation is not None:
        q = np.asarray(orientation, dtype=np.float64)
        out["orientation"] = quat_slerp(q[i0], q[i1], u)
    if floor is not None:
        out["floor"] = np.asarray(floor)[np.where(u < 0.5, i0, i1)]
    return out


def _rate_times(t: np.ndarray, rate_hz: float) -> np.ndarray:
    t = np.asarray(t, dtype=np.float64)
    n = int(np.floor((t[-1] - t[0]) * rate_hz + 1e-9)) + 1
    return t[0] + np.arange(n) / float(rate_hz)


def _plans_by_floor(floor_plans) -> dict[int, FloorPlan]:
    if isinstance(floor_plans, FloorPlan):
        return {int(floor_plans.floor): floor_plans}
    if isinstance(floor_plans, dict):
        floor_plans = list(floor_plans.values())
    return {int(p.floor): p for p in floor_plans}


# ============================================================================ WiFi
#: Documented defaults of the WiFi model (:func:`place_access_points`, :func:`wifi_rss_mean`,
#: :func:`simulate_wifi`).
WIFI_DEFAULTS: dict = {
    "aps_per_floor": 8,  # access points per floor, on a jittered grid over the floor
    "ap_height_m": 2.5,  # AP height above its floor
    "p0_dbm": [-40.0, -34.0],  # RSS at 1 m, drawn per AP in this range
    "path_loss_exponent": 2.0,  # n in P0 - 10 n log10(d / 1 m)
    "wall_db": 4.0,  # attenuation per wall crossed (walls of the receiver's floor)
    "floor_db": 15.0,  # attenuation per floor between AP and receiver
    "shadowing_db": 4.0,  # std of the spatially fixed shadowing field per AP (applied when evaluated)
    "shadowing_length_m": 3.0,  # correlation length of the shadowing field (fixed when the APs are placed)
    "n_features": 48,  # random Fourier features per shadowing field (fixed when the APs are placed)
    "noise_db": 2.0,  # per-scan Gaussian noise (times the device noise_scale)
    "sensitivity_dbm": -95.0,  # readings below are not reported (NaN)
    "quantize_db": 1.0,  # reported values are rounded to this step (0 = no rounding)
    "scan_interval_s": [1.0, 4.0],  # time between scans, drawn per scan
}


@dataclass
class AccessPoints:
    """The WiFi access points of a building and their fixed shadowing fields.

    Parameters
    ----------
    ids : (A,) str
        Locally administered MAC addresses ``"02:00:00:BB:HH:LL"`` (``BB`` building, ``HHLL`` index).
    position : (A, 3) metres
    floor : (A,) int
    p0_dbm : (A,) dBm at 1 m
    shadowing : FourierField
        ``A`` smooth unit-variance fields over 3-D space; the RSS gets ``shadowing_db`` times them.
    """

    ids: np.ndarray
    position: np.ndarray
    floor: np.ndarray
    p0_dbm: np.ndarray
    shadowing: FourierField

    def __len__(self) -> int:
        return len(self.ids)

    def to_json(self) -> dict:
        """Ids, positions, floors and P0 (JSON-serialisable; the shadowing field is not included)."""
        return {
            "ids": self.ids.tolist(),
            "position": np.round(self.position, 4).tolist(),
            "floor": self.floor.astype(int).tolist(),
            "p0_dbm": np.round(self.p0_dbm, 3).tolist(),
        }


def place_access_points(floor_plans, rng: np.random.Generator, conf: dict | None = None) -> AccessPoints:
    """Access points on every floor: a jittered grid over the floor, each AP moved to the nearest
    walkable point (0.2 m from walls), at ``ap_height_m`` above the floor.

    Parameters
    ----------
    floor_plans : FloorPlan or list of FloorPlan
    rng : numpy Generator
    conf : dict, optional
        Merged over :data:`WIFI_DEFAULTS`.
    """
    c = merge_conf(WIFI_DEFAULTS, conf, where="wifi conf")
    plans = _plans_by_floor(floor_plans)
    pos, flo = [], []
    n = int(c["aps_per_floor"])
    for f in sorted(plans):
        plan = plans[f]
        x0, y0, x1, y1 = plan.bounds
        w, h = x1 - x0, y1 - y0
        nx = max(1, int(round(np.sqrt(n * w / h))))
        ny = int(np.ceil(n / nx))
        cells = rng.permutation(nx * ny)[:n]
        cx, cy = cells % nx, cells // nx
        xy = np.c_[x0 + (cx + rng.uniform(0.2, 0.8, n)) * w / nx, y0 + (cy + rng.uniform(0.2, 0.8, n)) * h / ny]
        cand, _ = plan.sample_free_space(spacing_m=0.25, margin_m=0.2)
        if len(cand):
            d = np.linalg.norm(xy[:, None] - cand[None], axis=-1)
            xy = cand[d.argmin(axis=1)]
        pos.append(np.c_[xy, np.full(n, plan.elevation_m + c["ap_height_m"])])
        flo.append(np.full(n, f))
    position = np.concatenate(pos)
    floor = np.concatenate(flo).astype(np.int64)
    building = int(next(iter(plans.values())).building)
    ids = np.array([f"02:00:00:{building & 255:02x}:{(i >> 8) & 255:02x}:{i & 255:02x}" for i in range(len(floor))])
    p0 = rng.uniform(*c["p0_dbm"], size=len(floor))
    shadow = make_fourier_field(rng, len(floor), 3, c["shadowing_length_m"], 1.0, c["n_features"])
    return AccessPoints(ids, position, floor, p0, shadow)


def wifi_rss_mean(
    access_points: AccessPoints,
    floor_plans,
    position: np.ndarray,
    floor: np.ndarray,
    conf: dict | None = None,
    chunk_pairs: int = 4096,
) -> np.ndarray:
    """Noise-free received signal strength of every AP at every position (reference device).

    ``RSS = P0 - 10 n log10(max(d, 1 m) / 1 m) - wall_db * walls - floor_db * |floor_AP - floor| +
    shadowing_db * S_AP(position)``, with ``d`` the 3-D distance, ``S_AP`` the AP's unit-variance
    smooth random field (fixed in space) and ``walls`` the number of walls of the
    receiver's floor plan crossed by the straight line between AP and receiver in the plane
    (:func:`omniloc.data.count_wall_crossings`).

    Parameters
    ----------
    access_points : AccessPoints
    floor_plans : FloorPlan or list of FloorPlan
    position : (M, 3) metres
    floor : (M,) int
    conf : dict, optional
        Merged over :data:`WIFI_DEFAULTS` (``path_loss_exponent``, ``wall_db``, ``floor_db``,
        ``shadowing_db``).
    chunk_pairs : int
        (position, AP) pairs per wall-crossing batch (bounds memory).

    Returns
    -------
    (M, A) float64 dBm
    """
    c = merge_conf(WIFI_DEFAULTS, conf, where="wifi conf")
    plans = _plans_by_floor(floor_plans)
    pos = np.asarray(position, dtype=np.float64).reshape(-1, 3)
    floor = np.asarray(floor).reshape(-1).astype(np.int64)
    aps = access_points
    d = np.linalg.norm(pos[:, None, :] - aps.position[None], axis=-1)
    rss = aps.p0_dbm[None] - 10.0 * c["path_loss_exponent"] * np.log10(np.maximum(d, 1.0))
    rss -= c["floor_db"] * np.abs(floor[:, None] - aps.floor[None])
    if c["wall_db"]:
        walls = np.zeros(rss.shape)
        for f in np.unique(floor):
            plan = plans.get(int(f))
            if plan is None or len(plan.walls) == 0:
                continue
            rows = np.flatnonzero(floor == f)
            a_idx = np.tile(np.arange(len(aps)), len(rows))
            r_idx = np.repeat(rows, len(aps))
            for s in range(0, len(r_idx), chunk_pairs):
                ri, ai = r_idx[s : s + chunk_pairs], a_idx[s : s + chunk_pairs]
                walls[ri, ai] = count_wall_crossings(aps.position[ai, :2], pos[ri, :2], plan.walls)
        rss -= c["wall_db"] * walls
    if c["shadowing_db"]:
        rss += c["shadowing_db"] * aps.shadowing(pos)
    return rss


def wifi_scan_times(t_start: float, t_end: float, rng: np.random.Generator, interval_s=(1.0, 4.0)) -> np.ndarray:
    """Scan times in ``[t_start, t_end]``: the first within one minimum interval of the start,
    then one every ``U(interval_s)`` seconds."""
    lo, hi = float(interval_s[0]), float(interval_s[1])
    n_max = int(np.ceil((t_end - t_start) / max(lo, 1e-3))) + 2
    t = t_start + rng.uniform(0, lo) + np.concatenate([[0.0], np.cumsum(rng.uniform(lo, hi, n_max))])
    return t[t <= t_end]


def simulate_wifi(
    access_points: AccessPoints,
    floor_plans,
    t: np.ndarray,
    position: np.ndarray,
    floor: np.ndarray,
    rng: np.random.Generator,
    conf: dict | None = None,
    device: str | dict | None = None,
    scan_times: np.ndarray | None = None,
) -> Stream:
    """WiFi scans along a trajectory.

    At each scan time the noise-free RSS (:func:`wifi_rss_mean`) gets Gaussian noise
    (``noise_db * noise_scale``), the device response ``gain * rss + offset``, rounding to
    ``quantize_db`` and the sensitivity cut (below ``sensitivity_dbm`` -> NaN).

    Parameters
    ----------
    access_points : AccessPoints
    floor_plans : FloorPlan or list of FloorPlan
    t : (N,) seconds; position : (N, 3) metres; floor : (N,) int
        The pose timeline.
    rng : numpy Generator
    conf : dict, optional
        Merged over :data:`WIFI_DEFAULTS`.
    device : str or dict, optional
        Device profile (:data:`DEVICE_PROFILES`), default ``"phone-a"``.
    scan_times : (M,) seconds, optional
        Default: :func:`wifi_scan_times` with ``scan_interval_s``.

    Returns
    -------
    Stream
        kind ``wifi``, values (M, A) float32 dBm (NaN = not heard), ids the AP MACs, meta with the
        device and the model parameters.
    """
    c = merge_conf(WIFI_DEFAULTS, conf, where="wifi conf")
    dev = device_profile(device)
    t = np.asarray(t, dtype=np.float64)
    if scan_times is None:
        scan_times = wifi_scan_times(t[0], t[-1], rng, c["scan_interval_s"])
    scan_times = np.asarray(scan_times, dtype=np.float64)
    pose = interpolate_trajectory(t, position, scan_times, floor=floor)
    rss = wifi_rss_mean(access_points, floor_plans, pose["position"], pose["floor"], c)
    if c["noise_db"] * dev["noise_scale"] > 0:
        rss = rss + rng.normal(0.0, c["noise_db"] * dev["noise_scale"], rss.shape)
    rss = dev["rss_gain"] * rss + dev["rss_offset_db"]
    if c["quantize_db"]:
        rss = np.round(rss / c["quantize_db"]) * c["quantize_db"]
    rss[rss < c["sensitivity_dbm"]] = np.nan
    return Stream(
        "wifi",
        scan_times,
        rss.astype(np.float32),
        ids=access_points.ids.copy(),
        meta={
            "device": dev["name"],
            "unit": "dBm",
            "sensitivity_dbm": float(c["sensitivity_dbm"]),
            "model": "log-distance + walls + floors + shadowing",
        },
    )


# ============================================================================ magnetometer
#: Documented defaults of the magnetic model and the magnetometer.
MAGNETOMETER_DEFAULTS: dict = {
    "rate_hz": 50.0,  # sample rate
    "earth_field_ut": 45.0,  # magnitude of the geomagnetic field
    "inclination_deg": 60.0,  # dip below the horizontal (northern hemisphere: pointing down)
    "declination_deg": 0.0,  # horizontal angle east of (building) north
    "anomaly_ut": 5.0,  # std per component of the building's smooth anomaly field
    "anomaly_length_m": 1.5,  # its correlation length
    "wall_anomaly_ut": 8.0,  # std of an extra short-range anomaly near walls (steel in walls)
    "wall_length_m": 0.5,  # its correlation length
    "wall_decay_m": 0.6,  # it decays as exp(-distance to the nearest wall / wall_decay_m)
    "n_features": 64,  # random Fourier features per field
    "noise_ut": 0.4,  # white noise per component (times the device noise_scale)
}


@dataclass
class MagneticModel:
    """The magnetic field of a building: geomagnetic field plus anomalies fixed in space.

    The anomalies are gradients of smooth random scalar potentials (curl-free, like a static
    field in free space): a building-wide field and a short-range field near walls.

    Parameters
    ----------
    earth_field_ut : (3,) microtesla, world frame
    anomaly : FourierField
        Scalar potential (1 field over 3-D space) whose negative gradient is the anomaly.
    wall_anomaly : FourierField
    wall_decay_m : float
    walls : dict[int, (W, 2, 2)]
        Walls per floor (for the near-wall anomaly).
    """

    earth_field_ut: np.ndarray
    anomaly: FourierField
    wall_anomaly: FourierField
    wall_decay_m: float
    walls: dict

    def to_json(self) -> dict:
        return {"earth_field_ut": np.round(self.earth_field_ut, 4).tolist(), "wall_decay_m": self.wall_decay_m}


def make_magnetic_model(floor_plans, rng: np.random.Generator, conf: dict | None = None) -> MagneticModel:
    """Draw a building's magnetic field (see :class:`MagneticModel`).

    Parameters
    ----------
    floor_plans : FloorPlan or list of FloorPlan
    rng : numpy Generator
    conf : dict, optional
        Merged over :data:`MAGNETOMETER_DEFAULTS`.
    """
    c = merge_conf(MAGNETOMETER_DEFAULTS, conf, where="magnetometer conf")
    inc, dec = np.radians(c["inclination_deg"]), np.radians(c["declination_deg"])
    earth = c["earth_field_ut"] * np.array([np.cos(inc) * np.sin(dec), np.cos(inc) * np.cos(dec), -np.sin(inc)])
    # a potential of std s and length l has gradient components of std s / l
    anomaly = make_fourier_field(
        rng, 1, 3, c["anomaly_length_m"], c["anomaly_ut"] * c["anomaly_length_m"], c["n_features"]
    )
    wall = make_fourier_field(rng, 1, 3, c["wall_length_m"], c["wall_anomaly_ut"] * c["wall_length_m"], c["n_features"])
    walls = {f: p.walls for f, p in _plans_by_floor(floor_plans).items()}
    return MagneticModel(earth, anomaly, wall, float(c["wall_decay_m"]), walls)


def magnetic_field(model: MagneticModel, position: np.ndarray, floor: np.ndarray | None = None) -> np.ndarray:
    """Magnetic field in the world frame at each position.

    Parameters
    ----------
    model : MagneticModel
    position : (M, 3) metres
    floor : (M,) int, optional
        Floor of each position (selects the walls of the near-wall anomaly; without it, no
        near-wall anomaly).

    Returns
    -------
    (M, 3) float64 microtesla, world frame (x east, y north, z up)
    """
    pos = np.asarray(position, dtype=np.float64).reshape(-1, 3)
    b = model.earth_field_ut[None] - model.anomaly.gradient(pos)[:, 0, :]
    if floor is not None:
        floor = np.asarray(floor).reshape(-1)
        weight = np.zeros(len(pos))
        for f in np.unique(floor):
            walls = model.walls.get(int(f))
            if walls is None or len(walls) == 0:
                continue
            rows = np.flatnonzero(floor == f)
            d = point_segment_distance(pos[rows, :2], walls).min(axis=1)
            weight[rows] = np.exp(-d / model.wall_decay_m)
        near = weight > 1e-3
        if near.any():
            b[near] -= weight[near, None] * model.wall_anomaly.gradient(pos[near])[:, 0, :]
    return b


def simulate_magnetometer(
    model: MagneticModel,
    t: np.ndarray,
    position: np.ndarray,
    orientation: np.ndarray,
    floor: np.ndarray | None,
    rng: np.random.Generator,
    conf: dict | None = None,
    device: str | dict | None = None,
    sample_times: np.ndarray | None = None,
) -> Stream:
    """Magnetometer readings: the world field rotated into the device frame, plus the device's
    hard-iron offset and white noise.

    ``m = R(q)^T B(position) + mag_bias_ut + noise``.

    Parameters
    ----------
    model : MagneticModel
    t, position, orientation, floor : the pose timeline ((N,), (N, 3) m, (N, 4), (N,))
    rng : numpy Generator
    conf : dict, optional
        Merged over :data:`MAGNETOMETER_DEFAULTS` (``rate_hz``, ``noise_ut``).
    device : str or dict, optional
    sample_times : (M,) seconds, optional
        Default: every ``1 / rate_hz`` from ``t[0]``.

    Returns
    -------
    Stream
        kind ``magnetometer``, values (M, 3) float32 microtesla, device frame.
    """
    c = merge_conf(MAGNETOMETER_DEFAULTS, conf, where="magnetometer conf")
    dev = device_profile(device)
    if sample_times is None:
        sample_times = _rate_times(t, c["rate_hz"])
    pose = interpolate_trajectory(t, position, sample_times, orientation, floor)
    b = magnetic_field(model, pose["position"], pose.get("floor"))
    rot = quat_to_matrix(pose["orientation"])
    m = np.einsum("nji,nj->ni", rot, b) + np.asarray(dev["mag_bias_ut"], dtype=np.float64)[None]
    sigma = c["noise_ut"] * dev["noise_scale"]
    if sigma > 0:
        m += rng.normal(0.0, sigma, m.shape)
    return Stream(
        "magnetometer",
        np.asarray(sample_times, dtype=np.float64),
        m.astype(np.float32),
        meta={"device": dev["name"], "unit": "uT", "frame": "device (x forward, y left, z up)"},
    )


# ============================================================================ IMU
#: Documented defaults of the IMU model.
IMU_DEFAULTS: dict = {
    "gravity_mps2": 9.81,  # magnitude of gravity (along -z of the world)
    "accel_noise_mps2": 0.08,  # white noise per axis (times the device noise_scale)
    "gyro_noise_rps": 0.01,  # white noise per axis (times the device noise_scale)
    "accel_bias_mps2": 0.05,  # std of the constant per-recording bias per axis (times imu_bias_scale)
    "gyro_bias_rps": 0.003,  # std of the constant per-recording gyro bias per axis (times imu_bias_scale)
    "leg_length_m": 0.9,  # inverted-pendulum leg length: sets the vertical gait acceleration
    "step_accel_ratio": [0.45, 0.15, 1.0],  # gait acceleration amplitude forward, lateral, vertical / vertical
}


def gait_vertical_accel(speed: np.ndarray, leg_length_m: float = 0.9) -> np.ndarray:
    """Vertical acceleration amplitude of walking from an inverted-pendulum gait model.

    With step frequency ``f = 0.9 + 0.75 v`` Hz (:func:`omniloc.sim.gait`) and step length
    ``L = v / f``, the hip vaults over a leg of length ``l`` and rises by
    ``h = l - sqrt(l^2 - (L / 2)^2)`` per step; a sinusoid of amplitude ``h / 2`` at ``f`` has the
    acceleration amplitude ``(2 pi f)^2 h / 2``: about 1.8 m/s^2 at 0.8 m/s, 4.1 at 1.2 m/s and
    7.3 at 1.6 m/s. The amplitude grows with the step length, which is what step-length models
    such as Weinberg's rely on.

    Parameters
    ----------
    speed : (N,) m/s horizontal speed
    leg_length_m : float

    Returns
    -------
    (N,) m/s^2, 0 at rest
    """
    v = np.asarray(speed, dtype=np.float64)
    f = np.where(v > 0.05, 0.9 + 0.75 * v, 0.0)
    half_step = 0.5 * np.where(f > 0, v / np.maximum(f, 1e-9), 0.0)
    rise = leg_length_m - np.sqrt(np.maximum(leg_length_m**2 - half_step**2, 0.0))
    return (2 * np.pi * f) ** 2 * rise / 2


def _body_rates(t: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Angular velocity in the device frame (N, 3) rad/s from ``world_from_device`` quaternions."""
    n = len(t)
    if n < 2:
        return np.zeros((n, 3))
    q = quat_normalize(q)
    rel = quat_multiply(quat_conjugate(q[:-1]), q[1:])  # device_k <- device_k+1
    rel = np.where(rel[:, :1] < 0, -rel, rel)
    v = rel[:, 1:]
    s = np.linalg.norm(v, axis=1)
    angle = 2 * np.arctan2(s, rel[:, 0])
    scale = np.where(s > 1e-12, angle / np.maximum(s, 1e-12), 2.0)
    w_mid = v * scale[:, None] / np.maximum(np.diff(t), 1e-12)[:, None]
    w = np.empty((n, 3))
    w[1:-1] = 0.5 * (w_mid[1:] + w_mid[:-1])
    w[0], w[-1] = w_mid[0], w_mid[-1]
    return w


def imu_from_trajectory(
    t: np.ndarray, position: np.ndarray, orientation: np.ndarray, conf: dict | None = None
) -> np.ndarray:
    """Noise-free IMU readings of a smooth trajectory.

    Accelerometer: specific force in the device frame, ``R^T (a + a_gait + g z)``, where ``a`` is
    the second time derivative of the position (central finite differences) and ``a_gait`` the
    gait oscillation ``A_v (r_f forward cos 2 pi phi, r_l lateral sin pi phi, vertical sin 2 pi phi)``
    with the step phase ``phi`` of :func:`omniloc.sim.gait` and the vertical amplitude ``A_v`` of
    :func:`gait_vertical_accel` (zero at rest). At rest on a level
    device it reads ``(0, 0, +g)``. Gyroscope: the angular velocity of the device in its own frame
    from consecutive orientations.

    Parameters
    ----------
    t : (N,) seconds
    position : (N, 3) metres
    orientation : (N, 4) ``world_from_device``
    conf : dict, optional
        Merged over :data:`IMU_DEFAULTS`.

    Returns
    -------
    (N, 6) float64: accelerometer m/s^2 (x, y, z), gyroscope rad/s (x, y, z), device frame
    """
    c = merge_conf(IMU_DEFAULTS, conf, where="imu conf")
    t = np.asarray(t, dtype=np.float64)
    pos = np.asarray(position, dtype=np.float64)
    q = np.asarray(orientation, dtype=np.float64)
    n = len(t)
    if n >= 3:
        vel = np.gradient(pos, t, axis=0)
        acc = np.gradient(vel, t, axis=0)
    else:
        vel = acc = np.zeros_like(pos)
    speed = np.linalg.norm(vel[:, :2], axis=1)
    phase, _ = gait(t, speed)
    amp = gait_vertical_accel(speed, float(c["leg_length_m"]))
    yaw = yaw_from_quat(q)
    fwd = np.stack([np.cos(yaw), np.sin(yaw), np.zeros(n)], 1)
    left = np.stack([-np.sin(yaw), np.cos(yaw), np.zeros(n)], 1)
    af, al, av = (float(v) for v in c["step_accel_ratio"])
    a_gait = amp[:, None] * (
        af * np.cos(2 * np.pi * phase)[:, None] * fwd
        + al * np.sin(np.pi * phase)[:, None] * left
        + av * np.sin(2 * np.pi * phase)[:, None] * np.array([0.0, 0.0, 1.0])
    )
    f_world = acc + a_gait + np.array([0.0, 0.0, c["gravity_mps2"]])
    rot = quat_to_matrix(q)
    f_dev = np.einsum("nji,nj->ni", rot, f_world)
    return np.concatenate([f_dev, _body_rates(t, q)], axis=1)


def simulate_imu(
    t: np.ndarray,
    position: np.ndarray,
    orientation: np.ndarray,
    rng: np.random.Generator,
    conf: dict | None = None,
    device: str | dict | None = None,
) -> Stream:
    """IMU stream on the pose timeline: :func:`imu_from_trajectory` plus a constant per-recording
    bias and white noise.

    Parameters
    ----------
    t, position, orientation : the pose timeline ((N,) s, (N, 3) m, (N, 4))
    rng : numpy Generator
    conf : dict, optional
        Merged over :data:`IMU_DEFAULTS`.
    device : str or dict, optional

    Returns
    -------
    Stream
        kind ``imu``, values (N, 6) float32 (accelerometer m/s^2, gyroscope rad/s), meta with the
        biases drawn.
    """
    c = merge_conf(IMU_DEFAULTS, conf, where="imu conf")
    dev = device_profile(device)
    clean = imu_from_trajectory(t, position, orientation, c)
    bs, ns = dev["imu_bias_scale"], dev["noise_scale"]
    bias = np.r_[rng.normal(0, c["accel_bias_mps2"] * bs, 3), rng.normal(0, c["gyro_bias_rps"] * bs, 3)]
    sigma = np.r_[np.full(3, c["accel_noise_mps2"] * ns), np.full(3, c["gyro_noise_rps"] * ns)]
    noisy = clean + bias[None]
    if sigma.max() > 0:
        noisy += rng.normal(size=clean.shape) * sigma[None]
    return Stream(
        "imu",
        np.asarray(t, dtype=np.float64),
        noisy.astype(np.float32),
        ids=np.array(["acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"]),
        meta={
            "device": dev["name"],
            "unit": "m/s^2, rad/s",
            "frame": "device (x forward, y left, z up)",
            "bias": np.round(bias, 6).tolist(),
        },
    )


# ============================================================================ top-down patches
#: Documented defaults of the top-down patch sensor.
PATCH_DEFAULTS: dict = {
    "size_px": 7,  # patch side (odd), raster pixels
    "interpolate": True,  # bilinear at sub-pixel positions (exact raster values at pixel centres)
}


def topdown_patch(
    floor_plan: FloorPlan, position: np.ndarray, size_px: int | tuple[int, int] = 7, interpolate: bool = True
) -> np.ndarray:
    """Windows of the floor-plan raster centred on each position (OT-Isomap's maze observation).

    The window is axis-aligned with the raster (row index grows with y) and centred on the
    position; pixels outside the raster read as wall (1). At pixel centres the patch holds the
    raster values exactly; between them it is bilinearly interpolated (``interpolate=True``) or
    taken from the nearest pixel.

    Parameters
    ----------
    floor_plan : FloorPlan
        With an occupancy ``raster`` (1 = wall) and ``pixel_to_metre``.
    position : (N, 2) or (N, 3) metres
    size_px : int or (h, w)
    interpolate : bool

    Returns
    -------
    (N, h, w) float32 in [0, 1]
    """
    h, w = (size_px, size_px) if np.isscalar(size_px) else tuple(int(v) for v in size_px)
    raster = (np.asarray(floor_plan.raster) > 0).astype(np.float32)
    if raster.ndim == 3:
        raster = raster[..., 0]
    cr = floor_plan.metre_to_pixel(np.asarray(position, dtype=np.float64).reshape(len(position), -1)[:, :2])
    pad = max(h, w) // 2 + 2
    big = np.pad(raster, pad, constant_values=1.0)
    oy = np.arange(h) - (h - 1) / 2.0
    ox = np.arange(w) - (w - 1) / 2.0
    rows = cr[:, 1, None, None] + oy[None, :, None] + pad  # (N, h, 1)
    cols = cr[:, 0, None, None] + ox[None, None, :] + pad  # (N, 1, w)
    lim_r, lim_c = big.shape[0] - 1, big.shape[1] - 1
    rows = np.clip(rows, 0, lim_r)
    cols = np.clip(cols, 0, lim_c)
    if not interpolate:
        return big[np.rint(rows).astype(int), np.rint(cols).astype(int)].astype(np.float32)
    r0 = np.floor(rows).astype(int)
    c0 = np.floor(cols).astype(int)
    fr = (rows - r0).astype(np.float32)
    fc = (cols - c0).astype(np.float32)
    r1 = np.minimum(r0 + 1, lim_r)
    c1 = np.minimum(c0 + 1, lim_c)
    top = big[r0, c0] * (1 - fc) + big[r0, c1] * fc
    bot = big[r1, c0] * (1 - fc) + big[r1, c1] * fc
    return (top * (1 - fr) + bot * fr).astype(np.float32)


def simulate_patch(floor_plan: FloorPlan, t: np.ndarray, position: np.ndarray, conf: dict | None = None) -> Stream:
    """Top-down patch stream on the pose timeline (kind ``image``, (N, h, w) float32, 1 = wall)."""
    c = merge_conf(PATCH_DEFAULTS, conf, where="patch conf")
    vals = topdown_patch(floor_plan, position, c["size_px"], c["interpolate"])
    return Stream(
        "image",
        np.asarray(t, dtype=np.float64),
        vals,
        meta={"source": "floor-plan raster window", "size_px": vals.shape[1:], "value": "1 = wall"},
    )


# ============================================================================ camera
#: Documented defaults of the RGB-D camera.
CAMERA_DEFAULTS: dict = {
    "rate_hz": 10.0,  # frame rate
    "width": 64,  # image width, pixels
    "height": 64,  # image height, pixels
    "hfov_deg": 90.0,  # horizontal field of view
    "max_range_m": 30.0,  # depth range (depth 0 beyond)
}


def simulate_camera(
    floor_plans,
    t: np.ndarray,
    position: np.ndarray,
    orientation: np.ndarray,
    floor: np.ndarray,
    conf: dict | None = None,
    frame_times: np.ndarray | None = None,
) -> dict[str, Stream]:
    """RGB and depth streams rendered by :func:`omniloc.sim.camera.render_rgbd` (the camera looks
    along device +x, from the device position).

    Parameters
    ----------
    floor_plans : FloorPlan or list of FloorPlan
        Each frame is rendered in the plan of its floor.
    t, position, orientation, floor : the pose timeline
    conf : dict, optional
        Merged over :data:`CAMERA_DEFAULTS`.
    frame_times : (M,) seconds, optional
        Default: every ``1 / rate_hz`` from ``t[0]``.

    Returns
    -------
    dict with ``"rgb"`` (kind rgb, (M, H, W, 3) uint8) and ``"depth"`` (kind depth, (M, H, W)
    float32 metres, 0 = no return); their meta hold the intrinsics ``K`` (optical frame x right,
    y down, z forward) and the field of view.
    """
    from .camera import camera_intrinsics, render_rgbd

    c = merge_conf(CAMERA_DEFAULTS, conf, where="camera conf")
    plans = _plans_by_floor(floor_plans)
    if frame_times is None:
        frame_times = _rate_times(t, c["rate_hz"])
    pose = interpolate_trajectory(t, position, frame_times, orientation, floor)
    m = len(frame_times)
    w, h = int(c["width"]), int(c["height"])
    rgb = np.zeros((m, h, w, 3), dtype=np.uint8)
    depth = np.zeros((m, h, w), dtype=np.float32)
    for f in np.unique(pose["floor"]):
        sel = np.flatnonzero(pose["floor"] == f)
        plan = plans.get(int(f))
        if plan is None:
            continue
        rgb[sel], depth[sel] = render_rgbd(
            plan,
            pose["position"][sel],
            pose["orientation"][sel],
            width=w,
            height=h,
            hfov_deg=c["hfov_deg"],
            max_range_m=c["max_range_m"],
        )
    K = camera_intrinsics(w, h, c["hfov_deg"]).tolist()
    meta = {
        "K": K,
        "hfov_deg": float(c["hfov_deg"]),
        "max_range_m": float(c["max_range_m"]),
        "frame": "camera looks along device +x; K in the optical frame (x right, y down, z forward)",
    }
    tt = np.asarray(frame_times, dtype=np.float64)
    return {
        "rgb": Stream("rgb", tt, rgb, meta=dict(meta)),
        "depth": Stream("depth", tt, depth, meta=dict(meta, unit="m")),
    }
