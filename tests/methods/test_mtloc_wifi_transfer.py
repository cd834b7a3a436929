"""MTLoc on fingerprint data: windows at the WiFi scan times (``window_times="wifi"``, known answers)
and the WiFi-DNN transfer (pretrain_wifi_dnn round trip, frozen vs fine-tuned, clear errors)."""

import numpy as np
import pytest
import torch

from omniloc import ConfigError, DataError, methods
from omniloc.data import Dataset, Recording, Stream, truth_at
from omniloc.eval import compute_metrics
from omniloc.methods.mtloc import (
    WIFI_TRANSFER_FORMAT,
    MTLocLocalizer,
    extract_windows,
    load_wifi_dnn,
    pretrain_imu_lstm,
    pretrain_wifi_dnn,
    wifi_transfer_layers,
)
from omniloc.nn.encoders import MLP

QUICK = {"trainer": {"progress": False}}
WIFI = {**QUICK, "branches": ["wifi"], "window_times": "wifi", "modality_dropout": {"wifi": 0.0}}


# ---------------------------------------------------------------------------------------------- data
def _toy_recording() -> Recording:
    """0-5 s; IMU at 50 Hz with acc_z = gyro_z = t; WiFi scans at 0.5, 2.5, 4.5 s; waypoints at 0, 2, 4 s."""
    t = np.arange(0, 5.0 + 1e-9, 0.02)
    imu = np.c_[np.full_like(t, 3.0), np.full_like(t, 4.0), t, np.zeros_like(t), np.zeros_like(t), t]
    nan = np.nan
    wifi = np.array([[-50.0, -60.0, nan], [nan, -70.0, nan], [-55.0, nan, -80.0]], dtype=np.float32)
    return Recording(
        "toy",
        t=[0.0, 2.0, 4.0],
        position=[[0, 0, 1], [2, 0, 1], [2, 4, 1]],
        floor=[0, 0, 0],
        streams={
            "imu": Stream("imu", t, imu),
            "wifi": Stream("wifi", [0.5, 2.5, 4.5], wifi, ids=np.array(["a", "b", "c"])),
        },
    )


def _fingerprints(n_points=12, scans=4, seed=0, name="fp") -> Dataset:
    """A fingerprint survey like SODIndoorLoc's: one scan per second, ``scans`` scans per reference point,
    the position jumping from point to point; RSS of 3 APs by log-distance path loss plus noise."""
    rng = np.random.default_rng(seed)
    aps = np.array([[0.0, 0.0], [10.0, 0.0], [5.0, 8.0]])
    pts = np.c_[np.linspace(0, 10, n_points), np.linspace(0, 6, n_points)[::-1]]
    pos = np.repeat(pts, scans, axis=0)
    d = np.linalg.norm(pos[:, None, :] - aps[None], axis=2)
    rss = (-40.0 - 25.0 * np.log10(np.maximum(d, 0.5)) + rng.normal(0, 1.0, d.shape)).astype(np.float32)
    t = np.arange(len(pos), dtype=np.float64)
    rec = Recording(
        name,
        t,
        position=np.c_[pos, np.zeros(len(pos))],
        floor=np.zeros(len(pos), np.int64),
        streams={"wifi": Stream("wifi", t.copy(), rss, ids=np.array(["ap0", "ap1", "ap2"]))},
    )
    return Dataset(name, {name: rec}, splits={"train": [name]})


@pytest.fixture(scope="module")
def office():
    """The quick office with WiFi only, a scan every 0.5 s (enough scans for WiFi-only windows)."""
    from omniloc.sim import simulate

    return simulate(
        "office",
        seed=0,
        preset="quick",
        conf={"n_recordings": 8, "duration_s": 40.0, "sensors": ["wifi"], "wifi": {"scan_interval_s": [0.5, 0.5]}},
    )


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """Another simulated building (seed 1) and a WiFi-DNN pretrained there (quick preset: hidden 32, 32)."""
    from omniloc.sim import simulate

    ds = simulate(
        "office",
        seed=1,
        preset="quick",
        conf={
            "n_recordings": 6,
            "duration_s": 40.0,
            "sensors": ["wifi"],
            "wifi": {"scan_interval_s": [0.5, 0.5], "aps_per_floor": 5},
        },
    )
    path = tmp_path_factory.mktemp("pretrained") / "wifi-dnn.pt"
    state = pretrain_wifi_dnn(ds.split("train"), WIFI, preset="quick", val=ds.split("val"), path=path)
    return ds, path, state


# ---------------------------------------------------------------------------------------------- windows
def test_window_ends_are_the_scan_times():
    rec = _toy_recording()
    w = extract_windows(rec, ["a", "b", "c"], branches=["wifi"], window_times="wifi", wifi_max_age_s=1.0)
    np.testing.assert_array_equal(w.t, [0.5, 2.5, 4.5])
    np.testing.assert_array_equal(w.scan_index, [0, 1, 2])  # each window holds its own scan
    assert w.present[:, 2].all() and not w.present[:, :2].any()
    # with the IMU too: IMU windows end at the scan times (1-s window ending at 2.5 s: 10 Hz samples 1.6 .. 2.5 s)
    wi = extract_windows(rec, ["a"], branches=["imu", "wifi"], window_times="wifi")
    np.testing.assert_array_equal(wi.t, [0.5, 2.5, 4.5])
    np.testing.assert_allclose(wi.imu[1, :, 2], np.arange(1.6, 2.55, 0.1), atol=1e-5)
    np.testing.assert_array_equal(wi.present[:, 0], [False, True, True])  # before 0 s the IMU is missing
    np.testing.assert_array_equal(wi.present[:, 2], [True, False, True])  # scan at 2.5 s hears no 'a'
    # an IMU-only model still uses the WiFi stream's times; a recording without WiFi has no windows
    np.testing.assert_array_equal(extract_windows(rec, branches=["imu"], window_times="wifi").t, [0.5, 2.5, 4.5])
    no_wifi = Recording("n", rec.t, rec.position, streams={"imu": rec.streams["imu"]})
    assert len(extract_windows(no_wifi, branches=["imu"], window_times="wifi")) == 0
    # the default is unchanged: every 0.1 s over the streams' span
    assert len(extract_windows(rec, ["a"])) == 41
    with pytest.raises(ConfigError, match="window_times"):
        extract_windows(rec, ["a"], window_times="scan")
    with pytest.raises(ConfigError, match="window_times"):
        methods.create("mtloc", {"window_times": "scan"}).fit(_fingerprints())


def test_wifi_windows_label_each_scan_with_its_own_reference_point():
    ds = _fingerprints(n_points=5, scans=3)
    rec = next(iter(ds))
    loc = MTLocLocalizer({**WIFI})
    lab = loc._labelled(ds, ["wifi"], np.array(["ap0", "ap1", "ap2"]))
    np.testing.assert_array_equal(lab["t"], rec.t)
    np.testing.assert_array_equal(lab["position"], rec.position)  # exact reference points
    np.testing.assert_array_equal(lab["scan_index"], np.arange(len(rec)))
    # the hop windows of the same data (0.1 s, latest scan up to 4 s old) label scans between two points
    hop = MTLocLocalizer({**WIFI, "window_times": "hop"})._labelled(ds, ["wifi"], np.array(["ap0", "ap1", "ap2"]))
    assert len(hop["t"]) > 3 * len(rec)
    on_a_point = (np.abs(hop["position"][:, None, :2] - rec.position[None, :, :2]).sum(axis=2) < 1e-9).any(axis=1)
    assert not on_a_point.all()


def test_fit_predict_with_wifi_windows(office):
    loc = methods.create("mtloc", {**WIFI, "epochs": 30}, preset="quick").fit(
        office.split("train"), office.split("val")
    )
    test = office.split("test")
    est = loc.predict(test)
    scans = np.concatenate([r.streams["wifi"].t for r in test])
    np.testing.assert_array_equal(est.t, scans)  # one estimate per scan, at the scan time
    assert loc.branches_ == ["wifi"] and loc.n_train_windows_ == sum(
        len(r.streams["wifi"].t) for r in office.split("train")
    )
    err = compute_metrics(est, test, 2)["pos_err_mean_m"]
    # better than always answering the mean training position at the same scans
    gt = np.concatenate([truth_at(r, r.streams["wifi"].t)["position"] for r in test])
    mean_xy = np.concatenate([r.position for r in office.split("train")])[:, :2].mean(axis=0)
    baseline = float(np.mean(np.linalg.norm(gt[:, :2] - mean_xy, axis=1)))
    assert err < 0.8 * baseline


# ---------------------------------------------------------------------------------------------- transfer
def test_wifi_transfer_layers_are_after_the_first_linear():
    mlp = MLP(10, 4, [8, 6])
    tail = wifi_transfer_layers(mlp)
    assert sorted(tail.state_dict()) == ["2.bias", "2.weight", "4.bias", "4.weight"]
    assert tail[1] is mlp.net[2]  # a view: shares the encoder's modules
    x = torch.randn(3, 10)
    torch.testing.assert_close(tail(mlp.net[0](x)), mlp(x))
    with pytest.raises(TypeError, match="MLP"):
        wifi_transfer_layers(torch.nn.Linear(3, 2))


def test_pretrained_wifi_dnn_file(source):
    ds, path, state = source
    loaded = load_wifi_dnn(path)
    assert loaded["format"] == WIFI_TRANSFER_FORMAT and loaded["hidden"] == [32, 32]
    assert loaded["in_features"] == 32 and loaded["out_features"] == 32
    assert {k: tuple(v.shape) for k, v in loaded["layers"].items()} == {"2.weight": (32, 32), "2.bias": (32,)}
    assert loaded["n_access_points"] == 10 and loaded["epochs"] == 12 and np.isfinite(loaded["val_pos_err_m"])
    assert loaded["n_windows"] == sum(len(r.streams["wifi"].t) for r in ds.split("train"))
    for k, v in state["layers"].items():
        torch.testing.assert_close(loaded["layers"][k], v, rtol=0, atol=0)
    # the saved layers are those of the WiFi-only model trained on the source (fits are bit-identical on CPU)
    src = methods.create("mtloc", WIFI, preset="quick").fit(ds.split("train"), ds.split("val"))
    for k, v in wifi_transfer_layers(src._net.branches["wifi"].encoder).state_dict().items():
        torch.testing.assert_close(state["layers"][k], v, rtol=0, atol=0)


def test_frozen_and_fine_tuned_wifi_transfer(office, source, tmp_path):
    _, path, state = source
    train = office.split("train")
    conf = {**WIFI, "epochs": 3, "wifi_transfer": str(path)}
    frozen = methods.create("mtloc", {**conf, "wifi_trainable": False}, preset="quick").fit(train)
    tuned = methods.create("mtloc", {**conf, "wifi_trainable": True}, preset="quick").fit(train)
    scratch = methods.create("mtloc", {**WIFI, "epochs": 3}, preset="quick").fit(train)
    enc = frozen._net.branches["wifi"].encoder
    for k, v in wifi_transfer_layers(enc).state_dict().items():
        torch.testing.assert_close(v, state["layers"][k], rtol=0, atol=0)  # frozen: unchanged by fit
    assert not any(p.requires_grad for p in wifi_transfer_layers(enc).parameters())
    assert enc.net[0].weight.shape == (32, 2 * len(frozen.ap_ids_))  # new first layer, target APs
    assert enc.net[0].weight.requires_grad and enc.net[0].bias.requires_grad  # ... and trained
    tuned_tail = wifi_transfer_layers(tuned._net.branches["wifi"].encoder).state_dict()
    assert all(not torch.equal(tuned_tail[k], v) for k, v in state["layers"].items())  # fine-tuned: moved
    assert frozen.wifi_transfer_info_["trainable"] is False and tuned.wifi_transfer_info_["trainable"] is True
    assert frozen.wifi_transfer_info_["parameters"] == 32 * 32 + 32 and scratch.wifi_transfer_info_ == {}
    # all three predict the test scans
    for loc in (frozen, tuned, scratch):
        assert np.isfinite(loc.predict(office.split("test")).position).all()
    # the in-memory dict works too, and saving records where it came from; the saved model predicts the same
    mem = methods.create("mtloc", {**conf, "wifi_transfer": state, "wifi_trainable": False}, preset="quick").fit(train)
    np.testing.assert_array_equal(
        mem.predict(office.split("test")).position, frozen.predict(office.split("test")).position
    )
    mem.save(tmp_path / "mem")
    back = methods.load(tmp_path / "mem")
    assert "pretrained WiFi-DNN" in back.conf["wifi_transfer"]
    np.testing.assert_array_equal(
        back.predict(office.split("test")).position, mem.predict(office.split("test")).position
    )


def test_wifi_transfer_with_a_warm_started_fused_model(source):
    """With ``warm_start="wifi"`` the WiFi branch trained alone first starts from the transfer too."""
    from omniloc.sim import simulate

    _, path, state = source
    ds = simulate("office", seed=0, preset="quick", conf={"sensors": ["imu", "wifi"]})
    loc = methods.create(
        "mtloc",
        {
            **QUICK,
            "branches": ["imu", "wifi"],
            "epochs": 2,
            "warm_start": "wifi",
            "wifi_transfer": str(path),
            "wifi_trainable": False,
        },
        preset="quick",
    ).fit(ds.split("train"), ds.split("val"))
    for k, v in wifi_transfer_layers(loc._net.branches["wifi"].encoder).state_dict().items():
        torch.testing.assert_close(v, state["layers"][k], rtol=0, atol=0)


def test_wifi_transfer_errors(office, source, tmp_path):
    _, path, state = source
    train = office.split("train")
    conf = {**WIFI, "epochs": 1, "wifi_transfer": str(path)}
    # hidden sizes that do not match: the message names the file and both widths
    with pytest.raises(ConfigError, match=r"wifi-dnn\.pt.*hidden=\[32, 32\].*wifi_hidden=\[16, 16\]"):
        methods.create("mtloc", {**conf, "wifi_hidden": [16, 16]}, preset="quick").fit(train)
    # right widths but other tensors: the field 'layers' is named
    bad = dict(state, layers={"2.weight": torch.zeros(32, 8), "2.bias": torch.zeros(32)})
    with pytest.raises(ConfigError, match="wifi_transfer \\(dict\\): field 'layers'"):
        methods.create("mtloc", {**conf, "wifi_transfer": bad}, preset="quick").fit(train)
    # not a pretrained WiFi-DNN: a pretrained IMU-LSTM file, a text file, a missing file
    from omniloc.sim import simulate

    imu = simulate("office", seed=2, preset="quick", conf={"n_recordings": 2, "duration_s": 10.0, "sensors": ["imu"]})
    pretrain_imu_lstm(imu, {**QUICK, "pretrain": {"epochs": 1}}, preset="quick", path=tmp_path / "imu.pt")
    with pytest.raises(DataError, match=r"imu\.pt.*field 'format'.*not a pretrained WiFi-DNN") as e:
        load_wifi_dnn(tmp_path / "imu.pt")
    assert e.value.file == str(tmp_path / "imu.pt") and e.value.field == "format"
    (tmp_path / "text.pt").write_text("not torch")
    with pytest.raises(DataError, match=r"text\.pt.*unreadable pretrained WiFi-DNN"):
        methods.create("mtloc", {**conf, "wifi_transfer": str(tmp_path / "text.pt")}, preset="quick").fit(train)
    with pytest.raises(DataError, match="unreadable"):
        load_wifi_dnn(tmp_path / "none.pt")
    with pytest.raises(DataError, match="field 'layers'"):
        load_wifi_dnn({"format": WIFI_TRANSFER_FORMAT, "hidden": [32, 32]})
    with pytest.raises(DataError, match="field 'hidden'"):
        load_wifi_dnn({"format": WIFI_TRANSFER_FORMAT, "hidden": [], "layers": {}})
    # the transfer needs the WiFi branch
    with pytest.raises(ConfigError, match="wifi_transfer needs the 'wifi' branch"):
        methods.create("mtloc", {**conf, "branches": ["imu"]}, preset="quick").fit(train)
