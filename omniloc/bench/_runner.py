"""Shared machinery of the benchmark suites: run a method, time it, write results.json and report.md."""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from .._io import write_json
from ..data import Dataset, Estimate
from ..eval import compute_metrics, errors_for, metrics_table, plot_error_cdf, write_markdown

__all__ = ["MethodRun", "run_method", "SuiteResult"]

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
    localizer: object | None = None        # the fitted method (not written to results.json)

    def to_json(self) -> dict:
        d = {"method": self.method, "dataset": self.dataset, "conf": self.conf, "metrics": self.metrics,
             "timing": self.timing}
        if self.label and self.label != self.method:
            d["label"] = self.label
        return d

def run_method(name: str, train: Dataset, test: Dataset, dataset_label: str, conf: dict | None = None,
               preset: str | None = None, label: str | None = None, dims: int = 2, val: Dataset | None = None,
               localizer=None) -> MethodRun:
    """Fit method ``name`` on ``train``, predict ``test``, and measure metrics and timing.

    ``timing`` holds ``fit_s`` and ``predict_ms_per_sample`` (wall time of ``predict`` over the
    whole test set divided by the number of estimates: batch throughput, on this machine).
    Pass ``localizer`` to evaluate an already fitted method (``fit_s`` is then absent).
    """
    from .. import methods

    timing = {}
    if localizer is None:
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

class SuiteResult:
    """Collects the runs of one suite and writes ``results.json``, ``report.md`` and CDF plots."""

    def __init__(self, suite: str, out: Path, quick: bool):
        self.suite, self.out, self.quick = suite, Path(out), quick
        self.runs: list[MethodRun] = []
        self.sections: list[str] = []
        self.extra: dict = {}
        self.t0 = time.perf_counter()

    def add(self, run: MethodRun) -> MethodRun:
        self.runs.append(run)
        return run

    def cdf(self, runs: list[MethodRun], truth: Dataset, fname: str, title: str, dims: int = 2,
            unit: str = "m") -> str:
        """Plot the error CDF of ``runs`` on ``truth``; returns the Markdown image line."""
        errs = {r.label or r.method: errors_for(r.estimate, truth, dims) for r in runs if r.estimate is not None}
        plot_error_cdf(errs, self.out / fname, title=title, unit=unit)
        return f"![{title}]({fname})"

    def write(self, command: str) -> dict:
        results = {
            "suite": self.suite,
            "omniloc_version": __version__,
            "quick": self.quick,
            "command": command,
            "machine": {"python": platform.python_version(), "platform": platform.platform(),
                        "cpus": _cpu_count()},
            "total_s": time.perf_counter() - self.t0,
            "runs": [r.to_json() for r in self.runs],
        }
        results.update(self.extra)
        write_json(self.out / "results.json", results)
        rows = {}
        for r in self.runs:
            row = dict(r.metrics)
            row.update({f"t_{k}": v for k, v in r.timing.items()})
            rows[f"{r.label or r.method} on {r.dataset}"] = row
        table = metrics_table(rows, extra={"fit [s]": "t_fit_s", "predict [ms/sample]": "t_predict_ms_per_sample"})
        write_markdown(self.out / "report.md", f"Benchmark `{self.suite}`" + (" (quick)" if self.quick else ""),
                       [f"Command: `{command}`  \nomniloc {__version__}, {_cpu_count()} CPUs, "
                        f"total {results['total_s']:.0f} s.", table] + self.sections)
        return results

def _cpu_count() -> int:
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1
