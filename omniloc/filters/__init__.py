"""Filtering and smoothing over time: step detection and heading from a phone, track smoothing that
fuses absolute position fixes with dead-reckoned steps, a particle filter over floor plans with
its smoother (these depend only on omniloc.data and numpy / SciPy), and a batched
extended Kalman filter in torch (imported on first use, so that ``import omniloc.filters`` stays
free of torch)."""

from .particle import PF_DEFAULTS, FilterHistory, ParticleFilter, smooth_particles, systematic_resample
from .steps import (
    HEADING_SOURCES,
    ORIENTATION_STREAMS,
    STEP_DEFAULTS,
    PDRTrace,
    StepCalibration,
    absolute_heading,
    calibrate_steps,
    heading_offset,
    orientation_stream,
    run_pdr,
    step_chords,
)
from .track import Track, smooth_floors, smooth_track, time_weights

_EKF_NAMES = (
    "jacobian",
    "ekf_predict",
    "ekf_update",
    "ExtendedKalmanFilter",
    "constant_transition",
    "additive_transition",
)

__all__ = [
    "STEP_DEFAULTS",
    "PDRTrace",
    "run_pdr",
    "step_chords",
    "HEADING_SOURCES",
    "ORIENTATION_STREAMS",
    "orientation_stream",
    "absolute_heading",
    "heading_offset",
    "StepCalibration",
    "calibrate_steps",
    "Track",
    "smooth_track",
    "smooth_floors",
    "time_weights",
    "PF_DEFAULTS",
    "ParticleFilter",
    "FilterHistory",
    "smooth_particles",
    "systematic_resample",
    *_EKF_NAMES,
]


def __getattr__(name):
    if name in _EKF_NAMES:
        from . import ekf

        return getattr(ekf, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
