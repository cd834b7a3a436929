"""MVLoc: variants, fusion with absent / blank depth, rotation targets, losses, stages and predictions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from omniloc import ConfigError, methods
from omniloc.data import Dataset, Recording, Stream
from omniloc.data.frames import camera_frames
from omniloc.data.transforms import quat_from_yaw
from omniloc.eval import compute_metrics
from omniloc.nn.camera_pose import CameraPoseModule, CameraPoseNet
from omniloc.nn.pose import rotation_logs


@pytest.fixture(scope="module")
def office():
    from omniloc.sim import simulate

    return simulate("office", seed=1, preset="quick", conf={"sensors": ["camera"], "walk": {"hand_held": True}})


def test_variants_are_registered_with_their_fusion():
    expect = {"mvloc-v": ("v", ["rgb"]), "mvloc-c": ("c", ["rgb", "depth"]), "mvloc-p": ("p", ["rgb", "depth"])}
    expect["mvloc"] = ("full", ["rgb", "depth"])
    for name, (variant, modalities) in expect.items():
        loc = methods.create(name)
        assert loc.name == name and loc.conf["variant"] == variant and loc.modalities == modalities
    net = methods.create("mvloc-c", preset="quick")._build_net()
    assert net.fusion == "concat" and not net.variational


@pytest.mark.parametrize(
    "conf",
    [
        {"variant": "x"},
        {"image_size": [8, 8]},
        {"backbone": {"depth": 50}},
        {"stage1_epochs": 0, "stage2_epochs": 0},
        {"predict": {"drop_depth": "zeros"}},
        {"estimator": "reinforce"},
    ],
)
def test_bad_conf_is_refused(conf):
    with pytest.raises(ConfigError):
        methods.create("mvloc", conf)


def test_rotation_logs_known_values_and_half_turn():
    q = quat_from_yaw(np.array([0.0, np.pi / 2, np.pi - 1e-3, -np.pi + 1e-3]))
    a, alt = rotation_logs(q)
    np.testing.assert_allclose(a[0], 0, atol=1e-7)
    np.testing.assert_allclose(a[1], [0, 0, np.pi / 4], atol=1e-6)
    # either side of the half-turn: the canonical logs jump, one log of each side is near the other's
    assert abs(a[2, 2] - a[3, 2]) > 3.0
    assert min(abs(alt[2, 2] - a[3, 2]), abs(a[2, 2] - alt[3, 2])) < 2e-3
    np.testing.assert_allclose(np.linalg.norm(alt[1:], axis=1), np.pi - np.linalg.norm(a[1:], axis=1), atol=1e-6)


def _net(fusion="poe", modalities=("rgb", "depth")):
    torch.manual_seed(0)
    return CameraPoseNet(list(modalities), fusion, backbone_depth=18, width=4, latent_dim=16, hidden=8, dropout=0.0)


def _batch(n=3, size=32):
    g = torch.Generator().manual_seed(0)
    return {
        "rgb": torch.rand(n, 3, size, size, generator=g) * 2 - 1,
        "depth": torch.rand(n, 1, size, size, generator=g) * 2 - 1,
    }


def test_pose_loss_takes_the_nearer_log_of_the_target():
    net = _net()
    tgt = {
        "position": torch.zeros(1, 3),
        "log_quat": torch.tensor([[0, 0, 1.5]]),
        "log_quat_alt": torch.tensor([[0, 0, -1.64159]]),
    }
    out = {"position": torch.zeros(1, 3), "log_quat": torch.tensor([[0, 0, -1.64159]])}
    # only beta + gamma remain: the rotation term of the alternative target is 0
    assert float(net.pose_loss(out, tgt).detach()) == pytest.approx(-3.0, abs=1e-5)


def test_absent_depth_is_an_absent_expert():
    net = _net().eval()
    x = _batch()
    present = torch.tensor([[True, False]] * 3)
    with torch.no_grad():
        a = net.encode({**x, "present": present})
        b = net.encode({**x, "depth": torch.full_like(x["depth"], 123.0), "present": present})
        rgb_only = net.experts["rgb"](net.encoders["rgb"](x["rgb"]))
    assert torch.allclose(a["mu"], b["mu"]) and torch.allclose(a["logvar"], b["logvar"])
    # one expert times the prior N(0, I)
    prec = torch.exp(-rgb_only["logvar"]) + 1
    assert torch.allclose(a["mu"], rgb_only["mu"] * torch.exp(-rgb_only["logvar"]) / prec, atol=1e-6)


def test_iw_objective_trains_encoders_and_frozen_loss_weights_stay():
    net = _net()
    net.geometric.freeze()
    n = 4
    x = _batch(n)
    q = quat_from_yaw(np.linspace(0, 1, n))
    lq, alt = rotation_logs(q)
    data = {
        "rgb": ((x["rgb"].permute(0, 2, 3, 1) + 1) * 127.5).to(torch.uint8),
        "depth": (x["depth"][:, 0] + 1) * 3.0,
        "present": torch.ones(n, 2, dtype=torch.bool),
        "position": torch.randn(n, 3),
        "log_quat": torch.tensor(lq, dtype=torch.float32),
        "log_quat_alt": torch.tensor(alt, dtype=torch.float32),
        "quat": torch.tensor(q, dtype=torch.float32),
    }
    for objective in ("iw", "vae", "deterministic"):
        net.zero_grad()
        m = CameraPoseModule(net, data, None, objective, 5, 0.01, "dreg", 10.0, 0.0, 1.0)
        loss, extra = m.loss(torch.arange(n))
        loss.backward()
        assert torch.isfinite(loss)
        for enc in ("rgb", "depth"):
            assert net.encoders[enc].conv1.weight.grad.abs().sum() > 0, (objective, enc)
        assert net.geometric.beta.grad is None and net.geometric.gamma.grad is None
    with pytest.raises(ValueError, match="poe"):
        CameraPoseModule(_net("concat"), data, None, "iw", 5, 0.01, "dreg", 10.0, 0.0, 1.0)


def test_camera_frames_pairs_depth_within_tolerance():
    t = np.arange(5) * 0.1
    rgb = Stream("rgb", t, np.zeros((5, 4, 4, 3), np.uint8))
    depth = Stream("depth", t[[0, 2, 4]] + np.array([0.01, 0.06, -0.01]), np.ones((3, 4, 4), np.float32))
    rec = Recording("r", t[:4], position=np.zeros((4, 3)), orientation=quat_from_yaw(np.zeros(4)))
    rec.streams = {"rgb": rgb, "depth": depth}
    f = camera_frames(rec, max_pair_dt_s=0.05)
    np.testing.assert_array_equal(f["depth_index"], [0, -1, -1, 1, 2])
    lab = camera_frames(rec, labelled=True)  # the last frame lies after the pose timeline
    np.testing.assert_array_equal(lab["rgb_index"], [0, 1, 2, 3])
    assert (camera_frames(rec, use_depth=False)["depth_index"] == -1).all()


def test_fit_learns_and_predicts_pose_covariance_and_missing_depth(office):
    train, test = office.split("train"), office.split("test")
    loc = methods.create("mvloc", {"stage1_epochs": 6, "stage2_epochs": 2}, preset="quick").fit(train)
    est = loc.predict(test)
    assert est.orientation is not None and np.allclose(np.linalg.norm(est.orientation, axis=1), 1)
    assert est.covariance.shape == (len(est), 3, 3)
    eig = np.linalg.eigvalsh(est.covariance)
    assert (eig > -1e-9).all() and (eig.max(axis=1) > 0).all()
    err = compute_metrics(est, test, dims=3)["pos_err_median_m"]
    # better than guessing the training mean position for every frame
    mean = np.concatenate([r.position for r in train]).mean(0)
    base = np.median(np.linalg.norm(np.concatenate([r.position for r in test]) - mean, axis=1))
    assert err < base
    assert set(loc.history_) == {"mvloc-stage1", "mvloc-stage2"} and len(loc.history_["mvloc-stage1"]) == 6
    # absent depth: same frames, other predictions; a recording without its depth stream equals it
    rec = next(iter(test))
    conf0 = {**loc.conf, "predict": dict(loc.conf["predict"])}
    a = loc.predict_missing_depth(rec, "absent")
    assert loc.conf == conf0
    no_depth = Recording(rec.name, rec.t, rec.position, rec.orientation, streams={"rgb": rec.streams["rgb"]})
    b = loc.predict(no_depth)
    np.testing.assert_allclose(a.position, b.position, atol=1e-9)
    full = loc.predict(rec)
    assert not np.allclose(a.position, full.position)
    blank = loc.predict_missing_depth(rec, "blank")
    assert not np.allclose(blank.position, full.position) and not np.allclose(blank.position, a.position)
    with pytest.raises(ConfigError, match="blank"):
        loc.predict_missing_depth(rec, "zeros")


def test_images_of_another_size_are_refused_and_resize_works(office):
    from omniloc import DataError

    train = office.split("train")
    rec = next(iter(train))
    small = Dataset("one", {rec.name: rec}, splits={"train": [rec.name]})
    loc = methods.create("mvloc-v", {"stage1_epochs": 1, "stage2_epochs": 0}, preset="quick").fit(small)
    big = Recording(
        rec.name,
        rec.t,
        rec.position,
        rec.orientation,
        streams={"rgb": Stream("rgb", rec.streams["rgb"].t, np.zeros((len(rec.streams["rgb"]), 48, 48, 3), np.uint8))},
    )
    with pytest.raises(DataError, match="image_size"):
        loc.predict(big)
    resized = methods.create(
        "mvloc-v", {"stage1_epochs": 1, "stage2_epochs": 0, "image_size": [24, 16]}, preset="quick"
    )
    resized.fit(small)
    assert tuple(resized.image_shape_) == (16, 24) and len(resized.predict(big)) == len(rec.streams["rgb"])
