"""Bench suite ``ujiindoorloc``: WiFi fingerprinting on UJIIndoorLoc (3 buildings, 5 floors).

By default the methods train on ``trainingData`` minus a held-out 10 % of its (USERID, PHONEID)
recordings (:func:`omniloc.data.splits.split_by_groups`, split seed = the run's seed) and are
tested on that held-out part. With ``test_file`` they train on all of ``trainingData`` and are
tested on the given CSV (same columns), e.g. the official validation file, which is not
distributed with omniloc's data folder.

Runs: ``knn`` with its defaults and with each other signal representation. With ``sweep`` the
suite also scores the kNN settings of :func:`sweep_grid` (representation, distance, ``k``,
weights, cascade, floor model) on the same split: results in ``results.json["sweep"]`` and the
``sweep`` table (with several seeds: the mean over the seeds' splits, as the kNN defaults were
chosen on split seeds 0-4).

Errors are 2-D, in the dataset's EPSG:3857 metres (the unit papers report; about 1.3x ground
metres at this latitude), plus building and floor hit rates.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._errors import DataError
from ..eval import format_metric
from ._runner import SuiteResult, run_method, run_seeds

#: the kNN signal representations compared by the suite (Torres-Sospedra et al. 2015)
REPRESENTATIONS = ("dbm", "positive", "exponential", "powed")
#: quick mode: settings of the sweep that are run (the first ones of :func:`sweep_grid`)
QUICK_SWEEP = 3


def sweep_grid() -> list[dict]:
    """The kNN settings of the sweep (conf overrides of ``knn``'s defaults).

    One plain 1-NN Euclidean baseline on dBm; Sorensen, 11 distance-weighted neighbours with each
    representation; the same with Euclidean; Manhattan; ``k`` = 1, 5, 21; the cascade; the
    setting of Torres-Sospedra et al. (powed, Sorensen, 13-NN, equal weights); all with the
    floor by the neighbours' vote; then the logistic floor model with ``C`` = 1, 10, 100, with
    powed, and with the cascade.
    """
    from ..data.fingerprint import REPRESENTATIONS as ALL

    vote = {"floor_model": "knn"}
    best = {"metric": "sorensen", "k": 11, "weights": "distance", "cascade": False, **vote}
    grid = [{"representation": "dbm", "metric": "euclidean", "k": 1, "weights": "uniform", "cascade": False, **vote}]
    grid += [{"representation": rep, **best} for rep in ALL]
    grid += [{"representation": rep, **best, "metric": "euclidean"} for rep in ALL]
    grid += [{"representation": "positive", **best, "metric": "manhattan"}]
    grid += [{"representation": "positive", **best, "k": k} for k in (1, 5, 21)]
    grid += [{"representation": "positive", **best, "cascade": True}]
    grid += [{"representation": "powed", "metric": "sorensen", "k": 13, "weights": "uniform", "cascade": False, **vote}]
    logit = {**best, "representation": "positive", "floor_model": "logistic"}
    grid += [{**logit, "floor_c": c} for c in (1.0, 10.0, 100.0)]
    grid += [{**logit, "representation": "powed"}, {**logit, "cascade": True}]
    return grid


def sweep_label(conf: dict) -> str:
    """``representation, metric, k=K, weights, flat|cascade, vote|logit C`` of a full kNN conf."""
    floor = "vote" if conf["floor_model"] == "knn" else f"logit {conf['floor_c']:g}"
    return (
        f"{conf['representation']}, {conf['metric']}, k={conf['k']}, {conf['weights']}, "
        f"{'cascade' if conf['cascade'] else 'flat'}, {floor}"
    )


def _load(data_root: Path, test_file: Path | None, seed: int):
    from ..data.loaders.ujiindoorloc import load_ujiindoorloc
    from ..data.splits import split_by_groups

    src = Path(data_root) / "ujiindoorloc" / "trainingData.csv.gz"
    if not src.exists():
        raise DataError("UJIIndoorLoc training file not found; pass --data-root or set OMNILOC_DATA", file=src)
    full = load_ujiindoorloc(src)
    if test_file is not None:
        test = load_ujiindoorloc(Path(test_file), name="ujiindoorloc-test")
        return full, test, f"ujiindoorloc/{Path(test_file).name}"
    split = split_by_groups(full, test_fraction=0.1, seed=seed)
    return split.split("train"), split.split("test"), "ujiindoorloc/heldout-groups"


def run(
    out: Path,
    quick: bool = False,
    data_root: Path | None = None,
    seeds: int = 1,
    test_file: Path | None = None,
    sweep: bool = False,
    threads: int | None = None,
) -> SuiteResult:
    """Run the suite; see the module docstring.

    Parameters
    ----------
    out : Path
        Output folder.
    quick : bool
        Two test recordings, no representation runs, the first :data:`QUICK_SWEEP` sweep settings.
    data_root : Path
        Folder holding ``ujiindoorloc/trainingData.csv.gz``.
    seeds : int
        Split seeds ``0 .. seeds-1`` (kNN itself is deterministic).
    test_file : Path, optional
        Test on this CSV instead of held-out groups.
    sweep : bool
        Also score the settings of :func:`sweep_grid`.
    threads : int, optional
        Thread count (default: the CPUs available).
    """

    def body(res: SuiteResult, seed: int) -> None:
        train, test, label = _load(data_root, test_file, seed)
        if quick:  # same code path, on two test recordings and without the representation runs
            test = test.subset(list(test.recordings)[:2], name=test.name)
            label += "-quick"
        res.extra["data"] = {
            "train_recordings": len(train),
            "train_samples": train.n_samples,
            "test_recordings": len(test),
            "test_samples": test.n_samples,
            "test": str(test_file)
            if test_file
            else f"10 % of trainingData recordings (USERID/PHONEID), split seed {seed}",
        }
        default = res.run("knn", train, test, label)
        runs = [default]
        for rep in [] if quick else REPRESENTATIONS:
            if rep == default.conf.get("representation"):
                continue
            runs.append(res.run("knn", train, test, label, conf={"representation": rep}, label=f"knn ({rep})"))
        default.label = f"knn ({default.conf.get('representation')}, default)"
        res.cdf(runs, test, "error_cdf.png", f"UJIIndoorLoc 2-D error CDF ({label})", unit="m (EPSG:3857)")
        res.text(
            "Targets on the official validation file: building hit 100 %, floor hit >= 95 %, mean 2-D error <= "
            "6.0 m (published: plain kNN ~7.9 m; EvAAL 2015 winner 6.20 m / 93.7 % floors). The validation file is "
            "held out from this repository's data; these figures are on "
            + (
                "the file given with --test-file."
                if test_file
                else "recordings of trainingData held out by user/phone."
            )
        )
        if sweep:
            grid = sweep_grid()[:QUICK_SWEEP] if quick else sweep_grid()
            rows = []
            for conf in grid:
                r = run_method("knn", train, test, label, conf=conf, seed=res.seed)  # own table, not the runs
                rows.append({"label": sweep_label(r.conf), "conf": conf, "metrics": r.metrics, "timing": r.timing})
            res.extra["sweep"] = rows

    res = run_seeds("ujiindoorloc", out, quick, seeds, body, threads)
    if sweep:
        _sweep_table(res)
    return res


#: sweep table columns: header -> metric key
SWEEP_COLUMNS = {
    "mean [m]": "pos_err_mean_m",
    "median [m]": "pos_err_median_m",
    "floor hit": "floor_hit_rate",
    "building hit": "building_hit_rate",
}


def _sweep_table(res: SuiteResult) -> None:
    """The sweep table: per setting the metrics (mean over the seeds' splits) and the predict time."""
    per_seed = [res.extra["sweep"]] + [o.extra["sweep"] for o in res.other_seeds]
    default = res.runs[0].conf
    rows = []
    for i, row in enumerate(res.extra["sweep"]):
        ms = [s[i]["metrics"] for s in per_seed]
        mean = {k: float(np.mean([m.get(k, np.nan) for m in ms])) for k in SWEEP_COLUMNS.values()}
        mean["predict_ms_per_sample"] = float(np.mean([s[i]["timing"]["predict_ms_per_sample"] for s in per_seed]))
        row["mean_over_seeds"] = mean
        is_default = all(default.get(k) == v for k, v in row["conf"].items())
        rows.append(
            [row["label"] + (" *" if is_default else "")]
            + [format_metric(k, mean[k]) for k in SWEEP_COLUMNS.values()]
            + [f"{mean['predict_ms_per_sample']:.2f}"]
        )
    n = len(per_seed)
    res.table(
        "sweep",
        "kNN settings (representation, metric, k, weights, cascade, floor model) on the same split"
        + (f", mean over {n} split seeds" if n > 1 else ""),
        ["settings", *SWEEP_COLUMNS, "predict [ms/sample]"],
        rows,
        note='`vote`: floor by the neighbours\' weighted vote (`floor_model="knn"`); `logit C`: the logistic '
        "floor model with `floor_c = C`; `*`: kNN's defaults. Hit rates count scans that hear no "
        "known access point as misses; errors are over the other scans.",
    )
