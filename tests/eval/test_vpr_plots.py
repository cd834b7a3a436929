"""Place-recognition figures: the distance matrix with its matches and the retrieval grid are written, and bad
inputs are refused."""

import numpy as np
import pytest
from PIL import Image

from omniloc.eval import plot_distance_matrix, plot_retrievals
from omniloc.eval.plots import Curve, plot_curves


def route(q=60, n=80, seed=0):
    rng = np.random.default_rng(seed)
    D = rng.uniform(0.5, 1.0, (q, n))
    truth = np.arange(q) + 10
    D[np.arange(q), truth] = 0.1
    matched = truth.copy()
    matched[::7] = rng.integers(0, n, len(matched[::7]))
    return D, truth, matched


def images(n, seed, h=16, w=32):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def check_png(path, min_bytes=5000):
    assert path.is_file() and path.stat().st_size > min_bytes
    with Image.open(path) as img:
        assert img.format == "PNG" and min(img.size) > 200
        return np.asarray(img.convert("RGB"))


def test_distance_matrix_with_matches_truth_and_an_offset(tmp_path):
    D, truth, matched = route()
    out = plot_distance_matrix(D, tmp_path / "dm.png", matched=matched, truth=truth, tolerance=2, offset=(100, 100))
    pixels = check_png(out)
    red = (pixels[..., 0] > 180) & (pixels[..., 1] < 80) & (pixels[..., 2] < 80)
    green = (pixels[..., 1] > 130) & (pixels[..., 0] < 80) & (pixels[..., 2] < 80)
    assert red.sum() > 20 and green.sum() > 20  # wrong and right matches are both drawn
    plain = plot_distance_matrix(D, tmp_path / "plain.png", title="no overlays")
    check_png(plain)
    assert plain.stat().st_size != out.stat().st_size
    off = matched.copy()
    off[0] = -1  # off the (slice of the) matrix: not drawn, counted wrong
    check_png(plot_distance_matrix(D, tmp_path / "off.png", matched=off))


def test_retrievals_grid_with_borders_and_captions(tmp_path):
    q_img, db_img = images(4, 0), images(30, 1)
    ranked = np.array([[3, 4, 5], [10, -1, 2], [0, 1, 2], [29, 28, 27]])
    correct = np.zeros_like(ranked, dtype=bool)
    correct[[0, 2], 0] = True
    out = plot_retrievals(q_img, db_img, ranked, correct, tmp_path / "r.png", k=3, title="top 3")
    pixels = check_png(out)
    green = (pixels[..., 1] > 130) & (pixels[..., 0] < 80) & (pixels[..., 2] < 80)
    red = (pixels[..., 0] > 180) & (pixels[..., 1] < 80) & (pixels[..., 2] < 80)
    assert green.sum() > 100 and red.sum() > green.sum()  # 2 green borders, 9 red ones
    grey = plot_retrievals(
        q_img[:2, ..., 0], db_img[..., 0], ranked[:2], correct[:2], tmp_path / "g.png", k=2, query_labels=["a", "b"]
    )
    check_png(grey)


def test_recall_curves_reuse_plot_curves(tmp_path):
    out = plot_curves(
        [Curve("single frame", [1, 5, 10], [10.0, 21.0, 27.0]), Curve("SeqSLAM", [1, 5, 10], [87.0, 90.0, 91.0])],
        tmp_path / "recall.png",
        "N (database images retrieved)",
        "recall@N (%)",
        xscale="log",
        ylim_bottom=0,
    )
    check_png(out)


def test_bad_inputs_raise(tmp_path):
    D, truth, matched = route()
    with pytest.raises(ValueError, match=r"\(Q, N\)"):
        plot_distance_matrix(D[0], tmp_path / "x.png")
    with pytest.raises(ValueError, match="matched must be a"):
        plot_distance_matrix(D, tmp_path / "x.png", matched=matched[:-1])
    with pytest.raises(ValueError, match="truth must be a"):
        plot_distance_matrix(D, tmp_path / "x.png", truth=truth.astype(float))
    q_img, db_img = images(2, 0), images(5, 1)
    ranked, correct = np.array([[0, 1], [2, 3]]), np.ones((2, 2), bool)
    with pytest.raises(ValueError, match="ranked must be"):
        plot_retrievals(q_img, db_img, ranked, correct, tmp_path / "x.png", k=3)
    with pytest.raises(ValueError, match="outside the 5 database images"):
        plot_retrievals(q_img, db_img, ranked + 3, correct, tmp_path / "x.png", k=2)
    with pytest.raises(ValueError, match="correct must be"):
        plot_retrievals(q_img, db_img, ranked, correct.astype(int), tmp_path / "x.png", k=2)
    with pytest.raises(ValueError, match="query_labels"):
        plot_retrievals(q_img, db_img, ranked, correct, tmp_path / "x.png", k=2, query_labels=["a"])
    with pytest.raises(ValueError, match="k must be"):
        plot_retrievals(q_img, db_img, ranked, correct, tmp_path / "x.png", k=0)
    with pytest.raises(ValueError, match="needs"):
        plot_retrievals(q_img[:0], db_img, ranked[:0], correct[:0], tmp_path / "x.png", k=2)
    assert not list(tmp_path.glob("*.png"))  # nothing half-written
