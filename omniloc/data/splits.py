"""Splits of a dataset, by recording (never frames of one recording on both sides), each defined once.

* :func:`split_by_groups`: a seeded set of whole recordings (a UJIIndoorLoc user/phone group, an
  IPIN log, a competition path) holding about a fraction of the samples as ``test``;
* :func:`split_by_path_per_floor`: ``train`` / ``val`` / ``test`` shares of each floor's recordings
  (paths), so that every floor is in every split;
* :func:`split_by_meta`: by the value of a ``meta`` key (IPIN's ``trial``: a route is never walked
  on both sides);
* :func:`split_by_reference_point`: fingerprint scans re-cut into one recording per reference point
  and split by point;
* :func:`nested_fraction`: the first ``ceil(fraction * n)`` recordings of a split (in stored or
  seeded order), so that a larger fraction keeps every recording of a smaller one.
"""

from __future__ import annotations

import numpy as np

from .._errors import ConfigError, DataError
from .dataset import Dataset
from .recording import Recording
from .stream import Stream

__all__ = [
    "split_by_groups",
    "split_by_path_per_floor",
    "split_by_meta",
    "split_by_reference_point",
    "nested_fraction",
    "fraction_count",
]


def fraction_count(fraction: float, n: int) -> int:
    """How many of ``n`` items a share ``fraction`` is: ``ceil(fraction * n)``, at least 1 when ``fraction > 0``.

    The one rounding rule of every nested fraction (Table V's k/8 of 29 logs: 4, 8, 11, 15, ...).
    """
    f = float(fraction)
    if not 0.0 <= f <= 1.0:
        raise ConfigError(f"fraction must be in [0, 1], got {fraction}")
    if f == 0.0 or n == 0:
        return 0
    return min(n, max(1, int(np.ceil(f * n - 1e-9))))


def nested_fraction(ds: Dataset, fraction: float, split: str | None = None, seed: int | None = None) -> Dataset:
    """A share of a dataset's recordings; shares of one order are nested.

    Parameters
    ----------
    ds : Dataset
    fraction : float in [0, 1]
        :func:`fraction_count` of the recordings are kept.
    split : str, optional
        Take the recordings of this split in its stored order (e.g. a pool ordered in rounds);
        default: every recording in dataset order.
    seed : int, optional
        Shuffle that order with this seed first; the kept recordings stay in the order they had.

    Returns
    -------
    Dataset
        Named ``<name>/<split>-<fraction>``.
    """
    names = list(ds.splits[split]) if split is not None else list(ds.recordings)
    k = fraction_count(fraction, len(names))
    if seed is None:
        keep = names[:k]
    else:
        order = np.random.default_rng(seed).permutation(len(names))[:k]
        keep = [names[i] for i in sorted(order)]
    return ds.subset(keep, name=f"{ds.name}/{split or 'all'}-{float(fraction):.3f}")


def split_by_groups(
    dataset: Dataset, test_fraction: float = 0.1, seed: int = 0, *, tolerance: float = 0.2, n_trials: int = 1000
) -> Dataset:
    """Add ``train`` and ``test`` splits by recording (a UJIIndoorLoc recording = one USERID/PHONEID group).

    The recordings are shuffled with ``seed``; the test split is the shortest prefix of that
    order whose number of samples is within ``tolerance`` (relative) of ``test_fraction`` of all
    samples. When a shuffle has no such prefix the next shuffle of the same generator is tried
    (up to ``n_trials``, then the closest prefix seen is taken), so different seeds give different
    test recordings with about the asked fraction of samples (UJIIndoorLoc: 18 recordings of
    192..4516 rows; 10 % = 1,994 rows). Deterministic for a given ``seed``. ``test_fraction = 0``
    puts everything in ``train``, ``1`` everything in ``test``; otherwise both splits get at
    least one recording when the dataset has two or more.

    Returns
    -------
    Dataset
        A copy with ``splits["train"]`` and ``splits["test"]`` (names in dataset order; an empty
        split is left out); the split settings are added to the provenance under ``"split"``.
    """
    if not 0.0 <= test_fraction <= 1.0:
        raise ValueError(f"test_fraction must be in [0, 1], got {test_fraction}")
    names = list(dataset.recordings)
    sizes = np.array([len(dataset.recordings[n]) for n in names], dtype=np.int64)
    total = int(sizes.sum())
    if test_fraction == 0.0 or len(names) == 0:
        test = set()
    elif test_fraction == 1.0 or len(names) == 1:
        test = set(names) if test_fraction >= 0.5 else set()
    else:
        target = test_fraction * total
        rng = np.random.default_rng(seed)
        best, best_err = None, np.inf
        for _ in range(n_trials):
            order = rng.permutation(len(names))
            cum = np.cumsum(sizes[order])[:-1]  # leave at least one recording for train
            inside = np.flatnonzero(np.abs(cum - target) <= tolerance * target)
            if len(inside):
                best = order[: inside[0] + 1]
                break
            j = int(np.argmin(np.abs(cum - target)))
            if abs(float(cum[j]) - target) < best_err:
                best, best_err = order[: j + 1], abs(float(cum[j]) - target)
        test = {names[i] for i in best}
    test_names = [n for n in names if n in test]
    train_names = [n for n in names if n not in test]
    out = dataset.with_split(train=train_names, test=test_names)
    n_test = int(sum(len(dataset.recordings[n]) for n in test_names))
    out.provenance["split"] = {
        "by": "recording (USERID/PHONEID group)",
        "test_fraction": float(test_fraction),
        "seed": int(seed),
        "test_rows": n_test,
        "total_rows": total,
        "achieved_test_fraction": round(n_test / total, 6) if total else 0.0,
    }
    if not test_names:
        out.splits.pop("test", None)
    if not train_names:
        out.splits.pop("train", None)
    return out


def split_by_path_per_floor(ds: Dataset, fractions=(0.7, 0.1, 0.2), seed: int = 0) -> Dataset:
    """``train`` / ``val`` / ``test`` by recording (path), drawn per floor so every floor is in every split.

    Each floor's recordings (by the floor of their first pose), sorted by name and shuffled with
    ``seed``, give ``max(1, round(test * n))`` test paths, then ``max(1, round(val * n))``
    validation paths (none when the floor has two paths or fewer), the rest training paths.

    Returns
    -------
    Dataset
        The same recordings with the three splits (sorted names); ``provenance["bench_split"]``
        says how they were drawn.
    """
    if len(fractions) != 3 or any(not 0.0 <= f <= 1.0 for f in fractions):
        raise ConfigError(f"fractions must be three shares (train, val, test) in [0, 1], got {fractions}")
    rng = np.random.default_rng(seed)
    splits: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    by_floor: dict[int, list[str]] = {}
    for name, rec in ds.recordings.items():
        if rec.floor is None or len(rec.floor) == 0:
            raise DataError(f"recording '{name}' has no floor; a per-floor split needs one", field="floor")
        by_floor.setdefault(int(rec.floor[0]), []).append(name)
    for floor in sorted(by_floor):
        names = sorted(by_floor[floor])
        names = [names[i] for i in rng.permutation(len(names))]
        n_test = max(1, int(round(fractions[2] * len(names))))
        n_val = max(1, int(round(fractions[1] * len(names)))) if len(names) > 2 else 0
        splits["test"] += names[:n_test]
        splits["val"] += names[n_test : n_test + n_val]
        splits["train"] += names[n_test + n_val :]
    out = ds.with_split(**{k: sorted(v) for k, v in splits.items()})
    out.provenance = dict(
        ds.provenance, bench_split=f"by path, per floor, {tuple(fractions)} train/val/test, seed {seed}"
    )
    return out


def split_by_meta(ds: Dataset, key: str, test, val=()) -> dict[str, list[str]]:
    """Recording names grouped by the value of ``meta[key]`` (e.g. IPIN's ``trial``: a route).

    Parameters
    ----------
    ds : Dataset
    key : str
        A ``meta`` key every recording has.
    test, val : collections of values
        Recordings whose ``meta[key]`` is in ``test`` go to ``test``, in ``val`` to ``val``, the
        others to ``train``.

    Returns
    -------
    dict
        ``train``, ``val``, ``test`` -> sorted names (a value never on two sides).
    """
    test, val = {str(v) for v in test}, {str(v) for v in val}
    if test & val:
        raise ConfigError(f"{key} values {sorted(test & val)} are in both test and val")
    out: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for name, rec in sorted(ds.recordings.items()):
        if key not in rec.meta:
            raise DataError(f"recording '{name}' has no meta '{key}' to split by", field=f"meta/{key}")
        v = str(rec.meta[key])
        out["test" if v in test else "val" if v in val else "train"].append(name)
    return out


def _rows(a: np.ndarray | None, rows: np.ndarray) -> np.ndarray | None:
    return None if a is None else a[rows]


def split_by_reference_point(
    ds: Dataset,
    test: float = 0.2,
    val: float = 0.1,
    seed: int = 0,
    max_points: int | None = None,
    max_scans: int | None = None,
    name: str | None = None,
) -> Dataset:
    """Fingerprint recordings re-cut into one recording per reference point, split by point.

    Parameters
    ----------
    ds : Dataset
        Fingerprint recordings (one ``wifi`` scan per pose, as the SODIndoorLoc and UJIIndoorLoc
        importers make them); a reference point (RP) is a distinct 2-D position (to the mm)
        and building.
    test, val : float
        Shares of the RPs in the ``test`` and ``val`` splits (each at least one RP when > 0).
    seed : int
        Seed of the RP permutation.
    max_points : int, optional
        Keep only the first ``max_points`` RPs of the permutation (quick runs), spread over the building.
    max_scans : int, optional
        Keep only the first ``max_scans`` scans of each RP and recording.
    name : str, optional
        Name of the new dataset.

    Returns
    -------
    Dataset
        One recording per (source recording, RP), named ``<recording>-rp<NNN>`` (``NNN`` the RP's
        index in sorted position order), holding that RP's scans with their original times (s),
        positions (m), floors, buildings, zones and ``wifi`` values (dBm, NaN = not heard);
        ``meta`` adds ``reference_point`` and ``source_recording``. Splits ``test``, ``val`` and
        ``train``; ``train`` lists the recordings in the order of the RP permutation, so its
        first recordings are a random sample of the building (nested fractions).
    """
    keys: list[tuple] = []
    rows_of: dict[tuple, list] = {}
    for rec in ds:
        if rec.position is None or "wifi" not in rec.streams:
            raise DataError(
                f"recording '{rec.name}' needs positions and a 'wifi' stream to be cut by reference point",
                field="position" if rec.position is None else "streams/wifi",
            )
        wifi = rec.streams["wifi"]
        if len(wifi.t) != len(rec.t) or not np.array_equal(wifi.t, rec.t):
            raise DataError(
                f"recording '{rec.name}' is not a fingerprint recording (one scan per pose)", field="streams/wifi/t"
            )
        b = rec.building if rec.building is not None else np.zeros(len(rec), np.int64)
        xy = np.round(rec.position[:, :2] * 1000).astype(np.int64)
        for i in range(len(rec)):
            k = (int(b[i]), int(xy[i, 0]), int(xy[i, 1]))
            if k not in rows_of:
                rows_of[k] = []
                keys.append(k)
            rows_of[k].append((rec.name, i))
    points = sorted(keys)
    rng = np.random.default_rng(seed)
    order = [points[i] for i in rng.permutation(len(points))]
    if max_points is not None:
        order = order[: int(max_points)]
    n = len(order)
    n_test = max(1, int(round(test * n))) if test > 0 else 0
    n_val = max(1, int(round(val * n))) if val > 0 else 0
    if n - n_test - n_val < 1:
        raise DataError(
            f"dataset '{ds.name}' has {n} reference points: too few for {test:g} test and {val:g} "
            "validation shares and a training pool",
            field="position",
        )
    side = {}
    for j, k in enumerate(order):
        side[k] = "test" if j < n_test else "val" if j < n_test + n_val else "train"
    index = {k: j for j, k in enumerate(points)}
    recordings: dict[str, Recording] = {}
    splits: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for k in order:
        by_rec: dict[str, list[int]] = {}
        for rec_name, i in rows_of[k]:
            by_rec.setdefault(rec_name, []).append(i)
        for rec_name, rows in by_rec.items():
            rec = ds[rec_name]
            rows = np.asarray(rows[:max_scans] if max_scans else rows)
            wifi = rec.streams["wifi"]
            new = f"{rec_name}-rp{index[k]:03d}"
            recordings[new] = Recording(
                new,
                rec.t[rows],
                position=rec.position[rows],
                orientation=_rows(rec.orientation, rows),
                floor=_rows(rec.floor, rows),
                building=_rows(rec.building, rows),
                zone=_rows(rec.zone, rows),
                streams={
                    "wifi": Stream(
                        "wifi", wifi.t[rows], np.asarray(wifi.load())[rows], ids=wifi.ids, meta=dict(wifi.meta)
                    )
                },
                meta=dict(rec.meta, reference_point=int(index[k]), source_recording=rec_name),
            )
            splits[side[k]].append(new)
    prov = dict(
        ds.provenance,
        bench_split=(
            f"by reference point (all scans of a point on one side), seed {seed}: {n_test} test, {n_val} val, "
            f"{n - n_test - n_val} train points of {len(points)}"
            + (f" (first {n} of the permutation)" if max_points is not None else "")
            + (f", at most {max_scans} scans per point" if max_scans else "")
            + "; train in permutation order"
        ),
    )
    return Dataset(name or ds.name, recordings, ds.floor_plans, {k: v for k, v in splits.items() if v}, prov)
