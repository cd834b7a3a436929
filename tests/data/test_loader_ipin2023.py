"""IPIN 2023 Track 3 loader: real logs against the trials.csv manifest, the georeferenced floor map,
a synthetic log with known answers, and corrupted inputs."""

import lzma
import math

import numpy as np
import pandas as pd
import pytest

from omniloc import DataError
from omniloc.data import load_dataset, save_dataset, truth_at
from omniloc.data.loaders.ipin2023 import (
    DEFAULT_ORIGIN,
    import_ipin2023,
    latlon_to_local_m,
    load_floor_plans,
    load_ipin2023,
    parse_log,
    read_log_header,
)
from omniloc.data.transforms import quat_to_matrix

LOG_01_1 = "IPIN2023_T3_TrainingTrial01_repetition01.txt.xz"  # SM-A520F, floor 0
LOG_51_2 = "IPIN2023_T3_TrainingTrial51_repetition02.txt.xz"  # SM-G930F, floors 0 / -1 / -2, PROX records


@pytest.fixture(scope="module")
def root(data_root):
    path = data_root / "ipin2023-track3"
    if not (path / "logfiles" / LOG_01_1).exists():
        pytest.skip(f"{path} not found")
    return path


@pytest.fixture(scope="module")
def manifest(root):
    return pd.read_csv(root / "trials.csv").set_index("file")


@pytest.fixture(scope="module")
def log01(root):
    return parse_log(root / "logfiles" / LOG_01_1)


@pytest.fixture(scope="module")
def ds51(root):
    """Trial 51 (one log, crosses floors 0/-1/-2) with the floor plans."""
    return load_ipin2023(root, trials=[51]).validate()


# ---------------------------------------------------------------------------------------------- real logs
@pytest.mark.parametrize("file", [LOG_01_1, LOG_51_2])
def test_parse_log_counts_match_the_manifest(root, manifest, log01, file):
    log = log01 if file == LOG_01_1 else parse_log(root / "logfiles" / file)
    row = manifest.loc[file]
    assert log.header["model"] == row.phone_model and log.header["manufacturer"] == "samsung"
    for ty in ("ACCE", "GYRO", "MAGN", "AHRS", "PRES", "WIFI", "BLE4", "GNSS", "LIGH", "SOUN", "POSI"):
        assert log.count(ty) == row[f"n_{ty.lower()}"], ty
    assert len(set(log.records["WIFI"]["bssid"])) == row.n_wifi_bssid
    assert ("PROX" in log.records) == (row.other_types == "PROX")
    assert log.skipped == {}
    assert sorted(set(log.records["POSI"]["floor"])) == sorted(int(f) for f in str(row.posi_floors).split("|"))
    for ty, rec in log.records.items():
        assert np.all(np.diff(rec["app_t"]) >= 0), ty
        assert len(log.lines[ty]) == len(rec["app_t"]) and np.all(np.diff(log.lines[ty]) > 0)
    assert abs(max(r["app_t"][-1] for r in log.records.values()) - row.duration_s) < 0.1


def test_parse_log_values_and_lines(log01):
    # lines 41 and 16618 of the decompressed Trial01/repetition01 log:
    # ACCE;0.0542;65093.5471;-1.01514;8.26000;6.21535;3
    # POSI;61.4235;1;49.461316433032;11.110964442580;0;100
    acc, posi = log01.records["ACCE"], log01.records["POSI"]
    assert log01.lines["ACCE"][0] == 41 and log01.lines["POSI"][0] == 16618 and log01.n_lines == 63114
    assert (acc["app_t"][0], acc["sensor_t"][0], acc["x"][0], acc["y"][0], acc["z"][0], acc["accuracy"][0]) == (
        0.0542,
        65093.5471,
        -1.01514,
        8.26,
        6.21535,
        3,
    )
    assert acc["accuracy"].dtype == np.int64 and acc["x"].dtype == np.float64
    assert (
        posi["app_t"][0],
        posi["counter"][0],
        posi["lat"][0],
        posi["lon"][0],
        posi["floor"][0],
        posi["building"][0],
    ) == (61.4235, 1, 49.461316433032, 11.110964442580, 0, 100)
    wifi = log01.records["WIFI"]  # WIFI;0.651;65094.18;SSID2023_0001;20:23:00:00:00:01;2437;-60
    assert (wifi["ssid"][0], wifi["bssid"][0], wifi["frequency_mhz"][0], wifi["rss_dbm"][0]) == (
        "SSID2023_0001",
        "20:23:00:00:00:01",
        2437,
        -60.0,
    )
    ble = log01.records["BLE4"]  # BLE4;2.8313;iBeacon;BE:AC:20:23:00:01;-90;0;1;1;11111111-1111-BEAC-2023-111111111111
    assert (ble["mac"][0], ble["rss_dbm"][0], ble["minor"][0]) == ("BE:AC:20:23:00:01", -90.0, 1)
    assert log01.counts["GYRO"] == 23048 and read_log_header(log01.path)["model"] == "SM-A520F"


def test_recording_of_a_floor_crossing_log(root, ds51):
    assert list(ds51.recordings) == ["T51-R02"] and ds51.splits == {}
    rec = ds51["T51-R02"]
    # POSI floorIDs of the log, in order
    np.testing.assert_array_equal(rec.floor, [0, -1, -1, -2, -2, -1, -1, 0, 0, -1, -1, -2, -2, -1, -1, 0])
    assert rec.zone.tolist() == [f"F{f}" for f in rec.floor] and set(rec.building) == {0}
    assert len(rec) == 16 and np.all(np.diff(rec.t) > 0) and rec.t[0] == pytest.approx(61.468)
    assert np.all(rec.position[:, 2] == 0) and np.all(np.abs(rec.position[:, :2]) < 100)
    meta = rec.meta
    assert (meta["trial"], meta["repetition"], meta["phone_model"]) == (51, 2, "SM-G930F")
    assert meta["source_file"] == LOG_51_2
    assert "truth_at" in meta["pose_source"] and meta["building_id_source"] == 100
    assert meta["record_counts"]["POSI"] == 16 and meta["missing_types"] == []

    imu = rec.stream("imu")
    assert imu.kind == "imu" and imu.values.dtype == np.float32 and imu.shape == (15078, 6)  # n_acce
    assert 45 < imu.rate_hz < 55 and imu.meta["n_gyro_raw"] == 15078 and 45 < imu.meta["gyro_rate_hz"] < 55
    assert 9.0 < np.median(np.linalg.norm(imu.values[:, :3], axis=1)) < 10.6  # gravity, m/s^2
    assert np.abs(imu.values[:, 3:]).max() < 20  # rad/s, not deg/s
    mag = rec.stream("magnetometer")
    assert mag.shape == (15078, 3) and mag.values.dtype == np.float32
    assert 15 < np.median(np.linalg.norm(mag.values, axis=1)) < 100  # microtesla
    ahrs = rec.stream("ahrs")
    assert ahrs.kind == "vector" and ahrs.ids.tolist() == ["qw", "qx", "qy", "qz"] and ahrs.shape == (15078, 4)
    np.testing.assert_allclose(np.linalg.norm(ahrs.values, axis=1), 1, atol=1e-5)
    assert np.all(ahrs.values[:, 0] >= 0)
    pres = rec.stream("pressure")
    assert pres.kind == "vector" and pres.shape == (3016, 1) and 950 < np.median(pres.values) < 1000  # mbar
    wifi = rec.stream("wifi")
    raw = parse_log(root / "logfiles" / LOG_51_2).records["WIFI"]
    assert wifi.kind == "wifi" and wifi.values.dtype == np.float32
    assert wifi.shape == (len(np.unique(raw["app_t"])), len(set(raw["bssid"])))
    assert np.count_nonzero(np.isfinite(wifi.values)) == len(raw["app_t"])  # every WIFI row in one cell
    heard = wifi.values[np.isfinite(wifi.values)]
    assert heard.min() >= -100 and heard.max() <= -30
    assert wifi.ids.tolist() == sorted(wifi.ids.tolist()) and wifi.ids[0].startswith("20:23:00:00:00:")
    ble = rec.stream("ble")
    assert ble.kind == "wifi" and all(i.startswith("BE:AC:20:23:00:0") for i in ble.ids)
    for s in rec.streams.values():
        assert np.all(np.diff(s.t) >= 0) and s.t[0] >= 0 and s.t[-1] <= 302
    prov = ds51.provenance
    assert prov["n_logs"] == 1 and prov["n_posi"] == 16 and prov["gnss_ignored"] == 586
    assert prov["origin_latlon_deg"] == list(DEFAULT_ORIGIN) and prov["filters"]["trials"] == [51]
    assert prov["parsed_not_imported"]["PROX"] == 2 and prov["files"][0]["sha256"]
    # interpolation between POSI points: halfway in time = halfway in space
    mid = 0.5 * (rec.t[0] + rec.t[1])
    gt = truth_at(rec, [mid])
    np.testing.assert_allclose(gt["position"][0], 0.5 * (rec.position[0] + rec.position[1]))


def test_ahrs_quaternion_is_world_from_device(ds51):
    """Rotating world "up" into device axes with the AHRS quaternion gives the accelerometer's direction."""
    rec = ds51["T51-R02"]
    imu, ahrs = rec.stream("imu"), rec.stream("ahrs")
    kernel = np.ones(50) / 50  # 1 s moving average: gravity
    acc = np.stack([np.convolve(imu.values[:, i].astype(float), kernel, "same") for i in range(3)], axis=1)
    q = np.stack([np.interp(imu.t, ahrs.t, ahrs.values[:, i]) for i in range(4)], axis=1)
    up_device = quat_to_matrix(q)[:, 2, :]  # R^T e_z, R = world_from_device
    cos = np.sum(up_device * acc, axis=1) / np.linalg.norm(acc, axis=1)
    assert np.median(np.degrees(np.arccos(np.clip(cos, -1, 1)))) < 5


# ---------------------------------------------------------------------------------------------- local frame
def _enu_exact(lat, lon, origin):
    """East/north via ECEF on the WGS-84 ellipsoid (independent reference)."""
    a, f = 6378137.0, 1 / 298.257223563
    e2 = f * (2 - f)

    def ecef(la, lo):
        la, lo = math.radians(la), math.radians(lo)
        n = a / math.sqrt(1 - e2 * math.sin(la) ** 2)
        return np.array([n * math.cos(la) * math.cos(lo), n * math.cos(la) * math.sin(lo), n * (1 - e2) * math.sin(la)])

    d = ecef(lat, lon) - ecef(*origin)
    la0, lo0 = map(math.radians, origin)
    east = np.array([-math.sin(lo0), math.cos(lo0), 0])
    north = np.array([-math.sin(la0) * math.cos(lo0), -math.sin(la0) * math.sin(lo0), math.cos(la0)])
    return np.array([d @ east, d @ north])


def test_latlon_to_local_m_known_answers():
    lat0, lon0 = DEFAULT_ORIGIN
    np.testing.assert_allclose(latlon_to_local_m(lat0, lon0), [0, 0], atol=1e-9)
    np.testing.assert_allclose(latlon_to_local_m(lat0 + 0.001, lon0), [0, 111.218], atol=0.001)  # 0.001 deg lat
    np.testing.assert_allclose(latlon_to_local_m(lat0, lon0 + 0.001), [72.494, 0], atol=0.001)  # 0.001 deg lon
    pts = latlon_to_local_m([lat0 - 0.001, lat0], [lon0, lon0 - 0.002])
    np.testing.assert_allclose(pts, [[0, -111.218], [-144.988, 0]], atol=0.001)
    # mm-level agreement with exact ENU 100 m and 200 m away (the museum is ~130 m across)
    for dlat, dlon, tol in ((0.0006, 0.0009, 0.002), (0.0012, -0.0019, 0.006)):
        exact = _enu_exact(lat0 + dlat, lon0 + dlon, DEFAULT_ORIGIN)
        assert np.linalg.norm(latlon_to_local_m(lat0 + dlat, lon0 + dlon) - exact) < tol
    np.testing.assert_allclose(latlon_to_local_m(50.0001, 8.0, origin=(50.0, 8.0)), [0, 11.1229], atol=1e-3)


# ---------------------------------------------------------------------------------------------- floor plans
def test_floor_minus_one_map_is_georeferenced(root, ds51):
    plans = ds51.floor_plans
    assert sorted(plans) == ["F-1", "F-2", "F0"]
    plan = plans["F-1"]
    assert plan.floor == -1 and plan.building == 0 and plan.raster.shape == (634, 1340, 3)
    assert plan.raster.dtype == np.uint8 and plan.meta["raster_kind"] == "drawing" and len(plan.walls) == 0
    # 0.01232008 m/pixel x 8, rotated by 20.736 degrees
    step = plan.pixel_to_metre[:2, :2] @ [1, 0]
    assert np.linalg.norm(step) == pytest.approx(8 * 0.01232008)
    assert math.degrees(math.atan2(step[1], step[0])) == pytest.approx(20.736)
    # bounds hold the whole rotated canvas (10719 x 5069 px)
    quad = plan.zones["F-1"]
    assert np.all(quad >= plan.bounds[:2] - 1e-9) and np.all(quad <= plan.bounds[2:] + 1e-9)
    assert np.linalg.norm(quad[1] - quad[0]) == pytest.approx(10719 * 0.01232008)
    assert np.linalg.norm(quad[2] - quad[1]) == pytest.approx(5069 * 0.01232008)
    h, w = plan.raster.shape[:2]
    corners = np.array([[-0.5, -0.5, 1], [w - 0.5, -0.5, 1], [w - 0.5, h - 0.5, 1], [-0.5, h - 0.5, 1]])
    np.testing.assert_allclose((corners @ plan.pixel_to_metre.T)[:, :2], quad, atol=0.05)
    # the nine surveyed points of references.csv land on their orange dots of the drawing (within 0.7 m)
    ref = pd.read_csv(root / "supplementary" / "references.csv")
    uv = np.rint(plan.metre_to_pixel(latlon_to_local_m(ref.Lat, ref.Lon))).astype(int)
    img = plan.raster.astype(int)
    orange = (img[..., 0] > 200) & (img[..., 1] > 120) & (img[..., 1] < 220) & (img[..., 2] < 150)
    for u, v in uv:
        ys, xs = np.nonzero(orange[v - 10 : v + 11, u - 10 : u + 11])
        assert len(xs) >= 15 and math.hypot(xs.mean() - 10, ys.mean() - 10) < 7
    # floor -1 POSI points of trial 51 lie in the drawn stairwell: inside the plan, ink within 1 m
    rec = ds51["T51-R02"]
    on_f1 = rec.position[rec.floor == -1, :2]
    assert len(on_f1) == 8 and np.all(plan.is_free(on_f1)) and set(plan.zone_of(on_f1)) == {"F-1"}
    for u, v in np.rint(plan.metre_to_pixel(on_f1)).astype(int):
        assert img[v - 10 : v + 11, u - 10 : u + 11].min() < 200
    # floors without a bitmap: the same canvas, no raster
    for name in ("F0", "F-2"):
        assert plans[name].raster is None and plans[name].meta["map"] is None
        np.testing.assert_allclose(plans[name].bounds, plan.bounds)
        assert ds51.floor_plan(floor=plans[name].floor) is plans[name]


def test_floor_plan_options(root):
    plans = load_floor_plans(root / "supplementary", raster_downsample=0, floor_height_m=4.5)
    assert all(p.raster is None and p.pixel_to_metre is None for p in plans.values())
    assert plans["F-2"].elevation_m == -9.0 and plans["F0"].bounds[2] - plans["F0"].bounds[0] > 140
    with pytest.raises(DataError, match="calib_mapa_Nuremberg.cal not found"):
        load_floor_plans(root / "logfiles")


# ---------------------------------------------------------------------------------------------- synthetic log
HEADER = [
    "% LogFile created by the 'GetSensorData' App for Android.",
    "% Manufacturer:  \tacme",
    "% Model:         \tTEST-1",
    "%",
    "",
]


def synthetic_lines(posi=True):
    lat0, lon0 = DEFAULT_ORIGIN
    body = [f"ACCE;{0.02 * k:.2f};{100 + 0.02 * k:.4f};{k}.0;1.0;9.8;3" for k in range(6)]  # t = 0.00 .. 0.10
    body += [
        f"GYRO;{t:.3f};{100 + t:.4f};{2 * t:.5f};{1 - t:.5f};3.0;3" for t in (0.005 + 0.01 * k for k in range(10))
    ]  # t = 0.005 .. 0.095, gyro = (2t, 1 - t, 3)
    body += [
        "MAGN;0.01;100.01;10.0;-20.0;-40.0;0",
        "MAGN;0.03;100.03;11.0;-21.0;-41.0;0",
        "AHRS;0.02;100.02;0.0;0.0;0.0;0.6;0.0;0.0;3",
        "PRES;0.05;100.05;976.5;3",
        "WIFI;0.05;100.05;SSID2023_0001;20:23:00:00:00:02;2437;-50",
        "WIFI;0.05;100.05;;20:23:00:00:00:01;5180;-60",  # hidden network: empty SSID
        "WIFI;0.09;100.09;SSID2023_0001;20:23:00:00:00:01;5180;-70",
        "BLE4;0.04;iBeacon;BE:AC:20:23:00:01;-90;0;1;1;11111111-1111-BEAC-2023-111111111111",
        "BLE4;0.06;Eddystone;BE:AC:20:23:00:07;-80;abc;3.1;22;1000;7",
        "BLUE;0.07;headset;00:11:22:33:44:55;-70;",
        "LIGH;0.08;100.08;12.0;3",
        "SOUN;0.08;3000.0;0.1;73.0",
        "GNSS;0.08;1686729678.0;49.461269;11.111049;346.0;79.5;9.0;0.1;22;19",
    ]
    if posi:
        body += [f"POSI;0.01;1;{lat0};{lon0};0;100", f"POSI;0.09;2;{lat0 + 0.001};{lon0};-1;100;"]
    return HEADER + body


N_LINES = len(synthetic_lines())  # the last line is the second POSI record


def write_log(tmp_path, lines, name="IPIN2023_T3_TrainingTrial07_repetition03.txt.xz", xz=True):
    path = tmp_path / name
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(lzma.compress(data) if xz else data)
    return path


def test_synthetic_log_known_answers(tmp_path):
    lines = synthetic_lines()
    path = write_log(tmp_path, lines)
    log = parse_log(path)
    assert log.header == {"manufacturer": "acme", "model": "TEST-1"}
    assert log.skipped == {"BLE4:Eddystone": 1, "BLUE": 1} and log.count("BLE4") == 1 and log.n_lines == len(lines)
    assert log.lines["POSI"].tolist() == [len(lines) - 1, len(lines)]
    assert log.records["WIFI"]["ssid"].tolist() == ["SSID2023_0001", "", "SSID2023_0001"]
    plain = parse_log(write_log(tmp_path, lines, "plain.txt", xz=False))
    np.testing.assert_array_equal(plain.records["GYRO"]["x"], log.records["GYRO"]["x"])

    ds = load_ipin2023(path).validate()
    assert ds.floor_plans == {} and list(ds.recordings) == ["T07-R03"]
    rec = ds["T07-R03"]
    assert (rec.meta["trial"], rec.meta["repetition"], rec.meta["phone_model"]) == (7, 3, "TEST-1")
    np.testing.assert_allclose(rec.position, [[0, 0, 0], [0, 111.218, 0]], atol=1e-3)
    assert rec.floor.tolist() == [0, -1] and rec.zone.tolist() == ["F0", "F-1"]
    # gyroscope resampled at the ACCE times: exact for the linear signal, held beyond the GYRO span
    imu = rec.stream("imu")
    t = np.arange(6) * 0.02
    np.testing.assert_allclose(imu.t, t)
    gyro_t = np.clip(t, 0.005, 0.095)
    expected = np.c_[np.arange(6), np.ones(6), np.full(6, 9.8), 2 * gyro_t, 1 - gyro_t, np.full(6, 3.0)]
    np.testing.assert_allclose(imu.values, expected, atol=1e-5)
    assert imu.meta["n_outside_gyro_span"] == 2 and imu.meta["n_gyro_raw"] == 10
    np.testing.assert_allclose(rec.stream("ahrs").values, [[0.8, 0.6, 0, 0]], atol=1e-6)  # w = sqrt(1 - 0.36)
    np.testing.assert_allclose(rec.stream("magnetometer").values[1], [11, -21, -41])
    np.testing.assert_allclose(rec.stream("pressure").values, [[976.5]])
    wifi = rec.stream("wifi")  # two scans: t = 0.05 (two APs) and 0.09 (one)
    assert wifi.ids.tolist() == ["20:23:00:00:00:01", "20:23:00:00:00:02"]
    np.testing.assert_allclose(wifi.t, [0.05, 0.09])
    np.testing.assert_array_equal(wifi.values, np.array([[-60, -50], [-70, np.nan]], dtype=np.float32))
    ble = rec.stream("ble")
    assert ble.ids.tolist() == ["BE:AC:20:23:00:01"] and ble.values.tolist() == [[-90.0]]
    prov = ds.provenance
    assert prov["skipped_records"] == {"BLE4:Eddystone": 1, "BLUE": 1} and prov["gnss_ignored"] == 1
    assert prov["parsed_not_imported"] == {"LIGH": 1, "SOUN": 1}
    high = load_ipin2023(path, floor_height_m=4.0)
    np.testing.assert_allclose(high["T07-R03"].position[:, 2], [0, -4])


def test_id_vocabulary(tmp_path):
    lines = synthetic_lines()
    other = [ln.replace("20:23:00:00:00:02", "20:23:00:00:00:09") for ln in lines]
    write_log(tmp_path, lines)
    write_log(tmp_path, other, "IPIN2023_T3_TrainingTrial08_repetition01.txt.xz")
    (tmp_path / "README.txt").write_text("not a log")  # not named like a log: ignored
    shared = load_ipin2023(tmp_path)
    ids = ["20:23:00:00:00:01", "20:23:00:00:00:02", "20:23:00:00:00:09"]
    assert [r.stream("wifi").ids.tolist() for r in shared] == [ids, ids]
    assert np.isnan(shared["T07-R03"].stream("wifi").values[:, 2]).all()
    own = load_ipin2023(tmp_path, id_vocabulary="recording")
    assert own["T08-R01"].stream("wifi").ids.tolist() == ["20:23:00:00:00:01", "20:23:00:00:00:09"]


# ---------------------------------------------------------------------------------------------- splits and io
def test_import_split_by_recording_and_filters(root):
    ds = import_ipin2023(root, trials=[1], raster_downsample=0, test_fraction=0.25, seed=0)
    assert list(ds.recordings) == ["T01-R01", "T01-R02", "T01-R03", "T01-R04"] and ds.n_samples == 4 * 14
    train, test = ds.splits["train"], ds.splits["test"]
    assert train and test and not set(train) & set(test) and set(train) | set(test) == set(ds.recordings)
    assert ds.provenance["split"]["by"].startswith("recording (one log file)")
    again = import_ipin2023(root, trials=[1], raster_downsample=0, test_fraction=0.25, seed=0)
    assert again.splits == ds.splits
    g930 = load_ipin2023(root, trials=[1], phone_models="SM-G930F", raster_downsample=0)
    assert list(g930.recordings) == ["T01-R03", "T01-R04"]
    assert {r.meta["phone_model"] for r in g930} == {"SM-G930F"}
    with pytest.raises(DataError, match="none of the 50 logs matches"):
        load_ipin2023(root, trials=[1], repetitions=[9])


def test_save_load_round_trip(ds51, tmp_path):
    back = load_dataset(save_dataset(ds51, tmp_path / "ipin"))
    a, b = ds51["T51-R02"], back["T51-R02"]
    np.testing.assert_array_equal(a.position, b.position)
    np.testing.assert_array_equal(a.floor, b.floor)
    assert b.zone.tolist() == a.zone.tolist() and b.meta == a.meta
    for name, s in a.streams.items():
        t = b.stream(name)
        assert t.kind == s.kind and t.ids.tolist() == s.ids.tolist() and t.meta == s.meta
        np.testing.assert_array_equal(t.values[:], s.values)
        np.testing.assert_array_equal(t.t, s.t)
    plan = back.floor_plans["F-1"]
    np.testing.assert_array_equal(plan.raster, ds51.floor_plans["F-1"].raster)
    np.testing.assert_allclose(plan.pixel_to_metre, ds51.floor_plans["F-1"].pixel_to_metre)
    np.testing.assert_allclose(back.floor_plans["F0"].zones["F0"], ds51.floor_plans["F0"].zones["F0"])
    assert back.provenance["n_posi"] == 16


# ---------------------------------------------------------------------------------------------- corrupted inputs
def test_missing_and_truncated_files(root, tmp_path):
    with pytest.raises(DataError, match="file not found") as e:
        parse_log(tmp_path / "absent.txt.xz")
    assert "absent.txt.xz" in str(e.value)
    data = (root / "logfiles" / LOG_01_1).read_bytes()
    cut = tmp_path / "cut.txt.xz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="truncated or corrupted xz stream") as e:
        parse_log(cut)
    assert e.value.file == str(cut)
    with pytest.raises(DataError, match="truncated or corrupted xz stream"):
        load_ipin2023(cut)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no log files"):
        load_ipin2023(tmp_path / "empty")


def test_malformed_line_in_a_real_log(root, tmp_path):
    """A bad record among real ones is found by the fast parser and reported with its file line."""
    text = lzma.open(root / "logfiles" / LOG_01_1, "rt").read().split("\n")[:3000]
    assert text[1999].startswith(("ACCE;", "GYRO;", "MAGN;", "AHRS;"))
    ty = text[1999].split(";")[0]
    bad = text.copy()
    field = "q2" if ty == "AHRS" else "x"  # a value the stream is made of
    k = 7 if ty == "AHRS" else 4  # its position among the ';'-separated parts, 1-based
    parts = text[1999].split(";")
    parts[k - 1] = "x" + parts[k - 1]
    bad[1999] = ";".join(parts)
    with pytest.raises(DataError, match=rf"line 2000: {ty} field '{field}' holds 'x[-0-9.e]+'; expected a number") as e:
        parse_log(write_log(tmp_path, bad, "bad.txt.xz"))
    assert e.value.field == f"{ty}/{field}" and "bad.txt.xz" in str(e.value)
    # the sensor's own timestamp is not used: an odd value there becomes NaN and is counted
    odd = text.copy()
    odd[1999] = text[1999].replace(";", ";x", 2).replace(";x", ";", 1)  # 3rd field gets an 'x' prefix
    log = parse_log(write_log(tmp_path, odd, "odd.txt.xz"))
    assert log.warnings == {f"{ty}.sensor_t not a finite number -> NaN": 1}
    j = int(np.flatnonzero(log.lines[ty] == 2000)[0])
    assert np.isnan(log.records[ty]["sensor_t"][j]) and np.isfinite(np.delete(log.records[ty]["sensor_t"], j)).all()
    extra = text.copy()
    extra[2499] = text[2499] + ";7"
    n = text[2499].count(";") + 2
    with pytest.raises(DataError, match=rf"line 2500: \w+ record has {n} fields; expected {n - 1}"):
        parse_log(write_log(tmp_path, extra, "extra.txt.xz"))


@pytest.mark.parametrize(
    "edit, message, field",
    [
        (
            lambda ls: ls[:-1] + ["POSI;0.09;2;49.462;11.1111;-1"],
            rf"line {N_LINES}: POSI record has 6 fields; expected 7",
            "POSI",
        ),
        (
            lambda ls: ls[:-1] + ["POSI;0.09;2;49.462;east;-1;100"],
            rf"line {N_LINES}: POSI field 'lon' holds 'east'; expected a number",
            "POSI/lon",
        ),
        (
            lambda ls: ls[:-1] + ["POSI;0.09;2;49.462;11.1111;-1.5;100"],
            rf"line {N_LINES}: POSI field 'floor' holds '-1.5'; "
            "expected an integer",
            "POSI/floor",
        ),
        (
            lambda ls: ls[:-1] + ["POSI;0.005;2;49.462;11.1111;-1;100"],
            rf"line {N_LINES}: POSI AppTimestamp 0.005 s is earlier",
            "POSI/app_t",
        ),
        (
            lambda ls: ls[:6] + ["ACCE;0.02;100.02;;1.0;9.8;3"] + ls[7:],
            r"line 7: ACCE field 'x' holds ''; expected a number",
            "ACCE/x",
        ),
        (
            lambda ls: ls[:6] + ["ACCE;0.02;100.02;nan;1.0;9.8;3"] + ls[7:],
            r"line 7: ACCE field 'x' holds 'nan'; expected a "
            "finite number",
            "ACCE/x",
        ),
        (
            lambda ls: ls + ["WIFI;0.2;100.2;SSID;;2412;-40"],
            rf"line {N_LINES + 1}: WIFI field 'bssid' holds ''; expected a non-empty",
            "WIFI/bssid",
        ),
        (lambda ls: ls + ["this is not a record"], rf"line {N_LINES + 1}: not a record", None),
    ],
)
def test_malformed_records(tmp_path, edit, message, field):
    lines = edit(synthetic_lines())
    with pytest.raises(DataError, match=message) as e:
        parse_log(write_log(tmp_path, lines))
    assert e.value.field == field and "IPIN2023_T3_TrainingTrial07_repetition03.txt.xz" in str(e.value)


@pytest.mark.parametrize(
    "edit, message, field",
    [
        (lambda ls: [ln for ln in ls if not ln.startswith("POSI")], "no POSI ground-truth records", "POSI"),
        (
            lambda ls: ls[:-1] + ["POSI;0.09;2;95.0;11.1111;-1;100"],
            rf"line {N_LINES}: POSI lat 95; expected WGS-84 degrees",
            "POSI/lat",
        ),
        (
            lambda ls: ls[:-1] + ["POSI;0.09;2;49.462;11.1111;-1;101"],
            rf"line {N_LINES}: POSI buildingID 101; expected 100",
            "POSI/building",
        ),
        (
            lambda ls: ls + ["WIFI;0.2;100.2;SSID;20:23:00:00:00:03;2412;12"],
            rf"line {N_LINES + 1}: WIFI RSS 12 dBm outside",
            "WIFI/rss_dbm",
        ),
    ],
)
def test_bad_ground_truth_and_values(tmp_path, edit, message, field):
    path = write_log(tmp_path, edit(synthetic_lines()))
    with pytest.raises(DataError, match=message) as e:
        load_ipin2023(path)
    assert e.value.field == field and e.value.file == str(path)


# ---------------------------------------------------------------------------------------------- ground truth, tolerance
def replace_line(lines, prefix, new):
    k = next(i for i, ln in enumerate(lines) if ln.startswith(prefix))
    return lines[:k] + [new] + lines[k + 1 :]


@pytest.mark.parametrize(
    "edit, message, field",
    [
        # 5,500 km from the site (latitude 0 instead of 49.46)
        (
            lambda ls: ls[:-1] + ["POSI;0.09;2;0.0;11.1111;-1;100"],
            rf"line {N_LINES}: POSI point \(0, 11.1111\) lies "
            r"5\d\d\d(\.\d+)? km from the origin \(49.4611, 11.1111\); expected a point of the site, within 1000 m",
            "POSI/lat",
        ),
        # one AppTimestamp, two positions
        (
            lambda ls: ls[:-1] + [f"POSI;0.01;2;{DEFAULT_ORIGIN[0] + 0.001};{DEFAULT_ORIGIN[1]};0;100"],
            rf"lines {N_LINES - 1} and {N_LINES}: two POSI points at the same time 0.01 with different positions",
            "POSI",
        ),
        # one AppTimestamp, two floors
        (
            lambda ls: ls[:-1] + [f"POSI;0.01;2;{DEFAULT_ORIGIN[0]};{DEFAULT_ORIGIN[1]};-1;100"],
            rf"lines {N_LINES - 1} and {N_LINES}: two POSI points at the same time",
            "POSI",
        ),
        # a record decades away from the others
        (
            lambda ls: ls + ["MAGN;1400000000.0;100.05;11.0;-21.0;-41.0;0"],
            rf"records span 1\.4e\+09 s, from line \d+ "
            rf"\(ACCE at 0 s\) to line {N_LINES + 1} \(MAGN at 1400000000 s\); expected one walk of at most 86400 s",
            "MAGN.timestamp",
        ),
    ],
)
def test_impossible_ground_truth_is_refused(tmp_path, edit, message, field):
    path = write_log(tmp_path, edit(synthetic_lines()))
    with pytest.raises(DataError, match=message) as e:
        import_ipin2023(path, test_fraction=0.0)
    assert e.value.field == field and e.value.file == str(path)


def test_repeated_posi_with_the_same_position_is_kept(tmp_path):
    lines = synthetic_lines()
    rec = load_ipin2023(write_log(tmp_path, lines + [lines[-1].replace("POSI;0.09;2", "POSI;0.09;3")]))["T07-R03"]
    np.testing.assert_allclose(rec.t, [0.01, 0.09, 0.09])


def test_odd_values_in_unneeded_fields_are_counted(tmp_path):
    lines = synthetic_lines()
    lines = replace_line(lines, "LIGH;", "LIGH;0.08;100.08;Infinity;3")  # a type that is not imported
    lines = replace_line(lines, "SOUN;", "SOUN;0.08;3000.0;0.1")  # ... with a field missing
    lines = replace_line(lines, "WIFI;0.09", "WIFI;0.09;100.09;SSID2023_0001;20:23:00:00:00:01;null;-70")
    lines = replace_line(lines, "BLE4;0.04", "BLE4;0.04;iBeacon;BE:AC:20:23:00:01;-90;0;x;1;")
    lines = replace_line(lines, "GNSS;", "GNSS;nan;1686729678.0;49.461269;11.111049;346.0;79.5;9.0;0.1;22;19")
    path = write_log(tmp_path, lines)
    ds = import_ipin2023(path, test_fraction=0.0)
    rec = ds["T07-R03"]
    # the streams are those of the clean log
    (tmp_path / "clean").mkdir()
    clean = load_ipin2023(write_log(tmp_path / "clean", synthetic_lines()))["T07-R03"]
    for name, s in clean.streams.items():
        np.testing.assert_array_equal(rec.stream(name).values, s.values)
    np.testing.assert_array_equal(rec.position, clean.position)
    assert ds.provenance["import_warnings"] == {
        path.name: {
            "BLE4.major not an integer -> -1": 1,
            "GNSS record with a bad AppTimestamp dropped (not imported)": 1,
            "LIGH.light_lux not a finite number -> NaN": 1,
            "SOUN record with the wrong number of fields dropped (not imported)": 1,
            "WIFI.frequency_mhz not an integer -> -1": 1,
        }
    }
    assert ds.summary()["import_warnings"] == 5
    log = parse_log(path)
    assert log.records["BLE4"]["major"].tolist() == [-1] and log.records["BLE4"]["uuid"].tolist() == [""]
    assert log.count("SOUN") == 0 and log.count("GNSS") == 0 and np.isnan(log.records["LIGH"]["light_lux"]).all()
    assert clean.meta["record_counts"]["SOUN"] == 1 and "SOUN" not in rec.meta["record_counts"]


def test_a_real_log_imports_without_warnings(root):
    ds = load_ipin2023(root, trials=[1], repetitions=[1], raster_downsample=0)
    assert ds.provenance["import_warnings"] == {} and ds.provenance["max_posi_distance_m"] == 1000.0
    assert "import_warnings" not in ds.summary()


def test_one_log_leaves_no_test_split(tmp_path):
    path = write_log(tmp_path, synthetic_lines())
    with pytest.raises(
        DataError,
        match=r"only one log file \('T07-R03'\) to split by recording: test_fraction=0.1 "
        "would leave the test split empty",
    ) as e:
        import_ipin2023(path)
    assert e.value.field == "test_fraction" and e.value.file == str(path)
    with pytest.raises(DataError, match="would leave the train split empty"):
        import_ipin2023(path, test_fraction=0.5)
    assert import_ipin2023(path, test_fraction=1.0).splits == {"test": ["T07-R03"]}
