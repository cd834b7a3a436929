"""Bench suite ``transfer-wifi``: does a WiFi-DNN pretrained in one building help a new one?

The MTLoc paper transfers only its IMU-LSTM; this suite asks the same question of the WiFi
branch with the SODIndoorLoc fingerprints (``sodindoorloc``; :func:`omniloc.data.loaders.load_sodindoorloc`):
a WiFi-only MTLoc is pretrained on a *source* building, and its WiFi-DNN layers that do not
depend on the access points (every layer after the first ``Linear``,
:func:`omniloc.methods.mtloc.pretrain_wifi_dnn`) start the WiFi-DNN of a *target* building's
model trained on a fraction of the target's survey.

Data and choices
----------------
* **Only the** ``Training_*`` **files** (``with_test=False``). The release's ``Testing_*`` files
  are never read: the target's held-out points are drawn from its training survey.
* **Split by reference point (RP).** Each (user, phone) recording of SODIndoorLoc surveys its
  own part of a building (SYL: user 1 a corridor at x 19..49 m, user 2 corridors and a meeting
  room at x 29..82 m, user 3 offices at y 13..31 m), so a split by recording would test on parts
  of the building no training scan has seen. Instead every RP (a distinct surveyed position, 30 scans)
  becomes one recording (:func:`split_by_reference_point`, all scans of one RP on the same side)
  and the RPs are split with a fixed seed: :data:`TEST_SHARE` (20 %) test, :data:`VAL_SHARE`
  (10 %) validation (early stopping and best-epoch selection only), the rest the training pool.
  The pool is a random permutation of its RPs, so its first ``k/8`` are spread over the whole
  building and the fractions are nested (:func:`omniloc.data.splits.nested_fraction`).
* **Source HCXY, target SYL** (:data:`SOURCE`, :data:`TARGET`). They are the two buildings with
  30 single scans per RP: HCXY 379 RPs / 11,370 scans (phones 4-9, 56 AP columns), SYL 296 RPs /
  8,880 scans (phones 1-2, 46 AP columns), one floor each, different buildings, different phones
  and disjoint access points. CETC331 has one scan per RP on a 0.5 m grid over three floors, a
  different survey design (and floors), so it is neither source nor target here.
* **File set** ``ap_30`` (:data:`FILE_SET`): the files of single scans, of the pre-installed
  (surveyed) APs only. It is the right one for this question: the held-out test scans must be
  single scans like a phone's at run time, and ``ap_30`` is the only preset with single scans for
  HCXY and SYL. The ``_Avg`` files hold one averaged fingerprint per RP (296 samples for SYL,
  less noisy than any real scan, and one sample per RP leaves nothing to split inside a point);
  the all-MAC single-scan files (``Training_*_All_30``) are not in the local copy. The price:
  56 / 46 APs, the pre-installed ones only, not every MAC a phone hears.
* **Fingerprint windows.** The recordings are scans on a synthetic timeline (one per second,
  the position jumping between RPs), so MTLoc runs with ``window_times="wifi"`` (one window per
  scan, labelled with its own RP) and ``branches=["wifi"]``; ``modality_dropout`` is 0 for WiFi
  (with a single branch a dropped window has no input left and only pulls the network towards the
  mean position). The other settings are MTLoc's defaults (``quick`` preset in quick mode); nothing
  is tuned, and the test RPs are used for nothing but the final errors.

Runs
----
For each fraction ``k/8`` of the target's training pool (``k = 1..8``; quick: 1/2 and 1):

* ``knn``: the registered kNN fingerprinting method (its defaults), the classic baseline;
* MTLoc WiFi-only **from scratch**;
* MTLoc WiFi-only with the transferred WiFi-DNN **fine-tuned** (``wifi_trainable=True``);

and on 100 % the transferred layers **frozen** (``wifi_trainable=False``). Every MTLoc variant is
trained :data:`REPEATS` times (seeds ``seed, seed + 1, ...``, each with its own pretraining), kNN
once (it is deterministic). Every model is tested on the same held-out RPs.

The report has a Table V-like table (mean ± std of the 2-D error per test scan, metres, pooled
over the seeds), the error CDF (first seed) and the mean error against the fraction
(``sweep.png``, with the paired difference below). ``finding`` compares fine-tuned and scratch at
each fraction with a two-level bootstrap over the test RPs and the seeds
(:func:`omniloc.eval.stats.paired_difference`): "transfer helps" at a fraction only when the Bonferroni-adjusted
interval of ``scratch − fine-tuned`` (``1 - 0.05 / n`` for the ``n`` comparisons: every fraction and
the frozen model) is above zero; the nominal 95 % intervals are in the table.

Quick mode: :data:`QUICK_POINTS` RPs of each building with :data:`QUICK_SCANS` scans each.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._conf import deep_update
from ..data import Dataset
from ..data.splits import nested_fraction, split_by_reference_point
from ..eval import Curve, Panel, error_stats, errors_for, paired_difference, plot_panels
from ..eval.stats import N_BOOTSTRAP, format_difference, format_mean_std
from ._phone import _require
from ._runner import MethodRun, SuiteResult, run_method, run_seeds

#: source building (pretraining) and target building (fractions, test)
SOURCE, TARGET = "HCXY", "SYL"
#: SODIndoorLoc file set (:data:`omniloc.data.loaders.sodindoorloc.FILE_SETS`)
FILE_SET = "ap_30"
#: shares of the target's reference points held out for test and validation
TEST_SHARE, VAL_SHARE = 0.2, 0.1
#: share of the source's reference points used for validation (early stopping of the pretraining)
SOURCE_VAL_SHARE = 0.1
FRACTIONS = [k / 8 for k in range(1, 9)]
QUICK_FRACTIONS = [0.5, 1.0]
#: quick mode: reference points per building and scans per reference point
QUICK_POINTS, QUICK_SCANS = 40, 6
#: training seeds per MTLoc variant and fraction (pretraining included), full and quick
REPEATS, QUICK_REPEATS = 5, 2


def load_building(data_root: Path, building: str, quick: bool, seed: int, test: float, val: float) -> Dataset:
    """One SODIndoorLoc building (``Training_*`` files of :data:`FILE_SET` only), split by reference point.

    Parameters
    ----------
    data_root : Path
        Folder holding ``sodindoorloc/``.
    building : str
        ``"CETC331"``, ``"HCXY"`` or ``"SYL"``.
    quick : bool
        Keep :data:`QUICK_POINTS` reference points with :data:`QUICK_SCANS` scans each.
    seed : int
        Seed of the reference-point permutation.
    test, val : float
        Shares of the reference points in ``test`` and ``val``.

    Returns
    -------
    Dataset
        See :func:`split_by_reference_point`; the provenance lists the files read.
    """
    from ..data.loaders import load_sodindoorloc

    src = _require(Path(data_root) / "sodindoorloc", "SODIndoorLoc folder")
    ds = load_sodindoorloc(src, buildings=[building], files=FILE_SET, with_test=False, name=f"sodindoorloc-{building}")
    return split_by_reference_point(
        ds,
        test=test,
        val=val,
        seed=seed,
        max_points=QUICK_POINTS if quick else None,
        max_scans=QUICK_SCANS if quick else None,
        name=f"sodindoorloc-{building}",
    )


def _errors(run: MethodRun, truth: Dataset, ref: MethodRun) -> np.ndarray:
    """(M,) 2-D errors of ``run``, checked to be at the same test scans as ``ref``'s."""
    est, r = run.estimate, ref.estimate
    if not (np.array_equal(est.recording, r.recording) and np.array_equal(est.t, r.t)):
        raise ValueError(f"run '{run.label}' has estimates at other scans than '{ref.label}'")
    return errors_for(est, truth, 2)


def run(
    out: Path, quick: bool = False, data_root: Path | None = None, seeds: int = 1, threads: int | None = None
) -> SuiteResult:
    """Pretrain on :data:`SOURCE`, sweep the fractions of :data:`TARGET`; see the module docstring.

    With ``seeds`` = N the whole suite is repeated for ``seed`` = 0 .. N-1: ``seed`` fixes the
    reference-point split and the ``R`` repeats (:data:`REPEATS`, quick :data:`QUICK_REPEATS`)
    train with seeds ``seed, seed + 1, ...`` (pretraining included). ``results.json`` ``runs``
    holds the first repeat's models (the report's metrics table and CDF); ``table`` aggregates
    every repeat.
    """
    from ..data import default_data_root

    data_root = Path(data_root) if data_root else default_data_root()
    return run_seeds(
        "transfer-wifi", out, quick, seeds, lambda res, seed: _transfer_wifi(res, quick, data_root, seed), threads
    )


def _transfer_wifi(res: SuiteResult, quick: bool, data_root: Path, seed: int) -> None:
    from ..methods.mtloc import pretrain_wifi_dnn

    out = res.out
    source = load_building(data_root, SOURCE, quick, seed, test=0.0, val=SOURCE_VAL_SHARE)
    target = load_building(data_root, TARGET, quick, seed, test=TEST_SHARE, val=VAL_SHARE)
    val, test = target.split("val"), target.split("test")
    preset = "quick" if quick else None
    base = {
        "branches": ["wifi"],
        "window_times": "wifi",
        "modality_dropout": {"wifi": 0.0},
        "trainer": {"progress": False},
    }
    seeds = [seed + r for r in range(QUICK_REPEATS if quick else REPEATS)]
    label = f"sodindoorloc-{TARGET}" + ("-quick" if quick else "")

    pre, transfer = [], {}
    for s in seeds:
        path = out / f"wifi-dnn-{SOURCE}-seed{s}.pt"
        state = pretrain_wifi_dnn(
            source.split("train"), dict(base, seed=s), preset=preset, val=source.split("val"), path=path
        )
        pre.append(
            dict({k: state[k] for k in ("n_windows", "epochs", "loss", "val_pos_err_m")}, seed=s, file=path.name)
        )
        transfer[s] = {"wifi_transfer": str(path)}
    res.extra["data"] = {
        "source": dict(source.summary(), building=SOURCE, split=source.provenance["bench_split"]),
        "target": dict(target.summary(), building=TARGET, split=target.provenance["bench_split"]),
        "file_set": FILE_SET,
        "files": "Training_* only (the Testing_* files are not read)",
        "seeds": seeds,
        "pretrain": pre,
        "wifi_hidden": list(state["hidden"]),
        "source_access_points": int(state["n_access_points"]),
    }

    def mtloc(sub: Dataset, f: float, s: int, kind: str, over: dict) -> MethodRun:
        name = f"mtloc {kind} {f:.1%}" + (f" (seed {s})" if s != seeds[0] else "")
        r = run_method(
            "mtloc", sub, test, label, conf=deep_update(base, {"seed": s}, over), preset=preset, val=val, label=name
        )
        return res.add(r) if s == seeds[0] else r

    fractions = QUICK_FRACTIONS if quick else FRACTIONS
    n_tests = len(fractions) + 1  # fine-tuned vs scratch at each fraction, frozen vs scratch at 100 %
    table, shown = [], {}
    ref = None
    for f in fractions:
        sub = nested_fraction(target, f, split="train")
        knn = res.run("knn", sub, test, label, label=f"knn {f:.1%}")
        ref = ref or knn
        runs = {
            "scratch": [mtloc(sub, f, s, "scratch", {}) for s in seeds],
            "fine_tuned": [mtloc(sub, f, s, "fine-tuned", dict(transfer[s], wifi_trainable=True)) for s in seeds],
        }
        errs = {k: np.stack([_errors(r, test, ref) for r in v]) for k, v in runs.items()}
        row = {
            "fraction": f,
            "points": len(sub),
            "scans": sub.n_samples,
            "knn": error_stats(_errors(knn, test, ref)[None]),
        }
        row.update({k: error_stats(e) for k, e in errs.items()})
        row["scratch_minus_fine_tuned"] = paired_difference(
            errs["scratch"], errs["fine_tuned"], ref.estimate.recording, n_boot=N_BOOTSTRAP, seed=seed, n_tests=n_tests
        )
        table.append(row)
        shown[f] = (knn, runs["scratch"][0], runs["fine_tuned"][0], errs["scratch"])
    full_sub = target.split("train")
    frozen_runs = [
        mtloc(full_sub, 1.0, s, "transferred, frozen", dict(transfer[s], wifi_trainable=False)) for s in seeds
    ]
    e_frozen = np.stack([_errors(r, test, ref) for r in frozen_runs])
    fz = dict(
        error_stats(e_frozen),
        scratch_minus_frozen=paired_difference(
            shown[fractions[-1]][3], e_frozen, ref.estimate.recording, n_boot=N_BOOTSTRAP, seed=seed, n_tests=n_tests
        ),
    )
    res.extra["table"] = table
    res.extra["transferred_frozen"] = fz

    cmp = [(t["fraction"], t["scratch_minus_fine_tuned"]) for t in table]
    helps = [f for f, d in cmp if d["ci_adjusted_m"][0] > 0]
    hurts = [f for f, d in cmp if d["ci_adjusted_m"][1] < 0]
    nominal = [f for f, d in cmp if d["ci95_m"][0] > 0]
    full = table[-1]
    beats_full = [t["fraction"] for t in table if t["fine_tuned"]["mean_m"] < full["scratch"]["mean_m"]]
    knn_better = [
        t["fraction"] for t in table if t["knn"]["mean_m"] < min(t["scratch"]["mean_m"], t["fine_tuned"]["mean_m"])
    ]

    def pct(fs) -> str:
        return ", ".join(f"{v:.1%}" for v in fs) or "none"

    level = f"{100 * cmp[0][1]['adjusted_level']:.1f} %"
    if helps:
        verdict = (
            f"fine-tuning the transferred WiFi-DNN beats training from scratch at {pct(helps)} of the target "
            f"survey (Bonferroni {level} interval of scratch − fine-tuned above 0, {n_tests} comparisons)"
        )
    else:
        verdict = (
            f"fine-tuning the transferred WiFi-DNN does not beat training from scratch at any fraction "
            f"(no Bonferroni {level} interval of scratch − fine-tuned above 0, {n_tests} comparisons)"
        )
        if nominal:
            verdict += (
                f"; the nominal 95 % interval is above 0 at {pct(nominal)}, about what chance gives "
                f"over {len(cmp)} fractions"
            )
    if hurts:
        verdict += f"; it is worse than from scratch at {pct(hurts)}"
    fzd = fz["scratch_minus_frozen"]
    frozen_text = (
        "better than"
        if fzd["ci_adjusted_m"][0] > 0
        else "worse than"
        if fzd["ci_adjusted_m"][1] < 0
        else "not distinguishable from"
    )
    verdict += (
        f". The frozen transfer on 100 % is {frozen_text} scratch ({fzd['diff_m']:+.2f} m). kNN has a lower "
        f"mean error than both MTLoc variants at {pct(knn_better)}"
    )
    res.extra["finding"] = {
        "transfer_helps": bool(helps),
        "helps_at_fractions": helps,
        "hurts_at_fractions": hurts,
        "nominal_95_helps_at_fractions": nominal,
        "adjusted_level": cmp[0][1]["adjusted_level"],
        "frozen_vs_scratch_100": frozen_text,
        "fine_tuned_fractions_beating_scratch_100": beats_full,
        "scratch_100_mean_m": full["scratch"]["mean_m"],
        "knn_100_mean_m": full["knn"]["mean_m"],
        "knn_better_than_mtloc_at_fractions": knn_better,
        "summary": verdict + ".",
    }

    ms, diff = format_mean_std, format_difference
    p_val = [p["val_pos_err_m"] for p in pre]
    res.text(
        f"WiFi-DNN transfer {SOURCE} -> {TARGET} (SODIndoorLoc `{FILE_SET}`, Training files only; split "
        f"{target.provenance['bench_split']}). Pretraining on {SOURCE}: {pre[0]['n_windows']} scans, "
        f"{', '.join(str(p['epochs']) for p in pre)} epochs, validation error "
        f"{', '.join(f'{v:.2f}' for v in p_val)} m (seeds {', '.join(map(str, seeds))})."
    )
    res.table(
        "table",
        f"Mean ± std of the 2-D error per test scan, metres ({full['knn']['n']} scans at {len(test)} "
        f"held-out reference points; MTLoc pooled over {len(seeds)} training seeds, kNN is deterministic)",
        [
            "target data",
            "points",
            "scans",
            "kNN",
            "MTLoc WiFi, scratch",
            "MTLoc WiFi, transfer + fine-tuning",
            "scratch − fine-tuned [95 % CI]",
        ],
        [
            [
                f"{t['fraction']:.1%}",
                t["points"],
                t["scans"],
                ms(t["knn"]),
                ms(t["scratch"]),
                ms(t["fine_tuned"]),
                diff(t["scratch_minus_fine_tuned"]),
            ]
            for t in table
        ],
        note=f"Transferred model (layers after the first frozen, 100 % of the target data): {ms(fz)} m "
        f"(scratch − frozen {diff(fz['scratch_minus_frozen'])} m).",
    )
    res.text(
        f"**Finding:** {verdict}. Fine-tuned fractions whose mean beats 100 % from scratch "
        f"({full['scratch']['mean_m']:.2f} m; point estimates only): {pct(beats_full)}.\n\n"
        "The intervals (nominal 95 % in the table) are a bootstrap over the test reference points and the "
        "training seeds (pretraining included). The metrics table above and the CDF are the seed-"
        f"{seeds[0]} models."
    )
    pick = sorted({fractions[0], fractions[len(fractions) // 2 - 1], fractions[-1]})  # 1/8, 1/2, 1 (quick: 1/2, 1)
    cdf_runs = [shown[f][1] for f in pick] + [shown[f][2] for f in pick] + [frozen_runs[0], shown[fractions[-1]][0]]
    res.cdf(cdf_runs, test, "error_cdf.png", f"{TARGET} (WiFi-DNN from {SOURCE}): error CDF by share of target data")
    _plot_sweep(
        table,
        fz["mean_m"],
        out / "sweep.png",
        f"{SOURCE} -> {TARGET}: mean 2-D error against target data ({len(seeds)} seeds)",
    )
    res.figure("sweep.png", "mean error against target data")


def _plot_sweep(table: list[dict], frozen_m: float, path: Path, title: str) -> None:
    """Two panels against the share of target data: the mean 2-D error of each variant (MTLoc bars:
    lowest to highest seed mean) and the paired difference scratch − fine-tuned with its 95 % interval."""
    f = np.array([100 * t["fraction"] for t in table])
    curves = []
    for key, name, style, dx in (
        ("fine_tuned", "MTLoc WiFi, transfer + fine-tuning", "o-", -0.8),
        ("scratch", "MTLoc WiFi, from scratch", "s--", 0.8),
        ("knn", "kNN", "^:", 0.0),
    ):
        m = np.array([t[key]["mean_m"] for t in table])
        lo = m - np.array([min(t[key]["seed_means_m"]) for t in table])
        hi = np.array([max(t[key]["seed_means_m"]) for t in table]) - m
        curves.append(Curve(name, f, m, err=None if key == "knn" else np.stack([lo, hi]), style=style, offset=dx))
    d = np.array([t["scratch_minus_fine_tuned"]["diff_m"] for t in table])
    ci = np.array([t["scratch_minus_fine_tuned"]["ci95_m"] for t in table])
    plot_panels(
        [
            Panel(
                "",
                "mean 2-D error (m)\nbars: range of the seeds' means",
                title,
                curves=curves,
                hlines=[(frozen_m, "transferred, frozen (100 %)")],
                ylim_bottom=0.0,
            ),
            Panel(
                "target training data (% of the reference points)",
                "scratch − fine-tuned (m)\n> 0: transfer helps\nbars: 95 % interval",
                curves=[Curve(None, f, d, err=np.stack([d - ci[:, 0], ci[:, 1] - d]), style="o")],
                zero_line=True,
            ),
        ],
        path,
        ncols=1,
        panel_size=(6.2, 4.0),
        sharex=True,
        height_ratios=[2, 1],
    )
