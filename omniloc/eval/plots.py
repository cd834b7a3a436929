"""Plots a person would rather look at than read: error CDFs, trajectories over the floor plan, frames,
and for place recognition the distance matrix with its matches and the retrieved images."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._io import atomic_path
from ..data import Dataset, Estimate, FloorPlan

__all__ = [
    "plot_error_cdf",
    "plot_floor_plan",
    "plot_trajectories",
    "plot_frames",
    "plot_render_strip",
    "write_gif",
    "plot_survey_coverage",
    "Curve",
    "Bars",
    "Panel",
    "plot_panels",
    "plot_curves",
    "plot_distance_matrix",
    "plot_retrievals",
]


def _figure(*args, figsize=(6, 4), **kwargs):
    """A figure with an Agg canvas and its axes (``Figure.subplots`` arguments): matplotlib's
    object API, so no pyplot state and no backend switch in the calling process."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(*args, **kwargs)


def _save(fig, path) -> Path:
    path = Path(path)
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    return path


def plot_error_cdf(
    errors: dict[str, np.ndarray],
    path,
    title: str = "Position error CDF",
    unit: str = "m",
    max_error: float | None = None,
    quantity: str = "position error",
) -> Path:
    """Empirical CDFs of errors (position by default), one curve per method, with the median marked.

    Parameters
    ----------
    errors : dict label -> (M,) errors in ``unit``
    path : output PNG
    quantity : str
        What the errors are (the x-axis label, e.g. ``"rotation error"``).
    """
    from .metrics import error_cdf

    fig, ax = _figure(figsize=(6, 4))
    hi = 0.0
    for label, e in errors.items():
        x, y = error_cdf(e)
        if not len(x):
            continue
        med = float(np.median(x))
        ax.step(x, y, where="post", label=f"{label} (median {med:.2f} {unit})")
        hi = max(hi, float(np.percentile(x, 98)))
    ax.set_xlim(0, max_error or max(hi, 1e-3))
    ax.set_ylim(0, 1)
    ax.set_xlabel(f"{quantity} [{unit}]")
    ax.set_ylabel("fraction of estimates")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)


def draw_floor_plan(ax, plan: FloorPlan, zones: bool = True, labels: bool = True) -> None:
    """Draw walls (and zones, or the raster) of ``plan`` on a matplotlib axis, in metres."""
    if plan.raster is not None and plan.pixel_to_metre is not None:
        h, w = plan.raster.shape[:2]
        corners = np.array([[-0.5, -0.5, 1.0], [w - 0.5, h - 0.5, 1.0]]) @ plan.pixel_to_metre.T
        img = plan.raster
        cmap = "gray_r" if img.ndim == 2 and plan.meta.get("raster_kind") == "occupancy" else None
        ax.imshow(
            img,
            cmap=cmap,
            extent=(corners[0, 0], corners[1, 0], corners[1, 1], corners[0, 1]),
            origin="upper" if corners[1, 1] < corners[0, 1] else "lower",
            alpha=0.5 if cmap else 0.8,
            interpolation="nearest",
        )
    if zones and plan.zones:
        import matplotlib.patches as mpatches

        cmap = _zone_cmap(len(plan.zones))
        for i, (label, poly) in enumerate(plan.zones.items()):
            ax.add_patch(mpatches.Polygon(poly, closed=True, facecolor=cmap(i), alpha=0.18, edgecolor="none"))
            if labels and len(plan.zones) <= 60:
                c = poly.mean(axis=0)
                ax.text(c[0], c[1], label, fontsize=5, ha="center", va="center", alpha=0.6)
    if len(plan.walls):
        from matplotlib.collections import LineCollection

        ax.add_collection(LineCollection(plan.walls, colors="k", linewidths=0.8))
    b = plan.bounds
    ax.set_xlim(b[0] - 0.5, b[2] + 0.5)
    ax.set_ylim(b[1] - 0.5, b[3] + 0.5)
    ax.set_aspect("equal")
    ax.set_xlabel("x [m]")
    ax.set_ylabel("y [m]")


def _zone_cmap(n):
    import matplotlib

    return matplotlib.colormaps["tab20"].resampled(max(n, 1))


def plot_floor_plan(plan: FloorPlan, path, points: np.ndarray | None = None, title: str | None = None) -> Path:
    """The floor plan alone (optionally with marked points, e.g. access points), as PNG."""
    fig, ax = _figure(figsize=(8, 8 * plan.size_m[1] / max(plan.size_m[0], 1e-6) + 0.5))
    draw_floor_plan(ax, plan)
    if points is not None and len(points):
        ax.plot(points[:, 0], points[:, 1], "r^", ms=5, label="access points")
        ax.legend(fontsize=7)
    ax.set_title(title or plan.name)
    return _save(fig, path)


def _floor_plan_or_none(ds: Dataset, floor: int, building: int) -> FloorPlan | None:
    """The dataset's plan of ``floor`` in ``building``, or None when it has none (plots then draw without it)."""
    try:
        return ds.floor_plan(floor, building)
    except Exception:
        return None


def plot_trajectories(
    truth: Dataset,
    estimates: dict[str, Estimate],
    path,
    recording: str | None = None,
    max_recordings: int = 1,
    title: str | None = None,
    clouds: list[dict] | None = None,
) -> Path:
    """Ground truth vs estimated trajectories over the floor plan.

    One panel per floor visited by the chosen recording(s). Estimates off the true floor are
    drawn on the panel of the floor they were estimated on when they carry a floor.

    Parameters
    ----------
    truth : Dataset with the recordings and floor plans
    estimates : dict label -> Estimate (methods to overlay)
    recording : name of the recording to draw; default: the first ``max_recordings`` that have estimates
    clouds : list of dict, optional
        Particle clouds to draw on their floor's panel: ``xy`` (N, 2) metres, ``weight`` (N,),
        ``floor`` int, ``label`` str (e.g. the time); the darker a particle, the heavier.
    """
    names = (
        [recording]
        if recording
        else list(dict.fromkeys(n for est in estimates.values() for n in est.recording.tolist()))[:max_recordings]
    )
    recs = [truth[n] for n in names]
    floors = sorted({int(f) for r in recs for f in (np.unique(r.floor) if r.floor is not None else [0])})
    blds = {int(r.building[0]) if r.building is not None else 0 for r in recs}
    building = min(blds) if blds else 0
    panels = [(f, _floor_plan_or_none(truth, f, building)) for f in floors]
    ncol = len(panels)
    sizes = [p.size_m for _, p in panels if p is not None]
    aspect = min(max(max(h / max(w, 1e-6) for w, h in sizes), 0.3), 2.0) if sizes else 0.8
    fig, axes = _figure(1, ncol, figsize=(7 * ncol, 7 * aspect + 1.2), squeeze=False)
    colors = ["tab:red", "tab:blue", "tab:orange", "tab:purple", "tab:brown", "tab:pink"]
    for ax, (f, plan) in zip(axes[0], panels):
        if plan is not None:
            draw_floor_plan(ax, plan, labels=False)
        for k, cloud in enumerate(clouds or []):
            if int(cloud.get("floor", f)) != f:
                continue
            w = np.asarray(cloud["weight"], dtype=np.float64)
            order = np.argsort(w)
            alpha = 0.15 + 0.85 * w[order] / max(float(w.max()), 1e-300)
            rgba = np.zeros((len(w), 4))
            rgba[:, :3] = (0.45, 0.1, 0.6)
            rgba[:, 3] = alpha
            xy = np.asarray(cloud["xy"])[order]
            ax.scatter(xy[:, 0], xy[:, 1], s=1.5, c=rgba, linewidths=0, label="particles" if k == 0 else None)
            if cloud.get("label"):
                c = np.average(xy, axis=0, weights=w[order])
                ax.annotate(str(cloud["label"]), c, fontsize=6, color=(0.45, 0.1, 0.6))
        for r in recs:
            if r.position is None:
                continue
            on = (r.floor == f) if r.floor is not None else np.ones(len(r), bool)
            pos = np.where(on[:, None], r.position, np.nan)
            ax.plot(pos[:, 0], pos[:, 1], "-", color="green", lw=2, label="ground truth")
            if on[0]:
                ax.plot(*r.position[0, :2], "go", ms=6, label="start")
            for (label, est), c in zip(estimates.items(), colors):
                e = est.for_recording(r.name)
                if not len(e):
                    continue
                ef = e.floor if e.floor is not None else None
                if ef is None:
                    tf = np.interp(e.t, r.t, r.floor) if r.floor is not None else np.zeros(len(e))
                    on_e = np.rint(tf) == f
                else:
                    on_e = ef == f
                p = np.where(on_e[:, None], e.position, np.nan)  # gaps where the walk is on another floor
                style = ".-" if on_e.sum() < 400 else "-"
                ax.plot(p[:, 0], p[:, 1], style, color=c, lw=0.8, ms=2.5, alpha=0.8, label=label)
        if plan is None and r.position is not None:
            ax.set_aspect("equal")
        ax.set_title(f"floor {f}" + (f" ({plan.name})" if plan is not None else ""))
        handles, labels = ax.get_legend_handles_labels()
        uniq = dict(zip(labels, handles))
        ax.legend(uniq.values(), uniq.keys(), fontsize=7, loc="best")
    fig.suptitle(title or f"trajectory {', '.join(names)}")
    return _save(fig, path)


def plot_survey_coverage(
    train: Dataset, test: Dataset, floor: int, path, building: int = 0, title: str | None = None
) -> Path:
    """Where the training recordings went (grey) and where the test recordings go (red), on one floor.

    Shows at a glance how much of the test paths a fingerprint survey covers
    (:func:`omniloc.eval.survey_distance` puts a number on it).

    Parameters
    ----------
    train, test : Dataset
        Recordings with ground-truth ``position`` (and ``floor``); ``test`` holds the floor plans.
    floor : int
        Floor to draw.
    building : int
        Building of the floor plan.
    """
    plan = _floor_plan_or_none(test, floor, building)
    size = plan.size_m if plan is not None else (1.0, 0.8)
    aspect = min(max(size[1] / max(size[0], 1e-6), 0.3), 2.0)
    fig, ax = _figure(figsize=(8, 8 * aspect + 1.0))
    if plan is not None:
        draw_floor_plan(ax, plan, labels=False)
    counts = {}
    for ds, color, lw, label in ((train, "0.35", 1.2, "training paths"), (test, "tab:red", 1.8, "test paths")):
        n = 0
        for rec in ds:
            if rec.position is None:
                continue
            on = (rec.floor == floor) if rec.floor is not None else np.full(len(rec), floor == 0)
            if not on.any():
                continue
            p = np.where(on[:, None], rec.position[:, :2], np.nan)
            ax.plot(p[:, 0], p[:, 1], "-", color=color, lw=lw, alpha=0.8, label=label if n == 0 else None)
            n += 1
        counts[label] = n
    if plan is None:
        ax.set_aspect("equal")
    if ax.get_legend_handles_labels()[1]:
        ax.legend(fontsize=8, loc="best")
    ax.set_title(title or f"floor {floor}: {counts['training paths']} training and {counts['test paths']} test paths")
    return _save(fig, path)


def plot_frames(
    images: np.ndarray,
    path,
    depth: np.ndarray | None = None,
    ncol: int = 8,
    title: str | None = None,
    captions: list[str] | None = None,
) -> Path:
    """A contact sheet of camera frames (and their depth maps below them).

    Parameters
    ----------
    images : (K, H, W, 3) uint8 or (K, H, W) float
    depth : (K, H, W) float32 metres, optional
    captions : list of K str, optional
        Text under each frame (e.g. its true and estimated pose).
    """
    k = len(images)
    ncol = min(ncol, k)
    nrow = int(np.ceil(k / ncol)) * (2 if depth is not None else 1)
    tall = 0.5 if captions is not None else 0.0
    fig, axes = _figure(nrow, ncol, figsize=(1.6 * ncol, (1.6 + tall) * nrow), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    step = 2 if depth is not None else 1
    for i in range(k):
        r, c = (i // ncol) * step, i % ncol
        axes[r, c].imshow(images[i], cmap=None if np.ndim(images[i]) == 3 else "gray", interpolation="nearest")
        if depth is not None:
            axes[r + 1, c].imshow(depth[i], cmap="viridis", interpolation="nearest")
        if captions is not None:
            ax = axes[r + step - 1, c]
            ax.text(0.5, -0.04, captions[i], transform=ax.transAxes, ha="center", va="top", fontsize=6)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_render_strip(
    true_images: np.ndarray, generated: np.ndarray, path, title: str | None = None, captions: list[str] | None = None
) -> Path:
    """True frames (top row) above what a generative map renders at their poses (bottom row).

    Parameters
    ----------
    true_images, generated : (K, H, W, 3) uint8 (sizes may differ between the two)
    captions : list of K str, optional (under the generated row)
    """
    k = len(true_images)
    if len(generated) != k or k == 0:
        raise ValueError(
            f"plot_render_strip needs as many generated as true images (> 0), got {k} and {len(generated)}"
        )
    fig, axes = _figure(2, k, figsize=(1.6 * k, 3.6 + (0.4 if captions else 0)), squeeze=False)
    for i in range(k):
        for r, img in enumerate((true_images[i], generated[i])):
            axes[r, i].imshow(img, interpolation="nearest")
            axes[r, i].axis("off")
        if captions is not None:
            axes[1, i].text(0.5, -0.04, captions[i], transform=axes[1, i].transAxes, ha="center", va="top", fontsize=6)
    axes[0, 0].set_title("true", fontsize=8, loc="left")
    axes[1, 0].set_title("generated", fontsize=8, loc="left")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def write_gif(frames: np.ndarray, path, fps: float = 5.0, scale: int = 4) -> Path:
    """An animated GIF of (T, H, W, 3) uint8 frames, each enlarged ``scale`` times (nearest), written atomically."""
    from PIL import Image

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise ValueError(f"write_gif needs (T, H, W, 3) uint8 frames, got {frames.shape}")
    big = frames.repeat(scale, axis=1).repeat(scale, axis=2).astype(np.uint8)
    imgs = [Image.fromarray(f) for f in big]
    path = Path(path)
    with atomic_path(path, ".gif") as tmp:
        imgs[0].save(tmp, format="GIF", save_all=True, append_images=imgs[1:], duration=int(1000 / fps), loop=0)
    return path


# ---------------------------------------------------------------------------------------------- curves, bars
@dataclass
class Curve:
    """One line of a :class:`Panel`: ``y`` against ``x``, optionally with an error bar or band.

    Parameters
    ----------
    label : str or None
        Legend entry (None: not in the legend).
    x, y : (K,) floats
    err : (K,) or (2, K) floats, optional
        Distances below and above ``y`` (one row: symmetric), in the unit of ``y``.
    band : bool
        Draw ``err`` as a shaded band instead of error bars.
    style : str
        Matplotlib format string (marker and line style).
    offset : float
        Shift added to ``x`` so that overlapping error bars stay readable (in the unit of ``x``).
    color : str, optional
        Matplotlib colour (default: the panel's i-th colour ``C{i}``).
    """

    label: str | None
    x: Sequence[float]
    y: Sequence[float]
    err: Sequence | None = None
    band: bool = False
    style: str = "o-"
    offset: float = 0.0
    color: str | None = None


@dataclass
class Bars:
    """Grouped bars of a :class:`Panel`: one bar per (category, series).

    Parameters
    ----------
    categories : list of str
        Tick labels, one group of bars each.
    series : dict label -> (values (C,), errors (C,) or None)
        Bar heights and symmetric error bars, in the unit of the panel's y axis.
    """

    categories: list[str]
    series: dict[str, tuple]


@dataclass
class Panel:
    """One axis of :func:`plot_panels`: curves or grouped bars, labelled with units.

    Parameters
    ----------
    xlabel, ylabel : str
        Axis labels; put the unit in them (``"2-D error (m)"``).
    title : str, optional
    curves : list of Curve
    bars : Bars, optional
    hlines : list of (y, label)
        Horizontal reference lines (e.g. a random guess), grey and dotted.
    zero_line : bool
        A thin black line at ``y = 0`` (for differences).
    xscale : ``"linear"`` or ``"log"``
    ylim_bottom : float, optional
        Lower limit of the y axis (e.g. 0 for errors).
    """

    xlabel: str
    ylabel: str
    title: str | None = None
    curves: list[Curve] = field(default_factory=list)
    bars: Bars | None = None
    hlines: list[tuple[float, str]] = field(default_factory=list)
    zero_line: bool = False
    xscale: str = "linear"
    ylim_bottom: float | None = None


def _draw_panel(ax, panel: Panel) -> None:
    ax.set_xscale(panel.xscale)  # first: a scale change resets the ticks set below
    for i, c in enumerate(panel.curves):
        x = np.asarray(c.x, dtype=np.float64) + c.offset
        y = np.asarray(c.y, dtype=np.float64)
        color = c.color or f"C{i}"
        if c.err is None:
            ax.plot(x, y, c.style, color=color, label=c.label)
            continue
        err = np.asarray(c.err, dtype=np.float64)
        lo, hi = (err, err) if err.ndim == 1 else (err[0], err[1])
        if c.band:
            ax.plot(x, y, c.style, color=color, label=c.label)
            ax.fill_between(x, y - lo, y + hi, color=color, alpha=0.15, linewidth=0)
        else:
            ax.errorbar(x, y, yerr=[lo, hi], fmt=c.style, color=color, capsize=3, label=c.label)
    if panel.bars is not None:
        b = panel.bars
        pos = np.arange(len(b.categories))
        width = 0.8 / max(len(b.series), 1)
        for i, (label, (vals, errs)) in enumerate(b.series.items()):
            ax.bar(pos + i * width, vals, width, yerr=errs, capsize=3, label=label, color=f"C{i}")
        ax.set_xticks(pos + width * (len(b.series) - 1) / 2, b.categories)
    for y, label in panel.hlines:
        ax.axhline(y, color="gray", ls=":", label=label)
    if panel.zero_line:
        ax.axhline(0.0, color="black", lw=0.8)
    if panel.xscale == "log" and panel.curves:  # ticks at the measured x values, as plain numbers
        from matplotlib.ticker import NullFormatter, ScalarFormatter

        ax.set_xticks(sorted({float(v) + c.offset for c in panel.curves for v in c.x}))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
    if panel.ylim_bottom is not None:
        ax.set_ylim(bottom=panel.ylim_bottom)
    ax.set_xlabel(panel.xlabel)
    ax.set_ylabel(panel.ylabel, fontsize=9)
    if panel.title:
        ax.set_title(panel.title, fontsize=10)
    ax.grid(alpha=0.3, axis="y" if panel.bars is not None else "both")
    if not ax.get_legend_handles_labels()[1]:
        return
    if panel.bars is not None:  # bars fill the axis: headroom on top, legend in one row there
        lo, hi = ax.get_ylim()
        ax.set_ylim(lo, hi + 0.2 * (hi - lo))
        ax.legend(fontsize=8, loc="upper center", ncol=len(ax.get_legend_handles_labels()[1]), framealpha=0.8)
    else:
        ax.legend(fontsize=8, loc="best", framealpha=0.8)


def plot_panels(
    panels: list[Panel],
    path,
    title: str | None = None,
    ncols: int | None = None,
    panel_size: tuple[float, float] = (5.5, 3.6),
    sharex: bool = False,
    height_ratios: list[float] | None = None,
) -> Path:
    """Curves and bar panels side by side (or stacked), as one PNG.

    Parameters
    ----------
    panels : list of Panel
    path : output PNG (written atomically)
    title : str, optional
        Figure title above the panels.
    ncols : int, optional
        Panels per row (default: all in one row; 1 stacks them).
    panel_size : (width, height) inches of one panel
    sharex : bool
        Stacked panels share their x axis.
    height_ratios : list of float, optional
        Relative heights of the rows.
    """
    n = len(panels)
    if n == 0:
        raise ValueError("plot_panels needs at least one panel")
    ncols = n if ncols is None else max(1, min(int(ncols), n))
    nrows = int(np.ceil(n / ncols))
    if height_ratios is not None:
        heights = np.asarray(height_ratios, dtype=np.float64)
        fig_h = panel_size[1] * nrows * float(heights.sum()) / float(heights.max() * nrows)
    else:
        fig_h = panel_size[1] * nrows
    fig, axes = _figure(
        nrows,
        ncols,
        figsize=(panel_size[0] * ncols, fig_h),
        squeeze=False,
        sharex=sharex,
        gridspec_kw={"height_ratios": height_ratios} if height_ratios is not None else None,
    )
    for ax, panel in zip(axes.ravel(), panels):
        _draw_panel(ax, panel)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return _save(fig, path)


def plot_curves(curves: list[Curve], path, xlabel: str, ylabel: str, title: str | None = None, **panel) -> Path:
    """One panel of curves (:class:`Curve`); ``panel`` holds further :class:`Panel` fields
    (``hlines``, ``xscale``, ``ylim_bottom``, ``zero_line``)."""
    return plot_panels([Panel(xlabel, ylabel, title, curves=list(curves), **panel)], path)


# ---------------------------------------------------------------------------------------------- place recognition
#: Border colours of :func:`plot_retrievals` (matplotlib's tab:green and tab:red).
_RIGHT, _WRONG = "#2ca02c", "#d62728"


def _index_vector(values, q: int, name: str) -> np.ndarray:
    """A (Q,) int vector (database indices, one per query)."""
    arr = np.asarray(values)
    if arr.shape != (q,) or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(
            f"{name} must be a ({q},) int array of database indices, one per query, got {arr.dtype} {arr.shape}"
        )
    return arr.astype(np.int64)


def plot_distance_matrix(
    D: np.ndarray,
    path,
    matched: np.ndarray | None = None,
    truth: np.ndarray | None = None,
    tolerance: int | None = None,
    title: str = "Query-database distances",
    offset: tuple[int, int] = (0, 0),
    label: str = "distance (smaller = more similar)",
) -> Path:
    """A query-database distance matrix as an image, with the matches drawn on it.

    Queries run down (rows), the database runs across (columns), so a route travelled at the
    same speed twice is a diagonal; sequence matching (:func:`omniloc.vpr.sequence_match`) looks
    for such lines.

    Parameters
    ----------
    D : (Q, N) float
        Distances (NaN is drawn blank).
    path : output PNG (written atomically)
    matched : (Q,) int, optional
        The database index chosen for each query: dots. Indices outside ``[0, N)`` (a match off a
        slice of a larger matrix, -1 = none) are not drawn but count as wrong.
    truth : (Q,) int, optional
        The true database index of each query: a thin white line under the dots (where it is inside
        ``[0, N)``), so it shows where no correct match covers it.
    tolerance : int, optional
        With ``truth``: matches within this many entries of it are green, the others red, and
        the legend gives the fraction correct.
    title : str
    offset : (query, database) ints
        Index of ``D[0, 0]`` in the full sequences, for the axis labels of a slice of a larger
        matrix (``matched`` and ``truth`` stay in ``D``'s own column indices).
    label : str
        Colour bar label.

    Raises
    ------
    ValueError
        ``D`` not 2-D, or ``matched`` / ``truth`` not (Q,) int arrays.
    """
    D = np.asarray(D, dtype=np.float64)
    if D.ndim != 2 or 0 in D.shape:
        raise ValueError(f"plot_distance_matrix needs a (Q, N) matrix with Q, N >= 1, got shape {D.shape}")
    q, n = D.shape
    q0, n0 = (int(v) for v in offset)
    fig, ax = _figure(figsize=(7.5, min(max(7.5 * q / n, 2.5), 9.0) + 0.6))
    im = ax.imshow(
        D,
        cmap="viridis",
        aspect="auto",
        interpolation="antialiased",
        extent=(n0 - 0.5, n0 + n - 0.5, q0 + q - 0.5, q0 - 0.5),
    )
    fig.colorbar(im, ax=ax, label=label, fraction=0.046, pad=0.03)
    rows = np.arange(q) + q0
    t = None if truth is None else _index_vector(truth, q, "truth")
    if truth is not None:
        ax.plot(
            np.where((t >= 0) & (t < n), t + n0, np.nan), rows, "-", color="white", lw=1.0, alpha=0.8, label="truth"
        )
    if matched is not None:
        m = _index_vector(matched, q, "matched")
        ok = (m >= 0) & (m < n)
        ms = float(np.clip(600.0 / q, 2.0, 5.0))  # dots about a row high, readable from 1 to 3,000 rows
        if truth is not None and tolerance is not None:
            right = np.abs(m - t) <= int(tolerance)
            for sel, color, word in ((right, _RIGHT, "correct"), (~right, _WRONG, "wrong")):
                ax.plot(
                    m[sel & ok] + n0,
                    rows[sel & ok],
                    "o",
                    ms=ms,
                    mec="none",
                    color=color,
                    label=f"match, {word} ({100.0 * sel.sum() / q:.1f} %, +-{int(tolerance)})",
                )
        else:
            ax.plot(m[ok] + n0, rows[ok], "o", ms=ms, mec="none", color=_WRONG, label="match")
    ax.set_xlim(n0 - 0.5, n0 + n - 0.5)
    ax.set_ylim(q0 + q - 0.5, q0 - 0.5)
    ax.set_xlabel("database index")
    ax.set_ylabel("query index")
    ax.set_title(title, fontsize=10)
    if ax.get_legend_handles_labels()[1]:
        ax.legend(fontsize=8, loc="lower left", framealpha=0.85, markerscale=2.0)
    return _save(fig, path)


def plot_retrievals(
    query_images: np.ndarray,
    db_images: np.ndarray,
    ranked: np.ndarray,
    correct: np.ndarray,
    path,
    k: int = 3,
    query_labels: Sequence | None = None,
    db_labels: Sequence | None = None,
    title: str | None = None,
) -> Path:
    """What a place recogniser retrieved: each row a query, then its top ``k`` database images.

    Retrieved images have a green border when correct and a red one when not, and a caption with
    their rank and database label.

    Parameters
    ----------
    query_images : (Q, H, W, 3) uint8 or (Q, H, W) float
        The queries, one per row of the figure.
    db_images : (M, H', W', 3) uint8 or (M, H', W') float
        The database ``ranked`` indexes.
    ranked : (Q, >= k) int
        Database indices per query, best first (-1 = nothing retrieved: an empty cell).
    correct : (Q, >= k) bool
        Whether each retrieval is correct.
    path : output PNG (written atomically)
    k : int
        Retrievals shown per query (>= 1).
    query_labels, db_labels : sequences of str or int, optional
        Names in the captions (default: the row index of ``query_images`` / ``db_images``).
    title : str, optional

    Raises
    ------
    ValueError
        Empty or mismatched inputs, ``k`` larger than the columns of ``ranked``, or indices
        outside ``db_images``.
    """
    qi, di = np.asarray(query_images), np.asarray(db_images)
    ranked, correct = np.asarray(ranked), np.asarray(correct)
    if qi.ndim not in (3, 4) or di.ndim not in (3, 4) or len(qi) == 0 or len(di) == 0:
        raise ValueError(
            f"plot_retrievals needs (Q, H, W[, 3]) query and (M, H, W[, 3]) database images, got {qi.shape} and "
            f"{di.shape}"
        )
    q = len(qi)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an int >= 1, got {k!r}")
    if ranked.ndim != 2 or ranked.shape[0] != q or ranked.shape[1] < k or not np.issubdtype(ranked.dtype, np.integer):
        raise ValueError(f"ranked must be a ({q}, >= {k}) int array (top-k database indices), got {ranked.shape}")
    if correct.shape != ranked.shape or correct.dtype != bool:
        raise ValueError(
            f"correct must be a {ranked.shape} bool array like ranked, got {correct.dtype} {correct.shape}"
        )
    if ((ranked[:, :k] < -1) | (ranked[:, :k] >= len(di))).any():
        raise ValueError(f"ranked holds indices outside the {len(di)} database images (and -1 = none)")
    for labels, count, name in ((query_labels, q, "query_labels"), (db_labels, len(di), "db_labels")):
        if labels is not None and len(labels) != count:
            raise ValueError(f"{name} must have one entry per image ({count}), got {len(labels)}")
    qlab = list(range(q)) if query_labels is None else list(query_labels)
    dlab = list(range(len(di))) if db_labels is None else list(db_labels)
    h, w = qi.shape[1:3]
    cell_w = 1.9
    cell_h = cell_w * h / w + 0.32
    head = 0.45 if title else 0.1
    fig_h = cell_h * q + head
    fig, axes = _figure(q, k + 1, figsize=(cell_w * (k + 1), fig_h), squeeze=False)

    def show(ax, img, caption, color, lw):
        ax.imshow(img, cmap=None if img.ndim == 3 else "gray", interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_color(color)
            spine.set_linewidth(lw)
        ax.set_xlabel(caption, fontsize=7, color=color, labelpad=2)

    for j in range(q):
        show(axes[j, 0], qi[j], f"query {qlab[j]}", "black", 1.0)
        for r in range(k):
            ax, i = axes[j, r + 1], int(ranked[j, r])
            if i < 0:
                ax.axis("off")
                continue
            ok = bool(correct[j, r])
            show(ax, di[i], f"#{r + 1}: db {dlab[i]} ({'correct' if ok else 'wrong'})", _RIGHT if ok else _WRONG, 3.5)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.3 / fig_h, top=1.0 - head / fig_h, wspace=0.08, hspace=0.3)
    if title:
        fig.suptitle(title, fontsize=10, y=1.0 - 0.12 / fig_h, va="top")
    return _save(fig, path)
