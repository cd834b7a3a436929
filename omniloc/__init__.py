"""omniloc: learning-based, multimodal localization.

Import is light: the data model and numpy only. Methods (and torch) load on first use through
:mod:`omniloc.methods`.
"""

__version__ = "0.1.0"

from ._errors import ConfigError, DataError  # noqa: E402
from .data import Dataset, Estimate, FloorPlan, Recording, Stream, load_dataset, save_dataset  # noqa: E402

__all__ = [
    "__version__",
    "DataError",
    "ConfigError",
    "Dataset",
    "Estimate",
    "FloorPlan",
    "Recording",
    "Stream",
    "load_dataset",
    "save_dataset",
]
