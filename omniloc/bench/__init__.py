"""Benchmark suites: dataset + methods + metrics -> results.json, report.md and plots.

Each suite is a module with ``run(out, quick, data_root, **options) -> SuiteResult`` and is
registered here by name (imported on first use).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from .._errors import ConfigError
from .._io import prepare_output_dir

__all__ = ["SUITES", "run_suite"]

SUITES: dict[str, str] = {
    "ujiindoorloc": "omniloc.bench.ujiindoorloc:run",
    "sim-office": "omniloc.bench.sim_office:run",
    "maze": "omniloc.bench.maze:run",
    "indoor-competition": "omniloc.bench.indoor_competition:run",
    "transfer": "omniloc.bench.transfer:run",
    "robustness": "omniloc.bench.robustness:run",
    "transfer-wifi": "omniloc.bench.transfer_wifi:run",
}


def run_suite(name: str, out, quick: bool = False, data_root=None, overwrite: bool = False,
              command: str | None = None, **options) -> dict:
    """Run suite ``name`` into folder ``out`` and return the results.json content.

    Parameters
    ----------
    name : str
        One of :data:`SUITES`.
    out : path
        Output folder; an existing non-empty folder needs ``overwrite``.
    quick : bool
        Tiny budgets (seconds); the same code path as the full suite.
    data_root : path, optional
        Folder of public datasets (default ``$OMNILOC_DATA`` or ``../shared/data``).
    options
        Suite-specific options (e.g. ``test_file`` for ``ujiindoorloc``); None values are dropped.
    """
    from ..data import default_data_root

    if name not in SUITES:
        raise ConfigError(f"unknown bench suite {name!r}; available: {sorted(SUITES)}")
    out = prepare_output_dir(out, overwrite)
    module, fn = SUITES[name].split(":")
    run = getattr(importlib.import_module(module), fn)
    data_root = Path(data_root) if data_root else default_data_root()
    result = run(out, quick=quick, data_root=data_root, **{k: v for k, v in options.items() if v is not None})
    cmd = command or f"omniloc bench {name} --out {out}" + (" --quick" if quick else "")
    return result.write(cmd)
