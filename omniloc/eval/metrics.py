"""Localization metrics: position and rotation errors, floor and building hit rates, competition score."""

from __future__ import annotations

import numpy as np

from ..data import Dataset, Estimate, truth_at
from ..data.transforms import quat_angle_deg

__all__ = [
    "match_truth",
    "position_errors",
    "compute_metrics",
    "competition_score",
    "error_cdf",
    "errors_for",
    "survey_distance",
    "coverage_metrics",
]


def match_truth(est: Estimate, truth: Dataset) -> dict[str, np.ndarray]:
    """Ground truth of ``truth`` at every estimate's recording and time.

    Per recording, :func:`omniloc.data.truth_at` at the estimate times: the same rule the
    methods use for their training labels, so an estimate equal to its label scores zero error.

    Returns
    -------
    dict with ``position`` (M, 3) m (NaN where the recording has no position or the time is
    outside its timeline), and ``orientation`` (M, 4), ``floor`` (M,), ``building`` (M,) when
    every recording involved has them.
    """
    m = len(est)
    out = {"position": np.full((m, 3), np.nan)}
    parts: dict[str, list] = {"orientation": [], "floor": [], "building": []}
    have = {k: True for k in parts}
    order = []
    for name in dict.fromkeys(est.recording.tolist()):
        idx = np.flatnonzero(est.recording == name)
        order.append(idx)
        gt = truth_at(truth[name], est.t[idx])
        if "position" in gt:
            out["position"][idx] = gt["position"]
        for k in parts:
            if k in gt:
                parts[k].append(gt[k])
            else:
                have[k] = False
    if order:
        inv = np.argsort(np.concatenate(order), kind="stable")
        for k, vals in parts.items():
            if have[k]:
                out[k] = np.concatenate(vals)[inv]
    return out


def position_errors(est_position: np.ndarray, true_position: np.ndarray, dims: int = 2) -> np.ndarray:
    """Euclidean position error per estimate.

    Parameters
    ----------
    est_position, true_position : (M, 3) metres
    dims : int
        2 for the horizontal (x, y) error used by indoor positioning (floors scored separately),
        3 for the full 3-D error used by camera pose regression.

    Returns
    -------
    (M,) metres (NaN where either side is NaN)
    """
    d = np.asarray(est_position, dtype=np.float64)[:, :dims] - np.asarray(true_position, dtype=np.float64)[:, :dims]
    return np.linalg.norm(d, axis=1)


def competition_score(
    pos_err_m: np.ndarray, floor_est: np.ndarray, floor_true: np.ndarray, floor_penalty_m: float = 15.0
) -> float:
    """Indoor Location Competition 2.0 score: ``mean(err_xy + 15 * |floor_est - floor_true|)`` in metres."""
    return float(np.mean(pos_err_m + floor_penalty_m * np.abs(np.asarray(floor_est) - np.asarray(floor_true))))


def error_cdf(errors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Empirical CDF of finite errors: sorted errors (K,) and cumulative fractions (K,) in (0, 1]."""
    e = np.sort(np.asarray(errors)[np.isfinite(errors)])
    return e, np.arange(1, len(e) + 1) / max(len(e), 1)


def compute_metrics(est: Estimate, truth: Dataset, dims: int = 2) -> dict[str, float]:
    """All metrics that apply to an estimate, with units in the key names.

    Keys: ``n_test``, ``coverage`` (fraction of estimates with a finite position),
    ``pos_err_{mean,median,p75,p90,p95}_m``, ``rot_err_median_deg`` (when both sides have
    orientation), ``floor_hit_rate``, ``building_hit_rate`` (when both sides have them) and
    ``competition_score_m`` (mean error + 15 x |floor error|, when floors exist).

    Parameters
    ----------
    est : Estimate
    truth : Dataset
        Holds every recording named in ``est.recording`` with ground truth.
    dims : int
        2 (horizontal error) or 3 (3-D error).
    """
    gt = match_truth(est, truth)
    err = position_errors(est.position, gt["position"], dims)
    finite = np.isfinite(err)
    out: dict[str, float] = {"n_test": int(len(est)), "coverage": float(finite.mean()) if len(est) else 0.0}
    if finite.any():
        e = err[finite]
        out.update(
            {
                "pos_err_mean_m": float(e.mean()),
                "pos_err_median_m": float(np.median(e)),
                "pos_err_p75_m": float(np.percentile(e, 75)),
                "pos_err_p90_m": float(np.percentile(e, 90)),
                "pos_err_p95_m": float(np.percentile(e, 95)),
            }
        )
    if est.orientation is not None and "orientation" in gt:
        ok = np.all(np.isfinite(est.orientation), axis=1)
        if ok.any():
            out["rot_err_median_deg"] = float(np.median(quat_angle_deg(est.orientation[ok], gt["orientation"][ok])))
    if est.floor is not None and "floor" in gt:
        out["floor_hit_rate"] = float(np.mean(est.floor == gt["floor"]))
        if finite.any():
            out["competition_score_m"] = competition_score(err[finite], est.floor[finite], gt["floor"][finite])
    if est.building is not None and "building" in gt:
        out["building_hit_rate"] = float(np.mean(est.building == gt["building"]))
    return out


def errors_for(est: Estimate, truth: Dataset, dims: int = 2) -> np.ndarray:
    """Per-estimate position error (M,) metres, for CDF plots."""
    return position_errors(est.position, match_truth(est, truth)["position"], dims)


def survey_distance(
    reference: Dataset, position: np.ndarray, floor: np.ndarray | None = None, spacing_m: float = 0.25
) -> np.ndarray:
    """Distance from each query position to the nearest ground-truth position of ``reference``.

    ``reference`` is usually the training set: the answer says how far a test position is from
    anywhere the training data was surveyed. A fingerprinting method cannot be expected to be
    more accurate than this where it has to extrapolate, and a nearest-neighbour method that
    always picked the closest surveyed point would have exactly this error. The reference tracks
    are the recordings' ground-truth positions, densified by linear interpolation so that
    consecutive points are at most ``spacing_m`` apart (waypoint-only recordings become their
    walked polylines).

    Parameters
    ----------
    reference : Dataset
        Recordings with ground-truth ``position``; their ``floor`` is used when ``floor`` is given.
    position : (M, 3) or (M, 2) metres
        Query positions (NaN rows give NaN).
    floor : (M,) int, optional
        Query floors: distances are then measured to reference points on the same floor only
        (``inf`` on a floor the reference never visits).
    spacing_m : float
        Densification step of the reference tracks, metres.

    Returns
    -------
    (M,) metres, 2-D (horizontal) distance.
    """
    from scipy.spatial import cKDTree

    position = np.asarray(position, dtype=np.float64)
    if position.ndim != 2 or position.shape[1] < 2:
        raise ValueError(f"position must be (M, 2) or (M, 3) metres, got shape {position.shape}")
    if spacing_m <= 0:
        raise ValueError(f"spacing_m must be positive, got {spacing_m}")
    pts, flo = [], []
    for rec in reference:
        if rec.position is None or len(rec.t) == 0:
            continue
        p = np.asarray(rec.position, dtype=np.float64)[:, :2]
        f = np.zeros(len(p), int) if rec.floor is None else np.asarray(rec.floor, int)
        ok = np.all(np.isfinite(p), axis=1)
        p, f = p[ok], f[ok]
        if len(p) == 0:
            continue
        # every segment i -> i+1 cut into n_i pieces; a segment that changes floor belongs to the floor it reaches
        seg = np.hypot(*np.diff(p, axis=0).T)
        n_sub = np.maximum(1, np.ceil(seg / spacing_m).astype(int))
        i = np.repeat(np.arange(len(seg)), n_sub)
        w = (np.arange(len(i)) - np.repeat(np.cumsum(n_sub) - n_sub, n_sub) + 1) / np.repeat(n_sub, n_sub)
        pts.append(np.concatenate([p[:1], p[i] + w[:, None] * (p[i + 1] - p[i])]))
        flo.append(np.concatenate([f[:1], f[i + 1]]))
    out = np.full(len(position), np.inf)
    out[~np.all(np.isfinite(position[:, :2]), axis=1)] = np.nan
    if not pts:
        return out
    pts, flo = np.concatenate(pts), np.concatenate(flo)
    query = np.flatnonzero(np.all(np.isfinite(position[:, :2]), axis=1))
    if floor is None:
        out[query] = cKDTree(pts).query(position[query, :2])[0]
        return out
    floor = np.asarray(floor).reshape(-1)
    if len(floor) != len(position):
        raise ValueError(f"floor must have one entry per position ({len(position)}), got {len(floor)}")
    for f in np.unique(floor[query]):
        q = query[floor[query] == f]
        on = flo == f
        if on.any():
            out[q] = cKDTree(pts[on]).query(position[q, :2])[0]
    return out


def coverage_metrics(
    est: Estimate, truth: Dataset, reference: Dataset, covered_m: float = 3.0, dims: int = 2
) -> dict[str, float]:
    """Errors split by how far the true position is from the surveyed (training) tracks.

    Keys: ``survey_dist_mean_m`` and ``survey_dist_median_m`` (:func:`survey_distance` of the
    true positions to ``reference``: the error of an oracle that snaps to the nearest surveyed
    point), ``covered_share`` (fraction of estimates whose true position is within ``covered_m``
    of a surveyed point on its floor), and ``pos_err_{mean,median}_covered_m`` /
    ``pos_err_mean_uncovered_m`` (position error on those and on the other estimates).
    """
    gt = match_truth(est, truth)
    err = position_errors(est.position, gt["position"], dims)
    dist = survey_distance(reference, gt["position"], gt.get("floor"))
    ok = np.isfinite(err) & ~np.isnan(dist)
    out: dict[str, float] = {}
    if not ok.any():
        return out
    d, e = dist[ok], err[ok]
    finite_d = d[np.isfinite(d)]
    if len(finite_d):
        out["survey_dist_mean_m"] = float(finite_d.mean())
        out["survey_dist_median_m"] = float(np.median(finite_d))
    covered = d <= covered_m
    out["covered_share"] = float(covered.mean())
    if covered.any():
        out["pos_err_mean_covered_m"] = float(e[covered].mean())
        out["pos_err_median_covered_m"] = float(np.median(e[covered]))
    if (~covered).any():
        out["pos_err_mean_uncovered_m"] = float(e[~covered].mean())
    return out
