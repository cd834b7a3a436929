"""Bench suite ``maze``: OT-Isomap's synthetic experiment (paper Sec. 4.1) and its ablations.

The world: a 24 x 24-pixel perfect maze (1 px = 1 m), agents walking the solution path between
two random boundary cells, observing the 7 x 7 floor-plan window around them (a patch every
pixel, 1 px/s). Zones: the maze split into 3 x 3 squares of 8 x 8 px labelled ``Z0``..``Z8``.
Recordings are split 80 / 20 by trajectory; OT-Isomap trains on the patches and zone labels of
the training trajectories (no positions) and localizes the held-out ones.

Runs: OT-Isomap (preset ``maze``, with the geodesic refinement), the paper's Algorithm 1 alone
(``no-refine``), and the paper's ablations (no OT: Isomap + Procrustes to the zone centroids,
no refinement either; Euclidean instead of Mahalanobis; raw input instead of the learned metric;
no zone penalty), a random guess (uniform over the free pixels) for scale, the error against
the number of training trajectories, and the Sinkhorn step's time and memory at several sizes.
Targets (issue 3): mean error <= 0.5 px (the paper reports 0.7 px), fit <= 5 min on 2 cores.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .._conf import deep_update
from ..eval import Curve, compute_metrics, plot_curves, plot_trajectories
from ._runner import SuiteResult, run_method, run_seeds

#: the benchmark maze: trajectories, split by trajectory
MAZE_CONF = {"n_recordings": 100, "splits": {"train": 0.8, "test": 0.2}}
#: the ablations of the paper, as conf overrides of the ``maze`` preset
ABLATIONS = {
    "otisomap-no-refine": {"embedding": {"refine": None}},
    "otisomap-no-ot": {"embedding": {"transport": False, "refine": None}},
    "otisomap-euclidean": {"prototypes": {"distance": "euclidean"}},
    "otisomap-raw-input": {"metric": {"enabled": False}},
    "otisomap-no-zone-penalty": {"embedding": {"zone_penalty": 1.0}},
}
#: (prototypes, floor samples) at which the Sinkhorn step is timed
SINKHORN_SIZES = [(150, 1000), (300, 2000), (300, 6000), (1000, 6000), (1000, 20000)]


def random_guess(plan, test, seed: int = 0) -> dict:
    """Metrics of guessing a uniformly random free-space point for every test sample."""
    from ..data import Estimate

    rng = np.random.default_rng(seed)
    pts, _ = plan.sample_free_space(0.25, 0.0)
    ests = []
    for rec in test:
        pick = pts[rng.integers(len(pts), size=len(rec.t))]
        ests.append(
            Estimate(
                np.full(len(rec.t), rec.name),
                rec.t,
                np.c_[pick, rec.position[:, 2]],
                floor=rec.floor,
                building=rec.building,
            )
        )
    est = Estimate.concat(ests)
    return compute_metrics(est, test, 2), est


def sinkhorn_step_cost(sizes=SINKHORN_SIZES, repeats: int = 5, seed: int = 0) -> list[dict]:
    """Wall time and memory of one warm-started Sinkhorn step of OT-Isomap at ``(Ns, Nt)`` sizes.

    Memory is the float32 arrays the step holds at once: cost, Gibbs exponent and plan
    (3 x Ns x Nt x 4 bytes); with ``embedding.batch_prototypes = B`` the step holds B x Nt.
    """
    import torch

    from ..nn.transport import SinkhornLoss

    out = []
    g = torch.Generator().manual_seed(seed)
    for ns, nt in sizes:
        x = torch.rand(ns, 2, generator=g, requires_grad=True)
        y = torch.rand(nt, 2, generator=g)
        loss = SinkhornLoss(torch.full((ns,), 1.0 / ns), torch.full((nt,), 1.0 / nt), max_iter=10, tol=1e-2)
        times = []
        for _ in range(repeats + 1):
            t0 = time.perf_counter()
            c = ((x[:, None] - y[None]) ** 2).sum(-1)
            val = loss(c, 0.01)
            val.backward()
            times.append(time.perf_counter() - t0)
        out.append(
            {
                "n_prototypes": ns,
                "n_floor_samples": nt,
                "step_ms": 1000 * float(np.median(times[1:])),
                "memory_mb": 3 * ns * nt * 4 / 2**20,
            }
        )
    return out


def run(
    out: Path,
    quick: bool = False,
    data_root: Path | None = None,
    seeds: int = 1,
    n_trajectories: int | None = None,
    threads: int | None = None,
) -> SuiteResult:
    """Run the suite; ``seeds`` repeats it with maze / walk seeds and OT-Isomap seeds ``0 .. seeds-1``."""

    def body(res: SuiteResult, seed: int) -> None:
        _maze(res, seed, quick, n_trajectories)

    return run_seeds("maze", out, quick, seeds, body, threads)


def _maze(res: SuiteResult, seed: int, quick: bool, n_trajectories: int | None) -> None:
    from ..sim import simulate

    out = res.out
    sim_conf = dict(MAZE_CONF)
    if n_trajectories:
        sim_conf["n_recordings"] = int(n_trajectories)
    if quick:
        sim_conf = dict(sim_conf, n_recordings=20, maze={"size_px": 16})
    ds = simulate("maze", seed=seed, conf=sim_conf)
    train, test = ds.split("train"), ds.split("test")
    plan = next(iter(ds.floor_plans.values())) if isinstance(ds.floor_plans, dict) else ds.floor_plans[0]
    size = plan.raster.shape[0]
    label = f"maze-{size}"
    res.extra["data"] = ds.summary()
    visited = {tuple(np.floor(p[:2]).astype(int)) for r in train for p in r.position}
    res.extra["coverage"] = {"free_px": int((plan.raster == 0).sum()), "visited_px": len(visited)}
    quick_conf = {"embedding": {"steps": 200}, "trainer": {"progress": False}} if quick else None

    runs = [res.run("otisomap", train, test, label, conf=quick_conf, preset="maze", label="otisomap")]
    main = runs[0]
    for name, over in ABLATIONS.items():
        conf = deep_update(over, quick_conf)
        runs.append(res.run("otisomap", train, test, label, conf=conf, preset="maze", label=name))
    guess, _ = random_guess(plan, test, seed)
    res.extra["random_guess"] = guess
    res.text(
        f"Random guess (uniform over the free space): mean {guess['pos_err_mean_m']:.2f} px, "
        f"median {guess['pos_err_median_m']:.2f} px."
    )
    res.cdf(runs, test, "error_cdf.png", f"{label}: position error CDF", unit="px")
    first = next(iter(test)).name
    plot_trajectories(test, {"otisomap": main.estimate}, out / "trajectory.png", recording=first)
    res.figure("trajectory.png", f"trajectory {first}")

    # error against the number of training trajectories (same maze, same test trajectories)
    counts = [6, 12] if quick else [10, 25, 50, 100, 200]
    curve = []
    pool = simulate("maze", seed=seed, conf=dict(sim_conf, n_recordings=max(counts) + len(ds)))
    test_names = set(test.splits.get("test", [r.name for r in test]))
    pool_names = [r.name for r in pool if r.name not in test_names]
    for n in counts:
        sub = pool.subset(pool_names[:n], name=f"{label}-{n}")
        r = run_method("otisomap", sub, test, label, conf=quick_conf, preset="maze", label=f"otisomap-{n}", seed=seed)
        curve.append(
            {
                "n_trajectories": n,
                **{k: r.metrics[k] for k in ("pos_err_mean_m", "pos_err_median_m")},
                "fit_s": r.timing["fit_s"],
            }
        )
    res.extra["error_vs_trajectories"] = curve
    n = [c["n_trajectories"] for c in curve]
    plot_curves(
        [
            Curve("mean", n, [c["pos_err_mean_m"] for c in curve], style="o-"),
            Curve("median", n, [c["pos_err_median_m"] for c in curve], style="s--"),
        ],
        out / "error_vs_trajectories.png",
        "training trajectories",
        "position error (px; 1 px = 1 m)",
        f"{label}: error against the number of training trajectories",
        hlines=[(guess["pos_err_mean_m"], "random guess (mean)")],
        xscale="log",
        ylim_bottom=0.0,
    )
    res.table(
        "error_vs_trajectories",
        "Error against the number of training trajectories (test trajectories fixed)",
        ["trajectories", "mean px", "median px", "fit s"],
        [
            [c["n_trajectories"], f"{c['pos_err_mean_m']:.2f}", f"{c['pos_err_median_m']:.2f}", f"{c['fit_s']:.0f}"]
            for c in curve
        ],
    )
    res.figure("error_vs_trajectories.png", "error vs trajectories")
    cost = sinkhorn_step_cost(SINKHORN_SIZES[:2] if quick else SINKHORN_SIZES, seed=seed)
    res.extra["sinkhorn_step"] = cost
    res.table(
        "sinkhorn_step",
        "Sinkhorn step (10 warm-started log-domain iterations + backward), this machine",
        ["prototypes", "floor samples", "ms / step", "MB"],
        [[c["n_prototypes"], c["n_floor_samples"], f"{c['step_ms']:.1f}", f"{c['memory_mb']:.1f}"] for c in cost],
    )
    res.text(
        f"Training trajectories visit {len(visited)} of {int((plan.raster == 0).sum())} free pixels "
        "(walks between boundary cells never enter some dead ends)."
    )
