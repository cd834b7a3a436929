"""Evaluation: metrics, statistics, plots and reports (depends only on omniloc.data)."""

from .metrics import (
    competition_score,
    compute_metrics,
    coverage_metrics,
    error_cdf,
    errors_for,
    match_truth,
    position_errors,
    survey_distance,
)
from .plots import (
    Bars,
    Curve,
    Panel,
    plot_curves,
    plot_error_cdf,
    plot_floor_plan,
    plot_frames,
    plot_panels,
    plot_survey_coverage,
    plot_trajectories,
)
from .report import METRIC_COLUMNS, evaluate_estimates, format_metric, markdown_table, metrics_table, write_markdown
from .stats import aggregate_over_seeds, bonferroni_level, bootstrap_ci, error_stats, paired_difference, seed_summary

__all__ = [
    "compute_metrics",
    "competition_score",
    "error_cdf",
    "errors_for",
    "match_truth",
    "position_errors",
    "survey_distance",
    "coverage_metrics",
    "plot_error_cdf",
    "plot_floor_plan",
    "plot_frames",
    "plot_survey_coverage",
    "plot_trajectories",
    "Curve",
    "Bars",
    "Panel",
    "plot_panels",
    "plot_curves",
    "evaluate_estimates",
    "metrics_table",
    "markdown_table",
    "write_markdown",
    "METRIC_COLUMNS",
    "format_metric",
    "error_stats",
    "bootstrap_ci",
    "paired_difference",
    "bonferroni_level",
    "seed_summary",
    "aggregate_over_seeds",
]
