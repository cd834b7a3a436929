"""Align sensor streams to query times: sliding windows, latest scan, nearest frame, pose interpolation."""

from __future__ import annotations

import numpy as np

from .._errors import DataError
from .recording import Recording
from .stream import Stream
from .transforms import quat_slerp

__all__ = ["window_end_times", "resample_windows", "latest_index", "latest_values", "nearest_index",
           "interpolate_pose"]


def window_end_times(t_start: float, t_end: float, duration_s: float = 1.0, step_s: float = 0.1) -> np.ndarray:
    """End times of sliding windows of ``duration_s`` every ``step_s`` inside ``[t_start, t_end]``.

    MTLoc's 1-s windows with 900 ms overlap are ``duration_s=1.0, step_s=0.1``.

    Returns
    -------
    (M,) seconds; empty when the span is shorter than one window.
    """
    first = t_start + duration_s
    if t_end < first - 1e-9:
        return np.zeros(0)
    n = int(np.floor((t_end - first) / step_s + 1e-9)) + 1
    return first + step_s * np.arange(n)


def resample_windows(stream: Stream, t_end: np.ndarray, duration_s: float = 1.0, rate_hz: float = 10.0,
                     max_gap_s: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Windows of a stream ending at each query time, resampled on a regular grid.

    Window ``m`` holds ``n = round(duration_s * rate_hz)`` samples at times
    ``t_end[m] - duration_s + (k + 1) / rate_hz`` for ``k = 0..n-1`` (the last sample at
    ``t_end[m]``), linearly interpolated per channel. A 1-s window at 10 Hz thus covers
    ``(t_end - 1 s, t_end]``.

    Parameters
    ----------
    stream : Stream
        A stream with (N, D) values (``imu``, ``magnetometer``, ``vector``, ``wifi``).
    t_end : (M,) seconds
    duration_s, rate_hz : float
    max_gap_s : float, optional
        A window is invalid when one of its grid times is farther than this from every raw
        sample or lies outside the stream. Default: ``max(2 / rate_hz, 3 * median sample period)``.

    Returns
    -------
    values : (M, n, D) float32
        Resampled windows (zeros where invalid).
    valid : (M,) bool
    """
    t_end = np.asarray(t_end, dtype=np.float64).reshape(-1)
    n = int(round(duration_s * rate_hz))
    if n < 1:
        raise ValueError(f"duration_s * rate_hz must be >= 1, got {duration_s} * {rate_hz}")
    vals = np.asarray(stream.load(), dtype=np.float64)
    if vals.ndim != 2:
        raise DataError(f"windows need (N, D) values, got shape {vals.shape}", field=f"stream ({stream.kind})")
    d = vals.shape[1]
    grid = t_end[:, None] - duration_s + np.arange(1, n + 1)[None, :] / rate_hz  # (M, n)
    out = np.zeros((len(t_end), n, d), dtype=np.float32)
    if len(stream.t) < 2:
        return out, np.zeros(len(t_end), dtype=bool)
    if max_gap_s is None:
        max_gap_s = max(2.0 / rate_hz, 3.0 * float(np.median(np.diff(stream.t))))
    flat = grid.reshape(-1)
    inside = (flat >= stream.t[0] - 1e-9) & (flat <= stream.t[-1] + 1e-9)
    j = np.clip(np.searchsorted(stream.t, flat), 1, len(stream.t) - 1)
    gap = np.minimum(np.abs(flat - stream.t[j - 1]), np.abs(stream.t[j] - flat))
    ok = (inside & (gap <= max_gap_s)).reshape(grid.shape).all(axis=1)
    for c in range(d):
        out[:, :, c] = np.interp(flat, stream.t, vals[:, c]).reshape(grid.shape)
    out[~ok] = 0.0
    return out, ok


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


def interpolate_pose(rec: Recording, t_query: np.ndarray) -> dict[str, np.ndarray]:
    """Ground truth of a recording at arbitrary times.

    Position is linearly interpolated, orientation spherically (slerp), floor, building and zone
    are taken from the nearest pose. Query times outside the pose timeline get NaN positions.

    Returns
    -------
    dict with the fields the recording has: ``position`` (M, 3) m, ``orientation`` (M, 4),
    ``floor`` (M,), ``building`` (M,), ``zone`` (M,), and ``inside`` (M,) bool.
    """
    t_query = np.asarray(t_query, dtype=np.float64).reshape(-1)
    t = rec.t
    out: dict[str, np.ndarray] = {"inside": (t_query >= t[0] - 1e-6) & (t_query <= t[-1] + 1e-6)}
    # keep duplicate timestamps from breaking interpolation: use the first of each
    tu, first = np.unique(t, return_index=True)
    j = np.clip(np.searchsorted(tu, t_query), 1, max(len(tu) - 1, 1))
    if len(tu) > 1:
        u = np.clip((t_query - tu[j - 1]) / (tu[j] - tu[j - 1]), 0.0, 1.0)
    else:
        j, u = np.ones(len(t_query), dtype=int), np.zeros(len(t_query))
    i0, i1 = first[j - 1], first[np.minimum(j, len(tu) - 1)]
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
