"""One ground truth at query times: ``truth_at`` known answers, and training labels that the
evaluation scores as exact on recordings with repeated and out-of-order timestamps."""

import numpy as np

from omniloc import methods
from omniloc.data import Dataset, Estimate, Recording, Stream, truth_at
from omniloc.data.transforms import quat_from_yaw, yaw_from_quat
from omniloc.eval import compute_metrics, match_truth

NAN = np.nan


def _fingerprints(name="uji"):
    """UJIIndoorLoc-like: one scan per pose, integer-second times shared by several poses."""
    t = np.array([0, 0, 0, 1, 1, 2, 5, 5], dtype=float)
    pos = np.c_[np.arange(8) * 3.0, np.arange(8) % 3 * 2.0, np.zeros(8)]
    floor = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    rss = np.full((8, 8), NAN, np.float32)
    rss[np.arange(8), np.arange(8)] = -40.0 - np.arange(8)  # every scan hears its own AP
    rss[np.arange(8), (np.arange(8) + 1) % 8] = -80.0
    return Recording(
        name,
        t,
        position=pos,
        floor=floor,
        building=np.zeros(8, np.int64),
        streams={"wifi": Stream("wifi", t, rss, ids=[f"ap{i}" for i in range(8)])},
    )


def test_repeated_times_are_matched_in_order():
    rec = _fingerprints()
    gt = truth_at(rec, rec.t)
    np.testing.assert_array_equal(gt["position"], rec.position)
    np.testing.assert_array_equal(gt["floor"], rec.floor)
    # any order across times, the order within a repeated time kept: still row by row
    perm = np.array([6, 3, 0, 5, 7, 1, 4, 2])
    np.testing.assert_array_equal(truth_at(rec, rec.t[perm])["position"], rec.position[perm])
    # more queries at t = 1 than poses there: the extra ones take the last pose at t = 1
    np.testing.assert_array_equal(truth_at(rec, [1.0, 1.0, 1.0])["position"], rec.position[[3, 4, 4]])


def test_between_poses_interpolates_from_the_last_pose_before_to_the_first_after():
    rec = _fingerprints()
    gt = truth_at(rec, [0.5, 1.5, 3.5, -1.0, 6.0])
    np.testing.assert_allclose(gt["position"][0], (rec.position[2] + rec.position[3]) / 2)  # t=0 (last) -> t=1 (first)
    np.testing.assert_allclose(gt["position"][1], (rec.position[4] + rec.position[5]) / 2)
    np.testing.assert_allclose(gt["position"][2], (rec.position[5] + rec.position[6]) / 2)
    assert np.isnan(gt["position"][3:]).all()
    assert gt["inside"].tolist() == [True, True, True, False, False]
    assert gt["floor"].tolist() == [0, 2, 0, 0, 1]  # the nearer pose (halfway: the later one); ends outside


def test_orientation_slerp_and_unsorted_pose_timeline():
    t = np.array([2.0, 0.0, 1.0])
    rec = Recording(
        "r",
        t,
        position=[[4, 0, 0], [0, 0, 0], [2, 0, 0]],
        orientation=quat_from_yaw(np.array([np.pi / 2, 0.0, np.pi / 4])),
    )
    gt = truth_at(rec, [0.5, 1.5, 2.0])
    np.testing.assert_allclose(gt["position"], [[1, 0, 0], [3, 0, 0], [4, 0, 0]])
    np.testing.assert_allclose(yaw_from_quat(gt["orientation"]), [np.pi / 8, 3 * np.pi / 8, np.pi / 2])


def test_empty_recording_and_no_queries():
    rec = Recording("e", np.zeros(0), position=np.zeros((0, 3)))
    gt = truth_at(rec, [1.0, 2.0])
    assert gt["position"].shape == (2, 3) and np.isnan(gt["position"]).all() and not gt["inside"].any()
    assert truth_at(_fingerprints(), []).get("position").shape == (0, 3)


def test_mtloc_wifi_window_labels_are_what_evaluation_scores():
    """The bug: with window_times='wifi', MTLoc interpolated its labels while evaluation matched rows."""
    from omniloc.methods.mtloc import extract_windows, window_labels

    rec = _fingerprints()
    ds = Dataset("uji", {rec.name: rec})
    win = extract_windows(rec, [f"ap{i}" for i in range(8)], branches=("wifi",), window_times="wifi")
    lab = window_labels(rec, win.t)
    np.testing.assert_array_equal(lab["position"], rec.position)  # each scan labelled with its own pose
    est = Estimate(np.full(len(win.t), rec.name), win.t, lab["position"], floor=lab["floor"])
    m = compute_metrics(est, ds)
    assert m["pos_err_mean_m"] == 0.0 and m["floor_hit_rate"] == 1.0


def test_knn_labels_agree_with_evaluation_in_any_estimate_order():
    rec = _fingerprints()
    ds = Dataset("uji", {rec.name: rec})
    loc = methods.create("knn", {"k": 1, "floor_model": "knn"}).fit(ds)
    est = loc.predict(rec)  # every scan's nearest reference is itself
    assert compute_metrics(est, ds)["pos_err_mean_m"] == 0.0
    perm = np.array([6, 5, 3, 0, 7, 1, 4, 2])  # shuffled, the order within a repeated time kept
    shuffled = Estimate(est.recording[perm], est.t[perm], est.position[perm], floor=est.floor[perm])
    gt = match_truth(shuffled, ds)
    np.testing.assert_array_equal(gt["position"], rec.position[perm])
    m = compute_metrics(shuffled, ds)
    assert m["pos_err_mean_m"] == 0.0 and m["floor_hit_rate"] == 1.0


def test_match_truth_keeps_estimate_order_across_recordings():
    a, b = _fingerprints("a"), _fingerprints("b")
    b.position = b.position + 100.0
    ds = Dataset("two", {"a": a, "b": b})
    est = Estimate(["b", "a", "b", "a"], [2.0, 2.0, 0.0, 0.5], np.zeros((4, 3)))
    gt = match_truth(est, ds)
    np.testing.assert_allclose(
        gt["position"], [b.position[5], a.position[5], b.position[0], (a.position[2] + a.position[3]) / 2]
    )
