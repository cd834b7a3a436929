"""Image quality of rendered views: PSNR and SSIM (for the Generative Map's generated images).

Both take numpy arrays of one image ``(H, W)`` / ``(H, W, C)`` or a batch ``(N, H, W)`` /
``(N, H, W, C)``, ``uint8`` or float, and compute in float64 (so ``uint8`` differences do not wrap).
A 3-D array is ambiguous; with ``batch=None`` it is one colour image when its last axis has 1, 3
or 4 entries and a batch of grey images otherwise; pass ``batch=True`` or ``False`` to say which.
One image gives a ``float``, a batch an ``(N,)`` array.

``data_range`` is the difference between the largest and the smallest possible pixel value: 255
for ``uint8``, 1 for float images in ``[0, 1]``, 2 for the ``[-1, 1]`` output of a ``tanh`` decoder.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

__all__ = ["psnr", "ssim"]


def _prepare(a, b, batch: bool | None, name: str) -> tuple[np.ndarray, np.ndarray, bool]:
    """Both arrays as float64 ``(N, H, W, C)``, and whether the input was a batch."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"{name}: the images must have the same shape, got {a.shape} and {b.shape}")
    for arr, which in ((a, "a"), (b, "b")):
        if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool) or np.iscomplexobj(arr):
            raise ValueError(f"{name}: {which} must be a real numeric array, got dtype {arr.dtype}")
    if a.ndim not in (2, 3, 4):
        raise ValueError(f"{name}: expected (H, W), (H, W, C), (N, H, W) or (N, H, W, C) images, got shape {a.shape}")
    if batch is None:
        batch = a.ndim == 4 or (a.ndim == 3 and a.shape[-1] not in (1, 3, 4))
    batch = bool(batch)
    if a.ndim == 4 and not batch:
        raise ValueError(f"{name}: a 4-D array is a batch (N, H, W, C), got batch=False with shape {a.shape}")
    if a.ndim == 2 and batch:
        raise ValueError(f"{name}: a batch needs (N, H, W) or (N, H, W, C), got batch=True with shape {a.shape}")
    a, b = a.astype(np.float64), b.astype(np.float64)
    if not batch:
        a, b = a[None], b[None]
    if a.ndim == 3:
        a, b = a[..., None], b[..., None]
    if a.size == 0:
        raise ValueError(f"{name}: empty images, shape {a.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError(f"{name}: the images contain NaN or infinite values")
    return a, b, batch


def _check_range(data_range: float, name: str) -> float:
    data_range = float(data_range)
    if not (np.isfinite(data_range) and data_range > 0):
        raise ValueError(f"{name}: data_range must be a positive finite number, got {data_range!r}")
    return data_range


def psnr(a, b, data_range: float = 255.0, *, batch: bool | None = None):
    """Peak signal-to-noise ratio ``10 log10(data_range^2 / MSE)``, decibels.

    The mean squared error is taken over all pixels and channels of each image.

    Parameters
    ----------
    a, b : array, (H, W), (H, W, C), (N, H, W) or (N, H, W, C)
        Images of the same shape, ``uint8`` or float.
    data_range : float
        Peak-to-peak range of the pixel values (255 for ``uint8``).
    batch : bool or None
        Whether the first axis indexes images (see the module docstring for ``None``).

    Returns
    -------
    float for one image, (N,) float64 for a batch; ``inf`` where the images are identical.

    Raises
    ------
    ValueError
        Different shapes, an unsupported number of dimensions, non-finite values, or a
        non-positive ``data_range``.
    """
    data_range = _check_range(data_range, "psnr")
    a, b, batched = _prepare(a, b, batch, "psnr")
    mse = ((a - b) ** 2).mean(axis=(1, 2, 3))
    with np.errstate(divide="ignore"):
        out = np.where(mse > 0, 10.0 * np.log10(data_range**2 / np.where(mse > 0, mse, 1.0)), np.inf)
    return out if batched else float(out[0])


def ssim(
    a,
    b,
    data_range: float = 255.0,
    win_size: int = 7,
    *,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    batch: bool | None = None,
):
    """Structural similarity (Wang, Bovik, Sheikh and Simoncelli 2004, Eq. 13) with a Gaussian window.

    Per channel, the local means, variances and covariance are Gaussian-weighted averages
    (``scipy.ndimage.gaussian_filter``, standard deviation ``sigma`` pixels, truncated to a
    ``win_size x win_size`` window, weights summing to 1; variances without a sample-size
    correction, as in the paper)::

        SSIM = (2 mu_a mu_b + C1) (2 s_ab + C2) / ((mu_a^2 + mu_b^2 + C1) (s_a^2 + s_b^2 + C2))

    with ``C1 = (k1 * data_range)^2`` and ``C2 = (k2 * data_range)^2``. The SSIM map is averaged over
    the *valid* region only: the pixels at least ``(win_size - 1) / 2`` from every border, where
    the whole window lies inside the image (the filter's border mode, ``reflect``, then never
    matters). The per-channel means are averaged over the channels.

    Parameters
    ----------
    a, b : array, (H, W), (H, W, C), (N, H, W) or (N, H, W, C)
        Images of the same shape, ``uint8`` or float; ``H`` and ``W`` at least ``win_size``.
    data_range : float
        Peak-to-peak range of the pixel values (255 for ``uint8``).
    win_size : int
        Odd side of the window, >= 3 (7 by default; Wang et al. use 11 with ``sigma = 1.5``).
    sigma : float
        Standard deviation of the Gaussian weights, pixels.
    k1, k2 : float
        Stabilising constants (the paper's 0.01 and 0.03).
    batch : bool or None
        Whether the first axis indexes images (see the module docstring for ``None``).

    Returns
    -------
    float for one image, (N,) float64 for a batch; 1 for identical images, at most 1.

    Raises
    ------
    ValueError
        Different shapes, images smaller than the window, an even or too small ``win_size``,
        non-finite values, or a non-positive ``data_range`` / ``sigma``.
    """
    data_range = _check_range(data_range, "ssim")
    if int(win_size) != win_size or win_size < 3 or win_size % 2 == 0:
        raise ValueError(f"ssim: win_size must be an odd integer >= 3, got {win_size!r}")
    if not (np.isfinite(sigma) and sigma > 0):
        raise ValueError(f"ssim: sigma must be positive, got {sigma!r}")
    a, b, batched = _prepare(a, b, batch, "ssim")
    h, w = a.shape[1:3]
    win_size = int(win_size)
    if h < win_size or w < win_size:
        raise ValueError(f"ssim: images must be at least win_size = {win_size} pixels on each side, got {h} x {w}")
    r = (win_size - 1) // 2

    # filter the two spatial axes only; scipy's window radius is int(truncate * sigma + 0.5) = r
    sig = (0.0, float(sigma), float(sigma), 0.0)
    truncate = r / float(sigma)

    def smooth(x: np.ndarray) -> np.ndarray:
        return gaussian_filter(x, sigma=sig, truncate=truncate, mode="reflect")

    mu_a, mu_b = smooth(a), smooth(b)
    var_a = smooth(a * a) - mu_a * mu_a
    var_b = smooth(b * b) - mu_b * mu_b
    cov = smooth(a * b) - mu_a * mu_b
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    s = ((2.0 * mu_a * mu_b + c1) * (2.0 * cov + c2)) / ((mu_a * mu_a + mu_b * mu_b + c1) * (var_a + var_b + c2))
    out = s[:, r : h - r, r : w - r, :].mean(axis=(1, 2)).mean(axis=1)
    return out if batched else float(out[0])
