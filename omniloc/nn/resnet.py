"""ResNet-18/34 image encoders (He et al. 2016) and a Gaussian latent head (MVLoc Sec. 3.3).

MVLoc encodes the RGB image and the depth map each with a ResNet-34 whose last average pooling is
adaptive, followed by two parallel fully connected layers giving the mean and the (log-)variance of
the latent distribution: ``GaussianHead(ResNet(...).out_features, D)``. The depth encoder is the
same network with one input channel.

Module names follow the usual ResNet layout (``conv1``, ``bn1``, ``layer1`` ... ``layer4``, and
``downsample`` for a projection shortcut), so a state dict saved from a standard ResNet-18/34 with
the same widths loads into :class:`ResNet` once its ``fc.*`` entries are dropped. Weights are never
downloaded here.

Device and dtype follow the module's parameters; inputs are ``float`` tensors.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["BasicBlock", "ResNet", "resnet18", "resnet34", "GaussianHead"]

_LAYERS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}
_STEMS = ("imagenet", "small")


def _conv3x3(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """The two-convolution residual block of ResNet-18/34.

    ``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))`` with 3x3 convolutions (the first with
    ``stride``); the shortcut is the identity when the shape is kept, else a 1x1 convolution with
    ``stride`` followed by BatchNorm (``downsample``).

    Parameters
    ----------
    in_ch, out_ch : int
        Input and output channels.
    stride : int
        Stride of the first convolution and of the projection (2 halves the resolution).

    Shapes
    ------
    ``(N, in_ch, H, W)`` -> ``(N, out_ch, ceil(H / stride), ceil(W / stride))``.
    """

    expansion = 1

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1):
        super().__init__()
        in_ch, out_ch, stride = int(in_ch), int(out_ch), int(stride)
        self.conv1 = _conv3x3(in_ch, out_ch, stride)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(out_ch, out_ch)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, kernel_size=1, stride=stride, bias=False), nn.BatchNorm2d(out_ch)
            )
        self.in_ch, self.out_ch, self.stride = in_ch, out_ch, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """ResNet-18 or ResNet-34 feature extractor: stem, four stages of :class:`BasicBlock`, global pooling.

    Parameters
    ----------
    depth : 18 or 34
        Blocks per stage ``(2, 2, 2, 2)`` or ``(3, 4, 6, 3)``.
    in_channels : int
        3 for RGB; 1 for MVLoc's depth encoder (only the first convolution changes).
    width : int
        Channels of the first stage; the stages have ``width * (1, 2, 4, 8)`` (64 is the standard
        network; small widths such as 8 or 16 make CPU-sized models).
    stem : ``"imagenet"`` or ``"small"``
        ``imagenet``: 7x7 stride-2 convolution, BatchNorm, ReLU, 3x3 stride-2 max pooling (the
        input shrinks 4x before the stages, 32x overall). ``small``: 3x3 stride-1 convolution,
        BatchNorm, ReLU and no pooling (for tiny images, e.g. 32x32; 8x overall).
    zero_init_residual : bool
        Start the last BatchNorm scale of every block at 0, so each block starts as the identity.

    Attributes
    ----------
    out_features : int
        ``8 * width``, the size of the pooled feature vector.

    Shapes
    ------
    ``(N, in_channels, H, W)`` -> ``(N, 8 * width)``; any ``H, W`` (adaptive average pooling).

    Notes
    -----
    Convolutions start from Kaiming-normal weights (fan-out, ReLU gain), BatchNorm from scale 1
    and shift 0.
    """

    def __init__(
        self,
        depth: int = 18,
        in_channels: int = 3,
        width: int = 64,
        stem: str = "imagenet",
        zero_init_residual: bool = False,
    ):
        super().__init__()
        if int(depth) not in _LAYERS:
            raise ValueError(f"ResNet depth must be 18 or 34, got {depth!r}")
        if stem not in _STEMS:
            raise ValueError(f"unknown ResNet stem {stem!r}; expected 'imagenet' or 'small'")
        if int(width) < 1 or int(in_channels) < 1:
            raise ValueError(f"ResNet width and in_channels must be >= 1, got {width!r} and {in_channels!r}")
        self.depth, self.in_channels, self.width, self.stem = int(depth), int(in_channels), int(width), stem
        w = self.width
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(self.in_channels, w, kernel_size=7, stride=2, padding=3, bias=False)
            self.maxpool: nn.Module = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        else:
            self.conv1 = _conv3x3(self.in_channels, w)
            self.maxpool = nn.Identity()
        self.bn1 = nn.BatchNorm2d(w)
        self.relu = nn.ReLU(inplace=True)
        c = w
        stages = []
        for i, n_blocks in enumerate(_LAYERS[self.depth]):
            out = w * 2**i
            blocks = [BasicBlock(c, out, stride=1 if i == 0 else 2)]
            blocks += [BasicBlock(out, out) for _ in range(n_blocks - 1)]
            stages.append(nn.Sequential(*blocks))
            c = out
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.out_features = c
        self._init_weights(zero_init_residual)

    def _init_weights(self, zero_init_residual: bool) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, BasicBlock):
                    nn.init.zeros_(m.bn2.weight)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's feature map before pooling: ``(N, C, H, W)`` -> ``(N, 8 * width, H', W')``."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.avgpool(self.forward_features(x)).flatten(1)


def resnet18(in_channels: int = 3, width: int = 64, **kw) -> ResNet:
    """ResNet-18 (``ResNet(18, ...)``); ``kw``: ``stem``, ``zero_init_residual``."""
    return ResNet(18, in_channels=in_channels, width=width, **kw)


def resnet34(in_channels: int = 3, width: int = 64, **kw) -> ResNet:
    """ResNet-34 (``ResNet(34, ...)``), MVLoc's RGB and depth encoder; ``kw``: ``stem``, ``zero_init_residual``."""
    return ResNet(34, in_channels=in_channels, width=width, **kw)


class GaussianHead(nn.Module):
    """Two parallel linear layers giving a diagonal Gaussian: mean and log-variance (MVLoc Sec. 3.3).

    Parameters
    ----------
    in_features : int
        Size of the input feature vector (e.g. :attr:`ResNet.out_features`).
    dim : int
        Latent dimension ``D``.
    min_logvar, max_logvar : float
        The log-variance is clamped to this range (variances ``e^-10 .. e^10`` by default), which
        keeps products of experts and KL terms finite; the clamp passes no gradient outside it.

    Shapes
    ------
    ``(N, in_features)`` -> ``{"mu": (N, dim), "logvar": (N, dim)}``; ``logvar`` is the natural log of
    the per-dimension variance ``sigma^2``.
    """

    def __init__(self, in_features: int, dim: int, min_logvar: float = -10.0, max_logvar: float = 10.0):
        super().__init__()
        if not min_logvar < max_logvar:
            raise ValueError(f"min_logvar must be < max_logvar, got {min_logvar} and {max_logvar}")
        self.mu = nn.Linear(int(in_features), int(dim))
        self.logvar = nn.Linear(int(in_features), int(dim))
        self.in_features, self.dim = int(in_features), int(dim)
        self.min_logvar, self.max_logvar = float(min_logvar), float(max_logvar)

    def forward(self, h: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"mu": self.mu(h), "logvar": self.logvar(h).clamp(self.min_logvar, self.max_logvar)}
