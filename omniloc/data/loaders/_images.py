"""Image files of RGB-D datasets (TUM RGB-D, 7-Scenes): colour and 16-bit depth PNG/JPEG reading with
one-line errors naming the file, and the checks on image sizes that the loaders share."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..._errors import ConfigError, DataError

__all__ = ["read_color_image", "read_depth_png", "same_size", "target_size"]


def read_color_image(path, field: str = "rgb") -> np.ndarray:
    """Read a colour image (PNG or JPEG) with Pillow -> (H, W, 3) uint8.

    Grey, palette and RGBA images are converted to RGB. Raises :class:`DataError` (naming
    ``path`` and ``field``) for a missing, unreadable or truncated file.
    """
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise DataError("image not found; expected a colour PNG or JPEG file", file=path, field=field)
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode not in ("RGB", "RGBA", "L", "P", "LA", "CMYK", "YCbCr"):
                raise DataError(f"image mode {im.mode}; expected an 8-bit colour or grey image", file=path, field=field)
            return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    except DataError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise DataError(
            f"unreadable or truncated image ({e}); expected a colour PNG or JPEG file", file=path, field=field
        ) from None


def read_depth_png(path, field: str = "depth") -> np.ndarray:
    """Read a 16-bit single-channel depth PNG with Pillow -> (H, W) uint16 (the stored values, no units applied).

    Raises :class:`DataError` (naming ``path`` and ``field``) for a missing, unreadable or truncated
    file, or an image that is not 16-bit grey (an 8-bit depth image has lost its units).
    """
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise DataError("image not found; expected a 16-bit depth PNG", file=path, field=field)
    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            arr = np.asarray(im)
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise DataError(
            f"unreadable or truncated image ({e}); expected a 16-bit depth PNG", file=path, field=field
        ) from None
    if not mode.startswith("I") or arr.ndim != 2:
        raise DataError(f"image mode {mode}; expected a 16-bit single-channel depth PNG", file=path, field=field)
    if arr.dtype != np.uint16:
        if arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise DataError(
                f"depth values {arr.min()}..{arr.max()}; expected 16-bit values 0..65535", file=path, field=field
            )
        arr = arr.astype(np.uint16)
    return np.array(arr, dtype=np.uint16)


def same_size(images: list[np.ndarray], files: list[Path], field: str, expected=None) -> tuple[int, int]:
    """The common (H, W) of ``images``; a DataError naming the first image of another size."""
    hw = tuple(expected) if expected is not None else images[0].shape[:2]
    for img, f in zip(images, files, strict=True):
        if img.shape[:2] != hw:
            raise DataError(
                f"image is {img.shape[1]}x{img.shape[0]}; expected {hw[1]}x{hw[0]} like the first {field} image",
                file=f,
                field=field,
            )
    return hw


def target_size(size, hw: tuple[int, int], where) -> tuple[int, int] | None:
    """Validate ``size = (W, H)`` against images of ``hw = (H, W)``; None when no reduction."""
    if size is None:
        return None
    try:
        tw, th = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ConfigError(f"size must be (width, height) in pixels, got {size!r}") from None
    if (tw, th) == (hw[1], hw[0]):
        return None
    if tw < 1 or th < 1 or hw[1] % tw or hw[0] % th:
        raise ConfigError(
            f"size {tw}x{th} does not divide the {hw[1]}x{hw[0]} images of {where}; expected a size reached "
            "by integer factors (e.g. 160x120 from 640x480)"
        )
    return tw, th


# ---------------------------------------------------------------------------------------------- text
