"""The figure helpers draw what they are given with matplotlib's object API (no pyplot, no backend switch)."""

import subprocess
import sys

import numpy as np
import pytest

from omniloc.eval import Bars, Curve, Panel, plot_curves, plot_panels
from omniloc.eval.plots import _draw_panel, _figure


def test_curves_panel_draws_lines_bands_error_bars_and_reference_lines():
    fig, ax = _figure()
    panel = Panel(
        "x (m)",
        "error (m)",
        "title",
        hlines=[(2.5, "guess")],
        ylim_bottom=0.0,
        xscale="log",
        curves=[
            Curve("a", [1, 2, 4], [1.0, 2.0, 3.0], err=[0.5, 0.5, 0.5], band=True),
            Curve("b", [1, 2, 4], [3.0, 2.0, 1.0], err=[[0.1, 0.2, 0.3], [1.0, 1.0, 1.0]]),
            Curve(None, [1, 2, 4], [0.0, 0.0, 0.0]),
        ],
    )
    _draw_panel(ax, panel)
    assert ax.get_xlabel() == "x (m)" and ax.get_ylabel() == "error (m)" and ax.get_title() == "title"
    assert ax.get_xscale() == "log" and ax.get_ylim()[0] == 0.0
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert sorted(labels) == ["a", "b", "guess"]  # the unlabelled curve is not in the legend
    band = ax.collections[0].get_paths()[0].vertices  # the band spans y -/+ err
    assert band[:, 1].min() == pytest.approx(0.5) and band[:, 1].max() == pytest.approx(3.5)
    bars_b = next(c for c in ax.containers if c.get_label() == "b")  # error bars below 0.1-0.3, above 1
    np.testing.assert_allclose(bars_b.lines[0].get_ydata(), [3.0, 2.0, 1.0])
    segments = bars_b.lines[2][0].get_segments()
    np.testing.assert_allclose([s[:, 1] for s in segments], [[2.9, 4.0], [1.8, 3.0], [0.7, 2.0]])
    guess = next(line for line in ax.get_lines() if line.get_label() == "guess")
    assert guess.get_ydata()[0] == 2.5


def test_bars_panel_one_bar_per_category_and_series():
    fig, ax = _figure()
    _draw_panel(
        ax,
        Panel(
            "modality",
            "error (m)",
            bars=Bars(["imu", "wifi"], {"m1": ([1.0, 2.0], [0.1, 0.2]), "m2": ([3.0, 4.0], None)}),
        ),
    )
    heights = sorted(p.get_height() for p in ax.patches)
    assert heights == [1.0, 2.0, 3.0, 4.0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["imu", "wifi"]


def test_plot_panels_writes_a_png(tmp_path):
    out = plot_panels(
        [
            Panel("x", "y", curves=[Curve("a", [0, 1], [1, 2])]),
            Panel("x", "y", zero_line=True, curves=[Curve("d", [0, 1], [-1, 1], err=[0.5, 0.5])]),
        ],
        tmp_path / "p.png",
        ncols=1,
        sharex=True,
        height_ratios=[2, 1],
        title="two panels",
    )
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 1000
    assert plot_curves([Curve("a", [0, 1], [1, 2])], tmp_path / "c.png", "x", "y").stat().st_size > 1000
    with pytest.raises(ValueError, match="at least one panel"):
        plot_panels([], tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()


def test_plots_leave_pyplot_and_the_backend_alone(tmp_path):
    code = (
        "import matplotlib, sys; backend = matplotlib.get_backend()\n"
        "from omniloc.eval import Curve, plot_curves, plot_error_cdf\n"
        f"plot_curves([Curve('a', [0, 1], [1, 2])], r'{tmp_path / 'c.png'}', 'x', 'y')\n"
        f"plot_error_cdf({{'a': [1.0, 2.0]}}, r'{tmp_path / 'cdf.png'}')\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n"
        "assert matplotlib.get_backend() == backend, 'backend changed'\n"
    )
    env = {"MPLBACKEND": "svg", "PATH": ""}
    import os

    env.update({k: v for k, v in os.environ.items() if k in ("MPLCONFIGDIR", "HOME", "OMP_NUM_THREADS")})
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "c.png").stat().st_size > 1000 and (tmp_path / "cdf.png").stat().st_size > 1000
