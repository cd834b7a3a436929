"""Bench suite ``genmap``: the Generative Map's localization tables, odometry fusion, rendering and real frames.

* **Simulated office** (``sim-office``, the data of the ``mvloc`` suite: one floor, hand-held
  64x64 camera at 2 Hz, 60 walks): the map trains on the training walks; the EKF tracks each test
  walk from its true first pose.
  - Table 2 analog: median errors for ``sigma_q`` = 1, 1e-3, 1e-6 with a constant transition
    (runs ``genmap-sq<sigma_q>``).
  - Table 3 analog: an initial deviation of +-0.5 and +-1.0 in every state dimension (metres and
    log-quaternion), ``sigma_q`` = 1e-3 (datasets ``sim-office-dev0.5``, ``sim-office-dev1.0``;
    the + and - runs are pooled).
  - Fig. 7 analog: a drifting odometry (scale error and heading drift integrated from the true
    increments) as the transition ``u = Delta p``: odometry alone, images alone and the fused filter.
  - Table 4 analog: ``mvloc-v`` (PoseNet-style regression) on the same data and budget.
  - Rendering: PSNR and SSIM of the images the map renders at the test poses (run ``genmap-render``).
  - EKF step time on this machine.
* **TUM RGB-D fr1** (``tum-rgbd``): the map on fr1/rpy, tracking fr1/xyz; and the temporal split of
  fr1/rpy (``tum-rgbd-rpy-temporal``), next to the constant mean pose.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .._conf import deep_update
from ..data import Dataset, Estimate, Recording, Stream
from ..data.transforms import quat_from_yaw, quat_multiply
from ..eval import compute_metrics, plot_render_strip, plot_trajectories, psnr, ssim
from ._runner import MethodRun, SuiteResult, pool_training_seeds, run_method, run_seeds
from .mvloc import QUICK_SIM, SIM_CONF, mean_pose_run, tum_splits

SIGMAS = (1.0, 1e-3, 1e-6)
DEVIATIONS = (0.5, 1.0)
#: odometry drift of the Fig. 7 analog: step-length scale error and heading drift rate
ODOMETRY = {"scale": 1.05, "yaw_drift_deg_per_s": 1.0}


def run(out: Path, quick: bool = False, data_root: Path | None = None, seeds: int = 1, threads: int | None = None):
    """Run the suite; ``seeds`` repeats it with simulator and method seeds ``0 .. seeds-1``."""

    def body(res: SuiteResult, seed: int) -> None:
        _sim_office(res, seed, quick)
        _tum(res, seed, quick, data_root)

    return run_seeds("genmap", out, quick, seeds, body, threads)


def _conf(seed: int, quick: bool, extra: dict | None = None) -> dict:
    return deep_update({"seed": int(seed), "trainer": {"progress": not quick}}, extra or {})


def drifting_odometry(rec: Recording, scale: float, yaw_drift_deg_per_s: float) -> Stream:
    """A dead-reckoned pose trajectory from the true increments with a scale error and a heading drift.

    Each true step (in the horizontal plane) is scaled by ``scale`` and rotated by a heading error
    growing linearly at ``yaw_drift_deg_per_s``; heights and the rotation's tilt follow the truth,
    its yaw gets the same drift. Returns a ``vector`` stream (N, 7): position m, quaternion w, x, y, z.
    """
    t = rec.t
    d = np.diff(rec.position, axis=0)
    drift = np.radians(yaw_drift_deg_per_s) * (t - t[0])
    c, s = np.cos(drift[1:]), np.sin(drift[1:])
    dx = scale * (c * d[:, 0] - s * d[:, 1])
    dy = scale * (s * d[:, 0] + c * d[:, 1])
    pos = np.zeros_like(rec.position)
    pos[0] = rec.position[0]
    pos[1:, 0] = pos[0, 0] + np.cumsum(dx)
    pos[1:, 1] = pos[0, 1] + np.cumsum(dy)
    pos[:, 2] = rec.position[:, 2]
    quat = quat_multiply(quat_from_yaw(drift), rec.orientation)
    return Stream("vector", t.copy(), np.concatenate([pos, quat], axis=1), meta={"drift": dict(ODOMETRY)})


def _with_odometry(test: Dataset) -> Dataset:
    recs = {}
    for r in test:
        r2 = Recording(
            r.name, r.t, r.position, r.orientation, r.floor, r.building, r.zone, dict(r.streams), dict(r.meta)
        )
        r2.streams["odometry"] = drifting_odometry(r, **ODOMETRY)
        recs[r.name] = r2
    return Dataset(test.name, recs, test.floor_plans, {"test": list(recs)})


def _predict_run(loc, test: Dataset, dataset: str, label: str, filter_conf: dict) -> MethodRun:
    """Predict with another filter configuration (the fitted map is shared)."""
    import copy

    view = copy.copy(loc)
    view.conf = {**loc.conf, "filter": {**loc.conf["filter"], **filter_conf}}
    t0 = time.perf_counter()
    est = view.predict(test)
    timing = {"predict_ms_per_sample": 1000.0 * (time.perf_counter() - t0) / max(len(est), 1)}
    return MethodRun("genmap", dataset, view.conf, compute_metrics(est, test, dims=3), timing, est, label, view)


def _odometry_run(test: Dataset, dataset: str) -> MethodRun:
    parts = []
    for r in test:
        s = r.streams["odometry"]
        parts.append(Estimate(np.repeat(r.name, len(s.t)), s.t, s.values[:, :3], orientation=s.values[:, 3:]))
    est = Estimate.concat(parts)
    return MethodRun(
        "odometry",
        dataset,
        dict(ODOMETRY),
        compute_metrics(est, test, dims=3),
        {"predict_ms_per_sample": 0.0},
        est,
        "odometry",
    )


def _retrieval_run(loc, test: Dataset, dataset: str) -> MethodRun:
    """Each test frame at the pose of the training frame with the nearest latent (no filter)."""
    t0 = time.perf_counter()
    est = Estimate.concat([loc.retrieve(r) for r in test])
    timing = {"predict_ms_per_sample": 1000.0 * (time.perf_counter() - t0) / max(len(est), 1)}
    return MethodRun("genmap-retrieval", dataset, loc.conf, compute_metrics(est, test, dims=3), timing, est)


def _render_quality(loc, test: Dataset) -> dict:
    from ..data.frames import camera_frames
    from ..methods.genmap import _resize

    true, gen = [], []
    for r in test:
        f = camera_frames(r, use_depth=False, labelled=True)
        true.append(_resize(f["rgb_stream"].load()[f["rgb_index"]], loc.conf["output_size"]))
        gen.append(loc.render(f["position"], f["orientation"]))
    true, gen = np.concatenate(true), np.concatenate(gen)
    p = psnr(true, gen, batch=True)
    return (
        {
            "psnr_db": float(np.mean(p[np.isfinite(p)])),
            "ssim": float(np.mean(ssim(true, gen, batch=True))),
            "n_test": int(len(true)),
        },
        true,
        gen,
    )


def _sim_office(res: SuiteResult, seed: int, quick: bool) -> None:
    from ..sim import simulate

    ds = simulate("office", seed=seed, conf=QUICK_SIM if quick else SIM_CONF)
    train, val, test = ds.split("train"), ds.split("val"), ds.split("test")
    preset = "quick" if quick else "cpu"
    base = run_method(
        "genmap", train, test, "sim-office", conf=_conf(seed, quick), preset=preset, dims=3, val=val, label="genmap"
    )
    loc = base.localizer
    fc = loc.conf["filter"]
    runs = {
        sq: res.add(
            _predict_run(loc, test, "sim-office", f"genmap-sq{sq:g}", {"sigma_q": sq, "observation_noise": "encoder"})
        )
        for sq in SIGMAS
    }
    res.add(base)
    retrieval = res.add(_retrieval_run(loc, test, "sim-office"))

    def row(label, r):
        return [label, f"{r.metrics['pos_err_median_m']:.2f}", f"{r.metrics['rot_err_median_deg']:.1f}"]

    res.table(
        "table2",
        "Constant transition, true start (Table 2 analog)",
        ["sigma_q, R", "median pos err m", "median rot err deg"],
        [row(f"{sq:g}, encoder (paper)", runs[sq]) for sq in SIGMAS]
        + [
            row(f"{fc['sigma_q']:g}, {fc['observation_noise']} (preset)", base),
            row("no filter: pose of the nearest training latent", retrieval),
        ],
        note="Paper, 7-Scenes average: 0.35 m / 11.47 deg (1), 0.35 m / 11.07 deg (1e-3), 0.47 m / 15.53 deg "
        "(1e-6). The preset's filter was chosen on the validation walks.",
    )
    fd = res.add(_predict_run(loc, test, "sim-office", "genmap-fd", {"jacobian": "finite_difference"}))
    res.text(
        f"Jacobians of the observation model ({preset} preset filter): autograd "
        f"{base.metrics['pos_err_median_m']:.2f} m / {base.metrics['rot_err_median_deg']:.1f} deg, "
        f"{base.timing['predict_ms_per_sample']:.2f} ms per frame; finite differences (the paper's) "
        f"{fd.metrics['pos_err_median_m']:.2f} m / {fd.metrics['rot_err_median_deg']:.1f} deg, "
        f"{fd.timing['predict_ms_per_sample']:.2f} ms per frame."
    )
    dev_rows = []
    for d in DEVIATIONS:
        pooled = [
            _predict_run(loc, test, f"sim-office-dev{d:.1f}", f"genmap-dev{d:.1f}", {"init_deviation": s * d})
            for s in (1.0, -1.0)
        ]
        r = res.add(pool_training_seeds(pooled))
        dev_rows.append([f"±{d:g}", f"{r.metrics['pos_err_median_m']:.2f}", f"{r.metrics['rot_err_median_deg']:.1f}"])
    res.table(
        "table3",
        f"Initial deviation in every state dimension, sigma_q = {fc['sigma_q']:g} (Table 3 analog)",
        ["deviation", "median pos err m", "median rot err deg"],
        dev_rows,
        note="Mean of the + and - deviation runs. Paper, 7-Scenes: 0.35 m (±0.5), 0.35 m (±1.0).",
    )
    # Fig. 7 analog
    odo_test = _with_odometry(test)
    odo = res.add(_odometry_run(odo_test, "sim-office-odometry"))
    images = res.add(_predict_run(loc, odo_test, "sim-office-odometry", "genmap-images", {}))
    fused_runs = [
        res.add(
            _predict_run(
                loc,
                odo_test,
                "sim-office-odometry",
                f"genmap-odometry-sq{sq:g}",
                {"transition": "odometry", "sigma_q": sq},
            )
        )
        for sq in (1e-4, 1e-6)
    ]
    res.table(
        "fig7",
        "Drifting odometry as the transition (Fig. 7 analog)",
        ["estimate", "median pos err m", "mean pos err m", "median rot err deg"],
        [
            [
                r.label,
                f"{r.metrics['pos_err_median_m']:.2f}",
                f"{r.metrics['pos_err_mean_m']:.2f}",
                f"{r.metrics['rot_err_median_deg']:.1f}",
            ]
            for r in (odo, images, *fused_runs)
        ],
        note=f"Odometry: true increments x {ODOMETRY['scale']}, heading drift "
        f"{ODOMETRY['yaw_drift_deg_per_s']} deg/s; images alone: constant transition, the preset's filter.",
    )
    first = next(iter(odo_test)).name
    plot_trajectories(
        odo_test,
        {r.label: r.estimate for r in (odo, images, *fused_runs)},
        res.out / "trajectory_odometry.png",
        recording=first,
    )
    res.figure("trajectory_odometry.png", f"{first}: odometry alone, images alone, fused")
    # Table 4 analog
    reg = res.add(
        run_method("mvloc-v", train, test, "sim-office", conf=_conf(seed, quick), preset=preset, dims=3, val=val)
    )
    res.add(mean_pose_run(train, test, "sim-office", base.estimate))
    res.cdf(
        [base, runs[1e-3], retrieval, reg], test, "error_cdf.png", "simulated office: 3-D position error CDF", dims=3
    )
    # rendering
    quality, true, gen = _render_quality(loc, test)
    res.add(MethodRun("genmap", "sim-office", loc.conf, quality, {"predict_ms_per_sample": 0.0}, None, "genmap-render"))
    pick = np.linspace(0, len(true) - 1, 8).astype(int)
    plot_render_strip(
        true[pick],
        gen[pick],
        res.out / "render_strip.png",
        title="test poses: true (top) and rendered by the map (bottom)",
    )
    res.figure("render_strip.png", "map reading at held-out test poses")
    ms = loc.step_ms(next(iter(test)))
    res.extra["ekf_step_ms"] = ms
    res.text(
        f"Rendering at the test poses: PSNR {quality['psnr_db']:.1f} dB, SSIM {quality['ssim']:.3f} "
        "(target PSNR >= 20 dB). "
        f"EKF step (predict + update, autograd Jacobian): {ms:.2f} ms on this machine (target <= 5 ms)."
    )


def _tum(res: SuiteResult, seed: int, quick: bool, data_root: Path | None) -> None:
    splits = tum_splits(res, quick, data_root)
    if splits is None:
        return
    extra = {"epochs": 2} if quick else {"epochs": 60}
    rows = []
    for label, (train, test) in splits.items():
        r = res.add(
            run_method(
                "genmap", train, test, label, conf=_conf(seed, quick, extra), preset="quick" if quick else "cpu", dims=3
            )
        )
        b = res.add(mean_pose_run(train, test, label, r.estimate))
        for x in (r, b):
            rows.append(
                [
                    label,
                    x.label,
                    f"{x.metrics['pos_err_median_m']:.3f}",
                    f"{x.metrics['rot_err_median_deg']:.1f}",
                    x.metrics["n_test"],
                ]
            )
    res.table(
        "tum",
        "TUM RGB-D fr1 (constant transition, sigma_q = 1e-3, true start)",
        ["split", "method", "median pos err m", "median rot err deg", "frames"],
        rows,
    )
