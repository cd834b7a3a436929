"""Retrieval metrics of place recognition: true matches within a tolerance, recall@N and its curve.

A retrieval ranks database items for each query (``ranked`` (Q, K) database ids, best first, e.g.
the ``ids`` of :meth:`omniloc.vpr.DescriptorIndex.search`). Whether a database item is a true match
of a query is decided by their *places*, given in one of two forms:

* 1-D arrays, (Q,) and (N,): frame indices or integer place labels; a match when
  ``|i - j| <= tolerance`` (frames). ``tolerance=0`` means the same label.
* 2-D arrays, (Q, d) and (N, d): metric positions (e.g. (x, y) or (x, y, z) metres); a match when
  the Euclidean distance is ``<= tolerance`` (metres; 25 m is the usual threshold of outdoor
  place-recognition benchmarks, a few metres indoors).

A query counts as *found at N* when any of its first N ranked items is a true match. Queries
with no true match anywhere in the database cannot be found by any retrieval; by default they
are excluded from the recall (the usual convention of place-recognition benchmarks) and counted in
``n_without_match``; ``unmatched="miss"`` counts them as misses instead.
"""

from __future__ import annotations

import numpy as np

from .._errors import ConfigError, DataError

__all__ = ["positives", "recall_at_n", "recall_curve", "UNMATCHED"]

#: What :func:`recall_at_n` does with queries that have no true match in the database.
UNMATCHED = ("exclude", "miss")


def _places(query_places, database_places) -> tuple[np.ndarray, np.ndarray]:
    """Both place arrays as float64, both 1-D or both (., d) with the same d, finite."""
    out = []
    for name, p in (("query_places", query_places), ("database_places", database_places)):
        try:
            a = np.asarray(p, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise DataError(
                f"must be numbers, 1-D frame indices / labels or (., d) positions ({e})", field=name
            ) from None
        if a.ndim not in (1, 2) or (a.ndim == 2 and a.shape[1] < 1):
            raise DataError(f"must be 1-D (frame indices / labels) or 2-D (positions), got shape {a.shape}", field=name)
        if not np.isfinite(a).all():
            raise DataError("has NaN or infinite values; drop the items without a known place first", field=name)
        out.append(a)
    q, db = out
    if q.ndim != db.ndim or (q.ndim == 2 and q.shape[1] != db.shape[1]):
        raise DataError(
            f"query places {q.shape[1:] or '1-D'} and database places {db.shape[1:] or '1-D'} must have the same form",
            field="database_places",
        )
    return q, db


def _tolerance(tolerance) -> float:
    try:
        tol = float(tolerance)
    except (TypeError, ValueError):
        raise ConfigError(f"tolerance must be a number >= 0, got {tolerance!r}") from None
    if not np.isfinite(tol) or tol < 0:
        raise ConfigError(f"tolerance must be a finite number >= 0, got {tolerance!r}")
    return tol


def positives(query_places, database_places, tolerance: float = 0.0, *, sets: bool = False):
    """The true matches of each query: database items within ``tolerance`` of its place.

    Parameters
    ----------
    query_places : (Q,) or (Q, d)
        Frame indices / integer labels (1-D) or positions in metres (2-D).
    database_places : (N,) or (N, d)
        Same form as ``query_places``.
    tolerance : float
        Frames (1-D, ``|i - j| <= tolerance``) or metres (2-D, Euclidean distance ``<= tolerance``).
    sets : bool
        Return one sorted array of database ids per query instead of the dense matrix (for large
        databases: a sorted search for 1-D places, a k-d tree for positions).

    Returns
    -------
    (Q, N) bool array, or (with ``sets``) a list of Q int64 arrays of database ids.

    Examples
    --------
    >>> positives([0, 5], [0, 1, 2, 6], tolerance=1).astype(int).tolist()
    [[1, 1, 0, 0], [0, 0, 0, 1]]
    >>> [s.tolist() for s in positives([[0.0, 0.0]], [[3.0, 4.0], [9.0, 0.0]], tolerance=5.0, sets=True)]
    [[0]]
    """
    q, db = _places(query_places, database_places)
    tol = _tolerance(tolerance)
    if not sets:
        if q.ndim == 1:
            return np.abs(q[:, None] - db[None, :]) <= tol
        from scipy.spatial.distance import cdist

        return cdist(q, db) <= tol
    if q.ndim == 1:
        order = np.argsort(db, kind="stable")
        sorted_db = db[order]
        lo = np.searchsorted(sorted_db, q - tol, side="left")
        hi = np.searchsorted(sorted_db, q + tol, side="right")
        return [np.sort(order[a:b]).astype(np.int64) for a, b in zip(lo, hi)]
    from scipy.spatial import cKDTree

    tree = cKDTree(db)
    return [np.asarray(sorted(ids), dtype=np.int64) for ids in tree.query_ball_point(q, r=tol)]


def _has_match(q: np.ndarray, db: np.ndarray, tol: float) -> np.ndarray:
    """(Q,) bool: the query has at least one database item within ``tol``."""
    if len(db) == 0:
        return np.zeros(len(q), dtype=bool)
    if q.ndim == 1:
        s = np.sort(db)
        lo = np.searchsorted(s, q - tol, side="left")
        hi = np.searchsorted(s, q + tol, side="right")
        return hi > lo
    from scipy.spatial import cKDTree

    counts = cKDTree(db).query_ball_point(q, r=tol, return_length=True)
    return np.asarray(counts) > 0


def _hits(ranked, query_places, database_places, tolerance) -> tuple[np.ndarray, np.ndarray]:
    """``hits`` (Q, K) bool (ranked item is a true match) and ``has_match`` (Q,) bool."""
    q, db = _places(query_places, database_places)
    tol = _tolerance(tolerance)
    r = np.asarray(ranked)
    if r.ndim != 2 or not (np.issubdtype(r.dtype, np.integer) or r.size == 0):
        raise DataError(
            f"must be a (Q, K) integer array of database ids, got shape {r.shape} {r.dtype}", field="ranked"
        )
    if r.shape[0] != len(q):
        raise DataError(f"has {r.shape[0]} rows but there are {len(q)} query places", field="ranked")
    r = r.astype(np.int64, copy=False)
    if r.size and (r.min() < -1 or r.max() >= len(db)):
        raise DataError(f"ids must be in [0, {len(db)}) (or -1 for none), got {r.min()} .. {r.max()}", field="ranked")
    valid = r >= 0
    dbr = db[np.where(valid, r, 0)]  # (Q, K) or (Q, K, d)
    if q.ndim == 1:
        hits = np.abs(dbr - q[:, None]) <= tol
    else:
        hits = np.linalg.norm(dbr - q[:, None, :], axis=-1) <= tol
    return hits & valid, _has_match(q, db, tol)


def _first_hit(hits: np.ndarray) -> np.ndarray:
    """(Q,) rank (0-based) of the first true match, K where there is none."""
    k = hits.shape[1]
    return np.where(hits.any(axis=1), hits.argmax(axis=1), k)


def _select(has_match: np.ndarray, unmatched: str) -> np.ndarray:
    if unmatched not in UNMATCHED:
        raise ConfigError(f"unmatched must be one of {list(UNMATCHED)}, got {unmatched!r}")
    return has_match if unmatched == "exclude" else np.ones_like(has_match)


def recall_at_n(
    ranked,
    query_places,
    database_places,
    ns=(1, 5, 10),
    tolerance: float = 0.0,
    unmatched: str = "exclude",
) -> dict:
    """Recall@N: the fraction of queries with a true match among their first N retrieved items.

    Parameters
    ----------
    ranked : (Q, K) int
        Database ids per query, best first; -1 for "no item" (never a match).
    query_places : (Q,) or (Q, d)
        Frame indices / integer labels (1-D) or positions in metres (2-D).
    database_places : (N,) or (N, d)
        Same form as ``query_places``.
    ns : sequence of int
        The N to report, each in ``1 .. K``.
    tolerance : float
        Frames (1-D) or metres (2-D); see :func:`positives`.
    unmatched : str
        ``"exclude"`` (default): queries without any true match in the database are left out of
        the recall; ``"miss"``: they count as not found.

    Returns
    -------
    dict
        ``"recall@N"`` for each N (a fraction in [0, 1], NaN when no query is evaluated),
        ``"n_queries"`` (queries evaluated, the denominator) and ``"n_without_match"`` (queries
        with no true match in the database, excluded or counted as misses).

    Raises
    ------
    DataError
        For wrong shapes, ids out of range or NaN places.
    ConfigError
        For an N outside ``1 .. K``, a negative tolerance or an unknown ``unmatched``.

    Examples
    --------
    >>> recall_at_n([[2, 0], [3, 1]], [0, 9], [0, 1, 5, 9], ns=(1, 2), tolerance=1)
    {'recall@1': 0.5, 'recall@2': 1.0, 'n_queries': 2, 'n_without_match': 0}
    """
    hits, has_match = _hits(ranked, query_places, database_places, tolerance)
    k = hits.shape[1]
    ns = [ns] if np.isscalar(ns) else list(ns)
    for n in ns:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= k:
            raise ConfigError(f"recall@N needs each N to be an int in 1 .. {k} (the ranked columns), got {n!r}")
    keep = _select(has_match, unmatched)
    first = _first_hit(hits)[keep]
    out = {f"recall@{int(n)}": float(np.mean(first < n)) if len(first) else float("nan") for n in ns}
    out["n_queries"] = int(keep.sum())
    out["n_without_match"] = int((~has_match).sum())
    return out


def recall_curve(
    ranked, query_places, database_places, tolerance: float = 0.0, unmatched: str = "exclude"
) -> tuple[np.ndarray, np.ndarray]:
    """Recall@N for every N = 1 .. K (for plotting).

    Parameters
    ----------
    ranked, query_places, database_places, tolerance, unmatched
        As in :func:`recall_at_n`.

    Returns
    -------
    ns : (K,) int, 1 .. K
    recall : (K,) float, non-decreasing (NaN when no query is evaluated)

    Examples
    --------
    >>> ns, r = recall_curve([[2, 0], [3, 1]], [0, 9], [0, 1, 5, 9], tolerance=1)
    >>> ns.tolist(), r.tolist()
    ([1, 2], [0.5, 1.0])
    """
    hits, has_match = _hits(ranked, query_places, database_places, tolerance)
    k = hits.shape[1]
    first = _first_hit(hits)[_select(has_match, unmatched)]
    ns = np.arange(1, k + 1)
    if len(first) == 0:
        return ns, np.full(k, np.nan)
    counts = np.bincount(first, minlength=k + 1)[:k]
    return ns, np.cumsum(counts) / len(first)
