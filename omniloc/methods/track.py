"""``track``: any localizer's estimates smoothed along each recording with dead-reckoned steps.

A fingerprinting method localizes every scan or window on its own, so its estimates jump between
corridors. Over a whole recording (offline, as phone logs are post-processed), this method

1. runs a base method (``base``, created by name from the registry: ``knn``, ``mtloc``, ...) and
   takes its finite estimates as absolute fixes;
2. detects steps in the ``imu`` stream (:func:`omniloc.filters.run_pdr`: Weinberg step length
   ``L_k = K (a_max - a_min)^(1/4)``, heading change from the gyroscope about gravity) and turns
   them into step displacements ``d_k = L_k (cos h_k, sin h_k)`` in a frame whose heading origin
   is unknown -- or, when the recording has an orientation stream (the phone's rotation vector,
   :func:`omniloc.filters.absolute_heading`), in the map frame: ``h_k = psi_k + delta`` with the
   offset ``delta`` calibrated on the training steps, and the frame rotation is then known;
3. fuses both with :func:`omniloc.filters.smooth_track` (least squares over the path with the
   unknown frame rotation, Huber-weighted fixes), and
4. smooths the floors with :func:`omniloc.filters.smooth_floors`.

Estimates come out at the base method's times, so the two compare one to one. ``fit`` trains the
base method and calibrates ``K`` on the training recordings' ground truth (total walked distance
over total Weinberg units, the PDR method's rule). A recording without an IMU stream keeps the
base estimates (floors smoothed). Not in the MTLoc paper; this is the path post-processing that
indoor-positioning pipelines for phone logs add after per-scan fingerprinting.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from .._errors import ConfigError
from ..data import Dataset, Estimate, Recording
from ..filters import (
    absolute_heading,
    orientation_stream,
    run_pdr,
    smooth_floors,
    smooth_track,
    time_weights,
)
from ._fixes_and_steps import BASE_STEP_CONF, FixesAndSteps
from .base import Localizer

__all__ = ["TrackLocalizer"]


class TrackLocalizer(FixesAndSteps, Localizer):
    """A base method's estimates fused with dead-reckoned steps along each recording.

    Configuration (``default_conf``):

    * ``base``: name of the registered method that gives the fixes (``"knn"``).
    * ``base_conf``: its configuration (None or a dict merged over its ``default_conf``);
      ``base_preset``: its preset (None, a name, or a list of names applied in order).
    * ``imu_stream``: name of the ``imu`` stream (None = the only one).
    * ``steps``: step detection (:data:`omniloc.filters.STEP_DEFAULTS`), the keys of the PDR
      method, documented in :class:`~omniloc.methods.pdr.PDRLocalizer`: ``resample_hz``,
      ``gravity_lowpass_hz``, ``step_lowpass_hz``, ``step_threshold``, ``min_step_interval_s``,
      ``max_step_interval_s``, ``gyro_bias``, ``gyro_bias_window_s``, ``still_acc_std``,
      ``still_gyro_std``, ``still_gyro_max``.
    * ``heading``: one of :data:`omniloc.filters.HEADING_SOURCES` (``"auto"``: the orientation
      stream when the training recordings have one); ``orientation_stream``: its name (None: the
      first of :data:`omniloc.filters.ORIENTATION_STREAMS`).
    * ``step_length_k``: Weinberg constant ``K`` in m / (m/s^2)^(1/4) when not fitted;
      ``fit_step_length``: calibrate it on the training recordings.
    * ``sigma_fix_m``: noise of a fix, metres; ``sigma_step_m``: noise of one step (length and
      heading drift), metres; ``huber_m``: Huber threshold on fix residuals, metres (None = off);
      ``iterations``: alternations of position solve and rotation update.
    * ``floor_switch_s``: cost of a floor change in :func:`~omniloc.filters.smooth_floors`, in
      seconds of estimates that disagree (each estimate weighs the time it stands for): a run of
      another floor shorter than twice this inside a recording is taken as noise (None = keep
      the base floors).
    """

    name: ClassVar[str] = "track"
    #: with the default base (knn): the IMU for the steps and WiFi for the fixes
    required_streams: ClassVar[tuple[str, ...]] = ("imu", "wifi")
    default_conf: ClassVar[dict] = {
        **BASE_STEP_CONF,
        "sigma_fix_m": 8.0,
        "sigma_step_m": 0.3,
        "huber_m": 5.0,
        "iterations": 10,
        "floor_switch_s": 2.0,
    }
    presets: ClassVar[dict[str, dict]] = {
        # MTLoc windows as the fixes
        "mtloc": {"base": "mtloc"}
    }

    #: ``base_conf`` is a dict (over the base method's defaults); ``base_preset`` one name or a list
    conf_types: ClassVar[dict[str, tuple[type, ...]]] = {"base_conf": (dict,), "base_preset": (str, list)}

    def _check_conf(self) -> None:
        """The base method, noise levels and thresholds (called at construction; types checked before)."""
        self._check_base_and_steps()
        c = self.conf
        for key in ("sigma_fix_m", "sigma_step_m"):
            if c[key] is None or not c[key] > 0:
                raise ConfigError(f"track conf {key!r} must be a positive number, got {c[key]!r}")
        if c["iterations"] is None or c["iterations"] < 1:
            raise ConfigError(f"track conf 'iterations' must be an int >= 1, got {c['iterations']!r}")
        if c["huber_m"] is not None and not c["huber_m"] > 0:
            raise ConfigError(f"track conf 'huber_m' must be positive or None, got {c['huber_m']!r}")
        if c["floor_switch_s"] is not None and c["floor_switch_s"] < 0:
            raise ConfigError(f"track conf 'floor_switch_s' must be >= 0 or None, got {c['floor_switch_s']!r}")

    # ------------------------------------------------------------------ fit
    def fit(self, train: Dataset, val: Dataset | None = None) -> TrackLocalizer:
        """Train the base method on ``train`` (``val`` for its early stopping) and calibrate ``K``."""
        from . import create

        c = self.conf
        base = create(c["base"], c["base_conf"], preset=c["base_preset"])
        base.fit(train, val)
        return self.fit_smoother(train, base)

    def fit_smoother(self, train: Dataset | None, base: Localizer) -> TrackLocalizer:
        """Use an already fitted ``base`` method and calibrate ``K`` on ``train`` (None: configured ``K``)."""
        if not base.is_fitted:
            raise RuntimeError("fit_smoother needs a fitted base method")
        self.base_ = base
        self._calibrate_steps(train)
        return self

    def _orientation(self, rec: Recording, source: str | None = None):
        """The orientation stream for absolute headings, or None (gyroscope heading changes)."""
        source = source or getattr(self, "heading_source_", "gyro")
        if source == "gyro":
            return None
        return orientation_stream(rec, self.conf["orientation_stream"])

    def _imu(self, rec: Recording):
        """The recording's IMU stream, or None when it has none (then the base estimates are kept)."""
        return rec.find_stream("imu", self.conf["imu_stream"], required=False)

    # ------------------------------------------------------------------ predict
    def predict_recording(self, rec: Recording) -> Estimate:
        """The base estimates of ``rec``, moved onto the smoothed path (same times and order)."""
        c = self.conf
        est = self.base_.predict(rec)
        if len(est) == 0:
            return est
        order = np.argsort(est.t, kind="stable")
        floor = est.floor
        if floor is not None and c["floor_switch_s"] is not None:
            floor = floor.copy()
            floor[order] = smooth_floors(floor[order], float(c["floor_switch_s"]), time_weights(est.t[order]))
        position = est.position.copy()
        ok = np.all(np.isfinite(position[:, :2]), axis=1)
        imu = self._imu(rec)
        if ok.any() and imu is not None and len(imu.t) >= 2:
            t0 = min(float(est.t[ok].min()), float(imu.t[0]))
            trace = run_pdr(imu, max(t0, float(imu.t[0])), c["steps"])
            stream = self._orientation(rec)
            rotation = None  # the step frame's heading origin is unknown: estimated
            if stream is not None:  # absolute headings: the steps are in the map frame
                h = absolute_heading(stream, trace.step_t) + self.heading_offset_
                rotation = 0.0
            else:
                h = trace.heading_change_at(trace.step_t)
            length = self.step_length_k_ * trace.step_units
            step_xy = length[:, None] * np.stack([np.cos(h), np.sin(h)], axis=1)
            track = smooth_track(
                est.t[ok],
                position[ok, :2],
                trace.step_t,
                step_xy,
                t_start=t0,
                sigma_fix_m=float(c["sigma_fix_m"]),
                sigma_step_m=float(c["sigma_step_m"]),
                huber_m=c["huber_m"],
                iterations=int(c["iterations"]),
                rotation_rad=rotation,
            )
            position[ok, :2] = track.at(est.t[ok])
        return Estimate(est.recording, est.t, position, est.orientation, floor, est.building, None)
