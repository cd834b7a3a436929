"""A per-access-point signal model: log-distance path loss fitted to surveyed RSS, as a likelihood.

Fingerprinting (kNN, MTLoc's WiFi branch) can only answer with places the survey went through.
A physical model extrapolates: for each access point ``a`` on each floor ``f``,

    RSS_a(x) = P_a - 10 n_a log10(max(|x - c_a|, d_0))    (dBm; x, c_a in metres)

with the AP's position ``c_a``, its RSS ``P_a`` at ``d_0 = 1`` m and its path-loss exponent
``n_a``, fitted by Gauss-Newton with Levenberg damping to the training scans where it was heard
(positions from the ground truth at the scan times), all APs at once (batched 4 x 4 normal
equations). ``c_a`` starts at the RSS-weighted centroid of its strongest readings, ``P_a`` at its
strongest reading plus 10 dB, ``n_a`` at 2.5; ``n_a`` is kept in ``[1.5, 6]``, and the residual
standard deviation ``sigma_a`` (at least ``min_sigma_db``) is the AP's noise.

:meth:`LogDistanceModel.loglik` scores candidate positions (particles) against one scan:
``sum_a rho((RSS_a - RSS_a(x)) / sigma_a)`` over the heard APs with a model on that floor, with
``rho(r) = -r^2 / 2`` capped at ``-cap^2 / 2`` (one wrong AP does not veto a position; a heard AP
with no model on the position's floor pays the cap, so floors compare fairly), times a
``weight`` that tempers the sum (the APs' errors are correlated: walls and bodies shadow many at
once, so 40 APs are not 40 independent measurements).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["LogDistanceModel", "fit_log_distance"]


@dataclass
class LogDistanceModel:
    """Fitted path-loss models (module docstring), one row per (access point, floor).

    Attributes
    ----------
    ids : (A,) str
        Access-point ids of the vocabulary the scans are aligned to.
    floor : (M,) int, ap : (M,) int
        Floor and vocabulary column of each model.
    centre : (M, 2) metres; power_db : (M,) dBm at 1 m; exponent : (M,); sigma_db : (M,)
    n_samples : (M,) int
        Scans each model was fitted to.
    """

    ids: np.ndarray
    floor: np.ndarray
    ap: np.ndarray
    centre: np.ndarray
    power_db: np.ndarray
    exponent: np.ndarray
    sigma_db: np.ndarray
    n_samples: np.ndarray
    meta: dict = field(default_factory=dict)

    def predict(self, xy: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Modelled RSS (N, R) dBm of models ``rows`` (R,) at positions ``xy`` (N, 2) metres."""
        d = np.linalg.norm(np.asarray(xy, dtype=np.float64)[:, None, :] - self.centre[rows][None], axis=-1)
        return self.power_db[rows] - 10.0 * self.exponent[rows] * np.log10(np.maximum(d, 1.0))

    def loglik(self, xy: np.ndarray, floor: np.ndarray, scan: np.ndarray, weight: float = 0.1, cap: float = 3.0):
        """Log-likelihood (N,) of one scan (A,) dBm (NaN = not heard) at positions (N, 2) on floors (N,)."""
        xy = np.asarray(xy, dtype=np.float64)
        floor = np.asarray(floor).reshape(-1)
        heard = np.flatnonzero(np.isfinite(scan))
        out = np.zeros(len(xy))
        if len(heard) == 0:
            return out
        for f in np.unique(floor):
            rows = np.flatnonzero((self.floor == f) & np.isin(self.ap, heard))
            sel = np.flatnonzero(floor == f)
            if len(sel) == 0:
                continue
            # a heard AP without a model on this floor was never heard there: the capped penalty
            total = -0.5 * cap * cap * (len(heard) - len(rows))
            if len(rows):
                r = (scan[self.ap[rows]][None, :] - self.predict(xy[sel], rows)) / self.sigma_db[rows][None, :]
                total = total + np.sum(-0.5 * np.minimum(r * r, cap * cap), axis=1)
            out[sel] = weight * total
        return out

    def to_json(self) -> dict:
        return {
            "ids": self.ids.tolist(),
            "floor": self.floor.tolist(),
            "ap": self.ap.tolist(),
            "centre": self.centre.tolist(),
            "power_db": self.power_db.tolist(),
            "exponent": self.exponent.tolist(),
            "sigma_db": self.sigma_db.tolist(),
            "n_samples": self.n_samples.tolist(),
            "meta": self.meta,
        }

    @classmethod
    def from_json(cls, d: dict) -> LogDistanceModel:
        return cls(
            np.asarray(d["ids"], dtype=str),
            np.asarray(d["floor"], dtype=np.int64),
            np.asarray(d["ap"], dtype=np.int64),
            np.asarray(d["centre"], dtype=np.float64).reshape(-1, 2),
            np.asarray(d["power_db"], dtype=np.float64),
            np.asarray(d["exponent"], dtype=np.float64),
            np.asarray(d["sigma_db"], dtype=np.float64),
            np.asarray(d["n_samples"], dtype=np.int64),
            dict(d.get("meta", {})),
        )


def fit_log_distance(
    xy: np.ndarray,
    floor: np.ndarray,
    rss: np.ndarray,
    ids,
    min_samples: int = 8,
    iterations: int = 30,
    min_sigma_db: float = 4.0,
) -> LogDistanceModel:
    """Fit one path-loss model per (access point, floor) with at least ``min_samples`` readings.

    Parameters
    ----------
    xy : (S, 2) metres
        Scan positions.
    floor : (S,) int
    rss : (S, A) dBm
        Scans aligned to the vocabulary ``ids`` (NaN = not heard).
    ids : (A,) str
    min_samples, iterations, min_sigma_db
        Readings needed per model, Gauss-Newton iterations, the smallest noise kept.

    Returns
    -------
    LogDistanceModel
    """
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    floor = np.asarray(floor, dtype=np.int64).reshape(-1)
    rss = np.asarray(rss, dtype=np.float64)
    s_idx, a_idx = np.nonzero(np.isfinite(rss))
    key = floor[s_idx] * (rss.shape[1] + 1) + a_idx
    uniq, inv, counts = np.unique(key, return_inverse=True, return_counts=True)
    keep = counts >= int(min_samples)
    model_of = np.full(len(uniq), -1)
    model_of[keep] = np.arange(int(keep.sum()))
    m = model_of[inv]
    ok = m >= 0
    s_idx, a_idx, m = s_idx[ok], a_idx[ok], m[ok]
    M = int(keep.sum())
    meta = {"min_samples": int(min_samples), "iterations": int(iterations), "min_sigma_db": float(min_sigma_db)}
    if M == 0:
        e = np.zeros(0)
        return LogDistanceModel(
            np.asarray(ids, dtype=str),
            e.astype(np.int64),
            e.astype(np.int64),
            np.zeros((0, 2)),
            e,
            e,
            e,
            e.astype(np.int64),
            meta,
        )
    y = rss[s_idx, a_idx]
    p = xy[s_idx]
    # initial values: centroid of the strongest readings (weights 10^(rss/10) favour the nearest)
    w = 10.0 ** ((y - y.max()) / 10.0)
    wsum = np.bincount(m, weights=w, minlength=M)
    c = np.stack([np.bincount(m, weights=w * p[:, k], minlength=M) for k in range(2)], axis=1) / wsum[:, None]
    top = np.full(M, -np.inf)
    np.maximum.at(top, m, y)
    theta = np.c_[c, top + 10.0, np.full(M, 2.5)]  # (M, 4): cx, cy, P, n
    lam = np.full(M, 1e-2)

    def residuals(th):
        d = np.maximum(np.linalg.norm(p - th[m, :2], axis=1), 1.0)
        return y - (th[m, 2] - 10.0 * th[m, 3] * np.log10(d)), d

    def sse(r):
        return np.bincount(m, weights=r * r, minlength=M)

    r, d = residuals(theta)
    cost = sse(r)
    for _ in range(int(iterations)):
        near = np.linalg.norm(p - theta[m, :2], axis=1) > 1.0
        g = 10.0 * theta[m, 3] / (np.log(10.0) * d * d)  # d(model)/d(c) = g * (p - c) ... sign below
        J = np.zeros((len(y), 4))
        J[:, 0] = np.where(near, g * (p[:, 0] - theta[m, 0]), 0.0)
        J[:, 1] = np.where(near, g * (p[:, 1] - theta[m, 1]), 0.0)
        J[:, 2] = 1.0
        J[:, 3] = -10.0 * np.log10(d)
        JtJ = np.zeros((M, 4, 4))
        Jtr = np.zeros((M, 4))
        for i in range(4):
            Jtr[:, i] = np.bincount(m, weights=J[:, i] * r, minlength=M)
            for j in range(i, 4):
                JtJ[:, i, j] = JtJ[:, j, i] = np.bincount(m, weights=J[:, i] * J[:, j], minlength=M)
        A = JtJ + lam[:, None, None] * (
            np.eye(4)[None] * np.maximum(np.diagonal(JtJ, axis1=1, axis2=2), 1e-6)[:, None, :]
        )
        step = np.linalg.solve(A, Jtr[..., None])[..., 0]
        cand = theta + step
        cand[:, 3] = np.clip(cand[:, 3], 1.5, 6.0)
        r2, d2 = residuals(cand)
        cost2 = sse(r2)
        better = cost2 < cost
        theta = np.where(better[:, None], cand, theta)
        lam = np.where(better, lam * 0.3, lam * 10.0)
        r, d = residuals(theta)
        cost = sse(r)
    n = np.bincount(m, minlength=M)
    sigma = np.maximum(np.sqrt(cost / np.maximum(n - 4, 1)), float(min_sigma_db))
    floors_of = uniq[keep] // (rss.shape[1] + 1)
    aps_of = uniq[keep] % (rss.shape[1] + 1)
    return LogDistanceModel(
        np.asarray(ids, dtype=str),
        floors_of.astype(np.int64),
        aps_of.astype(np.int64),
        theta[:, :2],
        theta[:, 2],
        theta[:, 3],
        sigma,
        n.astype(np.int64),
        meta,
    )
