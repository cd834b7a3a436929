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

import numpy as np

from .._conf import deep_update
from ..eval import compute_metrics
from ..data.splits import nested_fraction
from ._runner import SuiteResult, run_method
from .transfer import error_stats, prepare

MODALITIES = ("imu", "magnetometer", "wifi")
DROP_FRACTIONS = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]


def run(out: Path, quick: bool = False, data_root: Path | None = None, seed: int = 0) -> SuiteResult:
    res = SuiteResult("robustness", out, quick)
    setup = prepare(out, quick, data_root, seed)
    res.extra["data"] = setup.info
    train, val, test = setup.target.split("train"), setup.val, setup.test
    common = {"preset": setup.preset, "val": val}
    frozen, tuned = (deep_update(setup.base, dict(setup.transfer, imu_trainable=t)) for t in (False, True))
    models = {
        "scratch": res.add(run_method("mtloc", train, test, setup.label, conf=setup.base, label="scratch 100%",
                                      **common)),
        "transferred": res.add(run_method("mtloc", train, test, setup.label, conf=frozen,
                                          label="transferred (frozen) 100%", **common)),
        "fine-tuned": res.add(run_method("mtloc", nested_fraction(setup.target, 0.625, split="train"), test, setup.label,
                                         conf=tuned, label="fine-tuned 62.5%", **common)),
    }
    fractions = [0.0, 0.4, 1.0] if quick else DROP_FRACTIONS

    def removed(model, modality: str, frac: float) -> dict:
        est = model.localizer.predict(test, drop_modalities={modality: frac})
        m = compute_metrics(est, test, 2)
        return dict(error_stats(est, test), floor_hit_rate=m.get("floor_hit_rate"), coverage=m["coverage"])

    fig5 = {mod: [dict(removed_fraction=f, **removed(models["fine-tuned"], mod, f)) for f in fractions]
            for mod in MODALITIES}
    fig6 = {name: {mod: removed(model, mod, 0.4) for mod in MODALITIES} for name, model in models.items()}
    res.extra["fig5_fine_tuned"] = fig5
    res.extra["fig6_removed_40"] = fig6
    res.sections.append(
        "Table VI (40 % of one modality's test windows removed; mean ± std of the 2-D error, metres):\n\n"
        "| removed | transferred | fine-tuned | from scratch |\n|---|---|---|---|\n" +
        "\n".join(f"| {mod} | " + " | ".join(f"{fig6[n][mod]['mean_m']:.2f} ± {fig6[n][mod]['std_m']:.2f}"
                                              for n in ("transferred", "fine-tuned", "scratch")) + " |"
                  for mod in MODALITIES))
    res.sections.append(
        "Fig. 5 (fine-tuned model, mean error in metres by share of windows without the modality):\n\n"
        "| removed | " + " | ".join(f"{f:.0%}" for f in fractions) + " |\n|---|" + "---|" * len(fractions) + "\n" +
        "\n".join(f"| {mod} | " + " | ".join(f"{r['mean_m']:.2f}" for r in fig5[mod]) + " |" for mod in MODALITIES))
    _plot(fig5, fig6, out / "robustness.png")
    res.sections.append("![robustness](robustness.png)")
    return res


def _plot(fig5: dict, fig6: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .._io import atomic_path

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    for mod, rows in fig5.items():
        a.plot([100 * r["removed_fraction"] for r in rows], [r["mean_m"] for r in rows], "o-", label=mod)
    a.set_xlabel("test windows without the modality (%)")
    a.set_ylabel("mean 2-D error (m)")
    a.set_title("fine-tuned model (Fig. 5)")
    a.grid(alpha=0.3)
    a.legend()
    names = list(fig6)
    x = np.arange(len(MODALITIES))
    w = 0.8 / len(names)
    for i, n in enumerate(names):
        b.bar(x + i * w, [fig6[n][m]["mean_m"] for m in MODALITIES], w,
              yerr=[fig6[n][m]["std_m"] for m in MODALITIES], capsize=3, label=n)
    b.set_xticks(x + w * (len(names) - 1) / 2, [f"-40 % {m}" for m in MODALITIES])
    b.set_ylabel("mean 2-D error (m)")
    b.set_title("40 % of one modality removed (Fig. 6)")
    b.grid(alpha=0.3, axis="y")
    b.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
