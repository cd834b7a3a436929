"""Simulated worlds in which every sensing modality exists at once.

Floor plans (perfect mazes, multi-floor office buildings), trajectories (pedestrian walks,
maze solution paths) and documented physical sensor models (WiFi RSS, magnetometer, IMU,
top-down raster patches, RGB-D camera), all deterministic by seed. The entry point is
:func:`simulate`, which returns an :class:`omniloc.data.Dataset`::

    from omniloc.sim import simulate
    ds = simulate("office", seed=0)            # or simulate("maze"), simulate(..., preset="quick")

Conventions: building frame x east, y north, z up (metres); device frame x forward, y left,
z up; orientations are ``world_from_device`` quaternions (w, x, y, z); rasters have row index
growing with y and pixel centres at ``((col + 0.5) s, (row + 0.5) s)``. See
:mod:`omniloc.sim.floorplans` for the floor-plan conventions and zone naming.
"""

from .floorplans import (
    N_WALL_STYLES,
    OFFICE_DEFAULTS,
    maze_boundary_cells,
    maze_cells,
    maze_floor_plan,
    office_building,
    office_floor_plan,
    raster_wall_segments,
)
from .sensors import (
    CAMERA_DEFAULTS,
    DEVICE_PROFILES,
    IMU_DEFAULTS,
    MAGNETOMETER_DEFAULTS,
    PATCH_DEFAULTS,
    WIFI_DEFAULTS,
    AccessPoints,
    MagneticModel,
    device_profile,
    imu_from_trajectory,
    interpolate_trajectory,
    magnetic_field,
    make_magnetic_model,
    place_access_points,
    simulate_camera,
    simulate_imu,
    simulate_magnetometer,
    simulate_patch,
    simulate_wifi,
    topdown_patch,
    wifi_rss_mean,
    wifi_scan_times,
)
from .trajectories import (
    MAZE_WALK_DEFAULTS,
    WALK_DEFAULTS,
    gait,
    grid_path,
    maze_walk,
    office_walk,
    orientation_from_euler,
    walk_grid,
)
from .world import DEFAULT_CONFS, PRESETS, WORLDS, SimWorld, build_world, default_conf, sensor_throughput, simulate

__all__ = [
    # worlds
    "simulate",
    "build_world",
    "default_conf",
    "sensor_throughput",
    "SimWorld",
    "WORLDS",
    "DEFAULT_CONFS",
    "PRESETS",
    # floor plans
    "maze_floor_plan",
    "maze_cells",
    "maze_boundary_cells",
    "office_floor_plan",
    "office_building",
    "raster_wall_segments",
    "OFFICE_DEFAULTS",
    "N_WALL_STYLES",
    # trajectories
    "office_walk",
    "maze_walk",
    "gait",
    "orientation_from_euler",
    "walk_grid",
    "grid_path",
    "WALK_DEFAULTS",
    "MAZE_WALK_DEFAULTS",
    # sensors
    "DEVICE_PROFILES",
    "device_profile",
    "AccessPoints",
    "place_access_points",
    "wifi_rss_mean",
    "wifi_scan_times",
    "simulate_wifi",
    "MagneticModel",
    "make_magnetic_model",
    "magnetic_field",
    "simulate_magnetometer",
    "imu_from_trajectory",
    "simulate_imu",
    "topdown_patch",
    "simulate_patch",
    "simulate_camera",
    "interpolate_trajectory",
    "WIFI_DEFAULTS",
    "MAGNETOMETER_DEFAULTS",
    "IMU_DEFAULTS",
    "CAMERA_DEFAULTS",
    "PATCH_DEFAULTS",
]
