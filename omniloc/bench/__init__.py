"""Benchmark suites: dataset + methods + metrics -> results.json, report.md and plots.

Each suite is a module with ``run(out, quick, data_root, seeds, **options) -> SuiteResult`` and
is registered here by name (imported on first use).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from .._errors import ConfigError
from .._io import output_dir

__all__ = ["SUITES", "run_suite"]

SUITES: dict[str, str] = {
    "ujiindoorloc": "omniloc.bench.ujiindoorloc:run",
    "sim-office": "omniloc.bench.sim_office:run",
    "maze": "omniloc.bench.maze:run",
    "indoor-competition": "omniloc.bench.indoor_competition:run",
    "transfer": "omniloc.bench.transfer:run",
    "robustness": "omniloc.bench.robustness:run",
    "transfer-wifi": "omniloc.bench.transfer_wifi:run",
    "mvloc": "omniloc.bench.mvloc:run",
    "genmap": "omniloc.bench.genmap:run",
    "vpr": "omniloc.bench.vpr:run",
}


def run_suite(
    name: str,
    out,
    quick: bool = False,
    data_root=None,
    overwrite: bool = False,
    command: str | None = None,
    seeds: int = 1,
    **options,
) -> dict:
    """Run suite ``name`` into folder ``out`` and return the results.json content.

    The suite writes into a temporary folder beside ``out`` that replaces ``out`` whole when the
    suite has finished (:func:`omniloc._io.output_dir`): no file of an earlier run survives an
    ``overwrite``, and a failed or interrupted run leaves the earlier ``out`` as it was.

    Parameters
    ----------
    name : str
        One of :data:`SUITES`.
    out : path
        Output folder; an existing non-empty folder needs ``overwrite``.
    quick : bool
        Tiny budgets (a quick suite takes about 10-90 s); the same code path as the full suite.
    data_root : path, optional
        Folder of public datasets (default ``$OMNILOC_DATA`` or ``../shared/data``).
    overwrite : bool
        Replace an existing ``out``.
    command : str, optional
        The command line recorded in results.json and report.md.
    seeds : int
        Repeat every run with seeds ``0 .. seeds-1`` and report each and their mean with an
        interval (passed to the suite's ``run``).
    options
        Suite-specific options (e.g. ``test_file`` or ``sweep`` for ``ujiindoorloc``); None
        values are dropped.

    Raises
    ------
    ConfigError
        Unknown suite, or ``seeds`` < 1.
    OutputExistsError
        ``out`` exists, is not empty and ``overwrite`` is False.
    """
    from ..data import default_data_root

    if name not in SUITES:
        raise ConfigError(f"unknown bench suite {name!r}; available: {sorted(SUITES)}")
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ConfigError(f"bench --seeds must be an int >= 1, got {seeds!r}")
    out = Path(out)
    module, fn = SUITES[name].split(":")
    run = getattr(importlib.import_module(module), fn)
    data_root = Path(data_root) if data_root else default_data_root()
    cmd = command or f"omniloc bench {name} --out {out}" + (" --quick" if quick else "") + (
        f" --seeds {seeds}" if seeds != 1 else ""
    )
    with output_dir(out, overwrite) as tmp:
        result = run(
            tmp, quick=quick, data_root=data_root, seeds=seeds, **{k: v for k, v in options.items() if v is not None}
        )
        return result.write(cmd)
