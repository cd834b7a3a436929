"""The first-person RGB-D camera (omniloc.sim.camera): geometry, appearance, determinism."""

import numpy as np
import pytest

from omniloc import ConfigError, DataError, FloorPlan
from omniloc.data import point_segment_distance
from omniloc.data.transforms import quat_from_yaw, quat_multiply
from omniloc.sim.camera import backproject_depth, camera_intrinsics, render_rgbd, render_throughput

H_CAM = 1.5


def room(side=4.0, height=2.8, elevation=0.0, styles=(1, 5, 9, 13), split=None):
    """A square room centred on the origin; walls +x, +y, -x, -y (optionally split in pieces)."""
    h = side / 2
    corners = [(h, -h), (h, h), (-h, h), (-h, -h), (h, -h)]
    walls, style = [], []
    for k in range(4):
        p0, p1 = np.array(corners[k]), np.array(corners[k + 1])
        n = split or 1
        for i in range(n):
            walls.append([p0 + (p1 - p0) * i / n, p0 + (p1 - p0) * (i + 1) / n])
            style.append(styles[k])
    return FloorPlan("room", np.array(walls), height_m=height, elevation_m=elevation, wall_style=np.array(style))


def office():
    """A 30 m x 16 m office: a corridor along x, rooms on both sides with doors, 1-m wall segments."""
    walls, style = [], []

    def add(p0, p1, s):
        p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
        n = max(1, int(np.ceil(np.linalg.norm(p1 - p0))))
        for i in range(n):
            walls.append([p0 + (p1 - p0) * i / n, p0 + (p1 - p0) * (i + 1) / n])
            style.append(s)

    for a, b in [((0, 0), (30, 0)), ((30, 0), (30, 16)), ((30, 16), (0, 16)), ((0, 16), (0, 0))]:
        add(a, b, 0)
    for i, x in enumerate(range(0, 30, 5)):
        for side, (yc, yo) in enumerate([(7.0, 0.0), (9.0, 16.0)]):
            door = x + 1.5 + i % 2
            add((x, yc), (door, yc), 3)
            add((door + 1.0, yc), (x + 5, yc), 3)
            if x > 0:
                add((x, yc), (x, yo), 1 + (2 * i + side) % 15)
    return FloorPlan("office", np.array(walls), wall_style=np.array(style), height_m=2.8)


def level(yaw_rad):
    return quat_from_yaw(np.atleast_1d(np.asarray(yaw_rad, dtype=float)))


def tilt(roll, pitch, yaw):
    """world_from_device = Rz(yaw) Ry(pitch) Rx(roll) (pitch > 0: nose down)."""
    qr = np.array([np.cos(roll / 2), np.sin(roll / 2), 0, 0])
    qp = np.array([np.cos(pitch / 2), 0, np.sin(pitch / 2), 0])
    return quat_multiply(quat_from_yaw(yaw), quat_multiply(qp, qr))


def test_intrinsics():
    K = camera_intrinsics(64, 48, 90.0)
    np.testing.assert_allclose(K, [[32, 0, 31.5], [0, 32, 23.5], [0, 0, 1]])
    with pytest.raises(ValueError):
        camera_intrinsics(64, 64, 180.0)


def test_shapes_dtypes_and_single_pose():
    plan = room()
    rgb, depth = render_rgbd(plan, np.zeros((3, 3)) + [0, 0, H_CAM], level([0, 1, 2]), width=48, height=32)
    assert rgb.shape == (3, 32, 48, 3) and rgb.dtype == np.uint8
    assert depth.shape == (3, 32, 48) and depth.dtype == np.float32
    rgb1, depth1 = render_rgbd(plan, np.array([0, 0, H_CAM]), level(0.0)[0], width=48, height=32)
    assert rgb1.shape == (1, 32, 48, 3)
    np.testing.assert_array_equal(rgb1[0], rgb[0])
    rgb0, depth0 = render_rgbd(plan, np.zeros((0, 3)), np.zeros((0, 4)))
    assert rgb0.shape == (0, 64, 64, 3) and depth0.shape == (0, 64, 64)


@pytest.mark.parametrize("size", [64, 65])
def test_known_answer_square_room(size):
    """Centre of a 4-m room, facing +x: the facing wall is at z-depth 2 everywhere it is seen."""
    plan = room(side=4.0, height=2.8, elevation=3.0)  # an upper floor: camera z is building-frame
    rgb, depth = render_rgbd(plan, np.array([[0.0, 0.0, 3.0 + H_CAM]]), level(0.0), width=size, height=size)
    d = depth[0]
    K = camera_intrinsics(size, size, 90.0)
    f, c = K[0, 0], K[0, 2]
    mid = size // 2
    np.testing.assert_allclose(d[mid, mid], 2.0, rtol=1e-5)  # centre column at the horizon
    np.testing.assert_allclose(d[mid, 0], 2.0, rtol=1e-5)  # side columns: same z-depth
    np.testing.assert_allclose(d[mid, -1], 2.0, rtol=1e-5)
    # rows that see the facing wall at every column: between the wall's bottom and top edges
    rows = [r for r in range(size) if -H_CAM <= -(r - c) / f * 2.0 <= 2.8 - H_CAM]
    np.testing.assert_allclose(d[rows][:, 10:-10], 2.0, rtol=1e-5)
    # floor: bottom row, z-depth = camera height / downward slope of the row
    b = (size - 1 - c) / f
    np.testing.assert_allclose(d[-1, mid], H_CAM / b, rtol=1e-5)
    # ceiling: top row
    np.testing.assert_allclose(d[0, mid], (2.8 - H_CAM) / b, rtol=1e-5)
    # the floor is textured, the ceiling lighter than the floor
    assert rgb[0, 0].astype(int).sum() > rgb[0, -1].astype(int).sum()


def test_turning_sees_a_different_wall_colour():
    plan = room()
    rgb, depth = render_rgbd(plan, np.array([[0.0, 0.0, H_CAM]] * 2), level([0.0, np.pi / 2]))
    np.testing.assert_allclose(depth[:, 31:33, 31:33], 2.0, rtol=1e-5)
    centre = rgb[:, 24:40, 24:40].reshape(2, -1, 3).astype(float).mean(axis=1)
    assert np.abs(centre[0] - centre[1]).sum() > 30


def test_wall_style_none_derives_styles():
    plan = room()
    plan.wall_style = None
    rgb, _ = render_rgbd(plan, np.zeros((4, 3)) + [0, 0, H_CAM], level(np.arange(4) * np.pi / 2))
    colours = rgb[:, 30:34, 20:44].reshape(4, -1, 3).astype(float).mean(axis=1)
    assert len({tuple(np.round(c)) for c in colours}) >= 2


def test_nothing_in_range_gives_zero_depth():
    big = room(side=100.0)
    _, depth = render_rgbd(big, np.array([[0.0, 0.0, H_CAM]]), level(0.0), max_range_m=30.0)
    assert np.all(depth[0, 31:33] == 0)  # horizon rows: wall at 50 m, floor and ceiling beyond 30 m
    assert np.all(depth[0, -1] > 0) and np.all(depth[0, -1] <= 30)  # the floor nearby is measured
    empty = FloorPlan("empty", np.zeros((0, 2, 2)), bounds=np.array([-5.0, -5, 5, 5]))
    rgb, depth = render_rgbd(empty, np.array([[0.0, 0.0, H_CAM]]), level(0.0))
    assert np.all(depth[0, 31:33] == 0)
    assert np.all(depth[0, -1] > 0)
    assert len(np.unique(rgb[0, 31].reshape(-1, 3), axis=0)) == 1 or np.all(rgb[0, 31] < 60)


def test_chunking_is_identical():
    plan = office()
    rng = np.random.default_rng(3)
    n = 9
    pos = np.c_[rng.uniform(1, 29, n), rng.uniform(1, 15, n), rng.uniform(1.2, 1.8, n)]
    yaw = rng.uniform(-np.pi, np.pi, n)
    for quat in (
        level(yaw),
        np.array([tilt(r, p, y) for r, p, y in zip(rng.normal(0, 0.05, n), rng.normal(0, 0.05, n), yaw)]),
    ):
        rgb, depth = render_rgbd(plan, pos, quat, conf={"max_elements": 1 << 24})
        rgb2, depth2 = render_rgbd(plan, pos, quat, conf={"chunk_frames": 2, "wall_chunk": 7})
        np.testing.assert_array_equal(rgb, rgb2)
        np.testing.assert_array_equal(depth, depth2)


def test_backprojected_depth_lies_on_the_surfaces():
    plan = room(side=6.0, elevation=2.0)
    pos = np.array([[0.7, -1.1, 2.0 + 1.3], [-1.9, 2.0, 2.0 + 1.6]])
    quat = level([0.4, -2.3])
    _, depth = render_rgbd(plan, pos, quat, width=40, height=30, hfov_deg=75.0)
    K = camera_intrinsics(40, 30, 75.0)
    pts = backproject_depth(depth, K, pos, quat)
    assert np.all(np.isfinite(pts))
    z = pts[..., 2] - plan.elevation_m
    on_floor, on_ceiling = np.abs(z) < 1e-4, np.abs(z - plan.height_m) < 1e-4
    wall_px = ~(on_floor | on_ceiling)
    assert wall_px.sum() > 500 and on_floor.sum() > 50 and on_ceiling.sum() > 50
    dist = point_segment_distance(pts[wall_px][:, :2], plan.walls).min(axis=1)
    assert dist.max() < 1e-3
    assert np.all((z[wall_px] > -1e-4) & (z[wall_px] < plan.height_m + 1e-4))
    # device-frame back-projection: x (forward) is the depth
    dev = backproject_depth(depth[0], K)
    np.testing.assert_allclose(dev[..., 0], depth[0], rtol=1e-12)


def test_tilted_camera_geometry():
    """Pitched and rolled cameras: back-projected depth lies on the walls, floor and ceiling."""
    plan = room(side=6.0)
    pos = np.array([[0.3, 0.2, 1.4]] * 2)
    quat = np.array([tilt(0.0, np.radians(6), 0.5), tilt(np.radians(4), np.radians(-3), -1.0)])
    _, depth = render_rgbd(plan, pos, quat)
    K = camera_intrinsics(64, 64, 90.0)
    pts = backproject_depth(depth, K, pos, quat)
    z = pts[..., 2]
    dist_wall = point_segment_distance(pts[..., :2].reshape(-1, 2), plan.walls).min(axis=1).reshape(z.shape)
    err = np.minimum(np.minimum(np.abs(z), np.abs(z - plan.height_m)), dist_wall)
    assert np.median(err) < 1e-4 and err.max() < 0.02  # inexact only near wall ends
    # pitched down: the horizon moves up, the image sees more floor than the level camera
    _, d_level = render_rgbd(plan, pos[:1], level(0.5))

    def floor_rows(d, p, q):
        return (np.abs(backproject_depth(d, K, p, q)[0, :, 32, 2]) < 1e-3).sum()

    assert floor_rows(depth[:1], pos[:1], quat[:1]) > floor_rows(d_level, pos[:1], level(0.5))


def test_split_walls_look_like_one_wall():
    pos = np.array([[0.3, -0.4, H_CAM]] * 3)
    quat = level([0.2, 1.9, -2.5])
    rgb1, d1 = render_rgbd(room(side=8.0), pos, quat)
    rgb2, d2 = render_rgbd(room(side=8.0, split=16), pos, quat)
    np.testing.assert_allclose(d1, d2, rtol=1e-5)
    same = np.all(rgb1 == rgb2, axis=-1).mean()
    assert same > 0.99


def test_floor_carries_position_information():
    empty = FloorPlan("empty", np.zeros((0, 2, 2)), bounds=np.array([-20.0, -20, 20, 20]))
    rgb, _ = render_rgbd(
        empty, np.array([[0.0, 0.0, H_CAM], [3.3, 1.7, H_CAM], [0.0, 0.0, H_CAM]]), level([0.0, 0.0, 0.0])
    )
    floor = rgb[:, 40:].astype(int)
    assert np.abs(floor[0] - floor[1]).mean() > 5
    np.testing.assert_array_equal(rgb[0], rgb[2])


def test_determinism_and_noise():
    plan = office()
    pos = np.array([[3.0, 8.0, 1.5], [12.0, 3.0, 1.6]])
    quat = level([0.0, 1.0])
    a = render_rgbd(plan, pos, quat)
    b = render_rgbd(plan, pos, quat)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    n1 = render_rgbd(plan, pos, quat, conf={"noise": True, "seed": 5})
    n2 = render_rgbd(plan, pos, quat, conf={"noise": True, "seed": 5})
    n3 = render_rgbd(plan, pos, quat, conf={"noise": True, "seed": np.random.default_rng(6)})
    np.testing.assert_array_equal(n1[0], n2[0])
    np.testing.assert_array_equal(n1[1], n2[1])
    assert not np.array_equal(n1[0], n3[0])
    assert 0 < np.abs(n1[0].astype(int) - a[0]).mean() < 6
    valid = a[1] > 0
    np.testing.assert_array_equal(n1[1] > 0, valid)
    assert np.median(np.abs(n1[1][valid] / a[1][valid] - 1)) < 0.03


def test_bad_inputs():
    plan = room()
    with pytest.raises(DataError):
        render_rgbd(plan, np.zeros((2, 2)), level([0, 0]))
    with pytest.raises(DataError):
        render_rgbd(plan, np.zeros((2, 3)), level([0]))
    with pytest.raises(ConfigError):
        render_rgbd(plan, np.zeros((1, 3)), level([0]), conf={"nosie": True})
    with pytest.raises(ValueError):
        render_rgbd(plan, np.zeros((1, 3)), level([0]), max_range_m=0)


def test_render_throughput_runs():
    fps = render_throughput(office(), n=16, seed=0)
    assert np.isfinite(fps) and fps > 0
