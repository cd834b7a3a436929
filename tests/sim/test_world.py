"""simulate(): whole datasets, determinism, save/load, configuration."""

import numpy as np
import pytest

from omniloc import ConfigError
from omniloc.data import load_dataset, save_dataset
from omniloc.sim import DEFAULT_CONFS, build_world, default_conf, sensor_throughput, simulate


@pytest.fixture(scope="module")
def office():
    return simulate("office", seed=0, preset="quick")


@pytest.fixture(scope="module")
def maze():
    return simulate("maze", seed=0, preset="quick")


def test_office_dataset(office):
    ds = office.validate()
    assert ds.name == "sim-office" and len(ds) == 4
    assert sorted(ds.floor_plans) == ["office-F0", "office-F1"]
    assert sorted(ds.splits) == ["test", "train", "val"]
    names = sum(ds.splits.values(), [])
    assert sorted(names) == sorted(ds.recordings) and len(set(names)) == len(names)  # by recording
    for rec in ds:
        assert rec.meta["device"] in ("phone-a", "phone-b")
        assert set(rec.streams) == {"imu", "magnetometer", "wifi", "rgb", "depth"}
        assert {k: s.kind for k, s in rec.streams.items()} == {
            "imu": "imu",
            "magnetometer": "magnetometer",
            "wifi": "wifi",
            "rgb": "rgb",
            "depth": "depth",
        }
        np.testing.assert_array_equal(rec.streams["imu"].t, rec.t)
        assert abs(rec.streams["magnetometer"].rate_hz - 25.0) < 1e-6
        assert rec.streams["rgb"].shape[1:] == (32, 32, 3)
        assert rec.streams["wifi"].shape[1] == 16
        assert rec.duration_s == pytest.approx(20.0, abs=0.05)
        assert rec.position is not None and rec.orientation is not None and rec.zone is not None
        assert set(rec.zone) <= set().union(*[p.zones for p in ds.floor_plans.values()])
    assert [r.meta["device"] for r in ds] == ["phone-a", "phone-b", "phone-a", "phone-b"]
    prov = ds.provenance
    assert prov["seed"] == 0 and prov["world"] == "office" and prov["preset"] == "quick"
    assert len(prov["access_points"]["ids"]) == 16 and prov["conf"]["n_recordings"] == 4


def test_maze_dataset(maze):
    ds = maze.validate()
    assert ds.name == "sim-maze" and len(ds) == 6
    (plan,) = ds.floor_plans.values()
    assert plan.raster.shape == (16, 16)
    for rec in ds:
        patch = rec.streams["patch"]
        assert patch.kind == "image" and patch.shape == (len(rec), 7, 7)
        np.testing.assert_array_equal(patch.values[:, 3, 3], 0.0)  # always standing on free space
        assert set(rec.zone) <= set(plan.zones)


def test_round_trip_save_load(office, maze, tmp_path):
    for ds in (office, maze):
        path = save_dataset(ds, tmp_path / ds.name)
        back = load_dataset(path)
        back.validate()
        assert back.splits == ds.splits and sorted(back.recordings) == sorted(ds.recordings)
        assert back.provenance["seed"] == ds.provenance["seed"]
        for name, rec in ds.recordings.items():
            r2 = back[name]
            np.testing.assert_array_equal(r2.position, rec.position)
            np.testing.assert_array_equal(r2.zone, rec.zone)
            assert r2.meta == rec.meta
            for k, s in rec.streams.items():
                np.testing.assert_array_equal(r2.streams[k].load(), s.values)
                assert r2.streams[k].kind == s.kind
            if "wifi" in rec.streams:
                np.testing.assert_array_equal(r2.streams["wifi"].ids, rec.streams["wifi"].ids)
        for pname, plan in ds.floor_plans.items():
            p2 = back.floor_plans[pname]
            np.testing.assert_array_equal(p2.walls, plan.walls)
            assert p2.meta == plan.meta and sorted(p2.zones) == sorted(plan.zones)
            if plan.raster is not None:
                np.testing.assert_array_equal(p2.raster, plan.raster)


def test_deterministic_by_seed(office):
    again = simulate("office", seed=0, preset="quick")
    other = simulate("office", seed=1, preset="quick")
    for name, rec in office.recordings.items():
        r2 = again[name]
        np.testing.assert_array_equal(r2.position, rec.position)
        for k, s in rec.streams.items():
            np.testing.assert_array_equal(r2.streams[k].values, s.values)
            np.testing.assert_array_equal(r2.streams[k].t, s.t)
    assert again.splits == office.splits
    assert not np.array_equal(other["office-000"].position[:, :2], office["office-000"].position[:, :2])
    assert not np.array_equal(other.floor_plans["office-F0"].walls, office.floor_plans["office-F0"].walls)
    m1, m2 = simulate("maze", 3, preset="quick"), simulate("maze", 4, preset="quick")
    assert not np.array_equal(list(m1.floor_plans.values())[0].raster, list(m2.floor_plans.values())[0].raster)


def test_conf_merging_and_errors():
    before = {k: dict(v) for k, v in DEFAULT_CONFS["office"].items() if isinstance(v, dict)}
    c = default_conf("office", "quick")
    assert c["n_recordings"] == 4 and c["building"]["length_m"] == 30.0
    c["walk"]["rate_hz"] = 1.0
    assert {k: dict(v) for k, v in DEFAULT_CONFS["office"].items() if isinstance(v, dict)} == before
    with pytest.raises(ConfigError, match="n_recording"):
        simulate("office", conf={"n_recording": 2})
    with pytest.raises(ConfigError):
        simulate("office", conf={"walk": {"speed": 1.0}})
    with pytest.raises(ConfigError):
        simulate("office", conf={"sensors": ["sonar"]})
    with pytest.raises(ConfigError):
        simulate("office", conf={"devices": ["phone-z"]})
    with pytest.raises(ConfigError):
        simulate("forest")
    with pytest.raises(ConfigError):
        simulate("maze", preset="huge")


def test_office_sensor_subset_devices_and_splits():
    ds = simulate(
        "office",
        seed=2,
        preset="quick",
        conf={
            "n_recordings": 3,
            "sensors": ["wifi", "imu"],
            "devices": ["tablet-a"],
            "building": {"n_floors": 1, "building": 1},
        },
    )
    ds.validate()
    assert len(ds.floor_plans) == 1 and all(set(r.streams) == {"wifi", "imu"} for r in ds)
    assert all(r.meta["device"] == "tablet-a" for r in ds)
    assert all(np.all(r.building == 1) and np.all(r.floor == 0) for r in ds)
    assert all(i.startswith("02:00:00:01:") for i in ds["office-000"].streams["wifi"].ids)
    assert {k: len(v) for k, v in ds.splits.items()} == {"train": 1, "val": 1, "test": 1}


def test_maze_with_more_sensors():
    ds = simulate(
        "maze", seed=0, preset="quick", conf={"n_recordings": 2, "sensors": ["patch", "wifi", "magnetometer", "camera"]}
    )
    ds.validate()
    rec = ds["maze-000"]
    assert set(rec.streams) == {"patch", "wifi", "magnetometer", "rgb", "depth"}
    assert {k: len(v) for k, v in ds.splits.items()} == {"train": 1, "test": 1}  # too few for a val split
    with pytest.raises(ConfigError):
        simulate("maze", conf={"sensors": ["imu"]})


def test_build_world_and_throughput():
    w = build_world("office", 0, preset="quick")
    assert len(w.floor_plans) == 2 and len(w.access_points) == 16
    assert w.plan(1).floor == 1
    out = sensor_throughput(n=2000, seed=0, camera_frames=20)
    for k in ("wifi_samples_per_s", "magnetometer_samples_per_s", "imu_samples_per_s", "camera_frames_per_s"):
        assert out[k] > 0
    assert out["n"] == 2000 and out["camera_width"] == out["camera_height"] == 64
    assert all(isinstance(v, (int, float)) for v in out.values())
    assert np.isnan(sensor_throughput(n=500, camera_frames=0)["camera_frames_per_s"])
