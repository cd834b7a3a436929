"""The command line: help, simulate -> train -> evaluate -> localize, refusal to overwrite, clear errors."""

import json
import subprocess
import sys

import pandas as pd
from typer.testing import CliRunner

from omniloc.cli import app, parse_conf

runner = CliRunner()


def test_help_is_fast_and_lists_commands():
    out = subprocess.run([sys.executable, "-c", "import sys, omniloc.cli; print(sorted(sys.modules))"],
                         capture_output=True, text=True, check=True).stdout
    for heavy in ("torch", "lightning", "faiss", "h5py", "matplotlib", "sklearn"):
        assert f"'{heavy}'" not in out, f"{heavy} imported at CLI start-up"
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0
    for cmd in ("demo", "simulate", "import", "train", "evaluate", "localize", "bench"):
        assert cmd in res.output


def test_parse_conf():
    assert parse_conf(["k=5", "name=abc", "a.b=[1, 2]", "flag=true"]) == {"k": 5, "name": "abc", "a": {"b": [1, 2]},
                                                                          "flag": True}


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
    res = runner.invoke(app, ["localize", str(run), "--data", str(data), "--out", str(tmp_path / "est.csv"),
                              "--split", "test"])
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
    assert set(metrics) == {"knn", "pdr", "mtloc", "track"}
    assert metrics["knn"]["pos_err_median_m"] < 5
    report = (tmp_path / "demo" / "report.md").read_text()
    for fig in ("error_cdf.png", "camera_frames.png", "floor_plan_office-F0.png"):
        assert fig in report and (tmp_path / "demo" / fig).stat().st_size > 1000
    assert (tmp_path / "demo" / "models" / "knn" / "method.json").exists()
