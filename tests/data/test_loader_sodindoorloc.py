"""SODIndoorLoc loader: the real files (counts from SOURCE.md, both not-detected codes, the SYL
BuildingID bug, AP positions), the train/test split by file, and corrupted inputs."""

import gzip

import numpy as np
import pandas as pd
import pytest

from omniloc import ConfigError, DataError
from omniloc.data import load_dataset, save_dataset
from omniloc.data.loaders.sodindoorloc import (
    BUILDINGS,
    FILE_SETS,
    import_sodindoorloc,
    load_sodindoorloc,
    read_access_points,
)

# file -> (rows, MAC columns, distinct points), from SOURCE.md's table (checked against the raw files)
SHAPES = {
    "CETC331/Training_CETC331.csv.gz": (955, 52, 955),
    "CETC331/Testing_CETC331.csv.gz": (840, 52, 84),
    "HCXY/Training_HCXY_AP_30.csv.gz": (11370, 56, 379),
    "HCXY/Testing_HCXY_AP.csv.gz": (860, 56, 86),
    "SYL/Training_SYL_AP_30.csv.gz": (8880, 46, 296),
    "SYL/Testing_SYL_AP.csv.gz": (1020, 46, 102),
}
N_SLICE = 60


@pytest.fixture(scope="module")
def root(data_root):
    path = data_root / "sodindoorloc"
    if not (path / "HCXY" / "Testing_HCXY_AP.csv.gz").exists():
        pytest.skip(f"{path} not found")
    return path


@pytest.fixture(scope="module")
def default(root):
    """The default import: the ap_30 file set of the three buildings (about 24k rows, < 1 s)."""
    return import_sodindoorloc(root).validate()


@pytest.fixture(scope="module")
def slice_frame(root):
    """The first N_SLICE rows of HCXY/Testing_HCXY_AP (user 5, phone 4)."""
    return pd.read_csv(root / "HCXY" / "Testing_HCXY_AP.csv.gz", nrows=N_SLICE)


def write(tmp_path, frame, name="HCXY/Testing_HCXY_AP.csv", gz=False):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    text = frame.to_csv(index=False)
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def wifi_of(ds, prefix):
    """The wifi values and ids of the recordings whose names start with ``prefix``, stacked in order."""
    recs = [r for r in ds if r.name.startswith(prefix)]
    return np.concatenate([r.stream("wifi").values for r in recs]), recs[0].stream("wifi").ids


# ---------------------------------------------------------------------------------------------- real files
def test_default_import_counts_and_split(default):
    prov = default.provenance
    assert default.name == "sodindoorloc" and prov["file_set"] == "ap_30" and len(default) == 24
    files = {f["file"]: f for f in prov["files"]}
    assert list(files) == list(SHAPES)
    for rel, (rows, macs, _) in SHAPES.items():
        recs = [r for r in default if r.meta["source_file"] == rel]
        assert sum(len(r) for r in recs) == rows == files[rel]["rows"]
        assert {r.stream("wifi").shape[1] for r in recs} == {macs} and files[rel]["access_points"] == macs
        assert files[rel]["not_detected_code"] == 100 and files[rel]["building_id_repaired_rows"] == 0
        points = np.unique(np.concatenate([np.c_[r.position, r.floor] for r in recs]), axis=0)
        assert len(points) == SHAPES[rel][2]
    train, test = default.splits["train"], default.splits["test"]
    assert not set(train) & set(test) and len(train) == len(test) == 12
    assert all(n.startswith("Training_") for n in train) and all(n.startswith("Testing_") for n in test)
    assert all(default[n].meta["role"] == "test" for n in test)
    assert default.split("test").n_samples == 840 + 860 + 1020
    assert prov["split"]["test_rows"] == 2720 and "not used" in prov["split"]["test_fraction"]
    # one recording per (UserID, PhoneID) of each file: HCXY has 8 user/phone pairs, SYL 3, CETC331 1
    assert sorted(n for n in test if "HCXY" in n)[:2] == ["Testing_HCXY_AP-u05-p04", "Testing_HCXY_AP-u06-p05"]
    assert len(default["Testing_HCXY_AP-u05-p04"]) == 120 and len(default["Training_SYL_AP_30-u02-p02"]) == 4230


def test_mapping_of_a_real_file(default, root):
    raw = pd.read_csv(root / "CETC331" / "Training_CETC331.csv.gz")
    rec = default["Training_CETC331-u04-p03"]
    assert len(rec) == 955 and rec.meta == {
        "user": 4,
        "phone": 3,
        "building_name": "CETC331",
        "source_file": "CETC331/Training_CETC331.csv.gz",
        "role": "train",
        "timeline": "synthetic: one scan every 1 s in file order",
    }
    np.testing.assert_array_equal(rec.t, np.arange(955.0))  # synthetic timeline, file order
    wifi = rec.stream("wifi")
    np.testing.assert_array_equal(wifi.t, rec.t)
    assert wifi.kind == "wifi" and wifi.values.dtype == np.float32 and wifi.values.shape == (955, 52)
    assert wifi.ids[0] == "CETC331:MAC1" and wifi.ids[-1] == "CETC331:MAC52"
    # known cells of data row 1: MAC1 = -44 dBm, MAC6 = 100 (not detected); ECoord 45, NCoord 17.5, floor 1
    assert wifi.values[0, 0] == -44 and np.isnan(wifi.values[0, 5])
    np.testing.assert_array_equal(rec.position[0], [45.0, 17.5, 0.0])
    np.testing.assert_array_equal(rec.position[954], [45.2, 24.1, 0.0])
    assert rec.floor[0] == 1 and rec.floor[954] == 3 and rec.zone[0] == "B1-F1-S1" and rec.zone[954] == "B1-F3-S2"
    macs = raw.filter(like="MAC").to_numpy()
    np.testing.assert_array_equal(np.isnan(wifi.values), macs == 100)
    np.testing.assert_array_equal(wifi.values[macs != 100], macs[macs != 100])
    assert np.all(rec.building == 1) and set(np.unique(rec.floor)) == {1, 2, 3}
    # HCXY: own local frame (~900 m), single floor labelled 4
    hcxy = default["Testing_HCXY_AP-u05-p04"]
    np.testing.assert_allclose(hcxy.position[0], [858.645, 916.251, 0.0])
    assert np.all(hcxy.floor == 4) and np.all(hcxy.building == 2) and hcxy.zone[0] == "B2-F4-S1"
    assert np.isnan(hcxy.stream("wifi").values[0, 0]) and hcxy.stream("wifi").values[0, 19] == -77  # MAC302, MAC31
    assert np.all(default["Training_SYL_AP_30-u01-p01"].floor == 4)


def test_both_not_detected_codes_become_nan(root):
    ds = load_sodindoorloc(
        root,
        ["HCXY", "SYL"],
        [
            "HCXY/Training_HCXY_AP_Avg.csv.gz",
            "SYL/Training_SYL_AP_Avg.csv.gz",
            "SYL/Training_SYL_All_Avg.csv.gz",
            "SYL/Testing_SYL_All.csv.gz",
        ],
    ).validate()
    codes = {f["file"]: (f["not_detected_code"], f["not_detected_entries"]) for f in ds.provenance["files"]}
    assert codes == {
        "HCXY/Training_HCXY_AP_Avg.csv.gz": (-105, 15667),
        "SYL/Training_SYL_AP_Avg.csv.gz": (-105, 7865),
        "SYL/Training_SYL_All_Avg.csv.gz": (-105, 94309),
        "SYL/Testing_SYL_All.csv.gz": (100, 321829),
    }
    for stem, (_, n_nan) in zip(
        ["Training_HCXY_AP_Avg", "Training_SYL_AP_Avg", "Training_SYL_All_Avg", "Testing_SYL_All"], codes.values()
    ):
        values, _ = wifi_of(ds, stem + "-")
        assert np.count_nonzero(np.isnan(values)) == n_nan
        heard = values[np.isfinite(values)]
        assert heard.min() >= -104 and heard.max() <= -5  # neither -105 nor 100 survives as a reading
    # known cells of data row 1 (user 1 / 5, phone 1 / 4, so the first row of that recording)
    hcxy = ds["Training_HCXY_AP_Avg-u05-p04"].stream("wifi")
    col = {c: i for i, c in enumerate(hcxy.ids)}
    assert np.isnan(hcxy.values[0, col["HCXY:MAC302"]])  # -105 in the file
    assert hcxy.values[0, col["HCXY:MAC7"]] == -95 and hcxy.values[0, col["HCXY:MAC38"]] == -44
    syl = ds["Training_SYL_AP_Avg-u01-p01"].stream("wifi")
    col = {c: i for i, c in enumerate(syl.ids)}
    assert np.isnan(syl.values[0, col["SYL:MAC125"]]) and syl.values[0, col["SYL:MAC22"]] == -55
    syl_all = ds["Training_SYL_All_Avg-u01-p01"].stream("wifi")
    assert syl_all.values[0, 0] == -74 and np.isnan(syl_all.values[0, 11])  # MAC1, MAC12 (-105)
    assert ds.splits == {
        "train": [n for n in ds.recordings if n.startswith("Training_")],
        "test": [n for n in ds.recordings if n.startswith("Testing_")],
    }


def test_syl_building_id_counter_is_repaired(root):
    raw = pd.read_csv(root / "SYL" / "Training_SYL_All_Avg.csv.gz", usecols=["BuildingID"])
    np.testing.assert_array_equal(raw.BuildingID, np.arange(3, 299))  # the upstream bug
    ds = load_sodindoorloc(root / "SYL" / "Training_SYL_All_Avg.csv.gz")  # one file
    assert ds.n_samples == 296 and list(ds.splits) == ["train"]
    assert np.all(ds.concat("building") == 3) and set(np.char.partition(ds.concat("zone"), "-")[:, 0]) == {"B3"}
    assert ds.provenance["building_id_repaired_rows"] == 295
    assert ds.provenance["files"][0]["building_id_repaired_rows"] == 295
    assert [r.stream("wifi").shape[1] for r in ds] == [363, 363, 363]


def test_ids_are_building_qualified_and_match_within_a_building(default, root):
    ids = {
        b: set(default[n].stream("wifi").ids)
        for b, n in [
            ("CETC331", "Training_CETC331-u04-p03"),
            ("HCXY", "Training_HCXY_AP_30-u05-p04"),
            ("SYL", "Training_SYL_AP_30-u01-p01"),
        ]
    }
    assert [len(v) for v in ids.values()] == [52, 56, 46]
    assert not ids["CETC331"] & ids["HCXY"] and not ids["CETC331"] & ids["SYL"] and not ids["HCXY"] & ids["SYL"]
    assert all(i.startswith(b + ":MAC") for b, v in ids.items() for i in v)
    # "MAC22" exists in HCXY and SYL but names two different radios
    assert "HCXY:MAC22" in ids["HCXY"] and "SYL:MAC22" in ids["SYL"]
    # within a building the _AP_ and _All_ files share the column numbering: same id, same values
    ds = load_sodindoorloc(root, "HCXY", ["HCXY/Testing_HCXY_AP.csv.gz", "HCXY/Testing_HCXY_All.csv.gz"])
    ap, ap_ids = wifi_of(ds, "Testing_HCXY_AP-")
    every, all_ids = wifi_of(ds, "Testing_HCXY_All-")
    assert every.shape == (860, 347)
    idx = [list(all_ids).index(i) for i in ap_ids]
    np.testing.assert_array_equal(ap, every[:, idx])


def test_floor_plans_are_bounds_with_access_points(default):
    plans = default.floor_plans
    assert list(plans) == ["CETC331-F1", "CETC331-F2", "CETC331-F3", "HCXY-F4", "SYL-F4"]
    for plan in plans.values():
        assert len(plan.walls) == 0 and plan.zones == {}
        recs = [r for r in default if r.building[0] == plan.building]
        xy = np.concatenate([r.position[r.floor == plan.floor, :2] for r in recs])
        aps = np.array([a["position"][:2] for a in plan.meta["access_points"]])
        both = np.r_[xy, aps]
        np.testing.assert_allclose(plan.bounds, np.r_[both.min(0) - 1.0, both.max(0) + 1.0])
    assert default.floor_plan(floor=4, building=2).name == "HCXY-F4"
    # 26 / 56 / 23 APs, with 2 / 1 / 2 radios each (one RSS column per radio)
    radios = {p: len(plan.meta["access_points"]) for p, plan in plans.items()}
    assert radios == {"CETC331-F1": 14, "CETC331-F2": 24, "CETC331-F3": 14, "HCXY-F4": 56, "SYL-F4": 46}
    ap7 = [a for a in plans["CETC331-F1"].meta["access_points"] if a["ap"] == 7]
    assert ap7 == [
        {
            "id": "CETC331:MAC3",
            "ap": 7,
            "band": "2.4GHz",
            "frequency_mhz": 2412,
            "position": pytest.approx([53.2790000000969, 25.2094999999972, 0.0]),
            "floor": 1,
        },
        {
            "id": "CETC331:MAC4",
            "ap": 7,
            "band": "5GHz",
            "frequency_mhz": 5745,
            "position": pytest.approx([53.2790000000969, 25.2094999999972, 0.0]),
            "floor": 1,
        },
    ]
    # every radio of the AP-only files has a surveyed position
    for plan, rec in [("HCXY-F4", "Training_HCXY_AP_30-u05-p04"), ("SYL-F4", "Training_SYL_AP_30-u01-p01")]:
        assert {a["id"] for a in plans[plan].meta["access_points"]} == set(default[rec].stream("wifi").ids)


def test_read_access_points(root):
    aps = read_access_points(root / "AP_information_HCXY.csv", "HCXY")
    assert len(aps) == 56 and {a["band"] for a in aps} == {"2.4GHz"}  # HCXY lists no 5 GHz radios
    assert aps[0] == {
        "id": "HCXY:MAC191",
        "ap": 1,
        "band": "2.4GHz",
        "frequency_mhz": 2437,
        "position": [927.288442, 919.859163, 0.0],
        "floor": 4,
    }


def test_options_buildings_files_and_no_test(root):
    ds = import_sodindoorloc(root, buildings=[3], with_test=False, test_fraction=0.3, seed=0)
    assert sorted(ds.recordings) == [
        "Training_SYL_AP_30-u01-p01",
        "Training_SYL_AP_30-u02-p02",
        "Training_SYL_AP_30-u03-p01",
    ]
    assert set(ds.splits) == {"train", "test"} and len(ds.splits["test"]) == 1  # held out by recording
    assert ds.provenance["split"]["seed"] == 0 and list(ds.floor_plans) == ["SYL-F4"]
    # SYL's AP 12 (N = 32.0738105 m) lies north of every point (N <= 31.03): it sets the bound, + 1 m margin
    assert ds.floor_plans["SYL-F4"].bounds[3] == pytest.approx(33.0738105)
    small = load_sodindoorloc(root, "cetc331", "all_avg", scan_interval_s=0.5, margin_m=0.0)
    assert sorted(small.recordings) == ["Testing_CETC331-u04-p03", "Training_CETC331-u04-p03"]
    assert small["Testing_CETC331-u04-p03"].t[-1] == 839 * 0.5
    # floor 2's points span E 52.5..60.2, N 21.5..70.8 (its APs lie inside); no margin
    np.testing.assert_allclose(small.floor_plans["CETC331-F2"].bounds, [52.5, 21.5, 60.2, 70.8])
    assert set(FILE_SETS) == {"ap_30", "ap_avg", "all_avg"} and set(BUILDINGS) == {"CETC331", "HCXY", "SYL"}
    with pytest.raises(ConfigError, match="unknown SODIndoorLoc building"):
        load_sodindoorloc(root, "UJI")
    with pytest.raises(ConfigError, match="unknown SODIndoorLoc file set"):
        load_sodindoorloc(root, files="ap_60")
    with pytest.raises(ConfigError, match="not_detected"):
        load_sodindoorloc(root, not_detected=0)


def test_save_load_round_trip(root, tmp_path):
    ds = import_sodindoorloc(root, buildings="CETC331")
    back = load_dataset(save_dataset(ds, tmp_path / "sod"))
    assert back.splits == ds.splits == {"train": ["Training_CETC331-u04-p03"], "test": ["Testing_CETC331-u04-p03"]}
    for name, rec in ds.recordings.items():
        b = back[name]
        np.testing.assert_array_equal(b.stream("wifi").values, rec.stream("wifi").values)
        np.testing.assert_array_equal(b.stream("wifi").ids, rec.stream("wifi").ids)
        np.testing.assert_array_equal(b.position, rec.position)
        np.testing.assert_array_equal(b.zone, rec.zone)
        assert b.meta == rec.meta
    assert back.floor_plans["CETC331-F2"].meta == ds.floor_plans["CETC331-F2"].meta
    np.testing.assert_array_equal(back.floor_plans["CETC331-F3"].bounds, ds.floor_plans["CETC331-F3"].bounds)
    assert back.provenance["files"][0]["sha256"] == ds.provenance["files"][0]["sha256"]


# ---------------------------------------------------------------------------------------------- corrupted inputs
def test_slice_in_tmp_without_ap_information(slice_frame, tmp_path):
    path = write(tmp_path, slice_frame, gz=True, name="HCXY/Testing_HCXY_AP.csv.gz")
    ds = load_sodindoorloc(path).validate()
    assert ds.n_samples == N_SLICE and list(ds.recordings) == ["Testing_HCXY_AP-u05-p04"]
    assert "not found" in ds.provenance["access_points"]["HCXY"]
    assert "access_points" not in ds.floor_plans["HCXY-F4"].meta


def test_missing_file_and_folder(root, tmp_path):
    with pytest.raises(DataError, match="not found") as e:
        load_sodindoorloc(tmp_path / "absent")
    assert "absent" in str(e.value)
    with pytest.raises(DataError, match="file not found") as e:
        load_sodindoorloc(tmp_path)  # an empty folder: no CETC331/Training_CETC331.csv.gz
    assert e.value.file.endswith("CETC331/Training_CETC331.csv.gz")
    with pytest.raises(DataError, match="building's folder"):
        load_sodindoorloc(tmp_path, files=["other/Training_X.csv"])


def test_truncated_gzip(slice_frame, tmp_path):
    path = write(tmp_path, slice_frame, gz=True, name="HCXY/Testing_HCXY_AP.csv.gz")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="truncated or corrupted gzip") as e:
        load_sodindoorloc(path)
    assert e.value.file == str(path)


def test_missing_column(slice_frame, tmp_path):
    path = write(tmp_path, slice_frame.drop(columns=["FloorID"]))
    with pytest.raises(DataError, match="missing column") as e:
        load_sodindoorloc(path)
    assert e.value.field == "FloorID" and "Testing_HCXY_AP.csv" in str(e.value)
    path = write(tmp_path, slice_frame.drop(columns=[c for c in slice_frame if c.startswith("MAC")]))
    with pytest.raises(DataError, match="missing RSS columns") as e:
        load_sodindoorloc(path)
    assert e.value.field == "MAC1"


def test_non_numeric_rss(slice_frame, tmp_path):
    df = slice_frame.astype({"MAC31": object})
    df.loc[4, "MAC31"] = "weak"
    path = write(tmp_path, df)
    with pytest.raises(DataError, match=r"data row 5 \(line 6 of the file\) holds 'weak'; expected a number") as e:
        load_sodindoorloc(path)
    assert e.value.field == "MAC31" and "Testing_HCXY_AP.csv" in str(e.value)


@pytest.mark.parametrize("value", [50, 1, -150])
def test_rss_out_of_range(slice_frame, tmp_path, value):
    df = slice_frame.copy()
    df.loc[9, "MAC38"] = value
    path = write(tmp_path, df)
    with pytest.raises(DataError, match=rf"data row 10 \(line 11 of the file\) holds {value}; expected an RSS in dBm"):
        load_sodindoorloc(path)


def test_both_codes_in_one_file(slice_frame, tmp_path):
    df = slice_frame.copy()
    df.loc[2, "MAC20"] = -105
    path = write(tmp_path, df)
    with pytest.raises(DataError, match="both 'not detected' codes") as e:
        load_sodindoorloc(path)
    assert e.value.field == "MAC20" and "data row 3" in str(e.value)
    ds = load_sodindoorloc(path, not_detected=100)  # the user decides: -105 is then a reading
    assert ds["Testing_HCXY_AP-u05-p04"].stream("wifi").values[2, list(df.columns).index("MAC20")] == -105


def test_wrong_building_id_and_coordinates(slice_frame, tmp_path):
    df = slice_frame.copy()
    df.loc[6, "BuildingID"] = 3
    with pytest.raises(DataError, match=r"data row 7 .* holds 3; expected 2, the BuildingID of HCXY") as e:
        load_sodindoorloc(write(tmp_path, df))
    assert e.value.field == "BuildingID"
    df = slice_frame.copy()
    df["BuildingID"] = 2 + np.arange(N_SLICE)  # the counter bug is recognised in any file
    assert load_sodindoorloc(write(tmp_path, df)).provenance["building_id_repaired_rows"] == N_SLICE - 1
    df = slice_frame.astype({"NCoord": float})
    df.loc[1, "NCoord"] = 1e9
    with pytest.raises(DataError, match="data row 2 .* expected local metres") as e:
        load_sodindoorloc(write(tmp_path, df))
    assert e.value.field == "NCoord"
    df = slice_frame.astype({"UserID": float})
    df.loc[0, "UserID"] = 5.5
    with pytest.raises(DataError, match="expected an integer") as e:
        load_sodindoorloc(write(tmp_path, df))
    assert e.value.field == "UserID"


def test_bad_access_point_table(root, slice_frame, tmp_path):
    write(tmp_path, slice_frame)
    table = pd.read_csv(root / "AP_information_HCXY.csv")
    bad = table.astype({"NCoord": object})
    bad.loc[3, "NCoord"] = "north"
    bad.to_csv(tmp_path / "AP_information_HCXY.csv", index=False)
    with pytest.raises(DataError, match=r"data row 4 .* holds 'north'; expected a number") as e:
        load_sodindoorloc(tmp_path, "HCXY", ["HCXY/Testing_HCXY_AP.csv"])
    assert e.value.field == "NCoord" and "AP_information_HCXY.csv" in str(e.value)
    bad = table.copy()
    bad.loc[0, "Attribute_2.4"] = "AP-one"
    bad.to_csv(tmp_path / "AP_information_HCXY.csv", index=False)
    with pytest.raises(DataError, match="expected an RSS column name") as e:
        read_access_points(tmp_path / "AP_information_HCXY.csv", "HCXY")
    assert e.value.field == "Attribute_2.4"
    table.drop(columns=["FloorID"]).to_csv(tmp_path / "AP_information_HCXY.csv", index=False)
    with pytest.raises(DataError, match="missing column") as e:
        read_access_points(tmp_path / "AP_information_HCXY.csv", "HCXY")
    assert e.value.field == "FloorID"
