"""Indoor Location Competition 2.0 importer: real site1 traces, a synthetic trace, floor plans, corrupted inputs."""

import json
import lzma
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from omniloc import DataError
from omniloc.data import load_dataset, save_dataset, truth_at
from omniloc.data.loaders.indoor_competition import (
    DEFAULT_MAX_WIFI_AGE_S,
    floor_index,
    import_indoor_competition,
    load_indoor_competition,
    parse_trace,
    read_floor_plan,
)
from omniloc.data.splits import split_by_groups

KNOWN_ID = "5dd9e7aac5b77e0006b1732b"  # site1/F1, 31.5 s, 7 waypoints
MANIFEST_COUNTS = (
    "n_waypoint",
    "n_accelerometer",
    "n_gyroscope",
    "n_magnetic",
    "n_rotation_vector",
    "n_wifi_rows",
    "n_wifi_scans",
    "n_bssid",
    "n_beacon",
)


@pytest.fixture(scope="module")
def source(data_root):
    root = data_root / "indoor-location-competition-20"
    if not (root / "site1").is_dir():
        pytest.skip(f"{root / 'site1'} not found")
    return root


@pytest.fixture(scope="module")
def site(source):
    return source / "site1"


@pytest.fixture(scope="module")
def manifest(source):
    return pd.read_csv(source / "paths.csv").set_index("path_id")


@pytest.fixture(scope="module")
def known_file(site):
    return site / "F1" / "path_data_files" / f"{KNOWN_ID}.txt.xz"


@pytest.fixture(scope="module")
def known_text(known_file):
    with lzma.open(known_file, "rt", encoding="utf-8") as f:
        return f.read()


@pytest.fixture(scope="module")
def small(site):
    """3 paths per floor of site1 (15 paths, 118 waypoints)."""
    return load_indoor_competition(site, max_paths_per_floor=3)


def raw_rows(text, rtype):
    return [line.split("\t") for line in text.splitlines() if not line.startswith("#") and line.split("\t")[1] == rtype]


# ---------------------------------------------------------------------------------------------- one real trace
def test_parse_known_trace(known_file, known_text, manifest):
    tr = parse_trace(known_file)
    row = manifest.loc[KNOWN_ID]
    assert row.floor == "F1" and row.n_waypoint == 7 and row.n_wifi_rows == 2398
    assert len(tr.waypoint) == row.n_waypoint and len(tr.accelerometer) == row.n_accelerometer == 1579
    assert len(tr.gyroscope) == row.n_gyroscope and len(tr.magnetometer) == row.n_magnetic
    assert len(tr.rotation_vector) == row.n_rotation_vector
    assert len(tr.wifi["t"]) == row.n_wifi_rows and len(np.unique(tr.wifi["t"])) == row.n_wifi_scans == 16
    assert len(np.unique(tr.wifi["bssid"])) == row.n_bssid == 194 and len(tr.beacon["t"]) == row.n_beacon == 37
    # header
    assert tr.meta["floor_name"] == "F1" and tr.meta["site_id"] == "5dd3d7732a57a34356595932"
    assert (tr.meta["brand"], tr.meta["model"], tr.meta["android"]) == ("OPPO", "PBCM10", "8.1.0")
    assert (tr.meta["start_time_ms"], tr.meta["end_time_ms"]) == (1574559495255, 1574559526762)
    assert len(tr.meta["sensors"]) == 6 and tr.meta["sensors"][0]["name"] == "BMI160 Accelerometer"
    # t = 0 at the first imported record (the first waypoint; TYPE_DIST1 at ...260 is skipped)
    assert tr.t0_unix_ms == 1574559495263
    np.testing.assert_allclose(tr.waypoint[0], [0.0, 81.317215, 93.31349])
    np.testing.assert_allclose(tr.waypoint[1], [8.573, 75.371765, 94.800575])
    np.testing.assert_allclose(tr.waypoint[-1], [30.715, 75.371765, 94.800575])  # written last, after later IMU rows
    np.testing.assert_allclose(tr.accelerometer[0], [0.138, -0.85562134, 1.8243561, 9.826508])  # m/s^2
    np.testing.assert_allclose(tr.gyroscope[0], [0.138, -0.3919525, -0.07966614, 0.09211731])  # rad/s
    np.testing.assert_allclose(tr.magnetometer[0], [0.138, 29.78363, 6.427002, -30.062866])  # uT
    np.testing.assert_allclose(tr.rotation_vector[0], [0.138, 0.062149726, 0.0793645, 0.57060283])
    for arr in (tr.waypoint, tr.accelerometer, tr.wifi["t"], tr.beacon["t"]):
        assert np.all(np.diff(arr if arr.ndim == 1 else arr[:, 0]) >= 0)
    assert (tr.wifi["bssid"][0], tr.wifi["ssid"][0], tr.wifi["rssi"][0], tr.wifi["freq"][0]) == (
        "a8:0c:ca:03:9d:d7",
        "FMI",
        -49.0,
        2422.0,
    )
    assert tr.wifi["t"][0] == pytest.approx(1.928) and tr.wifi["last_seen"][0] == pytest.approx(0.187)
    # unknown and documented-but-not-imported types are counted, not parsed
    assert tr.skipped == {
        "TYPE_ACCELEROMETER_UNCALIBRATED": 1579,
        "TYPE_BLU4": 225,
        "TYPE_BLUE": 225,
        "TYPE_DIST1": 1,
        "TYPE_DIST2": 1,
        "TYPE_GYROSCOPE_UNCALIBRATED": 1579,
        "TYPE_MAGNETIC_FIELD_UNCALIBRATED": 1579,
        "TYPE_SENSOR_MAGNETIC_FIELD_ACCURACY_CHANGED": 1,
    }
    assert tr.malformed == {} and tr.n_lines == len(known_text.splitlines())
    assert len(raw_rows(known_text, "TYPE_BLUE")) == 225


@pytest.mark.parametrize("floor", ["B1", "F2", "F3", "F4"])
def test_counts_match_the_manifest(site, manifest, floor):
    pid = manifest[manifest.floor == floor].index[5]
    tr = parse_trace(site / floor / "path_data_files" / f"{pid}.txt.xz")
    row = manifest.loc[pid]
    got = {
        "n_waypoint": len(tr.waypoint),
        "n_accelerometer": len(tr.accelerometer),
        "n_gyroscope": len(tr.gyroscope),
        "n_magnetic": len(tr.magnetometer),
        "n_rotation_vector": len(tr.rotation_vector),
        "n_wifi_rows": len(tr.wifi["t"]),
        "n_wifi_scans": len(np.unique(tr.wifi["t"])),
        "n_bssid": len(np.unique(tr.wifi["bssid"])),
        "n_beacon": len(tr.beacon["t"]),
    }
    assert got == {k: int(row[k]) for k in MANIFEST_COUNTS}


def test_known_recording_streams(site, known_text):
    ds = load_indoor_competition(site, paths=[KNOWN_ID], include_beacons=True)
    assert list(ds.recordings) == [f"site1-F1-{KNOWN_ID}"] and list(ds.floor_plans) == ["site1-F1"]
    rec = ds[f"site1-F1-{KNOWN_ID}"].validate()
    # pose timeline = the 7 waypoints
    wp = np.array([[float(r[2]), float(r[3])] for r in raw_rows(known_text, "TYPE_WAYPOINT")])
    ms = np.array([int(r[0]) for r in raw_rows(known_text, "TYPE_WAYPOINT")])
    np.testing.assert_allclose(rec.t, (ms - 1574559495263) / 1000)
    np.testing.assert_allclose(rec.position, np.c_[wp, np.zeros(7)])
    assert rec.orientation is None and rec.floor.tolist() == [0] * 7 and rec.building.tolist() == [0] * 7
    assert rec.zone.tolist() == ["F1"] * 7
    assert rec.meta["pose_source"] == "waypoints (linear interpolation in time between taps)"
    assert rec.meta["t0_unix_ms"] == 1574559495263 and rec.meta["waypoint_span_s"] == [0.0, 30.715]
    assert rec.meta["device"] == "OPPO PBCM10" and rec.meta["path_id"] == KNOWN_ID
    mid = truth_at(rec, [rec.t[0] / 2 + rec.t[1] / 2])
    np.testing.assert_allclose(mid["position"][0, :2], wp[:2].mean(axis=0))
    # imu: (N, 6) float32, accelerometer then gyroscope on one timeline
    imu = rec.stream("imu")
    assert imu.kind == "imu" and imu.shape == (1579, 6) and imu.dtype == np.float32
    np.testing.assert_allclose(
        imu.values[0], [-0.85562134, 1.8243561, 9.826508, -0.3919525, -0.07966614, 0.09211731], rtol=1e-6
    )
    assert imu.t[0] == pytest.approx(0.138) and imu.meta["gyroscope_timing"] == "same timestamps as the accelerometer"
    assert 9.0 < np.median(np.linalg.norm(imu.values[:, :3], axis=1)) < 10.5  # gravity, m/s^2
    assert 45 < imu.rate_hz < 55
    mag = rec.stream("magnetometer")
    assert mag.kind == "magnetometer" and mag.shape == (1579, 3) and mag.dtype == np.float32
    np.testing.assert_allclose(mag.values[0], [29.78363, 6.427002, -30.062866], rtol=1e-6)
    assert 20 < np.median(np.linalg.norm(mag.values, axis=1)) < 80  # the Earth's field, uT
    rv = rec.stream("rotation_vector")
    assert rv.kind == "vector" and rv.shape == (1579, 4) and rv.dtype == np.float32
    v = np.array([0.062149726, 0.0793645, 0.57060283])
    np.testing.assert_allclose(rv.values[0], [np.sqrt(1 - v @ v), *v], rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(rv.values, axis=1), 1.0, atol=1e-6)
    # wifi: 16 scans, all fresh-enough; the 181 BSSIDs heard fresh; cached rows are NaN
    rows = raw_rows(known_text, "TYPE_WIFI")
    cached = [int(r[0]) - int(r[6]) > 2400 for r in rows]
    wifi = rec.stream("wifi")
    assert wifi.kind == "wifi" and wifi.dtype == np.float32 and wifi.shape == (16, 181)
    assert wifi.meta["cached_rows_dropped"] == sum(cached) == 1630 and wifi.meta["rows"] == 2398
    assert list(wifi.ids) == sorted({r[3] for r, c in zip(rows, cached) if not c})
    first = {r[3]: float(r[4]) for r, c in zip(rows, cached) if not c and r[0] == "1574559497191"}
    assert len(first) == 77 and np.count_nonzero(np.isfinite(wifi.values[0])) == 77
    col = {a: i for i, a in enumerate(wifi.ids)}
    assert wifi.values[0, col["a8:0c:ca:03:9d:d7"]] == -49  # heard 1.741 s before the scan time: fresh
    assert "74:ee:2a:cd:eb:43" not in first  # 6.449 s old in the first scan: cached
    finite = wifi.values[np.isfinite(wifi.values)]
    assert finite.min() >= -100 and finite.max() < 0
    assert wifi.t[0] == pytest.approx(1.928)
    # beacons: ids uuid:major:minor:mac (10 transmitters, only 2 distinct uuid:major:minor)
    beacon = rec.stream("beacon")
    assert beacon.kind == "wifi" and beacon.meta["rows"] == 37 and beacon.shape[1] == 10
    beacons = raw_rows(known_text, "TYPE_BEACON")
    assert list(beacon.ids) == sorted({":".join(r[2:5] + [r[8]]) for r in beacons})
    assert "9195B3AD-A9D0-4500-85FF-9FB0F65A5201:0:0:E0:78:A3:3D:B5:D6" in beacon.ids
    assert np.count_nonzero(np.isfinite(beacon.values)) == 37 and np.nanmax(beacon.values) < -50
    two = load_indoor_competition(site, paths=[KNOWN_ID], include_beacons=True, beacon_id="uuid:major:minor")
    assert two[rec.name].stream("beacon").shape[1] == 2
    assert "beacon" not in load_indoor_competition(site, paths=[KNOWN_ID])[rec.name].streams  # opt-in
    prov = ds.provenance
    assert prov["files"] == 1 and prov["cached_wifi_rows_dropped"] == 1630 and prov["malformed_lines_total"] == 0
    assert prov["skipped_record_types"]["TYPE_BLUE"] == 225 and "TYPE_BLUE" in prov["unknown_record_types"]
    assert "TYPE_ACCELEROMETER_UNCALIBRATED" not in prov["unknown_record_types"]
    assert prov["record_counts"]["TYPE_WIFI"] == 2398 and prov["licence"].startswith("MIT")
    assert prov["import_warnings"] == {} and "import_warnings" not in ds.summary()


# ---------------------------------------------------------------------------------------------- synthetic trace
HEADER = (
    "#\tstartTime:1000000\n#\tSiteID:s1\tSiteName:test\tFloorId:f2\tFloorName:F2\n"
    "#\tBrand:ACME\tModel:X1\tAndroidName:9\tAPILevel:28\t\n"
)
BODY = """1000000\tTYPE_DIST1\t1\t2\t3
1000010\tTYPE_WAYPOINT\t10.0\t20.0
1000020\tTYPE_ACCELEROMETER\t0.1\t0.2\t9.8\t3
1000020\tTYPE_GYROSCOPE\t0.01\t0.02\t0.03\t3
1000020\tTYPE_MAGNETIC_FIELD\t10\t20\t-30\t3
1000020\tTYPE_ROTATION_VECTOR\t0\t0\t0.6\t3
1000040\tTYPE_ACCELEROMETER\t0.3\t0.4\t9.6\t3
1000060\tTYPE_GYROSCOPE\t0.03\t0.04\t0.05\t3
1003000\tTYPE_WIFI\tnet\taa\t-50\t2412\t1002500
1003000\tTYPE_WIFI\tnet\tbb\t-60\t2412\t1000000
1003000\tTYPE_WIFI\tnet\tcc\t-70\t2412\t1000600
1003000\tTYPE_WIFI\tnet\tcc\t-65\t5180\t1000100
1003000\tTYPE_WIFI\t\tdd\t-80\t5180\t1002900
1003000\tTYPE_WIFI\t\tdd\t-75\t2412\t1002950
1005000\tTYPE_WIFI\tnet\taa\t-55\t2412\t1002500
1006000\tTYPE_BLUE\t\t11:22:33:44:55:66\t-90
1006500\tTYPE_FOO\t1\t2
1007000\tTYPE_WIFI\tnet\taa\t-52\t2412\t1006900
1007000\tTYPE_WIFI\tnet\tee\t-90\t2412\t1006000
1009000\tTYPE_ACCELEROMETER\t0.5\t0.6\t9.7\t3
1008000\tTYPE_WAYPOINT\t12.0\t20.0
#\tendTime:1009000
"""


def synthetic_site(tmp_path, body=BODY, header=HEADER, floor="F2", width=50.0, height=40.0, xz=False):
    """A site folder with one floor holding one trace ``p1``; returns the trace path."""
    fdir = tmp_path / "mysite" / floor
    (fdir / "path_data_files").mkdir(parents=True)
    (fdir / "floor_info.json").write_text(json.dumps({"map_info": {"width": width, "height": height}}))
    Image.new("RGBA", (100, 80), (0, 0, 0, 0)).save(fdir / "floor_image.png")
    path = fdir / "path_data_files" / ("p1.txt.xz" if xz else "p1.txt")
    text = header + body
    path.write_bytes(lzma.compress(text.encode()) if xz else text.encode())
    return path


def test_synthetic_trace_known_answer(tmp_path):
    path = synthetic_site(tmp_path)
    ds = load_indoor_competition(tmp_path / "mysite")
    assert ds.name == "indoor-competition-mysite" and list(ds.recordings) == ["mysite-F2-p1"]
    rec = ds["mysite-F2-p1"]
    assert rec.meta["t0_unix_ms"] == 1000010  # the first imported record (TYPE_DIST1 is skipped)
    np.testing.assert_allclose(rec.t, [0.0, 7.99])
    np.testing.assert_allclose(rec.position, [[10, 20, 0], [12, 20, 0]])
    assert rec.floor.tolist() == [1, 1] and rec.zone.tolist() == ["F2", "F2"] and rec.building.tolist() == [0, 0]
    # WiFi, default max age 2.4 s: bb (3.0 s), the older cc row (2.9 s) and the whole second scan (aa, 2.5 s) are
    # cached; cc at exactly 2.4 s is kept; dd twice in one scan keeps the fresher row (-75)
    wifi = rec.stream("wifi")
    assert list(wifi.ids) == ["aa", "cc", "dd", "ee"]
    np.testing.assert_allclose(wifi.t, [2.99, 6.99])
    np.testing.assert_array_equal(
        wifi.values, np.array([[-50, -70, -75, np.nan], [-52, np.nan, np.nan, -90]], dtype=np.float32)
    )
    assert (
        wifi.meta["rows"],
        wifi.meta["cached_rows_dropped"],
        wifi.meta["duplicate_rows_merged"],
        wifi.meta["stale_scans_dropped"],
        wifi.meta["scans"],
    ) == (9, 3, 1, 1, 3)
    assert ds.provenance["cached_wifi_rows_dropped"] == 3 and DEFAULT_MAX_WIFI_AGE_S == 2.4
    keep_all = load_indoor_competition(tmp_path / "mysite", max_wifi_age_s=None)["mysite-F2-p1"].stream("wifi")
    assert list(keep_all.ids) == ["aa", "bb", "cc", "dd", "ee"] and len(keep_all) == 3
    np.testing.assert_array_equal(keep_all.values[:, 2], np.array([-70, np.nan, np.nan], dtype=np.float32))
    assert keep_all.values[1, 0] == -55 and keep_all.meta["cached_rows_dropped"] == 0
    strict = load_indoor_competition(tmp_path / "mysite", max_wifi_age_s=0.5)["mysite-F2-p1"].stream("wifi")
    assert list(strict.ids) == ["aa", "dd"]  # aa at 0.5 s exactly is kept, ee at 1.0 s is not
    # IMU on the accelerometer clock, gyroscope interpolated (and held beyond its last sample)
    imu = rec.stream("imu")
    np.testing.assert_allclose(imu.t, [0.01, 0.03, 8.99])
    np.testing.assert_allclose(
        imu.values[:, 3:], [[0.01, 0.02, 0.03], [0.02, 0.03, 0.04], [0.03, 0.04, 0.05]], rtol=1e-6
    )
    assert imu.meta["gyroscope_timing"].startswith("linearly interpolated")
    assert imu.t[-1] > rec.t[-1]  # samples after the last waypoint are kept
    np.testing.assert_allclose(rec.stream("rotation_vector").values, [[0.8, 0, 0, 0.6]], rtol=1e-6)
    # unknown types counted
    tr = parse_trace(path)
    assert tr.skipped == {"TYPE_BLUE": 1, "TYPE_DIST1": 1, "TYPE_FOO": 1}
    assert ds.provenance["unknown_record_types"] == ["TYPE_BLUE", "TYPE_DIST1", "TYPE_FOO"]
    # the same trace xz-compressed gives the same arrays
    xz = parse_trace(synthetic_site(tmp_path / "xz", xz=True))
    np.testing.assert_array_equal(xz.accelerometer, tr.accelerometer)
    np.testing.assert_array_equal(xz.wifi["rssi"], tr.wifi["rssi"])


def test_floor_index():
    assert [floor_index(n) for n in ("B2", "B1", "F1", "F2", "F4", "1F", "3F", "L1")] == [-2, -1, 0, 1, 3, 0, 2, 0]
    assert floor_index("M", {"M": 5}) == 5
    with pytest.raises(DataError, match="unknown floor name 'M'"):
        floor_index("M")


# ---------------------------------------------------------------------------------------------- floor plans
def test_floor_plan_transform(site, small):
    info = json.loads((site / "F1" / "floor_info.json").read_text())["map_info"]
    plan = read_floor_plan(site / "F1", geojson=False)
    assert plan.name == "site1-F1" and plan.floor == 0 and plan.building == 0 and len(plan.walls) == 0
    assert plan.raster.shape == (588, 800, 3) and plan.raster.dtype == np.uint8
    np.testing.assert_allclose(plan.bounds, [0, 0, info["width"], info["height"]])
    w_m, h_m = info["width"], info["height"]
    # SOURCE.md: pixel edge = (x img_w / W, img_h - y img_h / H); pixel centres at integers
    np.testing.assert_allclose(
        plan.metre_to_pixel(np.array([[0.0, 0.0], [w_m, h_m], [w_m / 2, h_m / 4]])),
        [[-0.5, 587.5], [799.5, -0.5], [399.5, 0.75 * 588 - 0.5]],
        atol=1e-9,
    )
    pts = np.random.default_rng(0).uniform([0, 0], [w_m, h_m], size=(50, 2))
    pix = plan.metre_to_pixel(pts)
    np.testing.assert_allclose((np.c_[pix, np.ones(50)] @ plan.pixel_to_metre.T)[:, :2], pts, atol=1e-9)
    # waypoints lie inside the plan bounds, and with the y-flip they land on corridor pixels (transparent in the
    # PNG, white in the raster) far more often than mirrored
    on_white, mirrored, transparent = [], [], []
    for rec in small:
        plan = small.floor_plan(int(rec.floor[0]))
        b = plan.bounds
        xy = rec.position[:, :2]
        assert np.all((xy >= b[:2]) & (xy <= b[2:])), rec.name
        cr = np.rint(plan.metre_to_pixel(xy)).astype(int)
        h = plan.raster.shape[0]
        on_white += list((plan.raster[cr[:, 1], cr[:, 0]] == 255).all(axis=1))
        mirrored += list((plan.raster[h - 1 - cr[:, 1], cr[:, 0]] == 255).all(axis=1))
        alpha = np.asarray(Image.open(site / rec.meta["floor_name"] / "floor_image.png"))[..., 3]
        transparent += list(alpha[cr[:, 1], cr[:, 0]] == 0)
    assert len(on_white) == small.n_samples == 118
    assert np.mean(on_white) > 0.9 and np.mean(transparent) > 0.9 and np.mean(mirrored) < 0.65
    assert set(small.floor_plans) == {f"site1-{f}" for f in ("B1", "F1", "F2", "F3", "F4")}
    assert small.floor_plan(-1).name == "site1-B1" and small.floor_plan(-1).bounds[2] == pytest.approx(320.0770549805)


def test_geojson_map_on_the_real_site1_files(site, small):
    """The outline's lon/lat box maps onto (0, 0, W, H): >= 94 % of every floor's waypoints are walkable."""
    import lzma

    for name, min_share in (("B1", 0.97), ("F1", 1.0), ("F2", 0.98), ("F3", 0.98), ("F4", 1.0)):
        plan = read_floor_plan(site / name)
        info = json.loads((site / name / "floor_info.json").read_text())["map_info"]
        assert plan.zones and plan.obstacles and plan.meta["walls_are_polygon_edges"]
        outline = np.concatenate(list(plan.zones.values()))
        np.testing.assert_allclose(outline.min(axis=0), [0, 0], atol=1e-9)
        np.testing.assert_allclose(outline.max(axis=0), [info["width"], info["height"]], rtol=1e-12)
        # the box in degrees has the floor's aspect ratio once longitude is scaled by cos(latitude)
        lo0, la0, lo1, la1 = plan.meta["geojson_lonlat_box"]
        aspect = (lo1 - lo0) * np.cos(np.radians(0.5 * (la0 + la1))) / (la1 - la0)
        assert aspect == pytest.approx(info["width"] / info["height"], rel=0.01)
        wp = []
        for f in sorted((site / name / "path_data_files").glob("*.txt.xz"))[:10]:
            with lzma.open(f, "rt", encoding="utf-8") as fh:
                wp += [[float(v) for v in line.split("\t")[2:4]] for line in fh if "TYPE_WAYPOINT" in line]
        wp = np.array(wp)
        share = plan.is_free(wp).mean()
        assert share >= 0.94 and share >= min_share - 0.03, (name, share)
        assert plan.walkable_grid(0.5).is_free(wp).mean() >= 0.9
    # a shop is an obstacle: its centre is not walkable, the outline's is
    f1 = small.floor_plan(0)
    shop = next(v for k, v in f1.obstacles.items() if k.startswith("UNIQLO"))
    assert not f1.is_free(shop.mean(axis=0)[None])[0]


def test_geojson_map_corrupted(tmp_path):
    from omniloc.data.loaders.indoor_competition import read_geojson_map

    bad = tmp_path / "geojson_map.json"
    for text, what in (
        ("{not json", "not readable GeoJSON"),
        ('{"type": "FeatureCollection"}', "field 'features'"),
        ('{"features": [{"properties": {"type": "shop"}, "geometry": {}}]}', 'properties.type == "floor"'),
        (
            '{"features": [{"properties": {"type": "floor"}, "geometry": {"type": "Point", "coordinates": [1, 2]}}]}',
            "field 'features\\[0\\].geometry'",
        ),
        (
            '{"features": [{"properties": {"type": "floor"}, "geometry": {"type": "Polygon", '
            '"coordinates": [[[1, 1], [1, 1], [1, 1]]]}}]}',
            "degrees; expected an area",
        ),
    ):
        bad.write_text(text)
        with pytest.raises(DataError, match=what) as e:
            read_geojson_map(bad, 10.0, 5.0)
        assert str(bad) in str(e.value)
    # a minimal valid map: a 10 x 5 m outline with one 2 x 1 m shop in the middle
    bad.write_text(
        json.dumps(
            {
                "features": [
                    {
                        "properties": {"type": "floor"},
                        "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [2, 0], [2, 1], [0, 1]]]},
                    },
                    {
                        "properties": {"name": "shop"},
                        "geometry": {
                            "type": "Polygon",
                            "coordinates": [[[0.8, 0.4], [1.2, 0.4], [1.2, 0.6], [0.8, 0.6]]],
                        },
                    },
                ]
            }
        )
    )
    g = read_geojson_map(bad, 10.0, 5.0, floor_name="F1")
    np.testing.assert_allclose(g["obstacles"]["shop #1"], [[4, 2], [6, 2], [6, 3], [4, 3]])
    assert list(g["zones"]) == ["F1"] and g["walls"].shape == (8, 2, 2)


def test_floor_plan_downsampled(site):
    full, half = read_floor_plan(site / "F1"), read_floor_plan(site / "F1", max_raster_px=400)
    assert half.raster.shape == (294, 400, 3) and half.meta["image_px"] == [800, 588]
    np.testing.assert_allclose(half.bounds, full.bounds)
    pts = np.array([[81.317215, 93.31349], [10.0, 170.0]])
    np.testing.assert_allclose(half.metre_to_pixel(pts), (full.metre_to_pixel(pts) + 0.5) / 2 - 0.5, atol=1e-9)


# ---------------------------------------------------------------------------------------------- selection, splits, io
def test_selection_and_dataset_root(source, site):
    ids = sorted(p.name.split(".")[0] for p in (site / "F3" / "path_data_files").iterdir())
    assert len(ids) == 40
    ds = load_indoor_competition(source, floors=["F3"], max_paths_per_floor=4)  # the root holding site folders
    assert list(ds.recordings) == [f"site1-F3-{ids[i]}" for i in (0, 10, 20, 30)]
    assert ds.name == "indoor-competition-site1" and list(ds.floor_plans) == ["site1-F3"]
    assert ds.provenance["sites"] == {"site1": 0} and ds.provenance["floors"] == {"site1-F3": 2}
    assert {int(r.floor[0]) for r in ds} == {2}
    with pytest.raises(DataError, match=r"no floor folder \['F9'\]"):
        load_indoor_competition(site, floors=["F9"])
    with pytest.raises(DataError, match="no path file for ids"):
        load_indoor_competition(site, paths=["nope"])
    with pytest.raises(DataError, match="no site found"):
        load_indoor_competition(site / "F1")


def test_split_by_path(small, site):
    ds = import_indoor_competition(site, max_paths_per_floor=3, test_fraction=0.2, seed=0)
    train, test = ds.splits["train"], ds.splits["test"]
    assert train and test and not set(train) & set(test) and sorted(train + test) == sorted(small.recordings)
    n_test = sum(len(ds[n]) for n in test)  # whole paths, sized in waypoints
    assert ds.provenance["split"]["test_rows"] == n_test and "path" in ds.provenance["split"]["by"]
    assert 0.1 < n_test / ds.n_samples < 0.3
    assert split_by_groups(small, test_fraction=0.2, seed=0).splits == ds.splits  # deterministic
    others = {tuple(split_by_groups(small, test_fraction=0.2, seed=s).splits["test"]) for s in (1, 2, 3)}
    assert len(others | {tuple(test)}) > 1


def test_round_trip_two_paths(site, tmp_path):
    ds = import_indoor_competition(
        site, floors=["F1"], max_paths_per_floor=2, test_fraction=0.5, seed=0, include_beacons=True
    )
    assert len(ds) == 2 and set(ds.splits) == {"train", "test"}
    back = load_dataset(save_dataset(ds, tmp_path / "ds"))
    assert back.splits == ds.splits and back.provenance == json.loads(json.dumps(ds.provenance))
    plan, plan2 = ds.floor_plans["site1-F1"], back.floor_plans["site1-F1"]
    np.testing.assert_array_equal(plan2.raster, plan.raster)
    np.testing.assert_allclose(plan2.pixel_to_metre, plan.pixel_to_metre)
    assert plan2.floor == 0 and plan2.bounds.tolist() == plan.bounds.tolist()
    for rec in ds:
        got = back[rec.name]
        np.testing.assert_array_equal(got.t, rec.t)
        np.testing.assert_array_equal(got.position, rec.position)
        assert got.zone.tolist() == rec.zone.tolist() and got.floor.tolist() == rec.floor.tolist()
        assert got.meta == rec.meta
        assert set(got.streams) == {"imu", "magnetometer", "rotation_vector", "wifi", "beacon"}
        for name, s in rec.streams.items():
            g = got.streams[name]
            assert g.kind == s.kind and g.dtype == s.dtype
            np.testing.assert_array_equal(g.values, s.values)
            np.testing.assert_array_equal(g.t, s.t)
            assert (g.ids is None and s.ids is None) or list(g.ids) == list(s.ids)


# ---------------------------------------------------------------------------------------------- corrupted inputs
def test_truncated_xz(known_file, tmp_path):
    data = known_file.read_bytes()
    path = tmp_path / "cut.txt.xz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="truncated or corrupted xz stream after line") as e:
        parse_trace(path)
    assert e.value.file == str(path) and "cut.txt.xz" in str(e.value)


def test_missing_trace_file(tmp_path):
    with pytest.raises(DataError, match="file not found") as e:
        parse_trace(tmp_path / "absent.txt")
    assert "absent.txt" in str(e.value)
    (tmp_path / "empty.txt").write_text(HEADER)
    with pytest.raises(DataError, match="no data record of the imported types .* in 3 lines"):
        parse_trace(tmp_path / "empty.txt")


@pytest.mark.parametrize(
    "old, new, lineno, fld, what",
    [
        (
            "1008000\tTYPE_WAYPOINT\t12.0\t20.0",
            "1008000\tTYPE_WAYPOINT\t12.0",
            24,
            "TYPE_WAYPOINT.y",
            "3 tab-separated fields; expected at least 4",
        ),
        (
            "1000040\tTYPE_ACCELEROMETER\t0.3\t0.4",
            "1000040\tTYPE_ACCELEROMETER\t0.3\tabc",
            10,
            "TYPE_ACCELEROMETER.y",
            "y is 'abc'; expected a number",
        ),
        (
            "1003000\tTYPE_WIFI\tnet\tbb\t-60",
            "1003000\tTYPE_WIFI\tnet\tbb\t-6x0",
            13,
            "TYPE_WIFI.rssi",
            "rssi is '-6x0'; expected a number",
        ),
        (
            "1000020\tTYPE_MAGNETIC_FIELD\t10",
            "1000020\tTYPE_MAGNETIC_FIELD\tnan",
            8,
            "TYPE_MAGNETIC_FIELD.x",
            "expected a finite number",
        ),
        (
            "1000060\tTYPE_GYROSCOPE",
            "1000060.5\tTYPE_GYROSCOPE",
            11,
            "TYPE_GYROSCOPE.timestamp",
            "expected Unix milliseconds",
        ),
        (
            "1007000\tTYPE_WIFI\tnet\tee\t-90\t2412\t1006000",
            "1007000\tTYPE_WIFI\tnet\tee\t-90\t2412\tlater",
            22,
            "TYPE_WIFI.last_seen",
            "last_seen is 'later'",
        ),
    ],
)
def test_malformed_line(tmp_path, old, new, lineno, fld, what):
    assert BODY.count(old) == 1
    path = synthetic_site(tmp_path, body=BODY.replace(old, new))
    with pytest.raises(DataError, match=f"line {lineno} ") as e:
        load_indoor_competition(tmp_path / "mysite")
    assert e.value.field == fld and what in str(e.value) and "p1.txt" in str(e.value)
    assert (HEADER + BODY.replace(old, new)).splitlines()[lineno - 1].startswith(new)  # the line named
    tr = parse_trace(path, on_malformed="skip")
    assert tr.malformed == {fld.split(".")[0]: 1}
    ds = load_indoor_competition(tmp_path / "mysite", on_malformed="skip")
    assert ds.provenance["malformed_lines_total"] == 1


def test_skip_counts_each_bad_line_once(tmp_path):
    bad_gyro = "1000050\tTYPE_GYROSCOPE\tx\ty\tz\t3\n"  # three bad values on one line
    path = synthetic_site(tmp_path, body=BODY.replace("1000060\tTYPE_GYROSCOPE", bad_gyro + "1000060\tTYPE_GYROSCOPE"))
    with pytest.raises(DataError, match="line 11 \\(TYPE_GYROSCOPE\\): x is 'x'; expected a number"):
        parse_trace(path)
    path.write_text(HEADER + BODY.replace("1000060\tTYPE_GYROSCOPE", bad_gyro + "garbage\n\n1000060\tTYPE_GYROSCOPE"))
    with pytest.raises(DataError, match="line 12 \\(\\?\\): 'garbage' has no record type"):
        parse_trace(path)
    tr = parse_trace(path, on_malformed="skip")
    assert tr.malformed == {"?": 1, "TYPE_GYROSCOPE": 1} and len(tr.gyroscope) == 2  # the blank line is ignored


def test_bad_header_and_floor_mismatch(tmp_path):
    # the header times are metadata (t = 0 is the first record): an odd one is left out and counted
    synthetic_site(tmp_path / "a", header=HEADER.replace("startTime:1000000", "startTime:soon"))
    ds = load_indoor_competition(tmp_path / "a" / "mysite")
    assert "start_time_ms" not in ds["mysite-F2-p1"].meta and ds["mysite-F2-p1"].meta["t0_unix_ms"] == 1000010
    assert ds.provenance["import_warnings"] == {
        "mysite/F2/path_data_files/p1.txt": {"header startTime not Unix milliseconds (ignored)": 1}
    }
    synthetic_site(tmp_path / "b", floor="F3")
    with pytest.raises(DataError, match="header FloorName is 'F2' but the file is in floor folder 'F3'"):
        load_indoor_competition(tmp_path / "b" / "mysite")
    synthetic_site(tmp_path / "c", body=BODY.replace("TYPE_WAYPOINT", "TYPE_WAYPOINTX"))
    with pytest.raises(DataError, match="no TYPE_WAYPOINT line"):
        load_indoor_competition(tmp_path / "c" / "mysite")


def test_missing_or_bad_floor_info(tmp_path):
    synthetic_site(tmp_path)
    info = tmp_path / "mysite" / "F2" / "floor_info.json"
    info.unlink()
    with pytest.raises(DataError, match="file not found") as e:
        load_indoor_competition(tmp_path / "mysite")
    assert e.value.file == str(info)
    info.write_text(json.dumps({"map_info": {"width": -3, "height": 40}}))
    with pytest.raises(DataError, match="is -3; expected a positive number of metres") as e:
        load_indoor_competition(tmp_path / "mysite")
    assert e.value.field == "map_info.width" and "floor_info.json" in str(e.value)
    info.write_text('{"map_info": {"width": 5')
    with pytest.raises(DataError, match="invalid JSON"):
        load_indoor_competition(tmp_path / "mysite")
    info.write_text(json.dumps({"map_info": {"width": 50, "height": 40}}))
    (tmp_path / "mysite" / "F2" / "floor_image.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="not a readable image"):
        load_indoor_competition(tmp_path / "mysite")
    (tmp_path / "mysite" / "F2" / "floor_image.png").unlink()  # no image: a plan without raster
    plan = load_indoor_competition(tmp_path / "mysite").floor_plans["mysite-F2"]
    assert plan.raster is None and plan.bounds.tolist() == [0, 0, 50, 40]


def test_unknown_floor_folder(tmp_path):
    synthetic_site(tmp_path, floor="M", header=HEADER.replace("FloorName:F2", "FloorName:M"))
    with pytest.raises(DataError, match="unknown floor name 'M'"):
        load_indoor_competition(tmp_path / "mysite")
    ds = load_indoor_competition(tmp_path / "mysite", floor_map={"M": 7}, floor_height_m=5.0)
    rec = ds["mysite-M-p1"]
    assert rec.floor.tolist() == [7, 7] and rec.position[:, 2].tolist() == [35.0, 35.0]
    assert ds.floor_plans["mysite-M"].elevation_m == 35.0
    shutil.rmtree(tmp_path / "mysite")


# ---------------------------------------------------------------------------------------------- tolerated odd values
BEACON = "1004000\tTYPE_BEACON\tFDA50693-A4E2\t10\t7\t-59\t-80\t1.5\tAA:BB:CC:DD:EE:FF\t1004000\n"


def with_beacon(body=BODY, row=BEACON):
    return body.replace("1005000\tTYPE_WIFI", row + "1005000\tTYPE_WIFI")


def test_odd_values_in_unneeded_fields_become_nan_and_are_counted(tmp_path):
    """Finding 10: a beacon distance of Infinity (and a WiFi frequency of 'null') must not stop the import."""
    odd = BEACON.replace("\t1.5\t", "\tInfinity\t").replace("\t-59\t", "\tn/a\t")
    body = with_beacon(row=odd).replace("cc\t-65\t5180", "cc\t-65\tnull")
    synthetic_site(tmp_path, body=body)
    for beacons in (False, True):
        ds = import_indoor_competition(tmp_path / "mysite", include_beacons=beacons, test_fraction=0.0)
        rec = ds["mysite-F2-p1"]
        np.testing.assert_array_equal(rec.position, [[10, 20, 0], [12, 20, 0]])  # ground truth as without odd values
        assert rec.stream("wifi").values[0].tolist()[:3] == [-50, -70, -75]
        assert ds.provenance["import_warnings"] == {
            "mysite/F2/path_data_files/p1.txt": {
                "TYPE_BEACON.distance not a finite number -> NaN": 1,
                "TYPE_BEACON.tx_power not a number -> NaN": 1,
                "TYPE_WIFI.freq not a number -> NaN": 1,
            }
        }
        assert ds.summary()["import_warnings"] == 3 and ds.summary()["import_warnings_in_files"] == 1
    beacon = rec.stream("beacon")  # include_beacons=True: the row is kept, its RSSI is the sensor value
    assert beacon.ids.tolist() == ["FDA50693-A4E2:10:7:AA:BB:CC:DD:EE:FF"] and beacon.values.tolist() == [[-80.0]]
    tr = parse_trace(tmp_path / "mysite" / "F2" / "path_data_files" / "p1.txt")
    assert np.isinf(tr.beacon["distance"]).sum() == 0 and np.isnan(tr.beacon["distance"]).tolist() == [True]
    assert np.isnan(tr.wifi["freq"]).sum() == 1 and tr.beacon["rssi"].tolist() == [-80.0]


def test_bad_beacon_rssi_matters_only_when_beacons_are_imported(tmp_path):
    path = synthetic_site(tmp_path, body=with_beacon(row=BEACON.replace("\t-80\t", "\tInfinity\t")))
    ds = load_indoor_competition(tmp_path / "mysite")  # beacons off: the row is dropped and counted
    assert ds.provenance["import_warnings"]["mysite/F2/path_data_files/p1.txt"] == {
        "TYPE_BEACON row with a bad timestamp, rssi, major or minor dropped (beacons not imported)": 1
    }
    assert len(parse_trace(path, beacons=False).beacon["t"]) == 0
    with pytest.raises(DataError, match=r"line \d+ \(TYPE_BEACON\): rssi is 'Infinity'; expected a finite") as e:
        load_indoor_competition(tmp_path / "mysite", include_beacons=True)
    assert e.value.field == "TYPE_BEACON.rssi" and "p1.txt" in str(e.value)
    short = synthetic_site(tmp_path / "b", body=with_beacon(row="1004000\tTYPE_BEACON\tFDA50693\t10\n"))
    assert parse_trace(short, beacons=False).warnings == {
        "TYPE_BEACON row with too few fields dropped (beacons not imported)": 1
    }
    with pytest.raises(DataError, match="4 tab-separated fields; expected at least 9"):
        parse_trace(short)


def test_a_real_trace_with_an_infinite_beacon_distance(site, tmp_path):
    """The real site1 trace, one beacon row's distance replaced by Infinity: same recording, one warning."""
    src = site / "F1"
    fdir = tmp_path / "site1" / "F1"
    (fdir / "path_data_files").mkdir(parents=True)
    for name in ("floor_info.json", "floor_image.png"):
        shutil.copy(src / name, fdir / name)
    with lzma.open(src / "path_data_files" / f"{KNOWN_ID}.txt.xz", "rt", encoding="utf-8") as f:
        lines = f.read().split("\n")
    k = next(i for i, ln in enumerate(lines) if "\tTYPE_BEACON\t" in ln)
    parts = lines[k].split("\t")
    parts[7] = "Infinity"  # the distance
    lines[k] = "\t".join(parts)
    (fdir / "path_data_files" / f"{KNOWN_ID}.txt").write_text("\n".join(lines), encoding="utf-8")
    odd = load_indoor_competition(tmp_path / "site1", include_beacons=True)
    real = load_indoor_competition(site, paths=[KNOWN_ID], include_beacons=True)
    name = f"site1-F1-{KNOWN_ID}"
    for key in ("imu", "magnetometer", "wifi", "beacon"):
        np.testing.assert_array_equal(odd[name].stream(key).values, real[name].stream(key).values)
    np.testing.assert_array_equal(odd[name].position, real[name].position)
    assert odd.provenance["import_warnings"] == {
        f"site1/F1/path_data_files/{KNOWN_ID}.txt": {"TYPE_BEACON.distance not a finite number -> NaN": 1}
    }


def test_unknown_floor_folder_is_skipped_and_reported(tmp_path):
    synthetic_site(tmp_path)
    other = synthetic_site(tmp_path / "x", floor="M", header=HEADER.replace("FloorName:F2", "FloorName:M"))
    shutil.move(other.parent.parent, tmp_path / "mysite" / "M")
    ds = load_indoor_competition(tmp_path / "mysite")
    assert list(ds.recordings) == ["mysite-F2-p1"] and list(ds.floor_plans) == ["mysite-F2"]
    assert ds.provenance["import_warnings"] == {
        "mysite/M": {"unknown floor name 'M': floor folder skipped (pass floor_map={name: number} to import it)": 1}
    }
    with pytest.raises(DataError, match="unknown floor name 'M'") as e:
        load_indoor_competition(tmp_path / "mysite", floors=["M"])
    assert e.value.file == str(tmp_path / "mysite" / "M")
    both = load_indoor_competition(tmp_path / "mysite", floor_map={"M": 7})
    assert sorted(both.recordings) == ["mysite-F2-p1", "mysite-M-p1"] and both.provenance["import_warnings"] == {}


# ---------------------------------------------------------------------------------------------- impossible ground truth
@pytest.mark.parametrize(
    "old, new, message",
    [
        (
            "1008000\tTYPE_WAYPOINT\t12.0\t20.0",
            "1008000\tTYPE_WAYPOINT\t1e300\t20.0",
            r"line 24: TYPE_WAYPOINT point \[1e\+300, 20.0\]; expected finite metres with \|coordinate\| <= 1e\+07",
        ),
        (
            "1008000\tTYPE_WAYPOINT\t12.0\t20.0",
            "1008000\tTYPE_WAYPOINT\t12.0\t-45.0",
            r"line 24: TYPE_WAYPOINT point \[12.0, -45.0\] lies outside \[-50, 100\], \[-40, 80\] m "
            r"\(the floor extent 50 x 40 m",
        ),
        (
            "1008000\tTYPE_WAYPOINT\t12.0\t20.0",
            "1000010\tTYPE_WAYPOINT\t12.0\t20.0",
            r"lines 5 and 24: two TYPE_WAYPOINT points at the same time 0 with different positions \[10.0, 20.0\] and "
            r"\[12.0, 20.0\]",
        ),
    ],
)
def test_impossible_waypoints_are_refused(tmp_path, old, new, message):
    synthetic_site(tmp_path, body=BODY.replace(old, new))
    with pytest.raises(DataError, match=message) as e:
        import_indoor_competition(tmp_path / "mysite", test_fraction=0.0)
    assert e.value.field == "TYPE_WAYPOINT" and e.value.file.endswith("p1.txt")


def test_repeated_waypoint_with_the_same_position_is_kept(tmp_path):
    body = BODY.replace(
        "1008000\tTYPE_WAYPOINT\t12.0\t20.0", "1008000\tTYPE_WAYPOINT\t12.0\t20.0\n1008000\tTYPE_WAYPOINT\t12.0\t20.0"
    )
    synthetic_site(tmp_path, body=body)
    rec = load_indoor_competition(tmp_path / "mysite")["mysite-F2-p1"]
    np.testing.assert_allclose(rec.t, [0.0, 7.99, 7.99])


def test_broken_timestamp_spanning_decades_is_refused(tmp_path):
    synthetic_site(tmp_path, body=BODY.replace("1000040\tTYPE_ACCELEROMETER", "1700000000000\tTYPE_ACCELEROMETER"))
    with pytest.raises(
        DataError,
        match=r"records span 1\.7e\+09 s, from line 5 \(TYPE_WAYPOINT at 1000010 ms\) to "
        r"line 10 \(TYPE_ACCELEROMETER at 1700000000000 ms\); expected one walk",
    ) as e:
        load_indoor_competition(tmp_path / "mysite")
    assert e.value.field == "TYPE_ACCELEROMETER.timestamp"


def test_one_path_leaves_no_test_split(tmp_path):
    synthetic_site(tmp_path)
    with pytest.raises(
        DataError,
        match=r"only one path file \('mysite-F2-p1'\) to split by recording: "
        r"test_fraction=0.1 would leave the test split empty",
    ) as e:
        import_indoor_competition(tmp_path / "mysite")
    assert e.value.field == "test_fraction"
    assert import_indoor_competition(tmp_path / "mysite", test_fraction=0.0).splits == {"train": ["mysite-F2-p1"]}
    assert import_indoor_competition(tmp_path / "mysite", test_fraction=1.0).splits == {"test": ["mysite-F2-p1"]}
