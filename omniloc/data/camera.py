"""Camera poses, frames and depth images: the one convention of omniloc, and the conversions into it.

Frames
------
* **World**: the frame of a recording's ground truth (a building frame x east, y north, z up for
  simulated and phone data; the source's own frame for imported camera datasets: TUM's
  motion-capture room, 7-Scenes' KinectFusion frame).
* **Device**: x forward (the camera's optical axis), y left, z up (when the device is level). The
  IMU, the magnetometer and the simulated camera all use it.
* **Optical**: x right, y down, z forward (along the optical axis), the frame of pinhole
  intrinsics ``K``, of OpenCV, TUM RGB-D and 7-Scenes. A point's coordinates in the two frames of
  one camera are related by ``p_optical = OPTICAL_FROM_DEVICE @ p_device``.

Poses
-----
Every pose in omniloc is ``world_from_device``: ``position`` (N, 3) metres, the device origin (the
camera's optical centre) in the world frame, and ``orientation`` (N, 4) unit quaternions
(w, x, y, z; Hamilton; ``w >= 0``) rotating device-frame vectors into the world frame:
``p_world = R(q) @ p_device + position``. So column 0 of ``R(q)`` is the viewing direction (device
+x) in the world, column 2 the device's up. Datasets that give camera-to-world poses of the
*optical* frame (TUM, 7-Scenes: ``p_world = R_wo @ p_optical + t``) are converted with
:func:`device_from_optical`: the position is unchanged and ``R_wd = R_wo @ OPTICAL_FROM_DEVICE``,
so the device +x axis (column 0 of ``R_wd``) is the optical z axis (column 2 of ``R_wo``).
:func:`optical_from_device` is the inverse. 4x4 homogeneous matrices ``[[R, t], [0, 1]]`` convert
with :func:`pose_from_matrix` / :func:`matrix_from_pose`; :func:`check_rotation` refuses a matrix
that is not a rotation (loaders call it on every pose they read).

Depth images
------------
Depth images are float32 metres, ``0`` = no measurement. A pinhole depth image holds the z-depth
along the optical axis (what RGB-D sensors report): pixel ``(u, v)`` (column, row; pixel centres
at integer coordinates, row 0 at the top) with depth ``d`` is the optical-frame point
``d * K^-1 [u, v, 1]`` (:func:`points_from_depth`). :func:`depth_from_points` renders points
(a depth camera's back-projection, a LIDAR sweep) into a depth image with a z-buffer, with a
pinhole or a cylindrical projection; :func:`reproject_depth` moves a depth image from one camera
into another (registration). :func:`downscale_rgb` and :func:`downscale_depth` reduce images by
integer factors (box mean; median of the valid pixels), :func:`scale_intrinsics` scales ``K`` with
them.
"""

from __future__ import annotations

import numpy as np

from .._errors import DataError
from .transforms import quat_from_matrix, quat_multiply, quat_normalize, quat_to_matrix

__all__ = [
    "OPTICAL_FROM_DEVICE",
    "ROTATION_TOL",
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
    "quat_from_matrix",
]

#: Rotation taking device-frame vectors (x forward, y left, z up) to the optical frame (x right,
#: y down, z forward): ``p_optical = OPTICAL_FROM_DEVICE @ p_device``.
OPTICAL_FROM_DEVICE = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
OPTICAL_FROM_DEVICE.setflags(write=False)
#: Largest accepted ``max |R^T R - I|`` of a rotation matrix read from a file (:func:`check_rotation`).
ROTATION_TOL = 1e-3

_Q_OPTICAL_FROM_DEVICE = quat_from_matrix(OPTICAL_FROM_DEVICE)


def check_rotation(R, where: str = "rotation", *, file=None, tol: float = ROTATION_TOL) -> None:
    """Refuse matrices that are not rotations: not finite, ``max |R^T R - I| > tol`` or ``det(R) < 0``.

    Parameters
    ----------
    R : (3, 3) or (N, 3, 3)
    where : str
        The field named in the error (``"pose"``, ``"frames.txt qx qy qz qw"``).
    file : str or Path, optional
        The file named in the error.
    tol : float
        Tolerance on the entries of ``R^T R - I`` (default :data:`ROTATION_TOL`; KinectFusion's
        poses deviate by about 1e-4).

    Raises
    ------
    DataError
        Naming the first bad matrix (its index when ``R`` is a stack), its deviation and determinant.
    """
    R = np.asarray(R, dtype=np.float64)
    if R.shape[-2:] != (3, 3) or R.ndim not in (2, 3):
        raise DataError(
            f"expected a (3, 3) rotation matrix or a stack (N, 3, 3), got shape {R.shape}", file=file, field=where
        )
    stack = R.reshape(-1, 3, 3)
    label = (lambda k: f"matrix {k}") if R.ndim == 3 else (lambda k: "the matrix")
    finite = np.all(np.isfinite(stack), axis=(1, 2))
    if not finite.all():
        k = int(np.argmax(~finite))
        raise DataError(f"{label(k)} has non-finite entries; expected a rotation matrix", file=file, field=where)
    dev = np.abs(np.einsum("nji,njk->nik", stack, stack) - np.eye(3)).max(axis=(1, 2))
    det = np.linalg.det(stack)
    bad = (dev > tol) | (det < 0)
    if bad.any():
        k = int(np.argmax(bad))
        raise DataError(
            f"{label(k)} is not a rotation: max |R^T R - I| = {dev[k]:.3g} (expected <= {tol:g}) and "
            f"det(R) = {det[k]:.6g} (expected +1)",
            file=file,
            field=where,
        )


def pose_from_matrix(T) -> tuple[np.ndarray, np.ndarray]:
    """Homogeneous poses ``[[R, t], [0, 0, 0, 1]]`` -> position and quaternion.

    Parameters
    ----------
    T : (..., 4, 4)
        ``p_to = R @ p_from + t``; ``R`` a rotation (not checked here: see :func:`check_rotation`).

    Returns
    -------
    position : (..., 3) float64, ``t``
    quaternion : (..., 4) float64 unit (w, x, y, z), ``w >= 0``, the rotation ``R``
    """
    T = np.asarray(T, dtype=np.float64)
    if T.shape[-2:] != (4, 4):
        raise ValueError(f"poses must be (..., 4, 4) homogeneous matrices, got shape {T.shape}")
    return T[..., :3, 3].copy(), quat_from_matrix(T[..., :3, :3])


def matrix_from_pose(position, quaternion) -> np.ndarray:
    """Position (..., 3) and unit quaternion (..., 4) (w, x, y, z) -> (..., 4, 4) ``[[R, t], [0, 1]]``."""
    position = np.asarray(position, dtype=np.float64)
    quaternion = np.asarray(quaternion, dtype=np.float64)
    if position.shape[-1:] != (3,) or quaternion.shape[-1:] != (4,) or position.shape[:-1] != quaternion.shape[:-1]:
        raise ValueError(
            f"position (..., 3) and quaternion (..., 4) must share leading dimensions, got {position.shape} "
            f"and {quaternion.shape}"
        )
    T = np.zeros(position.shape[:-1] + (4, 4))
    T[..., :3, :3] = quat_to_matrix(quaternion)
    T[..., :3, 3] = position
    T[..., 3, 3] = 1.0
    return T


def device_from_optical(position, q_world_from_optical) -> tuple[np.ndarray, np.ndarray]:
    """Camera-to-world poses of the optical frame (TUM, 7-Scenes, OpenCV) -> omniloc's ``world_from_device``.

    Parameters
    ----------
    position : (..., 3) metres
        The optical centre in the world frame (kept as it is: both frames share the origin).
    q_world_from_optical : (..., 4) unit quaternions (w, x, y, z)
        Rotation of optical-frame vectors (x right, y down, z forward) into the world frame.

    Returns
    -------
    position : (..., 3) float64 (a copy)
    q_world_from_device : (..., 4) float64 unit quaternions, ``w >= 0``:
        ``R(q_world_from_device) = R(q_world_from_optical) @ OPTICAL_FROM_DEVICE``, so the device
        +x axis is the optical +z axis.

    Examples
    --------
    A camera whose optical frame is the world frame looks along world +z, its left is world -x:

    >>> from omniloc.data import device_from_optical
    >>> _, q = device_from_optical([0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0])
    >>> q.tolist()
    [0.5, 0.5, -0.5, 0.5]
    """
    q = quat_multiply(np.asarray(q_world_from_optical, dtype=np.float64), _Q_OPTICAL_FROM_DEVICE)
    return np.array(position, dtype=np.float64), quat_normalize(q)


def optical_from_device(position, q_world_from_device) -> tuple[np.ndarray, np.ndarray]:
    """The inverse of :func:`device_from_optical`: ``world_from_device`` -> camera-to-world of the optical frame.

    ``R(q_world_from_optical) = R(q_world_from_device) @ OPTICAL_FROM_DEVICE.T``; the position is kept.
    """
    q_device_from_optical = _Q_OPTICAL_FROM_DEVICE * np.array([1.0, -1.0, -1.0, -1.0])
    q = quat_multiply(np.asarray(q_world_from_device, dtype=np.float64), q_device_from_optical)
    return np.array(position, dtype=np.float64), quat_normalize(q)


def pinhole_intrinsics(fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    """``[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` (pixels; optical frame; pixel centres at integers)."""
    return np.array([[float(fx), 0.0, float(cx)], [0.0, float(fy), float(cy)], [0.0, 0.0, 1.0]])


def scale_intrinsics(K, from_size: tuple[int, int], to_size: tuple[int, int]) -> np.ndarray:
    """Intrinsics of an image resized from ``from_size`` to ``to_size`` (both ``(width, height)``).

    With ``s = to / from`` per axis: ``f' = f * s`` and, pixel centres being at integer coordinates,
    ``c' = (c + 0.5) * s - 0.5`` (TUM's 640x480 ``cx = 319.5`` is ``79.5`` at 160x120).

    Returns
    -------
    (3, 3) float64
    """
    K = np.asarray(K, dtype=np.float64)
    sx = float(to_size[0]) / float(from_size[0])
    sy = float(to_size[1]) / float(from_size[1])
    out = K.copy()
    out[0, 0], out[0, 1], out[1, 1] = K[0, 0] * sx, K[0, 1] * sx, K[1, 1] * sy
    out[0, 2] = (K[0, 2] + 0.5) * sx - 0.5
    out[1, 2] = (K[1, 2] + 0.5) * sy - 0.5
    return out


def points_from_depth(depth, K) -> np.ndarray:
    """Back-project pinhole depth images into optical-frame points.

    Parameters
    ----------
    depth : (H, W) or (N, H, W) metres
        z-depth along the optical axis; 0, negative or NaN = no measurement.
    K : (3, 3)

    Returns
    -------
    (H, W, 3) or (N, H, W, 3) float64 metres in the optical frame (x right, y down, z forward), NaN
    where there is no measurement; pixel ``(u, v)`` with depth ``d`` gives ``d * K^-1 [u, v, 1]``.
    """
    depth = np.asarray(depth, dtype=np.float64)
    if depth.ndim not in (2, 3):
        raise ValueError(f"depth must be (H, W) or (N, H, W) metres, got shape {depth.shape}")
    h, w = depth.shape[-2:]
    uu, vv = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    rays = np.stack([uu, vv, np.ones_like(uu)], axis=-1) @ np.linalg.inv(np.asarray(K, dtype=np.float64)).T
    valid = np.isfinite(depth) & (depth > 0)
    return np.where(valid[..., None], depth[..., None] * rays, np.nan)


def depth_from_points(
    points,
    K=None,
    *,
    width: int,
    height: int,
    model: str = "pinhole",
    azimuth_range_deg: tuple[float, float] | None = None,
    elevation_range_deg: tuple[float, float] | None = None,
    max_range_m: float | None = None,
) -> np.ndarray:
    """Render a point cloud into a depth image; the nearest point wins each pixel (z-buffer).

    Points are in the sensor's optical frame (x right, y down, z forward); a LIDAR or device-frame
    cloud (x forward, y left, z up) is ``points @ OPTICAL_FROM_DEVICE.T`` first. Non-finite points
    are ignored.

    Models
    ------
    ``"pinhole"`` (needs ``K``): ``(u, v, 1) ~ K @ p``; the point lands on the pixel of column
    ``round(u)`` and row ``round(v)`` (pixel centres at integers; ``-0.5 <= u < width - 0.5``) and
    its value is the z-depth ``z``. Points with ``z <= 0`` (behind the camera) are dropped.

    ``"cylindrical"`` (the front view of MV3D that MVLoc uses for RobotCar's LIDAR; needs both
    ranges): azimuth ``a = atan2(x, z)`` (degrees, 0 straight ahead, positive to the right) and
    elevation ``e = atan2(-y, sqrt(x^2 + z^2))`` (degrees, positive up). Column
    ``floor((a - a_min) / (a_max - a_min) * width)`` (column 0 at ``a_min``, the left) and row
    ``floor((e_max - e) / (e_max - e_min) * height)`` (row 0 at ``e_max``, the top): each pixel
    covers an equal step of azimuth and of elevation, half-open at ``a_max`` and ``e_min``. The
    value is the horizontal range ``sqrt(x^2 + z^2)`` (the distance from the vertical axis
    through the sensor), and the nearest point is the one with the smallest such range. Points
    with a horizontal range of 0 are dropped.

    Parameters
    ----------
    points : (N, 3) metres
    K : (3, 3), optional
        Pinhole intrinsics (optical frame), for ``model="pinhole"``.
    width, height : int
        Image size in pixels.
    model : {"pinhole", "cylindrical"}
    azimuth_range_deg, elevation_range_deg : (float, float), optional
        ``(min, max)`` degrees of the cylindrical image's columns and rows.
    max_range_m : float, optional
        Drop points whose value (z-depth or horizontal range) exceeds it.

    Returns
    -------
    (height, width) float32 metres, 0 where no point landed.
    """
    width, height = int(width), int(height)
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, got width={width}, height={height}")
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f"points must be (N, 3) metres, got shape {pts.shape}")
    pts = pts[np.all(np.isfinite(pts), axis=1)]
    x, y, z = pts[:, 0], pts[:, 1], pts[:, 2]
    if model == "pinhole":
        if K is None:
            raise ValueError("model='pinhole' needs the intrinsics K")
        K = np.asarray(K, dtype=np.float64)
        front = z > 0
        x, y, z = x[front], y[front], z[front]
        if not np.allclose(K[2], [0.0, 0.0, 1.0]):
            raise ValueError(f"K must be a pinhole matrix with last row 0 0 1, got {K.tolist()}")
        xn, yn = x / z, y / z
        col = np.floor(K[0, 0] * xn + K[0, 1] * yn + (K[0, 2] + 0.5))
        row = np.floor(K[1, 0] * xn + K[1, 1] * yn + (K[1, 2] + 0.5))
        value = z
    elif model == "cylindrical":
        if azimuth_range_deg is None or elevation_range_deg is None:
            raise ValueError("model='cylindrical' needs azimuth_range_deg and elevation_range_deg (min, max)")
        a_min, a_max = (float(v) for v in azimuth_range_deg)
        e_min, e_max = (float(v) for v in elevation_range_deg)
        if not (a_max > a_min and e_max > e_min):
            raise ValueError(
                f"ranges must be (min, max) with max > min, got {azimuth_range_deg}, {elevation_range_deg}"
            )
        value = np.hypot(x, z)
        keep = value > 0
        x, y, z, value = x[keep], y[keep], z[keep], value[keep]
        azimuth = np.degrees(np.arctan2(x, z))
        elevation = np.degrees(np.arctan2(-y, value))
        col = np.floor((azimuth - a_min) / (a_max - a_min) * width)
        row = np.floor((e_max - elevation) / (e_max - e_min) * height)
    else:
        raise ValueError(f"model must be 'pinhole' or 'cylindrical', got {model!r}")
    inside = (col >= 0) & (col < width) & (row >= 0) & (row < height)
    if max_range_m is not None:
        inside &= value <= float(max_range_m)
    flat = row[inside].astype(np.int64) * width + col[inside].astype(np.int64)
    out = np.full(width * height, np.inf)
    np.minimum.at(out, flat, value[inside])
    out[np.isinf(out)] = 0.0
    return out.reshape(height, width).astype(np.float32)


def reproject_depth(
    depth, K_src, K_dst, width: int | None = None, height: int | None = None, dst_from_src=None
) -> np.ndarray:
    """A depth image seen from another pinhole camera (depth-to-colour registration).

    Every valid pixel is back-projected with ``K_src`` (:func:`points_from_depth`), moved into the
    destination camera's optical frame with ``dst_from_src`` and rendered with ``K_dst`` by
    :func:`depth_from_points` (nearest point per pixel; pixels no point lands on are 0).

    Parameters
    ----------
    depth : (H, W) metres, 0 = no measurement
    K_src, K_dst : (3, 3)
    width, height : int, optional
        Size of the result; default the size of ``depth``.
    dst_from_src : (4, 4), optional
        Rigid transform between the two optical frames; default the identity (both cameras at one
        point, a calibration-free approximation: only the intrinsics differ).

    Returns
    -------
    (height, width) float32 metres
    """
    depth = np.asarray(depth)
    h, w = depth.shape
    pts = points_from_depth(depth, K_src).reshape(-1, 3)
    pts = pts[np.isfinite(pts[:, 0])]
    if dst_from_src is not None:
        T = np.asarray(dst_from_src, dtype=np.float64)
        pts = pts @ T[:3, :3].T + T[:3, 3]
    return depth_from_points(pts, K_dst, width=width or w, height=height or h)


def _factors(shape_hw: tuple[int, int], size: tuple[int, int]) -> tuple[int, int]:
    """Integer block factors (rows, columns) from an (H, W) image to ``size = (width, height)``."""
    h, w = int(shape_hw[0]), int(shape_hw[1])
    tw, th = int(size[0]), int(size[1])
    if tw < 1 or th < 1 or w % tw or h % th:
        raise ValueError(
            f"cannot reduce {w}x{h} images to {tw}x{th}: the size must divide the image size (integer blocks)"
        )
    return h // th, w // tw


def downscale_rgb(images, size: tuple[int, int]) -> np.ndarray:
    """Reduce colour images by integer factors: each output pixel is the mean of its block, rounded.

    Parameters
    ----------
    images : (N, H, W, 3) or (H, W, 3) uint8
    size : (width, height)
        Must divide ``(W, H)``.

    Returns
    -------
    (N, height, width, 3) or (height, width, 3) uint8
    """
    img = np.asarray(images)
    single = img.ndim == 3
    if single:
        img = img[None]
    fy, fx = _factors(img.shape[1:3], size)
    n, h, w, c = img.shape
    blocks = img.reshape(n, h // fy, fy, w // fx, fx, c).astype(np.float64)
    out = np.floor(blocks.mean(axis=(2, 4)) + 0.5).clip(0, 255).astype(np.uint8)
    return out[0] if single else out


def downscale_depth(depth, size: tuple[int, int], min_valid_fraction: float = 0.5) -> np.ndarray:
    """Reduce depth images by integer factors: each output pixel is the median of its block's valid pixels.

    A pixel is valid when finite and ``> 0``. A block with fewer than ``min_valid_fraction`` of its
    pixels valid becomes 0 (no measurement): with 4x4 blocks and the default 0.5, at least 8 valid
    pixels, the rule of the staged TUM 160x120 images. Invalid pixels are never averaged in.

    Parameters
    ----------
    depth : (N, H, W) or (H, W) metres
    size : (width, height)
        Must divide ``(W, H)``.
    min_valid_fraction : float in (0, 1]

    Returns
    -------
    (N, height, width) or (height, width) float32 metres
    """
    d = np.asarray(depth, dtype=np.float64)
    single = d.ndim == 2
    if single:
        d = d[None]
    fy, fx = _factors(d.shape[1:3], size)
    n, h, w = d.shape
    blocks = d.reshape(n, h // fy, fy, w // fx, fx).transpose(0, 1, 3, 2, 4).reshape(n, h // fy, w // fx, fy * fx)
    valid = np.isfinite(blocks) & (blocks > 0)
    count = valid.sum(axis=-1)
    s = np.sort(np.where(valid, blocks, np.inf), axis=-1)  # valid values first, ascending
    lo = np.clip((count - 1) // 2, 0, None)[..., None]
    hi = np.clip(count // 2, 0, fy * fx - 1)[..., None]
    med = 0.5 * (np.take_along_axis(s, lo, axis=-1) + np.take_along_axis(s, hi, axis=-1))[..., 0]
    need = max(1, int(np.ceil(float(min_valid_fraction) * fy * fx - 1e-9)))
    out = np.where(count >= need, med, 0.0).astype(np.float32)
    return out[0] if single else out
