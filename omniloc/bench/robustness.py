"""Bench suite ``robustness``: MTLoc with sensors missing at test time (paper Sec. IV-E/F).

Same source and target as the ``transfer`` suite. Three models are trained on the target:
from scratch on all its training logs, transferred (IMU-LSTM from site1, frozen) on all of them,
and fine-tuned on 62.5 % (5/8 rounds, the paper's choice). At test time each modality is removed
from a seeded random share of the test windows that have it:

* Fig. 5: the fine-tuned model with 0, 20, ..., 100 % of each modality's windows removed;
* Table VI: transferred and fine-tuned with 40 % of each modality removed;
* Fig. 6: the three models with 40 % of each modality removed.
"""

from __future__ import annotations

from pathlib import Path

from .._conf import deep_update
from ..data.splits import nested_fraction
from ..eval import Bars, Curve, Panel, compute_metrics, error_stats, errors_for, plot_panels
from ..eval.stats import format_mean_std
from ._runner import SuiteResult, run_seeds
from .transfer import prepare

MODALITIES = ("imu", "magnetometer", "wifi")
DROP_FRACTIONS = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]


def run(
    out: Path, quick: bool = False, data_root: Path | None = None, seeds: int = 1, threads: int | None = None
) -> SuiteResult:
    """Run the suite; ``seeds`` repeats it with source split, MTLoc and removal seeds ``0 .. seeds-1``."""
    return run_seeds(
        "robustness", out, quick, seeds, lambda res, seed: _robustness(res, quick, data_root, seed), threads
    )


def predict_without(localizer, test, modality: str, fraction: float, seed: int = 0):
    """MTLoc's estimates on ``test`` with ``modality`` removed from a seeded ``fraction`` of the windows."""
    return localizer.predict_with_dropped(test, {modality: fraction}, drop_seed=seed)


def _robustness(res: SuiteResult, quick: bool, data_root: Path, seed: int) -> None:
    setup = prepare(res.out, quick, data_root, seed)
    res.extra["data"] = setup.info
    train, val, test = setup.target.split("train"), setup.val, setup.test
    common = {"preset": setup.preset, "val": val}
    frozen, tuned = (deep_update(setup.base, dict(setup.transfer, imu_trainable=t)) for t in (False, True))
    models = {
        "scratch": res.run("mtloc", train, test, setup.label, conf=setup.base, label="scratch 100%", **common),
        "transferred": res.run(
            "mtloc", train, test, setup.label, conf=frozen, label="transferred (frozen) 100%", **common
        ),
        "fine-tuned": res.run(
            "mtloc",
            nested_fraction(setup.target, 0.625, split="train"),
            test,
            setup.label,
            conf=tuned,
            label="fine-tuned 62.5%",
            **common,
        ),
    }
    fractions = [0.0, 0.4, 1.0] if quick else DROP_FRACTIONS

    def removed(model, modality: str, frac: float) -> dict:
        est = predict_without(model.localizer, test, modality, frac, seed)
        m = compute_metrics(est, test, 2)
        return dict(error_stats(errors_for(est, test)), floor_hit_rate=m.get("floor_hit_rate"), coverage=m["coverage"])

    fig5 = {
        mod: [dict(removed_fraction=f, **removed(models["fine-tuned"], mod, f)) for f in fractions]
        for mod in MODALITIES
    }
    fig6 = {name: {mod: removed(model, mod, 0.4) for mod in MODALITIES} for name, model in models.items()}
    res.extra["fig5_fine_tuned"] = fig5
    res.extra["fig6_removed_40"] = fig6
    shown = ("transferred", "fine-tuned", "scratch")
    res.table(
        "table_vi",
        "Table VI (40 % of one modality's test windows removed; mean ± std of the 2-D error, metres)",
        ["removed", "transferred", "fine-tuned", "from scratch"],
        [[mod] + [format_mean_std(fig6[n][mod]) for n in shown] for mod in MODALITIES],
    )
    res.table(
        "fig5",
        "Fig. 5 (fine-tuned model, mean 2-D error in metres by share of windows without the modality)",
        ["removed"] + [f"{f:.0%}" for f in fractions],
        [[mod] + [f"{r['mean_m']:.2f}" for r in fig5[mod]] for mod in MODALITIES],
    )
    curves = [
        Curve(mod, [100 * r["removed_fraction"] for r in rows], [r["mean_m"] for r in rows])
        for mod, rows in fig5.items()
    ]
    bars = Bars(
        [f"-40 % {m}" for m in MODALITIES],
        {n: ([fig6[n][m]["mean_m"] for m in MODALITIES], [fig6[n][m]["std_m"] for m in MODALITIES]) for n in fig6},
    )
    plot_panels(
        [
            Panel(
                "test windows without the modality (%)",
                "mean 2-D error (m)",
                "fine-tuned model (Fig. 5)",
                curves=curves,
                ylim_bottom=0.0,
            ),
            Panel(
                "modality removed from 40 % of the test windows",
                "2-D error, mean ± std (m)",
                "40 % of one modality removed (Fig. 6)",
                bars=bars,
                ylim_bottom=0.0,
            ),
        ],
        res.out / "robustness.png",
    )
    res.figure("robustness.png", "robustness")
