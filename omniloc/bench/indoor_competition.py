"""Bench suite ``indoor-competition``: MTLoc on real phone traces (Indoor Location Competition 2.0).

Site1 (5 floors of a shopping mall, 200 paths, one phone) split by path per floor: 70 % train,
10 % validation (early stopping), 20 % test (:func:`omniloc.bench._phone.load_indoor_competition_site`).
Estimates are made every 0.1 s (MTLoc windows) or per WiFi scan (knn) inside each test path's
waypoint span and scored against the waypoints interpolated in time.

Runs: ``mtloc`` (IMU + magnetometer + WiFi, floor head), each branch alone (``imu-only``,
``mag-only``, ``wifi-only``), ``knn`` WiFi fingerprinting, ``pdr`` when it applies, ``track``
around ``knn``, ``mtloc`` and the WiFi branch (their estimates smoothed along each path with the
IMU's steps; :mod:`omniloc.methods.track`), and ``pf`` around ``knn`` offline and online (the
particle filter over the floor plans of ``geojson_map.json``; :mod:`omniloc.methods.pf`), with a
figure of its particle clouds over the floor image and the time of one motion update.
Targets (issue 4): mean 2-D error <= 2.5 m, floor hit >= 99 %, inference <= 2 ms per window on CPU.

With ``test_site`` (another site folder), MTLoc is then evaluated on that site after training on
``finetune_fraction`` of its training paths, with the IMU-LSTM pretrained on site1 and
fine-tuned, next to the same model trained from scratch on the same paths.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .._conf import deep_update
from ..data.splits import nested_fraction
from ..eval import coverage_metrics, plot_survey_coverage, plot_trajectories, survey_distance
from ._phone import load_indoor_competition_site, particle_runs, run_or_report, tracked_runs
from ._runner import SuiteResult, run_seeds
from .sim_office import MTLOC_RUNS  # the same runs as the simulated office's: label -> branches

#: a test position this close (metres) to a training track on its floor counts as surveyed
COVERED_M = 3.0


def _survey_section(res: SuiteResult, train, test) -> str:
    """How far the test paths are from anywhere the training paths went (the limit of fingerprinting)."""
    from ..data import truth_at

    d = []
    for rec in test:
        t = np.arange(float(rec.t[0]), float(rec.t[-1]) + 1e-9, 0.5)
        gt = truth_at(rec, t)
        d.append(survey_distance(train, gt["position"], gt.get("floor")))
    d = np.concatenate(d) if d else np.zeros(0)
    d = d[np.isfinite(d)]
    if not len(d):
        return ""
    stats = {
        "mean_m": float(d.mean()),
        "median_m": float(np.median(d)),
        "p90_m": float(np.percentile(d, 90)),
        "share_within_covered_m": float(np.mean(d <= COVERED_M)),
        "covered_m": COVERED_M,
    }
    res.extra["test_survey_distance"] = stats
    return (
        f"Survey coverage: along the test paths (every 0.5 s), the distance to the nearest training-path "
        f"position on the same floor is {stats['mean_m']:.2f} m on average (median {stats['median_m']:.2f} m, "
        f"p90 {stats['p90_m']:.2f} m); {stats['share_within_covered_m']:.0%} of the test positions are within "
        f"{COVERED_M:g} m of a surveyed one. This is the error of an oracle that always picks the nearest "
        "surveyed position, and roughly what fingerprinting pays where it has to extrapolate. The columns "
        f"'surveyed <= {COVERED_M:g} m', 'mean there' and 'mean elsewhere' split every method's estimates by it."
    )


def pf_step_ms(plan, particles: int = 3000, steps: int = 300, seed: int = 0) -> float:
    """Median time of one motion update (step, walls, resampling check) of ``particles`` particles
    walking a straight line across ``plan``, milliseconds (this process's threads)."""
    from ..filters import ParticleFilter

    pf = ParticleFilter({int(plan.floor): plan}, {"particles": int(particles)}, seed=seed)
    free = np.argwhere(pf.grids[int(plan.floor)].free)
    g = pf.grids[int(plan.floor)]
    start = g.origin + (free[len(free) // 2][::-1] + 0.5) * g.resolution_m
    pf.initialize(start, 1.0, [int(plan.floor)])
    times = []
    for k in range(int(steps)):
        t0 = time.perf_counter()
        pf.step(float(k), 0.7, 0.3)
        times.append(time.perf_counter() - t0)
        if k % 5 == 4:
            pf.update_fix(float(k), start)
    return 1000.0 * float(np.median(times))


def _particle_figure(res: SuiteResult, loc, test, rec_name: str, others: dict) -> None:
    """Trajectory of the longest test path with the particle cloud at four times, over the floor image."""
    out = loc.run(test[rec_name])
    pf = out["filter"]
    hist = pf.stored()
    clouds = []
    for k in np.linspace(0, len(hist.t) - 1, 4).astype(int):
        w = np.exp(hist.log_weight[k].astype(np.float64))
        pick = np.argsort(w)[-800:]  # the heaviest particles are enough to see the cloud
        clouds.append(
            {
                "xy": hist.state[k][pick, :2],
                "weight": w[pick],
                "floor": int(np.bincount(hist.floor[k] - hist.floor[k].min()).argmax() + hist.floor[k].min()),
                "label": f"{hist.t[k] - hist.t[0]:.0f} s",
            }
        )
    plot_trajectories(test, others, res.out / "pf_particles.png", recording=rec_name, clouds=clouds)
    res.figure("pf_particles.png", f"pf over the floor map, {rec_name}: path and particle clouds at four times")


def window_latency_ms(loc, rec, repeats: int = 20) -> float:
    """Median wall time of predicting from the last 1.5 s of a recording (a few windows, batch of
    a few) on this CPU, divided by the number of windows: milliseconds per window, unbatched."""
    t_end = max(float(s.t[-1]) for s in rec.streams.values() if len(s.t))
    t_start = t_end - 1.5
    one = rec.crop(min(t_start, float(rec.t[-1])), t_end)
    times, n = [], 1
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        n = max(len(loc.predict(one)), 1)
        times.append(time.perf_counter() - t0)
    return 1000.0 * float(np.median(times[1:])) / n


def run(
    out: Path,
    quick: bool = False,
    data_root: Path | None = None,
    seeds: int = 1,
    test_site: Path | None = None,
    finetune_fraction: float = 0.5,
    threads: int | None = None,
) -> SuiteResult:
    """Run the suite; ``seeds`` repeats it with path-split and method seeds ``0 .. seeds-1``."""
    return run_seeds(
        "indoor-competition",
        out,
        quick,
        seeds,
        lambda res, seed: _site1(res, quick, data_root, seed, test_site, finetune_fraction),
        threads,
    )


def _site1(
    res: SuiteResult, quick: bool, data_root: Path, seed: int, test_site: Path | None, finetune_fraction: float
) -> None:
    out = res.out
    site_dir = Path(data_root) / "indoor-location-competition-20" / "site1"
    ds = load_indoor_competition_site(site_dir, quick=quick, seed=seed)
    train, val, test = ds.split("train"), ds.split("val"), ds.split("test")
    label = "ilc-site1" + ("-quick" if quick else "")
    res.extra["data"] = {
        "summary": ds.summary(),
        "split": ds.provenance.get("bench_split"),
        "wifi": {k: v for k, v in ds.provenance.items() if "wifi" in k},
    }
    base = {"trainer": {"progress": not quick}, "streams": {"wifi": "wifi"}}
    preset = "quick" if quick else None

    runs = []
    for run_label, branches in MTLOC_RUNS.items():
        runs.append(
            run_or_report(
                res,
                "mtloc",
                train,
                test,
                label,
                conf=deep_update(base, {"branches": branches}),
                preset=preset,
                label=run_label,
                val=val,
            )
        )
    runs.append(run_or_report(res, "knn", train, test, label, val=val))
    runs.append(run_or_report(res, "pdr", train, test, label, val=val))
    runs = [r for r in runs if r is not None]
    runs += tracked_runs(res, runs, train, test, label)
    particle = particle_runs(res, runs, train, val, test, label, quick)
    runs += particle
    for r in runs:
        r.metrics.update(coverage_metrics(r.estimate, test, train, covered_m=COVERED_M))
    res.cdf(runs, test, "error_cdf.png", f"{label}: 2-D position error CDF")
    res.text(_survey_section(res, train, test))
    main = next((r for r in runs if r.label == "mtloc"), None)
    floors = [int(r.floor[0]) for r in test if r.floor is not None and len(r.floor)]
    if floors:
        busiest = max(set(floors), key=floors.count)
        plot_survey_coverage(train, test, busiest, out / "survey_coverage.png")
        res.figure("survey_coverage.png", "training and test paths on one floor")
    if particle:
        longest = max(sorted(test.recordings), key=lambda n: test[n].duration_s)
        shown = {r.label: r.estimate for r in runs if r.label in ("knn", "track (knn)", "pf (knn)")}
        _particle_figure(res, particle[0].localizer, test, longest, shown)
        plan = ds.floor_plan(int(test[longest].floor[0]), int(test[longest].building[0]))
        step_ms = pf_step_ms(plan, particles=500 if quick else 3000, steps=60 if quick else 300, seed=seed)
        res.extra["pf_step_ms"] = step_ms
        pm = particle[0].localizer.fix_model_ or {}
        res.text(
            f"`pf`: one motion update of {500 if quick else 3000} particles on {plan.name} takes "
            f"{step_ms:.2f} ms (median; target <= 1 ms on one core). Fix error model fitted on the "
            f"validation paths: {pm.get('sigma_m', float('nan')):.1f} m per axis, correlation time "
            f"{pm.get('tau_s', float('nan')):.0f} s, floor hit {100 * pm.get('floor_hit', float('nan')):.1f} %; "
            "targets on the test paths: mean <= 8 m, floor >= 97 %."
        )
    if main is not None:
        # the longest test path: the one a person would look at
        first = max(sorted(test.recordings), key=lambda n: test[n].duration_s)
        plot_trajectories(
            test,
            {r.label: r.estimate for r in runs if r.label in ("mtloc", "knn", "track (knn)")},
            out / "trajectory.png",
            recording=first,
        )
        res.figure("trajectory.png", f"trajectory {first}")
        m = main.metrics
        latency = window_latency_ms(main.localizer, test[first])
        main.timing["predict_ms_per_window_unbatched"] = latency
        rows, text = main.localizer.parameter_table()
        res.extra["parameters"] = int(sum(r[2] for r in rows))
        res.text("MTLoc parameter table (this run's access-point vocabulary):\n\n```\n" + text + "\n```")
        res.text(
            f"Targets: mean 2-D error <= 2.5 m (got {m['pos_err_mean_m']:.2f} m), floor hit >= 99 % "
            f"(got {100 * m.get('floor_hit_rate', float('nan')):.1f} %), inference <= 2 ms per window "
            f"(batched: {main.timing['predict_ms_per_sample']:.3f} ms per window; a few windows at a time: "
            f"{latency:.2f} ms per window)."
        )

    if test_site is not None:
        _other_site(res, Path(test_site), site_dir, train, val, float(finetune_fraction), quick, seed, base)


def _other_site(
    res: SuiteResult,
    site_dir: Path,
    source_dir: Path,
    source_train,
    source_val,
    fraction: float,
    quick: bool,
    seed: int,
    base: dict,
) -> None:
    """Pretrain the IMU-LSTM on site1, train on ``fraction`` of another site's paths, test there.

    Both models train all branches jointly from the start (``warm_start=None``, as in the
    ``transfer`` suite): with MTLoc's default WiFi warm start the fused model keeps the WiFi-only
    warm start whenever validation never prefers the fused one, and then the transferred
    IMU-LSTM is not used at all and both rows come out identical. A test site that is the source
    site itself is run (it exercises the code path) but flagged: its test paths are site1's.
    """
    import tempfile

    from ..methods.mtloc import pretrain_imu_lstm

    same = site_dir.resolve() == source_dir.resolve()
    other = load_indoor_competition_site(site_dir, quick=quick, seed=seed)
    sub = nested_fraction(other, fraction, split="train")
    test, val = other.split("test"), other.split("val")
    label = f"{site_dir.name}-{fraction:.0%}"
    preset = "quick" if quick else None
    joint = deep_update(base, {"warm_start": None})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "imu-lstm.pt"
        pretrain_imu_lstm(source_train, joint, preset=preset, val=source_val, path=path)
        runs = [
            run_or_report(
                res,
                "mtloc",
                sub,
                test,
                label,
                conf=deep_update(joint, {"imu_transfer": str(path), "imu_trainable": True}),
                preset=preset,
                label=f"mtloc fine-tuned ({site_dir.name}, {fraction:.0%} of its paths)",
                val=val,
            ),
            run_or_report(
                res,
                "mtloc",
                sub,
                test,
                label,
                conf=joint,
                preset=preset,
                label=f"mtloc from scratch ({site_dir.name}, {fraction:.0%} of its paths)",
                val=val,
            ),
        ]
    knn = run_or_report(
        res, "knn", sub, test, label, val=val, label=f"knn ({site_dir.name}, {fraction:.0%} of its paths)"
    )
    runs.append(knn)
    if knn is not None:
        from ..methods import create

        loc = create("pf", preset="quick" if quick else None).fit_filter(sub, knn.localizer, val)
        runs.append(run_or_report(res, "pf", sub, test, label, localizer=loc, label=f"pf (knn, {site_dir.name})"))
    runs = [r for r in runs if r is not None]
    res.extra["test_site"] = {
        "dir": str(site_dir),
        "finetune_fraction": fraction,
        "train_paths": len(sub),
        "test_paths": len(test),
        "same_as_source": same,
    }
    if same:
        res.text(
            f"**Note:** the test site `{site_dir}` is the source site: the IMU-LSTM was pretrained on "
            "its own training paths, so these rows say nothing about transfer to another building."
        )
    if runs:
        res.cdf(runs, test, "test_site_cdf.png", f"{site_dir.name}: 2-D error CDF")
