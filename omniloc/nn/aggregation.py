"""Global image descriptors from CNN feature maps: GeM and NetVLAD pooling, L2 normalisation.

A place-recognition network turns an image into one vector whose inner products rank the database
(retrieval by the closest known place). These blocks pool a feature map ``(N, C, H, W)`` into that
vector:

* :func:`gem` / :class:`GeM`: generalised-mean pooling, ``f_c = (mean_i x_ic^p)^(1/p)`` per channel
  (Radenović, Tolias, Chum, "Fine-tuning CNN image retrieval with no human annotation", TPAMI 2018,
  Eq. 2-3). ``p = 1`` is average pooling, ``p -> inf`` max pooling; ``p`` is learned (init 3).
* :func:`netvlad` / :class:`NetVLAD`: soft-assignment of every local feature to ``K`` clusters and
  the sum of its residuals to learnable centroids (Arandjelović et al., "NetVLAD: CNN architecture
  for weakly supervised place recognition", CVPR 2016, Eq. 1-4), intra-normalised per cluster and
  then L2-normalised as a whole (Sec. 3.1). :meth:`NetVLAD.init_from` starts the centroids and the
  assignment from seeded k-means of sample local features (scikit-learn's ``KMeans``).
* :func:`l2_normalize` / :class:`L2Norm`.

Device and dtype follow the inputs (the functions) or the parameters (the modules).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["gem", "GeM", "netvlad", "NetVLAD", "l2_normalize", "L2Norm", "netvlad_alpha"]


def l2_normalize(x: torch.Tensor, dim: int = -1, eps: float = 1e-12) -> torch.Tensor:
    """``x / max(||x||_2, eps)`` along ``dim`` (any shape; unit vectors, zero stays zero)."""
    return F.normalize(x, p=2.0, dim=dim, eps=eps)


class L2Norm(nn.Module):
    """L2 normalisation along ``dim`` (:func:`l2_normalize`); no parameters.

    Shapes
    ------
    any -> the same, with unit norm along ``dim`` (default 1, the feature axis of ``(N, D)``).
    """

    def __init__(self, dim: int = 1, eps: float = 1e-12):
        super().__init__()
        self.dim, self.eps = int(dim), float(eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return l2_normalize(x, self.dim, self.eps)


# ============================================================================ GeM
def gem(
    x: torch.Tensor, p: torch.Tensor | float = 3.0, eps: float = 1e-6, grid: tuple[int, int] | None = None
) -> torch.Tensor:
    """Generalised-mean pooling over the spatial axes (Radenović et al. 2018, Eq. 2-3).

    ``f_c = (1/|X| sum_{i in X} max(x_ic, eps)^p)^(1/p)``; the clamp keeps the power defined for the
    (ReLU, non-negative) features and gives a gradient everywhere. With ``grid``, ``X`` is each cell
    of a ``gh x gw`` grid over the map (adaptive pooling's cells), so that the descriptor keeps the
    coarse spatial layout (a camera that always looks the same way, e.g. from a train).

    Parameters
    ----------
    x : (N, C, H, W)
        Feature map (non-negative after a ReLU; smaller values are clamped to ``eps``).
    p : float or scalar tensor
        The pooling exponent, ``p >= 1`` in practice: 1 is average pooling, large ``p`` tends to
        max pooling. A tensor ``p`` receives a gradient.
    eps : float
    grid : (gh, gw), optional
        Pool each cell of this grid separately.

    Returns
    -------
    (N, C), or (N, C * gh * gw) with ``grid`` (channel-major: ``C`` blocks of ``gh * gw`` cells).
    """
    if x.dim() != 4:
        raise ValueError(f"gem expects a (N, C, H, W) feature map, got shape {tuple(x.shape)}")
    y = x.clamp(min=eps).pow(p)
    if grid is None:
        return y.mean(dim=(2, 3)).pow(1.0 / p)
    return F.adaptive_avg_pool2d(y, tuple(int(g) for g in grid)).flatten(1).pow(1.0 / p)


class GeM(nn.Module):
    """Generalised-mean pooling with a learnable exponent (:func:`gem`).

    Parameters
    ----------
    p : float
        Initial exponent (3, the paper's initialisation).
    eps : float
        Clamp of the features.
    learn_p : bool
        Learn ``p`` (a parameter) or keep it fixed (a buffer).
    grid : (gh, gw), optional
        Pool each cell of a grid (:func:`gem`).

    Shapes
    ------
    ``(N, C, H, W)`` -> ``(N, C)``, or ``(N, C * gh * gw)`` with ``grid``.
    """

    def __init__(self, p: float = 3.0, eps: float = 1e-6, learn_p: bool = True, grid: tuple[int, int] | None = None):
        super().__init__()
        if not float(p) > 0:
            raise ValueError(f"GeM p must be positive, got {p!r}")
        value = torch.tensor(float(p))
        if learn_p:
            self.p = nn.Parameter(value)
        else:
            self.register_buffer("p", value)
        self.eps = float(eps)
        self.grid = None if grid is None else (int(grid[0]), int(grid[1]))
        self.cells = 1 if self.grid is None else self.grid[0] * self.grid[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return gem(x, self.p.to(x.dtype), self.eps, self.grid)

    def extra_repr(self) -> str:
        return f"p={float(self.p.detach()):.4g}, eps={self.eps}, grid={self.grid}"


# ============================================================================ NetVLAD
def netvlad(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    centroids: torch.Tensor,
    normalize_input: bool = True,
    eps: float = 1e-12,
) -> torch.Tensor:
    """The NetVLAD descriptor of a feature map (Arandjelović et al. 2016, Eq. 4 and Sec. 3.1).

    ``V(k) = sum_i a_k(x_i) (x_i - c_k)`` with the soft assignment
    ``a_k(x_i) = softmax_k(w_k^T x_i + b_k)`` (a 1x1 convolution), then each ``V(k)`` divided by its
    L2 norm (intra-normalisation) and the flattened ``K x C`` vector by its L2 norm.

    Parameters
    ----------
    x : (N, C, H, W)
        Local features (``H x W`` of them per image).
    weight : (K, C), bias : (K,) or None
        Assignment weights ``w_k`` and biases ``b_k``.
    centroids : (K, C)
        ``c_k``.
    normalize_input : bool
        L2-normalise every local feature (over ``C``) first, as in the paper's network.
    eps : float
        Floor of the norms.

    Returns
    -------
    (N, K * C)
        Unit vectors; cluster ``k`` occupies entries ``k * C .. (k + 1) * C - 1``.
    """
    if x.dim() != 4:
        raise ValueError(f"netvlad expects a (N, C, H, W) feature map, got shape {tuple(x.shape)}")
    n, c = x.shape[:2]
    if weight.shape[1] != c or centroids.shape[1] != c or weight.shape[0] != centroids.shape[0]:
        raise ValueError(
            f"netvlad: features have {c} channels, weight {tuple(weight.shape)} and centroids "
            f"{tuple(centroids.shape)} must be (K, {c})"
        )
    feats = x.flatten(2)  # (N, C, M)
    if normalize_input:
        feats = l2_normalize(feats, dim=1, eps=eps)
    logits = torch.einsum("kc,ncm->nkm", weight, feats)
    if bias is not None:
        logits = logits + bias[None, :, None]
    a = logits.softmax(dim=1)  # (N, K, M)
    # sum_i a_k(x_i) x_i - (sum_i a_k(x_i)) c_k
    vlad = torch.einsum("nkm,ncm->nkc", a, feats) - a.sum(2)[:, :, None] * centroids[None]
    vlad = l2_normalize(vlad, dim=2, eps=eps)
    return l2_normalize(vlad.reshape(n, -1), dim=1, eps=eps)


def netvlad_alpha(features: np.ndarray, centroids: np.ndarray, ratio: float = 100.0) -> float:
    """The assignment sharpness ``alpha`` for which, on average over ``features``, the nearest centroid
    gets ``ratio`` times the weight of the second nearest.

    With ``a_k ~ exp(-alpha ||x - c_k||^2)`` (Arandjelović et al. Eq. 2), the weight ratio of the two
    nearest centroids is ``exp(alpha (d_2 - d_1))`` for squared distances ``d_1 <= d_2``, so
    ``alpha = log(ratio) / mean(d_2 - d_1)``.

    Parameters
    ----------
    features : (M, C), centroids : (K, C), K >= 2
    ratio : float
        > 1.
    """
    d2 = ((features[:, None, :] - centroids[None, :, :]) ** 2).sum(-1)
    two = np.sort(d2, axis=1)[:, :2]
    gap = float(np.mean(two[:, 1] - two[:, 0]))
    return float(math.log(ratio) / max(gap, 1e-12))


class NetVLAD(nn.Module):
    """NetVLAD pooling (:func:`netvlad`) with a 1x1-convolution soft assignment and learnable centroids.

    The assignment weights ``w_k, b_k`` and the centroids ``c_k`` are separate parameters (the
    paper's decoupling, Sec. 3.1), so that training can move them independently.

    Parameters
    ----------
    dim : int
        ``C``, channels of the local features.
    clusters : int
        ``K``.
    normalize_input : bool
        L2-normalise each local feature before the assignment (the paper's network).
    alpha : float
        Sharpness of the initial assignment ``w_k = 2 alpha c_k``, ``b_k = -alpha ||c_k||^2``
        (Eq. 2-3) when the centroids are set by :meth:`init_from` without ``alpha``.

    Attributes
    ----------
    out_features : int
        ``K * C``.

    Shapes
    ------
    ``(N, C, H, W)`` -> ``(N, K * C)``, unit vectors.

    Notes
    -----
    Before :meth:`init_from`, the centroids are uniform on the unit sphere (seeded by torch's
    generator) and the assignment is ``w_k = 2 alpha c_k``, ``b_k = -alpha``.
    """

    def __init__(self, dim: int, clusters: int = 16, normalize_input: bool = True, alpha: float = 10.0):
        super().__init__()
        if int(dim) < 1 or int(clusters) < 1:
            raise ValueError(f"NetVLAD dim and clusters must be >= 1, got {dim!r} and {clusters!r}")
        self.dim, self.clusters, self.normalize_input = int(dim), int(clusters), bool(normalize_input)
        self.alpha = float(alpha)
        self.centroids = nn.Parameter(l2_normalize(torch.randn(self.clusters, self.dim), dim=1))
        self.assign = nn.Conv2d(self.dim, self.clusters, kernel_size=1, bias=True)
        self._set_assignment(self.alpha)
        self.out_features = self.clusters * self.dim

    @torch.no_grad()
    def _set_assignment(self, alpha: float) -> None:
        c = self.centroids.detach()
        self.assign.weight.copy_((2.0 * alpha * c)[:, :, None, None])
        self.assign.bias.copy_(-alpha * c.pow(2).sum(1))

    @torch.no_grad()
    def init_from(
        self, features: torch.Tensor | np.ndarray, seed: int = 0, alpha: float | None = None, n_init: int = 3
    ):
        """Centroids from k-means of sample local features and the matching assignment (Sec. 3.1).

        Parameters
        ----------
        features : (M, C) local features, or (N, C, H, W) feature maps (every location is one)
            At least ``K`` of them; L2-normalised here first when ``normalize_input``.
        seed : int
            ``random_state`` of scikit-learn's ``KMeans`` (the result depends only on it and the data).
        alpha : float, optional
            Assignment sharpness; default :func:`netvlad_alpha` of the features (the nearest centroid
            weighs 100 times the second on average), or :attr:`alpha` for one cluster.
        n_init : int
            k-means restarts.

        Returns
        -------
        self
        """
        from sklearn.cluster import KMeans

        f = torch.as_tensor(features).detach().to("cpu", torch.float64)
        if f.dim() == 4:
            f = f.permute(0, 2, 3, 1).reshape(-1, f.shape[1])
        if f.dim() != 2 or f.shape[1] != self.dim:
            raise ValueError(f"NetVLAD.init_from expects (M, {self.dim}) or (N, {self.dim}, H, W) features")
        if f.shape[0] < self.clusters:
            raise ValueError(f"NetVLAD.init_from needs at least {self.clusters} features, got {f.shape[0]}")
        if self.normalize_input:
            f = l2_normalize(f, dim=1)
        x = f.numpy()
        km = KMeans(n_clusters=self.clusters, n_init=int(n_init), random_state=int(seed)).fit(x)
        centres = km.cluster_centers_
        if alpha is None:
            alpha = netvlad_alpha(x, centres) if self.clusters > 1 else self.alpha
        self.alpha = float(alpha)
        self.centroids.copy_(torch.as_tensor(centres, dtype=self.centroids.dtype))
        self._set_assignment(self.alpha)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.assign.weight[:, :, 0, 0]
        return netvlad(x, w, self.assign.bias, self.centroids, self.normalize_input)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, clusters={self.clusters}, normalize_input={self.normalize_input}"
