"""Known-answer tests of the manifold geometry (OT-Isomap Sec. 3.3)."""

import numpy as np
import pytest

from omniloc.nn.manifold import (
    classical_mds,
    free_space_geodesics,
    geodesic_distances,
    knn_pairs,
    local_covariances,
    local_stress_refine,
    pushforward_distances,
    sample_triplets,
    similarity_procrustes,
)


def test_pushforward_distance_eq6_known_answer():
    protos = np.array([[0.0, 0.0], [2.0, 0.0]])
    cov = np.array([np.diag([4.0, 1.0]), np.eye(2)])
    # 1/2 * d^T (C_i^+ + C_j^+) d with d = (2, 0): 1/2 * (4 * 0.25 + 4 * 1) = 2.5
    d = pushforward_distances(protos, cov, np.array([[0, 1]]))
    np.testing.assert_allclose(d, [np.sqrt(2.5)])


def test_pushforward_uses_the_pseudo_inverse_of_rank_deficient_covariances():
    protos = np.array([[0.0, 0.0], [0.0, 3.0], [1.0, 0.0]])
    flat = np.diag([1.0, 0.0])  # no variance along y: the pseudo-inverse ignores that direction
    cov = np.array([flat, flat, flat])
    d = pushforward_distances(protos, cov, np.array([[0, 1], [0, 2]]))
    np.testing.assert_allclose(d, [0.0, 1.0])
    # rank keeps only the principal direction: diag(4, 1) with rank 1 -> only x counts, 1/4 per unit^2
    d = pushforward_distances(protos, np.array([np.diag([4.0, 1.0])] * 3), np.array([[0, 2], [0, 1]]), rank=1)
    np.testing.assert_allclose(d, [0.5, 0.0])


def test_pushforward_falls_back_to_scaled_euclidean_for_single_sample_clusters():
    protos = np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 0.0], [7.0, 0.0]])
    cov = np.array([np.eye(2) * 0.25, np.eye(2) * 0.25, np.zeros((2, 2)), np.zeros((2, 2))])
    d = pushforward_distances(protos, cov, np.array([[0, 1], [2, 3]]))
    # pair (0, 1): 1/2 * (4 + 4) = 4 -> 2, ratio 2 per unit; pair (2, 3) has no covariance: 2 * ratio = 4
    np.testing.assert_allclose(d, [2.0, 4.0])


def test_local_covariances_known_answer():
    x = np.array([[0.0, 0.0], [2.0, 0.0], [5.0, 5.0]])
    cov, counts = local_covariances(x, np.array([0, 0, 1]), 2)
    np.testing.assert_array_equal(counts, [2, 1])
    np.testing.assert_allclose(cov[0], [[2.0, 0.0], [0.0, 0.0]])
    np.testing.assert_allclose(cov[1], 0.0)


def _u_corridor(step=1.0, arm=10.0, gap=3.0):
    left = [(0.0, y) for y in np.arange(arm, 0, -step)]
    bottom = [(x, 0.0) for x in np.arange(0.0, gap + 1e-9, step)]
    right = [(gap, y) for y in np.arange(step, arm + 1e-9, step)]
    return np.array(left + bottom + right)


def test_geodesics_follow_a_u_shaped_corridor_where_euclidean_short_circuits():
    pts = _u_corridor()
    pairs = knn_pairs(pts, 2)
    lengths = np.linalg.norm(pts[pairs[:, 0]] - pts[pairs[:, 1]], axis=1)
    d, info = geodesic_distances(len(pts), pairs, lengths)
    top_left, top_right = 0, len(pts) - 1
    assert np.linalg.norm(pts[top_left] - pts[top_right]) == pytest.approx(3.0)
    assert d[top_left, top_right] == pytest.approx(10.0 + 3.0 + 10.0)
    assert info == {"n_components": 1, "bridges": []}
    # along the path the geodesic is the arc length everywhere
    arc = np.r_[0, np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))]
    np.testing.assert_allclose(d[0], arc)
    np.testing.assert_allclose(d, d.T)


def test_disconnected_graphs_raise_or_are_joined_and_reported():
    pts = np.array([[0.0, 0.0], [1.0, 0.0], [10.0, 0.0], [11.0, 0.0]])
    pairs = np.array([[0, 1], [2, 3]])
    lengths = np.array([2.0, 2.0])  # twice the Euclidean length
    with pytest.raises(ValueError, match="2 disconnected components"):
        geodesic_distances(4, pairs, lengths)
    d, info = geodesic_distances(4, pairs, lengths, points=pts)
    assert info["n_components"] == 2 and len(info["bridges"]) == 1
    assert np.isfinite(d).all()
    # the bridge (1, 2) is 9 m Euclidean, scaled by the graph's length ratio 2
    assert d[1, 2] == pytest.approx(18.0) and d[0, 3] == pytest.approx(22.0)


def test_classical_mds_and_procrustes_recover_a_configuration():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 2)) * [5, 2]
    d = np.linalg.norm(x[:, None] - x[None], axis=-1)
    y = classical_mds(d, 2)
    np.testing.assert_allclose(np.linalg.norm(y[:, None] - y[None], axis=-1), d, atol=1e-8)
    s, r, t = similarity_procrustes(y, x)
    np.testing.assert_allclose(s * y @ r.T + t, x, atol=1e-8)
    # a known similarity with a reflection
    theta = 0.7
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]]) @ np.diag([1, -1])
    z = 2.5 * x @ rot.T + [3.0, -1.0]
    s, r, t = similarity_procrustes(x, z)
    assert s == pytest.approx(2.5)
    np.testing.assert_allclose(r, rot, atol=1e-10)
    np.testing.assert_allclose(t, [3.0, -1.0], atol=1e-10)
    s, r, _ = similarity_procrustes(x, z, reflection=False)
    assert np.linalg.det(r) == pytest.approx(1.0)


def test_triplets_respect_the_temporal_windows():
    rng = np.random.default_rng(0)
    t = np.r_[np.arange(0, 100.0), np.arange(0, 5.0)]
    group = np.r_[np.zeros(100, int), np.ones(5, int)]
    tri = sample_triplets(t, group, 4, pos_max=2.0, neg_min=10.0, neg_max=30.0, rng=rng)
    assert tri.shape[1] == 3 and len(tri) == 4 * 105
    a, p, n = tri.T
    assert (a != p).all()
    assert (np.abs(t[a] - t[p]) <= 2.0).all() and (group[a] == group[p]).all()
    long = group[a] == 0  # the long walk has negatives in its own window
    dn = np.abs(t[a] - t[n])[long]
    assert ((dn >= 10.0) & (dn <= 30.0)).all() and (group[n][long] == 0).all()
    assert (group[n][~long] == 0).all()  # the short walk borrows them from another one
    with pytest.raises(ValueError, match="pos_max < neg_min"):
        sample_triplets(t, group, 1, 5.0, 2.0, 3.0, rng)


def test_free_space_geodesics_walk_around_a_wall():
    # a 5 x 4 grid (1 m) cut by a wall x = 2 from y = 0 up to y = 2.5: the way round is the top row
    xs, ys = np.meshgrid(np.arange(5.0) + 0.5, np.arange(4.0) + 0.5)
    pts = np.c_[xs.ravel(), ys.ravel()]
    walls = np.array([[[2.0, 0.0], [2.0, 2.5]]])
    d = free_space_geodesics(pts, walls, radius=1.01)  # 4-neighbour links
    a = int(np.flatnonzero((pts == [1.5, 0.5]).all(1))[0])
    b = int(np.flatnonzero((pts == [2.5, 0.5]).all(1))[0])
    assert np.linalg.norm(pts[a] - pts[b]) == pytest.approx(1.0)
    assert d[a, b] == pytest.approx(3 + 1 + 3)  # up three rows, across, down three
    np.testing.assert_allclose(d, d.T)
    # sources pick rows; a walled-off point is unreachable (inf), never silently finite
    walls_closed = np.vstack([walls, [[[2.0, 2.5], [2.0, 4.0]]]])
    d2 = free_space_geodesics(pts, walls_closed, radius=1.01, sources=np.array([a]))
    assert d2.shape == (1, len(pts)) and np.isinf(d2[0, b]) and d2[0, a] == 0.0


def test_local_stress_refine_restores_a_displaced_point_and_respects_forbidden_targets():
    # targets: a 1-D corridor of 10 samples 1 m apart; sources: 5 points at 2, 3, 4, 5, 6 m
    t = np.arange(10.0)
    d_t = np.abs(t[:, None] - t[None])
    truth = np.array([2, 3, 4, 5, 6])
    d_s = d_t[np.ix_(truth, truth)]
    start = truth.copy()
    start[2] = 9  # one point thrown to the far end
    a, sweeps = local_stress_refine(start, d_s, d_t, power=2.0, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(a, truth)
    assert 1 < sweeps <= 20
    # the same with target 4 forbidden for that point: it takes the best allowed one instead
    forbidden = np.zeros((5, 10), bool)
    forbidden[2, 4] = True
    a2, _ = local_stress_refine(start, d_s, d_t, forbidden=forbidden, rng=np.random.default_rng(0))
    assert a2[2] != 4 and a2[2] in (3, 5)
    np.testing.assert_array_equal(np.delete(a2, 2), np.delete(truth, 2))
