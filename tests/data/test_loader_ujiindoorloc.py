"""UJIIndoorLoc loader: a real slice of trainingData, the split by recording, and corrupted inputs."""

import gzip
import re

import numpy as np
import pandas as pd
import pytest

from omniloc import ConfigError, DataError
from omniloc.data import load_dataset, save_dataset
from omniloc.data.loaders import LOADERS, import_dataset
from omniloc.data.loaders.ujiindoorloc import DEFAULT_ORIGIN, load_ujiindoorloc
from omniloc.data.splits import split_by_groups

N_ROWS = 300


@pytest.fixture(scope="module")
def source(data_root):
    path = data_root / "ujiindoorloc" / "trainingData.csv.gz"
    if not path.exists():
        pytest.skip(f"{path} not found")
    return path


@pytest.fixture(scope="module")
def slice_text(source):
    """Header + the first N_ROWS data lines of trainingData, as text."""
    with gzip.open(source, "rt") as f:
        return "".join(next(f) for _ in range(N_ROWS + 1))


@pytest.fixture(scope="module")
def frame(slice_text, tmp_path_factory):
    path = tmp_path_factory.mktemp("frame") / "slice.csv"
    path.write_text(slice_text)
    return pd.read_csv(path)


def write(tmp_path, text, name="slice.csv", gz=False):
    path = tmp_path / name
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def test_real_slice_mapping(slice_text, frame, tmp_path):
    ds = load_ujiindoorloc(write(tmp_path, slice_text)).validate()
    assert ds.n_samples == N_ROWS and ds.splits == {}
    groups = frame.groupby(["USERID", "PHONEID"]).size()
    assert sorted(ds.recordings) == sorted(f"u{u:02d}-p{p:02d}" for u, p in groups.index)
    waps = [c for c in frame.columns if c.startswith("WAP")]
    assert len(waps) == 520
    for (u, p), n in groups.items():
        rec = ds[f"u{u:02d}-p{p:02d}"]
        rows = frame[(frame.USERID == u) & (frame.PHONEID == p)].sort_values("TIMESTAMP", kind="stable")
        assert len(rec) == n and rec.meta["user"] == u and rec.meta["phone"] == p
        assert rec.t[0] == 0 and np.all(np.diff(rec.t) >= 0)
        np.testing.assert_array_equal(rec.t, rows.TIMESTAMP.to_numpy() - rows.TIMESTAMP.min())
        assert rec.meta["t0_unix"] == rows.TIMESTAMP.min()
        wifi = rec.stream("wifi")
        assert wifi.kind == "wifi" and wifi.values.dtype == np.float32 and wifi.values.shape == (n, 520)
        assert wifi.ids[0] == "WAP001" and wifi.ids[-1] == "WAP520"
        np.testing.assert_array_equal(wifi.t, rec.t)
        raw = rows[waps].to_numpy()
        np.testing.assert_array_equal(np.isnan(wifi.values), raw == 100)  # 100 = not heard -> NaN
        np.testing.assert_array_equal(wifi.values[raw != 100], raw[raw != 100])  # dBm kept
        heard = wifi.values[np.isfinite(wifi.values)]
        assert np.all((heard <= 0) & (heard >= -104))
        np.testing.assert_allclose(rec.position[:, 0], rows.LONGITUDE - DEFAULT_ORIGIN[0])
        np.testing.assert_allclose(rec.position[:, 1], rows.LATITUDE - DEFAULT_ORIGIN[1])
        assert np.all(rec.position[:, 2] == 0) and np.all(np.abs(rec.position[:, :2]) < 1000)
        np.testing.assert_array_equal(rec.floor, rows.FLOOR)
        np.testing.assert_array_equal(rec.building, rows.BUILDINGID)
        assert rec.zone[0] == f"B{rows.BUILDINGID.iloc[0]}-F{rows.FLOOR.iloc[0]}-S{rows.SPACEID.iloc[0]}"
    assert set(ds.concat("building")) <= {0, 1, 2} and set(ds.concat("floor")) <= {0, 1, 2, 3, 4}
    prov = ds.provenance
    assert prov["origin_epsg3857_m"] == list(DEFAULT_ORIGIN) and prov["licence"] == "CC BY 4.0"
    assert 0.75 < prov["ground_metres_per_unit"] < 0.78 and "1/cos" in prov["scale_note"]
    assert prov["files"][0]["rows"] == N_ROWS


def test_gzip_and_plain_give_the_same_dataset_and_it_saves(slice_text, tmp_path):
    plain = load_ujiindoorloc(write(tmp_path, slice_text))
    gz = load_ujiindoorloc(write(tmp_path, slice_text, "slice.csv.gz", gz=True), name=plain.name)
    assert list(gz.recordings) == list(plain.recordings)
    for a, b in zip(plain, gz):
        np.testing.assert_array_equal(a.stream("wifi").values, b.stream("wifi").values)
        np.testing.assert_array_equal(a.position, b.position)
    out = save_dataset(split_by_groups(plain), tmp_path / "ds")
    back = load_dataset(out)
    assert back.splits == split_by_groups(plain).splits
    np.testing.assert_array_equal(back["u02-p23"].stream("wifi").values, plain["u02-p23"].stream("wifi").values)


def test_options_floor_height_and_zero_dbm(frame, tmp_path):
    df = frame.copy()
    df.loc[3, "WAP010"] = 0
    path = tmp_path / "zero.csv"
    df.to_csv(path, index=False)
    keep = load_ujiindoorloc(path, floor_height_m=4.0)
    rec = keep["u02-p23"]
    np.testing.assert_allclose(rec.position[:, 2], 4.0 * rec.floor)
    assert keep.provenance["rss"]["zero_dbm_entries"] == 1
    assert np.count_nonzero(rec.stream("wifi").values == 0) == 1
    nan = load_ujiindoorloc(path, zero_dbm="nan")
    assert np.count_nonzero(nan["u02-p23"].stream("wifi").values == 0) == 0


def test_validation_style_file_groups_by_phone(frame, tmp_path):
    df = frame.copy()
    df["USERID"] = 0
    df["SPACEID"] = 0
    path = tmp_path / "validationData.csv"
    df.to_csv(path, index=False)
    ds = load_ujiindoorloc(path)
    assert ds.name == "ujiindoorloc-validationData"
    assert sorted(ds.recordings) == sorted(f"u00-p{p:02d}" for p in df.PHONEID.unique())
    assert ds.n_samples == N_ROWS


def test_split_by_groups_on_the_slice(slice_text, tmp_path):
    ds = split_by_groups(load_ujiindoorloc(write(tmp_path, slice_text)), test_fraction=0.1, seed=0)
    train, test = ds.splits["train"], ds.splits["test"]
    assert train and test and not set(train) & set(test) and set(train) | set(test) == set(ds.recordings)
    assert split_by_groups(ds, 0.0).splits == {"train": list(ds.recordings)}
    assert split_by_groups(ds, 1.0).splits == {"test": list(ds.recordings)}


def test_split_by_groups_full_training_file(data_root):
    ds = import_dataset("ujiindoorloc", data_root / "ujiindoorloc", test_fraction=0.1, seed=0)
    assert ds.name == "ujiindoorloc" and ds.n_samples == 19937 and len(ds) == 18
    assert all(re.fullmatch(r"u\d\d-p\d\d", n) for n in ds.recordings)
    test_sets = set()
    for seed in range(4):
        s = split_by_groups(ds, test_fraction=0.1, seed=seed)
        train, test = s.split("train"), s.split("test")
        assert not set(train.recordings) & set(test.recordings)
        assert len(train) + len(test) == 18
        assert 0.08 <= test.n_samples / ds.n_samples <= 0.12  # about 10 % of the rows
        assert s.splits == split_by_groups(ds, test_fraction=0.1, seed=seed).splits  # deterministic
        test_sets.add(tuple(s.splits["test"]))
    assert len(test_sets) > 1  # seeds give different held-out recordings
    assert ds.provenance["rss"]["zero_dbm_entries"] == 137
    # the checksum of the uncompressed CSV given in SOURCE.md
    assert ds.provenance["files"][0]["sha256_csv"] == "45ca0128bd12019c976bb4793e407c979c82995d7a5940ab7288620247905168"


def test_import_registry(slice_text, tmp_path):
    assert "ujiindoorloc" in LOADERS
    folder = tmp_path / "uji"
    folder.mkdir()
    write(folder, slice_text, "trainingData.csv")
    ds = import_dataset("ujiindoorloc", folder, test_fraction=0.1, seed=0)
    assert ds.name == "ujiindoorloc" and set(ds.splits) == {"train", "test"}
    one = import_dataset("ujiindoorloc", folder / "trainingData.csv", test_fraction=1.0)
    assert one.splits == {"test": list(one.recordings)}
    with pytest.raises(ConfigError, match="unknown dataset format"):
        import_dataset("nope", folder)
    with pytest.raises(DataError, match="no UJIIndoorLoc training file"):
        import_dataset("ujiindoorloc", tmp_path)


# ---------------------------------------------------------------------------------------------- corrupted inputs
def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found") as e:
        load_ujiindoorloc(tmp_path / "absent.csv")
    assert "absent.csv" in str(e.value)


def test_truncated_gzip(slice_text, tmp_path):
    data = gzip.compress(slice_text.encode())
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="truncated or corrupted gzip") as e:
        load_ujiindoorloc(path)
    assert e.value.file == str(path) and "cut.csv.gz" in str(e.value)


def test_missing_column(frame, tmp_path):
    path = tmp_path / "nofloor.csv"
    frame.drop(columns=["FLOOR"]).to_csv(path, index=False)
    with pytest.raises(DataError, match="missing column") as e:
        load_ujiindoorloc(path)
    assert e.value.field == "FLOOR" and "nofloor.csv" in str(e.value) and "'FLOOR'" in str(e.value)
    path = tmp_path / "nowap.csv"
    frame.drop(columns=["WAP003"]).to_csv(path, index=False)
    with pytest.raises(DataError, match="WAP003"):
        load_ujiindoorloc(path)


def test_text_in_a_numeric_field(frame, tmp_path):
    df = frame.astype({"LATITUDE": object})
    df.loc[4, "LATITUDE"] = "north"
    path = tmp_path / "text.csv"
    df.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"data row 5 \(line 6 of the file\) holds 'north'; expected a number") as e:
        load_ujiindoorloc(path)
    assert e.value.field == "LATITUDE" and "text.csv" in str(e.value) and "'LATITUDE'" in str(e.value)


@pytest.mark.parametrize("value", [250, 5, -130])
def test_rss_out_of_range(frame, tmp_path, value):
    df = frame.copy()
    df.loc[9, "WAP007"] = value
    path = tmp_path / "rss.csv"
    df.to_csv(path, index=False)
    with pytest.raises(DataError, match=rf"data row 10 .* holds {value}; expected an RSS in dBm") as e:
        load_ujiindoorloc(path)
    assert e.value.field == "WAP007" and "rss.csv" in str(e.value)


def test_empty_value_and_non_integer_label(frame, tmp_path):
    df = frame.astype({"FLOOR": float})
    df.loc[0, "FLOOR"] = 1.5
    path = tmp_path / "frac.csv"
    df.to_csv(path, index=False)
    with pytest.raises(DataError, match="expected an integer") as e:
        load_ujiindoorloc(path)
    assert e.value.field == "FLOOR"
    df = frame.astype({"TIMESTAMP": float})
    df.loc[7, "TIMESTAMP"] = np.nan
    df.to_csv(path, index=False)
    with pytest.raises(DataError, match="data row 8 .* empty") as e:
        load_ujiindoorloc(path)
    assert e.value.field == "TIMESTAMP"


def test_empty_file(tmp_path):
    with pytest.raises(DataError, match="empty file"):
        load_ujiindoorloc(write(tmp_path, ""))


# ---------------------------------------------------------------------------------------------- impossible ground truth
def test_repeated_timestamps_with_different_positions_are_fingerprints_not_errors(source):
    """UJIIndoorLoc has one row per scan; a few scans of one recording share a second at two places: not an error."""
    ds = load_ujiindoorloc(source)
    shared = {}
    for rec in ds:
        same_t = np.flatnonzero(np.diff(rec.t) == 0)
        n = int(np.count_nonzero(np.any(rec.position[same_t] != rec.position[same_t + 1], axis=1)))
        if n:
            shared[rec.name] = n
    assert shared == {"u01-p14": 2, "u13-p17": 9}


@pytest.mark.parametrize(
    "value, message",
    [
        (-5, r"data row 6 \(line 7 of the file\) holds -5; expected UNIX seconds in \[1, 4102444800\] \(1970..2100\)"),
        (4200000000, r"data row 6 .* holds 4200000000; expected UNIX seconds"),
        # 1990: inside the range, but its recording would span 23 years
        (
            631152000,
            r"USERID \d+ PHONEID \d+ spans 8\d\d\d\.\d+ days, from data row 6 \(line 7 of the file\) \(TIMESTAMP "
            r"631152000\) to data row \d+ .*; expected one recording of at most 366 days",
        ),
    ],
)
def test_broken_timestamp_is_refused(frame, tmp_path, value, message):
    df = frame.copy()
    df.loc[5, "TIMESTAMP"] = value
    path = tmp_path / "ts.csv"
    df.to_csv(path, index=False)
    with pytest.raises(DataError, match=message) as e:
        load_ujiindoorloc(path)
    assert e.value.field == "TIMESTAMP" and e.value.file == str(path)


def test_one_group_leaves_no_test_split(frame, tmp_path):
    df = frame[(frame.USERID == frame.USERID.iloc[0]) & (frame.PHONEID == frame.PHONEID.iloc[0])]
    path = tmp_path / "one.csv"
    df.to_csv(path, index=False)
    with pytest.raises(
        DataError,
        match=r"only one user/phone group \('u\d\d-p\d\d'\) to split by recording: "
        r"test_fraction=0.1 would leave the test split empty",
    ) as e:
        import_dataset("ujiindoorloc", path, test_fraction=0.1)
    assert e.value.field == "test_fraction" and e.value.file == str(path)
    assert list(import_dataset("ujiindoorloc", path, test_fraction=0.0).splits) == ["train"]
    with pytest.raises(ConfigError, match=r"test_fraction must be a number in \[0, 1\].*got 2"):
        import_dataset("ujiindoorloc", path, test_fraction=2)
