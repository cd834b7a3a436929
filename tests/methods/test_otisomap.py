"""OT-Isomap end to end on small simulated worlds."""

import numpy as np
import pytest

from omniloc import DataError, methods
from omniloc.eval import compute_metrics

QUICK = {"metric": {"epochs": 3}, "embedding": {"steps": 200}, "trainer": {"progress": False}}


@pytest.fixture(scope="module")
def maze():
    from omniloc.sim import simulate

    return simulate(
        "maze", seed=0, conf={"n_recordings": 24, "maze": {"size_px": 16}, "splits": {"train": 0.8, "test": 0.2}}
    )


@pytest.fixture(scope="module")
def fitted(maze):
    return methods.create("otisomap", QUICK, preset="maze").fit(maze.split("train"))


def test_quick_maze_beats_a_random_guess_by_a_wide_margin(maze, fitted):
    from omniloc.bench.maze import random_guess

    test = maze.split("test")
    m = compute_metrics(fitted.predict(test), test, 2)
    guess, _ = random_guess(next(iter(maze.floor_plans.values())), test)
    assert m["coverage"] == 1.0
    assert m["pos_err_mean_m"] < 0.5 * guess["pos_err_mean_m"]
    # fit learned no positions: the graph is one component and every prototype landed on the canvas
    assert fitted.graph_info_["n_components"] >= 1 and fitted.prototype_canvas_.shape[1] == 2
    assert np.isfinite(fitted.train_log_).all()


def test_geodesic_refinement_improves_on_algorithm_1(maze, fitted):
    from omniloc import ConfigError
    from omniloc._conf import deep_update

    test = maze.split("test")
    plain = methods.create("otisomap", deep_update(QUICK, {"embedding": {"refine": None}}), preset="maze")
    plain.fit(maze.split("train"))
    err_plain = compute_metrics(plain.predict(test), test, 2)["pos_err_mean_m"]
    err_refined = compute_metrics(fitted.predict(test), test, 2)["pos_err_mean_m"]
    assert err_refined < 0.8 * err_plain
    info = fitted.refine_info_
    assert info["scale"] > 0 and info["n_targets"] == len(fitted.target_canvas_) and info["moved_m"] >= 0
    assert plain.refine_info_ == {}
    with pytest.raises(ConfigError, match="embedding.refine"):
        methods.create("otisomap", deep_update(QUICK, {"embedding": {"refine": "icp"}}), preset="maze").fit(
            maze.split("train")
        )


def test_fit_is_deterministic(maze, fitted):
    again = methods.create("otisomap", QUICK, preset="maze").fit(maze.split("train"))
    test = maze.split("test")
    np.testing.assert_allclose(again.predict(test).position, fitted.predict(test).position, atol=1e-5)


@pytest.mark.parametrize(
    "over",
    [
        {"embedding": {"transport": False}},
        {"prototypes": {"distance": "euclidean"}},
        {"metric": {"enabled": False}},
        {"embedding": {"zone_penalty": 1.0}},
        {"embedding": {"batch_prototypes": 16, "target_relax": 0.1}},
        {"embedding": {"parametric": False, "n_init": 2}},
    ],
)
def test_ablations_and_options_run(maze, over):
    from omniloc._conf import deep_update

    loc = methods.create("otisomap", deep_update(QUICK, over), preset="maze").fit(maze.split("train"))
    est = loc.predict(maze.split("test"))
    assert np.isfinite(est.position).all()


def test_zone_labels_are_required_and_streams_checked(maze):
    train = maze.split("train")
    rec = next(iter(train))
    rec_no_zone = type(rec)(**{**vars(rec), "zone": None})
    ds = train.subset([r.name for r in train])
    ds.recordings[rec.name] = rec_no_zone
    with pytest.raises(DataError, match="no zone labels"):
        methods.create("otisomap", QUICK, preset="maze").fit(ds)
    with pytest.raises(DataError, match="no stream 'wifi'"):
        methods.create("otisomap", dict(QUICK, stream="wifi"), preset="maze").fit(train)


def test_checkpoints_resume(maze, fitted, tmp_path):
    from omniloc import ConfigError
    from omniloc._conf import deep_update

    conf = {**QUICK, "trainer": {"progress": False, "checkpoint_dir": str(tmp_path / "ckpt")}}
    a = methods.create("otisomap", conf, preset="maze").fit(maze.split("train"))
    for stage in ("metric", "embedding-0", "refine-regression"):
        assert (tmp_path / "ckpt" / stage / "last.ckpt").exists(), stage
    test = maze.split("test")
    np.testing.assert_array_equal(a.predict(test).position, fitted.predict(test).position)  # same as without
    # a second fit resumes every stage from its last checkpoint (already complete: no new steps)
    b = methods.create("otisomap", conf, preset="maze").fit(maze.split("train"))
    np.testing.assert_array_equal(a.predict(test).position, b.predict(test).position)
    # another conf in the same folder is refused, not resumed
    other = deep_update(conf, {"embedding": {"lambda_ot": 5.0}})
    with pytest.raises(ConfigError, match=r"metric/last\.ckpt was written by a fit with other method conf"):
        methods.create("otisomap", other, preset="maze").fit(maze.split("train"))


def test_fit_leaves_the_callers_random_state_and_checks_the_conf(maze):
    import torch

    from omniloc import ConfigError

    torch.manual_seed(11)
    state = torch.random.get_rng_state()
    loc = methods.create(
        "otisomap", {**QUICK, "metric": {"epochs": 1}, "embedding": {"steps": 20, "refine": None}}, preset="maze"
    )
    assert loc._check_conf() is None
    loc.fit(maze.split("train"))
    assert torch.equal(torch.random.get_rng_state(), state)
    for bad, key in (
        ({"prototypes": {"distance": "cosine"}}, "prototypes.distance"),
        ({"embedding": {"target_mass": "points"}}, "embedding.target_mass"),
        ({"trainer": {"resume": "always"}}, "trainer.resume"),
    ):
        with pytest.raises(ConfigError, match=key):
            methods.create("otisomap", bad)._check_conf()
