"""SeqSLAM sequence matching: local contrast normalisation, the line search against a loop-by-loop reference,
planted routes at slopes 1 and 0.5 that single-frame matching misses, causal vs centred, ranking and uniqueness."""

import time

import numpy as np
import pytest

from omniloc.vpr import SequenceMatch, local_contrast_normalise, sequence_match
from omniloc.vpr.sequence import sequence_scores


def reference_lcn(D, window):
    """Loop-by-loop local contrast normalisation with the clipped window of the docstring."""
    h = window // 2
    out = np.zeros_like(D, dtype=np.float64)
    for j in range(D.shape[0]):
        for i in range(D.shape[1]):
            w = D[j, max(0, i - h) : i + h + 1]
            out[j, i] = 0.0 if w.std() == 0 else (D[j, i] - w.mean()) / w.std()
    return out


def reference_scores(D, slopes, length, causal, interpolate):
    """Loop-by-loop constant-velocity line scores: missing queries skipped, outside the database = row mean."""
    q, n = D.shape
    ks = range(length) if causal else range(-(length // 2), (length - 1) // 2 + 1)
    row_mean = D.mean(axis=1)

    def value(row, x):
        if interpolate:
            lo = int(np.floor(x))
            f = x - lo
            vals = [D[row, c] if 0 <= c < n else row_mean[row] for c in (lo, lo + 1)]
            return (1 - f) * vals[0] + f * vals[1]
        c = int(np.floor(x + 0.5))
        return D[row, c] if 0 <= c < n else row_mean[row]

    best = np.full((q, n), np.inf)
    for v in slopes:
        for j in range(q):
            for i in range(n):
                vals = [value(j - k, i - v * k) for k in ks if 0 <= j - k < q]
                best[j, i] = min(best[j, i], np.mean(vals))
    return best


def planted_route(q, n, start, slope, seed, distractors=True):
    """Distances with a route ``start + slope * j`` (low, noisy) and, per query, a lower single-frame distractor."""
    rng = np.random.default_rng(seed)
    D = rng.uniform(0.6, 1.0, size=(q, n))
    pos = start + slope * np.arange(q)
    cols = np.arange(n)
    near = np.abs(cols[None, :] - pos[:, None]) <= 0.5  # both neighbours where the route is between entries
    D[near] = rng.uniform(0.2, 0.35, size=near.sum())
    fake = np.zeros(q, dtype=np.int64)
    if distractors:
        for j in range(q):  # an isolated minimum far from the route, lower than the route itself
            fake[j] = rng.choice(np.flatnonzero(np.abs(cols - pos[j]) > 20))
            D[j, fake[j]] = 0.0
    return D, pos, fake


def test_lcn_known_answer_and_edges():
    D = np.array([[0.0, 2.0, 4.0, 6.0], [5.0, 5.0, 5.0, 5.0]])
    out = local_contrast_normalise(D, window=3)
    np.testing.assert_allclose(out, [[-1.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0]], atol=1e-12)
    # window None: each row standardised as a whole
    np.testing.assert_allclose(local_contrast_normalise(D[:1], window=None), [[-3, -1, 1, 3] / np.sqrt(5)], atol=1e-12)
    assert local_contrast_normalise(D.astype(np.float32), 3).dtype == np.float32
    np.testing.assert_array_equal(local_contrast_normalise(D, window=1), 0.0)  # a one-entry window is constant


def test_lcn_matches_the_loop_reference():
    rng = np.random.default_rng(3)
    D = rng.random((7, 23))
    for window in (2, 5, 10, 40):
        np.testing.assert_allclose(local_contrast_normalise(D, window), reference_lcn(D, window), atol=1e-9)


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("interpolate", [False, True])
def test_sequence_scores_match_the_loop_reference(causal, interpolate):
    rng = np.random.default_rng(4)
    D = rng.random((9, 14)).astype(np.float32)
    slopes = [-0.5, 0.0, 0.7, 1.0, 1.5]
    scores, best = sequence_scores(D, slopes, length=4, causal=causal, interpolate=interpolate)
    ref = reference_scores(D.astype(np.float64), slopes, 4, causal, interpolate)
    np.testing.assert_allclose(scores, ref, rtol=1e-5, atol=1e-6)
    assert scores.shape == best.shape == (9, 14) and best.max() < len(slopes)


def test_slope_one_route_is_recovered_where_single_frames_fail():
    D, pos, fake = planted_route(120, 300, start=40, slope=1.0, seed=0)
    assert (D.argmin(axis=1) == fake).all()  # every single-frame match is the distractor
    for window in (None, 10):
        m = sequence_match(D, length=10, v_min=0.8, v_max=1.2, n_v=5, normalise_window=window)
        assert isinstance(m, SequenceMatch) and len(m) == 120
        np.testing.assert_array_equal(m.index[9:], pos[9:].astype(int))  # every query with a full sequence
        np.testing.assert_allclose(m.slope[9:], 1.0)
        assert m.score.dtype == np.float32 and (m.score == m.scores[np.arange(120), m.index]).all()


def test_slope_half_route_and_its_slope_are_recovered():
    D, pos, fake = planted_route(100, 200, start=30, slope=0.5, seed=1)
    m = sequence_match(D, length=12, slopes=[0.25, 0.5, 0.75, 1.0, 1.25], normalise_window=10)
    j = np.arange(11, 100)
    whole = j % 2 == 0  # the route is on an entry: exactly it; between two entries: one of them
    np.testing.assert_array_equal(m.index[j[whole]], pos[j[whole]].astype(int))
    assert np.isin(m.index[j[~whole]] - np.floor(pos[j[~whole]]), [0, 1]).all()
    assert (m.slope[j[whole]] == 0.5).all()


def test_causal_uses_the_past_and_centred_both_sides():
    D, pos, fake = planted_route(80, 200, start=60, slope=1.0, seed=2)
    causal = sequence_match(D, length=10, slopes=[1.0], normalise_window=None)
    centred = sequence_match(D, length=10, slopes=[1.0], normalise_window=None, causal=False)
    assert causal.index[0] == fake[0]  # the first query has no past: a single frame, fooled
    assert centred.index[0] == pos[0]  # ... but a future
    np.testing.assert_array_equal(centred.index, pos.astype(int))
    assert causal.causal and not centred.causal
    # a tiny case by hand: length 2, slope 1; causal adds the previous query one entry back, centred the next
    # query one entry ahead; outside the database counts the row's mean (2 in both rows)
    T = np.array([[3.0, 1.0, 2.0], [2.0, 4.0, 0.0]])
    c = sequence_match(T, length=2, slopes=[1.0], normalise_window=None, k=3)
    np.testing.assert_allclose(c.scores, [[3.0, 1.0, 2.0], [(2 + 2) / 2, (4 + 3) / 2, (0 + 1) / 2]])
    f = sequence_match(T, length=2, slopes=[1.0], normalise_window=None, causal=False, k=3)
    np.testing.assert_allclose(f.scores, [[(3 + 4) / 2, (1 + 0) / 2, (2 + 2) / 2], [2.0, 4.0, 0.0]])
    np.testing.assert_array_equal(c.index, [1, 2])
    np.testing.assert_array_equal(c.ranked, [[1, 2, 0], [2, 0, 1]])


def test_ranked_with_and_without_suppression_and_the_uniqueness_ratio():
    D = np.ones((30, 45))
    D[np.arange(30), np.arange(30)] = 0.0
    m = sequence_match(D, length=1, slopes=[1.0], normalise_window=None, k=4, ratio_window=10)
    np.testing.assert_array_equal(m.ranked[:, 0], np.arange(30))
    # best score 0, every entry more than 5 away scores 1; both shifted by 1 - min(D) = 1
    np.testing.assert_allclose(m.ratio, 0.5)
    D[np.arange(30), np.arange(30) + 15] = 0.0  # the route twice: as good 15 entries away -> ratio 1
    twice = sequence_match(D, length=5, slopes=[1.0], normalise_window=None, ratio_window=10)
    np.testing.assert_allclose(twice.ratio, 1.0)
    np.testing.assert_array_equal(twice.index, np.arange(30))  # ties go to the first entry
    rng = np.random.default_rng(5)
    R = rng.random((20, 50))
    plain = sequence_match(R, length=3, k=6)
    np.testing.assert_array_equal(plain.ranked, np.argsort(plain.scores, axis=1, kind="stable")[:, :6])
    nms = sequence_match(R, length=3, k=6, nms_radius=3)
    gaps = np.abs(nms.ranked[:, :, None] - nms.ranked[:, None, :]) + 99 * np.eye(6, dtype=int)
    assert (gaps > 3).all() and (nms.ranked[:, 0] == nms.index).all()
    assert sequence_match(R[:, :4], length=3, k=10).ranked.shape == (20, 4)  # k capped at N
    few = sequence_match(R[:, :4], length=3, k=3, nms_radius=5, ratio_window=10)
    assert (few.ranked[:, 1:] == -1).all() and np.isnan(few.ratio).all()  # nothing left to rank or compare


def test_runs_fast_for_nordland_sized_matrices():
    rng = np.random.default_rng(6)
    D = rng.random((1430, 1430)).astype(np.float32)
    sequence_match(D[:50, :50])
    t = time.perf_counter()
    m = sequence_match(D, length=20, v_min=0.8, v_max=1.25, n_v=10)
    assert time.perf_counter() - t < 5.0  # about 0.5 s; the bound only catches a loop over entries
    assert m.ranked.shape == (1430, 10)


@pytest.mark.parametrize(
    ("D", "kwargs", "message"),
    [
        (np.zeros(5), {}, r"\(Q, N\)"),
        (np.zeros((0, 5)), {}, r"\(Q, N\)"),
        (np.full((3, 3), np.nan), {}, "NaN"),
        (np.array([["a"]]), {}, "numeric"),
        (np.zeros((3, 3)), {"length": 0}, "length"),
        (np.zeros((3, 3)), {"v_min": 2.0, "v_max": 1.0}, "v_min <= v_max"),
        (np.zeros((3, 3)), {"n_v": 0}, "n_v"),
        (np.zeros((3, 3)), {"slopes": []}, "slopes"),
        (np.zeros((3, 3)), {"slopes": [np.inf]}, "slopes"),
        (np.zeros((3, 3)), {"k": 0}, "k"),
        (np.zeros((3, 3)), {"normalise_window": 0}, "window"),
        (np.zeros((3, 3)), {"nms_radius": -1}, "nms_radius"),
    ],
)
def test_bad_inputs_raise(D, kwargs, message):
    with pytest.raises(ValueError, match=message):
        sequence_match(D, **kwargs)
