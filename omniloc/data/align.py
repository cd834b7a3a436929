"""Align sensor streams and ground truth to query times: latest sample, nearest frame, truth at any time."""

from __future__ import annotations

import numpy as np

from .recording import Recording
from .stream import Stream
from .transforms import quat_slerp

__all__ = ["latest_index", "latest_values", "nearest_index", "truth_at"]


def latest_index(stream: Stream, t_query: np.ndarray, max_age_s: float = np.inf) -> np.ndarray:
    """Index of the latest sample at or before each query time, -1 if none or older than ``max_age_s``.

    Parameters
    ----------
    t_query : (M,) seconds

    Returns
    -------
    (M,) int
    """
    t_query = np.asarray(t_query, dtype=np.float64).reshape(-1)
    idx = np.searchsorted(stream.t, t_query, side="right") - 1
    ok = idx >= 0
    ok[ok] = (t_query[ok] - stream.t[idx[ok]]) <= max_age_s
    return np.where(ok, idx, -1)


def latest_values(stream: Stream, t_query: np.ndarray, max_age_s: float = np.inf) -> tuple[np.ndarray, np.ndarray]:
    """Values of the latest sample (e.g. the latest WiFi scan) at each query time.

    Returns
    -------
    values : (M, D) float32, NaN rows where no sample is recent enough
    age_s : (M,) seconds since that sample, NaN where none
    """
    idx = latest_index(stream, t_query, max_age_s)
    vals = np.asarray(stream.load(), dtype=np.float32)
    out = np.full((len(idx),) + vals.shape[1:], np.nan, dtype=np.float32)
    ok = idx >= 0
    out[ok] = vals[idx[ok]]
    age = np.full(len(idx), np.nan)
    age[ok] = np.asarray(t_query, dtype=np.float64).reshape(-1)[ok] - stream.t[idx[ok]]
    return out, age


def nearest_index(stream: Stream, t_query: np.ndarray, max_dt_s: float = np.inf) -> np.ndarray:
    """Index of the sample nearest in time to each query (e.g. the nearest image), -1 if farther than ``max_dt_s``."""
    t_query = np.asarray(t_query, dtype=np.float64).reshape(-1)
    if len(stream.t) == 0:
        return np.full(len(t_query), -1)
    j = np.clip(np.searchsorted(stream.t, t_query), 1, max(len(stream.t) - 1, 1))
    if len(stream.t) == 1:
        idx = np.zeros(len(t_query), dtype=int)
    else:
        left_closer = np.abs(t_query - stream.t[j - 1]) <= np.abs(stream.t[j] - t_query)
        idx = np.where(left_closer, j - 1, j)
    dt = np.abs(stream.t[idx] - t_query)
    return np.where(dt <= max_dt_s, idx, -1)


def _occurrence(keys: np.ndarray) -> np.ndarray:
    """For each entry, how many earlier entries (in array order) have the same key."""
    order = np.argsort(keys, kind="stable")
    k = keys[order]
    first = np.r_[0, np.flatnonzero(np.diff(k) != 0) + 1]
    run_start = np.repeat(first, np.diff(np.r_[first, len(k)]))
    occ = np.empty(len(keys), dtype=np.int64)
    occ[order] = np.arange(len(k)) - run_start
    return occ


def truth_at(rec: Recording, t_query) -> dict[str, np.ndarray]:
    """Ground truth of a recording at query times: the one rule that training labels and metrics share.

    * A query time equal to a pose time takes that pose's truth as it is. Where several poses
      share the time (UJIIndoorLoc has integer-second timestamps), the j-th query at that time,
      in query order, takes the j-th pose at that time (the last one when there are more queries
      than poses), so a query timeline equal to the pose timeline is matched row by row, and so
      is any reordering of it that keeps the order within each repeated time.
    * Any other time between two poses: position linearly interpolated, orientation by slerp,
      between the last pose before and the first pose after it; ``floor``, ``building`` and
      ``zone`` of the nearer of the two.
    * Outside the pose timeline: NaN position, the other fields from the nearest end pose.

    Parameters
    ----------
    rec : Recording
        Its ``t`` need not be sorted (it is stably sorted first).
    t_query : (M,) seconds
        In any order, with repeats.

    Returns
    -------
    dict with the fields the recording has: ``position`` (M, 3) metres, ``orientation`` (M, 4)
    unit quaternions w, x, y, z, ``floor`` (M,), ``building`` (M,), ``zone`` (M,); always
    ``inside`` (M,) bool (the time lies inside the pose timeline).
    """
    t_query = np.asarray(t_query, dtype=np.float64).reshape(-1)
    m, n = len(t_query), len(rec.t)
    if n == 0:
        out = {"inside": np.zeros(m, bool)}
        if rec.position is not None:
            out["position"] = np.full((m, 3), np.nan)
        return out
    order = np.argsort(rec.t, kind="stable")
    ts = rec.t[order]
    out: dict[str, np.ndarray] = {"inside": (t_query >= ts[0]) & (t_query <= ts[-1])}
    lo = np.searchsorted(ts, t_query, side="left")
    hi = np.searchsorted(ts, t_query, side="right")
    exact = hi > lo
    # between poses: i0 the last pose at or before the query, i1 the first one after it
    i0 = np.clip(hi - 1, 0, n - 1)
    i1 = np.clip(hi, 0, n - 1)
    span = ts[i1] - ts[i0]
    u = np.where(span > 0, (t_query - ts[i0]) / np.where(span > 0, span, 1.0), 0.0)
    u = np.clip(u, 0.0, 1.0)
    if exact.any():
        e = np.flatnonzero(exact)
        occ = _occurrence(lo[e])
        i0[e] = np.minimum(lo[e] + occ, hi[e] - 1)
        i1[e], u[e] = i0[e], 0.0
    i0, i1 = order[i0], order[i1]
    if rec.position is not None:
        pos = rec.position[i0] * (1 - u[:, None]) + rec.position[i1] * u[:, None]
        pos[~out["inside"]] = np.nan
        out["position"] = pos
    if rec.orientation is not None:
        out["orientation"] = quat_slerp(rec.orientation[i0], rec.orientation[i1], u)
    near = np.where(u < 0.5, i0, i1)
    for key in ("floor", "building", "zone"):
        val = getattr(rec, key)
        if val is not None:
            out[key] = val[near]
    return out
