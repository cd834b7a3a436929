"""`vpr`: place labels, similarity-weighted fixes, the gated filter, the database, and `omniloc vpr`."""

from __future__ import annotations

import numpy as np
import pytest

from omniloc import ConfigError, methods
from omniloc.data.transforms import quat_angle_deg, quat_from_yaw


@pytest.fixture(scope="module")
def office():
    from omniloc.sim import simulate

    return simulate("office", seed=3, preset="quick", conf={"sensors": ["camera"], "building": {"n_floors": 1}})


@pytest.fixture(scope="module")
def raw(office):
    return methods.create("vpr", {"descriptor": "raw"}).fit(office.split("train"), office.split("val"))


def test_place_labels_are_cells_times_heading_sectors():
    loc = methods.create("vpr", {"place": {"cell_m": 2.0, "heading_bins": 4}})
    pos = np.array([[0.5, 0.5, 1], [1.9, 1.0, 1], [2.1, 1.0, 1], [0.5, 0.5, 1], [0.5, 0.5, 1]])
    quat = quat_from_yaw(np.radians([10, 80, 10, 100, 10]))
    labels = loc.places(pos, quat, np.array([0, 0, 0, 0, 1]))
    # same cell and sector -> same label; another cell, sector or floor -> another
    assert labels[0] == labels[1]  # 10 and 80 degrees: both in sector 0 of 4 (0-90), same 2-m cell
    assert len({labels[0], labels[2], labels[3], labels[4]}) == 4


def test_fixes_are_similarity_weighted_with_spread_as_covariance(raw):
    loc = raw
    db_pos = loc.db_position_.copy()
    sims = np.array([[0.9, 0.9, 0.1]])
    ids = np.array([[0, 1, 2]])
    fx = loc.fixes(sims, ids)
    w = np.exp(np.array([0.9, 0.9, 0.1]) / loc.conf["temperature"])
    w /= w.sum()
    expected = (w[:, None] * db_pos[[0, 1, 2]]).sum(0)
    np.testing.assert_allclose(fx["position"][0], expected)
    np.testing.assert_allclose(fx["weights"][0], w)
    d = db_pos[[0, 1, 2]] - expected
    cov = (w[:, None, None] * d[:, :, None] * d[:, None, :]).sum(0) + loc.conf["fix_std_m"] ** 2 * np.eye(3)
    np.testing.assert_allclose(fx["covariance"][0], cov)
    # one dominant retrieval -> its pose
    fx1 = loc.fixes(np.array([[1.0, 0.0]]), np.array([[5, 6]]))
    np.testing.assert_allclose(fx1["position"][0], db_pos[5], atol=1e-9)
    assert quat_angle_deg(fx1["orientation"], loc.db_orientation_[[5]])[0] < 1e-3


def test_gated_filter_rejects_a_wrong_place_and_restarts_when_lost(raw):
    loc = raw
    t = np.arange(8) * 0.5
    z = np.zeros((8, 3))
    z[:, 0] = np.arange(8) * 0.5  # walking at 1 m/s
    z[3] = [30.0, 10.0, 0.0]  # one wrong place
    R = np.repeat(np.eye(3)[None] * 0.25, 8, axis=0)
    x, P = loc._filter(t, z, R)
    assert np.linalg.norm(x[3] - x[2]) < 1.0  # the outlier is not followed
    assert np.linalg.norm(x[-1] - z[-1]) < 1.0
    # a jump that persists: after reset_after rejections the filter restarts there
    z2 = z.copy()
    z2[3] = z[3]
    z2[4:] = z[3] + np.arange(4)[:, None] * [0.5, 0, 0]
    x2, _ = loc._filter(t, z2, R)
    assert np.linalg.norm(x2[-1] - z2[-1]) < 1.0
    assert np.all(np.linalg.eigvalsh(P) > 0)


def test_predict_fields_and_reload(raw, office, tmp_path):
    test = office.split("test")
    est = raw.predict(test)
    n = sum(len(r.streams["rgb"].t) for r in test)
    assert len(est) == n and est.covariance.shape == (n, 3, 3) and est.orientation.shape == (n, 4)
    assert np.all(np.isfinite(est.position))
    path = raw.save(tmp_path / "m")
    again = methods.load(path).predict(test)
    np.testing.assert_allclose(again.position, est.position)
    # the filter smooths: without it the fixes jump more from frame to frame
    single = methods.create("vpr", {"descriptor": "raw"}, preset="single").fit(office.split("train"))
    e1 = single.predict(test)
    step = lambda e: np.median(np.linalg.norm(np.diff(e.position, axis=0), axis=1))  # noqa: E731
    assert step(est) < step(e1)


def test_database_from_another_dataset_replaces_the_database(raw, office):
    import copy

    loc = copy.copy(raw)
    loc.database_from(office.split("val"))
    n_val = sum(len(r.streams["rgb"].t) for r in office.split("val"))
    assert len(loc.db_position_) == n_val and len(loc._index) == n_val
    assert len(raw.db_position_) != n_val


def test_bad_conf_is_refused():
    for conf in (
        {"descriptor": "sift"},
        {"filter": {"kind": "particle"}},
        {"top_k": 0},
        {"temperature": 0.0},
        {"filter": {"gate": -1.0}},
        {"place": {"cell_m": 0.0}},
    ):
        with pytest.raises(ConfigError):
            methods.create("vpr", conf)


def test_vpr_cli_index_and_query(tmp_path, office, raw):
    from typer.testing import CliRunner

    from omniloc.cli import app
    from omniloc.data import save_dataset

    data = save_dataset(office, tmp_path / "office")
    run = raw.save(tmp_path / "run")
    runner = CliRunner()
    res = runner.invoke(
        app, ["vpr", "index", str(run), "--data", str(data), "--split", "val", "--out", str(tmp_path / "ix")]
    )
    assert res.exit_code == 0, res.output
    res = runner.invoke(
        app, ["vpr", "query", str(tmp_path / "ix"), "--data", str(data), "--k", "3", "--out", str(tmp_path / "q.csv")]
    )
    assert res.exit_code == 0, res.output
    assert "recall@1" in res.output
    import pandas as pd

    q = pd.read_csv(tmp_path / "q.csv")
    assert set(q["rank"]) == {1, 2, 3} and {"similarity", "db_index", "x"} <= set(q.columns)
    # an existing output is never overwritten without --overwrite; a non-vpr run is refused
    res = runner.invoke(
        app, ["vpr", "query", str(tmp_path / "ix"), "--data", str(data), "--out", str(tmp_path / "q.csv")]
    )
    assert res.exit_code == 2 and "overwrite" in res.output
    res = runner.invoke(
        app, ["vpr", "index", str(tmp_path / "nope"), "--data", str(data), "--out", str(tmp_path / "i2")]
    )
    assert res.exit_code == 2 and "Traceback" not in res.output
