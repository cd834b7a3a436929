"""Encoders: an MLP for vectors and a small CNN for images, chosen by input shape.

Device and dtype follow the module's parameters; inputs are ``float`` tensors.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["MLP", "ConvEncoder", "make_encoder"]


class MLP(nn.Module):
    """Fully connected network: ``Linear -> ReLU`` blocks, then a linear output layer.

    Parameters
    ----------
    in_dim : int
        Input features (inputs with more than two dimensions are flattened from dim 1).
    out_dim : int
    hidden : sequence of int
        Widths of the hidden layers.
    dropout : float
        Dropout after each hidden activation.

    Shapes
    ------
    ``(N, *in_shape)`` with ``prod(in_shape) == in_dim`` -> ``(N, out_dim)``.
    """

    def __init__(self, in_dim: int, out_dim: int, hidden: Sequence[int] = (128, 128), dropout: float = 0.0):
        super().__init__()
        layers, d = [], int(in_dim)
        for h in hidden:
            layers += [nn.Linear(d, int(h)), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            d = int(h)
        layers.append(nn.Linear(d, int(out_dim)))
        self.net = nn.Sequential(*layers)
        self.in_dim, self.out_dim = int(in_dim), int(out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))


class ConvEncoder(nn.Module):
    """Small CNN: ``Conv3x3(stride 2) -> BatchNorm -> ReLU`` blocks, global average pooling, linear.

    Parameters
    ----------
    in_channels : int
    out_dim : int
    widths : sequence of int
        Channels of each stride-2 block (each halves the resolution).

    Shapes
    ------
    ``(N, C, H, W)`` -> ``(N, out_dim)``.
    """

    def __init__(self, in_channels: int, out_dim: int, widths: Sequence[int] = (16, 32, 64, 64)):
        super().__init__()
        layers, c = [], int(in_channels)
        for w in widths:
            layers += [nn.Conv2d(c, int(w), 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(int(w)), nn.ReLU()]
            c = int(w)
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c, int(out_dim))
        self.out_dim = int(out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(dim=(2, 3)))


def make_encoder(
    input_shape: Sequence[int],
    out_dim: int,
    kind: str = "auto",
    hidden: Sequence[int] = (128, 128),
    widths: Sequence[int] = (16, 32, 64, 64),
    min_image_px: int = 16,
) -> nn.Module:
    """An encoder for samples of shape ``input_shape`` (without the batch dimension).

    Parameters
    ----------
    input_shape : (D,) for vectors or (C, H, W) for images
    out_dim : int
    kind : ``"auto"``, ``"mlp"`` or ``"cnn"``
        ``auto``: the CNN for images of at least ``min_image_px`` on each side, else the MLP on the
        flattened input (small patches, e.g. a maze's 7x7 window, are vectors to it).
    hidden, widths : layer sizes of the MLP and of the CNN.

    Returns
    -------
    :class:`MLP` or :class:`ConvEncoder`
    """
    shape = tuple(int(v) for v in input_shape)
    if kind == "auto":
        kind = "cnn" if len(shape) == 3 and min(shape[1:]) >= min_image_px else "mlp"
    if kind == "cnn":
        if len(shape) != 3:
            raise ValueError(f"the cnn encoder needs (C, H, W) inputs, got shape {shape}")
        return ConvEncoder(shape[0], out_dim, widths)
    if kind == "mlp":
        d = 1
        for v in shape:
            d *= v
        return MLP(d, out_dim, hidden)
    raise ValueError(f"unknown encoder kind {kind!r}; expected 'auto', 'mlp' or 'cnn'")
