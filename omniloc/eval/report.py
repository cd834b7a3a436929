"""Markdown reports: metric tables and figures, written atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._io import atomic_path, write_json
from ..data import Dataset, Estimate
from .metrics import compute_metrics, errors_for
from .plots import plot_error_cdf, plot_trajectories

__all__ = ["METRIC_COLUMNS", "format_metric", "markdown_table", "metrics_table", "write_markdown", "evaluate_estimates"]

#: metric key -> (column header, format)
METRIC_COLUMNS = {
    "n_test": ("n", "{:d}"),
    "pos_err_mean_m": ("mean [m]", "{:.2f}"),
    "pos_err_median_m": ("median [m]", "{:.2f}"),
    "pos_err_p75_m": ("p75 [m]", "{:.2f}"),
    "pos_err_p90_m": ("p90 [m]", "{:.2f}"),
    "pos_err_p95_m": ("p95 [m]", "{:.2f}"),
    "rot_err_median_deg": ("rot median [deg]", "{:.1f}"),
    "floor_hit_rate": ("floor hit", "{:.1%}"),
    "building_hit_rate": ("building hit", "{:.1%}"),
    "competition_score_m": ("ILC score [m]", "{:.2f}"),
    "recall@1": ("recall@1", "{:.1%}"),
    "covered_share": ("surveyed <= 3 m", "{:.0%}"),
    "pos_err_mean_covered_m": ("mean there [m]", "{:.2f}"),
    "pos_err_mean_uncovered_m": ("mean elsewhere [m]", "{:.2f}"),
}


def format_metric(key: str, val) -> str:
    """One metric value as the tables show it (percentages, metres to cm, "–" for a missing value)."""
    if val is None or (isinstance(val, float) and not np.isfinite(val)):
        return "–"
    fmt = METRIC_COLUMNS.get(key, (key, "{:.3g}"))[1]
    try:
        return fmt.format(int(val) if fmt == "{:d}" else val)
    except (ValueError, TypeError):
        return str(val)


def markdown_table(columns: list[str], rows: list[list]) -> str:
    """A Markdown table: a header of ``columns`` and one line per row (cells shown with ``str``;
    ``|`` inside a cell is escaped)."""

    def cell(v) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def metrics_table(rows: dict[str, dict], extra: dict[str, str] | None = None) -> str:
    """A Markdown table: one row per label, the metric columns that any row has.

    Parameters
    ----------
    rows : dict label -> metrics
        Metric dicts (:func:`omniloc.eval.compute_metrics` keys); columns follow :data:`METRIC_COLUMNS`.
    extra : dict header -> key, optional
        Further columns (e.g. timings) read from each row under ``key``.
    """
    keys = [k for k in METRIC_COLUMNS if any(k in r for r in rows.values())]
    extra = extra or {}
    head = ["method"] + [METRIC_COLUMNS[k][0] for k in keys] + list(extra)
    body = [
        [label] + [format_metric(k, r.get(k)) for k in keys] + [format_metric(v, r.get(v)) for v in extra.values()]
        for label, r in rows.items()
    ]
    return markdown_table(head, body)


def write_markdown(path, title: str, blocks: list[str]) -> Path:
    """Write ``# title`` followed by the blocks (Markdown strings), atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(f"# {title}\n\n" + "\n\n".join(b.strip() for b in blocks if b) + "\n")
    return path


def evaluate_estimates(
    estimates: dict[str, Estimate],
    truth: Dataset,
    out_dir,
    title: str = "Evaluation",
    dims: int = 2,
    n_trajectories: int = 2,
    notes: list[str] | None = None,
    appendix: list[str] | None = None,
) -> dict[str, dict]:
    """Metrics, error CDF, trajectory plots and ``report.md`` for one or more methods on one test set.

    Writes into ``out_dir``: ``metrics.json`` (label -> metrics), ``error_cdf.png``,
    ``trajectory_<recording>.png`` for the first ``n_trajectories`` recordings, ``report.md``
    (``notes`` go under the metrics table, ``appendix`` blocks at the end).

    Returns
    -------
    dict label -> metrics
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics = {label: compute_metrics(est, truth, dims) for label, est in estimates.items()}
    write_json(out_dir / "metrics.json", metrics)
    errs = {label: errors_for(est, truth, dims) for label, est in estimates.items()}
    blocks = [
        f"Test data: `{truth.name}`, {len(truth)} recordings, {truth.n_samples} poses. Position errors are {dims}-D.",
        metrics_table(metrics),
    ]
    blocks += notes or []
    if any(np.isfinite(e).any() for e in errs.values()):
        plot_error_cdf(errs, out_dir / "error_cdf.png", title=f"Position error CDF — {truth.name}")
        blocks.append("![error CDF](error_cdf.png)")
    names = list(dict.fromkeys(n for est in estimates.values() for n in est.recording.tolist()))
    for name in names[:n_trajectories]:
        if truth[name].position is None:
            continue
        fname = f"trajectory_{''.join(c if c.isalnum() or c in '-_' else '_' for c in name)}.png"
        plot_trajectories(truth, estimates, out_dir / fname, recording=name)
        blocks.append(f"![trajectory {name}]({fname})")
    write_markdown(out_dir / "report.md", title, blocks + (appendix or []))
    return metrics
