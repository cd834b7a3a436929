"""The raw-pixel place descriptor: small, greyscale, patch-normalised images (SeqSLAM's preprocessing).

SeqSLAM (Milford & Wyeth, "SeqSLAM: Visual route-based navigation for sunny summer days and stormy
winter nights", ICRA 2012) compares places by the pixels of tiny images: every frame is turned to
greyscale, reduced to a few hundred pixels, and each small patch of the reduced image is normalised
to zero mean and unit variance. The reduction removes detail that changes between visits; the patch
normalisation removes the local brightness and contrast that lighting and season change. What is
left is a coarse map of local structure, compared pixel by pixel.

* :func:`patch_normalise`: images (N, H, W[, 3]) -> (N, h, w) float32 patch-normalised thumbnails;
* :func:`raw_descriptors`: the same, flattened and L2-normalised to (N, h * w), so that the cosine
  similarity of two places is the inner product of their descriptors (what
  :class:`omniloc.vpr.DescriptorIndex` searches) and ``1 - q @ d.T`` is a distance matrix for
  :func:`omniloc.vpr.sequence_match`.

The defaults, ``size=DEFAULT_SIZE = (48, 24)`` and ``patch=DEFAULT_PATCH = 4``, were chosen on the
first 60 % of the Nordland track (winter queries against the summer database, recall@1 within +-2
frames; :mod:`omniloc.data.loaders.nordland` has the protocol) for sequence matching, their main use:
of 28 size / patch pairs from 16x8 to 64x32 they gave the best SeqSLAM recall@1 (0.910, with length 20
and a normalisation window of 10) and a single-frame recall@1 of 0.149. The best single-frame pair
there, 64x32 with patch 8, gives 0.192 alone but 0.888 with sequences; per-image normalisation
(``patch=None``) at 64x32 gives 0.133 and 0.884.

>>> img = np.array([[[0, 2, 4, 6], [8, 10, 12, 14]]], dtype=np.uint8)  # one 2 x 4 greyscale image
>>> patch_normalise(img, size=(2, 1), patch=None)  # block means 5 and 9, then zero mean, unit variance
array([[[-1.,  1.]]], dtype=float32)
>>> raw_descriptors(img, size=(2, 1), patch=None)  # flattened, unit length
array([[-0.70710677,  0.70710677]], dtype=float32)
"""

from __future__ import annotations

import numpy as np

__all__ = ["patch_normalise", "raw_descriptors", "area_resize_matrix", "LUMA_WEIGHTS", "DEFAULT_SIZE", "DEFAULT_PATCH"]

#: ITU-R BT.601 luma weights of R, G, B (what Pillow's ``convert("L")`` and OpenCV use).
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
#: Default thumbnail size (width, height), pixels; tuned on the first 60 % of Nordland.
DEFAULT_SIZE = (48, 24)
#: Default patch side, pixels of the thumbnail; tuned on the first 60 % of Nordland.
DEFAULT_PATCH = 4
#: A patch whose standard deviation is below this fraction of ``max(1, |mean|)`` counts as constant.
_CONSTANT_RTOL = 1e-6


def area_resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Weights of area-averaging resampling along one axis.

    Output pixel ``o`` covers the input interval ``[o * n_in / n_out, (o + 1) * n_in / n_out)``; its
    value is the mean of the input over that interval, each input pixel weighted by the length of
    its overlap (the "area" rule of image resizers). An integer factor gives plain block means; a
    larger output repeats pixels.

    Parameters
    ----------
    n_in, n_out : int
        Input and output lengths, pixels (> 0).

    Returns
    -------
    (n_out, n_in) float64
        Rows sum to 1; ``A @ x`` resamples a signal ``x`` (n_in,).
    """
    if n_in < 1 or n_out < 1:
        raise ValueError(f"area_resize_matrix needs lengths > 0, got {n_in} -> {n_out}")
    edges = np.arange(n_out + 1, dtype=np.float64) * (n_in / n_out)
    lo, hi = edges[:-1, None], edges[1:, None]
    p = np.arange(n_in, dtype=np.float64)[None, :]
    overlap = np.clip(np.minimum(p + 1.0, hi) - np.maximum(p, lo), 0.0, None)
    return overlap / overlap.sum(axis=1, keepdims=True)


def _pair(value, name: str) -> tuple[int, int]:
    """An int or a (width, height) pair of ints > 0."""
    pair = (value, value) if np.isscalar(value) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in pair):
        raise ValueError(f"{name} must be an int or a (width, height) pair of ints, got {value!r}")
    if min(pair) < 1:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return int(pair[0]), int(pair[1])


def _greyscale(images) -> np.ndarray:
    """(N, H, W) or (N, H, W, 3) uint8 / float -> (N, H, W) float64 luma, in the input's units."""
    arr = np.asarray(images)
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"images must be uint8 or float, got dtype {arr.dtype}")
    if arr.ndim == 4 and arr.shape[-1] == 3:
        grey = arr.astype(np.float64) @ np.asarray(LUMA_WEIGHTS)
    elif arr.ndim == 3 and arr.shape[-1] == 3:
        raise ValueError(
            f"images of shape {arr.shape} look like a single RGB image; pass (N, H, W, 3) (e.g. image[None]), or "
            "(N, H, W) greyscale images at least 4 pixels wide"
        )
    elif arr.ndim == 3:
        grey = arr.astype(np.float64)
    else:
        raise ValueError(
            f"images must have shape (N, H, W) greyscale or (N, H, W, 3) RGB, got {arr.shape}; a single image needs a "
            "leading axis of length 1"
        )
    if grey.shape[0] == 0 or min(grey.shape[1:]) == 0:
        raise ValueError(f"images must hold at least one image of at least one pixel, got shape {arr.shape}")
    if not np.isfinite(grey).all():
        raise ValueError("images hold NaN or infinite values; expected finite pixel values")
    return grey


def patch_normalise(images, size=DEFAULT_SIZE, patch=DEFAULT_PATCH) -> np.ndarray:
    """Greyscale, area-downsampled, patch-normalised thumbnails (SeqSLAM's image preprocessing).

    Three steps, as in Milford & Wyeth (2012): (1) greyscale by the BT.601 luma weights
    (:data:`LUMA_WEIGHTS`); (2) resize to ``size`` by area averaging (:func:`area_resize_matrix`);
    (3) split the thumbnail into non-overlapping ``patch`` x ``patch`` blocks and give each block zero
    mean and unit (population) standard deviation. A constant block (standard deviation below
    ``1e-6 * max(1, |mean|)``) becomes 0: it carries no structure.

    Parameters
    ----------
    images : (N, H, W, 3) RGB or (N, H, W) greyscale, uint8 or float
        Any pixel scale (the normalisation removes it). A 3-D array whose last axis has length 3 is
        refused as ambiguous (a single RGB image, or greyscale images 3 pixels wide).
    size : (width, height) of ints, or None
        Thumbnail size, pixels; None keeps the input size.
    patch : int, (width, height) of ints, or None
        Patch size, thumbnail pixels; it must divide ``size``. None normalises the whole thumbnail
        at once (one patch per image).

    Returns
    -------
    (N, height, width) float32
        Every patch with zero mean and unit variance (or all 0).

    Raises
    ------
    ValueError
        A shape other than (N, H, W[, 3]), a non-numeric dtype, non-finite pixels, a size or patch
        that is not positive, or a patch that does not divide the thumbnail.
    """
    grey = _greyscale(images)
    n, h_in, w_in = grey.shape
    w, h = (w_in, h_in) if size is None else _pair(size, "size")
    if (w, h) != (w_in, h_in):
        grey = area_resize_matrix(h_in, h) @ grey @ area_resize_matrix(w_in, w).T
    pw, ph = (w, h) if patch is None else _pair(patch, "patch")
    if w % pw or h % ph:
        raise ValueError(
            f"patch {pw}x{ph} must divide the thumbnail size {w}x{h} (width x height); choose a size that is a "
            "multiple of the patch"
        )
    blocks = grey.reshape(n, h // ph, ph, w // pw, pw)
    mean = blocks.mean(axis=(2, 4), keepdims=True)
    std = blocks.std(axis=(2, 4), keepdims=True)
    constant = std <= _CONSTANT_RTOL * np.maximum(1.0, np.abs(mean))
    out = np.where(constant, 0.0, (blocks - mean) / np.where(constant, 1.0, std))
    return out.reshape(n, h, w).astype(np.float32)


def raw_descriptors(images, size=DEFAULT_SIZE, patch=DEFAULT_PATCH) -> np.ndarray:
    """Raw-pixel place descriptors: :func:`patch_normalise` thumbnails, flattened and L2-normalised.

    With unit-length descriptors the cosine similarity of two images is their inner product, and
    ``1 - q @ d.T`` (in [0, 2]) is a distance for sequence matching. For patch-normalised
    thumbnails the squared Euclidean distance is an affine function of it (``2 - 2 cos``), so nearest
    neighbours are the same either way (SeqSLAM uses the sum of absolute differences instead).

    Parameters
    ----------
    images, size, patch
        As :func:`patch_normalise`.

    Returns
    -------
    (N, width * height) float32
        Row-major flattened thumbnails with unit L2 norm; an image whose every patch is constant
        gives the zero vector (similarity 0 to everything).
    """
    thumbs = patch_normalise(images, size=size, patch=patch)
    flat = thumbs.reshape(len(thumbs), -1).astype(np.float64)
    norm = np.linalg.norm(flat, axis=1, keepdims=True)
    return (flat / np.where(norm > 0, norm, 1.0)).astype(np.float32)
