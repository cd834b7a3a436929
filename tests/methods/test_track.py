"""track: a base method's fixes smoothed with dead-reckoned steps, on the simulated office."""

import numpy as np
import pytest

from omniloc import ConfigError, methods
from omniloc.data import Dataset, Estimate, Recording
from omniloc.eval import compute_metrics


@pytest.fixture(scope="module")
def office():
    from omniloc.sim import simulate

    return simulate(
        "office", seed=0, preset="quick", conf={"n_recordings": 8, "duration_s": 60.0, "sensors": ["imu", "wifi"]}
    )


def test_smoothing_knn_fixes_with_steps_lowers_the_error(office):
    train, test = office.split("train"), office.split("test")
    base = methods.create("knn").fit(train)
    track = methods.create("track").fit_smoother(train, base)
    est_base, est = base.predict(test), track.predict(test)
    np.testing.assert_array_equal(est.t, est_base.t)  # same times, one to one
    m_base, m = compute_metrics(est_base, test), compute_metrics(est, test)
    # kNN's errors here are mostly a position-dependent bias, which no smoothing removes (~10 %)
    assert m["pos_err_mean_m"] < 0.95 * m_base["pos_err_mean_m"]
    assert m["floor_hit_rate"] >= m_base["floor_hit_rate"]
    assert 0.2 < track.step_length_k_ < 1.0  # Weinberg K calibrated on the walks


class _NoisyTruth:
    """A stand-in base method: the true positions plus independent 3 m noise at kNN's times."""

    is_fitted = True

    def __init__(self, est, truth, seed=0):
        from omniloc.eval import match_truth

        gt = match_truth(est, truth)["position"]
        rng = np.random.default_rng(seed)
        self.est = Estimate(
            est.recording,
            est.t,
            gt + np.c_[rng.normal(0, 3.0, (len(gt), 2)), np.zeros(len(gt))],
            None,
            est.floor,
            est.building,
        )

    def predict(self, rec):
        m = self.est.recording == rec.name
        return Estimate(self.est.recording[m], self.est.t[m], self.est.position[m], None, self.est.floor[m], None)


def test_independent_fix_noise_is_averaged_out_along_the_steps(office):
    train, test = office.split("train"), office.split("test")
    base = methods.create("knn").fit(train)
    noisy = _NoisyTruth(base.predict(test), test)
    track = methods.create("track", {"sigma_fix_m": 3.0}).fit_smoother(train, base)
    track.base_ = noisy
    raw = compute_metrics(noisy.est, test)["pos_err_mean_m"]  # ~3 m
    assert compute_metrics(track.predict(test), test)["pos_err_mean_m"] < 0.5 * raw  # ~1.1 m


def test_fit_trains_the_base_and_round_trips(office, tmp_path):
    train, test = office.split("train"), office.split("test")
    loc = methods.create("track", {"base": "knn", "base_conf": {"k": 3}, "floor_switch_s": None}).fit(train)
    assert loc.base_.conf["k"] == 3
    loc.save(tmp_path / "m")
    again = methods.load(tmp_path / "m")
    np.testing.assert_array_equal(again.predict(test).position, loc.predict(test).position)
    assert again.step_length_k_ == loc.step_length_k_ and again.base_.name == "knn"


def test_without_imu_the_base_estimates_are_kept(office):
    train = office.split("train")
    loc = methods.create("track").fit(train)
    rec = office.split("test")[office.splits["test"][0]]
    bare = Recording(rec.name, rec.t, position=rec.position, floor=rec.floor, streams={"wifi": rec.stream("wifi")})
    np.testing.assert_array_equal(loc.predict(bare).position, loc.base_.predict(bare).position)


def test_bad_configurations():
    train = Dataset("empty", {"r": Recording("r", np.arange(3.0), position=np.zeros((3, 3)))})
    # refused at construction (the base class calls _check_conf)
    with pytest.raises(ConfigError, match="base"):
        methods.create("track", {"base": "track"})
    with pytest.raises(ConfigError, match="sigma_fix_m"):
        methods.create("track", {"sigma_fix_m": 0})
    with pytest.raises(ConfigError, match="iterations"):
        methods.create("track", {"iterations": 0})
    # the base method's conf and preset are checked with it, and the message says where they came from
    with pytest.raises(ConfigError, match=r"track conf 'base_conf'.*knn conf 'k' must be an int, got 'x' \(str\)"):
        methods.create("track", {"base_conf": {"k": "x"}})
    with pytest.raises(ConfigError, match="no preset 'nope'"):
        methods.create("track", {"base_preset": "nope"})
    with pytest.raises(ConfigError, match=r"'base_conf' must be a dict, got 3 \(int\)"):
        methods.create("track", {"base_conf": 3})
    with pytest.raises(RuntimeError, match="fitted base"):
        methods.create("track").fit_smoother(train, methods.create("knn"))


def test_base_preset_list_reaches_the_base_method(office):
    loc = methods.create("track", {"base": "knn", "base_preset": ["paper", "fast"]}).fit(office.split("train"))
    assert loc.base_.preset == ["paper", "fast"]
    assert loc.base_.conf["representation"] == "powed" and loc.base_.conf["metric"] == "euclidean"
