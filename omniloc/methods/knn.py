"""WiFi fingerprinting by k nearest neighbours (kNN), with the signal representations of
Torres-Sospedra et al. (2015), a logistic-regression floor model and an optional
building -> floor -> position cascade.

Method
------
**Fingerprints.** :meth:`KNNLocalizer.fit` collects every scan of the ``wifi`` stream of every
training recording with its ground truth at the scan time (:func:`omniloc.data.truth_at`: the
recording's own pose rows when the scan times are the pose timeline, as in imported fingerprint
datasets, else interpolated; scans outside the pose timeline are dropped). The access-point (AP)
vocabulary is every AP heard at least once in training; at prediction the query's APs are matched
by id (unknown APs are ignored). NaN means "not heard" and is never used as a value. The ``N``
references are kept sorted by building, then floor.

**Representations** (:func:`omniloc.data.fingerprint.rss_to_features`). With ``rss`` in dBm and
``min`` = ``min_rss`` (default: the lowest RSS of the training data), readings below ``min``
clipped to it, and not-heard APs 0 in every representation:

- ``positive``: ``pos = rss - min + 1`` (1 for the weakest reading);
- ``exponential``: ``exp(pos / alpha) / exp(-min / alpha)``;
- ``powed``: ``(pos / -min) ** beta``;
- ``dbm``: the RSS itself with not-heard = ``not_heard_dbm`` (readings below it clipped to it),
  shifted by ``-not_heard_dbm`` so that not-heard is 0 (a shift changes no distance below).

**Distances** between representations ``x`` (query) and ``y`` (reference), all exact:

- ``euclidean``: ``d = sqrt(sum_a (x_a - y_a)^2)``;
- ``manhattan``: ``d = sum_a |x_a - y_a|``;
- ``sorensen`` (Bray-Curtis): ``d = sum_a |x_a - y_a| / sum_a (x_a + y_a)``.

Scans are sparse (a UJIIndoorLoc scan hears about 3.5 % of the APs), so ``sum_a min(x_a, y_a)``
is accumulated per AP over the (query, reference) pairs that both hear it and
``sum |x - y| = sum x + sum y - 2 sum min(x, y)``; Euclidean uses a sparse product
``|x|^2 + |y|^2 - 2 x.y``. Each batch of ``batch_size`` queries gets its full distance row to every
reference, so the cascade below needs no second search.

**Weighting and estimate.** For the chosen neighbours ``i`` with distances ``d_i``, positions
``p_i``: ``w_i = 1`` (``weights="uniform"``), ``w_i = 1 / d_i`` (``"distance"``) or
``w_i = d_i ** -q`` (a number ``q``); when some neighbours are at distance 0 only those count,
equally. The position is ``p = sum_i w_i p_i / sum_i w_i``; a label (building, or floor with the
vote) is ``argmax_l sum_{i: l_i = l} w_i`` (ties: the label of the nearest neighbour among the
tied ones).

**Cascade.** ``cascade=False``: the ``k`` nearest references give position and building (and the
floor with ``floor_model="knn"``). ``cascade=True``: the building is voted by the ``k_vote``
nearest references; then the floor within that building (logistic model, or the vote of its
``k_vote`` nearest references); then the position is the weighted mean over the ``k`` nearest
references of that building and floor.

**Floor model.** ``floor_model="logistic"`` (default): per building ``b``, a multinomial logistic
regression on the representation scaled to unit Euclidean norm, ``u = x / ||x||_2`` (which
removes a common gain factor of the scan),

    ``P(floor = f | x, b) = exp(w_f . u + c_f) / sum_g exp(w_g . u + c_g)``,

fitted to building ``b``'s references with an L2 penalty of strength ``1 / floor_c``, classes
weighted inversely to their number of references (scikit-learn ``LogisticRegression``,
``class_weight="balanced"``, lbfgs to ``tol = 1e-8``); the floor is ``argmax_f`` in the building
estimated above. A building with two floors stores the fitted log-odds row and a zero row, one
with a single floor a zero row. kNN compares whole scans, so where no training scan was taken on
a floor the nearest references are scans at the same place on the floors above and below; the
linear model weighs every AP by how well it separates floors on its own (an AP heard on every
floor gets a small weight), which carries over to unsurveyed places.
``floor_model="knn"``: the weighted vote of the neighbours. The model is kept as arrays
(``floor_coef_``, ``floor_intercept_``, ``floor_labels_``, ``floor_buildings_``): prediction is
one matrix product and needs no scikit-learn, and a saved and loaded model predicts identically.

**Outputs.** :meth:`KNNLocalizer.predict_recording` gives one estimate per WiFi scan at the scan
time; :meth:`KNNLocalizer.predict_at` gives estimates at arbitrary times from the latest scan no
older than ``max_scan_age_s``. Scans that hear fewer than ``min_detected`` known APs get a NaN
position and floor = building = -1 (also for too-old scans in ``predict_at``).

The defaults (positive + Sorensen, 11 distance-weighted neighbours, the logistic floor model with
``C = 10``, no cascade) were chosen on UJIIndoorLoc ``trainingData`` held out by user and phone;
``omniloc bench ujiindoorloc --sweep`` scores the settings compared (see ``docs/methods/knn.md``
for the figures and the reasons).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from .._errors import ConfigError, DataError
from ..data import Dataset, Estimate, Recording
from ..data.align import latest_index, truth_at
from ..data.fingerprint import REPRESENTATIONS, rss_to_features
from .base import Localizer

__all__ = ["KNNLocalizer", "rss_to_features", "REPRESENTATIONS", "METRICS", "FLOOR_MODELS"]

METRICS = ("euclidean", "manhattan", "sorensen")
FLOOR_MODELS = ("logistic", "knn")


def _unit_rows(X):
    """Rows scaled to unit Euclidean norm (all-zero rows stay 0), float64; dense or scipy CSR in, same out."""
    from scipy import sparse

    if sparse.issparse(X):
        X = sparse.csr_matrix(X, dtype=np.float64)
        norm = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
        return sparse.diags(1.0 / np.where(norm > 0, norm, 1.0)) @ X
    X = np.asarray(X, dtype=np.float64)
    norm = np.sqrt(np.einsum("ij,ij->i", X, X))
    return X / np.where(norm > 0, norm, 1.0)[:, None]


def _vote(labels: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted vote per row of (Q, k) labels sorted by distance; ties go to the nearest neighbour's label."""
    if labels.size == 0:
        return np.full(len(labels), -1, dtype=np.int64)
    lab, inv = np.unique(labels, return_inverse=True)
    inv = inv.reshape(labels.shape)
    q, n_lab = labels.shape[0], len(lab)
    score = np.bincount((np.arange(q)[:, None] * n_lab + inv).ravel(), weights=w.ravel(), minlength=q * n_lab).reshape(
        q, n_lab
    )
    best = score >= score.max(axis=1, keepdims=True) * (1 - 1e-12)
    first = np.argmax(np.take_along_axis(best, inv, axis=1), axis=1)  # nearest neighbour with a best label
    return lab[inv[np.arange(q), first]].astype(np.int64)


class KNNLocalizer(Localizer):
    """WiFi fingerprinting by k nearest neighbours (see the module docstring for the equations).

    Parameters
    ----------
    conf : dict, optional
        Merged over :attr:`default_conf`:

        stream : str or None
            Name of the WiFi stream; None = the recording's only ``wifi`` stream.
        representation : {"dbm", "positive", "exponential", "powed"}
            Signal representation (Torres-Sospedra et al. 2015).
        metric : {"euclidean", "manhattan", "sorensen"}
            Distance between representations (``sorensen`` = Bray-Curtis).
        k : int
            Neighbours averaged for the position (>= 1).
        k_vote : int or None
            Neighbours voting for the building in the cascade (and for the floor with
            ``floor_model="knn"``); None = ``k``.
        weights : "uniform", "distance" or float
            Neighbour weights: equal, ``1 / d``, or ``1 / d ** p`` for a number ``p`` (>= 0).
        cascade : bool
            Building vote (``k_vote`` nearest), then the floor within that building, then the
            position from the ``k`` nearest references on that building and floor. False: the
            ``k`` nearest give position and building (and the floor with ``floor_model="knn"``).
        floor_model : {"logistic", "knn"}
            ``logistic``: the floor is given by a multinomial logistic regression per building
            on the unit-normalised representation (see the module docstring); ``knn``: by the
            weighted vote of the neighbours.
        floor_c : float
            Inverse L2 regularisation strength ``C`` of the logistic floor model (> 0).
        min_detected : int
            Scans hearing fewer known APs are left out of training and get no estimate
            (NaN position, floor and building -1) at prediction; a scan that hears no known
            AP never gets one.
        max_scan_age_s : float
            :meth:`predict_at` uses the latest scan at most this old (seconds).
        min_rss : float or None
            ``min`` of the positive/exponential/powed representations (dBm); None = the lowest
            RSS heard in the training data (learned, in ``min_rss_``).
        not_heard_dbm : float
            Value of a not-heard AP in the ``dbm`` representation.
        alpha : float
            ``exponential`` parameter (24 in the paper).
        beta : float
            ``powed`` exponent (e in the paper).
        batch_size : int
            Queries per distance batch (peak memory about ``4 x batch_size x references``
            float64: 140 MB for 256 queries against UJIIndoorLoc's 18,000 references).
    preset : str or list of str, optional
        One of :attr:`presets` (or several, applied in order): ``"uji"`` (the defaults, chosen
        on UJIIndoorLoc held out by recording), ``"paper"`` (the best setting reported by Torres-Sospedra et al. 2015 on
        UJIIndoorLoc: powed + Sorensen, 13-NN, floor by the neighbours' vote; equal weights here),
        ``"cascade"`` (building -> floor -> position) and ``"fast"`` (Euclidean: about half the
        time per query).

    Attributes
    ----------
    ap_ids_ : (A,) str
        Access point vocabulary (APs heard in training).
    X_data_, X_indices_, X_indptr_ : arrays
        Reference features as a CSR matrix (N, A), sorted by building then floor.
    positions_ : (N, 3) float64 m
    floors_, buildings_ : (N,) int64
    min_rss_ : float
        The ``min`` used by the representation.
    floor_coef_ : (R, A) float64
        Logistic floor model: one row of AP weights per (building, floor) class, grouped by building
        (R = 0 with ``floor_model="knn"``).
    floor_intercept_ : (R,) float64
    floor_labels_, floor_buildings_ : (R,) int64
        Floor and building of each row. Models saved without these (before the floor model
        existed) load with ``floor_model="knn"``, as they were fitted.
    """

    name = "knn"
    required_streams = ("wifi",)
    default_conf = {
        "stream": None,
        "representation": "positive",
        "metric": "sorensen",
        "k": 11,
        "k_vote": None,
        "weights": "distance",
        "cascade": False,
        "floor_model": "logistic",
        "floor_c": 10.0,
        "min_detected": 1,
        "max_scan_age_s": 5.0,
        "min_rss": None,
        "not_heard_dbm": -110.0,
        "alpha": 24.0,
        "beta": math.e,
        "batch_size": 256,
    }
    presets = {
        "uji": {
            "representation": "positive",
            "metric": "sorensen",
            "k": 11,
            "weights": "distance",
            "cascade": False,
            "floor_model": "logistic",
            "floor_c": 10.0,
        },
        "paper": {
            "representation": "powed",
            "metric": "sorensen",
            "k": 13,
            "weights": "uniform",
            "cascade": False,
            "floor_model": "knn",
        },
        "cascade": {"cascade": True, "k_vote": None},
        "fast": {"metric": "euclidean"},
    }

    #: keys whose value may have several types (the others must have their default's type)
    conf_types: ClassVar[dict[str, tuple[type, ...]]] = {"weights": (str, int, float)}

    def __init__(self, conf: dict | None = None, preset: str | list[str] | None = None):
        super().__init__(conf, preset)  # merges, type-checks and calls _check_conf
        self._cache: dict[str, Any] = {}

    def _check_conf(self) -> None:
        """Validate ranges and choices of :attr:`conf` (called at construction; needs no fitted state)."""
        c = self.conf
        if c["representation"] not in REPRESENTATIONS:
            raise ConfigError(f"knn representation must be one of {REPRESENTATIONS}, got {c['representation']!r}")
        if c["metric"] not in METRICS:
            raise ConfigError(f"knn metric must be one of {METRICS}, got {c['metric']!r}")
        for key in ("k", "batch_size"):
            if isinstance(c[key], bool) or not isinstance(c[key], (int, np.integer)) or c[key] < 1:
                raise ConfigError(f"knn {key} must be an integer >= 1, got {c[key]!r}")
        if c["k_vote"] is not None and (
            isinstance(c["k_vote"], bool) or not isinstance(c["k_vote"], (int, np.integer)) or c["k_vote"] < 1
        ):
            raise ConfigError(f"knn k_vote must be None or an integer >= 1, got {c['k_vote']!r}")
        w = c["weights"]
        if not (w in ("uniform", "distance") or (isinstance(w, (int, float)) and not isinstance(w, bool) and w >= 0)):
            raise ConfigError(f"knn weights must be 'uniform', 'distance' or a power >= 0, got {w!r}")
        if (
            isinstance(c["min_detected"], bool)
            or not isinstance(c["min_detected"], (int, np.integer))
            or c["min_detected"] < 0
        ):
            raise ConfigError(f"knn min_detected must be an integer >= 0, got {c['min_detected']!r}")
        if c["floor_model"] not in FLOOR_MODELS:
            raise ConfigError(f"knn floor_model must be one of {FLOOR_MODELS}, got {c['floor_model']!r}")
        if isinstance(c["floor_c"], bool) or not (isinstance(c["floor_c"], (int, float)) and c["floor_c"] > 0):
            raise ConfigError(f"knn floor_c must be a positive number, got {c['floor_c']!r}")
        if not (isinstance(c["max_scan_age_s"], (int, float)) and c["max_scan_age_s"] >= 0):
            raise ConfigError(f"knn max_scan_age_s must be a number >= 0 (seconds), got {c['max_scan_age_s']!r}")
        if c["min_rss"] is not None and not (isinstance(c["min_rss"], (int, float)) and c["min_rss"] < 0):
            raise ConfigError(f"knn min_rss must be None or a negative dBm value, got {c['min_rss']!r}")
        for key in ("alpha", "beta"):
            if not (isinstance(c[key], (int, float)) and c[key] > 0):
                raise ConfigError(f"knn {key} must be a positive number, got {c[key]!r}")
        if c["stream"] is not None and not isinstance(c["stream"], str):
            raise ConfigError(f"knn stream must be None or a stream name, got {c['stream']!r}")

    # ------------------------------------------------------------------ features
    def _features(self, rss: np.ndarray) -> np.ndarray:
        c = self.conf
        return rss_to_features(
            rss,
            c["representation"],
            float(self.min_rss_),
            alpha=float(c["alpha"]),
            beta=float(c["beta"]),
            not_heard_dbm=float(c["not_heard_dbm"]),
        )

    def _scans(self, rec: Recording):
        """(times (M,), RSS (M, A) on the AP vocabulary, NaN = not heard) of a recording's WiFi stream."""
        s = rec.find_stream("wifi", self.conf["stream"])
        vals = np.asarray(s.load(), dtype=np.float32)
        maps = self._cache.setdefault("id_maps", {})
        key = tuple(s.ids.tolist())
        if key not in maps:  # stream columns -> vocabulary columns, once per distinct id list
            col = {a: i for i, a in enumerate(self.ap_ids_.tolist())}
            src = [(j, col[a]) for j, a in enumerate(key) if a in col]
            maps[key] = tuple(np.array(v, dtype=np.int64) for v in zip(*src)) if src else None
        out = np.full((len(s.t), len(self.ap_ids_)), np.nan, dtype=np.float32)
        if maps[key] is not None:
            js, cs = maps[key]
            out[:, cs] = vals[:, js]
        return s.t, out

    # ------------------------------------------------------------------ fit
    def fit(self, train: Dataset, val: Dataset | None = None) -> KNNLocalizer:
        """Store the reference fingerprints of ``train`` (``val`` is not used)."""
        c = self.conf
        ids: dict[str, int] = {}
        parts = []
        for rec in train:
            s = rec.find_stream("wifi", c["stream"])
            if len(s) == 0:
                continue
            if rec.position is None:
                raise DataError(f"training recording '{rec.name}' has no ground-truth position", field="position")
            gt = truth_at(rec, s.t)  # fingerprints: scans on the pose timeline, matched row by row
            ok = gt["inside"] & np.all(np.isfinite(gt["position"]), axis=1)
            n = len(s)
            floor = gt.get("floor") if gt.get("floor") is not None else np.zeros(n, dtype=np.int64)
            building = gt.get("building") if gt.get("building") is not None else np.zeros(n, dtype=np.int64)
            for a in s.ids.tolist():
                ids.setdefault(a, len(ids))
            parts.append(
                (
                    np.array([ids[a] for a in s.ids.tolist()], dtype=np.int64),
                    np.asarray(s.load())[ok],
                    gt["position"][ok],
                    np.asarray(floor)[ok],
                    np.asarray(building)[ok],
                )
            )
        if not parts or sum(len(p[1]) for p in parts) == 0:
            raise DataError(f"no WiFi scans with ground truth in training dataset '{train.name}'", field="streams/wifi")
        n_total = sum(len(p[1]) for p in parts)
        rss = np.full((n_total, len(ids)), np.nan, dtype=np.float32)
        row = 0
        for cols, vals, *_ in parts:
            rss[row : row + len(vals)][:, cols] = vals
            row += len(vals)
        pos = np.concatenate([p[2] for p in parts]).astype(np.float64)
        floors = np.concatenate([p[3] for p in parts]).astype(np.int64)
        buildings = np.concatenate([p[4] for p in parts]).astype(np.int64)

        heard_ap = np.isfinite(rss).any(axis=0)
        if not heard_ap.any():
            raise DataError(f"no access point is heard in training dataset '{train.name}'", field="streams/wifi")
        rss = rss[:, heard_ap]
        ap_ids = np.array(list(ids), dtype=str)[heard_ap]
        keep = np.isfinite(rss).sum(axis=1) >= c["min_detected"]
        if not keep.any():
            raise DataError(
                f"no training scan hears at least min_detected={c['min_detected']} access points", field="streams/wifi"
            )
        order = np.lexsort((np.arange(keep.sum()), floors[keep], buildings[keep]))
        rss, pos, floors, buildings = rss[keep][order], pos[keep][order], floors[keep][order], buildings[keep][order]

        self.ap_ids_ = ap_ids
        self.min_rss_ = float(c["min_rss"]) if c["min_rss"] is not None else float(np.nanmin(rss))
        if self.min_rss_ >= 0:  # only 0 dBm readings: keep the representations defined
            self.min_rss_ = -1.0
        from scipy import sparse

        X = sparse.csr_matrix(self._features(rss))
        X.sort_indices()
        self.X_data_ = X.data.astype(np.float32)
        self.X_indices_ = X.indices.astype(np.int32)
        self.X_indptr_ = X.indptr.astype(np.int64)
        self.positions_ = pos
        self.floors_ = floors
        self.buildings_ = buildings
        self._fit_floor_model(X)
        self._cache = {}
        return self

    def _fit_floor_model(self, X) -> None:
        """Logistic floor model per building on the unit-normalised reference features ``X`` (CSR, sorted).

        Stores only arrays (coefficients, intercepts, labels): prediction needs no scikit-learn and
        a loaded model predicts identically.
        """
        a = X.shape[1]
        coef, icpt, labels, blds = [np.zeros((0, a))], [np.zeros(0)], [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        if self.conf["floor_model"] == "logistic":
            from sklearn.linear_model import LogisticRegression

            U = _unit_rows(X)
            for b in np.unique(self.buildings_):
                rows = np.flatnonzero(self.buildings_ == b)
                fl = np.unique(self.floors_[rows])
                if len(fl) == 1:  # one floor: a constant class
                    coef.append(np.zeros((1, a)))
                    icpt.append(np.zeros(1))
                else:
                    lr = LogisticRegression(
                        C=float(self.conf["floor_c"]), class_weight="balanced", max_iter=5000, tol=1e-8
                    )
                    lr.fit(U[rows], self.floors_[rows])
                    w, w0 = lr.coef_, lr.intercept_
                    if len(fl) == 2:  # binary: one row of log-odds of the second class
                        w, w0 = np.vstack([np.zeros(a), w[0]]), np.r_[0.0, w0[0]]
                    coef.append(np.asarray(w, dtype=np.float64))
                    icpt.append(np.asarray(w0, dtype=np.float64))
                labels.append(fl.astype(np.int64))
                blds.append(np.full(len(fl), b, dtype=np.int64))
        self.floor_coef_ = np.vstack(coef)
        self.floor_intercept_ = np.concatenate(icpt)
        self.floor_labels_ = np.concatenate(labels)
        self.floor_buildings_ = np.concatenate(blds)

    def _floor_logistic(self, Q: np.ndarray, building: np.ndarray) -> np.ndarray:
        """Floors of query features ``Q`` (q, A) in buildings ``building`` (q,) from the logistic model."""
        out = np.full(len(Q), -1, dtype=np.int64)
        U = None
        for b in np.unique(building):
            r = np.flatnonzero(self.floor_buildings_ == b)
            sel = np.flatnonzero(building == b)
            if len(r) == 0:
                continue
            if U is None:
                U = _unit_rows(Q)
            score = U[sel] @ self.floor_coef_[r].T + self.floor_intercept_[r]
            out[sel] = self.floor_labels_[r[np.argmax(score, axis=1)]]
        return out

    @classmethod
    def _from_folder(cls, path, meta: dict) -> KNNLocalizer:
        """Load a saved model; one saved before the floor model existed is loaded with the floor
        model it was fitted with (``floor_model="knn"``, the neighbours' vote)."""
        conf = meta.get("conf")
        if isinstance(conf, dict) and "floor_model" not in conf:
            meta = dict(meta, conf=dict(conf, floor_model="knn"))
        return super()._from_folder(path, meta)

    def _set_state(self, state: dict[str, Any]) -> None:
        if "floor_coef_" not in state:
            if self.conf["floor_model"] != "knn":
                raise KeyError("floor_coef_ (the logistic floor model) is not in the saved state")
            a = len(state["ap_ids_"])
            state = dict(
                state,
                floor_coef_=np.zeros((0, a)),
                floor_intercept_=np.zeros(0),
                floor_labels_=np.zeros(0, dtype=np.int64),
                floor_buildings_=np.zeros(0, dtype=np.int64),
            )
        super()._set_state(state)
        self.ap_ids_ = np.asarray(self.ap_ids_, dtype=str)
        self.min_rss_ = float(self.min_rss_)
        self._cache = {}

    # ------------------------------------------------------------------ search
    def _index(self) -> dict[str, Any]:
        """Search structures rebuilt from the state (not saved)."""
        if "n" in self._cache:
            return self._cache
        from scipy import sparse

        n, a = len(self.positions_), len(self.ap_ids_)
        X = sparse.csr_matrix((self.X_data_.astype(np.float64), self.X_indices_, self.X_indptr_), shape=(n, a))
        Xc = X.tocsc()
        Xc.sort_indices()
        blocks_b, blocks_bf = {}, {}
        key = np.c_[self.buildings_, self.floors_]
        for b in np.unique(self.buildings_):
            idx = np.flatnonzero(self.buildings_ == b)
            blocks_b[int(b)] = (int(idx[0]), int(idx[-1]) + 1)
        for b, f in np.unique(key, axis=0):
            idx = np.flatnonzero((key[:, 0] == b) & (key[:, 1] == f))
            blocks_bf[(int(b), int(f))] = (int(idx[0]), int(idx[-1]) + 1)
        self._cache.update(
            {
                "n": n,
                "XT": X.T.tocsr(),
                "Xc": Xc,  # references by row (Euclidean) and by access point (L1)
                "sum": np.asarray(X.sum(axis=1)).ravel(),
                "sq": np.asarray(X.multiply(X).sum(axis=1)).ravel(),
                "blocks_b": blocks_b,
                "blocks_bf": blocks_bf,  # column ranges of each building, (building, floor)
            }
        )
        return self._cache

    def _distances(self, Q: np.ndarray) -> np.ndarray:
        """Exact (q, N) distances from features ``Q`` (q, A) to every reference; exact matches are 0."""
        ix = self._index()
        metric = self.conf["metric"]
        Q = np.asarray(Q, dtype=np.float64)
        if metric == "euclidean":
            from scipy import sparse

            dot = (sparse.csr_matrix(Q) @ ix["XT"]).toarray()
            qs = np.einsum("ij,ij->i", Q, Q)
            scale = qs[:, None] + ix["sq"][None, :]
            d2 = scale - 2.0 * dot
            d2[d2 <= 1e-10 * scale] = 0.0
            return np.sqrt(d2)
        Xc = ix["Xc"]
        m = np.zeros((len(Q), ix["n"]))
        for j in np.flatnonzero((Q > 0).any(axis=0)):
            lo, hi = Xc.indptr[j], Xc.indptr[j + 1]
            if lo == hi:
                continue
            iq = np.flatnonzero(Q[:, j] > 0)
            m[np.ix_(iq, Xc.indices[lo:hi])] += np.minimum.outer(Q[iq, j], Xc.data[lo:hi])
        scale = Q.sum(axis=1)[:, None] + ix["sum"][None, :]
        l1 = scale - 2.0 * m
        l1[l1 <= 1e-10 * scale] = 0.0
        if metric == "manhattan":
            return l1
        return np.divide(l1, scale, out=np.where(scale > 0, 1.0, 0.0) * (l1 > 0), where=scale > 0)

    @staticmethod
    def _nearest(D: np.ndarray, k: int, lo: int = 0, hi: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest columns of ``D[:, lo:hi]`` per row, sorted by distance (indices into all columns)."""
        sub = D[:, lo:hi]
        k = min(k, sub.shape[1])
        if k < sub.shape[1]:
            idx = np.argpartition(sub, k - 1, axis=1)[:, :k]
        else:
            idx = np.broadcast_to(np.arange(sub.shape[1]), sub.shape)
        d = np.take_along_axis(sub, idx, axis=1)
        o = np.lexsort((idx, d), axis=1)  # by distance, then reference order
        return np.take_along_axis(idx, o, axis=1) + lo, np.take_along_axis(d, o, axis=1)

    def _weights(self, d: np.ndarray) -> np.ndarray:
        w = self.conf["weights"]
        if w == "uniform":
            return np.ones_like(d)
        p = 1.0 if w == "distance" else float(w)
        exact = d <= 0
        with np.errstate(divide="ignore"):
            out = np.where(exact, 1.0, 1.0 / np.power(np.where(exact, 1.0, d), p))
        has_exact = exact.any(axis=1)
        out[has_exact] = exact[has_exact].astype(np.float64)
        return out

    def _estimate(self, Q: np.ndarray):
        """Position (q, 3), floor (q,), building (q,) for query features ``Q`` (q, A)."""
        c = self.conf
        k, kv = int(c["k"]), int(c["k_vote"] or c["k"])
        logistic = c["floor_model"] == "logistic"
        ix = self._index()
        nq = len(Q)
        pos = np.full((nq, 3), np.nan)
        floor = np.full(nq, -1, dtype=np.int64)
        building = np.full(nq, -1, dtype=np.int64)
        step = int(c["batch_size"])
        for s0 in range(0, nq, step):
            D = self._distances(Q[s0 : s0 + step])
            rows = np.arange(s0, min(s0 + step, nq))
            if not c["cascade"]:
                idx, d = self._nearest(D, k)
                w = self._weights(d)
                pos[rows] = np.einsum("qk,qkc->qc", w, self.positions_[idx]) / w.sum(axis=1, keepdims=True)
                building[rows] = _vote(self.buildings_[idx], w)
                floor[rows] = self._floor_logistic(Q[rows], building[rows]) if logistic else _vote(self.floors_[idx], w)
                continue
            idx, d = self._nearest(D, kv)
            bq = _vote(self.buildings_[idx], self._weights(d))
            building[rows] = bq
            if logistic:
                floor[rows] = self._floor_logistic(Q[rows], bq)
            for b in np.unique(bq):
                sel = np.flatnonzero(bq == b)
                if logistic:
                    fq = floor[rows[sel]]
                else:
                    lo, hi = ix["blocks_b"][int(b)]
                    idx, d = self._nearest(D[sel], kv, lo, hi)
                    fq = _vote(self.floors_[idx], self._weights(d))
                    floor[rows[sel]] = fq
                for f in np.unique(fq):
                    sf = sel[fq == f]
                    lo, hi = ix["blocks_bf"][(int(b), int(f))]
                    idx, d = self._nearest(D[sf], k, lo, hi)
                    w = self._weights(d)
                    pos[rows[sf]] = np.einsum("qk,qkc->qc", w, self.positions_[idx]) / w.sum(axis=1, keepdims=True)
        return pos, floor, building

    def _predict_rss(self, rss: np.ndarray):
        """Estimates for (M, A) RSS rows on the vocabulary; rows with too few heard APs get NaN / -1."""
        ok = np.isfinite(rss).sum(axis=1) >= max(int(self.conf["min_detected"]), 1)
        pos = np.full((len(rss), 3), np.nan)
        floor = np.full(len(rss), -1, dtype=np.int64)
        building = np.full(len(rss), -1, dtype=np.int64)
        if ok.any():
            pos[ok], floor[ok], building[ok] = self._estimate(self._features(rss[ok]))
        return pos, floor, building

    # ------------------------------------------------------------------ predict
    def predict_recording(self, rec: Recording) -> Estimate:
        """One estimate per WiFi scan of ``rec``, at the scan time."""
        self._check_fitted()
        t, rss = self._scans(rec)
        pos, floor, building = self._predict_rss(rss)
        return Estimate(np.full(len(t), rec.name), t, pos, floor=floor, building=building)

    def predict_at(self, rec: Recording, t_query) -> Estimate:
        """Estimates at arbitrary times ``t_query`` (seconds) from the latest scan at most ``max_scan_age_s`` old.

        Times with no such scan get a NaN position and floor = building = -1.
        """
        self._check_fitted()
        t_query = np.asarray(t_query, dtype=np.float64).reshape(-1)
        s = rec.find_stream("wifi", self.conf["stream"])
        idx = latest_index(s, t_query, float(self.conf["max_scan_age_s"]))
        _, rss = self._scans(rec)
        used = np.unique(idx[idx >= 0])
        pos = np.full((len(t_query), 3), np.nan)
        floor = np.full(len(t_query), -1, dtype=np.int64)
        building = np.full(len(t_query), -1, dtype=np.int64)
        if len(used):
            p, f, b = self._predict_rss(rss[used])
            where = np.searchsorted(used, idx[idx >= 0])
            pos[idx >= 0], floor[idx >= 0], building[idx >= 0] = p[where], f[where], b[where]
        return Estimate(np.full(len(t_query), rec.name), t_query, pos, floor=floor, building=building)
