"""MTLoc: windows (known answers), parameter count, fit / predict on the simulated office, modality
removal, IMU transfer (frozen vs fine-tuned), checkpoint resume, save / load and two-process DDP."""

import numpy as np
import pytest
import torch

from omniloc import ConfigError, DataError, methods
from omniloc.data import Dataset, Recording, Stream
from omniloc.data.fingerprint import access_point_vocabulary, align_access_points, wifi_features
from omniloc.data.splits import nested_fraction
from omniloc.data.windows import channel_values, sensor_windows, wifi_windows
from omniloc.eval import compute_metrics
from omniloc.methods.mtloc import (
    BRANCHES,
    PAPER_PARAMETERS,
    MTLocLocalizer,
    drop_windows,
    extract_windows,
    load_imu_lstm,
    pretrain_imu_lstm,
    window_labels,
)

QUICK = {"trainer": {"progress": False}}


# ---------------------------------------------------------------------------------------------- data
@pytest.fixture(scope="module")
def office():
    """A quick office with several recordings on both floors (the quick preset's 4 walks are 20 s
    each and its train and test splits are on different floors)."""
    from omniloc.sim import simulate

    return simulate(
        "office",
        seed=0,
        preset="quick",
        conf={"n_recordings": 10, "duration_s": 40.0, "sensors": ["imu", "magnetometer", "wifi"]},
    )


@pytest.fixture(scope="module")
def fitted(office):
    return methods.create("mtloc", QUICK, preset="quick").fit(office.split("train"), office.split("val"))


def _toy_recording(with_mag=True) -> Recording:
    """0-5 s; IMU at 50 Hz with acc = (3, 4, t) ... gyro = (0, 0, t); magnetometer at 25 Hz with a
    gap between 2 and 3 s; WiFi scans at 0.5, 2.5, 4.5 s; waypoints at 0, 2, 4 s."""
    t = np.arange(0, 5.0 + 1e-9, 0.02)
    imu = np.c_[np.full_like(t, 3.0), np.full_like(t, 4.0), t, np.zeros_like(t), np.zeros_like(t), t]
    tm = np.r_[np.arange(0, 2.0 + 1e-9, 0.04), np.arange(3.0, 5.0 + 1e-9, 0.04)]
    mag = np.c_[np.full_like(tm, 20.0), np.zeros_like(tm), np.full_like(tm, -40.0)]
    nan = np.nan
    wifi = np.array([[-50.0, -60.0, nan], [nan, -70.0, nan], [-55.0, nan, -80.0]], dtype=np.float32)
    streams = {
        "imu": Stream("imu", t, imu),
        "wifi": Stream("wifi", [0.5, 2.5, 4.5], wifi, ids=np.array(["a", "b", "c"])),
    }
    if with_mag:
        streams["magnetometer"] = Stream("magnetometer", tm, mag)
    return Recording(
        "toy", t=[0.0, 2.0, 4.0], position=[[0, 0, 1], [2, 0, 1], [2, 4, 4]], floor=[0, 0, 1], streams=streams
    )


# ---------------------------------------------------------------------------------------------- windows
def test_channel_values_axes_and_magnitudes():
    v = np.array([[3.0, 4.0, 0.0, 0.0, 0.0, 2.0]])
    np.testing.assert_array_equal(channel_values(v, "axes"), v)
    np.testing.assert_allclose(channel_values(v, "magnitude"), [[5.0, 2.0]])
    np.testing.assert_allclose(channel_values(v, "both"), [[3, 4, 0, 0, 0, 2, 5, 2]])
    with pytest.raises(ConfigError, match="channels"):
        channel_values(v, "norm")


def test_windows_count_end_times_and_resampled_values():
    rec = _toy_recording()
    w = extract_windows(rec, ["c", "a", "z"], wifi_max_age_s=1.0)
    # streams span 0..5 s: 1-s windows every 0.1 s end at 1.0, 1.1, ..., 5.0
    assert len(w) == 41
    np.testing.assert_allclose(w.t[[0, 1, -1]], [1.0, 1.1, 5.0])
    assert w.imu.shape == (41, 10, 6) and w.magnetometer.shape == (41, 10, 3)
    # the window ending at 2.0 s holds the 10 Hz samples at 1.1 .. 2.0 s; acc_z = gyro_z = t
    k = int(np.argmin(abs(w.t - 2.0)))
    np.testing.assert_allclose(w.imu[k, :, 2], np.arange(1.1, 2.05, 0.1), atol=1e-5)
    np.testing.assert_allclose(w.imu[k, :, 0], 3.0)
    mag_w, ok = sensor_windows(rec.streams["imu"], [2.0], "magnitude")
    np.testing.assert_allclose(mag_w[0, :, 1], np.arange(1.1, 2.05, 0.1), atol=1e-5)  # |gyro| = t
    np.testing.assert_allclose(mag_w[0, :, 0], np.sqrt(25 + np.arange(1.1, 2.05, 0.1) ** 2), atol=1e-5)
    assert ok.all()


def test_window_masks_for_gaps_and_absent_streams():
    rec = _toy_recording()
    ends = np.array([2.0, 2.3, 3.6, 3.8])
    _, ok = sensor_windows(rec.streams["magnetometer"], ends)
    # gap 2..3 s, max gap max(2/10 Hz, 3 x 0.04 s) = 0.2 s: grid times in (2.2, 2.8) are too far
    np.testing.assert_array_equal(ok, [True, False, False, True])
    w = extract_windows(rec, ["a"], ends)
    np.testing.assert_array_equal(w.present[:, 1], [True, False, False, True])
    assert w.present[:, 0].all()
    assert not w.magnetometer[1].any()  # zeros where missing
    no_mag = extract_windows(_toy_recording(with_mag=False), ["a"], ends)
    assert not no_mag.present[:, 1].any() and no_mag.magnetometer.shape == (4, 10, 3)
    only_wifi = extract_windows(rec, ["a"], ends, branches=["wifi"])
    assert only_wifi.imu is None and not only_wifi.present[:, :2].any()


def test_wifi_latest_scan_rule_and_id_alignment():
    rec = _toy_recording()
    s = rec.streams["wifi"]
    aligned = align_access_points(s, ["c", "a", "z"])
    np.testing.assert_array_equal(aligned[0], [np.nan, -50.0, np.nan])
    np.testing.assert_array_equal(aligned[2], [-80.0, -55.0, np.nan])
    scans, idx = wifi_windows(s, [0.4, 1.0, 1.6, 2.6, 4.6, 5.0], ["c", "a", "z"], max_age_s=1.0)
    # before any scan / 0.5 s old / 1.1 s old (too old) / scan at 2.5 hears no known AP / 0.1 s / 0.5 s
    np.testing.assert_array_equal(idx, [-1, 0, -1, -1, 2, 2])
    assert scans.shape == (3, 3)
    _, idx2 = wifi_windows(s, [4.6], ["c", "a"], max_age_s=1.0, min_detected=3)
    np.testing.assert_array_equal(idx2, [-1])
    # vocabulary: most heard first (b: 2, a: 2, c: 1 -> a, b by id), capped
    np.testing.assert_array_equal(access_point_vocabulary([s]), ["a", "b", "c"])
    np.testing.assert_array_equal(access_point_vocabulary([s], 1), ["a"])
    with pytest.raises(DataError, match="ids"):
        align_access_points(Stream("wifi", [0.0], np.zeros((1, 1))), ["a"])


def test_stream_choice_among_several_of_one_kind():
    rec = _toy_recording()
    ble = Stream("wifi", [0.0], np.zeros((1, 1), np.float32), ids=["beacon"])
    both = Recording(rec.name, rec.t, rec.position, streams=dict(rec.streams, ble=ble))
    assert both.find_stream("wifi") is rec.streams["wifi"]  # named like its kind
    assert both.find_stream("wifi", "ble") is ble
    odd = Recording(rec.name, rec.t, rec.position, streams={"scan_a": rec.streams["wifi"], "ble": ble})
    with pytest.raises(DataError, match="several wifi streams"):
        odd.find_stream("wifi")
    with pytest.raises(DataError, match="several wifi streams"):
        extract_windows(odd, ["a"], branches=("wifi",))


def test_window_labels_interpolate_waypoints():
    lab = window_labels(_toy_recording(), [1.0, 3.0, 4.5])
    np.testing.assert_allclose(lab["position"][:2], [[1, 0, 1], [2, 2, 2.5]])
    np.testing.assert_array_equal(lab["inside"], [True, True, False])
    np.testing.assert_array_equal(lab["floor"][:2], [0, 1])  # nearest waypoint (t = 3 is halfway: later)
    assert np.isnan(lab["position"][2]).all()


def test_wifi_features_encodings():
    scans = np.array([[-60.0, np.nan], [-90.0, -30.0]], dtype=np.float32)
    m = wifi_features(scans, "mask", -70.0, 10.0, -90.0, -30.0)
    np.testing.assert_allclose(m, [[1.0, 0.0, 1.0, 0.0], [-2.0, 4.0, 1.0, 1.0]])
    p = wifi_features(scans, "positive", -70.0, 10.0, -90.0, -30.0)
    np.testing.assert_allclose(p, [[31 / 61, 0.0], [1 / 61, 1.0]])
    with pytest.raises(ConfigError):
        wifi_features(scans, "dbm", 0, 1, 0, 1)


def test_drop_windows_and_fraction_subsets():
    present = np.ones((10, 3), dtype=bool)
    present[:4, 2] = False
    out = drop_windows(present, {2: 0.5, 0: 1.0}, np.random.default_rng(0))
    assert out[:, 2].sum() == 3 and not out[:, 0].any() and out[:, 1].all()
    assert present.sum() == 26  # input untouched
    ds = Dataset("d", {f"r{i}": Recording(f"r{i}", t=[0.0]) for i in range(8)})
    small, half = nested_fraction(ds, 0.125, seed=1), nested_fraction(ds, 0.5, seed=1)
    assert len(small) == 1 and len(half) == 4 and set(small.recordings) <= set(half.recordings)
    assert len(nested_fraction(ds, 1.0)) == 8 and len(nested_fraction(ds, 0.01)) == 1
    with pytest.raises(ValueError):
        nested_fraction(ds, 1.5)


# ---------------------------------------------------------------------------------------------- model
def test_parameter_count_against_the_paper():
    rows, text = methods.create("mtloc", preset="paper").parameter_table(n_access_points=750, n_floor_classes=2)
    total = sum(r[2] for r in rows)
    # Table I's 295,810 + b_hh of two 128-unit LSTMs (2 x 512) + three missing embeddings (3 x 128) + floor head
    assert total == 297_476 == PAPER_PARAMETERS + 2 * 4 * 128 + 3 * 128 + (128 * 2 + 2)
    assert dict((r[0], r[2]) for r in rows)["LSTM (imu)"] == 67_072 + 512
    assert "this network without these additions: 295,810" in text
    rows, text = methods.create("mtloc").parameter_table(n_access_points=750, n_floor_classes=2)
    assert sum(r[2] for r in rows) == 396_548 and "inputs differ" in text
    rows, _ = methods.create("mtloc", preset="wifi-only").parameter_table(10, 1)
    assert [r[0] for r in rows] == [
        "input (wifi)",
        "FC 1 (wifi)",
        "FC 2 (wifi)",
        "missing embedding (wifi)",
        "fusion (concat)",
        "FC fusion",
        "FC position",
    ]


def test_fit_predict_beats_the_mean_position_and_finds_floors(office, fitted):
    test = office.split("test")
    est = fitted.predict(test)
    m = compute_metrics(est, test, 2)
    mean_xy = np.concatenate([r.position[:, :2] for r in office.split("train")]).mean(axis=0)
    lab = np.concatenate([window_labels(r, est.for_recording(r.name).t)["position"] for r in test])
    baseline = np.nanmean(np.linalg.norm(lab[:, :2] - mean_xy, axis=1))
    assert m["coverage"] == 1.0 and np.isfinite(est.position).all()
    assert m["pos_err_mean_m"] < 0.35 * baseline  # ~1.8 m vs ~10 m
    assert m["floor_hit_rate"] > 0.9  # two floors: chance is 0.5
    np.testing.assert_allclose(np.diff(est.t), 0.1, atol=1e-9)  # one estimate per 0.1 s
    assert fitted.branches_ == list(BRANCHES) and len(fitted.ap_ids_) == 16
    np.testing.assert_array_equal(fitted.floor_classes_[:, 1], [0, 1])
    assert fitted.train_log_.shape == (12, 3) and np.isfinite(fitted.train_log_).all()
    rows, _ = fitted.parameter_table()
    assert sum(r[2] for r in rows) == sum(p.numel() for p in fitted._net.parameters())


def test_predict_with_modalities_removed(office, fitted):
    test = office.split("test")
    full = compute_metrics(fitted.predict(test), test, 2)["pos_err_mean_m"]
    no_wifi = fitted.predict_with_dropped(test, {"wifi": 1.0})
    assert compute_metrics(no_wifi, test, 2)["pos_err_mean_m"] > full
    a = fitted.predict_with_dropped(test, {"wifi": 0.4}, drop_seed=3)
    b = fitted.predict_with_dropped(test, {"wifi": 0.4}, drop_seed=3)
    c = fitted.predict_with_dropped(test, {"wifi": 0.4}, drop_seed=4)
    np.testing.assert_array_equal(a.position, b.position)
    assert not np.array_equal(a.position, c.position)
    # the same removal through the conf, with the base-class predict(data)
    by_conf = MTLocLocalizer({**QUICK, "predict": {"drop_modalities": {"wifi": 0.4}, "drop_seed": 3}}, preset="quick")
    vars(by_conf).update({k: v for k, v in vars(fitted).items() if k.endswith("_") or k == "_net"})
    np.testing.assert_array_equal(by_conf.predict(test).position, a.position)
    none = fitted.predict_with_dropped(test, {"imu": 1.0, "magnetometer": 1.0, "wifi": 1.0})
    assert np.isnan(none.position).all() and (none.floor == -1).all()
    with pytest.raises(ConfigError, match="drop_modalities"):
        fitted.predict_with_dropped(test, {"camera": 0.5})
    with pytest.raises(ConfigError, match="predict.drop_modalities.wifi"):
        MTLocLocalizer({"predict": {"drop_modalities": {"wifi": 1.5}}})._check_conf()
    rec = test[office.splits["test"][0]]
    with pytest.raises(DataError, match="none of the streams"):
        fitted.predict(Recording(rec.name, rec.t, rec.position, streams={}))


def test_save_load_round_trip(office, fitted, tmp_path):
    test = office.split("test")
    fitted.save(tmp_path / "m")
    again = methods.load(tmp_path / "m")
    np.testing.assert_array_equal(again.predict(test).position, fitted.predict(test).position)
    np.testing.assert_array_equal(again.ap_ids_, fitted.ap_ids_)
    assert again.branches_ == fitted.branches_ and again.conf == fitted.conf


def test_single_branch_baseline_and_bad_configurations(office):
    train = office.split("train")
    wifi = methods.create("mtloc", {**QUICK, "epochs": 3}, preset="wifi-only").fit(train)
    assert wifi.branches_ == ["wifi"] and np.isfinite(wifi.predict(office.split("test")).position).all()
    with pytest.raises(ConfigError, match="branches"):
        methods.create("mtloc", {"branches": ["camera"]}).fit(train)
    with pytest.raises(ConfigError, match="imu_channels"):
        methods.create("mtloc", {"imu_channels": "quaternion"}).fit(train)
    bare = Dataset("bare", {"r": Recording("r", t=np.arange(10.0), position=np.zeros((10, 3)))})
    with pytest.raises(DataError, match="no training window"):
        methods.create("mtloc", QUICK, preset="quick").fit(bare)


def test_warm_start_from_the_wifi_branch_is_never_worse_on_validation(office):
    train, val = office.split("train"), office.split("val")
    loc = methods.create(
        "mtloc", {**QUICK, "epochs": 4, "warm_start": "wifi", "wifi_ap_dropout": 0.2}, preset="quick"
    ).fit(train, val)
    assert np.isfinite(loc.warm_start_val_pos_err_m_)
    assert loc.best_val_pos_err_m_ <= loc.warm_start_val_pos_err_m_ + 1e-9
    assert np.isfinite(loc.predict(office.split("test")).position).all()
    with pytest.raises(ConfigError, match="warm_start"):
        methods.create("mtloc", {"warm_start": "camera"}).fit(train)
    with pytest.raises(ConfigError, match="wifi_ap_dropout"):
        methods.create("mtloc", {"wifi_ap_dropout": 1.0}).fit(train)


# ---------------------------------------------------------------------------------------------- transfer
@pytest.fixture(scope="module")
def source_imu(tmp_path_factory):
    from omniloc.sim import simulate

    source = simulate("office", seed=1, preset="quick", conf={"sensors": ["imu"]})  # another building
    path = tmp_path_factory.mktemp("pretrained") / "imu.pt"
    state = pretrain_imu_lstm(source.split("train"), QUICK, preset="quick", val=source.split("val"), path=path)
    return path, state


def test_pretrained_imu_lstm_file(source_imu):
    path, state = source_imu
    loaded = load_imu_lstm(path)
    assert loaded["format"] == "omniloc.mtloc.imu_lstm" and loaded["in_features"] == 6 and loaded["hidden"] == 32
    assert loaded["epochs"] == 3 and loaded["n_windows"] > 100 and np.isfinite(loaded["loss"])
    for k, v in state["lstm"].items():
        torch.testing.assert_close(loaded["lstm"][k], v)
    with pytest.raises(DataError, match="not a pretrained"):
        load_imu_lstm({"format": "x"})


def test_frozen_and_fine_tuned_transfer(office, source_imu, tmp_path):
    path, state = source_imu
    train = office.split("train").subset(list(office.splits["train"])[:3])
    conf = {**QUICK, "epochs": 3, "imu_transfer": str(path)}
    frozen = methods.create("mtloc", {**conf, "imu_trainable": False}, preset="quick").fit(train)
    tuned = methods.create("mtloc", {**conf, "imu_trainable": True}, preset="quick").fit(train)
    for k, v in state["lstm"].items():
        torch.testing.assert_close(frozen._net.branches["imu"].encoder.state_dict()[k], v, rtol=0, atol=0)
    changed = [not torch.equal(tuned._net.branches["imu"].encoder.state_dict()[k], v) for k, v in state["lstm"].items()]
    assert all(changed)
    np.testing.assert_array_equal(frozen.imu_mean_, state["imu_mean"].numpy())  # source normalisation kept
    assert frozen.imu_transfer_info_["trainable"] is False and tuned.imu_transfer_info_["trainable"] is True
    # the in-memory state works too, and saving records where it came from
    mem = methods.create("mtloc", {**conf, "imu_transfer": state, "imu_trainable": False}, preset="quick").fit(train)
    before = mem.conf
    mem.save(tmp_path / "mem")
    assert mem.conf is before and isinstance(mem.conf["imu_transfer"], dict)  # save left the conf alone
    assert "pretrained IMU-LSTM" in methods.load(tmp_path / "mem").conf["imu_transfer"]
    with pytest.raises(ConfigError, match="hidden"):
        methods.create("mtloc", {**conf, "lstm_hidden": 16}, preset="quick").fit(train)
    with pytest.raises(DataError, match="unreadable"):
        methods.create("mtloc", {**conf, "imu_transfer": str(tmp_path / "none.pt")}, preset="quick").fit(train)


# ---------------------------------------------------------------------------------------------- training
def test_fit_keeps_the_callers_random_state_and_is_deterministic(office):
    train = office.split("train").subset(list(office.splits["train"])[:2])
    torch.manual_seed(5)
    state = torch.random.get_rng_state()
    loc = methods.create("mtloc", {**QUICK, "epochs": 1}, preset="quick")
    assert loc._check_conf() is None
    a, b = loc.fit(train), methods.create("mtloc", {**QUICK, "epochs": 1}, preset="quick").fit(train)
    assert torch.equal(torch.random.get_rng_state(), state)
    test = office.split("test")
    np.testing.assert_array_equal(a.predict(test).position, b.predict(test).position)


def test_missing_branch_is_dropped_with_a_warning(office):
    recs = [office[n] for n in list(office.splits["train"])[:2]]
    no_mag = Dataset(
        "no-mag",
        {
            r.name: Recording(
                r.name,
                r.t,
                r.position,
                r.orientation,
                r.floor,
                r.building,
                r.zone,
                streams={k: v for k, v in r.streams.items() if k != "magnetometer"},
            )
            for r in recs
        },
    )
    with pytest.warns(UserWarning, match=r"branch \['magnetometer'\] dropped.*fuses \['imu', 'wifi'\]"):
        loc = methods.create("mtloc", {**QUICK, "epochs": 1}, preset="quick").fit(no_mag)
    assert loc.branches_ == ["imu", "wifi"]


def test_checkpoint_resume_and_determinism(office, tmp_path, caplog):
    import logging

    train = office.split("train").subset(list(office.splits["train"])[:2])
    test = office.split("test")
    ckpt = {"progress": False, "checkpoint_dir": str(tmp_path / "ck")}
    first = methods.create("mtloc", {"epochs": 2, "trainer": ckpt}, preset="quick").fit(train)
    assert all((tmp_path / "ck" / stage / "last.ckpt").exists() for stage in ("mtloc", "mtloc-wifi"))
    plain = methods.create("mtloc", {"epochs": 2, **QUICK}, preset="quick").fit(train)
    np.testing.assert_array_equal(plain.predict(test).position, first.predict(test).position)  # deterministic
    # the same fit again: the finished run is resumed (and says so), not retrained
    with caplog.at_level(logging.WARNING, logger="omniloc.nn.training"):
        resumed = methods.create("mtloc", {"epochs": 2, "trainer": ckpt}, preset="quick").fit(train)
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("resumed from")]
    assert len(said) == 2 and str(tmp_path / "ck" / "mtloc" / "last.ckpt") in said[1]
    np.testing.assert_array_equal(resumed.predict(test).position, first.predict(test).position)
    # more epochs continue from the checkpoint: the first two epochs are the first run's
    longer = methods.create("mtloc", {"epochs": 4, "trainer": ckpt}, preset="quick").fit(train)
    assert longer.train_log_.shape[0] == 4
    np.testing.assert_array_equal(longer.train_log_[:2], first.train_log_)
    # another seed in the same folder is refused, naming the checkpoint
    with pytest.raises(ConfigError, match=r"mtloc-wifi/last\.ckpt was written by a fit with other method conf"):
        methods.create("mtloc", {"epochs": 2, "seed": 1, "trainer": ckpt}, preset="quick").fit(train)


def test_stale_checkpoint_on_other_data_is_refused_not_returned(office, tmp_path):
    """The reported bug: ``train mtloc --conf trainer.checkpoint_dir=DIR`` on other data returned the old weights
    with the new normalisation. Now the fingerprint refuses it; ``resume="never"`` trains afresh and keeps the
    old attempt."""
    names = list(office.splits["train"])
    a, b = office.split("train").subset(names[:2]), office.split("train").subset(names[2:4])
    ckpt = {"progress": False, "checkpoint_dir": str(tmp_path / "ck")}
    methods.create("mtloc", {"epochs": 1, "trainer": ckpt}, preset="quick").fit(a)
    with pytest.raises(
        ConfigError,
        match=r"ck/mtloc-wifi/last\.ckpt was written by a fit with other training "
        r"data; refusing to resume it: set trainer.resume='never'",
    ):
        methods.create("mtloc", {"epochs": 1, "trainer": ckpt}, preset="quick").fit(b)
    fresh = methods.create("mtloc", {"epochs": 1, "trainer": {**ckpt, "resume": "never"}}, preset="quick").fit(b)
    plain = methods.create("mtloc", {**QUICK, "epochs": 1}, preset="quick").fit(b)
    test = office.split("test")
    np.testing.assert_array_equal(fresh.predict(test).position, plain.predict(test).position)
    for stage in ("mtloc", "mtloc-wifi"):
        assert (tmp_path / "ck" / f"{stage}.attempt-1" / "last.ckpt").exists()
        assert (tmp_path / "ck" / stage / "version_0" / "metrics.csv").exists()


def test_two_process_ddp_on_cpu(office):
    train, val = office.split("train"), office.split("val")
    conf = {
        "epochs": 2,
        "trainer": {
            "progress": False,
            "strategy": "ddp_spawn",
            "devices": 2,
            "accelerator": "cpu",
            "process_group_backend": "gloo",
        },
    }
    loc = methods.create("mtloc", conf, preset="quick").fit(train.subset(list(train.recordings)[:2]), val)
    est = loc.predict(office.split("test"))
    assert len(est) > 100 and np.isfinite(est.position).all()
    # the weights trained in the worker processes came back (fit seeds torch before building the net)
    torch.manual_seed(0)
    initial = loc._build_net(loc.branches_, len(loc.ap_ids_), len(loc.floor_classes_)).state_dict()
    trained = loc._net.state_dict()
    assert set(initial) == set(trained) and all(not torch.equal(initial[k], trained[k]) for k in initial)
    assert isinstance(loc, MTLocLocalizer)


def test_uninformative_modality_patterns_are_refused(office, fitted):
    import copy

    from omniloc.methods.mtloc import _patterns

    assert _patterns(
        np.array([[True, True, False], [False, False, True], [False, False, False]]), fitted.branches_
    ).tolist() == [
        "imu+magnetometer",
        "wifi",
        "",
    ]
    assert isinstance(fitted.refused_, list)  # chosen on the validation windows
    test = office.split("test")
    loc = copy.copy(fitted)
    loc.refused_ = ["imu+magnetometer"]
    loc.conf = {**loc.conf, "predict": {**loc.conf["predict"], "drop_modalities": {"wifi": 1.0}}}
    assert np.isnan(loc.predict(test).position).all()  # every window lost its WiFi: all refused
    # the robustness experiments still get answers for them
    assert np.isfinite(loc.predict_with_dropped(test, {"wifi": 1.0}).position).all()
    loc.conf = fitted.conf
    kept = loc.predict(test)  # windows with WiFi are still estimated
    assert np.isfinite(kept.position[:, 0]).mean() > 0.5
    # a pattern is refused when the model places it no better than the training centroid: with
    # every output scaled up 1000 times, all of them are; the fitted model keeps the full one
    worse = copy.copy(fitted)
    worse.refused_ = []
    worse.position_scale_ = fitted.position_scale_ * 1000.0
    refused = worse._uninformative_patterns(office.split("val"))
    assert "imu+magnetometer+wifi" in refused
    assert "imu+magnetometer+wifi" not in fitted.refused_
