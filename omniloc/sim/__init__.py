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

from . import floorplans, sensors, trajectories, world
from .floorplans import *  # noqa: F403
from .sensors import *  # noqa: F403
from .trajectories import *  # noqa: F403
from .world import *  # noqa: F403

__all__ = [*world.__all__, *floorplans.__all__, *trajectories.__all__, *sensors.__all__]
