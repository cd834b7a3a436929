"""Bench suite ``sim-office``: methods on the simulated office, and the simulator's own speed.

Runs every registered method whose sensors the office has (``knn`` from WiFi with full position
labels, ``pdr`` from the IMU with a known start pose) on the test recordings, OT-Isomap from WiFi
alone and from the camera alone with zone labels only (no positions), and measures the
simulator's throughput: WiFi / magnetometer / IMU samples per second and camera RGB-D frames per
second at 64x64 (targets: >= 10,000 samples/s and >= 500 frames/s on 2 cores).
"""

from __future__ import annotations

from pathlib import Path

from .._conf import deep_update
from ..eval import plot_trajectories
from ._runner import SuiteResult, run_seeds

#: the benchmark's office: more and longer recordings than the demo; a small, slow camera for
#: OT-Isomap (its full-size throughput is measured separately)
BENCH_CONF = {
    "n_recordings": 40,
    "duration_s": 120.0,
    "sensors": ["imu", "magnetometer", "wifi", "camera"],
    "camera": {"rate_hz": 2.0, "width": 32, "height": 32},
}
#: MTLoc runs: the fused model and its single-branch baselines (label -> branches)
MTLOC_RUNS = {
    "mtloc": ["imu", "magnetometer", "wifi"],
    "mtloc-wifi-only": ["wifi"],
    "mtloc-imu-only": ["imu"],
    "mtloc-mag-only": ["magnetometer"],
}
#: OT-Isomap runs: zone labels only, one modality each
OTISOMAP_RUNS = {"otisomap-wifi": "wifi", "otisomap-camera": "camera"}


def run(
    out: Path, quick: bool = False, data_root: Path | None = None, seeds: int = 1, threads: int | None = None
) -> SuiteResult:
    """Run the suite; ``seeds`` repeats it with simulator and method seeds ``0 .. seeds-1``."""
    from ..methods import suitable_methods
    from ..sim import sensor_throughput, simulate

    def body(res: SuiteResult, seed: int) -> None:
        ds = simulate("office", seed=seed, preset="quick") if quick else simulate("office", seed=seed, conf=BENCH_CONF)
        train, val, test = ds.split("train"), ds.split("val"), ds.split("test")
        label = "sim-office" + ("-quick" if quick else "")
        res.extra["data"] = ds.summary()
        runs = [res.run(name, train, test, label, val=val) for name in suitable_methods(ds) if name not in MTLOC_RUNS]
        mtloc_base = {"trainer": {"progress": not quick}}
        for run_label, branches in MTLOC_RUNS.items():
            runs.append(
                res.run(
                    "mtloc",
                    train,
                    test,
                    label,
                    conf=deep_update(mtloc_base, {"branches": branches}),
                    preset="quick" if quick else None,
                    label=run_label,
                    val=val,
                )
            )
        quick_conf = (
            {"metric": {"epochs": 2}, "embedding": {"steps": 100}, "trainer": {"progress": False}} if quick else None
        )
        for run_label, preset in OTISOMAP_RUNS.items():
            runs.append(res.run("otisomap", train, test, label, conf=quick_conf, preset=preset, label=run_label))
        res.cdf(runs, test, "error_cdf.png", "simulated office: 2-D position error CDF")
        first = next(iter(test)).name
        plot_trajectories(test, {r.label: r.estimate for r in runs}, res.out / "trajectory.png", recording=first)
        res.figure("trajectory.png", f"trajectory {first}")
        speed = sensor_throughput(n=2_000 if quick else 20_000, seed=seed)
        res.extra["simulator"] = speed
        res.text(
            "Simulator throughput on this machine: "
            + ", ".join(f"{k} {v:,.0f}" for k, v in speed.items())
            + ". Targets: >= 10,000 samples/s per sensor, >= 500 camera frames/s (64x64)."
        )

    return run_seeds("sim-office", out, quick, seeds, body, threads)
