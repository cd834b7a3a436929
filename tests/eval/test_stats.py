"""Known answers of the error statistics, bootstrap intervals, paired differences and seed summaries."""

import numpy as np
import pytest

from omniloc.eval.stats import (
    aggregate_over_seeds,
    bonferroni_level,
    bootstrap_ci,
    error_stats,
    format_difference,
    format_mean_std,
    paired_difference,
    seed_summary,
)


def test_error_stats_one_run_and_pooled_runs():
    st = error_stats([1.0, 2.0, 3.0, 4.0, np.nan])
    assert st["mean_m"] == pytest.approx(2.5) and st["median_m"] == pytest.approx(2.5)
    assert st["std_m"] == pytest.approx(np.sqrt(1.25))  # population std of 1..4
    assert st["p90_m"] == pytest.approx(3.7) and st["n"] == 4  # numpy's linear percentile
    pooled = error_stats(np.array([[1.0, 3.0, np.nan], [2.0, 2.0, 2.0]]))
    assert pooled["mean_m"] == pytest.approx(2.0) and pooled["n"] == 3 and pooled["n_runs"] == 2
    assert pooled["seed_means_m"] == pytest.approx([2.0, 2.0])
    assert set(error_stats([1.0], unit="px")) == {"mean_px", "std_px", "median_px", "p90_px", "n"}
    empty = error_stats([np.nan])
    assert np.isnan(empty["mean_m"]) and empty["n"] == 0
    with pytest.raises(ValueError, match="shape"):
        error_stats(np.zeros((2, 2, 2)))


def test_bootstrap_ci_known_answers():
    assert bootstrap_ci([2.0, 2.0, np.nan, 2.0], n_boot=50) == (2.0, 2.0)  # no spread, no interval
    v = np.r_[np.zeros(50), np.ones(50)]
    lo, hi = bootstrap_ci(v, n_boot=4000, seed=1)
    # mean of 100 Bernoulli(0.5) draws: standard error 0.05, so about 0.5 -/+ 0.098
    assert lo == pytest.approx(0.402, abs=0.02) and hi == pytest.approx(0.598, abs=0.02)
    assert bootstrap_ci(v, n_boot=4000, seed=1) == (lo, hi)  # seeded
    # two groups of 50 identical values: resampling groups gives 0, 0.5 or 1 only
    groups = np.r_[np.zeros(50), np.ones(50)]
    glo, ghi = bootstrap_ci(v, groups=groups, n_boot=4000, seed=1)
    assert (glo, ghi) == (0.0, 1.0)
    med = bootstrap_ci([1.0, 2.0, 3.0], statistic=np.median, n_boot=500, level=0.5)
    assert 1.0 <= med[0] <= med[1] <= 3.0
    with pytest.raises(ValueError, match="level"):
        bootstrap_ci([1.0], level=1.5)
    with pytest.raises(ValueError, match="groups"):
        bootstrap_ci([1.0, 2.0], groups=[0])


def test_paired_difference_two_level_bootstrap_and_bonferroni():
    groups = np.repeat(["p0", "p1", "p2", "p3"], 3)
    b = np.tile(np.linspace(1.0, 4.0, 12), (3, 1))
    d = paired_difference(b + 0.5, b, groups, n_boot=200, n_tests=4)
    assert d["diff_m"] == pytest.approx(0.5) and d["ci95_m"] == pytest.approx([0.5, 0.5])
    assert d["n_points"] == 4 and d["n_seeds"] == 3 and d["adjusted_level"] == pytest.approx(0.9875)
    # a difference on one point only: the interval covers 0 (points are resampled as a whole)
    a = b.copy()
    a[:, :3] += 4.0
    d = paired_difference(a, b, groups, n_boot=2000)
    assert d["diff_m"] == pytest.approx(1.0) and d["ci95_m"][0] == pytest.approx(0.0) and d["ci95_m"][1] > 2.0
    lo, hi = d["ci_adjusted_m"]
    assert lo <= d["ci95_m"][0] and hi >= d["ci95_m"][1]
    # without groups every sample is its own group; one run as (M,) works too
    one = paired_difference(a[0], b[0], n_boot=500)
    assert one["n_points"] == 12 and one["n_seeds"] == 1 and one["diff_m"] == pytest.approx(1.0)
    # a sample without a finite error in some run is left out of both methods
    a2 = a.copy()
    a2[1, 0] = np.nan
    assert paired_difference(a2, b, groups, n_boot=10)["diff_m"] == pytest.approx(2 * 4.0 / 11)
    with pytest.raises(ValueError, match="equal shapes"):
        paired_difference(a, b[:2], groups)
    assert bonferroni_level(5) == pytest.approx(0.99) and bonferroni_level(1) == pytest.approx(0.95)


def test_seed_summary_student_t_interval():
    s = seed_summary([1.0, 2.0, 3.0])
    # mean 2, sample std 1, t(0.975, 2) = 4.302653 -> half width 4.302653 / sqrt(3)
    assert s["mean"] == pytest.approx(2.0) and s["std"] == pytest.approx(1.0) and s["n_seeds"] == 3
    assert s["ci"] == pytest.approx([2.0 - 2.484138, 2.0 + 2.484138], abs=1e-5)
    one = seed_summary([4.0])
    assert one["mean"] == 4.0 and one["ci"] is None and one["std"] == 0.0
    agg = aggregate_over_seeds(
        [{"pos_err_mean_m": 1.0, "n_test": 10, "flag": True}, {"pos_err_mean_m": 3.0, "n_test": 10, "flag": False}]
    )
    assert list(agg) == ["pos_err_mean_m", "n_test"]  # bools are not aggregated
    assert agg["pos_err_mean_m"]["mean"] == 2.0 and agg["n_test"]["ci"] == pytest.approx([10.0, 10.0])
    assert aggregate_over_seeds([]) == {}


def test_formatting():
    assert format_mean_std({"mean_m": 1.234, "std_m": 0.5}) == "1.23 ± 0.50"
    assert format_mean_std({"mean_m": float("nan"), "std_m": 0.0}) == "–"
    assert format_difference({"diff_m": -0.5, "ci95_m": [-1.0, 0.25]}) == "-0.50 [-1.00, +0.25]"
