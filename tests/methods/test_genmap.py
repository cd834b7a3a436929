"""Generative Map: pose vectors, the objective, rendering, EKF localization options and `omniloc render`."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from omniloc import ConfigError, methods
from omniloc.data import Dataset, Recording, Stream
from omniloc.data.transforms import quat_angle_deg, quat_from_yaw
from omniloc.nn.generative_map import GenerativeMapNet, PoseEncoderModule, generative_map_loss
from omniloc.nn.pose import PoseFrame, pose_vectors, poses_from_vectors


@pytest.fixture(scope="module")
def office():
    from omniloc.sim import simulate

    return simulate("office", seed=2, preset="quick", conf={"sensors": ["camera"], "walk": {"hand_held": True}})


@pytest.fixture(scope="module")
def fitted(office):
    return methods.create("genmap", preset="quick").fit(office.split("train"), office.split("val"))


def test_pose_vectors_round_trip_and_both_logs_are_one_rotation():
    rng = np.random.default_rng(0)
    pos = rng.normal(size=(20, 3)) * 5
    quat = quat_from_yaw(rng.uniform(-np.pi, np.pi, 20))
    frame = PoseFrame.fit(pos, quat)
    v, alt = pose_vectors(frame, pos, quat)
    assert v.shape == (20, 6) and np.all(np.linalg.norm(v[:, 3:], axis=1) <= np.pi / 2 + 1e-9)
    for w in (v, alt):
        p2, q2 = poses_from_vectors(frame, w)
        np.testing.assert_allclose(p2, pos, atol=1e-9)
        assert quat_angle_deg(q2, quat).max() < 1e-5
    # the normalised translation has unit total variance
    assert np.sqrt(v[:, :3].var(axis=0).sum()) == pytest.approx(1.0)


def test_objective_known_value_in_eval_mode():
    torch.manual_seed(0)
    net = GenerativeMapNet(input_size=16, output_size=16, latent_dim=4, channels=8, pose_hidden=8).double().eval()
    img = torch.rand(2, 3, 16, 16, dtype=torch.float64) * 2 - 1
    pose = torch.randn(2, 6, dtype=torch.float64)
    res = generative_map_loss(net, img, img, [pose], recon_logvar=-3.0)
    with torch.no_grad():
        enc = net.encode_image(img)
        recon = net.decoder(enc["mu"])
        mu_p = net.encode_pose(pose)
    nll = 0.5 * ((recon - img) ** 2 / math.exp(-3.0) - 3.0 + math.log(2 * math.pi)).flatten(1).sum(1)
    var = enc["logvar"].exp()
    kl = 0.5 * (var + (enc["mu"] - mu_p) ** 2 - 1 - enc["logvar"]).sum(1)
    assert float(res["loss"].detach()) == pytest.approx(float((nll + kl).mean()), rel=1e-10)
    assert float(res["kl"]) == pytest.approx(float(kl.mean()), rel=1e-10)


def test_pose_encoder_stage_loss_is_the_kl_term_and_only_the_pose_encoder_learns(office, fitted):
    torch.manual_seed(0)
    net = GenerativeMapNet(input_size=16, output_size=16, latent_dim=4, channels=8, pose_hidden=8).double()
    mu, logvar = torch.randn(5, 4, dtype=torch.float64), torch.randn(5, 4, dtype=torch.float64) * 0.1
    pose, alt = torch.randn(5, 6, dtype=torch.float64), torch.randn(5, 6, dtype=torch.float64)
    mod = PoseEncoderModule(net.pose_encoder, {"mu": mu, "logvar": logvar, "pose": pose, "pose_alt": alt}, None, 1e-3)
    loss, _ = mod.loss(torch.arange(5))
    with torch.no_grad():
        kl = [0.5 * (logvar.exp() + (mu - net.encode_pose(p)) ** 2 - 1 - logvar).sum(1) for p in (pose, alt)]
    assert float(loss.detach()) == pytest.approx(float((kl[0] + kl[1]).mean() / 2), rel=1e-10)
    loss.backward()
    assert all(p.grad is not None for p in net.pose_encoder.parameters())
    assert all(p.grad is None for p in net.encoder.parameters())
    # the stage in a fit: the image networks stay as the joint training left them
    loc = methods.create("genmap", preset="quick", conf={"pose_epochs": 2})
    loc.fit(office.split("train"), office.split("val"))
    ref = fitted  # the same conf without the stage
    assert len(loc.pose_history_) == 2 and np.isfinite(loc.pose_history_[-1][2])
    for a, b in zip(loc._net.encoder.parameters(), ref._net.encoder.parameters()):
        assert torch.equal(a, b)
    assert any(
        not torch.equal(a, b) for a, b in zip(loc._net.pose_encoder.parameters(), ref._net.pose_encoder.parameters())
    )


def test_bad_conf_is_refused():
    for conf in (
        {"filter": {"transition": "imu"}},
        {"filter": {"init": "guess"}},
        {"input_size": 50},
        {"filter": {"sigma_q": 0.0}},
    ):
        with pytest.raises(ConfigError):
            methods.create("genmap", conf)


def test_render_shape_range_and_predict_fields(fitted, office):
    test = office.split("test")
    rec = next(iter(test))
    img = fitted.render(rec.position[:3], rec.orientation[:3])
    assert img.shape == (3, 32, 32, 3) and img.dtype == np.uint8
    est = fitted.predict(rec)
    assert len(est) == len(rec.streams["rgb"]) and est.orientation is not None
    assert est.covariance.shape == (len(est), 3, 3) and np.all(np.linalg.eigvalsh(est.covariance) > 0)
    # the filter starts at the true first pose (filter.init = "truth")
    np.testing.assert_allclose(est.position[0], rec.position[0], atol=0.5)
    assert fitted.step_ms(rec, repeats=3) > 0


def test_odometry_transition_with_exact_odometry_follows_the_truth(fitted, office):
    rec = next(iter(office.split("test")))
    odo = Stream("vector", rec.t.copy(), np.concatenate([rec.position, rec.orientation], axis=1))
    r2 = Recording(rec.name, rec.t, rec.position, rec.orientation, streams={**rec.streams, "odometry": odo})
    view = methods.create(
        "genmap", dict(fitted.conf, filter=dict(fitted.conf["filter"], transition="odometry", sigma_q=1e-9))
    )
    view._set_state(fitted._get_state())
    view._net = fitted._net
    est = view.predict(r2)
    truth = np.array([rec.position[np.argmin(np.abs(rec.t - t))] for t in est.t])
    assert np.median(np.linalg.norm(est.position - truth, axis=1)) < 0.1
    with pytest.raises(Exception, match="odometry|stream"):
        view.predict(rec)  # no odometry stream


def test_initial_deviation_and_retrieval_start(fitted, office):
    rec = next(iter(office.split("test")))
    dev = methods.create(
        "genmap", dict(fitted.conf, filter=dict(fitted.conf["filter"], init_deviation=1.0, sigma_q=1e-9))
    )
    dev._set_state(fitted._get_state())
    dev._net = fitted._net
    start = dev.predict(rec).position[0]
    np.testing.assert_allclose(start - rec.position[0], 1.0, atol=0.05)  # +1 m in x, y, z (tiny sigma_q: kept)
    wide = methods.create(
        "genmap", dict(fitted.conf, filter=dict(fitted.conf["filter"], observation_noise="encoder+prior"))
    )
    wide._set_state(fitted._get_state())
    wide._net = fitted._net
    a, b = fitted.predict(rec), wide.predict(rec)
    # a larger R trusts each image less: smaller steps away from the start, larger position covariance
    assert np.trace(b.covariance[-1]) >= np.trace(a.covariance[-1])
    ret = methods.create("genmap", dict(fitted.conf, filter=dict(fitted.conf["filter"], init="retrieval")))
    ret._set_state(fitted._get_state())
    ret._net = fitted._net
    bare = Recording(rec.name, rec.t, streams={"rgb": rec.streams["rgb"]})
    assert np.isfinite(ret.predict(bare).position).all()  # no ground truth needed


def test_render_cli(tmp_path, fitted, office):
    from typer.testing import CliRunner

    from omniloc.cli import app
    from omniloc.data import save_dataset

    fitted.save(tmp_path / "run")
    save_dataset(Dataset(office.name, office.recordings, office.floor_plans, office.splits), tmp_path / "data")
    runner = CliRunner()
    r = runner.invoke(
        app, ["render", str(tmp_path / "run"), "--pose", "5,5,1.3,1,0,0,0", "--out", str(tmp_path / "a.png")]
    )
    assert r.exit_code == 0, r.output
    from PIL import Image

    assert Image.open(tmp_path / "a.png").size == (32, 32)
    r = runner.invoke(
        app, ["render", str(tmp_path / "run"), "--data", str(tmp_path / "data"), "--out", str(tmp_path / "s.png")]
    )
    assert r.exit_code == 0, r.output
    assert (tmp_path / "s.png").stat().st_size > 1000 and Image.open(tmp_path / "s.gif").n_frames > 1
    again = runner.invoke(
        app, ["render", str(tmp_path / "run"), "--data", str(tmp_path / "data"), "--out", str(tmp_path / "s.png")]
    )
    assert again.exit_code != 0  # no overwrite without --overwrite
    bad = runner.invoke(app, ["render", str(tmp_path / "run"), "--pose", "1,2,3", "--out", str(tmp_path / "b.png")])
    assert bad.exit_code != 0 and "x,y,z,qw,qx,qy,qz" in bad.output
