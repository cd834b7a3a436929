"""`omniloc demo`: simulate the default office, train the methods that suit it, evaluate, report."""

from __future__ import annotations

import time

import numpy as np

from ._io import output_dir

__all__ = ["run_demo", "DEMO_CONF"]

#: the demo's office: the default world with enough walks for a test split of several recordings
DEMO_CONF = {"n_recordings": 24}


def run_demo(
    out, seed: int = 0, overwrite: bool = False, command: str = "omniloc demo", preset: str | None = None
) -> dict[str, dict]:
    """Run the demo into folder ``out`` and return ``{method: metrics}`` on the test split.

    Writes ``dataset/`` (the simulated office), ``models/<method>/``, ``report.md``,
    ``metrics.json``, ``error_cdf.png``, trajectory plots, the floor plans and camera frames,
    all built in a temporary folder that replaces ``out`` only when the demo completes
    (:func:`omniloc._io.output_dir`): an interrupted demo leaves an earlier ``out`` as it was.

    Parameters
    ----------
    out : path
        Output folder; an existing non-empty one needs ``overwrite``.
    seed : int
        Simulation seed.
    overwrite : bool
    command : str
        The command line written into the report.
    preset : str, optional
        Simulator preset (``"quick"`` for tests).
    """
    with output_dir(out, overwrite) as tmp:
        return _run_demo(tmp, seed, command, preset)


def _run_demo(out, seed: int, command: str, preset: str | None) -> dict[str, dict]:
    from rich.progress import Progress

    from . import methods
    from .data import save_dataset
    from .eval import evaluate_estimates, plot_floor_plan, plot_frames
    from .sim import simulate

    timings = {}
    with Progress(transient=True) as progress:
        task = progress.add_task("simulating the office", total=None)
        t0 = time.perf_counter()
        ds = simulate("office", seed=seed, conf=DEMO_CONF, preset=preset)
        timings["simulate_s"] = time.perf_counter() - t0
        save_dataset(ds, out / "dataset", overwrite=True)
        train, val, test = ds.split("train"), ds.split("val"), ds.split("test")
        names = methods.suitable_methods(ds)
        estimates = {}
        for name in names:
            progress.update(task, description=f"training {name}")
            t0 = time.perf_counter()
            quiet = {"trainer": {"progress": False}} if "trainer" in methods.get_class(name).default_conf else None
            loc = methods.create(name, quiet).fit(train, val)  # the demo shows its own progress
            timings[f"fit_{name}_s"] = time.perf_counter() - t0
            loc.save(out / "models" / name, overwrite=True)
            progress.update(task, description=f"localizing with {name}")
            estimates[name] = loc.predict(test)
        progress.update(task, description="writing the report")
        figures = []
        aps = ds.provenance.get("access_points", {})
        ap_xy, ap_floor = np.asarray(aps.get("position", np.zeros((0, 3))))[:, :2], np.asarray(aps.get("floor", []))
        for plan in ds.floor_plans.values():
            f = f"floor_plan_{plan.name}.png"
            plot_floor_plan(plan, out / f, points=ap_xy[ap_floor == plan.floor] if len(ap_floor) else None)
            figures.append(f"![{plan.name}]({f})")
        rec = next(iter(test))
        if "rgb" in rec.streams:
            idx = np.linspace(0, len(rec.streams["rgb"]) - 1, 8).astype(int)
            depth = rec.streams["depth"].values[idx] if "depth" in rec.streams else None
            plot_frames(
                np.asarray(rec.streams["rgb"].values[idx]),
                out / "camera_frames.png",
                depth=depth,
                title=f"simulated RGB (top) and depth (bottom), {rec.name}",
            )
            figures.append("![camera frames](camera_frames.png)")
        summary = ds.summary()
        notes = [
            f"Command: `{command}` (seed {seed}). Simulated office: {summary['recordings']} recordings "
            f"({summary['splits']}), {summary['samples']} poses, streams {sorted(summary['streams'])}. "
            f"Methods: {', '.join(names)}. Timings: " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()) + ".",
            "`knn` localizes at every WiFi scan from fingerprints of the training recordings; `pdr` dead-reckons "
            "from the IMU starting at the true first pose of each test recording (its error grows with distance); "
            "`mtloc` fuses 1-s IMU and magnetometer windows with the latest WiFi scan every 0.1 s (MTLoc); "
            "`track` moves the kNN estimates onto one path per recording that also follows the IMU's steps; "
            "`pf` tracks the walker with a particle filter over the floor plan (steps, walls, the kNN fixes and "
            "a path-loss model of every access point), smoothed over the recording.",
        ]
        metrics = evaluate_estimates(
            estimates,
            test,
            out,
            title="omniloc demo: simulated office",
            notes=notes,
            appendix=["## The simulated world"] + figures,
        )
    return metrics
