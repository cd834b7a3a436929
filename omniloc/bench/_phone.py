"""Real phone-trace datasets of the MTLoc suites, loaded and split the same way in every suite.

* **Indoor Location Competition 2.0, site1** (``indoor-location-competition-20/site1``): 200 paths
  on 5 floors, one phone. Split by path: 70 % train, 10 % validation (early stopping), 20 % test,
  drawn per floor with a fixed seed so every floor is in every split.
* **IPIN 2023 track 3** (``ipin2023-track3``): 50 logs of 14 trials (routes), 2 phone models.
  Split by *trial*, so a test route is never walked in training: :data:`IPIN_TEST_TRIALS` are the
  test routes and :data:`IPIN_VAL_TRIALS` the validation routes; the remaining trials' logs are
  the target training pool, ordered in "rounds" (one log per trial and phone at a time, the
  floors taking turns inside a round) so that a fraction of the pool covers as many routes and
  floors as possible.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._errors import DataError
from ..data import Dataset
from ..data.splits import split_by_meta, split_by_path_per_floor

#: IPIN 2023 trials held out as test routes: two on floor 0, two on floor -2, one across floors
IPIN_TEST_TRIALS = (3, 24, 27, 52)
#: IPIN 2023 trials used for early stopping
IPIN_VAL_TRIALS = (5, 22)


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise DataError(f"{what} not found; pass --data-root or set OMNILOC_DATA", file=path)
    return path


def load_indoor_competition_site(
    site_dir: Path, quick: bool = False, seed: int = 0, fractions=(0.7, 0.1, 0.2)
) -> Dataset:
    """One Indoor Location Competition site with ``train`` / ``val`` / ``test`` splits by path.

    Parameters
    ----------
    site_dir : Path
        A site folder (``.../indoor-location-competition-20/site1``).
    quick : bool
        Only 4 paths per floor (seconds to load and train).
    seed : int
        Seed of the per-floor split.
    fractions : (train, val, test)
        Shares of each floor's paths.
    """
    from ..data.loaders import load_indoor_competition

    ds = load_indoor_competition(
        _require(Path(site_dir), "Indoor Location Competition site folder"), max_paths_per_floor=4 if quick else None
    )
    return split_by_path_per_floor(ds, fractions, seed)


def load_ipin2023_split(data_root: Path, quick: bool = False) -> Dataset:
    """IPIN 2023 track 3 with ``train`` / ``val`` / ``test`` splits by trial (route).

    ``train`` is ordered in rounds (see the module docstring), so ``train[:k]`` is a sensible
    fraction of the target data. ``quick`` keeps two logs per split.
    """
    from ..data.loaders import load_ipin2023

    src = _require(Path(data_root) / "ipin2023-track3", "IPIN 2023 track 3 folder")
    trials = (1, 2, 3, 5) if quick else None
    ds = load_ipin2023(src, trials=trials)
    sides = split_by_meta(ds, "trial", IPIN_TEST_TRIALS, IPIN_VAL_TRIALS)
    test, val, pool = sides["test"], sides["val"], sides["train"]
    if quick:
        pool, val, test = pool[:2], val[:2], test[:2]
    # rounds: the k-th log of every (trial, phone) pair before any (k+1)-th one; inside a round the
    # floors take turns (round robin over the trials' floors), so a small share covers every floor
    counts: dict[tuple, int] = {}
    rounds: dict[int, dict[int, list[str]]] = {}
    for name in sorted(pool, key=lambda n: (int(ds.recordings[n].meta["repetition"]), n)):
        rec = ds.recordings[name]
        pair = (int(rec.meta["trial"]), str(rec.meta["phone_model"]))
        counts[pair] = counts.get(pair, 0) + 1
        floor = int(np.bincount(rec.floor - rec.floor.min()).argmax() + rec.floor.min())
        rounds.setdefault(counts[pair], {}).setdefault(floor, []).append(name)
    ordered = []
    for k in sorted(rounds):
        queues = [
            sorted(v, key=lambda n: (int(ds.recordings[n].meta["trial"]), n)) for _, v in sorted(rounds[k].items())
        ]
        while any(queues):
            ordered += [q.pop(0) for q in queues if q]
    ds.splits = {"train": ordered, "val": sorted(val), "test": sorted(test)}
    ds.provenance = dict(
        ds.provenance,
        bench_split=f"by trial: test {IPIN_TEST_TRIALS}, val {IPIN_VAL_TRIALS}, "
        "train = the other trials, ordered in rounds",
    )
    return ds


# ---------------------------------------------------------------- runs the phone suites share
def run_or_report(res, name: str, *args, **kwargs):
    """:meth:`SuiteResult.run`; a method that cannot run on this data is reported, not fatal."""
    try:
        return res.run(name, *args, **kwargs)
    except DataError as e:
        res.text(f"`{kwargs.get('label') or name}` does not apply here: {e}")
        return None


#: runs whose estimates the ``track`` method also smooths with the IMU steps (labels of the base runs)
TRACKED = ("knn", "mtloc", "mtloc-wifi-only")

#: the ``pf`` runs around a base run: name -> preset (``pf-fixes``: the fixes alone, without the
#: per-access-point path-loss likelihood)
PARTICLE_RUNS = {"pf": "offline", "pf-online": "online", "pf-fixes": ["offline", "fixes"]}


def tracked_runs(res, runs, train, test, label: str, bases=TRACKED) -> list:
    """``track`` around already fitted base runs (no retraining): fixes + steps along each path.

    ``bases``: labels of the base runs, or a dict base label -> the name shown in the run label
    (``track (name)``); bases missing from ``runs`` are skipped.
    """
    from ..methods import create

    names = bases if isinstance(bases, dict) else {b: b for b in bases}
    out = []
    for base, shown in names.items():
        base_run = next((r for r in runs if r.label == base), None)
        if base_run is None:
            continue
        loc = create("track", {"base": base_run.method}).fit_smoother(train, base_run.localizer)
        out.append(run_or_report(res, "track", train, test, label, localizer=loc, label=f"track ({shown})"))
    return [r for r in out if r is not None]


def particle_runs(
    res, runs, train, val, test, label: str, quick: bool, base: str = "knn", shown: str | None = None, which=None
) -> list:
    """``pf`` around the already fitted base run labelled ``base``, one run per :data:`PARTICLE_RUNS`
    entry (or per name in ``which``), labelled ``name (shown)``; fix model fitted on ``val``."""
    from ..methods import create

    base_run = next((r for r in runs if r.label == base), None)
    if base_run is None:
        return []
    out = []
    for name in which or PARTICLE_RUNS:
        preset = [PARTICLE_RUNS[name]] if isinstance(PARTICLE_RUNS[name], str) else list(PARTICLE_RUNS[name])
        loc = create("pf", preset=preset + (["quick"] if quick else [])).fit_filter(train, base_run.localizer, val)
        out.append(run_or_report(res, "pf", train, test, label, localizer=loc, label=f"{name} ({shown or base})"))
    return [r for r in out if r is not None]
