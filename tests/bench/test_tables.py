"""docs/results.md is generated from results.json files: known content from small hand-written results."""

import json

import pytest

from omniloc import DataError
from omniloc.bench.tables import render_suite, write_results_md


def _results(suite="transfer", seeds=(0,), command="omniloc bench transfer --out bench-out/transfer"):
    run = {
        "method": "mtloc",
        "dataset": "ipin2023",
        "label": "scratch 50.0%",
        "conf": {"seed": 0},
        "metrics": {"n_test": 120, "pos_err_mean_m": 4.5, "pos_err_median_m": 3.25, "floor_hit_rate": 0.9},
        "timing": {"fit_s": 12.0, "predict_ms_per_sample": 0.25},
        "seed": 0,
    }
    if len(seeds) > 1:
        run["per_seed"] = [{"seed": s, "metrics": {"pos_err_mean_m": 4.5 + s}, "timing": {}} for s in seeds]
        run["aggregate"] = {
            "pos_err_mean_m": {
                "mean": 5.0,
                "std": 0.7071,
                "ci": [-1.35, 11.35],
                "level": 0.95,
                "n_seeds": 2,
                "values": [4.5, 5.5],
            }
        }
    return {
        "suite": suite,
        "omniloc_version": "0.1.0",
        "quick": False,
        "command": command,
        "machine": {
            "cpu": "AMD EPYC",
            "cpus": 2,
            "threads": 2,
            "python": "3.11.7",
            "numpy": "2.4.6",
            "torch": "2.13.0",
        },
        "threads": 2,
        "seeds": list(seeds),
        "total_s": 310.4,
        "runs": [run],
        "tables": {
            "table_v": {
                "title": "Table V (mean ± std, metres)",
                "columns": ["target data", "scratch"],
                "rows": [["50.0%", "4.50 ± 1.00"]],
                "note": "Frozen: 5.00 ± 1.20 m.",
            }
        },
        "report": [
            {"text": "**Finding:** none."},
            {"table": "table_v"},
            {"figure": "sweep.png", "title": "mean error against target data"},
        ],
    }


def _write(folder, results):
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(results))
    return folder


def test_render_suite_has_command_machine_metrics_tables_and_figures():
    text = render_suite(_results(), "../bench-out/transfer")
    assert "Command: `omniloc bench transfer --out bench-out/transfer`" in text
    assert "AMD EPYC, 2 CPUs; 2 threads; python 3.11.7, numpy 2.4.6, torch 2.13.0; seed 0; total 310 s." in text
    assert ("| scratch 50.0% on ipin2023 | 120 | 4.50 | 3.25 | 90.0% | 12 | 0.25 |") in text
    assert "Table V (mean ± std, metres):\n\n| target data | scratch |\n|---|---|\n| 50.0% | 4.50 ± 1.00 |" in text
    assert "Frozen: 5.00 ± 1.20 m." in text and "**Finding:** none." in text
    assert "![mean error against target data](../bench-out/transfer/sweep.png)" in text
    assert text.index("**Finding:**") < text.index("Table V") < text.index("![mean error")  # report order
    assert "over 2 seeds" not in text


def test_render_suite_with_seeds_shows_mean_and_interval():
    text = render_suite(_results(seeds=(0, 1)))
    assert "Mean [95 % interval] over 2 seeds" in text
    assert "| scratch 50.0% on ipin2023 | 5.00 [-1.35, 11.35] |" in text and "seeds 0-1" in text


def test_write_results_md_one_section_per_folder_with_relative_links(tmp_path):
    a = _write(tmp_path / "bench-out" / "transfer", _results())
    b = _write(tmp_path / "bench-out" / "maze", _results("maze", command="omniloc bench maze --out bench-out/maze"))
    out = write_results_md([a, b], tmp_path / "docs" / "results.md")
    text = out.read_text()
    assert text.startswith("# Benchmark results\n")
    assert text.index("## transfer") < text.index("## maze")
    assert "![mean error against target data](../bench-out/transfer/sweep.png)" in text
    assert "![mean error against target data](../bench-out/maze/sweep.png)" in text
    assert "omniloc bench maze --out bench-out/maze" in text and "- [maze](#maze-maze)" in text
    assert "do not edit by hand" in text
    # a folder without results.json, or a broken one, is an error naming the file; nothing is written
    with pytest.raises(DataError, match="results.json not found"):
        write_results_md([a, tmp_path / "nothing"], tmp_path / "other.md")
    (_write(tmp_path / "bad", {"runs": []}))
    with pytest.raises(DataError, match="suite"):
        write_results_md([tmp_path / "bad"], tmp_path / "other.md")
    assert not (tmp_path / "other.md").exists()
