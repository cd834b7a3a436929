"""Bench suite ``transfer``: MTLoc's transfer-learning sweep (paper Sec. IV-C/D, Table V, Fig. 4).

Source building: Indoor Location Competition 2.0 site1 (a mall in Hangzhou, one OPPO phone); the
IMU-LSTM is pretrained there as a position regressor (Table IV). Target building: IPIN 2023
track 3 (a museum in Nuremberg, two Samsung phones), split by route
(:func:`omniloc.bench._phone.load_ipin2023_split`). On growing fractions 1/8 ... 8/8 of the
target's training logs (nested, in rounds) the fused model is trained

* from scratch (no transfer),
* with the transferred IMU-LSTM fine-tuned (``imu_trainable = True``),

and, on all of the target training logs, with the transferred IMU-LSTM frozen (the paper's
"transferred model", its 0 % fine-tuning row). Every model is tested on the same held-out routes.

The paper's finding to check: about 60 % of the target data with transfer beats 100 % from scratch.

Next to MTLoc, on the same held-out routes and all of the target training logs: ``knn``, ``track``
around ``knn`` and around MTLoc (from scratch, 100 %), and the particle filter ``pf`` around both
(offline and online; around ``knn`` also on its fixes alone). IPIN's floor maps are bitmaps, and
the ones of the test routes' floors (0 and -2) are not in our copy, so ``pf`` runs without walls:
steps with the AHRS heading, correlated fixes and the per-access-point path-loss likelihood.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .._conf import deep_update
from ..data import Dataset
from ..data.splits import nested_fraction
from ..eval import Curve, coverage_metrics, error_stats, errors_for, plot_curves
from ..eval.stats import format_mean_std
from ._phone import load_indoor_competition_site, load_ipin2023_split, particle_runs, run_or_report, tracked_runs
from ._runner import SuiteResult, run_seeds

FRACTIONS = [k / 8 for k in range(1, 9)]


@dataclass
class TransferSetup:
    """What the ``transfer`` and ``robustness`` suites share: data, confs and the pretrained IMU-LSTM."""

    target: Dataset  # IPIN 2023, split by route (train in rounds / val / test)
    base: dict  # conf shared by every MTLoc run
    preset: str | None  # "quick" for --quick, else None
    transfer: dict  # conf that loads the pretrained IMU-LSTM
    label: str  # dataset label of the runs
    info: dict  # data and pretraining summary for results.json

    @property
    def val(self) -> Dataset:
        return self.target.split("val")

    @property
    def test(self) -> Dataset:
        return self.target.split("test")


def prepare(out: Path, quick: bool, data_root: Path, seed: int = 0) -> TransferSetup:
    """Load source and target, pretrain the IMU-LSTM on the source (saved in ``out``)."""
    from ..methods.mtloc import pretrain_imu_lstm

    source = load_indoor_competition_site(
        Path(data_root) / "indoor-location-competition-20" / "site1", quick=quick, seed=seed
    )
    target = load_ipin2023_split(data_root, quick=quick)
    # joint training of all branches from the start, as in the paper: with the default WiFi warm start
    # the fused model only moves off its WiFi branch when validation prefers it, and on this target it
    # never did, so the IMU-LSTM (the transferred part) would not be used at all
    base = {"trainer": {"progress": not quick}, "seed": seed, "streams": {"wifi": "wifi"}, "warm_start": None}
    preset = "quick" if quick else None
    path = Path(out) / "imu-lstm-site1.pt"
    state = pretrain_imu_lstm(source.split("train"), base, preset=preset, val=source.split("val"), path=path)
    info = {
        "source": source.summary(),
        "target": target.summary(),
        "target_split": target.provenance["bench_split"],
        "pretrain": {k: state[k] for k in ("n_windows", "epochs", "loss", "val_pos_err_m") if k in state},
        "imu_lstm": path.name,
    }
    return TransferSetup(
        target, base, preset, {"imu_transfer": str(path)}, "ipin2023" + ("-quick" if quick else ""), info
    )


def run(
    out: Path, quick: bool = False, data_root: Path | None = None, seeds: int = 1, threads: int | None = None
) -> SuiteResult:
    """Run the suite; ``seeds`` repeats it with source split and MTLoc seeds ``0 .. seeds-1``."""
    return run_seeds("transfer", out, quick, seeds, lambda res, seed: _transfer(res, quick, data_root, seed), threads)


def _transfer(res: SuiteResult, quick: bool, data_root: Path, seed: int) -> None:
    out = res.out
    setup = prepare(out, quick, data_root, seed)
    res.extra["data"] = setup.info
    target, base, preset, transfer, label = setup.target, setup.base, setup.preset, setup.transfer, setup.label
    val, test = setup.val, setup.test
    fractions = [0.5, 1.0] if quick else FRACTIONS

    table = []
    fine, scratch = {}, {}
    for f in fractions:
        sub = nested_fraction(target, f, split="train")
        scratch[f] = res.run("mtloc", sub, test, label, conf=base, preset=preset, val=val, label=f"scratch {f:.1%}")
        fine[f] = res.run(
            "mtloc",
            sub,
            test,
            label,
            conf=deep_update(base, dict(transfer, imu_trainable=True)),
            preset=preset,
            val=val,
            label=f"fine-tuned {f:.1%}",
        )
        survey = coverage_metrics(scratch[f].estimate, test, sub)
        table.append(
            {
                "fraction": f,
                "logs": len(sub),
                "scratch": error_stats(errors_for(scratch[f].estimate, test)),
                "fine_tuned": error_stats(errors_for(fine[f].estimate, test)),
                "test_survey_dist_mean_m": survey.get("survey_dist_mean_m", float("nan")),
            }
        )
    frozen = res.run(
        "mtloc",
        target.split("train"),
        test,
        label,
        conf=deep_update(base, dict(transfer, imu_trainable=False)),
        preset=preset,
        val=val,
        label="transferred (IMU-LSTM frozen) 100%",
    )
    res.extra["table_v"] = table
    fz = res.extra["transferred_frozen"] = error_stats(errors_for(frozen.estimate, test))

    full = scratch[fractions[-1]]
    beats = [t["fraction"] for t in table if t["fine_tuned"]["mean_m"] < table[-1]["scratch"]["mean_m"]]
    res.extra["finding"] = {
        "scratch_100_mean_m": table[-1]["scratch"]["mean_m"],
        "fine_tuned_fractions_beating_scratch_100": beats,
    }
    res.table(
        "table_v",
        "Table V (mean ± std of the 2-D error on the held-out routes, metres)",
        ["target data", "logs", "transfer + fine-tuning", "from scratch", "test-to-survey distance"],
        [
            [
                f"{t['fraction']:.1%}",
                t["logs"],
                format_mean_std(t["fine_tuned"]),
                format_mean_std(t["scratch"]),
                f"{t['test_survey_dist_mean_m']:.2f}",
            ]
            for t in table
        ],
        note=f"Transferred model (IMU-LSTM frozen, all target training logs): {format_mean_std(fz)} m.\n\n"
        f"Fine-tuned fractions whose mean error beats 100 % from scratch "
        f"({full.metrics['pos_err_mean_m']:.2f} m): {', '.join(f'{b:.1%}' for b in beats) or 'none'}.\n\n"
        "Test-to-survey distance: mean distance (m) from the test positions to the nearest "
        "position of the training logs on the same floor (`omniloc.eval.survey_distance`), i.e. "
        "how much of the held-out routes the training share has walked.",
    )
    res.cdf(
        [fine[f] for f in fractions] + [full, frozen],
        test,
        "fig4_cdf.png",
        f"{label}: error CDF by share of target data (Fig. 4)",
    )
    x = [100 * t["fraction"] for t in table]
    curves = [
        Curve(name, x, [t[key]["mean_m"] for t in table], err=[t[key]["std_m"] for t in table], band=True, style=style)
        for key, name, style in (("fine_tuned", "transfer + fine-tuning", "o-"), ("scratch", "from scratch", "s--"))
    ]
    plot_curves(
        curves,
        out / "sweep.png",
        "target training data (%)",
        "2-D error, mean ± std (m)",
        f"{label}: mean error against target data",
        hlines=[(fz["mean_m"], "transferred, frozen (100 %)")],
    )
    res.figure("sweep.png", "mean error against target data")
    _tracking(res, setup, full, quick)


def _tracking(res: SuiteResult, setup: TransferSetup, mtloc_run, quick: bool) -> None:
    """``knn``, ``track`` and ``pf`` on all target training logs, next to MTLoc from scratch (100 %)."""
    train, val, test, label = setup.target.split("train"), setup.val, setup.test, setup.label
    knn = run_or_report(res, "knn", train, test, label, val=val)
    runs = [r for r in (knn, mtloc_run) if r is not None]
    runs += tracked_runs(res, runs, train, test, label, bases={"knn": "knn", mtloc_run.label: "mtloc"})
    runs += particle_runs(res, runs, train, val, test, label, quick)
    runs += particle_runs(res, runs, train, val, test, label, quick, mtloc_run.label, "mtloc", ("pf", "pf-online"))
    res.cdf(runs, test, "tracking_cdf.png", f"{label}: fingerprinting, MTLoc and tracking on the held-out routes")
    rows = [
        [
            r.label,
            f"{r.metrics['pos_err_mean_m']:.2f}",
            f"{r.metrics['pos_err_median_m']:.2f}",
            f"{100 * r.metrics.get('floor_hit_rate', float('nan')):.1f} %",
        ]
        for r in runs
    ]
    res.table(
        "tracking",
        "Tracking on the held-out routes, all target training logs (2-D error, metres)",
        ["run", "mean", "median", "floor hit"],
        rows,
        note="`track` and `pf` reuse the fitted `knn` and MTLoc (from scratch, 100 %) models; `pf`'s fix "
        "error model is fitted on the validation routes. No floor-plan walls (IPIN's maps of these "
        "floors are not available).",
    )
