"""Photometric and geometric image augmentation with torch ops, drawn per image from a torch generator.

:func:`augment` works on batches ``(N, 3, H, W)`` in [-1, 1] on any device; the training loops seed
it around a fit (:func:`~omniloc.nn.training.seeded`), so library code leaves the global generator alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._conf import merge_conf
from ..vpr.descriptors import LUMA_WEIGHTS

__all__ = ["AUGMENT_DEFAULTS", "augment"]

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


def _uniform(n: int, lo: float, hi: float, like: torch.Tensor, generator) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=generator, device=like.device, dtype=like.dtype)


def _grey(y: torch.Tensor) -> torch.Tensor:
    w = torch.tensor(LUMA_WEIGHTS, dtype=y.dtype, device=y.device)
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
