"""Known-answer tests of the metrics, plots and reports."""

import json

import numpy as np
import pytest

from omniloc.data import Dataset, Estimate, FloorPlan, Recording
from omniloc.data.transforms import quat_from_yaw
from omniloc.eval import (
    competition_score,
    compute_metrics,
    error_cdf,
    evaluate_estimates,
    match_truth,
    metrics_table,
    plot_frames,
    position_errors,
)


def truth():
    t = np.arange(5.0)
    recs = {
        "a": Recording(
            "a",
            t,
            position=np.c_[t, np.zeros(5), np.zeros(5)],
            orientation=quat_from_yaw(np.zeros(5)),
            floor=np.array([0, 0, 0, 1, 1]),
            building=np.zeros(5, int),
        ),
        "b": Recording(
            "b",
            t,
            position=np.c_[np.zeros(5), t, np.zeros(5)],
            orientation=quat_from_yaw(np.zeros(5)),
            floor=np.zeros(5, int),
            building=np.ones(5, int),
        ),
    }
    plan = FloorPlan("F0", [[[0, 0], [5, 0]]], zones={"z": [[0, 0], [5, 0], [5, 5], [0, 5]]})
    plan1 = FloorPlan("F1", [[[0, 0], [5, 0]]], floor=1)
    return Dataset("toy", recs, {"F0": plan, "F1": plan1}, {"test": ["a", "b"]})


def test_errors_and_hit_rates_known_values():
    ds = truth()
    # estimates interleaved across recordings, at non-pose times
    est = Estimate(
        ["b", "a", "a", "b"],
        [1.0, 0.5, 3.0, 4.0],
        [[3, 1, 0], [0.5, 4, 0], [3, 0, 7], [0, 4, 0]],
        orientation=quat_from_yaw(np.radians([0, 10, 20, 0])),
        floor=[0, 0, 1, 1],
        building=[1, 0, 0, 0],
    )
    gt = match_truth(est, ds)
    np.testing.assert_allclose(gt["position"], [[0, 1, 0], [0.5, 0, 0], [3, 0, 0], [0, 4, 0]])
    np.testing.assert_allclose(position_errors(est.position, gt["position"], 2), [3, 4, 0, 0])
    np.testing.assert_allclose(position_errors(est.position, gt["position"], 3), [3, 4, 7, 0])
    m = compute_metrics(est, ds)
    assert m["n_test"] == 4 and m["coverage"] == 1.0
    assert m["pos_err_mean_m"] == pytest.approx(1.75)
    assert m["pos_err_median_m"] == pytest.approx(1.5)
    assert m["rot_err_median_deg"] == pytest.approx(5.0)
    assert m["floor_hit_rate"] == pytest.approx(0.75)  # truth floors: 0, 0, 1, 0
    assert m["building_hit_rate"] == pytest.approx(0.75)
    assert m["competition_score_m"] == pytest.approx((3 + 4 + 0 + 0 + 15) / 4)


def test_nan_estimates_reduce_coverage_and_missing_fields_are_absent():
    est = Estimate(["a", "a"], [0.0, 1.0], [[np.nan] * 3, [1, 0, 0]])
    m = compute_metrics(est, truth())
    assert m["coverage"] == 0.5 and m["pos_err_mean_m"] == 0.0
    assert "floor_hit_rate" not in m and "rot_err_median_deg" not in m


def test_competition_score_and_cdf():
    assert competition_score(np.array([1.0, 2.0]), np.array([0, 2]), np.array([0, 1])) == pytest.approx(9.0)
    x, y = error_cdf(np.array([3.0, np.nan, 1.0, 2.0]))
    assert x.tolist() == [1, 2, 3] and y.tolist() == pytest.approx([1 / 3, 2 / 3, 1])


def test_evaluate_writes_report_and_plots(tmp_path):
    ds = truth()
    est = Estimate(
        ["a"] * 5 + ["b"] * 5,
        np.r_[np.arange(5.0), np.arange(5.0)],
        np.r_[np.c_[np.arange(5.0), np.full(5, 0.3), np.zeros(5)], np.c_[np.zeros(5), np.arange(5.0), np.zeros(5)]],
        floor=np.r_[[0, 0, 0, 1, 1], np.zeros(5, int)],
    )
    metrics = evaluate_estimates({"m": est}, ds, tmp_path, n_trajectories=2)
    assert json.loads((tmp_path / "metrics.json").read_text())["m"]["pos_err_mean_m"] == pytest.approx(0.15)
    assert metrics["m"]["floor_hit_rate"] == 1.0
    report = (tmp_path / "report.md").read_text()
    for f in ("error_cdf.png", "trajectory_a.png", "trajectory_b.png"):
        assert (tmp_path / f).stat().st_size > 1000 and f in report
    assert "| m | 10 |" in metrics_table(metrics)
    plot_frames(np.zeros((3, 8, 8, 3), np.uint8), tmp_path / "frames.png", depth=np.ones((3, 8, 8)))
    assert (tmp_path / "frames.png").exists()


def test_estimates_aligned_with_poses_match_row_by_row_despite_duplicate_times():
    t = np.array([0.0, 1.0, 1.0, 2.0])
    rec = Recording("a", t, position=[[0, 0, 0], [1, 0, 0], [5, 5, 0], [2, 0, 0]])
    ds = Dataset("dup", {"a": rec})
    est = Estimate("a", t, rec.position.copy())
    assert compute_metrics(est, ds)["pos_err_mean_m"] == 0.0
    # not aligned (one estimate at the duplicated time): interpolation takes the first pose at that time
    np.testing.assert_allclose(match_truth(Estimate("a", [1.0], [[1, 0, 0]]), ds)["position"], [[1, 0, 0]])


def test_survey_distance_known_values():
    from omniloc.eval import survey_distance

    t = np.arange(2.0)
    # a 10 m track along x on floor 0 (two waypoints: densified in between), one point on floor 1
    ref = Dataset(
        "ref",
        {
            "r0": Recording("r0", t, position=np.array([[0.0, 0, 0], [10, 0, 0]]), floor=np.array([0, 0])),
            "r1": Recording("r1", t, position=np.array([[50.0, 50, 0], [50, 50, 0]]), floor=np.array([1, 1])),
        },
    )
    q = np.array([[5.0, 3, 0], [12, 0, 0], [50, 46, 0], [np.nan, 0, 0]])
    np.testing.assert_allclose(survey_distance(ref, q), [3.0, 2.0, 4.0, np.nan])
    # floor-aware: (5, 3) on floor 1 measures to (50, 50); a floor never surveyed is inf
    d = survey_distance(ref, q, floor=np.array([1, 0, 0, 0]))
    np.testing.assert_allclose(d[:3], [np.hypot(45, 47), 2.0, np.hypot(40, 46)])
    assert np.isnan(d[3])
    assert survey_distance(ref, q[:1], floor=np.array([7]))[0] == np.inf
    with pytest.raises(ValueError, match="floor must have one entry"):
        survey_distance(ref, q, floor=np.array([0]))
    with pytest.raises(ValueError, match="position must be"):
        survey_distance(ref, np.zeros(3))


def test_coverage_metrics_split_errors_by_survey_distance():
    from omniloc.eval import coverage_metrics

    ds = truth()  # "a" walks x = 0..4 on y = 0, "b" walks y = 0..4 on x = 0
    ref = Dataset(
        "ref",
        {"r": Recording("r", np.arange(2.0), position=np.array([[0.0, 0, 0], [4, 0, 0]]), floor=np.array([0, 0]))},
    )
    # estimates on "b" at y = 1 (1 m from the surveyed x axis) and y = 4 (4 m away), errors 2 m and 6 m
    est = Estimate(["b", "b"], [1.0, 4.0], [[2, 1, 0], [6, 4, 0]], floor=[0, 0])
    m = coverage_metrics(est, ds, ref, covered_m=3.0)
    assert m["covered_share"] == pytest.approx(0.5)
    assert m["pos_err_mean_covered_m"] == pytest.approx(2.0)
    assert m["pos_err_mean_uncovered_m"] == pytest.approx(6.0)
    assert m["survey_dist_mean_m"] == pytest.approx(2.5)


def test_plot_survey_coverage_draws_one_floor(tmp_path):
    from omniloc.eval import plot_survey_coverage

    ds = truth()  # "a" changes to floor 1 half-way, "b" stays on floor 0
    out = plot_survey_coverage(ds.subset(["a"]), ds.subset(["b"]), 0, tmp_path / "cov.png")
    assert out.stat().st_size > 1000
    # a floor without a plan still draws (equal aspect, no plan)
    assert plot_survey_coverage(ds.subset(["a"]), ds.subset(["b"]), 5, tmp_path / "none.png").stat().st_size > 1000
