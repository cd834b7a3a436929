"""Plots a person would rather look at than read: error CDFs, trajectories over the floor plan, frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._io import atomic_path
from ..data import Dataset, Estimate, FloorPlan

__all__ = ["plot_error_cdf", "plot_floor_plan", "plot_trajectories", "plot_frames"]


def _figure(*args, **kwargs):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt, plt.subplots(*args, **kwargs)


def _save(plt, fig, path) -> Path:
    path = Path(path)
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)
    return path


def plot_error_cdf(errors: dict[str, np.ndarray], path, title: str = "Position error CDF",
                   unit: str = "m", max_error: float | None = None) -> Path:
    """Empirical CDFs of position errors, one curve per method, with the median marked.

    Parameters
    ----------
    errors : dict label -> (M,) errors in ``unit``
    path : output PNG
    """
    from .metrics import error_cdf

    plt, (fig, ax) = _figure(figsize=(6, 4))
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
    ax.set_xlabel(f"position error [{unit}]")
    ax.set_ylabel("fraction of estimates")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return _save(plt, fig, path)


def draw_floor_plan(ax, plan: FloorPlan, zones: bool = True, labels: bool = True) -> None:
    """Draw walls (and zones, or the raster) of ``plan`` on a matplotlib axis, in metres."""
    if plan.raster is not None and plan.pixel_to_metre is not None:
        h, w = plan.raster.shape[:2]
        corners = np.array([[-0.5, -0.5, 1.0], [w - 0.5, h - 0.5, 1.0]]) @ plan.pixel_to_metre.T
        img = plan.raster
        cmap = "gray_r" if img.ndim == 2 and plan.meta.get("raster_kind") == "occupancy" else None
        ax.imshow(img, cmap=cmap, extent=(corners[0, 0], corners[1, 0], corners[1, 1], corners[0, 1]),
                  origin="upper" if corners[1, 1] < corners[0, 1] else "lower", alpha=0.5 if cmap else 0.8,
                  interpolation="nearest")
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
    plt, (fig, ax) = _figure(figsize=(8, 8 * plan.size_m[1] / max(plan.size_m[0], 1e-6) + 0.5))
    draw_floor_plan(ax, plan)
    if points is not None and len(points):
        ax.plot(points[:, 0], points[:, 1], "r^", ms=5, label="access points")
        ax.legend(fontsize=7)
    ax.set_title(title or plan.name)
    return _save(plt, fig, path)


def _floor_plan_or_none(ds: Dataset, floor: int, building: int) -> FloorPlan | None:
    """The dataset's plan of ``floor`` in ``building``, or None when it has none (plots then draw without it)."""
    try:
        return ds.floor_plan(floor, building)
    except Exception:
        return None


def plot_trajectories(truth: Dataset, estimates: dict[str, Estimate], path, recording: str | None = None,
                      max_recordings: int = 1, title: str | None = None) -> Path:
    """Ground truth vs estimated trajectories over the floor plan.

    One panel per floor visited by the chosen recording(s). Estimates off the true floor are
    drawn on the panel of the floor they were estimated on when they carry a floor.

    Parameters
    ----------
    truth : Dataset with the recordings and floor plans
    estimates : dict label -> Estimate (methods to overlay)
    recording : name of the recording to draw; default: the first ``max_recordings`` that have estimates
    """
    names = [recording] if recording else list(dict.fromkeys(
        n for est in estimates.values() for n in est.recording.tolist()))[:max_recordings]
    recs = [truth[n] for n in names]
    floors = sorted({int(f) for r in recs for f in (np.unique(r.floor) if r.floor is not None else [0])})
    blds = {int(r.building[0]) if r.building is not None else 0 for r in recs}
    building = min(blds) if blds else 0
    panels = [(f, _floor_plan_or_none(truth, f, building)) for f in floors]
    ncol = len(panels)
    sizes = [p.size_m for _, p in panels if p is not None]
    aspect = min(max(max(h / max(w, 1e-6) for w, h in sizes), 0.3), 2.0) if sizes else 0.8
    plt, (fig, axes) = _figure(1, ncol, figsize=(7 * ncol, 7 * aspect + 1.2), squeeze=False)
    colors = ["tab:red", "tab:blue", "tab:orange", "tab:purple", "tab:brown", "tab:pink"]
    for ax, (f, plan) in zip(axes[0], panels):
        if plan is not None:
            draw_floor_plan(ax, plan, labels=False)
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
    return _save(plt, fig, path)


def plot_survey_coverage(train: Dataset, test: Dataset, floor: int, path, building: int = 0,
                         title: str | None = None) -> Path:
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
    plt, (fig, ax) = _figure(figsize=(8, 8 * aspect + 1.0))
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
    ax.legend(fontsize=8, loc="best")
    ax.set_title(title or f"floor {floor}: {counts['training paths']} training and {counts['test paths']} test paths")
    return _save(plt, fig, path)


def plot_frames(images: np.ndarray, path, depth: np.ndarray | None = None, ncol: int = 8,
                title: str | None = None) -> Path:
    """A contact sheet of camera frames (and their depth maps below them).

    Parameters
    ----------
    images : (K, H, W, 3) uint8 or (K, H, W) float
    depth : (K, H, W) float32 metres, optional
    """
    k = len(images)
    ncol = min(ncol, k)
    nrow = int(np.ceil(k / ncol)) * (2 if depth is not None else 1)
    plt, (fig, axes) = _figure(nrow, ncol, figsize=(1.6 * ncol, 1.6 * nrow), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    step = 2 if depth is not None else 1
    for i in range(k):
        r, c = (i // ncol) * step, i % ncol
        axes[r, c].imshow(images[i], cmap=None if np.ndim(images[i]) == 3 else "gray", interpolation="nearest")
        if depth is not None:
            axes[r + 1, c].imshow(depth[i], cmap="viridis", interpolation="nearest")
    if title:
        fig.suptitle(title)
    return _save(plt, fig, path)
