"""Manifold geometry on prototypes (numpy / SciPy): OT-Isomap Sec. 3.3, landmark Isomap, Procrustes.

Every function takes and returns plain arrays; nothing here imports torch.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "sample_triplets",
    "local_covariances",
    "pushforward_distances",
    "knn_pairs",
    "connect_components",
    "geodesic_distances",
    "classical_mds",
    "similarity_procrustes",
    "free_space_geodesics",
    "local_stress_refine",
]


def sample_triplets(
    t: np.ndarray,
    group: np.ndarray,
    n_per_anchor: int,
    pos_max: float,
    neg_min: float,
    neg_max: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Anchor / positive / negative indices by temporal vicinity (OT-Isomap Sec. 3.3.1).

    The positive is a sample of the same sequence with ``0 < |t_p - t_a| <= pos_max``; the
    negative one of the same sequence with ``neg_min <= |t_n - t_a| <= neg_max`` (the upper
    bound keeps negatives from the far future, where the observer may be back at the same place).
    An anchor whose sequence has no sample in the negative window takes its negative from another
    sequence; anchors without a positive are skipped.

    Parameters
    ----------
    t : (N,) seconds
        Sample times; any order.
    group : (N,) int
        Sequence (recording) of each sample.
    n_per_anchor : int
        Triplets drawn per anchor.
    pos_max, neg_min, neg_max : float, seconds
        ``pos_max < neg_min <= neg_max``.
    rng : numpy Generator

    Returns
    -------
    (M, 3) int64
        Rows ``(anchor, positive, negative)`` into the N samples.
    """
    t = np.asarray(t, dtype=np.float64)
    group = np.asarray(group)
    if t.shape != group.shape or t.ndim != 1:
        raise ValueError(f"t and group must be (N,) arrays of the same length, got {t.shape} and {group.shape}")
    if not (0 < pos_max < neg_min <= neg_max):
        raise ValueError(f"need 0 < pos_max < neg_min <= neg_max, got {pos_max}, {neg_min}, {neg_max}")
    out = []
    all_idx = np.arange(len(t))
    for g in np.unique(group):
        idx = all_idx[group == g]
        idx = idx[np.argsort(t[idx], kind="stable")]
        tg = t[idx]
        n = len(idx)
        if n < 2:
            continue
        a = np.repeat(np.arange(n), n_per_anchor)
        ta = tg[a]
        # positives: [lo, hi) minus the anchor itself
        lo = np.searchsorted(tg, ta - pos_max, "left")
        hi = np.searchsorted(tg, ta + pos_max, "right")
        n_pos = hi - lo - 1
        ok = n_pos > 0
        r = (rng.random(len(a)) * np.maximum(n_pos, 1)).astype(np.int64)
        p = lo + r
        p = p + (p >= a)  # skip the anchor
        # negatives: [t - neg_max, t - neg_min] and [t + neg_min, t + neg_max]
        l1, h1 = np.searchsorted(tg, ta - neg_max, "left"), np.searchsorted(tg, ta - neg_min, "right")
        l2, h2 = np.searchsorted(tg, ta + neg_min, "left"), np.searchsorted(tg, ta + neg_max, "right")
        c1, c2 = h1 - l1, h2 - l2
        total = c1 + c2
        r = (rng.random(len(a)) * np.maximum(total, 1)).astype(np.int64)
        neg = np.where(r < c1, l1 + r, l2 + (r - c1))
        has_neg = total > 0
        tri = np.stack([idx[a], idx[np.minimum(p, n - 1)], idx[np.minimum(neg, n - 1)]], axis=1)
        other = all_idx[group != g]
        if (~has_neg).any() and len(other):
            tri[~has_neg, 2] = rng.choice(other, size=int((~has_neg).sum()))
            has_neg[:] = True
        out.append(tri[ok & has_neg])
    if not out:
        return np.zeros((0, 3), dtype=np.int64)
    return np.concatenate(out).astype(np.int64)


def local_covariances(features: np.ndarray, labels: np.ndarray, n_clusters: int) -> tuple[np.ndarray, np.ndarray]:
    """Covariance of the samples of each cluster (the local covariance ``C(x_i)`` of Eq. 6).

    Parameters
    ----------
    features : (N, D)
    labels : (N,) int in ``[0, n_clusters)``
    n_clusters : int

    Returns
    -------
    covariances : (K, D, D)
        Unbiased (``ddof=1``); zero for clusters with fewer than two samples.
    counts : (K,) int
    """
    x = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    d = x.shape[1]
    counts = np.bincount(labels, minlength=n_clusters)
    sums = np.zeros((n_clusters, d))
    np.add.at(sums, labels, x)
    means = sums / np.maximum(counts, 1)[:, None]
    xc = x - means[labels]
    cov = np.zeros((n_clusters, d, d))
    np.add.at(cov, labels, xc[:, :, None] * xc[:, None, :])
    denom = np.maximum(counts - 1, 1).astype(np.float64)
    cov /= denom[:, None, None]
    cov[counts < 2] = 0.0
    return cov, counts


def _pinv_psd(cov: np.ndarray, rcond: float, rank: int | None) -> np.ndarray:
    """Moore-Penrose pseudo-inverses of symmetric PSD matrices (K, D, D), eigenvalues below
    ``rcond * max`` (and beyond the ``rank`` largest) treated as zero."""
    w, v = np.linalg.eigh(cov)  # ascending
    keep = w > rcond * np.maximum(w[:, -1:], 1e-300)
    keep &= w > 0
    if rank is not None:
        keep[:, : max(cov.shape[-1] - int(rank), 0)] = False
    inv = np.where(keep, 1.0 / np.where(keep, w, 1.0), 0.0)
    return np.einsum("kij,kj,klj->kil", v, inv, v)


def pushforward_distances(
    prototypes: np.ndarray, covariances: np.ndarray, pairs: np.ndarray, rcond: float = 1e-3, rank: int | None = None
) -> np.ndarray:
    """Embedding distances between neighbouring prototypes from local covariances (Eq. 6).

    ``||phi(x_i) - phi(x_j)||^2 ~= 1/2 (x_j - x_i)^T [C^+(x_i) + C^+(x_j)] (x_j - x_i)``, with
    ``C^+`` the Moore-Penrose pseudo-inverse of the local covariance: the Mahalanobis distance
    along the local principal directions of the data manifold (Dsilva et al. 2015).

    Pairs whose two clusters both have a zero pseudo-inverse (fewer than two samples) get their
    Euclidean distance times the median Mahalanobis / Euclidean ratio of the other pairs.

    Parameters
    ----------
    prototypes : (K, D)
    covariances : (K, D, D)
        Local covariance per prototype (see :func:`local_covariances`).
    pairs : (E, 2) int
        Prototype index pairs.
    rcond : float
        Relative eigenvalue cut-off of the pseudo-inverse.
    rank : int, optional
        Keep at most this many principal directions per cluster (e.g. the intrinsic dimension).

    Returns
    -------
    (E,) float64
        Distances (square root of Eq. 6), in units of local standard deviations.
    """
    x = np.asarray(prototypes, dtype=np.float64)
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    pinv = _pinv_psd(np.asarray(covariances, dtype=np.float64), rcond, rank)
    i, j = pairs[:, 0], pairs[:, 1]
    delta = x[j] - x[i]
    d2 = 0.5 * (np.einsum("ed,edf,ef->e", delta, pinv[i], delta) + np.einsum("ed,edf,ef->e", delta, pinv[j], delta))
    dist = np.sqrt(np.maximum(d2, 0.0))
    degenerate = ~np.any(pinv[i] != 0, axis=(1, 2)) & ~np.any(pinv[j] != 0, axis=(1, 2))
    if degenerate.any():
        eucl = np.linalg.norm(delta, axis=1)
        valid = ~degenerate & (eucl > 0)
        ratio = float(np.median(dist[valid] / eucl[valid])) if valid.any() else 1.0
        dist[degenerate] = eucl[degenerate] * ratio
    return dist


def knn_pairs(points: np.ndarray, k: int) -> np.ndarray:
    """Undirected edges of the k-nearest-neighbour graph (Euclidean), each once with ``i < j``.

    Parameters
    ----------
    points : (K, D)
    k : int
        Neighbours per point (excluding itself).

    Returns
    -------
    (E, 2) int64
    """
    from sklearn.neighbors import NearestNeighbors

    points = np.asarray(points, dtype=np.float64)
    k = min(int(k), len(points) - 1)
    if k < 1:
        return np.zeros((0, 2), dtype=np.int64)
    nn = NearestNeighbors(n_neighbors=k + 1).fit(points)
    _, idx = nn.kneighbors(points)
    i = np.repeat(np.arange(len(points)), k)
    j = idx[:, 1:].reshape(-1)
    e = np.sort(np.stack([i, j], axis=1), axis=1)
    e = e[e[:, 0] != e[:, 1]]
    return np.unique(e, axis=0)


def connect_components(
    points: np.ndarray, pairs: np.ndarray, lengths: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list]:
    """Join the connected components of a graph by its shortest bridges.

    While the graph has more than one component, the component of node 0 is joined to the
    nearest other component through the closest pair of points (Euclidean in ``points``); the
    bridge's length is that Euclidean distance times the median edge-length / Euclidean ratio of
    the graph, so it is in the same units as the other edges.

    Parameters
    ----------
    points : (K, D)
    pairs : (E, 2) int
    lengths : (E,)

    Returns
    -------
    pairs : (E + B, 2), lengths : (E + B,)
        The graph with the bridges added.
    bridges : list of (i, j, length)
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    points = np.asarray(points, dtype=np.float64)
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    lengths = np.asarray(lengths, dtype=np.float64)
    n = len(points)
    eucl = np.linalg.norm(points[pairs[:, 0]] - points[pairs[:, 1]], axis=1) if len(pairs) else np.zeros(0)
    ok = eucl > 0
    ratio = float(np.median(lengths[ok] / eucl[ok])) if ok.any() else 1.0
    bridges = []
    while True:
        g = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
        n_comp, comp = connected_components(g, directed=False)
        if n_comp <= 1:
            break
        inside = np.flatnonzero(comp == comp[0])
        outside = np.flatnonzero(comp != comp[0])
        best = (np.inf, -1, -1)
        for chunk in np.array_split(inside, max(1, len(inside) * len(outside) // 4_000_000 + 1)):
            d = np.linalg.norm(points[chunk, None, :] - points[None, outside, :], axis=-1)
            a, b = np.unravel_index(np.argmin(d), d.shape)
            if d[a, b] < best[0]:
                best = (float(d[a, b]), int(chunk[a]), int(outside[b]))
        dist, i, j = best
        length = max(dist * ratio, 1e-12)
        pairs = np.vstack([pairs, [[min(i, j), max(i, j)]]])
        lengths = np.r_[lengths, length]
        bridges.append((min(i, j), max(i, j), length))
    return pairs, lengths, bridges


def geodesic_distances(
    n: int, pairs: np.ndarray, lengths: np.ndarray, points: np.ndarray | None = None
) -> tuple[np.ndarray, dict]:
    """All-pairs shortest-path distances on an undirected weighted graph (Dijkstra, SciPy).

    Parameters
    ----------
    n : int
        Number of nodes.
    pairs : (E, 2) int
        Edges.
    lengths : (E,) positive
        Edge lengths.
    points : (n, D), optional
        Node coordinates. When given, disconnected components are joined by their shortest
        bridges (:func:`connect_components`) and reported; without them a disconnected graph raises.

    Returns
    -------
    D : (n, n) float64
        Symmetric, zero diagonal, finite.
    info : dict
        ``n_components`` (before joining) and ``bridges`` (list of ``(i, j, length)``).

    Raises
    ------
    ValueError
        If the graph is disconnected and ``points`` is not given.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components, shortest_path

    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    lengths = np.asarray(lengths, dtype=np.float64)
    if len(pairs) and (lengths <= 0).any():
        lengths = np.maximum(lengths, 1e-12)  # csgraph drops zero-weight edges
    g = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    n_comp, comp = connected_components(g, directed=False)
    bridges = []
    if n_comp > 1:
        if points is None:
            sizes = np.bincount(comp)
            raise ValueError(
                f"the neighbour graph has {n_comp} disconnected components (sizes {sorted(sizes)[::-1]}); "
                "pass the node coordinates to join them, or raise the number of neighbours"
            )
        pairs, lengths, bridges = connect_components(points, pairs, lengths)
    w = coo_matrix((lengths, (pairs[:, 0], pairs[:, 1])), shape=(n, n)).tocsr()
    d = shortest_path(w, method="D", directed=False)
    return d, {"n_components": int(n_comp), "bridges": bridges}


def classical_mds(distances: np.ndarray, dim: int = 2) -> np.ndarray:
    """Classical (Torgerson) multidimensional scaling, the last step of Isomap.

    Parameters
    ----------
    distances : (n, n)
        Symmetric distance matrix.
    dim : int

    Returns
    -------
    (n, dim)
        Coordinates whose Euclidean distances best approximate ``distances`` (centred; the
        axes are the top eigenvectors of ``-1/2 J D^2 J``).
    """
    d2 = np.asarray(distances, dtype=np.float64) ** 2
    n = len(d2)
    j = np.eye(n) - np.full((n, n), 1.0 / n)
    b = -0.5 * j @ d2 @ j
    w, v = np.linalg.eigh(b)
    order = np.argsort(w)[::-1][:dim]
    return v[:, order] * np.sqrt(np.maximum(w[order], 0.0))


def similarity_procrustes(
    source: np.ndarray, target: np.ndarray, weights: np.ndarray | None = None, reflection: bool = True
) -> tuple[float, np.ndarray, np.ndarray]:
    """Scale, rotation (or reflection) and translation that best map ``source`` onto ``target``.

    Minimises ``sum_i w_i || s R x_i + t - y_i ||^2`` (Umeyama 1991).

    Parameters
    ----------
    source, target : (n, D)
    weights : (n,), optional
    reflection : bool
        Allow ``det R = -1`` (an embedding has no handedness).

    Returns
    -------
    scale : float
    rotation : (D, D)
    translation : (D,)
        ``target ~= scale * source @ rotation.T + translation``.
    """
    x = np.asarray(source, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64)
    w = np.ones(len(x)) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    mx, my = w @ x, w @ y
    xc, yc = x - mx, y - my
    cov = (yc * w[:, None]).T @ xc
    u, s, vt = np.linalg.svd(cov)
    d = np.ones(len(s))
    if not reflection and np.linalg.det(u @ vt) < 0:
        d[-1] = -1.0
    r = u @ np.diag(d) @ vt
    var_x = float(w @ (xc**2).sum(axis=1))
    scale = float((s * d).sum() / var_x) if var_x > 0 else 1.0
    return scale, r, my - scale * r @ mx


def free_space_geodesics(
    points: np.ndarray, walls: np.ndarray, radius: float, sources: np.ndarray | None = None
) -> np.ndarray:
    """Shortest walkable distances between free-space sample points of one floor.

    Points closer than ``radius`` are linked when the straight segment between them crosses no
    wall; Dijkstra on that graph gives the geodesic (walking) distance, which is what the
    prototype geodesics ``D_s`` estimate up to scale.

    Parameters
    ----------
    points : (N, 2) metres
        Free-space samples (e.g. :meth:`omniloc.data.FloorPlan.sample_free_space`), on a grid of
        spacing below ``radius``.
    walls : (W, 2, 2) metres
    radius : float, metres
        Link length; 1.5 x the grid spacing links the 8 grid neighbours.
    sources : (S,) int, optional
        Rows to compute (default: all points).

    Returns
    -------
    (S, N) float64 metres
        ``inf`` between points no walkable path joins.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import dijkstra
    from scipy.spatial import cKDTree

    from ..data.floorplan import count_wall_crossings

    points = np.asarray(points, dtype=np.float64)
    n = len(points)
    pairs = cKDTree(points).query_pairs(float(radius), output_type="ndarray") if n > 1 else np.zeros((0, 2), int)
    if len(pairs) and len(walls):
        pairs = pairs[count_wall_crossings(points[pairs[:, 0]], points[pairs[:, 1]], np.asarray(walls)) == 0]
    length = np.linalg.norm(points[pairs[:, 0]] - points[pairs[:, 1]], axis=1)
    graph = coo_matrix((length, (pairs[:, 0], pairs[:, 1])), shape=(n, n)).tocsr()
    return dijkstra(graph, directed=False, indices=sources)


def local_stress_refine(
    assignment: np.ndarray,
    source_distances: np.ndarray,
    target_distances: np.ndarray,
    forbidden: np.ndarray | None = None,
    power: float = 2.0,
    max_sweeps: int = 20,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, int]:
    """Move each source point to the target sample that best keeps its distances (weighted stress).

    Block-coordinate descent on hard assignments ``a`` of the weighted stress

    ``S(a) = sum_ij w_ij (D_t[a_i, a_j] - D_s[i, j])^2``, ``w_ij = D_s[i, j]^-power``,

    (Sammon's weighting at ``power = 2``: near pairs dominate). Each sweep visits the sources in
    random order and moves each to its best allowed target given the others; it stops when a
    sweep moves nothing. Raising ``power`` over successive calls takes a global match (power 0,
    the Gromov-Wasserstein loss) down to local detail.

    Parameters
    ----------
    assignment : (Ns,) int
        Start: target index of every source.
    source_distances : (Ns, Ns)
        ``D_s``, already in the target's units.
    target_distances : (Nt, Nt)
        ``D_t`` (finite; replace ``inf`` by a large value).
    forbidden : (Ns, Nt) bool, optional
        Targets a source may not take (e.g. another zone); a source with every target forbidden
        may take any.
    power : float
        Weight exponent; pairs at zero distance get the weight of the smallest positive one.
    max_sweeps : int
    rng : numpy Generator, optional

    Returns
    -------
    assignment : (Ns,) int
    sweeps : int
        Sweeps run.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    a = np.asarray(assignment, dtype=np.int64).copy()
    d_s = np.asarray(source_distances, dtype=np.float64)
    d_t = np.asarray(target_distances, dtype=np.float64)
    pos = d_s[d_s > 0]
    floor = pos.min() if len(pos) else 1.0
    w = np.maximum(d_s, floor) ** -float(power)
    np.fill_diagonal(w, 0.0)
    sweeps = 0
    for _ in range(int(max_sweeps)):
        sweeps += 1
        moved = 0
        for i in rng.permutation(len(a)):
            cost = ((d_t[:, a] - d_s[i][None]) ** 2 * w[i][None]).sum(1)
            if forbidden is not None and not forbidden[i].all():
                cost[forbidden[i]] = np.inf
            j = int(np.argmin(cost))
            if j != a[i]:
                a[i] = j
                moved += 1
        if moved == 0:
            break
    return a, sweeps
