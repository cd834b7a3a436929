"""Place-recognition networks: one unit descriptor per image, or per window of frames.

* :class:`PlaceNet`: a small ResNet (:class:`~omniloc.nn.resnet.ResNet`'s feature map) pooled by GeM,
  GeM over the cells of a coarse grid (which keeps the layout of the view) or NetVLAD
  (:mod:`omniloc.nn.aggregation`), an optional linear projection to ``dim`` and L2 normalisation:
  one unit vector per image, compared by inner product.
* :class:`SequenceDescriptor` / :func:`seqnet`: one unit vector for a window of ``L`` consecutive
  frames, from their frame descriptors, by SeqNet's temporal 1-D convolution followed by average
  pooling over time and L2 normalisation (Garg & Milford, "SeqNet: Learning descriptors for
  sequence-based hierarchical place recognition", RA-L 2021, Sec. III-A).

Training and inference: :mod:`omniloc.nn.place`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .aggregation import GeM, L2Norm, NetVLAD, l2_normalize
from .resnet import ResNet

__all__ = ["AGGREGATIONS", "PlaceNet", "SequenceDescriptor", "seqnet", "images_to_tensor"]

#: pooling choices of :class:`PlaceNet`
#: pooling choices of :class:`PlaceNet`
AGGREGATIONS = ("gem", "netvlad", "gem-grid")


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
