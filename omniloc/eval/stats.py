"""Statistics of localization errors: summaries, bootstrap intervals, paired comparisons, seeds.

One place for the numbers every benchmark suite reports:

* :func:`error_stats`: mean, standard deviation, median, 90th percentile and count of errors
  (one run, or ``R`` runs on the same test samples, pooled);
* :func:`bootstrap_ci`: a seeded percentile-bootstrap interval of a statistic, optionally
  resampling whole groups (e.g. all the scans of one reference point, all the windows of one
  path);
* :func:`paired_difference`: the mean difference of two methods' errors on the same samples,
  with a two-level bootstrap (training seeds x groups) and a Bonferroni-adjusted interval;
* :func:`seed_summary` / :func:`aggregate_over_seeds`: mean and a Student-t interval of a value
  measured once per seed.

Every function is deterministic for a given ``seed`` (its own ``numpy`` generator; the global
state is not touched).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = [
    "error_stats",
    "bootstrap_ci",
    "paired_difference",
    "bonferroni_level",
    "seed_summary",
    "aggregate_over_seeds",
    "format_mean_std",
    "format_difference",
    "N_BOOTSTRAP",
]

#: default number of bootstrap resamples
N_BOOTSTRAP = 10000


def error_stats(errors, unit: str = "m") -> dict:
    """Summary of position errors: ``mean``, ``std``, ``median``, ``p90`` and ``n``.

    Parameters
    ----------
    errors : (M,) or (R, M) array, in ``unit``
        Errors of one run, or of ``R`` runs (e.g. training seeds) on the same ``M`` test samples.
        Non-finite entries (no estimate) are left out.
    unit : str
        Suffix of the keys (``"m"``: ``mean_m``, ``std_m``, ...).

    Returns
    -------
    dict
        ``mean_<unit>``, ``std_<unit>`` (population standard deviation, ``ddof=0``),
        ``median_<unit>``, ``p90_<unit>`` over every finite error (pooled over the runs), NaN when
        there is none. ``n``: the number of finite errors for (M,) input, the number of test
        samples ``M`` for (R, M) input, which also adds ``seed_means_<unit>`` (the mean of each
        run, R values) and ``n_runs``.

    Examples
    --------
    >>> error_stats([1.0, 2.0, 3.0, float("nan")])["mean_m"]
    2.0
    """
    e = np.asarray(errors, dtype=np.float64)
    if e.ndim not in (1, 2):
        raise ValueError(f"errors must be (M,) or (R, M), got shape {e.shape}")
    flat = e[np.isfinite(e)]
    if len(flat):
        out = {
            f"mean_{unit}": float(flat.mean()),
            f"std_{unit}": float(flat.std()),
            f"median_{unit}": float(np.median(flat)),
            f"p90_{unit}": float(np.percentile(flat, 90)),
        }
    else:
        out = {f"{k}_{unit}": float("nan") for k in ("mean", "std", "median", "p90")}
    if e.ndim == 1:
        out["n"] = int(len(flat))
        return out
    out["n"] = int(e.shape[1])
    out["n_runs"] = int(e.shape[0])
    out[f"seed_means_{unit}"] = [float(np.mean(r[np.isfinite(r)])) if np.isfinite(r).any() else float("nan") for r in e]
    return out


def format_mean_std(stats: dict, unit: str = "m", digits: int = 2) -> str:
    """``"mean ± std"`` of an :func:`error_stats` dict (``"–"`` when the mean is NaN).

    >>> format_mean_std({"mean_m": 1.234, "std_m": 0.5})
    '1.23 ± 0.50'
    """
    mean, std = stats.get(f"mean_{unit}"), stats.get(f"std_{unit}")
    if mean is None or not np.isfinite(mean):
        return "–"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def format_difference(diff: dict, unit: str = "m", digits: int = 2) -> str:
    """``"+d [low, high]"`` of a :func:`paired_difference` dict (its nominal 95 % interval).

    >>> format_difference({"diff_m": 0.5, "ci95_m": [0.25, 0.75]})
    '+0.50 [+0.25, +0.75]'
    """
    lo, hi = diff[f"ci95_{unit}"]
    return f"{diff[f'diff_{unit}']:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]"


def _group_index(groups, n: int) -> np.ndarray:
    """(n,) integer group ids 0..G-1 (each sample its own group when ``groups`` is None)."""
    if groups is None:
        return np.arange(n)
    groups = np.asarray(groups)
    if groups.shape != (n,):
        raise ValueError(f"groups must have one entry per sample ({n}), got shape {groups.shape}")
    return np.unique(groups, return_inverse=True)[1].reshape(-1)


def bootstrap_ci(
    values,
    statistic: Callable[[np.ndarray], float] | None = None,
    groups=None,
    n_boot: int = N_BOOTSTRAP,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile-bootstrap interval of a statistic of ``values``.

    Parameters
    ----------
    values : (M,) array
        Non-finite entries are left out first.
    statistic : callable, optional
        ``(K,) array -> float``; default the mean. With the mean and ``groups`` the resampled
        statistic is the pooled mean of the drawn groups' samples (computed from per-group sums).
    groups : (M,) array, optional
        Group label of each value: groups are drawn with replacement as a whole (a cluster
        bootstrap), so correlated samples (one reference point's scans, one path's windows) are
        not counted as independent. Default: every value its own group.
    n_boot : int
        Number of resamples.
    level : float
        Coverage of the interval, in (0, 1).
    seed : int
        Seed of the resampling generator.

    Returns
    -------
    (low, high) : floats, in the unit of ``values``
        NaN, NaN when there is no finite value.

    Examples
    --------
    >>> bootstrap_ci([2.0, 2.0, 2.0], n_boot=100)
    (2.0, 2.0)
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    g = _group_index(groups, len(v))
    ok = np.isfinite(v)
    v, g = v[ok], g[ok]
    if not len(v):
        return float("nan"), float("nan")
    _, g = np.unique(g, return_inverse=True)
    n_g = int(g.max()) + 1
    rng = np.random.default_rng(seed)
    draw = rng.integers(0, n_g, size=(int(n_boot), n_g))
    if statistic is None:
        sums = np.bincount(g, weights=v, minlength=n_g)
        counts = np.bincount(g, minlength=n_g).astype(np.float64)
        boot = sums[draw].sum(axis=1) / counts[draw].sum(axis=1)
    else:
        members = [np.flatnonzero(g == k) for k in range(n_g)]
        boot = np.array([float(statistic(v[np.concatenate([members[k] for k in row])])) for row in draw])
    tail = 50.0 * (1.0 - level)
    lo, hi = np.percentile(boot, [tail, 100.0 - tail])
    return float(lo), float(hi)


def bonferroni_level(n_tests: int, level: float = 0.95) -> float:
    """Per-comparison coverage ``1 - (1 - level) / n_tests`` for ``n_tests`` simultaneous intervals."""
    return 1.0 - (1.0 - level) / max(int(n_tests), 1)


def paired_difference(
    a, b, groups=None, n_boot: int = N_BOOTSTRAP, seed: int = 0, n_tests: int = 1, unit: str = "m"
) -> dict:
    """Mean error of ``a`` minus that of ``b`` on the same samples, with a two-level bootstrap.

    Parameters
    ----------
    a, b : (M,) or (R, M) arrays, in ``unit``
        Errors of ``R`` runs of two methods (row ``r`` of ``a`` and of ``b`` share the training
        seed) on the same ``M`` test samples. A sample where any run has no finite error is left
        out of both.
    groups : (M,) array, optional
        Group of each sample (e.g. the test reference point or path): resampled as a whole.
        Default: every sample its own group.
    n_boot : int
        Bootstrap resamples: each draws ``R`` runs and ``G`` groups with replacement.
    seed : int
        Seed of the resampling generator.
    n_tests : int
        Number of comparisons the caller makes: ``ci_adjusted_<unit>`` is the Bonferroni
        interval at level ``1 - 0.05 / n_tests``.
    unit : str
        Suffix of the keys.

    Returns
    -------
    dict
        ``diff_<unit>`` (mean of ``a - b``; positive: ``b`` is better), ``ci95_<unit>``
        ``[low, high]`` (percentile interval; it covers both the test groups and the runs),
        ``ci_adjusted_<unit>``, ``adjusted_level``, ``n_points`` (groups), ``n_seeds`` (runs).
    """
    a, b = np.atleast_2d(np.asarray(a, dtype=np.float64)), np.atleast_2d(np.asarray(b, dtype=np.float64))
    n_cols = a.shape[1]
    if a.shape != b.shape or (groups is not None and np.shape(groups) != (n_cols,)):
        raise ValueError(
            f"paired_difference needs (R, M) errors of equal shapes and M groups, got {a.shape}, "
            f"{b.shape}, {None if groups is None else len(groups)}"
        )
    ok = np.isfinite(a).all(axis=0) & np.isfinite(b).all(axis=0)
    if not ok.any():
        raise ValueError("paired_difference: no test sample has a finite error in every run of both methods")
    d = (a - b)[:, ok]
    g = _group_index(groups, n_cols)[ok]
    _, g = np.unique(g, return_inverse=True)
    n_g, n_r = int(g.max()) + 1, d.shape[0]
    sums = np.stack([np.bincount(g, weights=row, minlength=n_g) for row in d])  # (R, G)
    counts = np.bincount(g, minlength=n_g).astype(np.float64)  # (G,)
    rng = np.random.default_rng(seed)
    rs = rng.integers(0, n_r, size=(int(n_boot), n_r))
    gs = rng.integers(0, n_g, size=(int(n_boot), n_g))
    boot = sums[rs[:, :, None], gs[:, None, :]].sum(axis=2).mean(axis=1) / counts[gs].sum(axis=1)
    adjusted = bonferroni_level(n_tests)
    tail = 50.0 * (1.0 - adjusted)
    lo, hi, lo_adj, hi_adj = np.percentile(boot, [2.5, 97.5, tail, 100.0 - tail])
    return {
        f"diff_{unit}": float(d.mean()),
        f"ci95_{unit}": [float(lo), float(hi)],
        f"ci_adjusted_{unit}": [float(lo_adj), float(hi_adj)],
        "adjusted_level": adjusted,
        "n_points": n_g,
        "n_seeds": n_r,
    }


def seed_summary(values: Sequence[float], level: float = 0.95) -> dict:
    """Mean and Student-t interval of one value measured once per seed.

    Parameters
    ----------
    values : (S,) floats
        One value per seed; non-finite ones are left out.
    level : float
        Coverage of the interval.

    Returns
    -------
    dict
        ``mean``, ``std`` (sample standard deviation, ``ddof=1``; 0 for one seed), ``ci``
        ``[low, high]`` = ``mean -/+ t_{(1+level)/2, S-1} * std / sqrt(S)`` (None for fewer than
        two seeds), ``level``, ``n_seeds`` (finite values) and ``values`` (as given).

    Examples
    --------
    >>> seed_summary([1.0, 3.0])["mean"]
    2.0
    """
    from scipy.stats import t as student_t

    raw = [float(v) for v in values]
    v = np.array([x for x in raw if np.isfinite(x)], dtype=np.float64)
    out = {
        "mean": float(v.mean()) if len(v) else float("nan"),
        "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
        "ci": None,
        "level": float(level),
        "n_seeds": int(len(v)),
        "values": raw,
    }
    if len(v) > 1:
        half = float(student_t.ppf(0.5 + level / 2.0, len(v) - 1)) * out["std"] / np.sqrt(len(v))
        out["ci"] = [float(out["mean"] - half), float(out["mean"] + half)]
    return out


def aggregate_over_seeds(per_seed: Sequence[dict], level: float = 0.95) -> dict:
    """:func:`seed_summary` of every numeric key that all the per-seed dicts have.

    Parameters
    ----------
    per_seed : list of dict
        One metrics dict per seed (e.g. :func:`omniloc.eval.compute_metrics` output).

    Returns
    -------
    dict key -> :func:`seed_summary` dict, keys in the order of the first dict.
    """
    if not per_seed:
        return {}
    keys = [
        k
        for k, v in per_seed[0].items()
        if isinstance(v, (int, float, np.number))
        and not isinstance(v, bool)
        and all(isinstance(d.get(k), (int, float, np.number)) and not isinstance(d.get(k), bool) for d in per_seed)
    ]
    return {k: seed_summary([d[k] for d in per_seed], level) for k in keys}
