"""Learned place descriptors for visual place recognition: networks, metric losses, training, inference.

* :class:`PlaceNet`: a small ResNet (:class:`~omniloc.nn.resnet.ResNet`'s feature map) pooled by GeM,
  GeM over the cells of a coarse grid (which keeps the layout of the view) or NetVLAD
  (:mod:`omniloc.nn.aggregation`), an optional linear projection to ``dim`` and L2 normalisation:
  one unit vector per image, compared by inner product.
* :class:`SequenceDescriptor`: one unit vector for a window of ``L`` consecutive frames, from their
  frame descriptors, by SeqNet's temporal 1-D convolution followed by average pooling over time and
  L2 normalisation (Garg & Milford, "SeqNet: Learning descriptors for sequence-based hierarchical
  place recognition", RA-L 2021, Sec. III-A; :func:`seqnet`). The convolution sees the order of the
  frames (averaging frame descriptors does not) and shares its weights along the window, so a
  window of any length ``>= kernel`` gives a descriptor; it adds ``kernel x D x dim`` weights only
  and trains in seconds on precomputed frame descriptors.
* Metric losses on a batch of descriptors with place labels: :func:`multi_similarity_loss` (Wang
  et al., "Multi-Similarity Loss with General Pair Weighting for Deep Metric Learning", CVPR 2019,
  Eq. 9-12) and :func:`triplet_loss` with batch-hard mining (Hermans, Beyer, Leibe, "In Defense of
  the Triplet Loss for Person Re-Identification", 2017, Eq. 5), and the supervised contrastive loss
  :func:`supervised_contrastive_loss` (Khosla et al. 2020); :func:`place_masks` turns frame indices
  into positive and negative pairs, :func:`travel_coordinate` merges the frames of a stop.
* :func:`augment`: photometric and geometric image augmentation with torch ops, drawn from torch's
  generator (seeded around a fit by :func:`~omniloc.nn.training.seeded`).
* :class:`PlaceModule`: trains either network through the shared
  :class:`~omniloc.nn.training.TrainingModule` on batches of ``P`` places x ``K`` samples, validated by
  recall@1; :func:`train_place_descriptor`, :func:`train_sequence_descriptor`, :func:`describe` and
  :func:`describe_windows` are the entry points.

A *place* is a frame index along a route traversed several times (e.g. Nordland's seasons, where
row ``k`` of every season is the same place). Two samples are positives when their places differ by
at most ``pos_tol`` frames, negatives when by more than ``neg_tol`` (pairs in between are ignored).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._conf import check_types, merge_conf
from .._errors import ConfigError, DataError
from .aggregation import GeM, L2Norm, NetVLAD, l2_normalize
from .resnet import ResNet
from .training import TRAINER_DEFAULTS, TRAINER_TYPES, TrainingModule, fit_lightning, seeded, uses_cuda

__all__ = [
    "AGGREGATIONS",
    "LOSSES",
    "AUGMENT_DEFAULTS",
    "PLACE_DEFAULTS",
    "SEQUENCE_DEFAULTS",
    "PlaceNet",
    "SequenceDescriptor",
    "seqnet",
    "place_masks",
    "multi_similarity_loss",
    "triplet_loss",
    "supervised_contrastive_loss",
    "augment",
    "images_to_tensor",
    "PlaceModule",
    "build_place_net",
    "train_place_descriptor",
    "train_sequence_descriptor",
    "describe",
    "describe_windows",
    "recall_at_1",
]

#: pooling choices of :class:`PlaceNet`
AGGREGATIONS = ("gem", "netvlad", "gem-grid")
#: metric losses of :class:`PlaceModule`
LOSSES = ("ms", "triplet", "supcon")


def images_to_tensor(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    """RGB ``(N, H, W, 3)`` uint8 -> ``(N, 3, H, W)`` float in [-1, 1] (``x / 127.5 - 1``), contiguous."""
    x = torch.as_tensor(images)
    return (x.permute(0, 3, 1, 2).float() / 127.5 - 1.0).contiguous()


# ============================================================================ networks
class PlaceNet(nn.Module):
    """Image -> global place descriptor: ResNet feature map, GeM or NetVLAD pooling, projection, L2.

    GeM: ``L2(W L2(gem(f)) + b)`` (Radenović et al.'s pooling, normalisation and learned whitening);
    GeM-grid: the same with ``gem`` over each cell of a ``gh x gw`` grid, concatenated (a camera that
    always looks along the route, e.g. from a train, sees a place with the same layout: the sky on
    top, the track in the middle; orderless pooling throws that away);
    NetVLAD: ``L2(W netvlad(f) + b)`` (the projection is the paper's PCA-whitening layer, learned).

    Parameters
    ----------
    depth : 18 or 34
        ResNet depth (:class:`~omniloc.nn.resnet.ResNet`).
    width : int
        Channels of the first stage (stages have ``width * (1, 2, 4, 8)``).
    stem : ``"small"`` or ``"imagenet"``
        ``small`` (3x3 stride-1, no pooling) keeps 64x32 images at 8x4 after four stages.
    grid : (gh, gw)
        Cells of ``"gem-grid"`` pooling.
    stem_stride : 1 or 2
        Stride of the ``small`` stem's 3x3 convolution (2 halves the resolution before the stages: about
        4x less computation, a 4x2 map for 64x32 images after four stages).
    stages : 1..4
        How many ResNet stages run (fewer: a finer, shallower feature map with ``width * 2^(stages-1)``
        channels).
    aggregation : ``"gem"``, ``"netvlad"`` or ``"gem-grid"``
        ``gem-grid``: GeM over each cell of a ``grid`` (coarse layout kept, :func:`~omniloc.nn.aggregation.gem`).
    clusters : int
        NetVLAD's ``K``.
    dim : int or None
        Output size of the linear projection; None or 0: no projection (the pooled size).
    gem_p : float
        Initial GeM exponent.
    in_channels : int
    standardize : bool
        Standardise each image channel to zero mean and unit variance over its pixels first (removes
        global brightness, contrast and colour casts, e.g. of snow; the raw-pixel baseline's
        per-image normalisation).

    Attributes
    ----------
    feature_dim : int
        Channels of the feature map.
    out_features : int
        Descriptor size.
    """

    def __init__(
        self,
        depth: int = 18,
        width: int = 16,
        stem: str = "small",
        stages: int = 4,
        aggregation: str = "gem",
        clusters: int = 16,
        dim: int | None = 256,
        gem_p: float = 3.0,
        in_channels: int = 3,
        standardize: bool = False,
        stem_stride: int = 1,
        grid: tuple[int, int] = (2, 4),
    ):
        super().__init__()
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {list(AGGREGATIONS)}, got {aggregation!r}")
        if int(stages) not in (1, 2, 3, 4):
            raise ValueError(f"stages must be 1, 2, 3 or 4, got {stages!r}")
        self.backbone = ResNet(depth, in_channels=in_channels, width=width, stem=stem)
        if int(stem_stride) not in (1, 2) or (int(stem_stride) == 2 and stem != "small"):
            raise ValueError(f"stem_stride must be 1, or 2 with the 'small' stem, got {stem_stride!r}")
        self.stem_stride = int(stem_stride)
        if self.stem_stride == 2:
            self.backbone.conv1.stride = (2, 2)
        self.stages = int(stages)
        for name in ("layer1", "layer2", "layer3", "layer4")[self.stages :]:
            setattr(self.backbone, name, nn.Identity())
        self.backbone.avgpool = nn.Identity()
        self.feature_dim = int(width) * 2 ** (self.stages - 1)
        self.backbone.out_features = self.feature_dim
        self.aggregation = aggregation
        self.grid = (int(grid[0]), int(grid[1]))
        if aggregation in ("gem", "gem-grid"):
            gem = GeM(gem_p, grid=self.grid if aggregation == "gem-grid" else None)
            self.pool: nn.Module = nn.Sequential(gem, L2Norm(1))
            pooled = self.feature_dim * gem.cells
        else:
            self.pool = NetVLAD(self.feature_dim, clusters)
            pooled = self.pool.out_features
        self.project: nn.Module = nn.Linear(pooled, int(dim)) if dim else nn.Identity()
        self.norm = L2Norm(1)
        self.standardize = bool(standardize)
        self.out_features = int(dim) if dim else pooled

    def features(self, image: torch.Tensor) -> torch.Tensor:
        """The backbone's feature map: ``(N, 3, H, W)`` -> ``(N, feature_dim, H', W')``."""
        if self.standardize:
            mean = image.mean(dim=(2, 3), keepdim=True)
            std = image.std(dim=(2, 3), keepdim=True).clamp(min=1e-3)
            image = (image - mean) / std
        return self.backbone.forward_features(image)

    def forward(self, data: dict) -> dict:
        """``image`` (N, 3, H, W) in [-1, 1] -> ``descriptor`` (N, out_features), unit L2 norm."""
        return {"descriptor": self.norm(self.project(self.pool(self.features(data["image"]))))}


def seqnet(descriptors: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """SeqNet's sequential descriptor (Garg & Milford 2021, Sec. III-A): temporal 1-D convolution,
    average pooling over time, L2 normalisation.

    Parameters
    ----------
    descriptors : (N, L, D)
        Frame descriptors of ``N`` windows of ``L`` consecutive frames (oldest first).
    weight : (dim, D, w), bias : (dim,) or None
        Convolution over time with kernel width ``w <= L`` (no padding: ``L - w + 1`` outputs).

    Returns
    -------
    (N, dim)
        Unit vectors.
    """
    if descriptors.dim() != 3:
        raise ValueError(f"seqnet expects (N, L, D) frame descriptors, got shape {tuple(descriptors.shape)}")
    if descriptors.shape[1] < weight.shape[2]:
        raise ValueError(
            f"seqnet: a window of {descriptors.shape[1]} frames is shorter than the kernel {weight.shape[2]}"
        )
    y = F.conv1d(descriptors.transpose(1, 2), weight, bias)  # (N, dim, L - w + 1)
    return l2_normalize(y.mean(dim=2), dim=1)


class SequenceDescriptor(nn.Module):
    """One descriptor for a window of ``L`` consecutive frames (:func:`seqnet`).

    Parameters
    ----------
    frame_dim : int
        ``D``, size of the frame descriptors.
    dim : int
        Output size.
    length : int
        ``L``, frames per window (the length it is trained and used with).
    kernel : int
        Temporal kernel width ``w`` (clipped to ``L``; SeqNet's ``w = L`` makes it a learned linear
        map of the whole window).
    frame_net : PlaceNet, optional
        Computes the frame descriptors from images when ``data`` has ``image``; it is a sub-module
        (saved with the state dict) but :class:`PlaceModule` trains only the sequence weights.

    Notes
    -----
    ``init="orthogonal"`` starts the convolution as a random orthogonal projection of the ``w x D``
    window (seeded by torch's generator), which keeps the inner products of the concatenated frame
    descriptors approximately (Johnson-Lindenstrauss): an untrained descriptor with ``w = L``
    already scores like sequence matching along the diagonal (the sum of the frame similarities).
    ``init="average"`` starts it as the temporal average of the frame descriptors (the identity over
    ``D`` when ``dim == D``, else a random orthogonal ``D -> dim`` projection).
    """

    def __init__(
        self,
        frame_dim: int,
        dim: int = 256,
        length: int = 10,
        kernel: int = 5,
        frame_net=None,
        init: str = "orthogonal",
    ):
        super().__init__()
        if int(length) < 1 or int(kernel) < 1 or int(frame_dim) < 1 or int(dim) < 1:
            raise ValueError("SequenceDescriptor frame_dim, dim, length and kernel must be >= 1")
        if init not in ("orthogonal", "average"):
            raise ValueError(f"SequenceDescriptor init must be 'orthogonal' or 'average', got {init!r}")
        self.frame_dim, self.dim, self.length = int(frame_dim), int(dim), int(length)
        self.kernel = min(int(kernel), self.length)
        self.conv = nn.Conv1d(self.frame_dim, self.dim, self.kernel)
        with torch.no_grad():
            if init == "orthogonal":
                w = torch.empty(self.dim, self.kernel * self.frame_dim)
                nn.init.orthogonal_(w)
                self.conv.weight.copy_(w.reshape(self.dim, self.kernel, self.frame_dim).transpose(1, 2))
            else:
                base = torch.empty(self.dim, self.frame_dim)
                nn.init.orthogonal_(base)
                if self.dim == self.frame_dim:
                    base = torch.eye(self.dim)
                self.conv.weight.copy_(base[:, :, None].expand(-1, -1, self.kernel) / self.kernel)
            self.conv.bias.zero_()
        self.frame_net = frame_net
        self.out_features = self.dim

    def forward(self, data: dict) -> dict:
        """``descriptors`` (N, L, D) frame descriptors, or ``image`` (N, L, 3, H, W) in [-1, 1] with a
        ``frame_net`` -> ``descriptor`` (N, dim), unit L2 norm."""
        if "descriptors" in data:
            frames = data["descriptors"]
        else:
            if self.frame_net is None:
                raise ValueError("SequenceDescriptor without a frame_net needs 'descriptors' (N, L, D)")
            img = data["image"]
            n, length = img.shape[:2]
            frames = self.frame_net({"image": img.reshape(n * length, *img.shape[2:])})["descriptor"]
            frames = frames.reshape(n, length, -1)
        return {"descriptor": seqnet(frames, self.conv.weight, self.conv.bias)}


# ============================================================================ losses
def place_masks(
    places: torch.Tensor, pos_tol: int = 0, neg_tol: int | None = None, other: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Positive and negative pairs from place labels (frame indices).

    Parameters
    ----------
    places : (N,) int
    pos_tol : int
        ``|p_i - p_j| <= pos_tol``: positives.
    neg_tol : int, optional
        ``|p_i - p_j| > neg_tol``: negatives (default ``pos_tol``: every pair that is not positive).
    other : (M,) int, optional
        Places of the columns (default ``places``).

    Returns
    -------
    positives, negatives : (N, M) bool
        Disjoint; the diagonal counts as a positive when ``other`` is None (the losses drop it).
    """
    other = places if other is None else other
    d = (places[:, None].long() - other[None, :].long()).abs()
    neg_tol = pos_tol if neg_tol is None else neg_tol
    return d <= int(pos_tol), d > int(max(neg_tol, pos_tol))


def _pair_masks(n: int, labels: torch.Tensor, negatives: torch.Tensor | None, device) -> tuple:
    eye = torch.eye(n, dtype=torch.bool, device=device)
    if labels.dtype == torch.bool:
        if labels.shape != (n, n):
            raise ValueError(f"a positives mask must be ({n}, {n}), got {tuple(labels.shape)}")
        pos = labels
    else:
        if labels.shape != (n,):
            raise ValueError(f"labels must be ({n},), got {tuple(labels.shape)}")
        pos = labels[:, None] == labels[None, :]
    pos = pos & ~eye
    neg = (~pos if negatives is None else negatives & ~pos) & ~eye
    return pos, neg


def multi_similarity_loss(
    desc: torch.Tensor,
    labels: torch.Tensor,
    alpha: float = 2.0,
    beta: float = 50.0,
    lam: float = 0.5,
    margin: float = 0.1,
    negatives: torch.Tensor | None = None,
) -> torch.Tensor:
    """Multi-similarity loss with its pair mining (Wang et al. 2019, Eq. 9-12).

    With cosine similarities ``S_ij = <d_i, d_j>`` (unit descriptors), the pairs of anchor ``i`` are
    mined first (without gradient): a negative ``j`` is kept when ``S_ij + margin > min_{k in P_i} S_ik``
    (Eq. 9), a positive when ``S_ij - margin < max_{k in N_i} S_ik`` (Eq. 10). Then (Eq. 12)

        L_i = 1/alpha log(1 + sum_{k in P~_i} e^{-alpha (S_ik - lam)})
            + 1/beta log(1 + sum_{k in N~_i} e^{beta (S_ik - lam)}),

    and the loss is ``sum_i L_i / N`` over the anchors with at least one mined positive and one mined
    negative (the others contribute 0, as in the authors' implementation).

    Parameters
    ----------
    desc : (N, D)
        L2-normalised descriptors.
    labels : (N,) int class labels, or (N, N) bool positives mask
        The diagonal is ignored.
    alpha, beta, lam, margin : float
        The paper's ``alpha = 2``, ``beta = 50``, ``lambda = 0.5`` (here ``lam``) and ``epsilon = 0.1``
        (here ``margin``).
    negatives : (N, N) bool, optional
        Negative pairs (default: every pair that is not positive).

    Returns
    -------
    scalar tensor
    """
    n = desc.shape[0]
    pos, neg = _pair_masks(n, labels, negatives, desc.device)
    sim = desc @ desc.T
    s = sim.detach()
    inf = torch.tensor(float("inf"), dtype=s.dtype, device=s.device)
    hardest_pos = torch.where(pos, s, inf).amin(1, keepdim=True)
    hardest_neg = torch.where(neg, s, -inf).amax(1, keepdim=True)
    mined_neg = neg & (s + margin > hardest_pos)
    mined_pos = pos & (s - margin < hardest_neg)
    zero = sim.new_zeros(n, 1)
    pos_term = torch.logsumexp(torch.cat([zero, torch.where(mined_pos, -alpha * (sim - lam), -inf)], 1), 1) / alpha
    neg_term = torch.logsumexp(torch.cat([zero, torch.where(mined_neg, beta * (sim - lam), -inf)], 1), 1) / beta
    valid = (mined_pos.any(1) & mined_neg.any(1)).to(sim.dtype)
    return ((pos_term + neg_term) * valid).sum() / max(n, 1)


def triplet_loss(
    desc: torch.Tensor,
    labels: torch.Tensor,
    margin: float = 0.1,
    negatives: torch.Tensor | None = None,
    soft: bool = False,
    eps: float = 1e-12,
) -> torch.Tensor:
    """Batch-hard triplet loss (Hermans et al. 2017, Eq. 5).

    For every anchor, its farthest positive and its nearest negative in the batch (Euclidean
    distances): ``L_i = max(0, margin + max_p ||d_i - d_p|| - min_n ||d_i - d_n||)``, or with ``soft``
    ``log(1 + exp(max_p - min_n))``; averaged over the anchors that have a positive and a negative.

    Parameters
    ----------
    desc : (N, D)
    labels : (N,) int class labels, or (N, N) bool positives mask
    margin : float
    negatives : (N, N) bool, optional
        Negative pairs (default: every pair that is not positive).
    soft : bool
    eps : float
        Floor of the squared distances (a defined gradient at zero distance).

    Returns
    -------
    scalar tensor (0 when no anchor has both)
    """
    n = desc.shape[0]
    pos, neg = _pair_masks(n, labels, negatives, desc.device)
    d2 = (desc[:, None, :] - desc[None, :, :]).pow(2).sum(-1)
    d = torch.sqrt(d2.clamp(min=eps))
    inf = torch.tensor(float("inf"), dtype=d.dtype, device=d.device)
    valid = pos.any(1) & neg.any(1)
    if not bool(valid.any()):
        return desc.sum() * 0.0
    hardest_pos = torch.where(pos, d, -inf).amax(1)[valid]
    hardest_neg = torch.where(neg, d, inf).amin(1)[valid]
    gap = hardest_pos - hardest_neg
    per = F.softplus(gap) if soft else F.relu(gap + margin)
    return per.mean()


def supervised_contrastive_loss(
    desc: torch.Tensor, labels: torch.Tensor, temperature: float = 0.1, negatives: torch.Tensor | None = None
) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al., "Supervised Contrastive Learning", NeurIPS 2020, Eq. 2).

    ``L_i = -1/|P_i| sum_{p in P_i} log(exp(S_ip / t) / sum_{a in P_i + N_i} exp(S_ia / t))`` with cosine
    similarities ``S`` of unit descriptors; averaged over the anchors that have a positive and a
    negative. Pairs that are neither positive nor negative (e.g. places between ``pos_tol`` and
    ``neg_tol``) are left out of the denominator.

    Parameters
    ----------
    desc : (N, D)
        L2-normalised descriptors.
    labels : (N,) int class labels, or (N, N) bool positives mask
    temperature : float
        ``t``.
    negatives : (N, N) bool, optional
        Negative pairs (default: every pair that is not positive).

    Returns
    -------
    scalar tensor (0 when no anchor has both)
    """
    n = desc.shape[0]
    pos, neg = _pair_masks(n, labels, negatives, desc.device)
    logits = (desc @ desc.T) / float(temperature)
    inf = torch.tensor(float("inf"), dtype=logits.dtype, device=logits.device)
    log_denominator = torch.logsumexp(torch.where(pos | neg, logits, -inf), dim=1, keepdim=True)
    valid = pos.any(1) & neg.any(1)
    if not bool(valid.any()):
        return desc.sum() * 0.0
    log_prob = torch.where(pos, logits - log_denominator, torch.zeros_like(logits))
    per = -log_prob.sum(1) / pos.sum(1).clamp(min=1)
    return per[valid].mean()


# ============================================================================ augmentation
#: Defaults of :func:`augment` (each a strength; 0 turns the operation off):
#:
#: * ``shift``: translation, fraction of the image side (uniform in ``[-shift, shift]``);
#: * ``scale``: zoom factor in ``[1 - scale, 1 + scale]`` (borders replicate the edge pixels);
#: * ``brightness``, ``contrast``, ``saturation``: factors in ``[1 - s, 1 + s]`` (contrast and
#:   saturation about the image's / pixel's grey level);
#: * ``colour``: per-channel gains in ``[1 - s, 1 + s]`` (a colour cast);
#: * ``gamma``: ``x^g`` with ``log g`` uniform in ``[-gamma, gamma]`` (on [0, 1] intensities);
#: * ``grey``: probability of replacing the image by its grey level (ITU-R 601 weights);
#: * ``blur``: probability of a Gaussian blur with sigma uniform in ``[0.1, blur_sigma]`` pixels;
#: * ``noise``: standard deviation of additive Gaussian noise (on [0, 1] intensities);
#: * ``erase``: probability of filling a random rectangle (10 % to ``erase_size`` of each side) with a
#:   random grey level (random erasing).
AUGMENT_DEFAULTS: dict = {
    "shift": 0.1,
    "scale": 0.1,
    "brightness": 0.4,
    "contrast": 0.4,
    "saturation": 0.6,
    "colour": 0.15,
    "gamma": 0.4,
    "grey": 0.2,
    "blur": 0.3,
    "blur_sigma": 1.2,
    "noise": 0.02,
    "erase": 0.25,
    "erase_size": 0.4,
}

_GREY = (0.299, 0.587, 0.114)


def _uniform(n: int, lo: float, hi: float, like: torch.Tensor, generator) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=generator, device=like.device, dtype=like.dtype)


def _grey(y: torch.Tensor) -> torch.Tensor:
    w = torch.tensor(_GREY, dtype=y.dtype, device=y.device)
    return (y * w[None, :, None, None]).sum(1, keepdim=True)


def _blur(y: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian blur, one sigma (N,) per image, 5-tap kernels, edge-replicated borders."""
    n, c, h, w = y.shape
    r = torch.arange(-2, 3, dtype=y.dtype, device=y.device)
    k = torch.exp(-0.5 * (r[None, :] / sigma[:, None]) ** 2)
    k = (k / k.sum(1, keepdim=True)).repeat_interleave(c, dim=0)  # (N*C, 5)
    x = y.reshape(1, n * c, h, w)
    x = F.conv2d(F.pad(x, (2, 2, 0, 0), mode="replicate"), k[:, None, None, :], groups=n * c)
    x = F.conv2d(F.pad(x, (0, 0, 2, 2), mode="replicate"), k[:, None, :, None], groups=n * c)
    return x.reshape(n, c, h, w)


def augment(x: torch.Tensor, conf: dict | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random geometric and photometric augmentation of a batch of images, drawn per image.

    In order: an affine warp (shift, zoom; bilinear, edge pixels replicated), brightness, contrast,
    saturation, colour cast, gamma, grey-scale, blur, noise and random erasing, on [0, 1]
    intensities, clamped after each photometric step.

    Parameters
    ----------
    x : (N, 3, H, W)
        Images in [-1, 1].
    conf : dict, optional
        Strengths over :data:`AUGMENT_DEFAULTS`.
    generator : torch.Generator, optional
        Source of the random draws (default torch's global generator, which
        :func:`~omniloc.nn.training.seeded` seeds around a fit).

    Returns
    -------
    (N, 3, H, W) in [-1, 1], same dtype and device.
    """
    c = merge_conf(AUGMENT_DEFAULTS, conf, where="augment conf")
    n = x.shape[0]
    if n == 0:
        return x
    g = generator

    def u(lo, hi):
        return _uniform(n, lo, hi, x, g)

    def chance(p):
        return torch.rand(n, generator=g, device=x.device) < p

    y = (x + 1.0) / 2.0
    if c["shift"] > 0 or c["scale"] > 0:
        s = 1.0 / u(1.0 - c["scale"], 1.0 + c["scale"])  # output -> input coordinates
        theta = torch.zeros(n, 2, 3, dtype=x.dtype, device=x.device)
        theta[:, 0, 0], theta[:, 1, 1] = s, s
        theta[:, 0, 2] = u(-2 * c["shift"], 2 * c["shift"])  # normalised coordinates span 2
        theta[:, 1, 2] = u(-2 * c["shift"], 2 * c["shift"])
        grid = F.affine_grid(theta, list(y.shape), align_corners=False)
        y = F.grid_sample(y, grid, mode="bilinear", padding_mode="border", align_corners=False)

    def clamp(t):
        return t.clamp(0.0, 1.0)

    if c["brightness"] > 0:
        y = clamp(y * u(1 - c["brightness"], 1 + c["brightness"])[:, None, None, None])
    if c["contrast"] > 0:
        m = _grey(y).mean(dim=(1, 2, 3), keepdim=True)
        y = clamp(m + (y - m) * u(1 - c["contrast"], 1 + c["contrast"])[:, None, None, None])
    if c["saturation"] > 0:
        grey = _grey(y)
        y = clamp(grey + (y - grey) * u(1 - c["saturation"], 1 + c["saturation"])[:, None, None, None])
    if c["colour"] > 0:
        gains = 1 + c["colour"] * (2 * torch.rand(n, 3, generator=g, device=x.device, dtype=x.dtype) - 1)
        y = clamp(y * gains[:, :, None, None])
    if c["gamma"] > 0:
        y = y.clamp(min=1e-6).pow(torch.exp(u(-c["gamma"], c["gamma"]))[:, None, None, None])
    if c["grey"] > 0:
        y = torch.where(chance(c["grey"])[:, None, None, None], _grey(y).expand_as(y), y)
    if c["blur"] > 0:
        sigma = u(0.1, max(float(c["blur_sigma"]), 0.1))
        y = torch.where(chance(c["blur"])[:, None, None, None], _blur(y, sigma), y)
    if c["noise"] > 0:
        y = clamp(y + c["noise"] * torch.randn(y.shape, generator=g, device=x.device, dtype=x.dtype))
    if c["erase"] > 0:
        h, w = y.shape[2:]
        eh, ew = u(0.1, c["erase_size"]) * h, u(0.1, c["erase_size"]) * w
        y0, x0 = u(0, 1) * (h - eh), u(0, 1) * (w - ew)
        rows = torch.arange(h, device=x.device, dtype=x.dtype)[None, :, None]
        cols = torch.arange(w, device=x.device, dtype=x.dtype)[None, None, :]
        box = (rows >= y0[:, None, None]) & (rows < (y0 + eh)[:, None, None])
        box = box & (cols >= x0[:, None, None]) & (cols < (x0 + ew)[:, None, None])
        box = box & chance(c["erase"])[:, None, None]
        fill = u(0, 1)[:, None, None, None].expand_as(y)
        y = torch.where(box[:, None], fill, y)
    return y * 2.0 - 1.0


# ============================================================================ stops
def travel_coordinate(images, places, threshold: float = 0.95) -> np.ndarray:
    """A place coordinate that stands still where the camera does: frames taken while the vehicle
    stops (a train at a station) are the same place.

    Consecutive places ``p < q`` (sorted distinct values of ``places``) are one step apart unless some
    image at ``p`` and some image at ``q`` are nearly identical: raw-pixel similarity (grey levels,
    each image zero-mean and unit-norm, inner product) above ``threshold``; then the step is 0. Where
    several traversals are recorded (e.g. seasons), the most similar pair decides, which is a pair
    of the same traversal.

    Parameters
    ----------
    images : (M, H, W, 3) uint8
    places : (M,) int
        Frame indices.
    threshold : float
        Similarity in [-1, 1] above which two consecutive places are one.

    Returns
    -------
    (M,) int64
        The coordinate of each image: the number of moving steps from the first place to its own.
    """
    images = _check_images(images, "images")
    places = _check_places(places, len(images), "places")
    g = images.astype(np.float32) @ np.array(_GREY, np.float32)
    g = g.reshape(len(g), -1)
    g -= g.mean(1, keepdims=True)
    g /= np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-6)
    uniq, inverse = np.unique(places, return_inverse=True)
    members = [np.flatnonzero(inverse == k) for k in range(len(uniq))]
    step = np.ones(len(uniq), np.int64)
    step[0] = 0
    for k in range(1, len(uniq)):
        sim = g[members[k - 1]] @ g[members[k]].T
        if sim.size and float(sim.max()) > threshold:
            step[k] = 0
    return np.cumsum(step)[inverse]


# ============================================================================ retrieval metric
def recall_at_1(
    query: torch.Tensor, query_places: torch.Tensor, database: torch.Tensor, database_places: torch.Tensor, tol: int
) -> torch.Tensor:
    """Fraction (scalar tensor) of queries whose most similar database descriptor (inner product) is
    within ``tol`` frames of the query's place.

    Parameters
    ----------
    query : (Q, D), database : (B, D)
    query_places : (Q,) int, database_places : (B,) int
    tol : int
    """
    if query.shape[0] == 0 or database.shape[0] == 0:
        return query.new_tensor(float("nan"))
    top = (query @ database.T).argmax(1)
    hit = (database_places[top].long() - query_places.long()).abs() <= int(tol)
    return hit.to(query.dtype).mean()


# ============================================================================ training
class PlaceModule(TrainingModule):
    """Training of a :class:`PlaceNet` on images or of a :class:`SequenceDescriptor` on windows of frame
    descriptors, from place labels, by a metric loss on batches of ``P`` places x ``K`` samples.

    A training batch (from :func:`~omniloc.nn.training.index_loaders` over the anchor places) holds
    ``P`` anchor places (with ``near``: ``P / 2`` shuffled anchors, each with a partner place between
    ``neg_tol + 1`` and ``neg_tol + near_range`` frames away, the hard negatives of a route). Each place
    brings ``K`` samples drawn without replacement among those within ``sample_tol`` frames of it, from
    every traversal (season). Pairs are positives within ``pos_tol`` frames, negatives beyond
    ``neg_tol`` (:func:`place_masks`).

    Samples are images (``data``: ``image`` (M, H, W, 3) uint8, ``place`` (M,) int), augmented by
    :func:`augment`, or windows (``frames`` (R, F, D) float: ``R`` renderings of ``F`` frame
    descriptors, ``start`` (M,) int first frame of each window in ``0 .. F - 1``, ``place`` (M,) int the
    window's centre place); a window's frames each come from a random rendering, plus Gaussian noise
    of ``noise`` per coordinate, renormalised.

    Validation (``val``: the same keys plus ``query`` (V,) bool) embeds every validation sample and
    reports the recall@1 of the queries against the other samples within ``val_tol`` frames,
    ``val_recall_at_1`` (monitored, higher is better). The descriptors are accumulated as the
    epoch's validation sums (each batch fills its rows of a ``V x dim`` matrix).

    Parameters
    ----------
    net : PlaceNet or SequenceDescriptor
    data, val : dict name -> tensor (``val`` may be None)
    places_per_batch, per_place : int
        ``P`` and ``K``.
    pos_tol, neg_tol, sample_tol, val_tol : int
        Frames.
    near : bool
    near_range : int
    loss : ``"ms"`` or ``"triplet"``
    loss_conf : dict
        Keyword arguments of :func:`multi_similarity_loss` or :func:`triplet_loss`.
    augment_conf : dict, optional
        :func:`augment`'s strengths for images (None: no augmentation).
    noise : float
        Descriptor noise for windows.
    optimizer, lr, weight_decay, cosine_steps
        :class:`~omniloc.nn.training.TrainingModule`'s.
    """

    def __init__(
        self,
        net: nn.Module,
        data: dict,
        val: dict | None,
        places_per_batch: int = 32,
        per_place: int = 4,
        pos_tol: int = 2,
        neg_tol: int = 3,
        sample_tol: int = 1,
        val_tol: int = 2,
        near: bool = True,
        near_range: int = 10,
        loss: str = "ms",
        loss_conf: dict | None = None,
        augment_conf: dict | None = None,
        noise: float = 0.0,
        optimizer: str = "adam",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        cosine_steps: int | None = None,
    ):
        super().__init__(
            net, optimizer=optimizer, lr=lr, weight_decay=weight_decay, cosine_steps=cosine_steps, mode="max"
        )
        if loss not in LOSSES:
            raise ConfigError(f"loss must be one of {list(LOSSES)}, got {loss!r}")
        self.windows = "frames" in data
        self.P, self.K = int(places_per_batch), int(per_place)
        self.pos_tol, self.neg_tol, self.val_tol = int(pos_tol), int(max(neg_tol, pos_tol)), int(val_tol)
        self.near, self.near_range = bool(near), max(int(near_range), 1)
        self.loss_kind, self.loss_conf = loss, dict(loss_conf or {})
        self.augment_conf = None if augment_conf is None else dict(augment_conf)
        self.noise = float(noise)
        places = data["place"].long()
        anchors = torch.unique(places)  # sorted
        cand, count = _candidates(places, anchors, int(sample_tol))
        self.add_data("train", {**data, "anchor": anchors, "cand": cand, "count": count})
        self.add_data("val", val)
        self.n_anchors = int(anchors.numel())
        self.n_val = None if val is None else int(val["place"].shape[0])

    @property
    def anchors_per_batch(self) -> int:
        """Loader batch size: ``P``, or ``P / 2`` anchors with their near partners."""
        return max(1, self.P // 2) if self.near else self.P

    # ------------------------------------------------------------------ batches
    def _batch_places(self, idx: torch.Tensor) -> torch.Tensor:
        """Anchor positions (into the sorted anchors) of a batch: the loader's and their near partners."""
        if not self.near:
            return idx
        anchors = self.data("train", "anchor")
        n = idx.numel()
        off = self.neg_tol + 1 + torch.randint(0, self.near_range, (n,), device=idx.device)
        sign = torch.where(torch.rand(n, device=idx.device) < 0.5, -1, 1)
        target = anchors[idx] + sign * off
        outside = (target < anchors[0]) | (target > anchors[-1])  # past an end of the route: the other side
        target = torch.where(outside, anchors[idx] - sign * off, target)
        partner = torch.searchsorted(anchors, target).clamp(max=anchors.numel() - 1)
        return torch.cat([idx, partner])

    def _sample(self, idx: torch.Tensor) -> torch.Tensor:
        """``K`` sample indices per place of the batch, without replacement (fewer when a place has fewer)."""
        pos = self._batch_places(idx)
        cand, count = self.data("train", "cand")[pos], self.data("train", "count")[pos]
        keys = torch.rand(cand.shape, device=cand.device)
        keys = torch.where(torch.arange(cand.shape[1], device=cand.device)[None] < count[:, None], keys, 2.0)
        order = keys.argsort(1)[:, : self.K]
        take = torch.arange(order.shape[1], device=cand.device)[None] < count[:, None]
        return cand.gather(1, order)[take]

    def _inputs(self, split: str, idx: torch.Tensor, train: bool) -> dict:
        if not self.windows:
            x = images_to_tensor(self.data(split, "image")[idx])
            if train and self.augment_conf is not None:
                x = augment(x, self.augment_conf)
            return {"image": x}
        frames = self.data(split, "frames")  # (R, F, D)
        length = self.net.length
        rows = self.data(split, "start")[idx][:, None] + torch.arange(length, device=idx.device)[None]
        if train:
            r = torch.randint(0, frames.shape[0], rows.shape, device=idx.device)
        else:
            r = torch.zeros_like(rows)
        d = frames[r, rows]  # (B, L, D)
        if train and self.noise > 0:
            d = l2_normalize(d + self.noise * torch.randn_like(d), dim=-1)
        return {"descriptors": d}

    def loss(self, batch):
        idx = batch[0] if isinstance(batch, (list, tuple)) else batch
        sample = self._sample(idx)
        desc = self.net(self._inputs("train", sample, train=True))["descriptor"]
        pos, neg = place_masks(self.data("train", "place")[sample], self.pos_tol, self.neg_tol)
        if self.loss_kind == "ms":
            value = multi_similarity_loss(desc, pos, negatives=neg, **self.loss_conf)
        elif self.loss_kind == "supcon":
            value = supervised_contrastive_loss(desc, pos, negatives=neg, **self.loss_conf)
        else:
            value = triplet_loss(desc, pos, negatives=neg, **self.loss_conf)
        return value, {}

    # ------------------------------------------------------------------ validation
    def validation_sums(self, batch):
        idx = batch[0] if isinstance(batch, (list, tuple)) else batch
        desc = self.net(self._inputs("val", idx, train=False))["descriptor"]
        out = desc.new_zeros(self.n_val, desc.shape[1])
        out[idx] = desc
        return out.reshape(-1)

    def validation_metrics(self, sums):
        desc = sums.reshape(self.n_val, -1)
        q = self.data("val", "query").to(desc.device)
        places = self.data("val", "place").to(desc.device)
        r = recall_at_1(desc[q], places[q], desc[~q], places[~q], self.val_tol)
        return {"val_recall_at_1": r}


def _candidates(places: torch.Tensor, anchors: torch.Tensor, tol: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For each anchor place, the sample indices within ``tol`` frames, padded: (A, C) int64 and counts (A,)."""
    order = torch.argsort(places, stable=True)
    sorted_places = places[order]
    lo = torch.searchsorted(sorted_places, anchors - tol)
    hi = torch.searchsorted(sorted_places, anchors + tol, right=True)
    count = hi - lo
    width = int(count.max()) if count.numel() else 0
    j = lo[:, None] + torch.arange(width)[None]
    cand = order[j.clamp(max=max(len(order) - 1, 0))]
    return cand, count


# ============================================================================ entry points
#: Documented defaults of :func:`train_place_descriptor`:
#:
#: * ``backbone``: :class:`PlaceNet`'s ResNet ``depth`` (18/34), ``width``, ``stem``, ``stem_stride`` and
#:   ``stages``;
#: * ``aggregation`` (``"gem"`` / ``"netvlad"``), ``clusters`` (NetVLAD's K), ``gem_p``, ``standardize``
#:   (per-image channel standardisation of the input, :class:`PlaceNet`); ``dim`` the
#:   descriptor size (0: no projection); ``netvlad_init``: training images whose (untrained)
#:   feature maps seed NetVLAD's k-means;
#: * ``still``: consecutive training places whose images are nearly identical (raw-pixel similarity
#:   above this; a stop) are one place for the loss (:func:`travel_coordinate`); None: frame indices as given;
#: * ``loss`` (``"ms"`` / ``"triplet"`` / ``"supcon"``) and its parameters ``ms``
#:   (:func:`multi_similarity_loss`), ``triplet`` (:func:`triplet_loss`) and ``supcon``
#:   (:func:`supervised_contrastive_loss`);
#: * batches: ``places_per_batch`` (P), ``per_place`` (K), ``near`` and ``near_range`` (hard partner
#:   places), tolerances in frames ``sample_tol``, ``pos_tol``, ``neg_tol``, ``val_tol``
#:   (:class:`PlaceModule`);
#: * optimisation: ``optimizer``, ``lr``, ``weight_decay``, ``epochs`` (an epoch visits every
#:   training place once as an anchor), ``cosine`` (per-step cosine decay to 5 % of ``lr``),
#:   ``patience`` (early stopping on validation recall; None: off);
#: * ``augment``: :data:`AUGMENT_DEFAULTS` (None: none);
#: * ``batch_size``: inference batch size (validation, :func:`describe`);
#: * ``seed``: weights, batches and augmentation; ``trainer``: :data:`~omniloc.nn.training.TRAINER_DEFAULTS`.
PLACE_DEFAULTS: dict = {
    "backbone": {"depth": 18, "width": 16, "stem": "small", "stem_stride": 1, "stages": 4},
    "aggregation": "gem",
    "clusters": 16,
    "gem_p": 3.0,
    "grid": [2, 4],
    "standardize": False,
    "dim": 256,
    "netvlad_init": 256,
    "still": 0.95,
    "loss": "ms",
    "ms": {"alpha": 2.0, "beta": 50.0, "lam": 0.5, "margin": 0.1},
    "triplet": {"margin": 0.1, "soft": False},
    "supcon": {"temperature": 0.1},
    "places_per_batch": 32,
    "per_place": 4,
    "near": True,
    "near_range": 10,
    "sample_tol": 1,
    "pos_tol": 2,
    "neg_tol": 3,
    "val_tol": 2,
    "optimizer": "adam",
    "lr": 1e-3,
    "weight_decay": 1e-4,
    "epochs": 10,
    "cosine": True,
    "patience": None,
    "augment": dict(AUGMENT_DEFAULTS),
    "batch_size": 256,
    "seed": 0,
    "trainer": dict(TRAINER_DEFAULTS),
}

#: Documented defaults of :func:`train_sequence_descriptor` (batches, loss, optimisation and
#: ``trainer`` as in :data:`PLACE_DEFAULTS`):
#:
#: * ``length``: frames per window ``L``; ``kernel``: SeqNet's temporal kernel ``w`` (clipped to ``L``);
#:   ``init``: :class:`SequenceDescriptor`'s initialisation; ``dim``: output size;
#: * ``renderings``: how many descriptors of each training frame (the first unaugmented, the others
#:   of :func:`augment`-ed images with ``augment``), one drawn per frame and window at each step;
#: * ``noise``: Gaussian noise added to each frame descriptor during training (then renormalised);
#: * windows of the same centre place are the positives (``sample_tol = pos_tol = 0``, ``K = 2``: one
#:   per season): a window shifted by a frame puts every frame in another slot of the convolution,
#:   so shifted windows are not asked to match (they are ignored up to ``neg_tol``).
SEQUENCE_DEFAULTS: dict = {
    "length": 10,
    "kernel": 10,
    "init": "orthogonal",
    "dim": 256,
    "renderings": 4,
    "augment": dict(AUGMENT_DEFAULTS),
    "noise": 0.0,
    "loss": "ms",
    "ms": {"alpha": 2.0, "beta": 50.0, "lam": 0.5, "margin": 0.1},
    "triplet": {"margin": 0.1, "soft": False},
    "supcon": {"temperature": 0.1},
    "places_per_batch": 32,
    "per_place": 2,
    "near": True,
    "near_range": 10,
    "sample_tol": 0,
    "pos_tol": 0,
    "neg_tol": 2,
    "val_tol": 2,
    "optimizer": "adam",
    "lr": 1e-3,
    "weight_decay": 1e-4,
    "epochs": 20,
    "cosine": True,
    "patience": None,
    "batch_size": 256,
    "seed": 0,
    "trainer": dict(TRAINER_DEFAULTS),
}

_CONF_TYPES = {**TRAINER_TYPES, "augment": (dict,), "patience": (int,), "dim": (int,)}


def _check_conf(conf: dict | None, default: dict, where: str) -> dict:
    c = merge_conf(default, conf, where=where)
    check_types(c, default, where=where, types=_CONF_TYPES)
    if c["loss"] not in LOSSES:
        raise ConfigError(f"{where} 'loss' must be one of {list(LOSSES)}, got {c['loss']!r}")
    for key in ("places_per_batch", "per_place", "epochs", "batch_size"):
        if int(c[key]) < 1:
            raise ConfigError(f"{where} '{key}' must be >= 1, got {c[key]!r}")
    if int(c["per_place"]) < 2:
        raise ConfigError(f"{where} 'per_place' must be >= 2 (a place needs a positive pair), got {c['per_place']!r}")
    for key in ("pos_tol", "neg_tol", "sample_tol", "val_tol"):
        if int(c[key]) < 0:
            raise ConfigError(f"{where} '{key}' must be >= 0 frames, got {c[key]!r}")
    if c["lr"] <= 0:
        raise ConfigError(f"{where} 'lr' must be positive, got {c['lr']!r}")
    return c


def _check_images(images, field: str) -> np.ndarray:
    a = np.asarray(images)
    if a.ndim != 4 or a.shape[3] != 3 or a.dtype != np.uint8:
        raise DataError(f"expected (N, H, W, 3) uint8 RGB images, got {a.dtype} of shape {a.shape}", field=field)
    return a


def _check_places(places, n: int, field: str) -> np.ndarray:
    p = np.asarray(places)
    if p.shape != (n,) or not np.issubdtype(p.dtype, np.integer):
        raise DataError(f"expected ({n},) integer frame indices, got {p.dtype} of shape {p.shape}", field=field)
    return p.astype(np.int64)


def _fit(module: PlaceModule, c: dict, stage: str, n_anchors: int, n_val: int | None) -> None:
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.arange(n_anchors)), batch_size=module.anchors_per_batch, shuffle=True
    )
    steps = max(1, -(-n_anchors // module.anchors_per_batch))
    val_loader = None
    if n_val is not None:
        val_loader = torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(torch.arange(n_val)), batch_size=int(c["batch_size"])
        )
    fit_lightning(
        module,
        loader,
        c["trainer"],
        stage,
        max_epochs=int(c["epochs"]),
        log_every_n_steps=steps,
        val_dataloader=val_loader,
        monitor="val_recall_at_1" if val_loader is not None else None,
        mode="max",
        patience=c["patience"],
        fingerprint_conf={k: v for k, v in c.items() if k not in ("trainer", "batch_size", "patience")},
    )


def _val_tensors(val: dict | None, what: str) -> dict | None:
    """``query_*`` and ``database_*`` arrays -> ``place`` (V,), ``query`` (V,) bool and the stacked ``what``."""
    if val is None:
        return None
    need = (f"query_{what}", "query_places", f"database_{what}", "database_places")
    missing = [k for k in need if k not in val]
    if missing:
        raise DataError(f"validation data needs keys {list(need)}; missing {missing}", field=missing[0])
    qp = _check_places(val["query_places"], len(val[need[0]]), "query_places")
    dp = _check_places(val["database_places"], len(val[need[2]]), "database_places")
    return {
        "place": torch.as_tensor(np.concatenate([qp, dp])),
        "query": torch.cat([torch.ones(len(qp), dtype=torch.bool), torch.zeros(len(dp), dtype=torch.bool)]),
    }


def build_place_net(conf: dict | None = None) -> PlaceNet:
    """The untrained :class:`PlaceNet` of a :func:`train_place_descriptor` conf (over :data:`PLACE_DEFAULTS`;
    weights drawn from torch's generator), e.g. to load a saved state dict into."""
    c = _check_conf(conf, PLACE_DEFAULTS, "place descriptor conf")
    b = c["backbone"]
    return PlaceNet(
        b["depth"],
        b["width"],
        b["stem"],
        b["stages"],
        c["aggregation"],
        c["clusters"],
        c["dim"],
        c["gem_p"],
        standardize=c["standardize"],
        stem_stride=b["stem_stride"],
        grid=tuple(c["grid"]),
    )


def train_place_descriptor(images, places, conf: dict | None = None, val: dict | None = None) -> PlaceNet:
    """Train a :class:`PlaceNet` from images labelled with places (frame indices).

    Parameters
    ----------
    images : (M, H, W, 3) uint8
        Training images of every traversal (e.g. both seasons' frames of the training stretch).
    places : (M,) int
        The place (frame index) of each image; images of different traversals at the same place
        share it.
    conf : dict, optional
        Over :data:`PLACE_DEFAULTS`.
    val : dict, optional
        ``query_images``, ``query_places``, ``database_images``, ``database_places``: the validation
        stretch, scored by recall@1 of the queries within ``val_tol`` frames after every epoch; the
        best epoch's weights are kept.

    Returns
    -------
    PlaceNet
        In eval mode; ``history_`` holds ``[epoch, mean loss, val recall@1]`` rows and ``best_val_``
        the best validation recall@1 (NaN without ``val``).

    Raises
    ------
    ConfigError, DataError
    """
    c = _check_conf(conf, PLACE_DEFAULTS, "place descriptor conf")
    images = _check_images(images, "images")
    places = _check_places(places, len(images), "places")
    if len(np.unique(places)) < 2:
        raise DataError("training needs images of at least two places", field="places")
    v = _val_tensors(val, "images")
    val_data = None
    if v is not None:
        qi, di = (
            _check_images(val["query_images"], "query_images"),
            _check_images(val["database_images"], "database_images"),
        )
        val_data = {"image": torch.as_tensor(np.concatenate([qi, di])), **v}
    with seeded(int(c["seed"]), uses_cuda(c["trainer"])):
        net = build_place_net(c)
        if c["aggregation"] == "netvlad":
            pick = torch.randperm(len(images))[: int(c["netvlad_init"])]
            with torch.no_grad():
                net.eval()
                fmap = net.features(images_to_tensor(images[np.sort(pick.numpy())]))
                net.train()
            net.pool.init_from(fmap, seed=int(c["seed"]))
        coord = places if c["still"] is None else travel_coordinate(images, places, float(c["still"]))
        data = {"image": torch.as_tensor(images), "place": torch.as_tensor(coord)}
        module = _module(net, data, val_data, c, c["augment"], 0.0)
        _fit(module, c, "place-descriptor", module.n_anchors, module.n_val)
    return _finish(net, module)


def _module(net, data, val_data, c: dict, augment_conf, noise: float) -> PlaceModule:
    per_batch = max(1, c["places_per_batch"] // 2) if c["near"] else c["places_per_batch"]
    steps = max(1, -(-int(torch.unique(data["place"]).numel()) // per_batch))
    return PlaceModule(
        net,
        data,
        val_data,
        places_per_batch=c["places_per_batch"],
        per_place=c["per_place"],
        pos_tol=c["pos_tol"],
        neg_tol=c["neg_tol"],
        sample_tol=c["sample_tol"],
        val_tol=c["val_tol"],
        near=c["near"],
        near_range=c["near_range"],
        loss=c["loss"],
        loss_conf=c[c["loss"]],
        augment_conf=augment_conf,
        noise=noise,
        optimizer=c["optimizer"],
        lr=c["lr"],
        weight_decay=c["weight_decay"],
        cosine_steps=steps * int(c["epochs"]) if c["cosine"] else None,
    )


def _finish(net: nn.Module, module: PlaceModule) -> nn.Module:
    net.eval()
    net.history_ = [list(map(float, h)) for h in module.history]
    net.best_val_ = float(module.best_val) if module.best_state is not None else float("nan")
    return net


def describe(net: nn.Module, images, batch_size: int = 256) -> np.ndarray:
    """Descriptors of images by a :class:`PlaceNet`, in eval mode without gradients.

    Parameters
    ----------
    net : PlaceNet
    images : (N, H, W, 3) uint8
    batch_size : int

    Returns
    -------
    (N, net.out_features) float32 numpy, unit rows.
    """
    images = _check_images(images, "images")
    p = next(net.parameters())
    was = net.training
    net.eval()
    out = []
    try:
        with torch.no_grad():
            for i in range(0, len(images), int(batch_size)):
                x = images_to_tensor(images[i : i + int(batch_size)]).to(p.device, p.dtype)
                out.append(net({"image": x})["descriptor"].float().cpu())
    finally:
        net.train(was)
    if not out:
        return np.zeros((0, net.out_features), np.float32)
    return torch.cat(out).numpy().astype(np.float32)


def describe_windows(seq: SequenceDescriptor, descriptors, batch_size: int = 1024) -> np.ndarray:
    """Sequence descriptors of every window of ``seq.length`` consecutive frames of one traversal.

    Parameters
    ----------
    seq : SequenceDescriptor
    descriptors : (T, D) frame descriptors in traversal order (e.g. :func:`describe`'s)
    batch_size : int

    Returns
    -------
    (T - L + 1, seq.dim) float32 numpy: row ``t`` describes frames ``t .. t + L - 1`` (its centre is frame
    ``t + L // 2``).
    """
    d = torch.as_tensor(np.asarray(descriptors))
    if d.dim() != 2 or d.shape[1] != seq.frame_dim:
        raise DataError(
            f"expected (T, {seq.frame_dim}) frame descriptors, got shape {tuple(d.shape)}", field="descriptors"
        )
    p = next(seq.conv.parameters())
    d = d.to(p.device, p.dtype)
    n = d.shape[0] - seq.length + 1
    if n <= 0:
        return np.zeros((0, seq.dim), np.float32)
    rows = torch.arange(n, device=d.device)[:, None] + torch.arange(seq.length, device=d.device)[None]
    out = []
    was = seq.training
    seq.eval()
    try:
        with torch.no_grad():
            for i in range(0, n, int(batch_size)):
                out.append(seq({"descriptors": d[rows[i : i + int(batch_size)]]})["descriptor"].float().cpu())
    finally:
        seq.train(was)
    return torch.cat(out).numpy().astype(np.float32)


def _frame_descriptors(net, traversal, field: str, c: dict, renderings: int) -> np.ndarray:
    """(R, T, D) descriptors of one traversal: frame descriptors given as (T, D) floats, or images
    described by ``net`` (rendering 0 plain, the others augmented)."""
    a = np.asarray(traversal)
    if a.ndim == 2 and np.issubdtype(a.dtype, np.floating):
        return a.astype(np.float32)[None]
    a = _check_images(a, field)
    if net is None:
        raise DataError(
            "images need a frame network (net) to be described; pass frame descriptors instead", field=field
        )
    out = [describe(net, a, c["batch_size"])]
    p = next(net.parameters())
    was = net.training
    net.eval()
    try:
        with torch.no_grad():
            for _ in range(max(renderings, 1) - 1):
                chunks = []
                for i in range(0, len(a), int(c["batch_size"])):
                    x = images_to_tensor(a[i : i + int(c["batch_size"])]).to(p.device, p.dtype)
                    x = augment(x, c["augment"]) if c["augment"] is not None else x
                    chunks.append(net({"image": x})["descriptor"].float().cpu())
                out.append(torch.cat(chunks).numpy())
    finally:
        net.train(was)
    return np.stack(out).astype(np.float32)


def train_sequence_descriptor(
    net: PlaceNet | None, traversals, conf: dict | None = None, val: dict | None = None
) -> SequenceDescriptor:
    """Train a :class:`SequenceDescriptor` on windows of consecutive frames of several traversals.

    The frame network is fixed: frame descriptors are computed once (``renderings`` of them per
    training frame, the extra ones from augmented images), then only the sequence weights train, on
    windows of ``length`` frames labelled with their centre place; windows of the same place in
    different traversals (seasons) are positives.

    Parameters
    ----------
    net : PlaceNet or None
        Describes the frames given as images (None when frame descriptors are given).
    traversals : list of (frames, places)
        Each a traversal in order: ``frames`` (T, H, W, 3) uint8 images or (T, D) float frame
        descriptors, ``places`` (T,) int.
    conf : dict, optional
        Over :data:`SEQUENCE_DEFAULTS`.
    val : dict, optional
        ``query_frames``, ``query_places``, ``database_frames``, ``database_places``: one query and one
        database traversal of the validation stretch (images or descriptors); scored by window
        recall@1 within ``val_tol`` frames of the centre places.

    Returns
    -------
    SequenceDescriptor
        In eval mode, with ``frame_net = net``; ``history_`` and ``best_val_`` as
        :func:`train_place_descriptor`'s.
    """
    c = _check_conf(conf, SEQUENCE_DEFAULTS, "sequence descriptor conf")
    length = int(c["length"])
    if length < 1 or int(c["kernel"]) < 1:
        raise ConfigError(
            f"sequence descriptor conf 'length' and 'kernel' must be >= 1, got {length} and {c['kernel']}"
        )
    if not traversals:
        raise DataError("no training traversals", field="traversals")
    with seeded(int(c["seed"]), uses_cuda(c["trainer"])):
        frames, starts, centres, offset = [], [], [], 0
        for k, (tr_frames, tr_places) in enumerate(traversals):
            r = _frame_descriptors(net, tr_frames, f"traversals[{k}]", c, int(c["renderings"]))
            p = _check_places(tr_places, r.shape[1], f"traversals[{k}] places")
            n = r.shape[1] - length + 1
            if n > 0:
                starts.append(offset + np.arange(n))
                centres.append(p[length // 2 : length // 2 + n])
            frames.append(r)
            offset += r.shape[1]
        if not starts:
            raise DataError(f"no traversal has {length} frames", field="traversals")
        n_r = min(f.shape[0] for f in frames)
        data = {
            "frames": torch.as_tensor(np.concatenate([f[:n_r] for f in frames], axis=1)),
            "start": torch.as_tensor(np.concatenate(starts)),
            "place": torch.as_tensor(np.concatenate(centres)),
        }
        val_data = None
        if val is not None:
            v = _val_tensors(val, "frames")
            q = _frame_descriptors(net, val["query_frames"], "query_frames", c, 1)[0]
            d = _frame_descriptors(net, val["database_frames"], "database_frames", c, 1)[0]
            nq, nd = len(q) - length + 1, len(d) - length + 1
            if nq < 1 or nd < 1:
                raise DataError(f"validation traversals need at least {length} frames", field="query_frames")
            qp, dp = v["place"][: len(q)], v["place"][len(q) :]
            val_data = {
                "frames": torch.as_tensor(np.concatenate([q, d]))[None],
                "start": torch.cat([torch.arange(nq), len(q) + torch.arange(nd)]),
                "place": torch.cat([qp[length // 2 : length // 2 + nq], dp[length // 2 : length // 2 + nd]]),
                "query": torch.cat([torch.ones(nq, dtype=torch.bool), torch.zeros(nd, dtype=torch.bool)]),
            }
        seq = SequenceDescriptor(data["frames"].shape[2], c["dim"], length, c["kernel"], init=c["init"])
        module = _module(seq, data, val_data, c, None, float(c["noise"]))
        _fit(module, c, "sequence-descriptor", module.n_anchors, module.n_val)
    seq.frame_net = net
    return _finish(seq, module)
