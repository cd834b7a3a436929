"""Quaternion helpers (w, x, y, z; Hamilton convention; ``world_from_device``), phone rotation
vectors as quaternions, and resampling of one sensor's samples onto another sensor's clock."""

from __future__ import annotations

import numpy as np

__all__ = [
    "quat_normalize",
    "quat_multiply",
    "quat_conjugate",
    "quat_to_matrix",
    "quat_from_matrix",
    "quat_from_yaw",
    "yaw_from_quat",
    "quat_slerp",
    "quat_angle_deg",
    "quat_mean",
    "quat_rotate",
    "quat_from_rotation_vector",
    "resample_to_clock",
]


def quat_normalize(q: np.ndarray) -> np.ndarray:
    """(..., 4) -> unit quaternions with w >= 0."""
    q = np.asarray(q, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    return np.where(q[..., :1] < 0, -q, q)


def quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product ``a * b`` of (..., 4) quaternions."""
    aw, ax, ay, az = np.moveaxis(np.asarray(a, dtype=np.float64), -1, 0)
    bw, bx, by, bz = np.moveaxis(np.asarray(b, dtype=np.float64), -1, 0)
    return np.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        axis=-1,
    )


def quat_conjugate(q: np.ndarray) -> np.ndarray:
    return np.asarray(q, dtype=np.float64) * np.array([1.0, -1.0, -1.0, -1.0])


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """(..., 4) unit quaternions -> (..., 3, 3) rotation matrices."""
    w, x, y, z = np.moveaxis(quat_normalize(q), -1, 0)
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
        ],
        -2,
    )


def quat_from_matrix(R: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 4) unit quaternions (w, x, y, z) with ``w >= 0``.

    The inverse of :func:`quat_to_matrix` (``quat_to_matrix(quat_from_matrix(R)) == R`` for every
    rotation). Shepperd's method: of the four equivalent formulas, each matrix uses the one whose
    square root is taken of the largest of ``trace(R)``, ``R[0,0]``, ``R[1,1]``, ``R[2,2]``, so no
    division by a small number occurs (rotations by about 180 degrees included). A matrix that is
    only nearly orthonormal (a KinectFusion pose, ``|R^T R - I|`` of 1e-4) gives the quaternion
    of a rotation within about that deviation; see :func:`omniloc.data.camera.check_rotation`
    to refuse matrices that are not rotations at all.
    """
    R = np.asarray(R, dtype=np.float64)
    if R.shape[-2:] != (3, 3):
        raise ValueError(f"rotation matrices must be (..., 3, 3), got shape {R.shape}")
    r00, r11, r22 = R[..., 0, 0], R[..., 1, 1], R[..., 2, 2]
    s_yz, d_zy = R[..., 1, 2] + R[..., 2, 1], R[..., 2, 1] - R[..., 1, 2]
    s_xz, d_xz = R[..., 0, 2] + R[..., 2, 0], R[..., 0, 2] - R[..., 2, 0]
    s_xy, d_yx = R[..., 0, 1] + R[..., 1, 0], R[..., 1, 0] - R[..., 0, 1]
    # 4 * (w^2, x^2, y^2, z^2) = 1 + (tr, r00 - r11 - r22, ...); pick the largest per matrix
    diag = np.stack([r00 + r11 + r22, r00 - r11 - r22, r11 - r00 - r22, r22 - r00 - r11], axis=-1)
    case = np.argmax(diag, axis=-1)
    big = 0.5 * np.sqrt(np.maximum(1.0 + np.take_along_axis(diag, case[..., None], axis=-1)[..., 0], 1e-300))
    inv = 0.25 / big
    candidates = np.stack(
        [
            np.stack([big, d_zy * inv, d_xz * inv, d_yx * inv], axis=-1),  # w largest
            np.stack([d_zy * inv, big, s_xy * inv, s_xz * inv], axis=-1),  # x largest
            np.stack([d_xz * inv, s_xy * inv, big, s_yz * inv], axis=-1),  # y largest
            np.stack([d_yx * inv, s_xz * inv, s_yz * inv, big], axis=-1),  # z largest
        ],
        axis=-2,
    )
    q = np.take_along_axis(candidates, case[..., None, None], axis=-2)[..., 0, :]
    return quat_normalize(q)


def quat_rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate (..., 3) vectors by (..., 4) quaternions: ``R(q) @ v``."""
    return np.einsum("...ij,...j->...i", quat_to_matrix(q), np.asarray(v, dtype=np.float64))


def quat_from_yaw(yaw_rad: np.ndarray) -> np.ndarray:
    """Rotation about +z (up) by ``yaw_rad`` (counter-clockwise from +x) -> (..., 4)."""
    half = 0.5 * np.asarray(yaw_rad, dtype=np.float64)
    z = np.zeros_like(half)
    return np.stack([np.cos(half), z, z, np.sin(half)], axis=-1)


def yaw_from_quat(q: np.ndarray) -> np.ndarray:
    """Heading (rotation about +z) of (..., 4) quaternions, radians in (-pi, pi]."""
    w, x, y, z = np.moveaxis(np.asarray(q, dtype=np.float64), -1, 0)
    return np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))


def quat_angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle of the relative rotation between (..., 4) quaternions ``a`` and ``b``, degrees in [0, 180]."""
    d = np.abs(np.sum(quat_normalize(a) * quat_normalize(b), axis=-1))
    return np.degrees(2 * np.arccos(np.clip(d, 0.0, 1.0)))


def quat_mean(q: np.ndarray) -> np.ndarray:
    """Mean rotation of (N, 4) unit quaternions: the normalised sum after aligning every sign with the
    first (the chordal L2 mean; exact for rotations within 90 degrees of each other). Returns (4,), w >= 0.

    >>> quat_mean(np.array([[1.0, 0, 0, 0], [-1.0, 0, 0, 0]]))
    array([1., 0., 0., 0.])
    """
    q = np.asarray(q, dtype=np.float64).reshape(-1, 4)
    if len(q) == 0:
        raise ValueError("quat_mean of no quaternions")
    s = np.sign(q @ q[0])
    s[s == 0] = 1.0
    return quat_normalize((q * s[:, None]).sum(axis=0))


def quat_slerp(q0: np.ndarray, q1: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Spherical linear interpolation between (..., 4) quaternions at fractions ``u`` (...,)."""
    q0, q1 = quat_normalize(q0), quat_normalize(q1)
    u = np.asarray(u, dtype=np.float64)[..., None]
    dot = np.sum(q0 * q1, axis=-1, keepdims=True)
    q1 = np.where(dot < 0, -q1, q1)
    dot = np.abs(dot)
    theta = np.arccos(np.clip(dot, -1.0, 1.0))
    sin = np.sin(theta)
    small = sin < 1e-6
    safe = np.where(small, 1.0, sin)
    w0 = np.where(small, 1 - u, np.sin((1 - u) * theta) / safe)
    w1 = np.where(small, u, np.sin(u * theta) / safe)
    return quat_normalize(w0 * q0 + w1 * q1)


def quat_from_rotation_vector(v: np.ndarray) -> np.ndarray:
    """Android rotation-vector samples -> unit quaternions (w, x, y, z).

    The rotation-vector sensor reports the vector part ``(x, y, z) = axis * sin(angle / 2)`` of the
    rotation ``world_from_device`` (world = east, north, up); the scalar part is
    ``w = cos(angle / 2) = sqrt(1 - x^2 - y^2 - z^2)`` (clipped at 0 where rounding makes
    ``|v| > 1``), and the quaternion is renormalised.

    Parameters
    ----------
    v : (..., 3) float
        The sensor's ``values[0..2]`` (dimensionless; an accuracy or ``w`` column after them is
        not part of ``v``).

    Returns
    -------
    (..., 4) float64 unit quaternions with ``w >= 0``.
    """
    v = np.asarray(v, dtype=np.float64)
    w = np.sqrt(np.clip(1.0 - np.sum(v * v, axis=-1), 0.0, None))
    q = np.concatenate([w[..., None], v], axis=-1)
    norm = np.linalg.norm(q, axis=-1, keepdims=True)
    identity = np.broadcast_to(np.array([1.0, 0.0, 0.0, 0.0]), q.shape)
    return np.divide(q, norm, out=identity.copy(), where=norm > 0)


def resample_to_clock(t_src: np.ndarray, values: np.ndarray, t_dst: np.ndarray) -> np.ndarray:
    """Samples of one sensor at the timestamps of another (e.g. the gyroscope on the accelerometer clock).

    Where both clocks are the same array (the Indoor Location Competition phones log both sensors
    together) the values are returned as they are, row by row; otherwise each column is linearly
    interpolated in time (``numpy.interp``), held at the first / last sample before / after the
    source's time span.

    Parameters
    ----------
    t_src : (N,) seconds, non-decreasing, N >= 1
    values : (N, D)
    t_dst : (M,) seconds

    Returns
    -------
    (M, D) float64
    """
    t_src = np.asarray(t_src, dtype=np.float64)
    t_dst = np.asarray(t_dst, dtype=np.float64)
    if len(t_src) == 0:
        raise ValueError("resample_to_clock needs at least one source sample")
    values = np.asarray(values, dtype=np.float64).reshape(len(t_src), -1)
    if np.array_equal(t_src, t_dst):
        return values.copy()
    return np.stack([np.interp(t_dst, t_src, values[:, c]) for c in range(values.shape[1])], axis=1).reshape(
        len(t_dst), values.shape[1]
    )
