"""Evaluation: metrics, image quality, statistics, plots and reports (depends only on omniloc.data)."""

from . import image_quality, metrics, plots, report, stats
from .image_quality import *  # noqa: F403
from .metrics import *  # noqa: F403
from .plots import *  # noqa: F403
from .report import *  # noqa: F403
from .stats import *  # noqa: F403

__all__ = [*metrics.__all__, *image_quality.__all__, *stats.__all__, *plots.__all__, *report.__all__]
