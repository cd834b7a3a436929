"""Result pages generated from the suites' ``results.json`` files, never copied by hand.

:func:`render_suite` turns one suite's results into Markdown: the command that produced them,
machine and threads, total time, the metrics table (:func:`omniloc.eval.metrics_table`), the
mean and 95 % interval over seeds when there are several, and the suite's own report blocks
(text, its tables stored as data in ``results.json["tables"]``, figures). ``report.md`` of a
bench run and every section of ``docs/results.md`` come from this one function.

:func:`write_results_md` (the ``omniloc results DIR... --out docs/results.md`` command) writes one
page with a section per suite folder, figures linked relative to the page.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .._errors import DataError
from ..eval import format_metric, markdown_table, metrics_table, write_markdown

__all__ = ["render_suite", "write_results_md", "read_results"]

#: metrics shown as mean [95 % interval] over seeds (when present and there are several seeds)
SEED_METRICS = (
    "pos_err_mean_m",
    "pos_err_median_m",
    "pos_err_p90_m",
    "floor_hit_rate",
    "building_hit_rate",
    "rot_err_median_deg",
    "recall@1",
)
#: timing columns of the metrics table: header -> key
TIMING_COLUMNS = {"fit [s]": "t_fit_s", "predict [ms/sample]": "t_predict_ms_per_sample"}


def _row_name(run: dict) -> str:
    return f"{run.get('label') or run['method']} on {run['dataset']}"


def _machine_line(results: dict) -> str:
    m = results.get("machine", {})
    threads = results.get("threads", m.get("threads"))
    parts = [f"omniloc {results.get('omniloc_version', '?')}"]
    if m.get("cpu"):
        parts.append(f"{m['cpu']}, {m.get('cpus', '?')} CPUs")
    elif m.get("cpus"):
        parts.append(f"{m['cpus']} CPUs")
    if threads is not None:
        parts.append(f"{threads} threads")
    versions = ", ".join(f"{k} {m[k]}" for k in ("python", "numpy", "torch") if m.get(k))
    if versions:
        parts.append(versions)
    seeds = results.get("seeds") or [0]
    parts.append(f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {seeds[0]}-{seeds[-1]}")
    if results.get("total_s") is not None:
        parts.append(f"total {float(results['total_s']):.0f} s")
    return "; ".join(parts) + "."


def _seed_table(results: dict) -> str:
    runs = [r for r in results.get("runs", []) if r.get("aggregate")]
    if not runs:
        return ""
    keys = [k for k in SEED_METRICS if any(k in r["aggregate"] for r in runs)]
    if not keys:
        return ""
    from ..eval import METRIC_COLUMNS

    def cell(agg: dict | None, key: str) -> str:
        if agg is None:
            return "–"
        mean = format_metric(key, agg["mean"])
        if agg.get("ci") is None:
            return mean
        lo, hi = (format_metric(key, v) for v in agg["ci"])
        return f"{mean} [{lo}, {hi}]"

    n = max(len(r.get("per_seed", [])) for r in runs)
    rows = [[_row_name(r)] + [cell(r["aggregate"].get(k), k) for k in keys] for r in runs]
    head = ["method"] + [METRIC_COLUMNS.get(k, (k,))[0] for k in keys]
    return f"Mean [95 % interval] over {n} seeds (Student t over the seeds' values):\n\n" + markdown_table(head, rows)


def _table_block(table: dict) -> str:
    text = f"{table['title']}:\n\n" if table.get("title") else ""
    text += markdown_table(table["columns"], table["rows"])
    if table.get("note"):
        text += "\n\n" + table["note"]
    return text


def render_suite(results: dict, figure_dir: str = "") -> str:
    """Markdown of one suite's results (the body of ``report.md`` and of a ``docs/results.md`` section).

    Parameters
    ----------
    results : dict
        Content of a ``results.json``.
    figure_dir : str
        Prefix of the figure links (the suite folder relative to the page; ``""``: beside it).
    """
    blocks = [f"Command: `{results.get('command', '?')}`  \n{_machine_line(results)}"]
    rows = {}
    for r in results.get("runs", []):
        row = dict(r.get("metrics", {}))
        row.update({f"t_{k}": v for k, v in r.get("timing", {}).items()})
        rows[_row_name(r)] = row
    if rows:
        blocks.append(metrics_table(rows, extra=TIMING_COLUMNS))
    seed_table = _seed_table(results)
    if seed_table:
        blocks.append(seed_table)
    tables = results.get("tables", {})
    for b in results.get("report", []):
        if "text" in b:
            blocks.append(b["text"])
        elif "table" in b and b["table"] in tables:
            blocks.append(_table_block(tables[b["table"]]))
        elif "figure" in b:
            link = f"{figure_dir.rstrip('/')}/{b['figure']}" if figure_dir else b["figure"]
            blocks.append(f"![{b.get('title', b['figure'])}]({link})")
    return "\n\n".join(x.strip() for x in blocks if x and x.strip())


def read_results(folder) -> dict:
    """``folder/results.json`` of a bench run, or a :class:`~omniloc.DataError` naming the file."""
    f = Path(folder) / "results.json"
    if not f.is_file():
        raise DataError("not a bench output folder: results.json not found", file=f)
    try:
        results = json.loads(f.read_text())
    except json.JSONDecodeError as e:
        raise DataError(f"invalid JSON: {e}", file=f) from None
    if not isinstance(results, dict) or "suite" not in results or not isinstance(results.get("runs"), list):
        raise DataError("not a bench results file: needs 'suite' and a 'runs' list", file=f, field="suite")
    return results


def write_results_md(dirs: list[Path], out: Path) -> Path:
    """One Markdown page with a section per bench output folder, generated from their ``results.json``.

    Parameters
    ----------
    dirs : list of Path
        Bench output folders (``omniloc bench SUITE --out DIR``), in the order of the sections.
    out : Path
        The page to write (e.g. ``docs/results.md``), atomically; figure links are relative to it.

    Returns
    -------
    Path
        ``out``.
    """
    out = Path(out)
    if not dirs:
        raise DataError("no bench output folder given", field="dirs")
    loaded = [(Path(d), read_results(d)) for d in dirs]
    blocks = [
        "Generated by `omniloc results " + " ".join(str(d) for d, _ in loaded) + f" --out {out}` from the "
        "bench folders' results.json; do not edit by hand. Each section names the command that produced "
        "it; rerun that command and this one to update the page. The figures are linked into the bench "
        "folders, which are outputs and not kept in git: they appear once the commands have run.",
        "\n".join(f"- [{r['suite']}{' (quick)' if r.get('quick') else ''}](#{_anchor(r, d)})" for d, r in loaded),
    ]
    base = out.resolve().parent
    for d, r in loaded:
        rel = Path(os.path.relpath(d.resolve(), base)).as_posix()
        heading = (
            f"## {r['suite']}" + (" (quick)" if r.get("quick") else "") + (f" — `{d.name}`" if _dup(r, loaded) else "")
        )
        blocks.append(f'<a id="{_anchor(r, d)}"></a>\n\n{heading}\n\n' + render_suite(r, rel))
    return write_markdown(out, "Benchmark results", blocks)


def _anchor(results: dict, folder: Path) -> str:
    return "".join(c if c.isalnum() else "-" for c in f"{results['suite']}-{folder.name}").lower()


def _dup(results: dict, loaded: list) -> bool:
    return sum(r["suite"] == results["suite"] for _, r in loaded) > 1
