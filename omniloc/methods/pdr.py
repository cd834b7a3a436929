"""Pedestrian dead reckoning (PDR) from a phone IMU, from a known start pose.

The pipeline, for one recording (all equations in SI units):

1. **Resampling.** The ``imu`` stream (accelerometer specific force ``f`` in m/s^2 and
   gyroscope rate ``w`` in rad/s, device frame) is linearly interpolated onto a regular grid of
   rate ``fs`` Hz (the stream's median rate unless ``resample_hz`` is set), so that the filters
   below see evenly spaced samples even in irregular phone logs.
2. **Gravity.** ``g_dev(t) = LP_{f_g}(f)(t)`` (m/s^2, device frame): a zero-phase low-pass of
   the accelerometer at ``gravity_lowpass_hz`` (2nd-order Butterworth run forwards and backwards,
   the ends padded with the mean of their first/last second). At rest the accelerometer reads
   +g along "up", so ``u(t) = g_dev / |g_dev|`` is the unit up-vector in the device frame. No
   assumption is made on the phone's attitude.
3. **Vertical acceleration.** ``a_v(t) = f(t) . u(t) - |g_dev(t)|`` (m/s^2), then
   ``a(t) = LP_{f_s}(a_v)(t)``, a zero-phase 4th-order Butterworth low-pass at ``step_lowpass_hz``.
   (Zero-phase filtering looks a few seconds ahead: this PDR processes whole recordings.)
4. **Steps.** A step ``k`` is a peak of ``a`` at time ``t_k`` with ``a(t_k) > step_threshold``
   (m/s^2), at least ``min_step_interval_s`` after the previous one (``scipy.signal.find_peaks``).
   Its duration is ``d_k = min(t_k - t_{k-1}, max_step_interval_s)`` seconds (``t_{-1}`` being
   the start time).
5. **Step length (Weinberg).** ``L_k = K (a_max,k - a_min,k)^(1/4)`` metres, with
   ``a_max,k = a(t_k)`` and ``a_min,k = min a(t)`` over ``(t_k - d_k, t_k]``; ``K`` in
   m / (m/s^2)^(1/4).
6. **Heading.** The yaw rate is the gyroscope projected on the up axis,
   ``r(t) = (w(t) - b(t)) . u(t)`` (rad/s, counter-clockwise seen from above), with ``b(t)`` the
   gyroscope bias (rad/s, device frame): the mean gyroscope over the still windows seen so far
   (causal; ``gyro_bias="still"``), over a still window at the start only (``"start"``), or zero
   (``"none"``). A window of ``gyro_bias_window_s`` seconds is still when the standard deviation
   of ``|f|`` is below ``still_acc_std``, every per-axis standard deviation of ``w`` is below
   ``still_gyro_std`` and ``|mean w|`` is below ``still_gyro_max`` (turning on the spot is not
   still). The device heading is ``psi(t) = psi_0 + integral_{t_0}^{t} r dt`` (trapezoidal
   rule), where ``psi_0``
   is the yaw of the ground-truth ``world_from_device`` orientation at the start time ``t_0``
   (the heading of the device x axis projected on the horizontal plane). The walking direction
   is ``h(t) = psi(t) + delta``, with ``delta`` the heading offset (device x vs. walking
   direction; zero for a phone held normally, learned by :meth:`PDRLocalizer.fit`).
   With an orientation stream (``heading="orientation"``, or ``"auto"`` when the recordings
   have one: Android's rotation vector, IPIN's AHRS; :data:`omniloc.filters.ORIENTATION_STREAMS`)
   the heading is absolute instead, ``psi(t)`` = the stream's yaw of the device x axis
   (:func:`omniloc.filters.absolute_heading`), and ``delta`` (learned) also absorbs the rotation
   from the stream's east-north-up frame to the map frame; no start heading is needed.
7. **Position.** ``p_k = p_{k-1} + L_k (cos h(t_k), sin h(t_k), 0)`` metres from
   ``p_{-1} = p_0``, the ground-truth position at ``t_0``. Between ``t_k - d_k`` and ``t_k`` the
   position moves linearly from ``p_{k-1}`` to ``p_k`` (used when estimates are asked at other
   times than the steps; after the end of the IMU stream the last position is held). Height ``z``
   and the floor stay those of the start: PDR does not observe floor changes (stairs, lifts).

"Training" a PDR means calibrating ``K`` and ``delta`` on recordings with ground truth
(:meth:`PDRLocalizer.fit`); with no training data the configured defaults are used.
"""

from __future__ import annotations

import numpy as np

from .._errors import ConfigError, DataError
from ..data import Dataset, Estimate, Recording, Stream
from ..data.align import truth_at
from ..data.transforms import quat_from_yaw, quat_multiply, quat_normalize, yaw_from_quat
from ..filters.steps import (
    HEADING_SOURCES,
    STEP_DEFAULTS,
    PDRTrace,
    absolute_heading,
    calibrate_steps,
    orientation_stream,
    run_pdr,
)
from .base import Localizer

__all__ = ["PDRLocalizer", "PDRTrace", "run_pdr"]


def _tilt_quat(up: np.ndarray) -> np.ndarray:
    """(M, 4) smallest rotations taking each device-frame up-vector ``up`` (M, 3) onto world +z."""
    up = np.asarray(up, dtype=np.float64).reshape(-1, 3)
    ez = np.array([0.0, 0.0, 1.0])
    axis = np.cross(up, ez)
    s = np.linalg.norm(axis, axis=1)
    c = np.clip(up @ ez, -1.0, 1.0)
    angle = np.arctan2(s, c)
    safe = np.where(s[:, None] > 1e-9, axis / np.maximum(s[:, None], 1e-12), np.array([1.0, 0.0, 0.0]))
    return quat_normalize(np.concatenate([np.cos(angle / 2)[:, None], np.sin(angle / 2)[:, None] * safe], axis=1))


#: metres of ground-truth track that give the start heading when there is no orientation truth
TRACK_HEADING_M = 2.0


def _track_direction(rec: Recording, t0: float, start: np.ndarray) -> float | None:
    """Direction (rad, counter-clockwise from east) from ``start`` to the first ground-truth position
    after ``t0`` at least :data:`TRACK_HEADING_M` away horizontally; None when there is none."""
    if rec.position is None:
        return None
    later = rec.position[rec.t >= t0, :2] - np.asarray(start)[:2]
    far = np.flatnonzero(np.hypot(later[:, 0], later[:, 1]) >= TRACK_HEADING_M)
    if len(far) == 0:
        return None
    d = later[far[0]]
    return float(np.arctan2(d[1], d[0]))


class PDRLocalizer(Localizer):
    """Pedestrian dead reckoning: step detection, Weinberg step length, gyro heading about gravity.

    See the module docstring of :mod:`omniloc.methods.pdr` for the equations. Needs one ``imu``
    stream per recording and the start pose: position (and floor) at the start time from the
    ground truth, heading from the ground-truth orientation's yaw — or, when given,
    ``start_position`` / ``start_heading_deg`` / ``start_floor`` from the configuration, which
    then take precedence over the ground truth.

    Configuration (``default_conf``)
    --------------------------------
    imu_stream : str or None
        Name of the IMU stream; None takes the stream called ``imu`` if it is an imu stream,
        else the only stream of kind ``imu``.
    resample_hz : float or None
        Rate (Hz) of the regular grid the IMU is interpolated onto; None = the stream's median rate.
    gravity_lowpass_hz : float
        Cut-off (Hz) of the zero-phase low-pass giving gravity in the device frame (default 0.3 Hz:
        well below step frequencies of 1.5-2.5 Hz, fast enough to follow slow attitude changes).
    step_lowpass_hz : float
        Cut-off (Hz) of the zero-phase 4th-order Butterworth applied to the vertical acceleration
        before peak picking and Weinberg (default 3 Hz).
    step_threshold : float
        Minimum peak height (m/s^2) of the filtered vertical acceleration (gravity removed) for a step.
    min_step_interval_s : float
        Minimum time between two steps, seconds (0.3 s = at most 3.3 steps/s).
    max_step_interval_s : float
        Longest duration given to one step, seconds: the Weinberg a_min window and the interval over
        which a step's displacement is spread in the output.
    step_length_k : float
        Weinberg constant ``K`` in m / (m/s^2)^(1/4), used when not calibrated by :meth:`fit`.
    heading_offset_deg : float
        Walking direction minus device heading (degrees, counter-clockwise), used when not calibrated.
    gyro_bias : str
        Gyroscope bias estimate: ``"still"`` (running mean over every still window so far, causal;
        default), ``"start"`` (one still window at the start, the classic calibration) or ``"none"``.
    gyro_bias_window_s : float
        Length (s) of a still window; 0 disables bias estimation.
    still_acc_std : float
        A window is still when the standard deviation of the accelerometer norm is below this (m/s^2),
    still_gyro_std : float
        the largest per-axis standard deviation of the gyroscope below this (rad/s),
    still_gyro_max : float
        and the norm of the mean gyroscope below this (rad/s; rules out turning on the spot).
    fit_step_length : bool
        Whether :meth:`fit` calibrates ``K`` from training ground truth.
    fit_heading_offset : bool
        Whether :meth:`fit` calibrates the heading offset from training ground truth.
    start_position : list[float] or None
        ``[x, y, z]`` metres used as start position instead of the ground truth (needed when the
        recording has no ground-truth position).
    start_heading_deg : float or None
        Device heading at the start (degrees counter-clockwise from east = world x) instead of the
        ground-truth yaw. Without either (real phone traces with waypoints only), the heading is
        the direction of the ground-truth track over its first :data:`TRACK_HEADING_M` metres
        minus the heading offset, i.e. the device is assumed to face where the walker goes.
    start_floor : int or None
        Floor reported for the whole recording instead of the ground-truth start floor.
    heading : str
        Heading source, one of :data:`omniloc.filters.HEADING_SOURCES`: ``"gyro"`` (start heading +
        integrated yaw rate), ``"orientation"`` (the absolute heading of an orientation stream plus
        the learned offset), ``"auto"`` (``"orientation"`` when the training recordings -- or, without
        training, the recording -- have an orientation stream).
    orientation_stream : str or None
        Name of the orientation stream (None: the first of :data:`omniloc.filters.ORIENTATION_STREAMS`).
    output : str or float
        When to estimate: ``"steps"`` (the start time and every step time), ``"poses"`` (the
        recording's pose times from the start on), or a rate in Hz (a regular grid from the start).
    orientation : str
        ``"yaw"``: estimated orientation is a rotation about z by the device heading;
        ``"gravity"``: the same yaw combined with the roll and pitch of the estimated gravity direction.

    Learned state
    -------------
    step_length_k_ : float
        Weinberg ``K`` in m / (m/s^2)^(1/4).
    heading_offset_ : float
        Walking direction minus device heading, radians (minus the orientation stream's heading
        when ``heading_source_`` is ``"orientation"``).
    heading_source_ : str
        ``"gyro"`` or ``"orientation"`` (``"auto"`` resolved on the training recordings; None
        without training: resolved per recording).
    n_train_steps_ : int
        Number of training steps used by the calibration (0 = defaults).

    Examples
    --------
    With ``train`` a :class:`~omniloc.data.Dataset` and ``recording`` a
    :class:`~omniloc.data.Recording`::

        loc = omniloc.methods.create("pdr").fit(train)     # or .fit(None) for the defaults
        est = loc.predict(recording)
    """

    name = "pdr"
    required_streams = ("imu",)
    #: ``output`` is a mode name or a rate in Hz
    conf_types = {"output": (str, float)}
    default_conf = {
        "imu_stream": None,
        **STEP_DEFAULTS,  # resample_hz ... still_gyro_max: step detection (omniloc.filters.steps)
        "step_length_k": 0.5,
        "heading_offset_deg": 0.0,
        "fit_step_length": True,
        "fit_heading_offset": True,
        "start_position": None,
        "start_heading_deg": None,
        "start_floor": None,
        "heading": "auto",
        "orientation_stream": None,
        "output": "steps",
        "orientation": "yaw",
    }
    presets = {
        # the configured K and offset, no calibration even when training data is given
        "uncalibrated": {"fit_step_length": False, "fit_heading_offset": False},
        # estimates at the recording's pose times (compares point by point with other methods)
        "at_poses": {"output": "poses"},
        # slow walking (weaker vertical acceleration): a lower peak threshold, longer steps allowed
        "gentle": {"step_threshold": 0.6, "max_step_interval_s": 1.5},
    }

    # ------------------------------------------------------------------ helpers
    def _check_conf(self) -> None:
        """Choices and ranges of the conf (called at construction; types are checked before)."""
        c = self.conf
        out = c["output"]
        if not (out in ("steps", "poses") or (isinstance(out, (int, float)) and not isinstance(out, bool) and out > 0)):
            raise ConfigError(f"pdr conf 'output' must be 'steps', 'poses' or a rate in Hz > 0, got {out!r}")
        if c["gyro_bias"] not in ("still", "start", "none"):
            raise ConfigError(f"pdr conf 'gyro_bias' must be 'still', 'start' or 'none', got {c['gyro_bias']!r}")
        if c["heading"] not in HEADING_SOURCES:
            raise ConfigError(f"pdr conf 'heading' must be one of {list(HEADING_SOURCES)}, got {c['heading']!r}")
        if c["orientation"] not in ("yaw", "gravity"):
            raise ConfigError(f"pdr conf 'orientation' must be 'yaw' or 'gravity', got {c['orientation']!r}")
        for key in (
            "gravity_lowpass_hz",
            "step_lowpass_hz",
            "min_step_interval_s",
            "max_step_interval_s",
            "step_length_k",
        ):
            if c[key] is None or not c[key] > 0:
                raise ConfigError(f"pdr conf {key!r} must be a positive number, got {c[key]!r}")
        if c["resample_hz"] is not None and not c["resample_hz"] > 0:
            raise ConfigError(f"pdr conf 'resample_hz' must be None or a rate in Hz > 0, got {c['resample_hz']!r}")
        if c["start_position"] is not None and np.shape(c["start_position"]) != (3,):
            raise ConfigError(f"pdr conf 'start_position' must be [x, y, z] metres, got {c['start_position']!r}")

    def _imu(self, rec: Recording) -> Stream:
        return rec.find_stream("imu", self.conf["imu_stream"])

    def _start(self, rec: Recording, imu: Stream) -> tuple[float, np.ndarray, float, int | None, int | None]:
        """Start time, position (3,), device heading (rad), floor and building of a recording."""
        c = self.conf
        if len(imu.t) == 0:
            raise DataError(f"imu stream of recording '{rec.name}' is empty", field="streams/imu")
        if len(rec.t):
            t0 = max(float(rec.t[0]), float(imu.t[0]))
            if t0 > rec.t[-1]:
                t0 = float(rec.t[0])
        else:
            t0 = float(imu.t[0])
        gt = truth_at(rec, np.array([t0])) if len(rec.t) else {}
        if c["start_position"] is not None:
            pos = np.asarray(c["start_position"], dtype=np.float64)
        elif "position" in gt and np.all(np.isfinite(gt["position"][0])):
            pos = gt["position"][0]
        else:
            raise DataError(
                f"PDR starts from a known pose but recording '{rec.name}' has no ground-truth position; "
                "set conf 'start_position' to [x, y, z] metres",
                field="position",
            )
        if c["start_heading_deg"] is not None:
            psi0 = np.radians(float(c["start_heading_deg"]))
        elif "orientation" in gt:
            psi0 = float(yaw_from_quat(gt["orientation"][0]))
        elif (phi0 := _track_direction(rec, t0, pos)) is not None:
            # no orientation truth: the device is assumed to face the walking direction (minus the offset)
            psi0 = phi0 - float(getattr(self, "heading_offset_", np.radians(c["heading_offset_deg"])))
        else:
            raise DataError(
                f"PDR starts from a known pose but recording '{rec.name}' has no ground-truth orientation; "
                "set conf 'start_heading_deg' (device heading, degrees counter-clockwise from east)",
                field="orientation",
            )
        floor = c["start_floor"] if c["start_floor"] is not None else (int(gt["floor"][0]) if "floor" in gt else None)
        building = int(gt["building"][0]) if "building" in gt else None
        return t0, pos, psi0, floor, building

    def _steps(self, rec: Recording):
        imu = self._imu(rec)
        t0, pos0, psi0, floor, building = self._start(rec, imu)
        return run_pdr(imu, t0, self.conf), pos0, psi0, floor, building

    def _orientation(self, rec: Recording, source: str | None = None):
        """The orientation stream to take the heading from, or None (then the gyroscope)."""
        source = source or getattr(self, "heading_source_", None) or self.conf["heading"]
        if source == "gyro":
            return None
        stream = orientation_stream(rec, self.conf["orientation_stream"])
        if stream is None and source == "orientation" and self.conf["heading"] == "orientation":
            raise DataError(
                f"pdr conf heading='orientation' but recording '{rec.name}' has no orientation stream; "
                f"it has {sorted(rec.streams)}",
                field="streams",
            )
        return stream

    # ------------------------------------------------------------------ interface
    def fit(self, train: Dataset | None = None, val: Dataset | None = None) -> PDRLocalizer:
        """Calibrate the step length constant ``K`` and the heading offset on training recordings.

        Training recordings need an imu stream and ground-truth positions (and orientations for
        the heading offset). With ``train`` None or empty, or calibration switched off, the
        configured ``step_length_k`` and ``heading_offset_deg`` are used.

        Calibration, over the training steps ``k`` of continuous walking (those that follow the
        previous step by at most ``max_step_interval_s``; the first step after a standstill is left
        out because its a_min window and displacement include standing):

        * ``K = sum_k c_k / sum_k u_k`` where ``u_k = (a_max - a_min)^(1/4)`` and
          ``c_k = |p(t_k) - p(t_{k-1})|`` is the horizontal ground-truth distance (m) between
          consecutive steps; the ratio of total true distance to total Weinberg units is robust
          to per-step ground-truth noise and absorbs missed or extra steps.
        * ``delta = arg(sum_k c_k exp(i (phi_k - psi_k)))`` where ``phi_k`` is the direction of the
          ground-truth displacement of step ``k`` and ``psi_k`` the ground-truth device yaw at
          ``t_k``: the ``c_k``-weighted circular mean of walking direction minus device heading
          (:func:`omniloc.filters.heading_offset`); with the orientation stream as heading
          source, ``psi_k`` is its heading at ``t_k`` (no orientation truth needed).

        Parameters
        ----------
        train : Dataset, optional
        val : Dataset, optional
            Unused (PDR has nothing to early-stop).

        Returns
        -------
        self
        """
        c = self.conf
        recs = [] if train is None else list(train)
        for rec in recs:  # PDR needs the IMU of every training walk: say which one lacks it
            if rec.position is not None:
                self._imu(rec)
        cal = calibrate_steps(recs, c, c["heading"], c["imu_stream"], c["orientation_stream"])
        self.heading_source_ = cal.heading_source if recs else None
        self.step_length_k_ = float(c["step_length_k"])
        self.heading_offset_ = float(np.radians(c["heading_offset_deg"]))
        if c["fit_step_length"] and cal.step_length_k is not None:
            self.step_length_k_ = cal.step_length_k
        if c["fit_heading_offset"] and cal.heading_offset is not None:
            self.heading_offset_ = cal.heading_offset
        n_steps = cal.n_steps
        self.n_train_steps_ = int(n_steps)
        return self

    def trace(self, rec: Recording) -> PDRTrace:
        """The intermediate signals (steps, up-vector, heading change) of a recording."""
        imu = self._imu(rec)
        t0 = self._start(rec, imu)[0]
        return run_pdr(imu, t0, self.conf)

    def predict_recording(self, rec: Recording) -> Estimate:
        """PDR positions (and device yaw) of one recording from its start pose; see the module docstring."""
        c = self.conf
        tr, pos0, psi0, floor, building = self._steps(rec)
        K, delta = float(self.step_length_k_), float(self.heading_offset_)
        t0 = tr.t0

        # step positions p_k = p_{k-1} + L_k (cos h, sin h)
        stream = self._orientation(rec)
        if stream is not None:  # absolute heading from the phone's orientation

            def heading_at(t):
                return absolute_heading(stream, t)
        else:

            def heading_at(t):
                return psi0 + tr.heading_change_at(t)

        psi_steps = heading_at(tr.step_t)
        h = psi_steps + delta
        length = K * tr.step_units
        xy = pos0[:2] + np.concatenate(
            [np.zeros((1, 2)), np.cumsum(length[:, None] * np.stack([np.cos(h), np.sin(h)], 1), axis=0)]
        )

        # output times
        if c["output"] == "steps":
            t_out = np.concatenate([[t0], tr.step_t])
        elif c["output"] == "poses":
            t_out = rec.t[rec.t >= t0 - 1e-9] if len(rec.t) else np.array([t0])
            if len(t_out) == 0:
                t_out = np.array([t0])
        else:
            t_end = float(max(tr.grid_t[-1], t0))
            t_out = t0 + np.arange(int(np.floor((t_end - t0) * float(c["output"]) + 1e-9)) + 1) / float(c["output"])

        # piecewise-linear motion: from p_{k-1} at t_k - d_k to p_k at t_k
        if len(tr.step_t):
            kt = np.empty(2 * len(tr.step_t) + 1)
            kt[0] = t0
            kt[1::2] = tr.step_t - tr.step_duration
            kt[2::2] = tr.step_t
            kxy = np.empty((len(kt), 2))
            kxy[0] = xy[0]
            kxy[1::2] = xy[:-1]
            kxy[2::2] = xy[1:]
            # knots are non-decreasing; np.interp takes the right-most of equal times, so make them strictly increasing
            kt = kt + np.arange(len(kt)) * 1e-12
            pos_xy = np.stack([np.interp(t_out, kt, kxy[:, i]) for i in range(2)], axis=1)
            if c["output"] == "steps":
                pos_xy = xy  # exact step positions
        else:
            pos_xy = np.repeat(xy[:1], len(t_out), axis=0)
        position = np.concatenate([pos_xy, np.full((len(t_out), 1), pos0[2])], axis=1)

        psi = heading_at(t_out)
        if c["orientation"] == "gravity" and np.isfinite(tr.fs):
            q_tilt = _tilt_quat(tr.up_at(t_out))
            orientation = quat_normalize(quat_multiply(quat_from_yaw(psi - yaw_from_quat(q_tilt)), q_tilt))
        else:
            orientation = quat_from_yaw(psi)
        n = len(t_out)
        return Estimate(
            np.repeat(rec.name, n),
            t_out,
            position,
            orientation,
            None if floor is None else np.full(n, int(floor)),
            None if building is None else np.full(n, int(building)),
        )
