"""The command line: help, simulate -> train -> evaluate -> localize, refusal to overwrite, clear errors,
outputs swapped in whole, interrupts."""

import dataclasses
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from omniloc.cli import app, parse_conf

runner = CliRunner()


def test_help_is_fast_and_lists_commands():
    out = subprocess.run(
        [sys.executable, "-c", "import sys, omniloc.cli; print(sorted(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for heavy in ("torch", "lightning", "faiss", "h5py", "matplotlib", "sklearn"):
        assert f"'{heavy}'" not in out, f"{heavy} imported at CLI start-up"
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0
    for cmd in ("demo", "simulate", "import", "train", "evaluate", "localize", "bench"):
        assert cmd in res.output


def test_parse_conf():
    assert parse_conf(["k=5", "name=abc", "a.b=[1, 2]", "flag=true"]) == {
        "k": 5,
        "name": "abc",
        "a": {"b": [1, 2]},
        "flag": True,
    }


def test_simulate_train_evaluate_localize(tmp_path):
    data, run = tmp_path / "data", tmp_path / "run"
    res = runner.invoke(app, ["simulate", "office", "--out", str(data), "--preset", "quick", "--seed", "1"])
    assert res.exit_code == 0, res.output
    assert (data / "dataset.json").exists()
    res = runner.invoke(app, ["simulate", "office", "--out", str(data), "--preset", "quick"])
    assert res.exit_code == 2 and "--overwrite" in res.output
    res = runner.invoke(app, ["train", "knn", "--data", str(data), "--out", str(run), "--conf", "k=3"])
    assert res.exit_code == 0, res.output
    assert json.loads((run / "method.json").read_text())["conf"]["k"] == 3
    res = runner.invoke(app, ["evaluate", str(run), "--data", str(data)])
    assert res.exit_code == 0, res.output
    metrics = json.loads((run / "eval-test" / "metrics.json").read_text())["knn"]
    assert metrics["pos_err_median_m"] < 10
    assert (run / "eval-test" / "report.md").exists()
    res = runner.invoke(
        app, ["localize", str(run), "--data", str(data), "--out", str(tmp_path / "est.csv"), "--split", "test"]
    )
    assert res.exit_code == 0, res.output
    df = pd.read_csv(tmp_path / "est.csv")
    assert {"recording", "t", "x", "y", "z", "floor"} <= set(df.columns) and len(df) == metrics["n_test"]


def test_clear_errors(tmp_path):
    res = runner.invoke(app, ["train", "knn", "--data", str(tmp_path), "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "dataset.json" in res.output
    res = runner.invoke(app, ["bench", "no-such-suite", "--out", str(tmp_path / "b")])
    assert res.exit_code == 2 and "unknown bench suite" in res.output


def test_demo_writes_report_with_figures(tmp_path):
    from omniloc.demo import run_demo

    metrics = run_demo(tmp_path / "demo", seed=0, preset="quick")
    assert set(metrics) == {"knn", "pdr", "mtloc", "track", "pf"}
    assert metrics["knn"]["pos_err_median_m"] < 5
    report = (tmp_path / "demo" / "report.md").read_text()
    for fig in ("error_cdf.png", "camera_frames.png", "floor_plan_office-F0.png"):
        assert fig in report and (tmp_path / "demo" / fig).stat().st_size > 1000
    assert (tmp_path / "demo" / "models" / "knn" / "method.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]  # built aside, swapped in whole


def test_demo_refuses_an_existing_output_before_any_work(tmp_path):
    from omniloc._io import OutputExistsError
    from omniloc.demo import run_demo

    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "notes.txt").write_text("mine")
    t0 = time.perf_counter()
    with pytest.raises(OutputExistsError, match="--overwrite"):
        run_demo(tmp_path / "demo", preset="quick")
    assert time.perf_counter() - t0 < 5 and (tmp_path / "demo" / "notes.txt").read_text() == "mine"
    assert _hidden(tmp_path) == []


# ---------------------------------------------------------------------------------------------- bad input
SENSORS = {"sensors": ["imu", "magnetometer", "wifi"]}


def _variant(ds, *, wifi=None, drop_split=None):
    """``ds`` with the test recordings' wifi stream replaced by ``wifi(stream)`` and/or a split removed."""
    from omniloc.data import Dataset

    recs = {}
    for name, rec in ds.recordings.items():
        streams = dict(rec.streams)
        if wifi is not None and name in ds.splits["test"]:
            streams["wifi"] = wifi(streams["wifi"])
        recs[name] = dataclasses.replace(rec, streams=streams)
    splits = {k: v for k, v in ds.splits.items() if k != drop_split}
    return Dataset(ds.name, recs, ds.floor_plans, splits, ds.provenance)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A quick office without camera (folder ``data``), variants of it, and a kNN trained on it (``run``)."""
    from omniloc.data import Stream, save_dataset
    from omniloc.sim import simulate

    root = tmp_path_factory.mktemp("cli")
    ds = simulate("office", seed=1, preset="quick", conf=SENSORS)
    save_dataset(ds, root / "data")
    save_dataset(_variant(ds, drop_split="val"), root / "no-val")
    save_dataset(
        _variant(ds, wifi=lambda s: Stream("wifi", np.zeros(0), np.zeros((0, len(s.ids)), np.float32), ids=s.ids)),
        root / "no-scans",
    )
    save_dataset(
        _variant(ds, wifi=lambda s: Stream("wifi", s.t, s.values, ids=[f"other-{i}" for i in s.ids])),
        root / "foreign-aps",
    )
    res = runner.invoke(app, ["train", "knn", "--data", str(root / "data"), "--out", str(root / "run")])
    assert res.exit_code == 0, res.output
    return root


def _clean_error(res, *fragments):
    """One red error line naming what is wrong, exit code 2, no traceback."""
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and res.exception is None or isinstance(res.exception, SystemExit)
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), res.output
    for f in fragments:
        assert f in " ".join(res.output.split()), (f, res.output)


def _hidden(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_conf_of_the_wrong_type(world, tmp_path):
    res = runner.invoke(
        app, ["train", "mtloc", "--data", str(world / "data"), "--out", str(tmp_path / "r"), "--conf", "epochs=abc"]
    )
    _clean_error(res, "mtloc conf 'epochs' must be an int, got 'abc' (str)")
    res = runner.invoke(
        app, ["train", "knn", "--data", str(world / "data"), "--out", str(tmp_path / "r"), "--conf", "trainer.x=1"]
    )
    _clean_error(res, "unknown knn conf key 'trainer'")
    assert list(tmp_path.iterdir()) == []


def test_presets_in_order_from_the_command_line(world, tmp_path):
    res = runner.invoke(
        app,
        [
            "train",
            "knn",
            "--data",
            str(world / "data"),
            "--out",
            str(tmp_path / "r"),
            "--preset",
            "paper,fast",
            "--conf",
            "k=5",
        ],
    )
    assert res.exit_code == 0, res.output
    meta = json.loads((tmp_path / "r" / "method.json").read_text())
    assert meta["preset"] == ["paper", "fast"]
    assert (meta["conf"]["representation"], meta["conf"]["metric"], meta["conf"]["k"]) == ("powed", "euclidean", 5)


def test_import_fraction_and_data_root(world, tmp_path, monkeypatch):
    from omniloc.data import load_dataset, loaders

    res = runner.invoke(
        app, ["import", "ujiindoorloc", "ujiindoorloc", "--out", str(tmp_path / "d"), "--test-fraction", "2"]
    )
    _clean_error(res, "--test-fraction must be a fraction in [0, 1), got 2")
    res = runner.invoke(
        app,
        [
            "import",
            "ujiindoorloc",
            "no-such-folder",
            "--out",
            str(tmp_path / "d"),
            "--data-root",
            str(tmp_path / "root"),
        ],
    )
    _clean_error(res, "file no-such-folder: source not found", str(tmp_path / "root"), "--data-root")
    # a relative SRC that does not exist here is looked up under the data root
    (tmp_path / "root" / "uji").mkdir(parents=True)
    seen = []

    def fake_import(src, **opts):
        seen.append((src, opts))
        return load_dataset(world / "data")

    monkeypatch.setitem(loaders.LOADERS, "ujiindoorloc", fake_import)
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(
        app,
        [
            "import",
            "ujiindoorloc",
            "uji",
            "--out",
            "d",
            "--data-root",
            str(tmp_path / "root"),
            "--test-fraction",
            "0.2",
        ],
    )
    assert res.exit_code == 0, res.output
    assert seen == [(tmp_path / "root" / "uji", {"test_fraction": 0.2, "seed": 0})]
    assert (tmp_path / "d" / "dataset.json").exists()
    monkeypatch.setenv("OMNILOC_DATA", str(tmp_path / "root"))
    res = runner.invoke(app, ["import", "ujiindoorloc", "uji", "--out", "d2"])
    assert res.exit_code == 0, res.output
    assert seen[-1][0] == tmp_path / "root" / "uji"


def test_simulate_refuses_a_bad_world_conf(tmp_path):
    res = runner.invoke(
        app, ["simulate", "office", "--out", str(tmp_path / "d"), "--preset", "quick", "--conf", "n_recordings=-1"]
    )
    _clean_error(res, "office conf 'n_recordings' must be an int >= 1, got -1")
    assert list(tmp_path.iterdir()) == []


def test_validation_split_must_exist_unless_it_is_the_default(world, tmp_path):
    res = runner.invoke(
        app, ["train", "knn", "--data", str(world / "data"), "--out", str(tmp_path / "r"), "--val-split", "vall"]
    )
    _clean_error(res, "dataset.json, field 'splits': --val-split 'vall'", "['test', 'train', 'val']")
    res = runner.invoke(app, ["train", "knn", "--data", str(world / "no-val"), "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output  # the default 'val' may be absent
    res = runner.invoke(
        app, ["train", "knn", "--data", str(world / "no-val"), "--out", str(tmp_path / "r2"), "--split", "training"]
    )
    _clean_error(res, "--split 'training'")


def test_evaluate_bad_dims_and_missing_run_create_nothing(world, tmp_path):
    res = runner.invoke(
        app,
        ["evaluate", str(world / "run"), "--data", str(world / "data"), "--dims", "5", "--out", str(tmp_path / "e")],
    )
    _clean_error(res, "--dims must be 2 (horizontal) or 3, got 5")
    res = runner.invoke(app, ["evaluate", str(world / "run" / "nosuch"), "--data", str(world / "data")])
    _clean_error(res, "method.json not found")
    assert not (world / "run" / "nosuch").exists()
    res = runner.invoke(
        app,
        [
            "evaluate",
            str(world / "run"),
            "--data",
            str(world / "data"),
            "--split",
            "nope",
            "--out",
            str(tmp_path / "e"),
        ],
    )
    _clean_error(res, "no split 'nope'")
    assert list(tmp_path.iterdir()) == []


def test_evaluate_overwrite_swaps_the_whole_report(world, tmp_path, monkeypatch):
    out = tmp_path / "e"
    args = ["evaluate", str(world / "run"), "--data", str(world / "data"), "--out", str(out)]
    assert runner.invoke(app, args).exit_code == 0
    (out / "stale.png").write_text("from an earlier run")
    report = (out / "report.md").read_text()
    assert runner.invoke(app, args).exit_code == 2  # exists: needs --overwrite
    assert runner.invoke(app, args + ["--overwrite"]).exit_code == 0
    assert not (out / "stale.png").exists() and (out / "report.md").read_text() == report
    # a failure half-way (metrics.json written, the report not) keeps the previous report whole

    def half_written(estimates, truth, out_dir, **kw):
        (out_dir / "metrics.json").write_text("{}")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("omniloc.eval.evaluate_estimates", half_written)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    res = runner.invoke(app, args + ["--overwrite"])
    _clean_error(res, "No space left on device")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert _hidden(tmp_path) == []


def test_zero_estimates_and_zero_coverage(world, tmp_path):
    res = runner.invoke(
        app, ["evaluate", str(world / "run"), "--data", str(world / "no-scans"), "--out", str(tmp_path / "e")]
    )
    _clean_error(res, "knn gave 0 estimates on split 'test'", "no-scans")
    res = runner.invoke(
        app,
        [
            "localize",
            str(world / "run"),
            "--data",
            str(world / "no-scans"),
            "--split",
            "test",
            "--out",
            str(tmp_path / "est.csv"),
        ],
    )
    _clean_error(res, "knn gave 0 estimates", "no CSV written")
    assert list(tmp_path.iterdir()) == []
    res = runner.invoke(
        app, ["evaluate", str(world / "run"), "--data", str(world / "foreign-aps"), "--out", str(tmp_path / "e")]
    )
    assert res.exit_code == 0, res.output
    warning = [line for line in res.output.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and "coverage 0" in warning[0]
    assert json.loads((tmp_path / "e" / "metrics.json").read_text())["knn"]["coverage"] == 0


def _help(command):
    """The help text of ``command`` as one line (rich's box borders and line breaks removed)."""
    return " ".join(runner.invoke(app, [command, "--help"]).output.replace("│", " ").split())


def test_help_texts_match_behaviour():
    bench_help = _help("bench")
    assert "--suites" not in bench_help and "`omniloc methods` lists them" in bench_help
    assert "seconds" not in bench_help and "10-90 s" in bench_help
    train_help = _help("train")
    assert "method.json" in train_help and "trainer.checkpoint_dir=DIR" in train_help
    assert "OMNILOC_DATA" in runner.invoke(app, ["import", "--help"]).output
    listing = runner.invoke(app, ["methods"]).output
    assert "bench suites:" in listing and "ujiindoorloc" in listing and "maze" in listing


def test_neural_training_shows_its_own_progress():
    from omniloc import methods
    from omniloc.cli import _has_own_progress

    assert _has_own_progress(methods.create("mtloc")) is True
    assert _has_own_progress(methods.create("mtloc", {"trainer": {"progress": False}})) is False
    assert _has_own_progress(methods.create("track", {"base": "mtloc"})) is True
    assert _has_own_progress(methods.create("knn")) is False and _has_own_progress(methods.create("track")) is False


# ---------------------------------------------------------------------------------------------- bench and results
class _FakeResult:
    def __init__(self, out, seeds, options):
        self.out, self.seeds, self.options = out, seeds, options

    def write(self, command):
        res = {
            "suite": "fake",
            "command": command,
            "seeds": self.seeds,
            "options": sorted(self.options),
            "runs": [{"method": "knn", "metrics": {"n_test": 3, "pos_err_mean_m": 1.5}}],
        }
        (self.out / "results.json").write_text(json.dumps(res))
        return res


def _fake_suite(out, quick=False, data_root=None, seeds=1, **options):
    from omniloc import DataError

    if options.get("fail"):
        (out / "results.json").write_text("half")
        raise DataError("the fake suite failed", file="fake.csv")
    (out / "report.md").write_text("fake report")
    return _FakeResult(out, seeds, options)


@pytest.fixture
def fake_suite(monkeypatch):
    from omniloc import bench

    monkeypatch.setitem(bench.SUITES, "fake", f"{__name__}:_fake_suite")
    monkeypatch.setitem(bench.SUITES, "ujiindoorloc", f"{__name__}:_fake_suite")


def test_bench_overwrite_leaves_no_stale_file_and_passes_seeds_and_sweep(fake_suite, tmp_path):
    from omniloc.bench import run_suite

    out = tmp_path / "b"
    out.mkdir()
    (out / "old_plot.png").write_text("stale")
    res = runner.invoke(app, ["bench", "fake", "--out", str(out), "--quick", "--seeds", "3", "--overwrite"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == ["report.md", "results.json"]
    results = json.loads((out / "results.json").read_text())
    assert results["seeds"] == 3 and results["options"] == []
    res = runner.invoke(app, ["bench", "ujiindoorloc", "--out", str(tmp_path / "u"), "--sweep"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "u" / "results.json").read_text())["options"] == ["sweep"]
    _clean_error(
        runner.invoke(app, ["bench", "fake", "--out", str(tmp_path / "x"), "--sweep"]),
        "--sweep applies to the ujiindoorloc suite only",
    )
    _clean_error(
        runner.invoke(app, ["bench", "fake", "--out", str(tmp_path / "x"), "--seeds", "0"]),
        "--seeds must be >= 1, got 0",
    )
    # a suite that fails half-way: the earlier output stays whole, no temporary folder is left
    with pytest.raises(Exception, match="the fake suite failed"):
        run_suite("fake", out, overwrite=True, fail=True)
    assert sorted(p.name for p in out.iterdir()) == ["report.md", "results.json"]
    assert json.loads((out / "results.json").read_text())["seeds"] == 3
    assert _hidden(tmp_path) == [] and not (tmp_path / "x").exists()


def test_results_command(tmp_path, monkeypatch):
    import types

    calls = []

    def fake_write(dirs, out):
        calls.append((dirs, out))
        out.write_text("# results\n")
        return out

    try:
        import omniloc.bench.tables as tables
    except ImportError:  # written by another part of the team; the command only calls it
        tables = types.ModuleType("omniloc.bench.tables")
        monkeypatch.setitem(sys.modules, "omniloc.bench.tables", tables)
    monkeypatch.setattr(tables, "write_results_md", fake_write, raising=False)
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        d.mkdir()
        (d / "results.json").write_text("{}")
    out = tmp_path / "results.md"
    res = runner.invoke(app, ["results", str(a), str(b), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert calls == [([a, b], out)] and out.read_text() == "# results\n"
    _clean_error(runner.invoke(app, ["results", str(a), "--out", str(out)]), "--overwrite")
    assert runner.invoke(app, ["results", str(a), "--out", str(out), "--overwrite"]).exit_code == 0
    _clean_error(
        runner.invoke(app, ["results", str(tmp_path / "c"), "--out", str(tmp_path / "r2.md")]), "results.json not found"
    )


# ---------------------------------------------------------------------------------------------- interrupts
SLOW_SUITE = """
import time
from pathlib import Path


def run(out, quick=False, data_root=None, seeds=1, **options):
    (Path(out) / "results.json").write_text("half-written")
    print("READY", flush=True)
    time.sleep(120)
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_interrupt_keeps_the_previous_output_and_leaves_no_temporary_folder(tmp_path, sig):
    (tmp_path / "slow_suite.py").write_text(SLOW_SUITE)
    out = tmp_path / "bench-out"
    out.mkdir()
    (out / "results.json").write_text("previous run")
    driver = (
        f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n"
        "from omniloc.bench import SUITES\n"
        "SUITES['slow'] = 'slow_suite:run'\n"
        "from omniloc.cli import app\n"
        f"app(['bench', 'slow', '--out', {str(out)!r}, '--overwrite'])\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", driver], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while proc.stdout.readline().strip() != "READY":
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        assert len(_hidden(tmp_path)) == 1  # the suite is writing into .bench-out.XXXX.tmp
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted; previous output kept" in err and "Traceback" not in err
    assert (out / "results.json").read_text() == "previous run"
    assert _hidden(tmp_path) == []
