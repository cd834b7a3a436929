"""Evaluation: metrics, plots and reports (depends only on omniloc.data)."""

from .metrics import (competition_score, compute_metrics, coverage_metrics, error_cdf, errors_for, match_truth,
                      position_errors, survey_distance)
from .plots import plot_error_cdf, plot_floor_plan, plot_frames, plot_survey_coverage, plot_trajectories
from .report import METRIC_COLUMNS, evaluate_estimates, format_metric, metrics_table, write_markdown

__all__ = ["compute_metrics", "competition_score", "error_cdf", "errors_for", "match_truth", "position_errors",
           "survey_distance", "coverage_metrics",
           "plot_error_cdf", "plot_floor_plan", "plot_frames", "plot_survey_coverage", "plot_trajectories", "evaluate_estimates",
           "metrics_table", "write_markdown", "METRIC_COLUMNS", "format_metric"]
