"""PSNR and SSIM: known answers, symmetry, batches, a brute-force reference and input errors."""

import math

import numpy as np
import pytest

import omniloc.eval
from omniloc.eval.image_quality import psnr, ssim


def _rng(seed=0):
    return np.random.default_rng(seed)


def _image(shape, seed=0):
    return _rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def test_psnr_known_answers():
    img = _image((16, 20, 3))
    assert psnr(img, img) == math.inf
    a = np.full((8, 8), 100, np.uint8)
    b = a + np.uint8(10)
    # MSE = 100, PSNR = 10 log10(255^2 / 100) = 20 log10(255 / 10); uint8 must not wrap either way
    assert psnr(a, b) == pytest.approx(20 * math.log10(255 / 10), rel=1e-12)
    assert psnr(b, a) == pytest.approx(20 * math.log10(255 / 10), rel=1e-12)
    assert psnr(a.astype(np.float32) / 255, b.astype(np.float32) / 255, data_range=1.0) == pytest.approx(
        20 * math.log10(25.5), rel=1e-6
    )
    # half the pixels off by 20: MSE = 200
    c = a.copy()
    c[:4] += 20
    assert psnr(a, c) == pytest.approx(10 * math.log10(255**2 / 200), rel=1e-12)
    assert isinstance(psnr(a, b), float)


def test_psnr_batches():
    a = _image((4, 12, 12, 3), seed=1)
    b = _image((4, 12, 12, 3), seed=2)
    b[2] = a[2]
    out = psnr(a, b)
    assert out.shape == (4,) and out[2] == math.inf
    for i in (0, 1, 3):
        assert out[i] == pytest.approx(psnr(a[i], b[i]), rel=1e-12)
    # 3-D: a batch of grey images unless the last axis looks like channels, or when told
    grey = psnr(a[..., 0], b[..., 0])
    assert grey.shape == (4,)
    assert grey[0] == pytest.approx(psnr(a[0, ..., 0], b[0, ..., 0]))
    rgb = psnr(a[0], b[0])
    assert isinstance(rgb, float)
    assert psnr(a[:3, :, :, 0], b[:3, :, :, 0], batch=True).shape == (3,)
    assert isinstance(psnr(a[0, :, :5, 0], b[0, :, :5, 0]), float)


def test_ssim_identical_symmetric_and_noisy():
    rng = _rng(3)
    img = _image((24, 24, 3), seed=3)
    assert ssim(img, img) == pytest.approx(1.0, abs=1e-12)
    noisy = np.clip(img.astype(float) + rng.normal(0, 20, img.shape), 0, 255).astype(np.uint8)
    s = ssim(img, noisy)
    assert 0 < s < 1
    assert ssim(noisy, img) == pytest.approx(s, rel=1e-12)
    more_noise = np.clip(img.astype(float) + rng.normal(0, 60, img.shape), 0, 255).astype(np.uint8)
    assert ssim(img, more_noise) < s
    # scaling both images and the data range together leaves SSIM unchanged
    assert ssim(img / 255.0, noisy / 255.0, data_range=1.0) == pytest.approx(s, rel=1e-10)


@pytest.mark.parametrize("c1,c2", [(100.0, 100.0), (100.0, 120.0), (0.0, 255.0), (30.0, 200.0)])
def test_ssim_of_constant_images_by_hand(c1, c2):
    # no variance anywhere: the structure term is C2 / C2 = 1 and
    # SSIM = (2 c1 c2 + C1) / (c1^2 + c2^2 + C1), C1 = (0.01 * 255)^2
    a, b = np.full((10, 12), c1), np.full((10, 12), c2)
    big_c1 = (0.01 * 255) ** 2
    expected = (2 * c1 * c2 + big_c1) / (c1**2 + c2**2 + big_c1)
    assert ssim(a, b) == pytest.approx(expected, rel=1e-10)
    rgb = np.stack([a, a, b], axis=-1), np.stack([a, b, b], axis=-1)
    # channels: (1, expected, 1) averaged
    assert ssim(*rgb) == pytest.approx((2 + expected) / 3, rel=1e-10)


def test_ssim_matches_a_brute_force_window_sum():
    # explicit 7 x 7 Gaussian weights (sigma 1.5, normalised), evaluated at every valid pixel
    rng = _rng(4)
    a = rng.uniform(0, 255, (11, 13))
    b = np.clip(a + rng.normal(0, 25, a.shape), 0, 255)
    r = 3
    g = np.exp(-(np.arange(-r, r + 1) ** 2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    vals = []
    for i in range(r, a.shape[0] - r):
        for j in range(r, a.shape[1] - r):
            pa, pb = a[i - r : i + r + 1, j - r : j + r + 1], b[i - r : i + r + 1, j - r : j + r + 1]
            ma, mb = (w * pa).sum(), (w * pb).sum()
            va, vb = (w * (pa - ma) ** 2).sum(), (w * (pb - mb) ** 2).sum()
            cov = (w * (pa - ma) * (pb - mb)).sum()
            vals.append((2 * ma * mb + c1) * (2 * cov + c2) / ((ma**2 + mb**2 + c1) * (va + vb + c2)))
    assert ssim(a, b) == pytest.approx(np.mean(vals), rel=1e-10)


def test_ssim_batch_matches_single_images():
    a = _image((3, 16, 16, 3), seed=5)
    b = _image((3, 16, 16, 3), seed=6)
    b[1] = a[1]
    out = ssim(a, b)
    assert out.shape == (3,)
    for i in range(3):
        assert out[i] == pytest.approx(ssim(a[i], b[i]), rel=1e-12)
    assert out[1] == pytest.approx(1.0)
    grey = ssim(a[..., 0], b[..., 0])
    assert grey.shape == (3,) and grey[0] == pytest.approx(ssim(a[0, ..., 0], b[0, ..., 0]), rel=1e-12)
    # per channel, averaged over channels
    per_channel = [ssim(a[0, ..., k], b[0, ..., k]) for k in range(3)]
    assert ssim(a[0], b[0]) == pytest.approx(np.mean(per_channel), rel=1e-12)
    assert ssim(a[0], b[0], win_size=3) != pytest.approx(ssim(a[0], b[0]))


def test_invalid_inputs():
    a = _image((16, 16, 3))
    with pytest.raises(ValueError, match=r"same shape, got \(16, 16, 3\) and \(16, 15, 3\)"):
        psnr(a, a[:, :15])
    with pytest.raises(ValueError, match="same shape"):
        ssim(a, a[..., :1])
    with pytest.raises(ValueError, match="at least win_size = 7"):
        ssim(a[:6], a[:6])
    with pytest.raises(ValueError, match="odd integer"):
        ssim(a, a, win_size=4)
    with pytest.raises(ValueError, match="data_range"):
        psnr(a, a, data_range=0)
    with pytest.raises(ValueError, match="NaN"):
        ssim(np.full((8, 8), np.nan), np.zeros((8, 8)))
    with pytest.raises(ValueError, match="expected"):
        psnr(np.zeros(5), np.zeros(5))
    with pytest.raises(ValueError, match="batch=False"):
        psnr(np.zeros((2, 4, 4, 3)), np.zeros((2, 4, 4, 3)), batch=False)


def test_exported_from_omniloc_eval():
    assert omniloc.eval.psnr is psnr and omniloc.eval.ssim is ssim
    assert {"psnr", "ssim"} <= set(omniloc.eval.__all__)
