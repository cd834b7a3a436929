"""Raw-pixel descriptor: area resizing, greyscale, patch normalisation and L2 normalisation, by hand-made images."""

import numpy as np
import pytest

from omniloc.vpr import patch_normalise, raw_descriptors
from omniloc.vpr.descriptors import DEFAULT_PATCH, DEFAULT_SIZE, LUMA_WEIGHTS, area_resize_matrix


def test_area_resize_matrix_block_means_and_fractional_overlaps():
    np.testing.assert_allclose(area_resize_matrix(4, 2), [[0.5, 0.5, 0, 0], [0, 0, 0.5, 0.5]])
    # 3 -> 2: output pixels cover [0, 1.5) and [1.5, 3)
    np.testing.assert_allclose(area_resize_matrix(3, 2), [[2 / 3, 1 / 3, 0], [0, 1 / 3, 2 / 3]])
    np.testing.assert_allclose(area_resize_matrix(2, 4), [[1, 0], [1, 0], [0, 1], [0, 1]])  # enlarging repeats
    np.testing.assert_allclose(area_resize_matrix(7, 3).sum(axis=1), 1.0)
    with pytest.raises(ValueError, match="> 0"):
        area_resize_matrix(0, 2)


def test_patch_normalise_known_answer_whole_image():
    img = np.array([[[0, 2, 4, 6], [8, 10, 12, 14]]], dtype=np.uint8)  # block means 5 and 9
    out = patch_normalise(img, size=(2, 1), patch=None)
    assert out.dtype == np.float32 and out.shape == (1, 1, 2)
    np.testing.assert_allclose(out, [[[-1.0, 1.0]]])


def test_patch_normalise_non_integer_factor():
    # 4 -> 3 pixels: weights (3/4, 1/4), (1/2, 1/2), (1/4, 3/4) -> [1, 6, 11] -> (x - 6) / sqrt(50 / 3)
    img = np.array([[[0.0, 4.0, 8.0, 12.0]]])
    out = patch_normalise(img, size=(3, 1), patch=None)
    np.testing.assert_allclose(out[0, 0], np.array([-5.0, 0.0, 5.0]) / np.sqrt(50 / 3), rtol=1e-6)


def test_patch_normalise_every_patch_separately_and_constant_patches_are_zero():
    img = np.zeros((1, 2, 4))
    img[0, :, :2] = [[0, 0], [0, 4]]  # left 2 x 2 patch: mean 1, std sqrt(3)
    img[0, :, 2:] = 7.0  # right patch constant
    out = patch_normalise(img, size=None, patch=2)
    s = np.sqrt(3.0)
    np.testing.assert_allclose(out[0], [[-1 / s, -1 / s, 0, 0], [-1 / s, 3 / s, 0, 0]], rtol=1e-6)
    rect = patch_normalise(np.arange(24.0).reshape(1, 2, 12) ** 2, size=None, patch=(3, 2))  # (width, height)
    blocks = rect.reshape(2, 4, 3).transpose(1, 0, 2).reshape(4, 6)
    np.testing.assert_allclose(blocks.mean(axis=1), 0.0, atol=1e-6)
    np.testing.assert_allclose(blocks.std(axis=1), 1.0, rtol=1e-5)


def test_patch_normalise_colour_uses_luma_and_ignores_pixel_scale():
    red_blue = np.array([[[[255, 0, 0], [0, 0, 255]]]], dtype=np.uint8)  # luma 0.299 * 255 > 0.114 * 255
    np.testing.assert_allclose(patch_normalise(red_blue, size=None, patch=None), [[[1.0, -1.0]]])
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, size=(3, 16, 32, 3), dtype=np.uint8)
    grey = imgs.astype(np.float64) @ np.asarray(LUMA_WEIGHTS)
    a = patch_normalise(imgs, size=(8, 4), patch=4)
    np.testing.assert_allclose(patch_normalise(imgs.astype(np.float32) / 255.0, size=(8, 4), patch=4), a, atol=1e-5)
    np.testing.assert_allclose(patch_normalise(grey, size=(8, 4), patch=4), a, atol=1e-5)
    assert a.shape == (3, 4, 8)


def test_raw_descriptors_unit_length_cosine_and_the_zero_vector():
    img = np.array([[[0, 2, 4, 6], [8, 10, 12, 14]]], dtype=np.uint8)
    np.testing.assert_allclose(raw_descriptors(img, size=(2, 1), patch=None), [[-(0.5**0.5), 0.5**0.5]], rtol=1e-6)
    rng = np.random.default_rng(1)
    imgs = rng.integers(0, 256, size=(4, 32, 64, 3), dtype=np.uint8)
    imgs[3] = 9  # a constant image: every patch constant
    d = raw_descriptors(imgs)
    w, h = DEFAULT_SIZE
    assert d.shape == (4, w * h) and d.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(d[:3], axis=1), 1.0, rtol=1e-5)
    assert not d[3].any()
    flat = patch_normalise(imgs[:1]).reshape(1, -1)
    np.testing.assert_allclose(d[:1], flat / np.linalg.norm(flat), rtol=1e-5)  # the same thumbnail, scaled
    assert (d @ d.T)[0, 0] == pytest.approx(1.0, abs=1e-5)
    assert w % DEFAULT_PATCH == 0 and h % DEFAULT_PATCH == 0


@pytest.mark.parametrize(
    ("images", "kwargs", "message"),
    [
        (np.zeros((32, 64, 3), np.uint8), {}, "single RGB image"),
        (np.zeros((2, 32, 64, 4), np.uint8), {}, r"\(N, H, W, 3\)"),
        (np.zeros((2, 64)), {}, r"\(N, H, W\)"),
        (np.zeros((0, 32, 64)), {}, "at least one image"),
        (np.array([[["a"]]]), {}, "uint8 or float"),
        (np.full((1, 4, 4), np.nan), {"size": None, "patch": 2}, "NaN"),
        (np.zeros((1, 8, 8)), {"size": (6, 4), "patch": 4}, "must divide"),
        (np.zeros((1, 8, 8)), {"size": (0, 4)}, "> 0"),
        (np.zeros((1, 8, 8)), {"size": (4.5, 4)}, "pair of ints"),
        (np.zeros((1, 8, 8)), {"size": None, "patch": (2, 2, 2)}, "pair of ints"),
    ],
)
def test_bad_inputs_raise_clear_errors(images, kwargs, message):
    with pytest.raises(ValueError, match=message):
        patch_normalise(images, **kwargs)
    with pytest.raises(ValueError, match=message):
        raw_descriptors(images, **kwargs)
