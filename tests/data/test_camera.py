"""Camera-pose convention and depth images (omniloc.data.camera): known answers and round trips."""

import numpy as np
import pytest

from omniloc import DataError
from omniloc.data import (
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
from omniloc.data.transforms import quat_from_matrix, quat_from_yaw, quat_normalize, quat_to_matrix

S = np.sqrt(0.5)


def rot_z(deg):
    a = np.radians(deg)
    return np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])


def random_quats(n, seed=0):
    return quat_normalize(np.random.default_rng(seed).normal(size=(n, 4)))


# ------------------------------------------------------------------------------------- quat_from_matrix
@pytest.mark.parametrize(
    "R, q",
    [
        (np.eye(3), [1, 0, 0, 0]),
        (rot_z(90), [S, 0, 0, S]),
        (np.diag([1.0, -1.0, -1.0]), [0, 1, 0, 0]),  # 180 deg about x: w = 0, x largest
        (np.diag([-1.0, 1.0, -1.0]), [0, 0, 1, 0]),
        (np.diag([-1.0, -1.0, 1.0]), [0, 0, 0, 1]),
        (np.array([[0.0, 1, 0], [1, 0, 0], [0, 0, -1]]), [0, S, S, 0]),  # 180 deg about (1, 1, 0) / sqrt 2
        (OPTICAL_FROM_DEVICE, [0.5, 0.5, -0.5, 0.5]),
    ],
)
def test_quat_from_matrix_known_answers(R, q):
    got = quat_from_matrix(R)
    np.testing.assert_allclose(got, q, atol=1e-12)
    np.testing.assert_allclose(quat_to_matrix(got), R, atol=1e-12)


def test_quat_from_matrix_round_trips_batched_and_near_180():
    q = random_quats(2000)
    # rotations by almost exactly 180 degrees (w ~ 0), where a trace-only formula divides by ~0
    near = quat_normalize(np.c_[np.full(50, 1e-9), np.random.default_rng(1).normal(size=(50, 3))])
    q = np.concatenate([q, near])
    R = quat_to_matrix(q)
    back = quat_from_matrix(R)
    assert back.shape == q.shape and np.all(back[:, 0] >= 0)
    np.testing.assert_allclose(np.abs(np.sum(back * q, axis=1)), 1.0, atol=1e-12)  # same rotation (q ~ -q)
    np.testing.assert_allclose(quat_to_matrix(back), R, atol=1e-12)
    assert quat_from_matrix(R.reshape(41, 50, 3, 3)).shape == (41, 50, 4)
    with pytest.raises(ValueError, match=r"\(\.\.\., 3, 3\)"):
        quat_from_matrix(np.eye(4))


# -------------------------------------------------------------------------------------- check_rotation
def test_check_rotation_accepts_rotations_and_names_file_and_field():
    check_rotation(np.eye(3))
    check_rotation(quat_to_matrix(random_quats(10)))
    check_rotation(np.eye(3) * (1 + 4e-4))  # KinectFusion-like deviations pass
    with pytest.raises(DataError, match=r"is not a rotation: max \|R\^T R - I\| = 0\.21 .*det\(R\) = 1\.331") as e:
        check_rotation(np.eye(3) * 1.1, "pose", file="a/frame-000000.pose.txt")
    assert e.value.file == "a/frame-000000.pose.txt" and e.value.field == "pose"
    with pytest.raises(DataError, match=r"det\(R\) = -1 \(expected \+1\)"):
        check_rotation(np.diag([1.0, 1.0, -1.0]))  # a reflection is orthonormal, but not a rotation
    stack = quat_to_matrix(random_quats(4))
    stack[2, 0, 0] = np.nan
    with pytest.raises(DataError, match="matrix 2 has non-finite entries"):
        check_rotation(stack)
    with pytest.raises(DataError, match=r"got shape \(3, 4\)"):
        check_rotation(np.zeros((3, 4)))


# ------------------------------------------------------------------------------------ poses and matrices
def test_pose_matrix_known_answer_and_round_trip():
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = rot_z(90), [1.0, 2.0, 3.0]
    p, q = pose_from_matrix(T)
    np.testing.assert_allclose(p, [1, 2, 3])
    np.testing.assert_allclose(q, [S, 0, 0, S], atol=1e-12)
    np.testing.assert_allclose(matrix_from_pose(p, q), T, atol=1e-12)
    pos = np.random.default_rng(2).normal(size=(100, 3))
    quat = random_quats(100, seed=3)
    Ts = matrix_from_pose(pos, quat)
    assert Ts.shape == (100, 4, 4) and np.all(Ts[:, 3] == [0, 0, 0, 1])
    p2, q2 = pose_from_matrix(Ts)
    np.testing.assert_allclose(p2, pos, atol=1e-12)
    np.testing.assert_allclose(q2, quat, atol=1e-12)  # random_quats already have w >= 0
    with pytest.raises(ValueError):
        matrix_from_pose(pos, quat[:5])


# ------------------------------------------------------------------------------------ device <-> optical
def test_device_from_optical_known_answer():
    # the optical frame *is* the world frame: the device frame is OPTICAL_FROM_DEVICE itself
    p, q = device_from_optical([1.0, 2.0, 3.0], [1.0, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(p, [1, 2, 3])
    np.testing.assert_allclose(q, [0.5, 0.5, -0.5, 0.5], atol=1e-12)
    R = quat_to_matrix(q)
    np.testing.assert_allclose(R, OPTICAL_FROM_DEVICE, atol=1e-12)
    np.testing.assert_allclose(R[:, 0], [0, 0, 1], atol=1e-12)  # device forward = optical z


def test_device_optical_round_trip_and_axes():
    q_wo = random_quats(500, seed=4)
    pos = np.random.default_rng(5).normal(size=(500, 3))
    p, q_wd = device_from_optical(pos, q_wo)
    R_wo, R_wd = quat_to_matrix(q_wo), quat_to_matrix(q_wd)
    np.testing.assert_allclose(p, pos)
    np.testing.assert_allclose(R_wd, R_wo @ OPTICAL_FROM_DEVICE, atol=1e-12)
    np.testing.assert_allclose(R_wd[:, :, 0], R_wo[:, :, 2], atol=1e-12)  # forward = optical axis
    np.testing.assert_allclose(R_wd[:, :, 1], -R_wo[:, :, 0], atol=1e-12)  # left = -right
    np.testing.assert_allclose(R_wd[:, :, 2], -R_wo[:, :, 1], atol=1e-12)  # up = -down
    p2, back = optical_from_device(p, q_wd)
    np.testing.assert_allclose(p2, pos)
    np.testing.assert_allclose(back, q_wo, atol=1e-12)


def test_sim_style_pose_looks_along_device_x():
    """A level simulated camera heading 30 deg: its optical axis is device +x, its image 'down' is world -z."""
    q_wd = quat_from_yaw(np.radians([30.0]))
    _, q_wo = optical_from_device(np.zeros((1, 3)), q_wd)
    R_wo = quat_to_matrix(q_wo)[0]
    np.testing.assert_allclose(R_wo[:, 2], [np.cos(np.radians(30)), np.sin(np.radians(30)), 0], atol=1e-12)
    np.testing.assert_allclose(R_wo[:, 1], [0, 0, -1], atol=1e-12)
    np.testing.assert_allclose(R_wo[:, 2], quat_to_matrix(q_wd)[0][:, 0], atol=1e-12)


def test_conventions_agree_with_the_simulated_camera():
    """World points of a depth image: via the optical pose here == via the device pose in omniloc.sim.camera."""
    from omniloc.sim.camera import OPTICAL_FROM_DEVICE as SIM_OPTICAL_FROM_DEVICE
    from omniloc.sim.camera import backproject_depth, camera_intrinsics

    assert SIM_OPTICAL_FROM_DEVICE is OPTICAL_FROM_DEVICE
    K = camera_intrinsics(8, 6, 90.0)
    depth = np.random.default_rng(6).uniform(0.5, 4.0, size=(6, 8))
    pos = np.array([[1.0, -2.0, 1.5]])
    q_wd = quat_normalize(np.array([[0.9, 0.1, -0.2, 0.3]]))
    _, q_wo = optical_from_device(pos, q_wd)
    mine = points_from_depth(depth, K) @ quat_to_matrix(q_wo)[0].T + pos[0]
    sim = backproject_depth(depth[None], K, pos, q_wd)[0]
    np.testing.assert_allclose(mine, sim, atol=1e-12)


# ---------------------------------------------------------------------------------------------- intrinsics
def test_scale_intrinsics_ros_default_to_160x120():
    K = scale_intrinsics(pinhole_intrinsics(525.0, 525.0, 319.5, 239.5), (640, 480), (160, 120))
    np.testing.assert_allclose(K, [[131.25, 0, 79.5], [0, 131.25, 59.5], [0, 0, 1]])
    back = scale_intrinsics(K, (160, 120), (640, 480))
    np.testing.assert_allclose(back, pinhole_intrinsics(525.0, 525.0, 319.5, 239.5))


# ----------------------------------------------------------------------------------------- depth images
K_SMALL = pinhole_intrinsics(100.0, 80.0, 31.5, 23.5)  # 64 x 48


def test_points_from_depth_known_pixel():
    depth = np.zeros((48, 64))
    depth[10, 40] = 2.0
    pts = points_from_depth(depth, K_SMALL)
    assert pts.shape == (48, 64, 3)
    np.testing.assert_allclose(pts[10, 40], [2.0 * (40 - 31.5) / 100, 2.0 * (10 - 23.5) / 80, 2.0])
    assert np.isnan(pts[0, 0]).all() and np.isfinite(pts).all(axis=-1).sum() == 1


def test_pinhole_plane_single_points_and_occlusion():
    plane = np.full((48, 64), 2.5)
    pts = points_from_depth(plane, K_SMALL).reshape(-1, 3)
    out = depth_from_points(pts, K_SMALL, width=64, height=48)
    assert out.dtype == np.float32 and out.shape == (48, 64)
    np.testing.assert_array_equal(out, np.float32(2.5))  # a plane at known depth, every pixel hit once
    # single points: u = 100 * 0.103 + 31.5 = 41.8 -> column 42; v = 80 * -0.06 + 23.5 = 18.7 -> row 19
    p = np.array([[0.103, -0.06, 1.0]])
    out = depth_from_points(p, K_SMALL, width=64, height=48)
    assert out[19, 42] == 1.0 and np.count_nonzero(out) == 1
    # the same ray at 1 m and 3 m, in either order: the nearer point wins
    for order in ([0, 1], [1, 0]):
        two = np.array([[0.103, -0.06, 1.0], [0.309, -0.18, 3.0]])[order]
        out = depth_from_points(two, K_SMALL, width=64, height=48)
        assert out[19, 42] == 1.0 and np.count_nonzero(out) == 1
    # dropped: behind the camera, outside the image, not finite, farther than max_range_m
    dropped = np.array([[0.0, 0.0, -1.0], [10.0, 0.0, 1.0], [np.nan, 0, 1], [0.0, 0.0, 50.0]])
    assert not depth_from_points(dropped, K_SMALL, width=64, height=48, max_range_m=20.0).any()
    # pixel edges (exact in binary with fx = 128): u = -0.5 is column 0, u = 63.5 is outside
    K_edge = pinhole_intrinsics(128.0, 80.0, 31.5, 23.5)
    edge = np.array([[-0.25, 0.0, 1.0], [0.25, 0.0, 1.0]])
    out = depth_from_points(edge, K_edge, width=64, height=48)
    assert out[24, 0] == 1.0 and np.count_nonzero(out) == 1


def test_cylindrical_known_pixels_cylinder_and_occlusion():
    kw = dict(width=180, height=60, model="cylindrical", azimuth_range_deg=(-90, 90), elevation_range_deg=(-30, 30))
    # straight ahead at 5 m: azimuth 0 -> column 90, elevation 0 -> row 30
    out = depth_from_points(np.array([[0.0, 0.0, 5.0]]), **kw)
    assert out[30, 90] == 5.0 and np.count_nonzero(out) == 1
    # 45.5 deg right, 10.5 deg up: column floor(135.5) = 135, row floor(30 - 10.5) = 19; value = horizontal range
    a, e, rho = np.radians(45.5), np.radians(10.5), 3.0
    p = np.array([[rho * np.sin(a), -rho * np.tan(e), rho * np.cos(a)]])
    out = depth_from_points(p, **kw)
    assert out[19, 135] == pytest.approx(3.0, abs=1e-6) and np.count_nonzero(out) == 1
    # a point to the left (x < 0) at azimuth -60.5: column floor(29.5) = 29
    a = np.radians(-60.5)
    out = depth_from_points(np.array([[np.sin(a), 0.0, np.cos(a)]]), **kw)
    assert out[30, 29] == pytest.approx(1.0) and np.count_nonzero(out) == 1
    # a vertical cylinder of radius 3 around the sensor: every hit pixel holds 3
    rng = np.random.default_rng(7)
    az, height = rng.uniform(-np.pi / 2, np.pi / 2, 20000), rng.uniform(-1.5, 1.5, 20000)
    cyl = np.c_[3 * np.sin(az), -height, 3 * np.cos(az)]
    out = depth_from_points(cyl, **kw)
    assert out.dtype == np.float32 and np.allclose(out[out > 0], 3.0) and (out > 0).sum() > 1000
    # occlusion: the same direction at 2 m and 4 m
    two = np.array([[0.0, -0.5, 4.0], [0.0, -0.25, 2.0]])
    out = depth_from_points(two, **kw)
    assert np.count_nonzero(out) == 1 and out[out > 0][0] == 2.0


def test_depth_from_points_refuses_bad_arguments():
    pts = np.zeros((1, 3))
    with pytest.raises(ValueError, match="needs the intrinsics K"):
        depth_from_points(pts, width=4, height=3)
    with pytest.raises(ValueError, match="azimuth_range_deg"):
        depth_from_points(pts, width=4, height=3, model="cylindrical")
    with pytest.raises(ValueError, match="'pinhole' or 'cylindrical'"):
        depth_from_points(pts, K_SMALL, width=4, height=3, model="fisheye")
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        depth_from_points(np.zeros((2, 2)), K_SMALL, width=4, height=3)


def test_reproject_depth_kinect_registration_and_baseline():
    K_depth = pinhole_intrinsics(585.0, 585.0, 320.0, 240.0)
    K_rgb = pinhole_intrinsics(525.0, 525.0, 320.0, 240.0)
    plane = np.full((480, 640), 2.0)
    same = reproject_depth(plane, K_depth, K_depth)
    np.testing.assert_array_equal(same, np.float32(2.0))
    reg = reproject_depth(plane, K_depth, K_rgb)
    assert reg[240, 320] == 2.0 and reg[240, 0] == 0 and reg[0, 320] == 0  # narrower depth view: border empty
    row = np.flatnonzero(reg[240] > 0)
    # depth columns 0..639 land at 320 + (u - 320) * 525 / 585: 32.8 .. 606.3, so columns 33 .. 606
    assert (row[0], row[-1]) == (33, 606) and len(row) == 574 and np.all(reg[240, 33:607] == 2.0)
    T = np.eye(4)
    T[2, 3] = 1.0  # the destination camera 1 m behind the source
    np.testing.assert_array_equal(reproject_depth(plane, K_depth, K_depth, dst_from_src=T)[240, 320], np.float32(3.0))


def test_downscale_rgb_and_depth_known_blocks():
    img = np.zeros((2, 4, 3), np.uint8)
    img[:, :2] = np.array([[0, 1], [2, 3]])[..., None]  # block mean 1.5 -> 2 (half up)
    img[:, 2:] = 200
    out = downscale_rgb(img, (2, 1))
    assert out.dtype == np.uint8 and out.shape == (1, 2, 3)
    np.testing.assert_array_equal(out[0, :, 0], [2, 200])
    assert downscale_rgb(np.stack([img, img]), (2, 1)).shape == (2, 1, 2, 3)
    d = np.array(
        [
            [1.0, 2.0, 0.0, 0.0, 1.0, 2.0, 7.0, np.nan],
            [3.0, 0.0, 0.0, 5.0, 0.0, 0.0, 9.0, 8.0],
        ]
    )
    out = downscale_depth(d, (4, 1))
    # blocks: [1, 2, 3] valid -> median 2; [5] only one of 4 valid -> 0; [1, 2] -> 1.5; [7, 9, 8] -> 8 (NaN invalid)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[2.0, 0.0, 1.5, 8.0]])
    np.testing.assert_array_equal(downscale_depth(d, (4, 1), min_valid_fraction=0.25), [[2.0, 5.0, 1.5, 8.0]])
    with pytest.raises(ValueError, match="must divide the image size"):
        downscale_depth(d, (3, 1))
