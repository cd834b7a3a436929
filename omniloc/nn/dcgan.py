"""DC-GAN image encoder and decoder and the pose encoder of the Generative Map (Sec. 3.1, 3.2, 3.4).

The Generative Map is a VAE over the chain ``pose -> z -> image``: an image encoder ``q(z|I)``, an
image decoder ``p(I|z)`` and a pose encoder ``p(z|p)``. The paper uses DC-GAN (Radford et al. 2016)
"with 512 initial feature channels" for both image networks, ``96 x 96`` input images, ``64 x 64``
generated images and a latent size of 128 (7-Scenes; 256 for RobotCar), and for the pose encoder "a
standard 3-layer fully connected network, where the only hidden layer contains 512 units", with the
variance ``sigma_z|p`` fixed to 1 during training.

- :class:`DCGANEncoder`: the DC-GAN discriminator's convolution stack read as an encoder, ending in
  a Gaussian head (:class:`omniloc.nn.resnet.GaussianHead`): ``{"mu", "logvar"}``.
- :class:`DCGANDecoder`: the DC-GAN generator: a linear projection to a small feature map, then
  transposed convolutions doubling the resolution, ``tanh`` output in ``[-1, 1]``.
- :class:`PoseEncoder`: ``Linear -> ReLU -> Linear`` from a pose vector to the latent mean, with a
  fixed (default ``logvar = 0``, i.e. ``sigma = 1``) or predicted log-variance.

Images are ``float`` tensors ``(N, C, H, W)`` scaled to ``[-1, 1]`` (``2 * I / 255 - 1`` for
``uint8``), the range of the decoder's ``tanh``. ``logvar`` is the natural log of the per-dimension
variance. Device and dtype follow the module's parameters.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .resnet import GaussianHead

__all__ = ["DCGANEncoder", "DCGANDecoder", "PoseEncoder", "fourier_features"]


def _dcgan_init(module: nn.Module) -> None:
    """DC-GAN initialisation: (transposed) convolutions and linear weights ``N(0, 0.02)``, BatchNorm
    scales ``N(1, 0.02)``, all biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def _check_positive(**values: int) -> None:
    for name, v in values.items():
        if int(v) < 1:
            raise ValueError(f"{name} must be >= 1, got {v!r}")


class DCGANEncoder(nn.Module):
    """DC-GAN convolutional encoder with a Gaussian head: the image encoder ``q(z|I)`` of the Generative Map.

    ``n`` convolutions with 4x4 kernels, stride 2 and padding 1 (each maps a side ``s`` to
    ``floor(s / 2)``), the first followed by LeakyReLU(0.2) only and the others by BatchNorm and
    LeakyReLU(0.2), as in the DC-GAN discriminator. ``n`` is the largest number of halvings that
    keeps the side at least ``min_size``: ``n = floor(log2(input_size / min_size))``. The last
    convolution has ``channels`` outputs and each earlier one half as many as the next
    (``max(1, channels // 2^(n-1-i))`` for layer ``i``): for ``input_size=64, min_size=4,
    channels=512`` the widths are 64, 128, 256, 512 and the final map is ``512 x 4 x 4``.

    When ``input_size`` is not ``min_size * 2^k`` the last map is larger than ``min_size`` (for the
    paper's 96 x 96 input and ``min_size=4``: 96 -> 48 -> 24 -> 12 -> 6) and an adaptive average
    pooling brings it to ``min_size x min_size`` (6 -> 4, with overlapping windows); for exact sizes
    there is no pooling. The flattened ``channels * min_size^2`` features feed two parallel linear
    layers (:class:`~omniloc.nn.resnet.GaussianHead`) giving the mean and the clamped log-variance.

    Parameters
    ----------
    in_channels : int
        Image channels (3 for RGB, 1 for grey or depth).
    input_size : int
        Side of the square input images, pixels; at least ``2 * min_size``.
    latent_dim : int
        Latent size ``D`` (paper: 128 for 7-Scenes, 256 for RobotCar).
    channels : int
        Channels of the last convolution (paper: 512).
    min_size : int
        Side of the final feature map.
    min_logvar, max_logvar : float
        Clamp range of the log-variance (see :class:`~omniloc.nn.resnet.GaussianHead`).

    Attributes
    ----------
    widths : tuple of int
        Output channels of the convolutions, first to last.
    feature_size : int
        Side of the last convolution's map before any pooling.
    out_features : int
        ``channels * min_size^2``, the size of the vector fed to the head.

    Shapes
    ------
    ``(N, in_channels, input_size, input_size)`` -> ``{"mu": (N, D), "logvar": (N, D)}``; extra
    leading batch dimensions ``(..., C, H, W)`` are kept: ``(..., D)``.

    Notes
    -----
    Convolutions followed by BatchNorm have no bias (BatchNorm's shift replaces it); the first
    convolution has one. Weights start from the DC-GAN initialisation (``N(0, 0.02)``; BatchNorm
    scales ``N(1, 0.02)``). BatchNorm in training mode needs more than one value per channel, i.e.
    a batch of at least 2 when the final map is 1 x 1.
    """

    def __init__(
        self,
        in_channels: int = 3,
        input_size: int = 64,
        latent_dim: int = 128,
        channels: int = 512,
        min_size: int = 4,
        min_logvar: float = -10.0,
        max_logvar: float = 10.0,
    ):
        super().__init__()
        _check_positive(
            in_channels=in_channels, input_size=input_size, latent_dim=latent_dim, channels=channels, min_size=min_size
        )
        in_channels, input_size, latent_dim = int(in_channels), int(input_size), int(latent_dim)
        channels, min_size = int(channels), int(min_size)
        if input_size < 2 * min_size:
            raise ValueError(
                f"DCGANEncoder input_size must be at least 2 * min_size = {2 * min_size}, got {input_size}"
            )
        n, side = 0, input_size
        while side // 2 >= min_size:
            n, side = n + 1, side // 2
        widths = tuple(max(1, channels // 2 ** (n - 1 - i)) for i in range(n))
        layers: list[nn.Module] = []
        c = in_channels
        for i, w in enumerate(widths):
            layers.append(nn.Conv2d(c, w, kernel_size=4, stride=2, padding=1, bias=i == 0))
            if i > 0:
                layers.append(nn.BatchNorm2d(w))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            c = w
        self.features = nn.Sequential(*layers)
        self.feature_size = side
        self.pool: nn.Module = nn.Identity() if self.feature_size == min_size else nn.AdaptiveAvgPool2d(min_size)
        self.out_features = channels * min_size * min_size
        self.head = GaussianHead(self.out_features, latent_dim, min_logvar=min_logvar, max_logvar=max_logvar)
        self.in_channels, self.input_size, self.latent_dim = in_channels, input_size, latent_dim
        self.channels, self.min_size, self.widths = channels, min_size, widths
        _dcgan_init(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled, flattened features: ``(N, C, H, W)`` -> ``(N, channels * min_size^2)``."""
        return self.pool(self.features(x)).flatten(1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        expected = (self.in_channels, self.input_size, self.input_size)
        if x.dim() < 4 or tuple(x.shape[-3:]) != expected:
            raise ValueError(f"DCGANEncoder expects images (N, {', '.join(map(str, expected))}), got {tuple(x.shape)}")
        lead = x.shape[:-3]
        out = self.head(self.forward_features(x.reshape(-1, *expected)))
        return {k: v.reshape(*lead, self.latent_dim) for k, v in out.items()}


class DCGANDecoder(nn.Module):
    """DC-GAN generator: the image decoder ``p(I|z)`` of the Generative Map.

    A linear layer projects ``z`` to a ``channels x min_size x min_size`` map (BatchNorm, ReLU), then
    ``k = log2(output_size / min_size)`` transposed convolutions with 4x4 kernels, stride 2 and
    padding 1 each double the side; all but the last halve the channels and are followed by
    BatchNorm and ReLU, the last maps to ``out_channels`` and ends in ``tanh``. For
    ``output_size=64, min_size=4, channels=512``: 512 x 4 x 4 -> 256 x 8 x 8 -> 128 x 16 x 16 ->
    64 x 32 x 32 -> 3 x 64 x 64.

    Parameters
    ----------
    latent_dim : int
        Latent size ``D``.
    output_size : int
        Side of the square output images, pixels; must be ``min_size * 2^k`` with ``k >= 1``.
    out_channels : int
        Image channels.
    channels : int
        Channels of the projected map (paper: 512).
    min_size : int
        Side of the projected map.

    Attributes
    ----------
    widths : tuple of int
        Channels of the projected map and of every transposed convolution's output, first to last
        (the last is ``out_channels``).

    Shapes
    ------
    ``(..., D)`` -> ``(..., out_channels, output_size, output_size)``, values in ``[-1, 1]``.

    Notes
    -----
    The projection and the transposed convolutions followed by BatchNorm have no bias; the last
    transposed convolution has one. Intermediate channels are ``max(1, c // 2)``. DC-GAN
    initialisation as in :class:`DCGANEncoder`.
    """

    def __init__(
        self,
        latent_dim: int = 128,
        output_size: int = 64,
        out_channels: int = 3,
        channels: int = 512,
        min_size: int = 4,
    ):
        super().__init__()
        _check_positive(
            latent_dim=latent_dim,
            output_size=output_size,
            out_channels=out_channels,
            channels=channels,
            min_size=min_size,
        )
        latent_dim, output_size, out_channels = int(latent_dim), int(output_size), int(out_channels)
        channels, min_size = int(channels), int(min_size)
        ratio = output_size // min_size
        if output_size % min_size or ratio < 2 or ratio & (ratio - 1):
            raise ValueError(
                f"DCGANDecoder output_size must be min_size * 2^k with k >= 1 (min_size={min_size}), got {output_size}"
            )
        k = ratio.bit_length() - 1
        self.project = nn.Linear(latent_dim, channels * min_size * min_size, bias=False)
        self.project_bn = nn.BatchNorm2d(channels)
        layers: list[nn.Module] = []
        widths = [channels]
        c = channels
        for i in range(k):
            last = i == k - 1
            w = out_channels if last else max(1, c // 2)
            layers.append(nn.ConvTranspose2d(c, w, kernel_size=4, stride=2, padding=1, bias=last))
            layers += [nn.Tanh()] if last else [nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            widths.append(w)
            c = w
        self.deconv = nn.Sequential(*layers)
        self.latent_dim, self.output_size, self.out_channels = latent_dim, output_size, out_channels
        self.channels, self.min_size, self.widths = channels, min_size, tuple(widths)
        _dcgan_init(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() < 1 or z.shape[-1] != self.latent_dim:
            raise ValueError(f"DCGANDecoder expects latents (..., {self.latent_dim}), got {tuple(z.shape)}")
        lead = z.shape[:-1]
        h = self.project(z.reshape(-1, self.latent_dim)).view(-1, self.channels, self.min_size, self.min_size)
        x = self.deconv(torch.relu(self.project_bn(h)))
        return x.reshape(*lead, self.out_channels, self.output_size, self.output_size)


def fourier_features(p: torch.Tensor, bands: int) -> torch.Tensor:
    """Positional encoding of a vector: ``[p, sin(2^k pi p), cos(2^k pi p)]`` for ``k = 0 .. bands-1``.

    The encoding of NeRF (Mildenhall et al. 2020; Tancik et al. 2020 on why an MLP on it fits
    high-frequency functions its raw input cannot). ``(..., d)`` -> ``(..., d (1 + 2 bands))``;
    ``bands = 0`` returns ``p`` unchanged.
    """
    if bands < 0:
        raise ValueError(f"bands must be >= 0, got {bands}")
    if bands == 0:
        return p
    freq = math.pi * 2.0 ** torch.arange(bands, dtype=p.dtype, device=p.device)
    x = p[..., None, :] * freq[:, None]  # (..., bands, d)
    return torch.cat([p, torch.sin(x).flatten(-2), torch.cos(x).flatten(-2)], dim=-1)


class PoseEncoder(nn.Module):
    """The pose encoder ``p(z|p)`` of the Generative Map: a 3-layer fully connected network.

    Input layer, one hidden layer of ``hidden`` units with ReLU, output layer:
    ``mu = Linear(hidden, D)(relu(Linear(pose_dim, hidden)(p)))``. With ``fourier_bands > 0`` the
    input layer reads the positional encoding :func:`fourier_features` of ``p`` instead of ``p``
    (not in the paper: a plain MLP on a 6-D pose fits only a blurred map of a large scene). The
    log-variance is either the
    constant ``fixed_logvar`` (the paper fixes ``sigma_z|p = 1`` during training: ``0.0``, the
    default) or, with ``fixed_logvar=None``, predicted by a second linear head on the hidden layer
    and clamped to ``[min_logvar, max_logvar]``.

    Parameters
    ----------
    pose_dim : int
        Size of the pose vector (6: position and log-quaternion, normalised to a common scale as in
        the paper).
    latent_dim : int
        Latent size ``D``.
    hidden : int
        Hidden units (paper: 512).
    fixed_logvar : float or None
        Constant log-variance, or ``None`` for a learned head.
    min_logvar, max_logvar : float
        Clamp range of the learned log-variance.
    fourier_bands : int
        Octaves of the input's positional encoding (0: the raw pose, the paper's).

    Shapes
    ------
    ``(..., pose_dim)`` -> ``{"mu": (..., D), "logvar": (..., D)}``. A fixed ``logvar`` is a new
    constant tensor (no gradient) with ``mu``'s dtype and device.
    """

    def __init__(
        self,
        pose_dim: int = 6,
        latent_dim: int = 128,
        hidden: int = 512,
        fixed_logvar: float | None = 0.0,
        min_logvar: float = -10.0,
        max_logvar: float = 10.0,
        fourier_bands: int = 0,
    ):
        super().__init__()
        _check_positive(pose_dim=pose_dim, latent_dim=latent_dim, hidden=hidden)
        if fourier_bands < 0:
            raise ValueError(f"fourier_bands must be >= 0, got {fourier_bands!r}")
        self.fourier_bands = int(fourier_bands)
        if not min_logvar < max_logvar:
            raise ValueError(f"min_logvar must be < max_logvar, got {min_logvar} and {max_logvar}")
        if fixed_logvar is not None and not math.isfinite(float(fixed_logvar)):
            raise ValueError(f"fixed_logvar must be finite or None, got {fixed_logvar!r}")
        self.pose_dim, self.latent_dim, self.hidden = int(pose_dim), int(latent_dim), int(hidden)
        self.fc1 = nn.Linear(self.pose_dim * (1 + 2 * self.fourier_bands), self.hidden)
        self.mu = nn.Linear(self.hidden, self.latent_dim)
        self.logvar: nn.Linear | None = None if fixed_logvar is not None else nn.Linear(self.hidden, self.latent_dim)
        self.fixed_logvar = None if fixed_logvar is None else float(fixed_logvar)
        self.min_logvar, self.max_logvar = float(min_logvar), float(max_logvar)

    def forward(self, p: torch.Tensor) -> dict[str, torch.Tensor]:
        if p.dim() < 1 or p.shape[-1] != self.pose_dim:
            raise ValueError(f"PoseEncoder expects poses (..., {self.pose_dim}), got {tuple(p.shape)}")
        h = torch.relu(self.fc1(fourier_features(p, self.fourier_bands)))
        mu = self.mu(h)
        if self.logvar is None:
            logvar = mu.new_full(mu.shape, self.fixed_logvar)
        else:
            logvar = self.logvar(h).clamp(self.min_logvar, self.max_logvar)
        return {"mu": mu, "logvar": logvar}
