"""Simulated worlds -> :class:`omniloc.data.Dataset`: ``simulate("office" | "maze", seed, conf)``.

Randomness is keyed by ``(seed, component)``: the building, the access points, the magnetic
field, every recording's walk and every sensor's noise draw from independent streams, so the
same seed and configuration give an identical dataset, and e.g. adding recordings does not
change the building or the recordings already there.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import numpy as np

from .. import __version__
from .._conf import check_types
from .._errors import ConfigError
from ..data import Dataset, FloorPlan, Recording
from ._conf import make_rng, merge_conf
from .floorplans import OFFICE_DEFAULTS, maze_floor_plan, office_building
from .sensors import (
    CAMERA_DEFAULTS,
    IMU_DEFAULTS,
    MAGNETOMETER_DEFAULTS,
    PATCH_DEFAULTS,
    WIFI_DEFAULTS,
    AccessPoints,
    MagneticModel,
    device_profile,
    make_magnetic_model,
    place_access_points,
    simulate_camera,
    simulate_imu,
    simulate_magnetometer,
    simulate_patch,
    simulate_wifi,
    wifi_rss_mean,
)
from .trajectories import MAZE_WALK_DEFAULTS, WALK_DEFAULTS, maze_walk, office_walk

__all__ = [
    "WORLDS",
    "DEFAULT_CONFS",
    "PRESETS",
    "default_conf",
    "check_conf",
    "SimWorld",
    "build_world",
    "simulate",
    "sensor_throughput",
]

WORLDS = ("office", "maze")

_SENSORS = {"office": ("imu", "magnetometer", "wifi", "camera"), "maze": ("patch", "magnetometer", "wifi", "camera")}

#: Documented default configuration of each world. Keys:
#:
#: * ``n_recordings``: number of recordings (walks);
#: * ``duration_s`` (office): length of each recording, seconds;
#: * ``splits``: fractions of recordings per split, by recording; every split gets at least one
#:   recording when there are enough;
#: * ``sensors``: which streams to simulate: ``imu``, ``magnetometer``, ``wifi``, ``camera``
#:   (adds ``rgb`` and ``depth``), ``patch`` (maze: the raster window, kind ``image``);
#: * ``devices``: device profile names (:data:`omniloc.sim.DEVICE_PROFILES`), assigned to the
#:   recordings in turn; each recording records its device in ``meta['device']``;
#: * ``building`` (office): :data:`omniloc.sim.OFFICE_DEFAULTS` plus ``n_floors``;
#: * ``maze`` (maze): ``size_px``, ``n_zones_per_side``;
#: * ``walk``: :data:`omniloc.sim.WALK_DEFAULTS` (office; ``rate_hz`` is the pose timeline and IMU
#:   rate) or :data:`omniloc.sim.MAZE_WALK_DEFAULTS` (maze);
#: * ``wifi``, ``magnetometer``, ``imu``, ``camera``, ``patch``: the sensor models' defaults.
DEFAULT_CONFS: dict[str, dict] = {
    "office": {
        "n_recordings": 12,
        "duration_s": 60.0,
        "splits": {"train": 0.7, "val": 0.15, "test": 0.15},
        "sensors": ["imu", "magnetometer", "wifi", "camera"],
        "devices": ["phone-a", "phone-b"],
        "building": dict(OFFICE_DEFAULTS, n_floors=2),
        "walk": dict(WALK_DEFAULTS),
        "wifi": dict(WIFI_DEFAULTS),
        "magnetometer": dict(MAGNETOMETER_DEFAULTS),
        "imu": dict(IMU_DEFAULTS),
        "camera": dict(CAMERA_DEFAULTS),
    },
    "maze": {
        "n_recordings": 40,
        "splits": {"train": 0.7, "val": 0.15, "test": 0.15},
        "sensors": ["patch"],
        "devices": ["phone-a"],
        "maze": {"size_px": 24, "n_zones_per_side": 3},
        "walk": dict(MAZE_WALK_DEFAULTS),
        "patch": dict(PATCH_DEFAULTS),
        "wifi": dict(WIFI_DEFAULTS, aps_per_floor=6, wall_db=2.0),
        "magnetometer": dict(MAGNETOMETER_DEFAULTS, rate_hz=1.0),
        "camera": dict(CAMERA_DEFAULTS, rate_hz=1.0),
    },
}

#: Named overrides merged over :data:`DEFAULT_CONFS` before the user's ``conf``. ``quick``: a
#: small dataset for tests and smoke runs (about a second to simulate).
PRESETS: dict[str, dict[str, dict]] = {
    "office": {
        "quick": {
            "n_recordings": 4,
            "duration_s": 20.0,
            "building": {"length_m": 30.0, "depth_m": 18.0},
            "walk": {"rate_hz": 50.0},
            "magnetometer": {"rate_hz": 25.0},
            "camera": {"rate_hz": 2.0, "width": 32, "height": 32},
        }
    },
    "maze": {"quick": {"n_recordings": 6, "maze": {"size_px": 16}}},
}


def default_conf(world: str = "office", preset: str | None = None) -> dict:
    """A new copy of the default configuration of ``world`` (with ``preset`` applied)."""
    if world not in DEFAULT_CONFS:
        raise ConfigError(f"unknown world {world!r}; expected one of {list(WORLDS)}")
    conf = copy.deepcopy(DEFAULT_CONFS[world])
    if preset is not None:
        if preset not in PRESETS[world]:
            raise ConfigError(f"unknown preset {preset!r} for world {world!r}; known: {sorted(PRESETS[world])}")
        conf = merge_conf(conf, PRESETS[world][preset], where=f"{world} preset {preset}")
    return conf


@dataclass
class SimWorld:
    """The fixed part of a simulated world: floor plans and the radio and magnetic environment.

    Parameters
    ----------
    kind : str
        ``"office"`` or ``"maze"``.
    seed : int
    conf : dict
        The full merged configuration.
    floor_plans : list of FloorPlan
        One per floor, ordered by floor.
    access_points : AccessPoints
    magnetic : MagneticModel
    planner_cache : dict
        Planning grids shared by the walks in this world (see :func:`omniloc.sim.office_walk`).
    """

    kind: str
    seed: int
    conf: dict
    floor_plans: list
    access_points: AccessPoints
    magnetic: MagneticModel
    planner_cache: dict = field(default_factory=dict, repr=False)

    def plan(self, floor: int = 0) -> FloorPlan:
        return next(p for p in self.floor_plans if p.floor == floor)


def build_world(world: str = "office", seed: int = 0, conf: dict | None = None, preset: str | None = None) -> SimWorld:
    """Floor plans, access points and magnetic field of a world (no recordings).

    Parameters
    ----------
    world : ``"office"`` or ``"maze"``
    seed : int
    conf : dict, optional
        Merged over :func:`default_conf` ``(world, preset)``.
    preset : str, optional
        A key of :data:`PRESETS` ``[world]``.
    """
    c = merge_conf(default_conf(world, preset), conf, where=f"{world} conf")
    check_conf(world, c)
    if world == "office":
        b = dict(c["building"])
        n_floors = int(b.pop("n_floors"))
        plans = office_building(n_floors, seed, b)
    else:
        plans = [maze_floor_plan(c["maze"]["size_px"], seed, c["maze"]["n_zones_per_side"])]
    aps = place_access_points(plans, make_rng(seed, 1), c["wifi"])
    mag = make_magnetic_model(plans, make_rng(seed, 2), c["magnetometer"])
    return SimWorld(world, int(seed), c, plans, aps, mag)


#: keys (dotted) of a world conf that must be > 0 where present (counts, sizes, rates, durations; each
#: number of a [low, high] range)
_POSITIVE = (
    "duration_s",
    "building.n_floors",
    "building.length_m",
    "building.depth_m",
    "maze.size_px",
    "maze.n_zones_per_side",
    "walk.rate_hz",
    "walk.step_px",
    "walk.speed_mps",
    "magnetometer.rate_hz",
    "imu.gravity_mps2",
    "camera.rate_hz",
    "camera.width",
    "camera.height",
    "camera.hfov_deg",
    "camera.max_range_m",
    "patch.size_px",
)
#: keys (dotted) of a world conf that must be >= 0 where present (noise levels, attenuations)
_NON_NEGATIVE = (
    "wifi.aps_per_floor",
    "wifi.noise_db",
    "wifi.shadowing_db",
    "wifi.wall_db",
    "wifi.floor_db",
    "wifi.quantize_db",
    "magnetometer.noise_ut",
    "magnetometer.anomaly_ut",
    "imu.accel_noise_mps2",
    "imu.gyro_noise_rps",
)


def check_conf(world: str, conf: dict) -> None:
    """Validate a merged world configuration (types against :data:`DEFAULT_CONFS`, then ranges).

    Parameters
    ----------
    world : ``"office"`` or ``"maze"``
    conf : dict
        The merged configuration (:func:`default_conf` with the user's values over it).

    Raises
    ------
    ConfigError
        One line naming the key, the value and what is expected, e.g.
        ``"office conf 'n_recordings' must be an int >= 1, got -1"``.
    """
    where = f"{world} conf"
    check_types(conf, DEFAULT_CONFS[world], where=where)
    n = conf["n_recordings"]
    if n is None or n < 1:
        raise ConfigError(f"{where} 'n_recordings' must be an int >= 1, got {n!r}")
    for keys, ok, what in ((_POSITIVE, lambda v: v > 0, "> 0"), (_NON_NEGATIVE, lambda v: v >= 0, ">= 0")):
        for dotted in keys:
            node, parts = conf, dotted.split(".")
            for part in parts[:-1]:
                node = node.get(part) if isinstance(node, dict) else None
            if not isinstance(node, dict) or node.get(parts[-1]) is None:
                continue
            val = node[parts[-1]]
            values = val if isinstance(val, (list, tuple)) else [val]
            if not all(isinstance(v, (int, float)) and ok(v) for v in values):
                raise ConfigError(f"{where} '{dotted}' must be {what}, got {val!r}")
    splits = conf["splits"] or {}
    bad = {k: v for k, v in splits.items() if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0}
    if bad or not any(v > 0 for v in splits.values()):
        raise ConfigError(f"{where} 'splits' must map split names to fractions >= 0, at least one > 0, got {splits!r}")
    unknown = [s for s in conf["sensors"] if s not in _SENSORS[world]]
    if unknown:
        raise ConfigError(
            f"{where} 'sensors': unknown sensors {unknown} for world {world!r}; available: {list(_SENSORS[world])}"
        )
    if not conf["devices"]:
        raise ConfigError(f"{where} 'devices' must name at least one device profile")
    for d in conf["devices"]:
        device_profile(d)


def _split_names(names: list[str], fractions: dict, rng: np.random.Generator) -> dict[str, list[str]]:
    """Random split of recording names by the given fractions; each split at least one when possible."""
    keys = [k for k, v in fractions.items() if v > 0]
    n = len(names)
    if n == 0 or not keys:
        return {}
    frac = np.array([float(fractions[k]) for k in keys])
    frac = frac / frac.sum()
    counts = np.floor(frac * n).astype(int)
    if n >= len(keys):
        counts = np.maximum(counts, 1)
    else:  # too few recordings for every split: one each, largest fraction first, then "test"
        order = sorted(range(len(keys)), key=lambda j: (-frac[j], keys[j] != "test", j))
        counts = np.zeros(len(keys), dtype=int)
        counts[order[:n]] = 1
    while counts.sum() > n:
        counts[np.argmax(counts)] -= 1
    while counts.sum() < n:
        counts[np.argmax(frac * n - counts)] += 1
    order = rng.permutation(n)
    out, i = {}, 0
    for k, m in zip(keys, counts):
        out[k] = [names[j] for j in sorted(order[i : i + m])]
        i += m
    return {k: v for k, v in out.items() if v}


def _recording(w: SimWorld, i: int, name: str) -> Recording:
    c, seed = w.conf, w.seed
    device = c["devices"][i % len(c["devices"])]
    if w.kind == "office":
        rec = office_walk(
            w.floor_plans, c["duration_s"], make_rng(seed, 100, i), c["walk"], name=name, planner_cache=w.planner_cache
        )
    else:
        rec = maze_walk(w.floor_plans[0], make_rng(seed, 100, i), c["walk"], name=name)
    streams = {}
    sensors = c["sensors"]
    if "imu" in sensors:
        streams["imu"] = simulate_imu(rec.t, rec.position, rec.orientation, make_rng(seed, 200, i), c["imu"], device)
    if "magnetometer" in sensors:
        streams["magnetometer"] = simulate_magnetometer(
            w.magnetic,
            rec.t,
            rec.position,
            rec.orientation,
            rec.floor,
            make_rng(seed, 300, i),
            c["magnetometer"],
            device,
        )
    if "wifi" in sensors:
        streams["wifi"] = simulate_wifi(
            w.access_points, w.floor_plans, rec.t, rec.position, rec.floor, make_rng(seed, 400, i), c["wifi"], device
        )
    if "camera" in sensors:
        streams.update(simulate_camera(w.floor_plans, rec.t, rec.position, rec.orientation, rec.floor, c["camera"]))
    if "patch" in sensors:
        streams["patch"] = simulate_patch(w.floor_plans[0], rec.t, rec.position, c["patch"])
    rec.streams = streams
    rec.meta = {
        **rec.meta,
        "device": device,
        "site": f"sim-{w.kind}",
        "source": "simulated",
        "world": w.kind,
        "seed": seed,
        "index": i,
    }
    return rec


def simulate(world: str = "office", seed: int = 0, conf: dict | None = None, preset: str | None = None) -> Dataset:
    """Simulate a dataset in which every sensing modality exists at once.

    ``office``: a multi-floor office building (:func:`omniloc.sim.office_building`), pedestrians
    walking between rooms and floors (:func:`omniloc.sim.office_walk`) with phones recording IMU,
    magnetometer, WiFi and an RGB-D camera. ``maze``: a perfect maze
    (:func:`omniloc.sim.maze_floor_plan`) and agents walking solution paths between boundary
    cells (:func:`omniloc.sim.maze_walk`) observing top-down patches (OT-Isomap's synthetic
    experiment); WiFi, magnetometer and camera can be added.

    Parameters
    ----------
    world : ``"office"`` or ``"maze"``
    seed : int
        The same seed and conf give an identical dataset.
    conf : dict, optional
        Merged over :data:`DEFAULT_CONFS` ``[world]`` (after the preset); unknown keys raise
        :class:`~omniloc.ConfigError`.
    preset : str, optional
        ``"quick"``: a small dataset for tests (see :data:`PRESETS`).

    Returns
    -------
    Dataset
        Named ``"sim-office"`` / ``"sim-maze"``; recordings ``"office-000"``.. with the pose
        timeline (``position``, ``orientation``, ``floor``, ``building``, ``zone``) and the
        streams asked for; splits by recording; ``provenance``: generator, version, world, seed,
        preset, conf, access points (ids, positions, floors, P0), earth field.
    """
    w = build_world(world, seed, conf, preset)
    c = w.conf
    n = int(c["n_recordings"])
    names = [f"{world}-{i:03d}" for i in range(n)]
    recs = {name: _recording(w, i, name) for i, name in enumerate(names)}
    splits = _split_names(names, c["splits"], make_rng(seed, 3))
    prov = {
        "generator": "omniloc.sim.simulate",
        "omniloc_version": __version__,
        "world": world,
        "seed": int(seed),
        "preset": preset,
        "conf": copy.deepcopy(c),
        "access_points": w.access_points.to_json(),
        "magnetic": w.magnetic.to_json(),
        "source": "simulated",
        "licence": "generated data, no restrictions",
    }
    ds = Dataset(f"sim-{world}", recs, {p.name: p for p in w.floor_plans}, splits, prov)
    return ds


def sensor_throughput(n: int = 20_000, seed: int = 0, camera_frames: int = 500, conf: dict | None = None) -> dict:
    """Measured simulation speed of each sensor model on the default office world.

    A walk of ``n`` poses at 100 Hz is generated once (not timed); then each model is timed on
    it: WiFi evaluates ``n`` scans of all access points (:func:`wifi_rss_mean` plus noise),
    magnetometer and IMU ``n`` samples each, the camera ``camera_frames`` 64 x 64 RGB-D frames.

    Parameters
    ----------
    n : int
        Samples per sensor.
    seed : int
    camera_frames : int
        Frames rendered (0 = skip the camera).
    conf : dict, optional
        Merged over the office default conf.

    Returns
    -------
    dict of numbers: ``wifi_samples_per_s``, ``magnetometer_samples_per_s``, ``imu_samples_per_s``,
    ``camera_frames_per_s`` (NaN when skipped or ``omniloc.sim.camera`` is unavailable), and
    ``n``, ``n_access_points``, ``n_walls``, ``camera_width``, ``camera_height``.
    """
    w = build_world("office", seed, conf)
    c = w.conf
    rate = float(c["walk"]["rate_hz"])
    rec = office_walk(w.floor_plans, n / rate, make_rng(seed, 900), c["walk"])
    t, pos, q, fl = rec.t, rec.position, rec.orientation, rec.floor
    rng = make_rng(seed, 901)
    out: dict = {
        "n": int(len(t)),
        "n_access_points": len(w.access_points),
        "n_walls": int(sum(len(p.walls) for p in w.floor_plans)),
    }

    def timed(fn):
        t0 = time.perf_counter()
        fn()
        return max(time.perf_counter() - t0, 1e-9)

    def wifi():
        rss = wifi_rss_mean(w.access_points, w.floor_plans, pos, fl, c["wifi"])
        rss += rng.normal(0.0, c["wifi"]["noise_db"], rss.shape)

    out["wifi_samples_per_s"] = len(t) / timed(wifi)
    out["magnetometer_samples_per_s"] = len(t) / timed(
        lambda: simulate_magnetometer(w.magnetic, t, pos, q, fl, rng, c["magnetometer"], sample_times=t)
    )
    out["imu_samples_per_s"] = len(t) / timed(lambda: simulate_imu(t, pos, q, rng, c["imu"]))
    out["camera_frames_per_s"] = float("nan")
    out["camera_width"], out["camera_height"] = int(c["camera"]["width"]), int(c["camera"]["height"])
    if camera_frames > 0:
        try:
            from .camera import render_rgbd  # noqa: F401
        except ImportError:
            return out
        idx = np.linspace(0, len(t) - 1, min(camera_frames, len(t))).astype(int)
        simulate_camera(w.floor_plans, t, pos, q, fl, c["camera"], frame_times=t[idx[:8]])  # warm-up
        out["camera_frames_per_s"] = len(idx) / timed(
            lambda: simulate_camera(w.floor_plans, t, pos, q, fl, c["camera"], frame_times=t[idx])
        )
    return out
