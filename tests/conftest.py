"""Shared test fixtures. Tests are seeded and use small simulated data or slices of ../shared/data."""

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("MPLCONFIGDIR", tempfile.mkdtemp(prefix="mpl-"))
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The folder of public datasets (``$OMNILOC_DATA`` or ``../shared/data``)."""
    from omniloc.data import default_data_root

    root = default_data_root()
    if not root.is_dir():
        pytest.skip(f"public data folder {root} not found")
    return root
