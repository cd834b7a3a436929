"""Shared machinery of the benchmark suites: fixed threads, seeds, runs, results.json and report.md.

A suite is a function ``body(res: SuiteResult, seed: int) -> None`` that trains and tests its
methods with ``seed`` (method conf ``seed`` and, where the suite has one, the split seed) and
fills ``res`` with runs (:meth:`SuiteResult.add`), text, tables (as data) and figures. The
suite's ``run(out, quick, data_root, seeds, **options)`` hands it to :func:`run_seeds`, which

* fixes the process's thread count (torch intra-op threads and the BLAS / OpenMP pools; the
  count changes floating-point reduction order, hence the results of iterative training) and
  asks torch for deterministic algorithms where they exist;
* runs ``body`` once per seed ``0 .. seeds-1`` (seed 0 writes into ``out``, seed ``s`` into
  ``out/seed<s>``);
* keeps, per run label, each seed's metrics and their mean and 95 % interval over the seeds
  (:func:`omniloc.eval.stats.aggregate_over_seeds`).

``results.json`` (:meth:`SuiteResult.write`) records the command, the machine (CPU model,
cores, Python, numpy, torch versions), the thread count, the seeds, every run, the suite's
tables and figures; ``report.md`` is rendered from the same content
(:func:`omniloc.bench.tables.render_suite`).
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from .._errors import ConfigError
from .._io import write_json
from ..data import Dataset, Estimate
from ..eval import compute_metrics, errors_for, plot_error_cdf, write_markdown
from ..eval.stats import aggregate_over_seeds

__all__ = ["MethodRun", "run_method", "pool_training_seeds", "SuiteResult", "run_seeds", "fix_threads", "machine_info"]


@dataclass
class MethodRun:
    """One method trained and tested on one dataset."""

    method: str
    dataset: str
    conf: dict
    metrics: dict
    timing: dict
    estimate: Estimate | None = None
    label: str | None = None
    localizer: object | None = None  # the fitted method (not written to results.json)
    #: metrics of each training seed when ``metrics`` is their mean (:func:`pool_training_seeds`)
    per_train_seed: list[dict] | None = None

    def to_json(self) -> dict:
        d = {
            "method": self.method,
            "dataset": self.dataset,
            "conf": self.conf,
            "metrics": self.metrics,
            "timing": self.timing,
        }
        if self.label and self.label != self.method:
            d["label"] = self.label
        if self.per_train_seed:
            d["per_train_seed"] = self.per_train_seed
            d["train_seed_aggregate"] = aggregate_over_seeds(
                [{k: v for k, v in m.items() if k != "seed"} for m in self.per_train_seed]
            )
        return d

    @property
    def key(self) -> str:
        """The row name of this run in the tables: ``label on dataset``."""
        return f"{self.label or self.method} on {self.dataset}"


def run_method(
    name: str,
    train: Dataset,
    test: Dataset,
    dataset_label: str,
    conf: dict | None = None,
    preset: str | list[str] | None = None,
    label: str | None = None,
    dims: int = 2,
    val: Dataset | None = None,
    localizer=None,
    seed: int | None = None,
) -> MethodRun:
    """Fit method ``name`` on ``train``, predict ``test``, and measure metrics and timing.

    ``timing`` holds ``fit_s`` and ``predict_ms_per_sample`` (wall time of ``predict`` over the
    whole test set divided by the number of estimates: batch throughput, on this machine).
    Pass ``localizer`` to evaluate an already fitted method (``fit_s`` is then absent).
    ``seed``, when given, becomes the method's conf ``seed`` if its default conf has one and
    ``conf`` does not set it.
    """
    from .. import methods
    from .._conf import deep_update

    timing = {}
    if localizer is None:
        if seed is not None and "seed" in methods.get_class(name).default_conf and "seed" not in (conf or {}):
            conf = deep_update(conf or {}, {"seed": int(seed)})
        localizer = methods.create(name, conf, preset=preset)
        t0 = time.perf_counter()
        localizer.fit(train, val)
        timing["fit_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    est = localizer.predict(test)
    dt = time.perf_counter() - t0
    timing["predict_ms_per_sample"] = 1000.0 * dt / max(len(est), 1)
    metrics = compute_metrics(est, test, dims)
    return MethodRun(name, dataset_label, localizer.conf, metrics, timing, est, label or name, localizer)


def pool_training_seeds(runs: list[MethodRun]) -> MethodRun:
    """One run standing for several training seeds of one method on one test set.

    ``metrics`` and ``timing`` are the means over the runs of every numeric key all of them have;
    ``per_train_seed`` keeps each run's metrics (results.json adds their mean and 95 % interval
    as ``train_seed_aggregate``); conf, estimate and localizer are the first run's.
    """
    if not runs:
        raise ValueError("pool_training_seeds needs at least one run")

    def mean(dicts):
        keys = [k for k, v in dicts[0].items() if isinstance(v, (int, float)) and all(k in d for d in dicts)]
        return {k: float(sum(d[k] for d in dicts) / len(dicts)) for k in keys}

    first = runs[0]
    return MethodRun(
        first.method,
        first.dataset,
        first.conf,
        mean([r.metrics for r in runs]),
        mean([r.timing for r in runs]),
        first.estimate,
        first.label,
        first.localizer,
        per_train_seed=[dict(r.metrics, seed=r.conf.get("seed")) for r in runs] if len(runs) > 1 else None,
    )


# ---------------------------------------------------------------------------------------------- machine
def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def default_threads() -> int:
    """``OMP_NUM_THREADS`` when it is set to a positive integer, else the CPUs this process may use."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    return int(env) if env.isdigit() and int(env) > 0 else _cpu_count()


def fix_threads(threads: int | None = None) -> int:
    """Fix the thread count of this process (a bench is an application: the change is kept).

    Sets torch's intra-op threads and the BLAS / OpenMP pools (``threadpoolctl``) to ``threads``
    (default: ``OMP_NUM_THREADS`` when set, as ``make test`` does, else the CPUs this process may
    use) and asks torch for deterministic algorithms where they exist (``warn_only``). Returns
    the count.
    """
    n = default_threads() if threads is None else threads
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"bench threads must be an integer >= 1, got {threads!r}")
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(n)
    torch.use_deterministic_algorithms(True, warn_only=True)
    threadpool_limits(limits=n)
    return n


def machine_info(threads: int) -> dict:
    """What results depend on: CPU model, cores, thread count, Python / numpy / torch versions."""
    import numpy as np
    import torch

    return {
        "cpu": _cpu_model(),
        "cpus": _cpu_count(),
        "logical_cpus": os.cpu_count(),
        "threads": int(threads),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "platform": platform.platform(),
    }


# ---------------------------------------------------------------------------------------------- results
class SuiteResult:
    """The runs, tables, figures and text of one suite run with one seed.

    Parameters
    ----------
    suite : str
        Suite name.
    out : Path
        Folder of this seed's plots and files.
    quick : bool
    seed : int
        The seed the suite body runs with.
    threads : int
        The fixed thread count (:func:`fix_threads`).
    """

    def __init__(self, suite: str, out: Path, quick: bool, seed: int = 0, threads: int | None = None):
        self.suite, self.out, self.quick, self.seed = suite, Path(out), quick, int(seed)
        self.threads = threads if threads is not None else default_threads()
        self.runs: list[MethodRun] = []
        self.blocks: list[dict] = []  # the report in order: text, table and figure blocks
        self.tables: dict[str, dict] = {}
        self.extra: dict = {}
        self.other_seeds: list[SuiteResult] = []
        self.t0 = time.perf_counter()

    def add(self, run: MethodRun) -> MethodRun:
        self.runs.append(run)
        return run

    def run(self, name: str, train: Dataset, test: Dataset, dataset_label: str, **kwargs) -> MethodRun:
        """:func:`run_method` with this result's seed, added to the runs."""
        return self.add(run_method(name, train, test, dataset_label, seed=self.seed, **kwargs))

    def text(self, markdown: str) -> None:
        """A paragraph of the report (Markdown)."""
        if markdown and markdown.strip():
            self.blocks.append({"text": markdown.strip()})

    def table(self, key: str, title: str, columns: list[str], rows: list[list], note: str | None = None) -> dict:
        """A suite-specific table, stored as data in ``results.json`` (``tables[key]``) and shown in the report.

        ``rows`` hold the cells as they are shown (strings or numbers).
        """
        if any(len(r) != len(columns) for r in rows):
            raise ValueError(f"table {key!r}: every row needs {len(columns)} cells")
        self.tables[key] = {"title": title, "columns": list(columns), "rows": [list(r) for r in rows], "note": note}
        self.blocks.append({"table": key})
        return self.tables[key]

    def figure(self, fname: str, title: str) -> None:
        """A PNG already written into :attr:`out`, shown in the report."""
        self.blocks.append({"figure": fname, "title": title})

    def cdf(
        self, runs: list[MethodRun], truth: Dataset, fname: str, title: str, dims: int = 2, unit: str = "m"
    ) -> None:
        """Plot the error CDF of ``runs`` on ``truth`` into ``fname`` and add it to the report."""
        errs = {r.label or r.method: errors_for(r.estimate, truth, dims) for r in runs if r.estimate is not None}
        plot_error_cdf(errs, self.out / fname, title=title, unit=unit)
        self.figure(fname, title)

    # ------------------------------------------------------------------ output
    def to_json(self, command: str) -> dict:
        seeds = [self.seed] + [o.seed for o in self.other_seeds]
        runs = []
        for r in self.runs:
            d = dict(r.to_json(), seed=self.seed)
            if self.other_seeds:
                per = [{"seed": self.seed, "metrics": r.metrics, "timing": r.timing}]
                for o in self.other_seeds:
                    match = next((x for x in o.runs if x.key == r.key), None)
                    if match is not None:
                        per.append({"seed": o.seed, "metrics": match.metrics, "timing": match.timing})
                d["per_seed"] = per
                d["aggregate"] = aggregate_over_seeds([p["metrics"] for p in per])
            runs.append(d)
        results = {
            "suite": self.suite,
            "omniloc_version": __version__,
            "quick": self.quick,
            "command": command,
            "machine": machine_info(self.threads),
            "threads": self.threads,
            "seeds": seeds,
            "total_s": time.perf_counter() - self.t0,
            "runs": runs,
            "tables": self.tables,
            "report": self.blocks,
        }
        results.update(self.extra)
        if self.other_seeds:
            results["other_seeds"] = [
                {"seed": o.seed, "folder": o.out.name, "tables": o.tables, **o.extra} for o in self.other_seeds
            ]
        return results

    def write(self, command: str) -> dict:
        """Write ``results.json`` and ``report.md`` into :attr:`out`; returns the results."""
        from .tables import render_suite

        results = self.to_json(command)
        write_json(self.out / "results.json", results)
        title = f"Benchmark `{self.suite}`" + (" (quick)" if self.quick else "")
        write_markdown(self.out / "report.md", title, [render_suite(results)])
        return results


def check_seeds(seeds) -> int:
    """``seeds`` as an int >= 1, or a :class:`~omniloc.ConfigError`."""
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ConfigError(f"bench seeds must be an integer >= 1, got {seeds!r}")
    return seeds


def run_seeds(
    suite: str, out: Path, quick: bool, seeds: int, body: Callable[[SuiteResult, int], None], threads: int | None = None
) -> SuiteResult:
    """Run ``body`` with seeds ``0 .. seeds-1`` at a fixed thread count; see the module docstring.

    Returns the seed-0 result, holding the others in :attr:`SuiteResult.other_seeds`.
    """
    n = check_seeds(seeds)
    threads = fix_threads(threads)
    main = SuiteResult(suite, out, quick, seed=0, threads=threads)
    body(main, 0)
    for s in range(1, n):
        sub = Path(out) / f"seed{s}"
        sub.mkdir(parents=True, exist_ok=True)
        other = SuiteResult(suite, sub, quick, seed=s, threads=threads)
        body(other, s)
        main.other_seeds.append(other)
    return main
