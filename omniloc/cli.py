"""The ``omniloc`` command line.

Heavy libraries (torch, lightning, faiss, h5py, matplotlib) are imported inside the commands so
that ``omniloc --help`` answers at once.

Every command turns bad input into one red line naming the file and field (exit code 2), builds
its output beside the target and swaps it in whole, and on Ctrl-C or SIGTERM removes what it
had started, prints "interrupted; previous output kept" and exits with code 130.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

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
    """Print ``msg`` as one red line (never wrapped into several) and exit with ``code``."""
    from rich.markup import escape

    _console().print(f"[bold red]error:[/] {escape(msg)}", soft_wrap=True)
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


def _refuse_existing(out: Path, overwrite: bool) -> bool:
    """Never overwrite an output without --overwrite (checked before any long work starts).

    Returns whether the writer may replace ``out`` (``overwrite``, or ``out`` is an empty folder).
    """
    from ._io import check_output

    check_output(out, overwrite)
    return overwrite or out.exists()


def _command_line() -> str:
    return "omniloc " + " ".join(shlex.quote(a) for a in sys.argv[1:])


#: exit code after Ctrl-C or SIGTERM (128 + SIGINT, the shell's convention for an interrupted command)
INTERRUPTED_EXIT = 130


def _raise_interrupted(signum, frame):
    """Signal handler: raise :class:`~omniloc._errors.Interrupted`; further Ctrl-C / SIGTERM are
    ignored until the command has cleaned up (its wrapper restores the handlers)."""
    import signal

    from ._errors import Interrupted

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    raise Interrupted(signum)


def _handle_errors(fn):
    """Run a command with clean failures.

    The package's user-facing errors become one red line and exit code 2; Ctrl-C and SIGTERM
    raise :class:`~omniloc._errors.Interrupted` (so that every temporary output is removed on
    the way out), print "interrupted; previous output kept" and exit with code 130. The signal
    handlers are installed for the command only and restored afterwards.
    """
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import signal
        import threading

        from ._errors import ConfigError, DataError, Interrupted
        from ._io import OutputExistsError

        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, _raise_interrupted)
        try:
            return fn(*args, **kwargs)
        except (DataError, ConfigError, OutputExistsError) as e:
            _fail(str(e))
        except (Interrupted, KeyboardInterrupt):
            _console().print("[bold yellow]interrupted; previous output kept[/]", soft_wrap=True)
            raise typer.Exit(INTERRUPTED_EXIT) from None
        except OSError as e:  # e.g. an output folder that cannot be written
            where = f"file {e.filename}: " if getattr(e, "filename", None) else ""
            _fail(f"{where}{e.strerror or e}")
        finally:
            for sig, handler in previous.items():
                if handler is not None:
                    signal.signal(sig, handler)

    return wrapper


def _warn(msg: str) -> None:
    from rich.markup import escape

    _console().print(f"[bold yellow]warning:[/] {escape(msg)}", soft_wrap=True)


def _check_fraction(value: float, option: str) -> None:
    from ._errors import ConfigError

    if not 0.0 <= value < 1.0:
        raise ConfigError(f"{option} must be a fraction in [0, 1), got {value:g}")


def _presets(values: list[str] | None) -> str | list[str] | None:
    """``--preset a --preset b`` or ``--preset a,b`` -> ``["a", "b"]``; one -> ``"a"``; none -> None."""
    names = [n.strip() for v in values or [] for n in v.split(",") if n.strip()]
    return None if not names else names[0] if len(names) == 1 else names


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
    overwrite: bool = typer.Option(False, help="Replace an existing output folder."),
):
    """The main job on the built-in simulated world: simulate, train, evaluate, report.

    Simulates the default office, trains the methods that suit it, evaluates them and writes
    OUT/report.md with plots (built in a temporary folder, swapped in when complete)."""
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
    preset: str | None = typer.Option(None, help="Named size preset of the world (e.g. 'quick')."),
    conf: list[str] | None = typer.Option(None, "--conf", help="Override a simulator setting: key=value (repeatable)."),
    overwrite: bool = typer.Option(False, help="Replace an existing dataset folder."),
):
    """Simulate a dataset with every modality (WiFi, IMU, magnetometer, RGB-D, top-down patch)."""
    from .data import save_dataset
    from .sim import simulate as run_sim

    replace = _refuse_existing(out, overwrite)
    with _console().status(f"simulating {world} (seed {seed})"):
        ds = run_sim(world, seed=seed, conf=parse_conf(conf), preset=preset)
        save_dataset(ds, out, overwrite=replace)
    _console().print(f"wrote {out}: {ds.summary()}")


# ---------------------------------------------------------------------------------------------- import
@app.command("import")
@_handle_errors
def import_(
    kind: str = typer.Argument(
        ..., help="Source format: ujiindoorloc, sodindoorloc, indoor-competition, ipin2023, tum-rgbd, 7scenes."
    ),
    src: Path = typer.Argument(
        ...,
        help="The source folder or file. A relative path that does not exist from "
        "the working directory is looked up under --data-root (so "
        "`omniloc import ujiindoorloc ujiindoorloc --out DIR` works from anywhere).",
    ),
    out: Path = typer.Option(..., "--out", help="Dataset folder to write."),
    data_root: Path | None = typer.Option(
        None, envvar="OMNILOC_DATA", help="Folder of public datasets (default ../shared/data)."
    ),
    test_fraction: float = typer.Option(0.1, help="Fraction held out as the 'test' split (by recording), in [0, 1)."),
    seed: int = typer.Option(0, help="Seed of the split."),
    overwrite: bool = typer.Option(False, help="Replace an existing dataset folder."),
):
    """Convert a public dataset into the omniloc format (HDF5 per recording + dataset.json)."""
    from ._errors import DataError
    from .data import default_data_root, save_dataset
    from .data.loaders import import_dataset

    _check_fraction(test_fraction, "--test-fraction")
    if not src.exists():
        root = data_root or default_data_root()
        if src.is_absolute() or not (root / src).exists():
            raise DataError(
                "source not found"
                + (
                    ""
                    if src.is_absolute()
                    else f", neither from the working directory nor under the data root {root} "
                    "(set --data-root or OMNILOC_DATA)"
                ),
                file=src,
            )
        src = root / src
    replace = _refuse_existing(out, overwrite)
    with _console().status(f"importing {kind} from {src}"):
        ds = import_dataset(kind, src, test_fraction=test_fraction, seed=seed)
        save_dataset(ds, out, overwrite=replace)
    _console().print(f"wrote {out}: {ds.summary()}")


# ---------------------------------------------------------------------------------------------- train
def _has_own_progress(loc) -> bool:
    """Whether fitting ``loc`` trains a neural network with Lightning (which shows its own progress
    bar, hidden by a spinner), directly or through a base method (``track``)."""
    from . import methods

    if "trainer" in loc.conf:
        return bool(loc.conf["trainer"].get("progress", True))
    base = loc.conf.get("base")
    if isinstance(base, str) and base in methods.available():
        base_loc = methods.create(base, loc.conf.get("base_conf"), preset=loc.conf.get("base_preset"))
        return _has_own_progress(base_loc)
    return False


@app.command()
@_handle_errors
def train(
    method: str = typer.Argument(..., help="Method name (see `omniloc methods`)."),
    data: Path = typer.Option(..., "--data", help="Dataset folder."),
    out: Path = typer.Option(
        ...,
        "--out",
        help="Run folder to write: method.json (method, preset, conf, learned "
        "state), state.npz and the method's weights (e.g. weights.pt). Training "
        "checkpoints and CSV logs are kept only with --conf trainer.checkpoint_dir=DIR "
        "(neural methods; training again with the same DIR resumes from there).",
    ),
    conf: list[str] | None = typer.Option(None, "--conf", help="Override a method setting: key=value (repeatable)."),
    preset: list[str] | None = typer.Option(
        None, help="Named preset of the method; several (repeated or comma-separated, e.g. paper,quick) apply in order."
    ),
    split: str = typer.Option("train", help="Split to train on."),
    val_split: str = typer.Option(
        "val",
        help="Validation split (early stopping, best epoch); the default 'val' "
        "may be absent from the dataset, another name must exist.",
    ),
    overwrite: bool = typer.Option(False, help="Replace an existing run folder."),
):
    """Train METHOD on a dataset split and save it to OUT."""
    import contextlib
    import time

    from . import methods
    from ._errors import DataError
    from .data import load_dataset

    replace = _refuse_existing(out, overwrite)
    loc = methods.create(method, parse_conf(conf), preset=_presets(preset))
    ds = load_dataset(data)
    for name, option in ((split, "--split"), (val_split, "--val-split")):
        if name not in ds.splits and not (option == "--val-split" and name == "val"):
            raise DataError(
                f"{option} {name!r}: the dataset has no such split; it has {sorted(ds.splits)}",
                file=Path(data) / "dataset.json",
                field="splits",
            )
    tr = ds.split(split)
    val = ds.split(val_split) if val_split in ds.splits else None
    what = f"training {method} on {tr.name} ({len(tr)} recordings" + (f", validation {val.name})" if val else ")")
    t0 = time.perf_counter()
    if _has_own_progress(loc):  # neural: Lightning shows its own progress bar (epochs, loss, ETA)
        _console().print(what)
        spinner = contextlib.nullcontext()
    else:
        spinner = _console().status(what)
    with spinner:
        loc.fit(tr, val)
    loc.save(out, overwrite=replace)
    _console().print(f"trained {method} in {time.perf_counter() - t0:.1f} s -> {out}")


# ---------------------------------------------------------------------------------------------- evaluate
@app.command()
@_handle_errors
def evaluate(
    run: Path = typer.Argument(..., help="Run folder written by `omniloc train`."),
    data: Path = typer.Option(..., "--data", help="Dataset folder."),
    split: str = typer.Option("test", help="Split to evaluate on."),
    out: Path | None = typer.Option(None, "--out", help="Report folder (default: RUN/eval-SPLIT)."),
    dims: int = typer.Option(2, help="Position error dimensions: 2 (horizontal) or 3."),
    overwrite: bool = typer.Option(False, help="Replace an existing report folder."),
):
    """Metrics, error CDF, trajectory plots, metrics.json and report.md of a trained model.

    The report is built in a temporary folder and replaces OUT only when complete."""
    from . import methods
    from ._errors import ConfigError, DataError
    from ._io import output_dir
    from .data import load_dataset
    from .eval import evaluate_estimates

    if dims not in (2, 3):
        raise ConfigError(f"--dims must be 2 (horizontal) or 3, got {dims}")
    out = out or run / f"eval-{split}"
    _refuse_existing(out, overwrite)
    loc = methods.load(run)
    test = load_dataset(data).split(split)
    with _console().status(f"localizing {len(test)} recordings"):
        est = loc.predict(test)
    if len(est) == 0:
        raise DataError(
            f"{loc.name} gave 0 estimates on split '{split}' ({len(test)} recordings): nothing to "
            f"evaluate; it needs the streams {list(type(loc).required_streams)}",
            file=data,
        )
    with output_dir(out, overwrite) as tmp:
        metrics = evaluate_estimates({loc.name: est}, test, tmp, title=f"{loc.name} on {test.name}", dims=dims)
    for label, m in metrics.items():
        if m.get("coverage", 1.0) == 0:
            _warn(
                f"{label} gave no finite position for any of its {m.get('n_test', len(est))} estimates "
                "(coverage 0), e.g. a fingerprint model on data sharing no access point with its training data"
            )
    _print_metrics(metrics, f"{loc.name} on {test.name} (report: {out / 'report.md'})")


# ---------------------------------------------------------------------------------------------- localize
@app.command()
@_handle_errors
def localize(
    run: Path = typer.Argument(..., help="Run folder written by `omniloc train`."),
    data: Path = typer.Option(..., "--data", help="Dataset folder (ground truth not needed)."),
    out: Path = typer.Option(..., "--out", help="CSV of estimates: recording, t, x, y, z, [q*, floor, ...]."),
    split: str | None = typer.Option(None, help="Only this split (default: every recording)."),
    overwrite: bool = typer.Option(False, help="Replace an existing CSV."),
):
    """Run a trained model on new data and write the estimates as CSV."""
    from . import methods
    from ._errors import DataError
    from ._io import atomic_path
    from .data import load_dataset

    _refuse_existing(out, overwrite)
    loc = methods.load(run)
    ds = load_dataset(data)
    if split:
        ds = ds.split(split)
    with _console().status(f"localizing {len(ds)} recordings"):
        est = loc.predict(ds)
    if len(est) == 0:
        raise DataError(
            f"{loc.name} gave 0 estimates on {len(ds)} recordings: no CSV written; it needs the "
            f"streams {list(type(loc).required_streams)}",
            file=data,
        )
    with atomic_path(out, ".csv") as tmp:
        est.to_frame().to_csv(tmp, index=False)
    _console().print(f"wrote {len(est)} estimates to {out}")


# ---------------------------------------------------------------------------------------------- render
def _parse_pose(text: str) -> tuple:
    from ._errors import ConfigError

    try:
        v = [float(x) for x in text.split(",")]
    except ValueError:
        v = []
    if len(v) != 7:
        raise ConfigError(f"--pose must be x,y,z,qw,qx,qy,qz (metres, unit quaternion), got {text!r}")
    q = v[3:]
    norm = sum(x * x for x in q) ** 0.5
    if not 0.5 < norm < 1.5:
        raise ConfigError(f"--pose quaternion {q} is not (near) unit length")
    return v[:3], [x / norm for x in q]


@app.command()
@_handle_errors
def render(
    run: Path = typer.Argument(..., help="Run folder of a generative map (`omniloc train genmap`)."),
    out: Path = typer.Option(..., "--out", help="PNG to write (with --data: the strip; the GIF goes beside it)."),
    pose: str | None = typer.Option(None, help="x,y,z,qw,qx,qy,qz: render what the map expects at this pose."),
    data: Path | None = typer.Option(None, "--data", help="Dataset folder: render along a recording's true poses."),
    recording: str | None = typer.Option(None, help="With --data: the recording (default: the first of the split)."),
    split: str = typer.Option("test", help="With --data: the split to take the recording from."),
    frames: int = typer.Option(8, help="With --data: frames in the strip (the GIF has every frame)."),
    overwrite: bool = typer.Option(False, help="Replace existing outputs."),
):
    """What a generative map expects to see: at one pose, or along a trajectory (strip + animated GIF)."""
    import numpy as np

    from . import methods
    from ._errors import ConfigError, DataError
    from ._io import atomic_path

    if (pose is None) == (data is None):
        raise ConfigError("give exactly one of --pose or --data")
    loc = methods.load(run)
    if not hasattr(loc, "render"):
        raise ConfigError(f"{loc.name} is not a generative map: it cannot render")
    _refuse_existing(out, overwrite)
    if data is not None:
        _refuse_existing(out.with_suffix(".gif"), overwrite)
    if pose is not None:
        from PIL import Image

        position, quat = _parse_pose(pose)
        img = loc.render(np.array([position]), np.array([quat]))[0]
        with atomic_path(out, ".png") as tmp:
            Image.fromarray(img).save(tmp, format="PNG")
        _console().print(f"wrote {out} ({img.shape[1]}x{img.shape[0]})")
        return
    from .data import load_dataset
    from .data.frames import camera_frames
    from .eval import plot_render_strip, write_gif

    ds = load_dataset(data)
    if split not in ds.splits:
        raise ConfigError(f"--split {split!r} not in the dataset; splits: {sorted(ds.splits)}")
    names = ds.splits[split]
    name = recording or (names[0] if names else None)
    if name is None or name not in ds.recordings:
        raise ConfigError(f"--recording {name!r} not found; recordings of {split!r}: {names}")
    f = camera_frames(ds[name], loc.conf.get("stream"), use_depth=False, labelled=True)
    if len(f["t"]) == 0:
        raise DataError(f"recording {name!r} has no RGB frames with ground-truth poses", file=data, field="rgb")
    true = f["rgb_stream"].load()[f["rgb_index"]]
    gen = loc.render(f["position"], f["orientation"])
    pick = np.linspace(0, len(true) - 1, min(frames, len(true))).astype(int)
    plot_render_strip(
        true[pick],
        gen[pick],
        out,
        title=f"{name}: true (top) and generated (bottom)",
        captions=[f"t {f['t'][i]:.1f} s" for i in pick],
    )
    from .methods.genmap import _resize

    side = _resize(true, gen.shape[1])
    gif = out.with_suffix(".gif")
    write_gif(np.concatenate([side, gen], axis=2), gif)
    _console().print(f"wrote {out} and {gif} ({len(true)} frames)")


# ---------------------------------------------------------------------------------------------- vpr
vpr_app = typer.Typer(
    help="Place recognition: build a database index from a trained `vpr` model, query it.", no_args_is_help=True
)
app.add_typer(vpr_app, name="vpr")


def _vpr_model(run: Path):
    from . import methods
    from ._errors import ConfigError

    loc = methods.load(run)
    if loc.name != "vpr":
        raise ConfigError(f"{run} holds a {loc.name!r} model; `omniloc vpr` needs one trained with `omniloc train vpr`")
    return loc


def _vpr_split(data: Path, split: str | None):
    from ._errors import ConfigError
    from .data import load_dataset

    ds = load_dataset(data)
    if split is None:
        return ds
    if split not in ds.splits:
        raise ConfigError(f"--split {split!r} not in {data}; splits: {sorted(ds.splits)}")
    return ds.split(split)


@vpr_app.command("index")
@_handle_errors
def vpr_index(
    run: Path = typer.Argument(..., help="Run folder of a trained `vpr` model (its descriptor is used)."),
    data: Path = typer.Option(..., "--data", help="Dataset folder whose frames (with poses) become the database."),
    out: Path = typer.Option(..., "--out", help="Index folder to write (a `vpr` model with this database)."),
    split: str | None = typer.Option(None, help="Only this split's recordings (default: every recording)."),
    overwrite: bool = typer.Option(False, help="Replace an existing index folder."),
):
    """Describe every frame of DATA and write them, with their poses, as the database of a new model folder.

    The folder is a complete `vpr` model: `omniloc vpr query`, `omniloc evaluate` and `omniloc localize`
    all read it."""
    _refuse_existing(out, overwrite)
    loc = _vpr_model(run)
    ds = _vpr_split(data, split)
    with _console().status(f"describing the frames of {len(ds)} recordings"):
        loc.database_from(ds)
    loc.save(out, overwrite=overwrite)
    _console().print(f"wrote {out}: {len(loc.db_position_)} database frames ({loc._index!r})")


@vpr_app.command("query")
@_handle_errors
def vpr_query(
    index: Path = typer.Argument(..., help="Index folder (`omniloc vpr index`) or a trained `vpr` run."),
    data: Path = typer.Option(..., "--data", help="Dataset folder of the query recordings."),
    split: str | None = typer.Option("test", help="Split of the queries (default test; '' for every recording)."),
    k: int = typer.Option(10, help="Database frames retrieved per query."),
    tolerance_m: float = typer.Option(2.0, help="A retrieval is correct within this distance, metres."),
    out: Path | None = typer.Option(None, "--out", help="CSV of each query's retrievals (ids, similarities, poses)."),
    overwrite: bool = typer.Option(False, help="Replace an existing CSV."),
):
    """Retrieve the most similar database frames for every query frame; print recall@N when DATA has poses."""
    import numpy as np

    from ._errors import ConfigError
    from ._io import atomic_path
    from .data.frames import camera_frames
    from .eval.retrieval import recall_at_n

    if k < 1:
        raise ConfigError(f"--k must be >= 1, got {k}")
    if out is not None:
        _refuse_existing(out, overwrite)
    loc = _vpr_model(index)
    ds = _vpr_split(data, split or None)
    rows, hits = [], {"ranked": [], "truth": []}
    with _console().status(f"querying {len(ds)} recordings"):
        for rec in ds:
            f = camera_frames(rec, loc.conf["stream"], use_depth=False, labelled=False)
            if not len(f["t"]):
                continue
            sims, ids = loc.retrieve(f["rgb_stream"].load()[f["rgb_index"]], k)
            for i, t in enumerate(f["t"]):
                rows.append((rec.name, float(t), ids[i], sims[i]))
            if rec.position is not None:
                from .data import truth_at

                hits["ranked"].append(ids)
                hits["truth"].append(truth_at(rec, f["t"])["position"])
    if not rows:
        raise ConfigError(f"no RGB frames to query in {data}" + (f" (split {split!r})" if split else ""))
    if hits["ranked"]:
        ns = [n for n in (1, 5, 10) if n <= k]
        m = recall_at_n(
            np.concatenate(hits["ranked"]),
            np.concatenate(hits["truth"]),
            loc.db_position_,
            ns=ns,
            tolerance=tolerance_m,
        )
        recall = ", ".join(
            f"{key} " + ("n/a" if np.isnan(m[key]) else f"{m[key]:.1%}") for key in m if key.startswith("recall")
        )
        _console().print(
            f"{recall} within {tolerance_m:g} m ({m['n_queries']} queries evaluated; "
            f"{m['n_without_match']} have no database frame that near and are left out)"
        )
    if out is not None:
        import pandas as pd

        table = []
        for name, t, ids, sims in rows:
            for rank, (j, s_) in enumerate(zip(ids, sims)):
                p = loc.db_position_[j]
                table.append([name, t, rank + 1, int(j), float(s_), *map(float, p)])
        frame = pd.DataFrame(table, columns=["recording", "t", "rank", "db_index", "similarity", "x", "y", "z"])
        with atomic_path(out, ".csv") as tmp:
            frame.to_csv(tmp, index=False)
        _console().print(f"wrote {len(frame)} retrievals of {len(rows)} queries to {out}")


# ---------------------------------------------------------------------------------------------- bench
@app.command()
@_handle_errors
def bench(
    suite: str = typer.Argument(..., help="Benchmark suite (`omniloc methods` lists them)."),
    out: Path = typer.Option(..., "--out", help="Output folder: results.json, report.md, plots."),
    quick: bool = typer.Option(
        False,
        help="Tiny budgets, the same code path (a quick suite takes about "
        "10-90 s instead of minutes; used by the tests).",
    ),
    seeds: int = typer.Option(
        1, help="Repeat every run with seeds 0..N-1; results.json keeps each seed and the mean with a 95 % interval."
    ),
    sweep: bool = typer.Option(
        False,
        help="ujiindoorloc: also run kNN's representation sweep (grid over "
        "representation, distance, k, weights on group-held-out splits).",
    ),
    threads: int | None = typer.Option(
        None,
        help="Threads for torch and BLAS (default: the CPUs available); "
        "recorded in results.json, figures compare at equal thread counts.",
    ),
    data_root: Path | None = typer.Option(
        None, envvar="OMNILOC_DATA", help="Folder of public datasets (default ../shared/data)."
    ),
    test_file: Path | None = typer.Option(
        None, help="ujiindoorloc: evaluate on this CSV; train on all of trainingData."
    ),
    test_site: Path | None = typer.Option(
        None,
        help="indoor-competition: also evaluate on this site folder, "
        "after training on --finetune-fraction of its paths.",
    ),
    finetune_fraction: float | None = typer.Option(
        None, help="indoor-competition with --test-site: share of that site's training paths to train on (default 0.5)."
    ),
    train_seeds: int | None = typer.Option(
        None, help="mvloc: training seeds per variant on the simulated office (default 3, --quick 1)."
    ),
    overwrite: bool = typer.Option(
        False, help="Replace an existing output folder (swapped in whole when the suite has finished)."
    ),
):
    """Run a benchmark suite and write results.json, report.md and plots."""
    from ._errors import ConfigError
    from .bench import SUITES, run_suite

    if suite not in SUITES:
        raise ConfigError(f"unknown bench suite {suite!r}; available: {sorted(SUITES)} (see `omniloc methods`)")
    if seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {seeds}")
    if sweep and suite != "ujiindoorloc":
        raise ConfigError(f"--sweep applies to the ujiindoorloc suite only, not {suite!r}")
    if finetune_fraction is not None:
        _check_fraction(finetune_fraction, "--finetune-fraction")
    if train_seeds is not None and (suite != "mvloc" or train_seeds < 1):
        raise ConfigError(
            f"--train-seeds applies to the mvloc suite only and must be >= 1, got {train_seeds} for {suite!r}"
        )
    _refuse_existing(out, overwrite)
    with _console().status(f"running bench {suite}" + (" (quick)" if quick else "")):
        results = run_suite(
            suite,
            out,
            quick=quick,
            data_root=data_root,
            overwrite=overwrite,
            command=_command_line(),
            seeds=seeds,
            test_file=test_file,
            test_site=test_site,
            finetune_fraction=finetune_fraction,
            sweep=True if sweep else None,
            threads=threads,
            train_seeds=train_seeds,
        )
    rows = {r.get("label", r["method"]): r["metrics"] for r in results["runs"]}
    _print_metrics(rows, f"bench {suite} ({out / 'results.json'})")


# ---------------------------------------------------------------------------------------------- results
@app.command()
@_handle_errors
def results(
    dirs: list[Path] = typer.Argument(..., help="Bench output folders (each with results.json)."),
    out: Path = typer.Option(..., "--out", help="Markdown page to write (e.g. docs/results.md)."),
    overwrite: bool = typer.Option(False, help="Replace an existing page."),
):
    """Write the result tables of bench runs (their results.json) as one Markdown page."""
    from ._errors import DataError
    from .bench.tables import write_results_md

    for d in dirs:
        if not (d / "results.json").is_file():
            raise DataError(
                "not a bench output folder: results.json not found (write one with `omniloc bench`)",
                file=d / "results.json",
            )
    _refuse_existing(out, overwrite)
    path = write_results_md(list(dirs), out)
    _console().print(f"wrote {path} from {len(dirs)} bench run(s)")


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
