"""Recall@N, its curve and true matches, on hand-computed cases (frames and metres)."""

import numpy as np
import pytest

from omniloc import ConfigError, DataError
from omniloc.eval.retrieval import positives, recall_at_n, recall_curve

# database frames and three queries: the third (frame 50) has no match within 1 frame
DB_FRAMES = np.array([0, 1, 2, 10, 11, 20])
Q_FRAMES = np.array([1, 10, 50])
RANKED = np.array([[5, 1, 0], [4, 2, 3], [0, 1, 2]])


def test_recall_frames_known_answer_excludes_query_without_match():
    # q0 (frame 1): 20 no, 1 yes -> found at 2; q1 (frame 10): 11 yes -> found at 1; q2: no match anywhere
    r = recall_at_n(RANKED, Q_FRAMES, DB_FRAMES, ns=(1, 2, 3), tolerance=1)
    assert r == {"recall@1": 0.5, "recall@2": 1.0, "recall@3": 1.0, "n_queries": 2, "n_without_match": 1}


def test_recall_frames_unmatched_as_miss():
    r = recall_at_n(RANKED, Q_FRAMES, DB_FRAMES, ns=(1, 2, 3), tolerance=1, unmatched="miss")
    assert r["recall@1"] == pytest.approx(1 / 3)
    assert r["recall@2"] == pytest.approx(2 / 3)
    assert r["recall@3"] == pytest.approx(2 / 3)
    assert (r["n_queries"], r["n_without_match"]) == (3, 1)


def test_recall_tolerance_zero_is_same_label():
    # labels: q0 = 1 (db item 1 only), q1 = 10 (db item 3 only); q1 ranked [4, 2, 3] finds it at 3
    r = recall_at_n(RANKED[:2], Q_FRAMES[:2], DB_FRAMES, ns=(1, 2, 3), tolerance=0)
    assert r == {"recall@1": 0.0, "recall@2": 0.5, "recall@3": 1.0, "n_queries": 2, "n_without_match": 0}


def test_recall_metres_known_answer_boundary_inclusive():
    db = np.array([[0.0, 0.0], [3.0, 4.0], [10.0, 0.0], [100.0, 100.0]])
    q = np.array([[0.0, 0.0], [10.0, 1.0], [50.0, 50.0]])
    # q0: item 1 at exactly 5 m (a match with tolerance 5), item 0 at 0 m; q1: item 2 at 1 m; q2: nothing within 5 m
    ranked = np.array([[3, 1], [1, 2], [0, 1]])
    r = recall_at_n(ranked, q, db, ns=(1, 2), tolerance=5.0)
    assert r == {"recall@1": 0.0, "recall@2": 1.0, "n_queries": 2, "n_without_match": 1}
    r = recall_at_n(ranked, q, db, ns=(1, 2), tolerance=4.99)  # q0's ranked item 1 is now too far
    assert r == {"recall@1": 0.0, "recall@2": 0.5, "n_queries": 2, "n_without_match": 1}


def test_minus_one_ids_never_match():
    r = recall_at_n(np.array([[-1, 0]]), [0], [0, 5], ns=(1, 2), tolerance=0)
    assert (r["recall@1"], r["recall@2"]) == (0.0, 1.0)


def test_no_query_evaluated_gives_nan():
    r = recall_at_n(np.array([[0]]), [100], [0, 1], ns=(1,), tolerance=2)
    assert np.isnan(r["recall@1"]) and r["n_queries"] == 0 and r["n_without_match"] == 1


def test_recall_curve_known_answer_and_consistent():
    ns, rec = recall_curve(RANKED, Q_FRAMES, DB_FRAMES, tolerance=1)
    assert ns.tolist() == [1, 2, 3]
    np.testing.assert_allclose(rec, [0.5, 1.0, 1.0])
    rng = np.random.default_rng(0)
    ranked = rng.integers(0, 40, size=(30, 8))
    qp, dbp = rng.uniform(0, 10, (30, 2)), rng.uniform(0, 10, (40, 2))
    ns, rec = recall_curve(ranked, qp, dbp, tolerance=1.5)
    full = recall_at_n(ranked, qp, dbp, ns=tuple(range(1, 9)), tolerance=1.5)
    np.testing.assert_allclose(rec, [full[f"recall@{n}"] for n in ns])
    assert np.all(np.diff(rec) >= 0)


def test_positives_small_cases_dense_and_sets_agree():
    dense = positives([1, 10, 50], DB_FRAMES, tolerance=1)
    expected = np.zeros((3, 6), dtype=bool)
    expected[0, [0, 1, 2]] = True
    expected[1, [3, 4]] = True
    np.testing.assert_array_equal(dense, expected)
    sets = positives([1, 10, 50], DB_FRAMES, tolerance=1, sets=True)
    assert [s.tolist() for s in sets] == [[0, 1, 2], [3, 4], []]
    # metres
    db = np.array([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]])
    assert positives([[0.0, 0.0]], db, tolerance=5.0).tolist() == [[True, True, False]]
    rng = np.random.default_rng(1)
    q, d = rng.uniform(0, 20, (25, 3)), rng.uniform(0, 20, (60, 3))
    dense = positives(q, d, tolerance=4.0)
    sets = positives(q, d, tolerance=4.0, sets=True)
    assert [np.flatnonzero(row).tolist() for row in dense] == [s.tolist() for s in sets]
    assert dense.sum() > 0


@pytest.mark.parametrize(
    "ranked, qp, dbp, kwargs, err, word",
    [
        (np.zeros((2, 2), dtype=int), [0, 1, 2], [0, 1], {}, DataError, "ranked"),
        (np.array([[0, 5]]), [0], [0, 1], {}, DataError, "ranked"),
        (np.array([[0.5, 1.0]]), [0], [0, 1], {}, DataError, "ranked"),
        (np.array([[0, 1]]), [np.nan], [0, 1], {}, DataError, "query_places"),
        (np.array([[0, 1]]), [[0.0, 0.0]], [0, 1], {}, DataError, "database_places"),
        (np.array([[0, 1]]), [[0.0, 0.0]], [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]], {}, DataError, "database_places"),
        (np.array([[0, 1]]), [0], [0, 1], {"ns": (3,)}, ConfigError, "1 .. 2"),
        (np.array([[0, 1]]), [0], [0, 1], {"ns": (0,)}, ConfigError, "1 .. 2"),
        (np.array([[0, 1]]), [0], [0, 1], {"ns": (1,), "tolerance": -1}, ConfigError, "tolerance"),
        (np.array([[0, 1]]), [0], [0, 1], {"ns": (1,), "unmatched": "drop"}, ConfigError, "unmatched"),
    ],
)
def test_bad_inputs_raise_clear_errors(ranked, qp, dbp, kwargs, err, word):
    with pytest.raises(err, match=word):
        recall_at_n(ranked, qp, dbp, **kwargs)


def test_positives_bad_inputs():
    with pytest.raises(DataError, match="query_places"):
        positives(np.zeros((2, 2, 2)), [0, 1])
    with pytest.raises(ConfigError, match="tolerance"):
        positives([0], [0], tolerance=float("nan"))
