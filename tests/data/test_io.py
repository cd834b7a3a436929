"""Data model and on-disk format: round trips, lazy images, validation errors, atomic writes."""

import json
import os

import h5py
import numpy as np
import pytest

from omniloc import DataError
from omniloc._io import OutputExistsError
from omniloc.data import (
    Dataset,
    FloorPlan,
    Recording,
    Stream,
    load_dataset,
    load_recording,
    save_dataset,
    save_recording,
)
from omniloc.data._lazy import LazyArray


def make_recording(name="r0", n=40, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) * 0.1
    wifi_t = t[::8]
    rss = rng.uniform(-90, -40, (len(wifi_t), 4)).astype(np.float32)
    rss[0, 1] = np.nan
    return Recording(
        name,
        t,
        position=np.c_[t, 2 * t, np.full(n, 1.3)],
        orientation=np.tile([1.0, 0, 0, 0], (n, 1)),
        floor=np.zeros(n, dtype=np.int64),
        zone=np.array(["room-1"] * (n // 2) + ["corridor"] * (n - n // 2)),
        streams={
            "rgb": Stream("rgb", t, rng.integers(0, 255, (n, 8, 6, 3), dtype=np.uint8)),
            "depth": Stream("depth", t, rng.uniform(0.5, 5, (n, 8, 6)).astype(np.float32)),
            "wifi": Stream("wifi", wifi_t, rss, ids=["ap0", "ap1", "ap2", "ap3"]),
            "imu": Stream("imu", t, rng.normal(size=(n, 6)), meta={"rate_hz": 10}),
        },
        meta={"device": "phone-a"},
    )


def make_dataset():
    zones = {"room-1": [[0, 0], [5, 0], [5, 10], [0, 10]], "corridor": [[5, 0], [10, 0], [10, 10], [5, 10]]}
    plan = FloorPlan(
        "F0",
        [[[0, 0], [10, 0]], [[10, 0], [10, 10]]],
        zones=zones,
        raster=np.eye(4, dtype=np.uint8),
        pixel_to_metre=np.diag([2.5, 2.5, 1.0]),
    )
    recs = {f"r{i}": make_recording(f"r{i}", seed=i) for i in range(3)}
    return Dataset("toy", recs, {"F0": plan}, {"train": ["r0", "r1"], "test": ["r2"]}, {"source": "test"})


def test_recording_round_trip_is_exact_and_images_lazy(tmp_path):
    rec = make_recording()
    save_recording(rec, tmp_path / "r.h5")
    back = load_recording(tmp_path / "r.h5")
    assert isinstance(back.streams["rgb"].values, LazyArray)
    np.testing.assert_array_equal(back.streams["rgb"].values[[5, 2, 5]], rec.streams["rgb"].values[[5, 2, 5]])
    np.testing.assert_array_equal(back.streams["depth"].load(), rec.streams["depth"].values)
    np.testing.assert_array_equal(back.streams["wifi"].values, rec.streams["wifi"].values)  # NaN kept
    assert back.streams["wifi"].ids.tolist() == ["ap0", "ap1", "ap2", "ap3"]
    np.testing.assert_array_equal(back.position, rec.position)
    assert back.zone.tolist() == rec.zone.tolist()
    assert back.meta == {"device": "phone-a"} and back.streams["imu"].meta == {"rate_hz": 10}


def test_dataset_round_trip_and_splits(tmp_path):
    ds = make_dataset()
    save_dataset(ds, tmp_path / "ds")
    back = load_dataset(tmp_path / "ds")
    assert back.splits == ds.splits
    assert back.split("test").recordings.keys() == {"r2"}
    np.testing.assert_array_equal(back.floor_plans["F0"].raster, np.eye(4))
    np.testing.assert_allclose(back.floor_plans["F0"].walls, ds.floor_plans["F0"].walls)
    assert back.summary()["streams"]["wifi"] == "wifi"
    # loading via the json file works too
    assert len(load_dataset(tmp_path / "ds" / "dataset.json")) == 3


def test_existing_output_is_never_overwritten_without_flag(tmp_path):
    ds = make_dataset()
    save_dataset(ds, tmp_path / "ds")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        save_dataset(ds, tmp_path / "ds")
    save_dataset(ds.subset(["r0"]), tmp_path / "ds", overwrite=True)
    assert len(load_dataset(tmp_path / "ds")) == 1
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # no temp leftovers


def test_failed_write_leaves_previous_dataset_intact(tmp_path):
    save_dataset(make_dataset(), tmp_path / "ds")
    bad = make_dataset()
    bad.recordings["r1"].position[3] = np.nan
    with pytest.raises(DataError, match="position"):
        save_dataset(bad, tmp_path / "ds", overwrite=True)
    assert len(load_dataset(tmp_path / "ds")) == 3
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda r: setattr(r, "position", r.position[:, :2]), "position"),
        (lambda r: r.position.__setitem__((2, 0), np.inf), "position"),
        (lambda r: setattr(r, "orientation", r.orientation * 2), "orientation"),
        (lambda r: setattr(r, "floor", r.floor.astype(float)), "floor"),
        (
            lambda r: setattr(r.streams["rgb"], "values", r.streams["rgb"].values.astype(np.float32)),
            "streams/rgb/values",
        ),
        (lambda r: setattr(r.streams["imu"], "values", r.streams["imu"].values[:, :5]), "streams/imu/values"),
        (lambda r: setattr(r.streams["wifi"], "ids", None), "streams/wifi/ids"),
        (lambda r: setattr(r.streams["wifi"], "values", r.streams["wifi"].values + 200), "streams/wifi/values"),
        (lambda r: setattr(r.streams["imu"], "t", r.streams["imu"].t[::-1].copy()), "streams/imu/t"),
        (lambda r: setattr(r.streams["imu"], "kind", "lidar"), "streams/imu/kind"),
    ],
)
def test_validation_names_the_field(tmp_path, mutate, field):
    rec = make_recording()
    mutate(rec)
    with pytest.raises(DataError) as e:
        save_recording(rec, tmp_path / "bad.h5")
    assert e.value.field == field
    assert str(tmp_path / "bad.h5") in str(e.value)
    assert not (tmp_path / "bad.h5").exists()


def test_truncated_recording_file(tmp_path):
    save_recording(make_recording(), tmp_path / "r.h5")
    data = (tmp_path / "r.h5").read_bytes()
    (tmp_path / "t.h5").write_bytes(data[: len(data) // 3])
    with pytest.raises(DataError, match="t.h5"):
        load_recording(tmp_path / "t.h5")


def test_unknown_format_version_and_bad_fields_on_read(tmp_path):
    save_recording(make_recording(), tmp_path / "r.h5")
    with h5py.File(tmp_path / "r.h5", "a") as f:
        f.attrs["format_version"] = 99
    with pytest.raises(DataError) as e:
        load_recording(tmp_path / "r.h5")
    assert e.value.field == "format_version" and "99" in str(e.value)

    save_recording(make_recording(), tmp_path / "s.h5")
    with h5py.File(tmp_path / "s.h5", "a") as f:
        del f["position"]
        f["position"] = np.zeros((40, 2))
    with pytest.raises(DataError) as e:
        load_recording(tmp_path / "s.h5")
    assert e.value.field == "position" and "(N, 3)" in str(e.value)


def test_dataset_json_errors(tmp_path):
    with pytest.raises(DataError, match="dataset.json not found"):
        load_dataset(tmp_path)
    save_dataset(make_dataset(), tmp_path / "ds")
    meta = tmp_path / "ds" / "dataset.json"
    d = json.loads(meta.read_text())
    meta.write_text(json.dumps({**d, "format_version": 7}))
    with pytest.raises(DataError) as e:
        load_dataset(tmp_path / "ds")
    assert e.value.field == "format_version"
    meta.write_text(json.dumps(d)[:50])
    with pytest.raises(DataError, match="invalid JSON"):
        load_dataset(tmp_path / "ds")
    meta.write_text(json.dumps({**d, "splits": {"test": ["nope"]}}))
    with pytest.raises(DataError, match="nope"):
        load_dataset(tmp_path / "ds")


def test_lazy_array_pickles_without_handle(tmp_path):
    import pickle

    save_recording(make_recording(), tmp_path / "r.h5")
    arr = load_recording(tmp_path / "r.h5").streams["rgb"].values
    _ = arr[0]
    clone = pickle.loads(pickle.dumps(arr))
    np.testing.assert_array_equal(clone[1], arr[1])
    assert arr[np.array([], dtype=int)].shape == (0, 8, 6, 3)


def test_crop_and_subset():
    rec = make_recording()
    c = rec.crop(1.0, 2.0)
    assert c.t.min() >= 1.0 and c.t.max() <= 2.0 and len(c.streams["rgb"]) == len(c)
    ds = make_dataset()
    assert list(ds.subset(["r2"]).splits) == ["test"]
    with pytest.raises(DataError, match="no split"):
        ds.split("val")
    with pytest.raises(DataError, match="no stream 'lidar'"):
        rec.stream("lidar")


# ---------------------------------------------------------------------------------------------- refused on read
def _set(f, key, value):
    del f[key]
    f[key] = value


@pytest.mark.parametrize(
    "edit, field, message",
    [
        (
            lambda f: _set(
                f,
                "streams/wifi/values",
                np.where(np.isnan(f["streams/wifi/values"][()]), np.nan, np.inf).astype(np.float32),
            ),
            "streams/wifi/values",
            r"finite dBm or NaN for 'not heard'; value \[0, 0\] is inf",
        ),
        (
            lambda f: _set(
                f, "streams/wifi/values", np.nan_to_num(f["streams/wifi/values"][()], nan=100).astype(np.int16)
            ),
            "streams/wifi/values",
            "must be floating point dBm .* got int16",
        ),
        (
            lambda f: _set(f, "streams/wifi/ids", np.array([b"ap0", b"ap1", b"ap0", b"ap3"], dtype=object)),
            "streams/wifi/ids",
            r"access point ids must be unique .* 'ap0' in columns \[0, 2\]",
        ),
        (
            lambda f: _set(f, "position", f["position"][()] * 1e300),
            "position",
            r"position row 0 is \[0.0, 0.0, 1.3e\+300\]; expected metres .* \|coordinate\| <= 1e\+07",
        ),
        (lambda f: _set(f, "t", f["t"][()] + 1e12), "t", r"t\[0\] = 1e\+12; expected seconds with \|t\| <= 1e\+10"),
        (lambda f: _set(f, "orientation", np.full((40, 4), np.nan)), "orientation", "must be finite unit quaternions"),
        (
            lambda f: _set(f, "streams/imu/t", np.r_[f["streams/imu/t"][:-1], np.inf]),
            "streams/imu/t",
            r"timestamps must be finite seconds; t\[39\] is inf",
        ),
    ],
)
def test_impossible_values_are_refused_on_read(tmp_path, edit, field, message):
    path = save_recording(make_recording(), tmp_path / "r.h5")
    with h5py.File(path, "a") as f:
        edit(f)
    with pytest.raises(DataError, match=message) as e:
        load_recording(path)
    assert e.value.field == field and e.value.file == str(path)


def test_impossible_values_are_refused_on_write_and_in_a_dataset(tmp_path):
    rec = make_recording()
    rec.streams["wifi"].values = rec.streams["wifi"].values.astype(np.float64)  # any float dtype is fine
    rec.validate()
    rec.streams["wifi"].values[1, 2] = -np.inf
    with pytest.raises(DataError, match=r"value \[1, 2\] is -inf") as e:
        save_recording(rec, tmp_path / "bad.h5")
    assert e.value.field == "streams/wifi/values" and not (tmp_path / "bad.h5").exists()
    ds = make_dataset()
    ds.floor_plans["F0"].bounds = np.array([0.0, 0.0, 1e300, 10.0])
    with pytest.raises(DataError, match=r"bounds must be finite metres with \|coordinate\| <= 1e\+07") as e:
        save_dataset(ds, tmp_path / "ds")
    assert e.value.field == "floor_plans/F0/bounds" and not (tmp_path / "ds").exists()


def test_import_warnings_in_the_summary():
    ds = make_dataset()
    assert "import_warnings" not in ds.summary()
    ds.provenance["import_warnings"] = {"a.txt": {"x -> NaN": 2, "y dropped": 1}, "b.txt": {"x -> NaN": 4}}
    assert ds.summary()["import_warnings"] == 7 and ds.summary()["import_warnings_in_files"] == 2
