"""Windows of sensor streams at query times: sliding-window end times, regularly resampled
IMU / magnetometer windows, and the latest WiFi scan of each window.

MTLoc's inputs are built from these (1-s windows every 100 ms, resampled to 10 Hz), but they are
plain functions of a :class:`~omniloc.data.Stream` and query times, usable by any method.
"""

from __future__ import annotations

import numpy as np

from .._errors import ConfigError, DataError
from .align import latest_index
from .fingerprint import align_access_points
from .stream import Stream

__all__ = ["CHANNELS", "window_end_times", "resample_windows", "channel_values", "sensor_windows", "wifi_windows"]

#: choices of :func:`channel_values`
CHANNELS = ("axes", "magnitude", "both")


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


def channel_values(values: np.ndarray, channels: str = "axes") -> np.ndarray:
    """Per-sample features of a stream made of 3-axis sensors.

    Parameters
    ----------
    values : (N, 3k)
        ``k`` three-axis sensors side by side (IMU: accelerometer m/s^2 then gyroscope rad/s;
        magnetometer: uT).
    channels : ``"axes"``, ``"magnitude"`` or ``"both"``
        ``axes``: the values as they are; ``magnitude``: the Euclidean norm of each 3-axis group,
        (N, k) in the same units; ``both``: the axes then the norms, (N, 4k).

    Returns
    -------
    (N, 3k), (N, k) or (N, 4k) float64
    """
    v = np.asarray(values, dtype=np.float64)
    if channels == "axes":
        return v
    if channels not in CHANNELS:
        raise ConfigError(f"channels must be one of {list(CHANNELS)}, got {channels!r}")
    if v.ndim != 2 or v.shape[1] % 3:
        raise DataError(f"magnitudes need (N, 3k) three-axis values, got shape {v.shape}")
    norms = np.linalg.norm(v.reshape(len(v), -1, 3), axis=2)
    return norms if channels == "magnitude" else np.concatenate([v, norms], axis=1)


def sensor_windows(stream: Stream, t_end: np.ndarray, channels: str = "axes", window_s: float = 1.0,
                   rate_hz: float = 10.0, max_gap_s: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Resampled windows of an IMU or magnetometer stream ending at ``t_end``.

    Parameters
    ----------
    stream : Stream
        ``imu`` (N, 6) or ``magnetometer`` (N, 3) (any (N, 3k) stream).
    t_end : (M,) seconds
    channels : see :func:`channel_values` (computed on the raw samples, then resampled).
    window_s, rate_hz, max_gap_s : see :func:`omniloc.data.resample_windows`; window ``m`` holds
        ``round(window_s * rate_hz)`` samples at ``t_end[m] - window_s + (j + 1) / rate_hz``.

    Returns
    -------
    values : (M, n, C) float32
        Zeros where invalid.
    valid : (M,) bool
        False where the stream does not cover the window densely enough or a value is not finite.
    """
    feats = channel_values(np.asarray(stream.load()), channels)
    out, ok = resample_windows(Stream("vector", stream.t, feats), t_end, window_s, rate_hz, max_gap_s)
    ok &= np.isfinite(out).all(axis=(1, 2))
    out[~ok] = 0.0
    return out, ok


def wifi_windows(stream: Stream, t_end: np.ndarray, ap_ids, max_age_s: float = 4.0,
                 min_detected: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The latest WiFi scan of each window.

    Parameters
    ----------
    stream : Stream
        ``wifi`` stream with ids.
    t_end : (M,) seconds
    ap_ids : (A,) str
        Vocabulary (:func:`align_access_points`).
    max_age_s : float
        A scan older than this at ``t_end`` does not count.
    min_detected : int
        The latest scan must hear at least this many vocabulary APs (and at least one).

    Returns
    -------
    scans : (S, A) float32 dBm, NaN = not heard
        Every scan of the stream on the vocabulary.
    scan_index : (M,) int
        Row of ``scans`` for each window, -1 where the window has no usable scan.
    """
    scans = align_access_points(stream, ap_ids)
    idx = latest_index(stream, t_end, max_age_s)
    ok = idx >= 0
    heard = np.isfinite(scans).sum(axis=1) >= max(int(min_detected), 1)
    ok[ok] = heard[idx[ok]]
    return scans, np.where(ok, idx, -1)
