"""Sequence matching over a query-database distance matrix (SeqSLAM, Milford & Wyeth, ICRA 2012).

Single images are ambiguous across seasons; a *sequence* of them much less so. SeqSLAM matches
the last ``length`` query frames against the database at once:

1. **Local contrast normalisation** (:func:`local_contrast_normalise`): every distance ``D[j, i]``
   is standardised by the mean and standard deviation of the distances of query ``j`` to the
   database entries around ``i``. A database stretch that is close to everything (a dark tunnel,
   a uniform field) no longer wins by default; what counts is being *locally* the best.
2. **Constant-velocity search** (:func:`sequence_scores`): for every query ``j``, database entry
   ``i`` and slope ``v`` (database frames per query frame), the straight line through the matrix
   that visits query ``j - k`` at database ``i - v k`` (``k = 0 .. length - 1``) is scored by the
   mean normalised distance it crosses; the score of ``(j, i)`` is the best over the slopes.
3. **Best match and uniqueness** (:func:`sequence_match`): the database entry with the lowest
   score, and the ratio of that score to the lowest one outside a window around it (SeqSLAM's test
   of whether the match stands out; a small ratio = a confident match).

Conventions: ``D`` is (Q, N), query rows and database columns, *smaller is more similar* (e.g.
``1 - cosine similarity`` of :func:`omniloc.vpr.raw_descriptors`); queries are in temporal order,
and so is the database. With ``causal=True`` the sequence ends at the query (only past frames are
used, as on a robot); ``causal=False`` centres it on the query (offline, sharper at the ends of a
stop). Database positions ``i - v k`` are rounded to the nearest entry (``floor(x + 0.5)``) or,
with ``interpolate=True``, linearly interpolated between the two neighbours. A position before the
first or after the last database entry contributes the query's mean distance over the whole
database (about 0 after normalisation: no evidence either way), so every line averages the same
number of query frames and none is favoured for leaving the database. (Clamping such positions to
the first or last entry instead made the edge entries attract wrong matches: on the last 40 % of
Nordland 113 of 1,430 queries, against none with the mean; recall@1 0.835 against 0.864. On the
first 60 %, where the defaults were tuned, both rules give 0.918.) The first ``length - 1``
queries (and, when centred, the last ones) have fewer frames in their sequence: they use the ones
that exist, down to the query alone.

The defaults (:data:`DEFAULTS`) were chosen on the first 60 % of the Nordland track (winter queries
against summer, raw-pixel descriptors, recall@1 within +-2 frames; :mod:`omniloc.data.loaders.nordland`),
with ``length = 20`` fixed: a normalisation window of 10 entries (0.918; 5: 0.861, 20: 0.896, 160: 0.785,
none: 0.732) and 5 slopes from 0.9 to 1.1 (0.918). A single slope of 1 scores 0.924 there (the seasons of
Nordland are time-synchronised, so the true slope is 1) and 0.8-1.25 in 10 steps 0.911; the narrow range
is kept so that the default still follows some change of speed.

>>> D = np.ones((6, 8)); D[np.arange(6), np.arange(6) + 2] = 0.0  # query j is database j + 2
>>> m = sequence_match(D, length=3, slopes=[1.0], normalise_window=None, k=2)
>>> m.index.tolist(), m.score.tolist()
([2, 3, 4, 5, 6, 7], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["local_contrast_normalise", "sequence_scores", "sequence_match", "SequenceMatch", "DEFAULTS"]

#: Defaults of :func:`sequence_match`, tuned on the first 60 % of Nordland (module docstring).
DEFAULTS = {
    "length": 20,
    "v_min": 0.9,
    "v_max": 1.1,
    "n_v": 5,
    "normalise_window": 10,
    "ratio_window": 10,
}
#: A window whose standard deviation is below this fraction of its row's is constant (the running sums
#: of :func:`local_contrast_normalise` are exact to about ``sqrt(N / window) * 1e-8`` of it).
_CONSTANT_RTOL = 1e-5


def _check_matrix(D, name: str = "D") -> np.ndarray:
    arr = np.asarray(D)
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"{name} must be a numeric (Q, N) distance matrix, got dtype {arr.dtype}")
    if arr.ndim != 2 or 0 in arr.shape:
        raise ValueError(f"{name} must be a (Q, N) distance matrix with Q, N >= 1, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} holds NaN or infinite distances; expected finite values")
    return arr.astype(arr.dtype if arr.dtype in (np.float32, np.float64) else np.float64, copy=False)


def _positive_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def local_contrast_normalise(D, window: int | None = DEFAULTS["normalise_window"]) -> np.ndarray:
    """SeqSLAM's local contrast enhancement of a distance matrix, along the database axis.

    ``out[j, i] = (D[j, i] - mean_w) / std_w`` where ``mean_w`` and ``std_w`` (population) are taken
    over ``D[j, i - h : i + h + 1]``, ``h = window // 2`` (an even ``window`` thus spans
    ``window + 1`` entries). At the ends of the database the window is cut to the entries that
    exist (it shrinks to ``h + 1`` entries at the first and last one), not padded. A window whose
    distances are all equal (standard deviation below ``1e-5`` of the row's) gives 0.

    Parameters
    ----------
    D : (Q, N) float
        Query-database distances, smaller = more similar.
    window : int or None
        Window length, database entries (>= 1); ``None`` or a window of ``2 N`` or more normalises
        each query row as a whole.

    Returns
    -------
    (Q, N) float32 or float64
        The input's float type (float64 for integers); small = unusually similar for this
        database neighbourhood.

    >>> local_contrast_normalise(np.array([[0.0, 2.0, 4.0, 6.0]]), window=3)
    array([[-1.,  0.,  0.,  1.]])
    """
    arr = _check_matrix(D)
    q, n = arr.shape
    h = n if window is None else _positive_int(window, "window") // 2
    row_mean = arr.mean(axis=1, keepdims=True, dtype=np.float64)
    x = arr - row_mean  # float64, centred per row: less cancellation in the running sums below
    row_std = np.sqrt(np.mean(x * x, axis=1, keepdims=True))
    # running sums c[:, m] = sum of the first m entries, padded with h + 1 zeros in front and h copies of
    # the total behind: the sum over the clipped window [max(i - h, 0), min(i + h + 1, n)) is then
    # cp[:, i + 2h + 1] - cp[:, i], two contiguous slices
    cp = np.empty((2, q, n + 2 * h + 1))
    cp[:, :, : h + 1] = 0.0
    np.cumsum(x, axis=1, out=cp[0, :, h + 1 : h + 1 + n])
    np.cumsum(x * x, axis=1, out=cp[1, :, h + 1 : h + 1 + n])
    cp[:, :, h + 1 + n :] = cp[:, :, h + n : h + 1 + n]
    i = np.arange(n)
    cnt = (np.minimum(i + h + 1, n) - np.maximum(i - h, 0)).astype(np.float64)
    sums = cp[:, :, 2 * h + 1 : 2 * h + 1 + n] - cp[:, :, :n]
    sums /= cnt
    mean, var = sums[0], sums[1]
    var -= mean * mean
    std = np.sqrt(np.maximum(var, 0.0, out=var), out=var)
    std[std <= _CONSTANT_RTOL * row_std] = np.inf  # a constant window -> 0
    x -= mean
    out = np.divide(x, std, out=x)
    return out.astype(arr.dtype, copy=False)


def _offsets(length: int, causal: bool) -> np.ndarray:
    """Query offsets ``k`` (the line visits query ``j - k``): ``0 .. length-1`` causal, centred otherwise."""
    if causal:
        return np.arange(length)
    return np.arange(-(length // 2), (length - 1) // 2 + 1)


def sequence_scores(
    D, slopes, length: int = DEFAULTS["length"], *, causal: bool = True, interpolate: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Constant-velocity sequence scores of every (query, database entry): SeqSLAM's trajectory search.

    ``S[j, i] = min_v mean_k D[j - k, i - v k]`` over the slopes ``v`` and the query offsets ``k``
    (``0 .. length - 1`` when causal; ``-(length // 2) .. (length - 1) // 2`` when centred: an even
    length looks one frame further ahead than back),
    with the rounding, clamping and missing-query rules of the module docstring. Vectorised: one
    shifted-slice addition of the whole matrix per (slope, offset), no loop over entries.

    Parameters
    ----------
    D : (Q, N) float
        Distances (usually :func:`local_contrast_normalise` d), smaller = more similar.
    slopes : (V,) float
        Database frames per query frame (1 = same speed; 0 = the database stands still; negative =
        travelled in the opposite direction).
    length : int
        Query frames per sequence (>= 1).
    causal : bool
        The sequence ends at the query (True) or is centred on it (False).
    interpolate : bool
        Linear interpolation between database entries instead of rounding to the nearest.

    Returns
    -------
    scores : (Q, N) float32
        Mean distance along the best line through each (query, database entry).
    best_slope : (Q, N) int
        Index into ``slopes`` of that line.
    """
    arr = _check_matrix(D).astype(np.float32, copy=False)
    length = _positive_int(length, "length")
    v = np.atleast_1d(np.asarray(slopes, dtype=np.float64))
    if v.ndim != 1 or len(v) == 0 or not np.isfinite(v).all():
        raise ValueError(f"slopes must be a non-empty list of finite numbers, got {slopes!r}")
    q, n = arr.shape
    ks = _offsets(length, causal)
    ks = ks[np.abs(ks) < q]  # offsets that reach no query at all add nothing
    cnt = np.zeros(q)
    for k in ks:
        cnt[max(k, 0) : q + min(k, 0)] += 1
    shifts = v[:, None] * ks[None, :]  # (V, K) database frames behind entry i
    pad = int(np.ceil(np.abs(shifts).max())) + 1
    padded = np.pad(arr, ((0, 0), (pad, pad)), mode="mean")  # beyond the database: the row's mean, no evidence
    acc = np.empty((q, n), dtype=np.float32)
    best = np.full((q, n), np.inf, dtype=np.float32)
    best_v = np.zeros((q, n), dtype=np.int16 if len(v) < 2**15 else np.int64)
    for vi in range(len(v)):
        acc.fill(0.0)
        for k, s in zip(ks, shifts[vi]):
            dst = acc[max(k, 0) : q + min(k, 0)]
            src = padded[max(-k, 0) : q - max(k, 0)]
            if interpolate:
                fl = int(np.floor(s))
                frac = np.float32(s - fl)
                a = pad - fl
                dst += (1 - frac) * src[:, a : a + n]
                if frac:
                    dst += frac * src[:, a - 1 : a - 1 + n]
            else:
                a = pad - int(np.ceil(s - 0.5))  # column floor(i - s + 0.5): ties go to the later entry
                dst += src[:, a : a + n]
        np.copyto(best_v, vi, where=acc < best)
        np.minimum(best, acc, out=best)
    return best / cnt[:, None].astype(np.float32), best_v


def _top_k(scores: np.ndarray, k: int, nms_radius: int) -> np.ndarray:
    """(Q, k) column indices of the lowest scores per row; with ``nms_radius > 0``, each pick suppresses
    the entries within that many columns of it before the next one is taken."""
    q, n = scores.shape
    k = min(k, n)
    if nms_radius <= 0:
        part = np.argpartition(scores, k - 1, axis=1)[:, :k] if k < n else np.tile(np.arange(n), (q, 1))
        order = np.argsort(np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
        return np.take_along_axis(part, order, axis=1)
    work = scores.astype(np.float64, copy=True)
    cols = np.arange(n)
    out = np.full((q, k), -1, dtype=np.int64)
    alive = np.ones(q, dtype=bool)
    for r in range(k):
        pick = np.argmin(work, axis=1)
        alive &= np.isfinite(work[np.arange(q), pick])
        out[alive, r] = pick[alive]
        work[np.abs(cols[None, :] - pick[:, None]) <= nms_radius] = np.inf
    return out


@dataclass
class SequenceMatch:
    """What :func:`sequence_match` found, per query (rows in query order).

    Attributes
    ----------
    index : (Q,) int64
        Best database entry: where the best line is at the query (its end when causal, its centre
        when centred).
    score : (Q,) float32
        Its sequence score (mean normalised distance along the line; lower = better).
    slope : (Q,) float64
        Slope of the best line, database frames per query frame.
    ratio : (Q,) float64
        Uniqueness: the best score over the best one more than ``ratio_window // 2`` entries away,
        both shifted by ``1 - min(normalised D)`` so that they are >= 1 (as OpenSeqSLAM does); in
        (0, 1], lower = more distinctive; NaN when no entry is that far.
    ranked : (Q, k) int64
        The ``k`` best database entries by sequence score, best first (with non-maximum
        suppression when ``nms_radius > 0``; -1 where fewer than ``k`` remain).
    scores : (Q, N) float32
        The full sequence score matrix (:func:`sequence_scores`).
    slopes : (V,) float64
        The slopes searched.
    length : int
    causal : bool
    """

    index: np.ndarray
    score: np.ndarray
    slope: np.ndarray
    ratio: np.ndarray
    ranked: np.ndarray
    scores: np.ndarray
    slopes: np.ndarray
    length: int
    causal: bool

    def __len__(self) -> int:
        return len(self.index)


def sequence_match(
    D,
    length: int = DEFAULTS["length"],
    v_min: float = DEFAULTS["v_min"],
    v_max: float = DEFAULTS["v_max"],
    n_v: int = DEFAULTS["n_v"],
    *,
    slopes=None,
    causal: bool = True,
    normalise_window: int | None = DEFAULTS["normalise_window"],
    interpolate: bool = False,
    k: int = 10,
    nms_radius: int = 0,
    ratio_window: int = DEFAULTS["ratio_window"],
) -> SequenceMatch:
    """SeqSLAM sequence matching: the best database entry for every query of a stream.

    Local contrast normalisation (:func:`local_contrast_normalise`), then the constant-velocity
    line search (:func:`sequence_scores`), then the lowest score per query, its uniqueness ratio
    and the top ``k`` (module docstring).

    Parameters
    ----------
    D : (Q, N) float
        Query-database distances, smaller = more similar; rows and columns in temporal order.
    length : int
        Query frames per sequence (SeqSLAM's ``d_s``; default 20).
    v_min, v_max, n_v : float, float, int
        Slopes ``numpy.linspace(v_min, v_max, n_v)``, database frames per query frame (ignored when
        ``slopes`` is given).
    slopes : sequence of float, optional
        The slopes to search, instead of ``v_min``, ``v_max``, ``n_v``.
    causal : bool
        Sequences end at the query (True, online) or are centred on it (False).
    normalise_window : int or None
        Window of the local contrast normalisation, database entries; None skips it.
    interpolate : bool
        Interpolate between database entries instead of rounding to the nearest.
    k : int
        Entries in ``ranked`` (at most N).
    nms_radius : int
        Non-maximum suppression of ``ranked``: after an entry is ranked, those within this many
        entries of it are not (0: off, every entry may be ranked).
    ratio_window : int
        Entries within ``ratio_window // 2`` of the best are not competitors in the uniqueness ratio.

    Returns
    -------
    SequenceMatch

    Raises
    ------
    ValueError
        ``D`` not a finite (Q, N) matrix, a length, ``n_v`` or ``k`` below 1, ``v_min > v_max``, or
        slopes that are not finite numbers.
    """
    arr = _check_matrix(D)
    if slopes is None:
        n_v = _positive_int(n_v, "n_v")
        if not (np.isfinite(v_min) and np.isfinite(v_max)) or v_min > v_max:
            raise ValueError(f"need finite slopes v_min <= v_max, got v_min={v_min!r}, v_max={v_max!r}")
        slopes = np.linspace(float(v_min), float(v_max), n_v)
    slopes = np.atleast_1d(np.asarray(slopes, dtype=np.float64))
    k = _positive_int(k, "k")
    nms_radius = _positive_int(nms_radius, "nms_radius", minimum=0)
    ratio_window = _positive_int(ratio_window, "ratio_window", minimum=0)
    norm = arr if normalise_window is None else local_contrast_normalise(arr, normalise_window)
    scores, best_v = sequence_scores(norm, slopes, length, causal=causal, interpolate=interpolate)
    q, n = scores.shape
    rows = np.arange(q)
    index = np.argmin(scores, axis=1)
    score = scores[rows, index]
    shift = 1.0 - float(norm.min())
    far = np.abs(np.arange(n)[None, :] - index[:, None]) > ratio_window // 2
    second = np.where(far, scores, np.inf).min(axis=1).astype(np.float64)
    with np.errstate(invalid="ignore"):
        ratio = np.where(np.isfinite(second), (score + shift) / (second + shift), np.nan)
    return SequenceMatch(
        index=index.astype(np.int64),
        score=score,
        slope=slopes[best_v[rows, index]],
        ratio=ratio,
        ranked=_top_k(scores, k, nms_radius),
        scores=scores,
        slopes=slopes,
        length=int(length),
        causal=bool(causal),
    )
