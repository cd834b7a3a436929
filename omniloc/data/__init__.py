"""Data model (Recording, Stream, FloorPlan, Dataset, Estimate), on-disk format, alignment, windows,
fingerprints and splits."""

from .._errors import DataError
from .align import latest_index, latest_values, nearest_index, truth_at
from .camera import (
    OPTICAL_FROM_DEVICE,
    check_rotation,
    depth_from_points,
    device_from_optical,
    downscale_depth,
    downscale_rgb,
    matrix_from_pose,
    optical_from_device,
    pinhole_intrinsics,
    points_from_depth,
    pose_from_matrix,
    reproject_depth,
    scale_intrinsics,
)
from .dataset import Dataset
from .estimate import Estimate
from .floorplan import FloorPlan, WalkableGrid, count_wall_crossings, point_segment_distance
from .io import FORMAT_VERSION, default_data_root, load_dataset, load_recording, save_dataset, save_recording
from .recording import Recording
from .stream import STREAM_KINDS, Stream
from .windows import resample_windows, window_end_times

__all__ = [
    "DataError",
    "Dataset",
    "Estimate",
    "FloorPlan",
    "WalkableGrid",
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
    "OPTICAL_FROM_DEVICE",
    "check_rotation",
    "pose_from_matrix",
    "matrix_from_pose",
    "device_from_optical",
    "optical_from_device",
    "pinhole_intrinsics",
    "scale_intrinsics",
    "points_from_depth",
    "depth_from_points",
    "reproject_depth",
    "downscale_rgb",
    "downscale_depth",
]
