"""Filtering and smoothing over time: step detection from an IMU, track smoothing that fuses
absolute position fixes with dead-reckoned steps (depends only on omniloc.data), and a batched
extended Kalman filter in torch (imported on first use, so that ``import omniloc.filters`` stays
free of torch)."""

from .steps import STEP_DEFAULTS, PDRTrace, run_pdr, step_chords
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
    "Track",
    "smooth_track",
    "smooth_floors",
    "time_weights",
    *_EKF_NAMES,
]


def __getattr__(name):
    if name in _EKF_NAMES:
        from . import ekf

        return getattr(ekf, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
