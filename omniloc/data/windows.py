"""Windows of sensor streams at query times: sliding-window end times, regularly resampled
IMU / magnetometer windows, the latest WiFi scan of each window, and the windows of all three
phone modalities of a recording with their ground truth.

MTLoc's inputs are built from these (1-s windows every 100 ms, resampled to 10 Hz), but they are
plain functions of a :class:`~omniloc.data.Stream` (or a :class:`~omniloc.data.Recording`) and
query times, usable by any method.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .._errors import ConfigError, DataError
from .align import latest_index, truth_at
from .fingerprint import align_access_points
from .stream import Stream

if TYPE_CHECKING:
    from .recording import Recording

__all__ = [
    "CHANNELS",
    "WINDOW_MODALITIES",
    "WINDOW_TIMES",
    "window_end_times",
    "resample_windows",
    "channel_values",
    "sensor_windows",
    "wifi_windows",
    "MultimodalWindows",
    "extract_windows",
    "window_labels",
    "labelled_windows",
    "drop_windows",
]

#: choices of :func:`channel_values`
CHANNELS = ("axes", "magnitude", "both")
#: modalities of :func:`extract_windows`, in the order of :attr:`MultimodalWindows.present`'s columns
WINDOW_MODALITIES = ("imu", "magnetometer", "wifi")
#: choices of :func:`extract_windows`' ``window_times``: every ``hop_s`` or at every WiFi scan
WINDOW_TIMES = ("hop", "wifi")


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


def resample_windows(
    stream: Stream, t_end: np.ndarray, duration_s: float = 1.0, rate_hz: float = 10.0, max_gap_s: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
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


def sensor_windows(
    stream: Stream,
    t_end: np.ndarray,
    channels: str = "axes",
    window_s: float = 1.0,
    rate_hz: float = 10.0,
    max_gap_s: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
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


def wifi_windows(
    stream: Stream, t_end: np.ndarray, ap_ids, max_age_s: float = 4.0, min_detected: int = 1
) -> tuple[np.ndarray, np.ndarray]:
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


def window_labels(rec: Recording, t_end: np.ndarray) -> dict[str, np.ndarray]:
    """Ground truth at window end times (:func:`omniloc.data.truth_at`, so training labels are what
    evaluation scores).

    Returns
    -------
    dict
        ``position`` (M, 3) m (NaN outside the pose timeline or without positions), ``floor``
        (M,) int, ``building`` (M,) int (0 where the recording has none), ``has_floor`` (M,) bool,
        ``inside`` (M,) bool: the time is inside the pose timeline and the position is known.
    """
    t_end = np.asarray(t_end, dtype=np.float64).reshape(-1)
    m = len(t_end)
    out = {
        "position": np.full((m, 3), np.nan),
        "floor": np.zeros(m, np.int64),
        "building": np.zeros(m, np.int64),
        "has_floor": np.zeros(m, bool),
        "inside": np.zeros(m, bool),
    }
    if len(rec.t) == 0 or rec.position is None or m == 0:
        return out
    gt = truth_at(rec, t_end)
    out["position"] = gt["position"]
    out["inside"] = gt["inside"] & np.isfinite(gt["position"]).all(axis=1)
    if "floor" in gt:
        out["floor"] = np.asarray(gt["floor"], dtype=np.int64)
        out["has_floor"] = out["inside"].copy()
    if "building" in gt:
        out["building"] = np.asarray(gt["building"], dtype=np.int64)
    return out


@dataclass
class MultimodalWindows:
    """The windows of one recording.

    Attributes
    ----------
    recording : str
    t : (M,) seconds
        Window end times.
    imu : (M, n, C_imu) float32 or None
        Resampled IMU windows (raw units, zeros where absent); None when not asked for.
    magnetometer : (M, n, C_mag) float32 or None
    scans : (S, A) float32 dBm or None
        The recording's WiFi scans on the vocabulary (NaN = not heard).
    scan_index : (M,) int
        Row of ``scans`` used by each window, -1 = none.
    present : (M, 3) bool
        Availability of ``imu``, ``magnetometer``, ``wifi`` per window (:data:`WINDOW_MODALITIES` order).
    """

    recording: str
    t: np.ndarray
    imu: np.ndarray | None
    magnetometer: np.ndarray | None
    scans: np.ndarray | None
    scan_index: np.ndarray
    present: np.ndarray

    def __len__(self) -> int:
        return len(self.t)


def extract_windows(
    rec: Recording,
    ap_ids=(),
    t_end: np.ndarray | None = None,
    *,
    branches=WINDOW_MODALITIES,
    streams: dict | None = None,
    window_s: float = 1.0,
    hop_s: float = 0.1,
    rate_hz: float = 10.0,
    imu_channels: str = "axes",
    mag_channels: str = "axes",
    wifi_max_age_s: float = 4.0,
    wifi_min_detected: int = 1,
    max_gap_s: float | None = None,
    window_times: str = "hop",
) -> MultimodalWindows:
    """Windows of the modalities ``branches`` of a recording (IMU, magnetometer, latest WiFi scan).

    For each window end ``t_k``: the ``imu`` and ``magnetometer`` streams over
    ``(t_k - window_s, t_k]`` resampled to ``rate_hz`` (:func:`sensor_windows`), and the latest
    WiFi scan at or before ``t_k`` no older than ``wifi_max_age_s`` on the vocabulary ``ap_ids``
    (:func:`wifi_windows`). A window *lacks* a modality when the recording has no such stream,
    when a grid time of the window is farther than ``max_gap_s`` from every raw sample or outside
    the stream, when a resampled value is not finite, or (WiFi) when no scan is recent enough or
    the scan hears fewer than ``wifi_min_detected`` vocabulary APs; :attr:`MultimodalWindows.present`
    holds the availability.

    With ``window_times="wifi"`` (fingerprint surveys on a synthetic timeline, where the position
    jumps from reference point to reference point) the window ends are the scan times, so each
    window holds exactly its own scan (age 0) and no scan gets several labels.

    Parameters
    ----------
    rec : Recording
    ap_ids : (A,) str
        WiFi vocabulary.
    t_end : (M,) seconds, optional
        Window end times; default (``window_times="hop"``): every ``hop_s`` over the span of the
        recording's streams of ``branches`` (:func:`omniloc.data.window_end_times` from the
        earliest first sample to the latest last sample).
    branches : subset of :data:`WINDOW_MODALITIES`
    streams : dict kind -> stream name, optional
        Which stream to use when a recording has several of a kind.
    window_s, hop_s, rate_hz : float
        Window length (s), spacing of the default window ends (s), resampling rate of the IMU and
        magnetometer windows (Hz).
    imu_channels, mag_channels : ``"axes"``, ``"magnitude"`` or ``"both"``
        :func:`channel_values` of the IMU (6 axes) and magnetometer (3 axes) windows.
    wifi_max_age_s, wifi_min_detected
        :func:`wifi_windows`' ``max_age_s`` and ``min_detected``.
    max_gap_s : float, optional
        :func:`resample_windows`' ``max_gap_s``.
    window_times : ``"hop"`` or ``"wifi"``
        Used when ``t_end`` is None. ``"wifi"``: the window ends are the scan times of the
        recording's ``wifi`` stream (``streams["wifi"]``, else the only one), one window per scan,
        whatever ``branches`` are; none when the recording has no WiFi stream.

    Returns
    -------
    MultimodalWindows
    """
    streams = streams or {}
    if window_times not in WINDOW_TIMES:
        raise ConfigError(f"window_times must be one of {list(WINDOW_TIMES)}, got {window_times!r}")
    found = {b: rec.find_stream(b, streams.get(b), required=False) for b in branches}
    found = {b: s for b, s in found.items() if s is not None and len(s.t) > 0}
    if t_end is None and window_times == "wifi":
        scans = found.get("wifi") or rec.find_stream("wifi", streams.get("wifi"), required=False)
        t_end = np.asarray(scans.t, dtype=np.float64).copy() if scans is not None else np.zeros(0)
    if t_end is None:
        if found:
            t_end = window_end_times(
                min(float(s.t[0]) for s in found.values()), max(float(s.t[-1]) for s in found.values()), window_s, hop_s
            )
        else:
            t_end = np.zeros(0)
    t_end = np.asarray(t_end, dtype=np.float64).reshape(-1)
    m = len(t_end)
    n = int(round(window_s * rate_hz))
    present = np.zeros((m, len(WINDOW_MODALITIES)), dtype=bool)
    arrays: dict[str, Any] = {"imu": None, "magnetometer": None}
    for b, ch, width in (("imu", imu_channels, 6), ("magnetometer", mag_channels, 3)):
        if b not in branches:
            continue
        c = channel_values(np.zeros((1, width)), ch).shape[1]
        if b in found:
            col = WINDOW_MODALITIES.index(b)
            arrays[b], present[:, col] = sensor_windows(found[b], t_end, ch, window_s, rate_hz, max_gap_s)
        else:
            arrays[b] = np.zeros((m, n, c), dtype=np.float32)
    scans, scan_index = None, np.full(m, -1, dtype=np.int64)
    if "wifi" in branches:
        if "wifi" in found:
            scans, scan_index = wifi_windows(found["wifi"], t_end, ap_ids, wifi_max_age_s, wifi_min_detected)
        else:
            scans = np.zeros((0, len(ap_ids)), dtype=np.float32)
        present[:, 2] = scan_index >= 0
    return MultimodalWindows(
        rec.name, t_end, arrays["imu"], arrays["magnetometer"], scans, scan_index.astype(np.int64), present
    )


def labelled_windows(recordings, extract, modalities) -> dict[str, np.ndarray | None]:
    """The windows of several recordings stacked with their ground truth, for training.

    Only windows whose end lies inside the recording's pose timeline (with a known position)
    and that have at least one of ``modalities`` are kept.

    Parameters
    ----------
    recordings : iterable of Recording (e.g. a Dataset)
    extract : callable Recording -> MultimodalWindows
        E.g. :func:`extract_windows` with fixed settings.
    modalities : subset of :data:`WINDOW_MODALITIES`

    Returns
    -------
    dict
        ``imu`` (W, n, C_imu), ``magnetometer`` (W, n, C_mag) (None when not extracted),
        ``scans`` (S, A) every scan of every recording (None without WiFi), ``scan_index``
        (W,) row of ``scans`` (-1 = none), ``present`` (W, 3) bool, ``t`` (W,) s, and
        :func:`window_labels`' ``position`` (W, 3) m, ``floor``, ``building``, ``has_floor``.
    """
    cols = [WINDOW_MODALITIES.index(b) for b in modalities]
    parts: dict[str, list] = {
        k: []
        for k in ("imu", "magnetometer", "scan_index", "present", "position", "floor", "building", "has_floor", "t")
    }
    scans, offset = [], 0
    for rec in recordings:
        w = extract(rec)
        lab = window_labels(rec, w.t)
        keep = lab["inside"] & w.present[:, cols].any(axis=1)
        for b in ("imu", "magnetometer"):
            if getattr(w, b) is not None:
                parts[b].append(getattr(w, b)[keep])
        if w.scans is not None:
            si = w.scan_index[keep]
            parts["scan_index"].append(np.where(si >= 0, si + offset, -1))
            scans.append(w.scans)
            offset += len(w.scans)
        else:
            parts["scan_index"].append(np.full(int(keep.sum()), -1, dtype=np.int64))
        parts["present"].append(w.present[keep])
        parts["t"].append(w.t[keep])
        for k in ("position", "floor", "building", "has_floor"):
            parts[k].append(lab[k][keep])
    out = {k: np.concatenate(v) if v else None for k, v in parts.items()}
    out["scans"] = np.concatenate(scans) if scans else None
    if out["present"] is None:
        out["present"] = np.zeros((0, len(WINDOW_MODALITIES)), bool)
    return out


def drop_windows(present: np.ndarray, fractions: dict[int, float], rng: np.random.Generator) -> np.ndarray:
    """Remove a modality from a random fraction of the windows that have it.

    Parameters
    ----------
    present : (M, K) bool
    fractions : dict column -> fraction in [0, 1]
        Exactly ``round(fraction * n_k)`` of the ``n_k`` windows with modality ``k`` lose it.
    rng : numpy Generator

    Returns
    -------
    (M, K) bool (a copy)
    """
    out = np.array(present, dtype=bool, copy=True)
    for k, f in sorted(fractions.items()):
        f = float(f)
        if not 0.0 <= f <= 1.0:
            raise ConfigError(f"drop fractions must be in [0, 1], got {f}")
        rows = np.flatnonzero(out[:, k])
        n = int(round(f * len(rows)))
        if n:
            out[rng.choice(rows, n, replace=False), k] = False
    return out
