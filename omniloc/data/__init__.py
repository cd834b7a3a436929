"""Data model (Recording, Stream, FloorPlan, Dataset, Estimate), on-disk format, alignment, windows,
fingerprints and splits."""

from .._errors import DataError
from .align import latest_index, latest_values, nearest_index, truth_at
from .dataset import Dataset
from .estimate import Estimate
from .floorplan import FloorPlan, count_wall_crossings, point_segment_distance
from .io import FORMAT_VERSION, default_data_root, load_dataset, load_recording, save_dataset, save_recording
from .recording import Recording
from .stream import STREAM_KINDS, Stream
from .windows import resample_windows, window_end_times

__all__ = [
    "DataError",
    "Dataset",
    "Estimate",
    "FloorPlan",
    "Recording",
    "Stream",
    "STREAM_KINDS",
    "FORMAT_VERSION",
    "load_dataset",
    "save_dataset",
    "load_recording",
    "save_recording",
    "default_data_root",
    "window_end_times",
    "resample_windows",
    "latest_index",
    "latest_values",
    "nearest_index",
    "truth_at",
    "count_wall_crossings",
    "point_segment_distance",
]
