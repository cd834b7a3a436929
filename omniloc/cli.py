"""The ``omniloc`` command line.

Heavy libraries (torch, lightning, faiss, h5py, matplotlib) are imported inside the commands so
that ``omniloc --help`` answers at once.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import List, Optional

import typer

app = typer.Typer(
    name="omniloc",
    help="Learning-based multimodal localization: simulate, import, train, evaluate, localize, benchmark.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _console():
    from rich.console import Console

    return Console(stderr=True)


def _fail(msg: str, code: int = 2):
    _console().print(f"[bold red]error:[/] {msg}")
    raise typer.Exit(code)


def parse_conf(items: list[str] | None) -> dict:
    """``["k=v", "a.b=1"]`` -> nested dict; values are parsed as JSON when possible (numbers, true, null, lists)."""
    conf: dict = {}
    for item in items or []:
        if "=" not in item:
            raise typer.BadParameter(f"expected key=value, got {item!r}", param_hint="--conf")
        key, raw = item.split("=", 1)
        try:
            val = json.loads(raw)
        except json.JSONDecodeError:
            val = raw
        node = conf
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = val
    return conf


def _refuse_existing(out: Path, overwrite: bool) -> None:
    """Never overwrite an output without --overwrite (checked before any long work starts)."""
    from ._io import OutputExistsError

    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out} exists; pass --overwrite to replace it")


def _command_line() -> str:
    return "omniloc " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def _handle_errors(fn):
    """Turn the package's user-facing errors into one red line and exit code 2."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from ._errors import ConfigError, DataError
        from ._io import OutputExistsError

        try:
            return fn(*args, **kwargs)
        except (DataError, ConfigError, OutputExistsError) as e:
            _fail(str(e))

    return wrapper


def _print_metrics(rows: dict[str, dict], title: str):
    from rich.table import Table

    from .eval import METRIC_COLUMNS, format_metric

    keys = [k for k in METRIC_COLUMNS if any(k in r for r in rows.values())]
    table = Table(title=title)
    table.add_column("method")
    for k in keys:
        table.add_column(METRIC_COLUMNS[k][0], justify="right")
    for label, r in rows.items():
        table.add_row(label, *[format_metric(k, r.get(k)) for k in keys])
    from rich.console import Console

    Console(width=None if sys.stdout.isatty() else 160).print(table)


# ---------------------------------------------------------------------------------------------- demo
@app.command()
@_handle_errors
def demo(
    out: Path = typer.Option(Path("omniloc-demo"), help="Output folder (dataset, models, report.md, plots)."),
    seed: int = typer.Option(0, help="Simulation seed."),
    overwrite: bool = typer.Option(False, help="Replace an existing output folder's contents."),
):
    """The main job on the built-in simulated world: simulate the default office, train the
    methods that suit it, evaluate, and write OUT/report.md with plots."""
    from .demo import run_demo

    rows = run_demo(out, seed=seed, overwrite=overwrite, command=_command_line())
    _print_metrics(rows, f"omniloc demo — test split of the simulated office (report: {out / 'report.md'})")


# ---------------------------------------------------------------------------------------------- simulate
@app.command()
@_handle_errors
def simulate(
    world: str = typer.Argument(..., help="World to simulate: office or maze."),
    out: Path = typer.Option(..., "--out", help="Dataset folder to write."),
    seed: int = typer.Option(0, help="Random seed: the same seed gives the same dataset."),
    preset: Optional[str] = typer.Option(None, help="Named size preset of the world (e.g. 'quick')."),
    conf: Optional[List[str]] = typer.Option(None, "--conf", help="Override a simulator setting: key=value (repeatable)."),
    overwrite: bool = typer.Option(False, help="Replace an existing dataset folder."),
):
    """Simulate a dataset with every modality (WiFi, IMU, magnetometer, RGB-D, top-down patch)."""
    from .data import save_dataset
    from .sim import simulate as run_sim

    _refuse_existing(out, overwrite)
    with _console().status(f"simulating {world} (seed {seed})"):
        ds = run_sim(world, seed=seed, conf=parse_conf(conf), preset=preset)
        save_dataset(ds, out, overwrite=overwrite)
    _console().print(f"wrote {out}: {ds.summary()}")


# ---------------------------------------------------------------------------------------------- import
@app.command("import")
@_handle_errors
def import_(
    kind: str = typer.Argument(..., help="Source format: ujiindoorloc, sodindoorloc, indoor-competition, ipin2023."),
    src: Path = typer.Argument(..., help="The source folder or file (e.g. ../shared/data/ujiindoorloc)."),
    out: Path = typer.Option(..., "--out", help="Dataset folder to write."),
    test_fraction: float = typer.Option(0.1, help="Fraction held out as the 'test' split (by recording)."),
    seed: int = typer.Option(0, help="Seed of the split."),
    overwrite: bool = typer.Option(False, help="Replace an existing dataset folder."),
):
    """Convert a public dataset into the omniloc format (HDF5 per recording + dataset.json)."""
    from .data import save_dataset
    from .data.loaders import import_dataset

    _refuse_existing(out, overwrite)
    with _console().status(f"importing {kind} from {src}"):
        ds = import_dataset(kind, src, test_fraction=test_fraction, seed=seed)
        save_dataset(ds, out, overwrite=overwrite)
    _console().print(f"wrote {out}: {ds.summary()}")


# ---------------------------------------------------------------------------------------------- train
@app.command()
@_handle_errors
def train(
    method: str = typer.Argument(..., help="Method name (see `omniloc methods`)."),
    data: Path = typer.Option(..., "--data", help="Dataset folder."),
    out: Path = typer.Option(..., "--out", help="Run folder: the saved model and training logs."),
    conf: Optional[List[str]] = typer.Option(None, "--conf", help="Override a method setting: key=value (repeatable)."),
    preset: Optional[str] = typer.Option(None, help="Named preset of the method."),
    split: str = typer.Option("train", help="Split to train on."),
    val_split: Optional[str] = typer.Option("val", help="Validation split (ignored if the dataset has none)."),
    overwrite: bool = typer.Option(False, help="Replace an existing run folder."),
):
    """Train METHOD on a dataset split and save it to OUT."""
    import time

    from . import methods
    from .data import load_dataset

    _refuse_existing(out, overwrite)
    ds = load_dataset(data)
    tr = ds.split(split)
    val = ds.split(val_split) if val_split and val_split in ds.splits else None
    loc = methods.create(method, parse_conf(conf), preset=preset)
    t0 = time.perf_counter()
    with _console().status(f"training {method} on {tr.name} ({len(tr)} recordings)"):
        loc.fit(tr, val)
    loc.save(out, overwrite=overwrite)
    _console().print(f"trained {method} in {time.perf_counter() - t0:.1f} s -> {out}")


# ---------------------------------------------------------------------------------------------- evaluate
@app.command()
@_handle_errors
def evaluate(
    run: Path = typer.Argument(..., help="Run folder written by `omniloc train`."),
    data: Path = typer.Option(..., "--data", help="Dataset folder."),
    split: str = typer.Option("test", help="Split to evaluate on."),
    out: Optional[Path] = typer.Option(None, "--out", help="Report folder (default: RUN/eval-SPLIT)."),
    dims: int = typer.Option(2, help="Position error dimensions: 2 (horizontal) or 3."),
    overwrite: bool = typer.Option(False, help="Replace an existing report folder."),
):
    """Metrics, error CDF, trajectory plots, metrics.json and report.md of a trained model."""
    from . import methods
    from ._io import prepare_output_dir
    from .data import load_dataset
    from .eval import evaluate_estimates

    out = out or run / f"eval-{split}"
    prepare_output_dir(out, overwrite)
    loc = methods.load(run)
    test = load_dataset(data).split(split)
    with _console().status(f"localizing {len(test)} recordings"):
        est = loc.predict(test)
    metrics = evaluate_estimates({loc.name: est}, test, out, title=f"{loc.name} on {test.name}", dims=dims)
    _print_metrics(metrics, f"{loc.name} on {test.name} (report: {out / 'report.md'})")


# ---------------------------------------------------------------------------------------------- localize
@app.command()
@_handle_errors
def localize(
    run: Path = typer.Argument(..., help="Run folder written by `omniloc train`."),
    data: Path = typer.Option(..., "--data", help="Dataset folder (ground truth not needed)."),
    out: Path = typer.Option(..., "--out", help="CSV of estimates: recording, t, x, y, z, [q*, floor, ...]."),
    split: Optional[str] = typer.Option(None, help="Only this split (default: every recording)."),
    overwrite: bool = typer.Option(False, help="Replace an existing CSV."),
):
    """Run a trained model on new data and write the estimates as CSV."""
    from . import methods
    from ._io import atomic_path
    from .data import load_dataset

    _refuse_existing(out, overwrite)
    loc = methods.load(run)
    ds = load_dataset(data)
    if split:
        ds = ds.split(split)
    with _console().status(f"localizing {len(ds)} recordings"):
        est = loc.predict(ds)
    with atomic_path(out, ".csv") as tmp:
        est.to_frame().to_csv(tmp, index=False)
    _console().print(f"wrote {len(est)} estimates to {out}")


# ---------------------------------------------------------------------------------------------- bench
@app.command()
@_handle_errors
def bench(
    suite: str = typer.Argument(..., help="Benchmark suite (see `omniloc methods --suites`)."),
    out: Path = typer.Option(..., "--out", help="Output folder: results.json, report.md, plots."),
    quick: bool = typer.Option(False, help="Tiny budgets, seconds instead of minutes (used by the tests)."),
    data_root: Optional[Path] = typer.Option(None, envvar="OMNILOC_DATA",
                                             help="Folder of public datasets (default ../shared/data)."),
    test_file: Optional[Path] = typer.Option(None, help="ujiindoorloc: evaluate on this CSV; train on all of trainingData."),
    test_site: Optional[Path] = typer.Option(None, help="indoor-competition: also evaluate on this site folder, "
                                             "after training on --finetune-fraction of its paths."),
    finetune_fraction: Optional[float] = typer.Option(None, help="indoor-competition with --test-site: share of "
                                                      "that site's training paths to train on (default 0.5)."),
    overwrite: bool = typer.Option(False, help="Replace the contents of an existing output folder."),
):
    """Run a benchmark suite and write results.json, report.md and plots."""
    from .bench import run_suite

    with _console().status(f"running bench {suite}" + (" (quick)" if quick else "")):
        results = run_suite(suite, out, quick=quick, data_root=data_root, overwrite=overwrite,
                            command=_command_line(), test_file=test_file, test_site=test_site,
                            finetune_fraction=finetune_fraction)
    rows = {r.get("label", r["method"]): r["metrics"] for r in results["runs"]}
    _print_metrics(rows, f"bench {suite} ({out / 'results.json'})")


# ---------------------------------------------------------------------------------------------- methods
@app.command("methods")
def list_methods():
    """List the registered methods, their presets and the benchmark suites."""
    from rich.console import Console
    from rich.table import Table

    from . import methods
    from .bench import SUITES

    table = Table(title="methods")
    for col in ("name", "needs", "presets", "summary"):
        table.add_column(col)
    for name in methods.available():
        cls = methods.get_class(name)
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        table.add_row(name, ", ".join(cls.required_streams), ", ".join(sorted(cls.presets)), doc)
    Console().print(table)
    Console().print("bench suites: " + ", ".join(sorted(SUITES)))


def main():  # console-script entry point
    app()


if __name__ == "__main__":
    main()
