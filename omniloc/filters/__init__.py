"""Filtering and smoothing over time: step detection from an IMU, and track smoothing that fuses
absolute position fixes with dead-reckoned steps (depends only on omniloc.data)."""

from .steps import STEP_DEFAULTS, PDRTrace, run_pdr, step_chords
from .track import Track, smooth_floors, smooth_track, time_weights

__all__ = [
    "STEP_DEFAULTS",
    "PDRTrace",
    "run_pdr",
    "step_chords",
    "Track",
    "smooth_track",
    "smooth_floors",
    "time_weights",
]
