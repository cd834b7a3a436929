"""Step detection and heading change from a phone IMU: the signal processing behind dead reckoning.

:func:`run_pdr` implements steps 1-6 of :mod:`omniloc.methods.pdr` (resampling, gravity and
up-vector, vertical acceleration, step peaks, Weinberg step units, yaw rate about gravity with a
still-window gyroscope bias) for one ``imu`` stream, without any start pose; the PDR method and
the ``track`` smoother both build on it. :func:`step_chords` pairs the steps with ground truth for
calibration.

Heading: the gyroscope gives heading *changes* only; a phone's own orientation estimate (Android's
rotation-vector sensor, IPIN's AHRS quaternion: streams named in :data:`ORIENTATION_STREAMS`)
gives the absolute heading in its east-north-up world frame, :func:`absolute_heading`. The
walking direction is that heading plus an offset (how the phone is held, and the rotation from
east-north-up to the map frame), calibrated on training steps by :func:`heading_offset`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._errors import ConfigError, DataError
from ..data import Recording, Stream
from ..data.align import truth_at

__all__ = [
    "PDRTrace",
    "run_pdr",
    "step_chords",
    "STEP_DEFAULTS",
    "ORIENTATION_STREAMS",
    "HEADING_SOURCES",
    "orientation_stream",
    "absolute_heading",
    "heading_offset",
    "StepCalibration",
    "calibrate_steps",
]

#: names of the streams holding a phone's own orientation: unit quaternions (w, x, y, z) rotating
#: the device frame into an east-north-up world frame (Indoor Location Competition, IPIN 2023)
ORIENTATION_STREAMS = ("rotation_vector", "ahrs")
#: heading sources of the dead-reckoning methods: ``"auto"`` (the orientation stream when the
#: recordings have one, else the gyroscope), ``"orientation"`` or ``"gyro"``
HEADING_SOURCES = ("auto", "orientation", "gyro")

#: configuration of :func:`run_pdr` (the keys are documented in :class:`omniloc.methods.pdr.PDRLocalizer`)
STEP_DEFAULTS: dict = {
    "resample_hz": None,
    "gravity_lowpass_hz": 0.3,
    "step_lowpass_hz": 3.0,
    "step_threshold": 1.0,
    "min_step_interval_s": 0.3,
    "max_step_interval_s": 1.0,
    "gyro_bias": "still",
    "gyro_bias_window_s": 1.0,
    "still_acc_std": 0.2,
    "still_gyro_std": 0.05,
    "still_gyro_max": 0.05,
}


class PDRTrace:
    """Intermediate signals of one PDR run (for calibration, plots and tests).

    Attributes
    ----------
    t0 : float
        Start time in seconds (the known start pose's time).
    grid_t : (G,) seconds
        Regular time grid the IMU was resampled on (from ``t0``).
    fs : float
        Grid rate in Hz.
    up : (G, 3)
        Unit up-vector (opposite of gravity) in the device frame.
    gravity : (G,) m/s^2
        Magnitude of the low-passed accelerometer.
    vertical_acc : (G,) m/s^2
        Low-passed vertical (gravity-axis) acceleration with gravity removed, ``a(t)``.
    yaw_rate : (G,) rad/s
        Bias-corrected gyroscope rate about the up axis, ``r(t)``.
    heading_change : (G,) rad
        ``integral_{t0}^{t} r dt`` (trapezoidal).
    gyro_bias : (3,) rad/s
        Bias subtracted from the gyroscope at the end of the recording (device frame).
    gyro_bias_t : (G, 3) rad/s
        Bias subtracted at each grid time (constant unless ``gyro_bias="still"``).
    still : (G,) bool
        Grid times that end a still window.
    step_t : (S,) seconds
        Step times ``t_k``.
    step_duration : (S,) seconds
        ``d_k``.
    step_units : (S,) (m/s^2)^(1/4)
        ``(a_max - a_min)^(1/4)``; the step length is ``K * step_units``.
    """

    def __init__(self, **kw):
        self.__dict__.update(kw)

    def heading_change_at(self, t: np.ndarray) -> np.ndarray:
        """Integrated heading change (rad) at times ``t`` (held constant outside the grid)."""
        return np.interp(np.asarray(t, dtype=np.float64), self.grid_t, self.heading_change)

    def up_at(self, t: np.ndarray) -> np.ndarray:
        """Unit up-vector in the device frame at times ``t``, (M, 3)."""
        t = np.asarray(t, dtype=np.float64)
        out = np.stack([np.interp(t, self.grid_t, self.up[:, i]) for i in range(3)], axis=-1)
        return out / np.linalg.norm(out, axis=-1, keepdims=True)


def _lowpass(x: np.ndarray, cutoff_hz: float, fs: float, order: int) -> np.ndarray:
    """Zero-phase Butterworth low-pass along axis 0 (``sosfiltfilt``); short signals fall back gracefully."""
    from scipy.signal import butter, sosfiltfilt

    n = x.shape[0]
    if n < 2:
        return x.copy()
    if cutoff_hz >= 0.5 * fs:  # nothing to remove at this rate
        return x.copy()
    sos = butter(order, cutoff_hz, btype="low", fs=fs, output="sos")
    padlen = min(3 * (2 * len(sos) + 1), n - 1)  # scipy's default, shortened for short signals
    return sosfiltfilt(sos, x, axis=0, padlen=padlen)


def _gravity_lowpass(acc: np.ndarray, cutoff_hz: float, fs: float) -> np.ndarray:
    """Low-pass of the accelerometer for gravity, padded with constant ends.

    A 2nd-order Butterworth (4th order after the forward-backward pass). The signal is padded
    with its mean over the first/last second on either side (length ``3 / cutoff_hz`` s), which
    avoids the start/end transients that odd padding gives when the cut-off period is longer
    than the recording.
    """
    from scipy.signal import butter, sosfiltfilt

    n = acc.shape[0]
    if n < 2 or cutoff_hz >= 0.5 * fs:
        return acc.copy()
    edge = max(1, min(n, int(round(fs))))
    npad = int(np.ceil(3.0 * fs / cutoff_hz))
    head = np.repeat(acc[:edge].mean(axis=0, keepdims=True), npad, axis=0)
    tail = np.repeat(acc[-edge:].mean(axis=0, keepdims=True), npad, axis=0)
    sos = butter(2, cutoff_hz, btype="low", fs=fs, output="sos")
    out = sosfiltfilt(sos, np.concatenate([head, acc, tail]), axis=0, padtype=None)
    return out[npad : npad + n]


def _cumtrapz(y: np.ndarray, dt: float) -> np.ndarray:
    """Cumulative trapezoidal integral of evenly spaced samples, starting at 0."""
    out = np.zeros_like(y)
    if len(y) > 1:
        out[1:] = np.cumsum(0.5 * (y[1:] + y[:-1]) * dt)
    return out


def _rolling_mean(x: np.ndarray, n: int) -> np.ndarray:
    """Mean over the trailing window of ``n`` samples ending at each sample (NaN for the first n-1)."""
    c = np.cumsum(np.concatenate([np.zeros((1,) + x.shape[1:]), x]), axis=0)
    out = np.full(x.shape, np.nan)
    if len(x) >= n:
        out[n - 1 :] = (c[n:] - c[:-n]) / n
    return out


def _gyro_bias(
    grid: np.ndarray, acc: np.ndarray, gyro: np.ndarray, t0: float, fs: float, conf: dict
) -> tuple[np.ndarray, np.ndarray]:
    """Gyroscope bias (G, 3) rad/s at each grid time and the still-window ends (G,) bool.

    A trailing window of ``n = round(gyro_bias_window_s * fs)`` samples ending at grid time ``i``
    is still when ``std |f| < still_acc_std`` (m/s^2), ``max_axis std w < still_gyro_std`` and
    ``|mean w| < still_gyro_max`` (rad/s). Mode ``"still"``: ``b(t_i)`` is the mean gyroscope over
    all still windows ending in ``[t0, t_i]`` (each window represented by its mean), so the bias
    at a time uses only data up to that time; mode ``"start"``: the mean of the window
    ``[t0, t0 + window]`` if it is still, from ``t0`` on; ``"none"``: zero.
    """
    g = len(grid)
    mode = conf["gyro_bias"]
    bias = np.zeros((g, 3))
    still = np.zeros(g, dtype=bool)
    n = int(round(float(conf["gyro_bias_window_s"] or 0.0) * fs))
    if mode == "none" or n < 5 or g < n:
        return bias, still
    if mode == "start":
        sel = np.flatnonzero(grid >= t0 - 1e-9)[:n]
        if len(sel) == n:
            acc_n = np.linalg.norm(acc[sel], axis=1)
            w = gyro[sel]
            if (
                np.std(acc_n) < conf["still_acc_std"]
                and np.max(np.std(w, axis=0)) < conf["still_gyro_std"]
                and np.linalg.norm(w.mean(axis=0)) < conf["still_gyro_max"]
            ):
                still[sel[-1]] = True
                bias[sel[0] :] = w.mean(axis=0)
        return bias, still
    acc_n = np.linalg.norm(acc, axis=1)
    m_a = _rolling_mean(acc_n, n)
    sd_a = np.sqrt(np.maximum(_rolling_mean(acc_n**2, n) - m_a**2, 0.0))
    m_w = _rolling_mean(gyro, n)
    sd_w = np.sqrt(np.maximum(_rolling_mean(gyro**2, n) - m_w**2, 0.0)).max(axis=1)
    with np.errstate(invalid="ignore"):
        still = (
            (sd_a < conf["still_acc_std"])
            & (sd_w < conf["still_gyro_std"])
            & (np.linalg.norm(m_w, axis=1) < conf["still_gyro_max"])
            & (grid - (n - 1) / fs >= t0 - 1e-9)
        )
    count = np.cumsum(still)
    total = np.cumsum(np.where(still[:, None], m_w, 0.0), axis=0)
    ok = count > 0
    bias[ok] = total[ok] / count[ok, None]
    return bias, still


def run_pdr(imu: Stream, t0: float, conf: dict) -> PDRTrace:
    """Steps, step units and heading change of one IMU stream from time ``t0`` (no start pose needed).

    Parameters
    ----------
    imu : Stream
        ``imu`` stream, (N, 6) accelerometer m/s^2 then gyroscope rad/s, device frame.
    t0 : float
        Start time, seconds; samples before it are used for filtering only.
    conf : dict
        A :class:`PDRLocalizer` configuration.

    Returns
    -------
    PDRTrace
    """
    vals = np.asarray(imu.load(), dtype=np.float64)
    t_raw = np.asarray(imu.t, dtype=np.float64)
    if vals.ndim != 2 or vals.shape[1] != 6:
        raise DataError(
            f"imu values must be (N, 6) accelerometer m/s^2 then gyroscope rad/s, got shape {vals.shape}",
            field="streams/imu/values",
        )
    t_raw, first = np.unique(t_raw, return_index=True)
    vals = vals[first]
    empty = PDRTrace(
        t0=float(t0),
        grid_t=np.array([float(t0)]),
        fs=float("nan"),
        up=np.array([[0.0, 0.0, 1.0]]),
        gravity=np.array([np.nan]),
        vertical_acc=np.zeros(1),
        yaw_rate=np.zeros(1),
        heading_change=np.zeros(1),
        gyro_bias=np.zeros(3),
        gyro_bias_t=np.zeros((1, 3)),
        still=np.zeros(1, bool),
        step_t=np.zeros(0),
        step_duration=np.zeros(0),
        step_units=np.zeros(0),
    )
    if len(t_raw) < 2 or t_raw[-1] <= t0:
        return empty

    fs = conf["resample_hz"]
    if fs is None:
        fs = 1.0 / float(np.median(np.diff(t_raw)))
    fs = float(fs)
    if not np.isfinite(fs) or fs <= 0:
        raise ConfigError(f"resample_hz must be a positive rate in Hz, got {conf['resample_hz']!r}")
    # regular grid over the whole stream, aligned so that t0 is a grid point when inside
    k_lo = int(np.ceil((t_raw[0] - t0) * fs - 1e-9))
    k_hi = int(np.floor((t_raw[-1] - t0) * fs + 1e-9))
    grid = t0 + np.arange(k_lo, k_hi + 1) / fs
    if len(grid) < 2:
        return empty
    x = np.stack([np.interp(grid, t_raw, vals[:, c]) for c in range(6)], axis=1)
    acc, gyro = x[:, :3], x[:, 3:]

    # 2. gravity and up-vector
    g_dev = _gravity_lowpass(acc, conf["gravity_lowpass_hz"], fs)
    g_norm = np.linalg.norm(g_dev, axis=1)
    up = g_dev / np.maximum(g_norm, 1e-9)[:, None]

    # 3. vertical acceleration
    a_v = np.einsum("ij,ij->i", acc, up) - g_norm
    a = _lowpass(a_v, conf["step_lowpass_hz"], fs, order=4)

    # 6a. gyro bias from still windows
    bias_t, still = _gyro_bias(grid, acc, gyro, t0, fs, conf)
    yaw_rate = np.einsum("ij,ij->i", gyro - bias_t, up)

    # keep the part from t0 on
    keep = grid >= t0 - 1e-9
    grid, up, g_norm, a, yaw_rate = grid[keep], up[keep], g_norm[keep], a[keep], yaw_rate[keep]
    bias_t, still = bias_t[keep], still[keep]
    heading_change = _cumtrapz(yaw_rate, 1.0 / fs)

    # 4. steps
    from scipy.signal import find_peaks

    distance = max(1, int(np.ceil(conf["min_step_interval_s"] * fs - 1e-9)))
    peaks = find_peaks(a, height=conf["step_threshold"], distance=distance)[0] if len(a) >= 3 else np.zeros(0, int)
    step_t = grid[peaks]
    prev = np.concatenate([[t0], step_t[:-1]])
    dur = np.minimum(step_t - prev, conf["max_step_interval_s"])
    # 5. Weinberg units (a_max - a_min)^(1/4) over (t_k - d_k, t_k]
    units = np.zeros(len(peaks))
    for k, p in enumerate(peaks):
        lo = max(0, p - int(round(dur[k] * fs)))
        a_min = float(np.min(a[lo : p + 1]))
        units[k] = max(float(a[p]) - a_min, 0.0) ** 0.25
    return PDRTrace(
        t0=float(t0),
        grid_t=grid,
        fs=fs,
        up=up,
        gravity=g_norm,
        vertical_acc=a,
        yaw_rate=yaw_rate,
        heading_change=heading_change,
        gyro_bias=bias_t[-1],
        gyro_bias_t=bias_t,
        still=still,
        step_t=step_t,
        step_duration=dur,
        step_units=units,
    )


def step_chords(trace: PDRTrace, rec: Recording, max_step_interval_s: float):
    """Ground-truth displacement of every step of continuous walking, for calibration.

    A step ``k`` counts when it follows step ``k-1`` by at most ``max_step_interval_s`` (the
    first step after a standstill is left out: its window includes standing) and lies inside the
    recording's ground-truth time span.

    Parameters
    ----------
    trace : PDRTrace
    rec : Recording
        With ground-truth ``position``.
    max_step_interval_s : float

    Returns
    -------
    index : (P,) int
        Indices into ``trace.step_t`` of the counted steps.
    displacement : (P, 2) metres
        ``p(t_k) - p(t_{k-1})`` (horizontal, ground truth interpolated at the step times).
    truth : dict
        :func:`~omniloc.data.align.truth_at` at the counted steps' times.
    """
    empty = (np.zeros(0, int), np.zeros((0, 2)), {})
    if rec.position is None or len(trace.step_t) == 0 or len(rec.t) == 0:
        return empty
    inside = np.flatnonzero(trace.step_t <= rec.t[-1])
    st = trace.step_t[inside]
    pair = np.flatnonzero(np.diff(st) <= max_step_interval_s + 1e-9) + 1
    if len(pair) == 0:
        return empty
    gt = truth_at(rec, st)
    d = gt["position"][pair, :2] - gt["position"][pair - 1, :2]
    return inside[pair], d, {k: v[pair] for k, v in gt.items()}


def orientation_stream(rec: Recording, name: str | None = None) -> Stream | None:
    """The recording's orientation stream: ``name`` when given (it must exist), else the first of
    :data:`ORIENTATION_STREAMS` it has (None when it has none)."""
    if name is not None:
        return rec.find_stream("vector", name)
    for n in ORIENTATION_STREAMS:
        if n in rec.streams:
            return rec.streams[n]
    return None


def absolute_heading(stream: Stream, t) -> np.ndarray:
    """Heading of the device x axis in the stream's world frame at times ``t``, radians.

    ``psi(t) = atan2(R_yx, R_xx)`` for ``R = R(q(t))`` (:func:`~omniloc.data.transforms.yaw_from_quat`:
    the x axis projected on the horizontal plane, counter-clockwise from east), with ``q(t)``
    interpolated between samples by slerp and held beyond the ends, so the result is exact at
    the samples and follows the shortest rotation between them.

    Parameters
    ----------
    stream : Stream
        (N, 4) unit quaternions (w, x, y, z), ``world_from_device``.
    t : (M,) seconds

    Returns
    -------
    (M,) rad in (-pi, pi]
    """
    from ..data.transforms import quat_slerp, yaw_from_quat

    q = np.asarray(stream.load(), dtype=np.float64)
    ts = np.asarray(stream.t, dtype=np.float64)
    if q.ndim != 2 or q.shape[1] != 4 or len(q) == 0:
        raise DataError(
            f"an orientation stream must be (N >= 1, 4) quaternions (w, x, y, z), got shape {q.shape}",
            field="streams/rotation_vector/values",
        )
    t = np.asarray(t, dtype=np.float64).reshape(-1)
    if len(q) == 1:
        return np.full(len(t), float(yaw_from_quat(q[0])))
    j = np.clip(np.searchsorted(ts, t, side="right") - 1, 0, len(ts) - 2)
    span = ts[j + 1] - ts[j]
    u = np.clip((t - ts[j]) / np.where(span > 0, span, 1.0), 0.0, 1.0)
    return yaw_from_quat(quat_slerp(q[j], q[j + 1], u))


def heading_offset(displacement, heading) -> float:
    """Walking direction minus a heading, from steps with known displacement (calibration).

    ``delta = arg(sum_k |d_k| exp(i (phi_k - psi_k)))``: the length-weighted circular mean of the
    direction ``phi_k`` of each displacement ``d_k`` minus the heading ``psi_k`` at that step.

    Parameters
    ----------
    displacement : (K, 2) metres
    heading : (K,) rad

    Returns
    -------
    float, rad in (-pi, pi]; 0.0 when no step moved.
    """
    d = np.asarray(displacement, dtype=np.float64).reshape(-1, 2)
    psi = np.asarray(heading, dtype=np.float64).reshape(-1)
    chord = np.hypot(d[:, 0], d[:, 1])
    v = np.sum(chord * np.exp(1j * (np.arctan2(d[:, 1], d[:, 0]) - psi)))
    return float(np.angle(v)) if abs(v) > 1e-12 else 0.0


@dataclass
class StepCalibration:
    """Step length and heading calibration from training recordings (:func:`calibrate_steps`).

    Attributes
    ----------
    step_length_k : float or None
        Weinberg ``K`` = total ground-truth distance / total Weinberg units of the counted steps
        (None: no counted step).
    heading_source : ``"orientation"`` or ``"gyro"``
    heading_offset : float or None
        Walking direction minus the heading (rad): the orientation stream's with
        ``"orientation"``, the ground-truth device yaw with ``"gyro"`` (None: no heading to compare).
    n_steps : int
        Counted steps.
    """

    step_length_k: float | None
    heading_source: str
    heading_offset: float | None
    n_steps: int


def calibrate_steps(
    recordings,
    conf: dict,
    heading: str = "auto",
    imu_stream: str | None = None,
    orientation_name: str | None = None,
) -> StepCalibration:
    """Calibrate dead reckoning on recordings with ground truth: the one rule PDR, ``track`` and ``pf`` use.

    Over the steps of continuous walking (:func:`step_chords`), ``K = sum_k c_k / sum_k u_k`` with
    ``c_k`` the ground-truth distance walked and ``u_k`` the Weinberg units (the ratio of totals is
    robust to per-step noise and absorbs missed or extra steps), and the heading offset
    :func:`heading_offset` between the ground-truth step directions and the heading source.

    Parameters
    ----------
    recordings : iterable of Recording
        Those without ground-truth positions or an IMU stream are skipped.
    conf : dict
        :func:`run_pdr`'s conf (:data:`STEP_DEFAULTS` keys).
    heading : one of :data:`HEADING_SOURCES`
        ``"auto"``: ``"orientation"`` when every used recording has an orientation stream.
    imu_stream, orientation_name : str, optional
        Stream names (None: :meth:`Recording.find_stream`'s rule, :func:`orientation_stream`'s).
    """
    if heading not in HEADING_SOURCES:
        raise ConfigError(f"heading must be one of {list(HEADING_SOURCES)}, got {heading!r}")
    recs = []
    for rec in recordings:
        imu = rec.find_stream("imu", imu_stream, required=False)
        if rec.position is not None and len(rec.t) and imu is not None and len(imu.t) >= 2:
            recs.append((rec, imu))
    source = heading
    if source == "auto":
        has = [orientation_stream(r, orientation_name) is not None for r, _ in recs]
        source = "orientation" if has and all(has) else "gyro"
    chords = units = 0.0
    n_steps = 0
    disp, psi = [], []
    for rec, imu in recs:
        tr = run_pdr(imu, max(float(rec.t[0]), float(imu.t[0])), conf)
        idx, d, gt = step_chords(tr, rec, conf["max_step_interval_s"])
        if len(idx) == 0:
            continue
        chord = np.hypot(d[:, 0], d[:, 1])
        chords += float(chord.sum())
        units += float(tr.step_units[idx].sum())
        n_steps += len(idx)
        moving = chord > 0.05
        stream = orientation_stream(rec, orientation_name) if source == "orientation" else None
        if stream is not None:
            psi.append(absolute_heading(stream, tr.step_t[idx][moving]))
            disp.append(d[moving])
        elif source == "gyro" and "orientation" in gt:
            from ..data.transforms import yaw_from_quat

            psi.append(yaw_from_quat(gt["orientation"][moving]))
            disp.append(d[moving])
    k = chords / units if chords > 0 and units > 0 else None
    offset = heading_offset(np.concatenate(disp), np.concatenate(psi)) if psi and sum(map(len, psi)) else None
    return StepCalibration(k, source, offset, n_steps)
