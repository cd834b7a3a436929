"""OT-Isomap: weakly supervised, modality-agnostic localization on a floor plan.

Ghazvinian Zanjani et al., "Modality-agnostic topology aware localization", NeurIPS 2021
(``../shared/papers/ot-isomap.txt``). OT-Isomap is the subject of a Qualcomm patent application
(US 2022/0383114); check its status before commercial use.

Training needs no positions: only one sensor stream per recording, the floor plan, and a zone
(room) label per sample. The pipeline (Fig. 2 of the paper):

1. **metric learning** (Sec. 3.3.1, Eq. 5): an encoder ``Psi`` trained with a triplet margin
   loss on (anchor, temporally close positive, temporally distant negative);
2. **prototypes**: k-means on the learned features; ``K`` nearest prototypes in that space;
3. **push-forward distances** (Sec. 3.3.2, Eq. 6): Mahalanobis distances between neighbouring
   prototypes with the pseudo-inverse of each cluster's covariance;
4. **geodesics**: Dijkstra on the neighbour graph gives ``D_s`` (disconnected parts are joined
   by their shortest bridges and reported in ``graph_info_``);
5. **joint embedding and transport** (Eq. 1-4, Algorithm 1): an MLP ``phi`` from features to
   2-D minimising ``KL(D_s || D_hat) + lambda <T, C>``, ``C_ij = kappa_ij ||phi(x_i) - y_j||^2``,
   ``y_j`` dense free-space samples of the floor plan, ``kappa_ij > 1`` across zone labels, ``T``
   the entropic plan (POT log-domain Sinkhorn) with the entropy annealed from high to low;
6. **prediction**: ``phi(Psi(x))`` for any new sample, optionally smoothed along a recording.

Floors: every floor plan seen in training is a panel of one 2-D canvas (floors side by side);
the zone labels route samples to their floor's panel, and the panel a prediction falls in is
its floor.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from .._errors import ConfigError, DataError
from ..data import Dataset, Estimate, Recording
from ..data.align import truth_at
from ..nn import manifold
from ..nn import training as _training
from ..nn.training import (
    RESUME,
    TRAINER_DEFAULTS,
    TRAINER_TYPES,
    TrainingModule,
    fit_lightning,
    reseed,
    seeded,
    uses_cuda,
)
from ..nn.transport import SinkhornLoss, annealed, distance_kl, pairwise_distances, zone_penalty
from .base import Localizer

__all__ = ["OTIsomapLocalizer", "STREAM_PREFERENCE"]

#: stream kinds tried in this order when ``conf['stream']`` is None
STREAM_PREFERENCE = ("wifi", "image", "rgb", "depth", "vector", "magnetometer", "imu")
_IMAGE_KINDS = ("rgb", "depth", "image")


class OTIsomapLocalizer(Localizer):
    """OT-Isomap (see the module docstring for the pipeline and the paper).

    Configuration (``default_conf``; nested sections merge key by key):

    * ``stream``: name of the stream to localize from; ``None`` takes the first kind present in
      :data:`STREAM_PREFERENCE`. Any kind works: vectors (WiFi dBm with NaN = not heard,
      magnetometer, ...) and images (``rgb``, ``depth``, ``image``).
    * ``wifi_missing_dbm``: value of WiFi readings not heard (NaN), dBm.
    * ``device_height_m``: height above the floor written into predicted positions (z).
    * ``seed``: seeds k-means, the triplets and the network initialisation.
    * ``metric``: the metric-learning network ``Psi`` (Eq. 5):
      ``enabled`` (False = raw-input ablation: features are the standardised input, PCA-reduced to
      ``raw_pca_dim`` when larger), ``dim`` (feature size), ``encoder`` (``auto`` | ``mlp`` |
      ``cnn``), ``hidden`` (MLP widths), ``widths`` (CNN channels), ``margin`` (alpha of Eq. 5),
      ``pos_max_s`` (positives at most this far in time), ``neg_min_s`` / ``neg_max_s`` (negatives
      between these temporal distances, the upper bound of Sec. 3.3.1), ``triplets_per_anchor``,
      ``epochs``, ``batch_size``, ``lr``.
    * ``prototypes``: ``n`` (k-means clusters ``N_s``; capped at a third of the samples),
      ``k_neighbours`` (K of the KNN graph), ``distance`` (``mahalanobis`` = Eq. 6, or
      ``euclidean`` ablation), ``pinv_rcond`` (relative eigenvalue cut of the pseudo-inverse),
      ``pinv_rank`` (keep at most this many principal directions; None = all above the cut),
      ``temporal_edges`` (also link prototypes visited consecutively in a recording).
    * ``embedding``: ``phi`` and Algorithm 1: ``hidden`` (MLP widths), ``steps``, ``lr``,
      ``lambda_ot`` (lambda of Eq. 1), ``zone_penalty`` (kappa for differing zone labels; 1 = no
      penalty ablation), ``entropy`` ([start, end] of the annealed regulariser ``1/lambda`` of
      Eq. 2, in units of the squared half-size of the largest floor), ``schedule`` (``linear`` as
      in the paper, or ``geometric``), ``sinkhorn_iter`` and ``sinkhorn_tol`` (per step, warm
      started), ``target_relax`` (None = balanced OT; a number relaxes the target marginal with
      that KL weight, so free space no recording visited may stay empty), ``floor_spacing_m`` /
      ``floor_margin_m`` (free-space target grid ``y_j``),
      ``source_mass`` (``uniform`` over prototypes, or ``samples``: proportional to cluster size),
      ``target_mass`` (``uniform`` over floor samples, or ``zones``: each zone gets the share of
      training samples labelled with it, spread uniformly over its free space), ``transport``
      (False = no-OT ablation: classical MDS of ``D_s`` aligned to the zone centroids by a
      similarity Procrustes, then ``phi`` regressed onto it), ``kl_quantile`` (below 1: the KL term
      only compares prototype pairs with ``D_s`` at most this quantile of the off-diagonal
      distances), ``parametric`` (False: the prototypes' 2-D coordinates are free parameters of
      Algorithm 1 and ``phi`` is regressed onto them afterwards), ``batch_prototypes`` (None = all
      prototypes in every step; a number: a random mini-batch of prototypes per step, memory
      ``B x Nt``), ``n_init`` (restarts of Algorithm 1 with seeds ``seed + 1000 r``; the run with
      the lowest final loss is kept).
      ``refine`` (``"fgw"`` or None): after Algorithm 1, match the prototype geodesics ``D_s`` to
      the floor plan's walking distances ``D_t`` between the ``y_j`` (an addition to the paper,
      see :meth:`OTIsomapLocalizer._refine`): semi-relaxed fused Gromov-Wasserstein (POT),
      started from Algorithm 1's placement, with zone mismatch as the feature cost and weight
      ``refine_alpha`` on the structure term; then weighted-stress descent with the weight
      exponents ``refine_powers`` in turn (global to local); ``phi`` is then fine-tuned for
      ``refine_steps`` steps onto the refined prototype positions. ``refine_max_targets`` caps the
      floor samples of ``D_t`` (a random subset beyond it; memory ``Nt^2``).
    * ``predict``: ``smooth_s`` (Gaussian smoothing of the 2-D track along a recording, sigma in
      seconds; 0 = none), ``batch_size``.
    * ``trainer``: :data:`omniloc.nn.training.TRAINER_DEFAULTS`: ``accelerator``, ``devices``,
      ``strategy``, ``num_nodes``, ``process_group_backend``, ``progress``, ``checkpoint_dir``
      (stage folders ``metric``, ``embedding-<r>``, ``embedding-<r>-regression``,
      ``refine-regression``) and ``resume`` (``"auto"``: resume a stage whose checkpoint
      fingerprint, a hash of this conf without ``predict`` and of the stage's data, matches, and
      refuse otherwise; ``"never"``: start fresh, the old stage folder kept aside).
    """

    name: ClassVar[str] = "otisomap"
    required_streams: ClassVar[tuple[str, ...]] = ()
    conf_types: ClassVar[dict[str, tuple[type, ...]]] = dict(TRAINER_TYPES)
    default_conf: ClassVar[dict] = {
        "stream": None,
        "wifi_missing_dbm": -100.0,
        "device_height_m": 1.3,
        "seed": 0,
        "metric": {
            "enabled": True,
            "dim": 16,
            "encoder": "auto",
            "hidden": [256, 128],
            "widths": [16, 32, 64, 64],
            "margin": 1.0,
            "pos_max_s": 3.0,
            "neg_min_s": 10.0,
            "neg_max_s": 60.0,
            "triplets_per_anchor": 8,
            "epochs": 15,
            "batch_size": 256,
            "lr": 1e-3,
            "raw_pca_dim": 64,
        },
        "prototypes": {
            "n": 300,
            "k_neighbours": 4,
            "distance": "mahalanobis",
            "pinv_rcond": 1e-3,
            "pinv_rank": None,
            "temporal_edges": True,
        },
        "embedding": {
            "hidden": [128, 128],
            "steps": 1500,
            "lr": 3e-3,
            "lambda_ot": 10.0,
            "kl_quantile": 1.0,
            "zone_penalty": 10.0,
            "entropy": [0.05, 0.0005],
            "schedule": "linear",
            "sinkhorn_iter": 10,
            "sinkhorn_tol": 1e-2,
            "target_relax": None,
            "floor_spacing_m": 1.0,
            "floor_margin_m": 0.2,
            "source_mass": "uniform",
            "target_mass": "zones",
            "transport": True,
            "parametric": True,
            "batch_prototypes": None,
            "n_init": 1,
            "refine": "fgw",
            "refine_alpha": 0.5,
            "refine_powers": [0.5, 1.0, 1.5, 2.0],
            "refine_max_targets": 6000,
            "refine_steps": 500,
        },
        "predict": {"smooth_s": 0.0, "batch_size": 1024},
        "trainer": dict(TRAINER_DEFAULTS),
    }
    presets: ClassVar[dict[str, dict]] = {
        # the paper's synthetic maze: 7x7 patches every pixel at 1 px/s
        # (a solution path never comes back, so every far sample of a walk is a true negative)
        "maze": {
            "metric": {"pos_max_s": 2.0, "neg_min_s": 4.0, "neg_max_s": 1000.0},
            "prototypes": {"k_neighbours": 0},
            "embedding": {"floor_spacing_m": 0.5, "floor_margin_m": 0.2},
        },
        # WiFi scans every 1-4 s
        "wifi": {"stream": "wifi", "metric": {"pos_max_s": 4.0, "neg_min_s": 12.0, "neg_max_s": 60.0}},
        # a camera at a few frames per second
        "camera": {
            "stream": "rgb",
            "metric": {"pos_max_s": 1.5, "neg_min_s": 8.0, "neg_max_s": 60.0, "triplets_per_anchor": 2, "epochs": 6},
        },
        # seconds-long smoke runs (tests, --quick benches)
        "quick": {
            "metric": {"epochs": 3, "dim": 8},
            "prototypes": {"n": 60},
            "embedding": {"steps": 150, "floor_spacing_m": 1.0},
            "trainer": {"progress": False},
        },
    }

    # ------------------------------------------------------------------ configuration
    def _check_conf(self) -> None:
        """Validate the merged conf (a :class:`~omniloc.ConfigError` naming the key and what was expected)."""
        c = self.conf
        choices = {
            "metric.encoder": ("auto", "mlp", "cnn"),
            "prototypes.distance": ("mahalanobis", "euclidean"),
            "embedding.schedule": ("linear", "geometric"),
            "embedding.source_mass": ("uniform", "samples"),
            "embedding.target_mass": ("uniform", "zones"),
            "embedding.refine": ("fgw", None),
            "trainer.resume": RESUME,
        }
        for key, allowed in choices.items():
            section, name = key.split(".")
            if c[section][name] not in allowed:
                raise ConfigError(f"{key} must be one of {list(allowed)}, got {c[section][name]!r}")
        for key in ("metric.epochs", "metric.batch_size", "embedding.steps", "predict.batch_size"):
            section, name = key.split(".")
            if int(c[section][name]) < 1:
                raise ConfigError(f"{key} must be a positive integer, got {c[section][name]!r}")

    # ------------------------------------------------------------------ data
    def _stream_of(self, rec: Recording):
        name = self.conf["stream"] if self.conf["stream"] is not None else getattr(self, "stream_name_", None)
        if name is not None:
            return rec.stream(name)
        for kind in STREAM_PREFERENCE:
            if rec.streams_of_kind(kind):
                return rec.find_stream(kind)
        raise DataError(
            f"recording '{rec.name}' has no stream OT-Isomap can use; it has {sorted(rec.streams)}", field="streams"
        )

    def _raw(self, rec: Recording) -> tuple[np.ndarray, np.ndarray]:
        """(times (N,), float32 array (N, D) or (N, C, H, W)) of the chosen stream, ids aligned."""
        s = self._stream_of(rec)
        x = np.asarray(s.values)
        if s.kind == "wifi":
            ids = getattr(self, "stream_ids_", None)
            if ids is not None and s.ids is not None and list(s.ids) != list(ids):
                pos = {str(k): i for i, k in enumerate(s.ids)}
                aligned = np.full((len(x), len(ids)), np.nan, dtype=np.float32)
                for j, k in enumerate(ids):
                    if str(k) in pos:
                        aligned[:, j] = x[:, pos[str(k)]]
                x = aligned
            x = np.where(np.isfinite(x), x, self.conf["wifi_missing_dbm"]).astype(np.float32)
        elif s.kind == "rgb":
            x = np.moveaxis(x.astype(np.float32) / 255.0, -1, 1)
        elif s.kind in ("depth", "image"):
            x = x.astype(np.float32)
            x = x[:, None] if x.ndim == 3 else np.moveaxis(x, -1, 1)
            x = np.nan_to_num(x)
        else:
            x = x.astype(np.float32).reshape(len(x), -1)
        return np.asarray(s.t, dtype=np.float64), x

    def _normalise(self, x: np.ndarray) -> np.ndarray:
        x = (x - self.input_mean_) / self.input_std_
        return np.nan_to_num(x).astype(np.float32)

    def _features(self, x: np.ndarray) -> np.ndarray:
        """Learned (or raw) features of normalised inputs: (N, d) float32."""
        if not self.conf["metric"]["enabled"]:
            f = x.reshape(len(x), -1)
            if self.raw_pca_components_.size:
                f = (f - self.raw_pca_mean_) @ self.raw_pca_components_.T
            return f.astype(np.float32)
        bs = int(self.conf["predict"]["batch_size"])
        self._encoder.eval()
        out = []
        with torch.no_grad():
            for i in range(0, len(x), bs):
                out.append(self._encoder(torch.from_numpy(x[i : i + bs])).numpy())
        return np.concatenate(out) if out else np.zeros((0, int(self.conf["metric"]["dim"])), np.float32)

    # ------------------------------------------------------------------ canvas
    def _layout(self, plans: list) -> None:
        """Place the floor plans side by side on one canvas; sets ``panel_*_`` and the scale."""
        sizes = np.array([[p.bounds[2] - p.bounds[0], p.bounds[3] - p.bounds[1]] for p in plans])
        axis = 1 if sizes[:, 0].max() >= sizes[:, 1].max() else 0  # stack along the short side
        gap = 0.5 * sizes[:, axis].max()
        offsets = np.zeros((len(plans), 2))
        pos = 0.0
        for i, p in enumerate(plans):
            offsets[i, axis] = pos - p.bounds[axis]
            offsets[i, 1 - axis] = -p.bounds[1 - axis]
            pos += sizes[i, axis] + gap
        self.panel_offset_ = offsets  # canvas = metres + offset
        self.panel_floor_ = np.array([int(p.floor) for p in plans], dtype=np.int64)
        self.panel_building_ = np.array([int(p.building) for p in plans], dtype=np.int64)
        self.panel_elevation_m_ = np.array([float(p.elevation_m) for p in plans])
        lo = np.min([p.bounds[:2] + o for p, o in zip(plans, offsets)], axis=0)
        hi = np.max([p.bounds[2:] + o for p, o in zip(plans, offsets)], axis=0)
        self.canvas_centre_ = 0.5 * (lo + hi)
        self.canvas_scale_ = float(0.5 * sizes.max())  # one unit of the normalised canvas, metres

    def _to_unit(self, canvas_xy: np.ndarray) -> np.ndarray:
        return (canvas_xy - self.canvas_centre_) / self.canvas_scale_

    def _from_unit(self, u: np.ndarray) -> np.ndarray:
        return u * self.canvas_scale_ + self.canvas_centre_

    def _canvas_to_floor(self, canvas_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Panel of each canvas point (the nearest free-space sample's) and its plan coordinates."""
        from scipy.spatial import cKDTree

        if getattr(self, "_target_tree", None) is None:
            self._target_tree = cKDTree(self.target_canvas_)  # built once per fitted/loaded model
        _, j = self._target_tree.query(canvas_xy)
        panel = self.target_panel_[j]
        return panel, canvas_xy - self.panel_offset_[panel]

    # ------------------------------------------------------------------ fit
    def fit(self, train: Dataset, val: Dataset | None = None) -> OTIsomapLocalizer:
        """Learn the embedding from ``train``'s stream, zone labels and floor plans (no positions).

        ``val`` is not used (there are no labels to validate against in the weakly supervised setting).
        """
        self._check_conf()
        t0 = time.perf_counter()
        with seeded(int(self.conf["seed"]), uses_cuda(self.conf["trainer"])):
            self._fit(train)
        self.fit_seconds_ = time.perf_counter() - t0
        return self

    def _fit(self, train: Dataset) -> None:
        c = self.conf
        rng = np.random.default_rng(c["seed"])
        recs = list(train)
        if not recs:
            raise DataError("the training dataset has no recordings", field="recordings")
        first = self._stream_of(recs[0])
        self.stream_name_ = next(k for k, s in recs[0].streams.items() if s is first)
        self.stream_kind_ = first.kind
        self.stream_ids_ = None if first.ids is None else np.asarray(first.ids).astype(str)
        xs, ts, groups, zones = [], [], [], []
        for g, rec in enumerate(recs):
            t, x = self._raw(rec)
            if rec.zone is None:
                raise DataError(
                    f"recording '{rec.name}' has no zone labels; OT-Isomap needs one per sample", field="zone"
                )
            truth = truth_at(rec, t)  # zone / floor / building of the nearest pose
            fl = truth.get("floor", np.full(len(t), -1))
            bl = truth.get("building", np.full(len(t), -1))
            zones.append(np.array([f"{b}|{f}|{z}" for b, f, z in zip(bl, fl, truth["zone"])]))
            xs.append(x)
            ts.append(t)
            groups.append(np.full(len(t), g))
        x = np.concatenate(xs)
        t = np.concatenate(ts)
        group = np.concatenate(groups)
        sample_zone = np.concatenate(zones)
        if len(x) < 8:
            raise DataError(
                f"only {len(x)} samples of stream '{self.stream_name_}' in the training data; "
                "OT-Isomap needs at least 8",
                field=f"streams/{self.stream_name_}",
            )
        # normalisation: per channel for images, per feature for vectors
        axes = (0, 2, 3) if x.ndim == 4 else (0,)
        self.input_mean_ = x.mean(axis=axes, keepdims=True)[0].astype(np.float32)
        self.input_std_ = np.maximum(x.std(axis=axes, keepdims=True)[0], 1e-3).astype(np.float32)
        self.input_shape_ = [int(v) for v in x.shape[1:]]
        xn = self._normalise(x)

        # 1. metric learning (Eq. 5)
        self._fit_metric(xn, t, group, rng)
        feats = self._features(xn)
        self.feature_mean_ = feats.mean(0)
        self.feature_std_ = np.maximum(feats.std(0), 1e-6)

        # 2. prototypes
        from sklearn.cluster import KMeans

        n_distinct = len(np.unique(np.round(feats, 5), axis=0))
        n_proto = int(min(c["prototypes"]["n"], max(2, len(x) // 3), n_distinct))
        km = KMeans(n_clusters=n_proto, n_init=3, random_state=int(c["seed"])).fit(feats)
        labels = km.labels_
        protos = km.cluster_centers_.astype(np.float64)
        # 3. push-forward distances between K nearest prototypes (Eq. 6)
        pairs = manifold.knn_pairs(protos, c["prototypes"]["k_neighbours"])
        if c["prototypes"]["temporal_edges"]:
            lab = labels[np.lexsort((t, group))]
            grp = group[np.lexsort((t, group))]
            step = (lab[1:] != lab[:-1]) & (grp[1:] == grp[:-1])
            extra = np.sort(np.stack([lab[:-1][step], lab[1:][step]], axis=1), axis=1)
            pairs = np.unique(np.vstack([pairs, extra]), axis=0)
        if c["prototypes"]["distance"] == "mahalanobis":
            cov, _ = manifold.local_covariances(feats, labels, n_proto)
            lengths = manifold.pushforward_distances(
                protos, cov, pairs, c["prototypes"]["pinv_rcond"], c["prototypes"]["pinv_rank"]
            )
        else:
            lengths = np.linalg.norm(protos[pairs[:, 0]] - protos[pairs[:, 1]], axis=1)
        # 4. geodesics (Dijkstra), disconnected parts joined and reported
        d_geo, info = manifold.geodesic_distances(n_proto, pairs, lengths, points=protos)
        self.graph_info_ = {
            "n_prototypes": n_proto,
            "n_edges": int(len(pairs)) + len(info["bridges"]),
            "n_components": info["n_components"],
            "n_bridges": len(info["bridges"]),
        }

        # targets: free-space samples of every floor seen in training, on one canvas
        plans = self._training_plans(train, sample_zone)
        self._layout(plans)
        tgt, tgt_panel, tgt_key = [], [], []
        for i, p in enumerate(plans):
            pts, zl = p.sample_free_space(c["embedding"]["floor_spacing_m"], c["embedding"]["floor_margin_m"])
            if len(pts) == 0:
                raise DataError(
                    f"floor plan '{p.name}' has no free space at spacing {c['embedding']['floor_spacing_m']} m",
                    field=f"floor_plans/{p.name}",
                )
            tgt.append(pts + self.panel_offset_[i])
            tgt_panel.append(np.full(len(pts), i))
            tgt_key.append(np.array([f"{p.building}|{p.floor}|{z}" for z in zl]))
        self.target_canvas_ = np.concatenate(tgt)
        self._target_tree = None
        self.target_panel_ = np.concatenate(tgt_panel).astype(np.int64)
        target_key = np.concatenate(tgt_key)
        keys = sorted(set(target_key) - {k for k in target_key if k.endswith("|")})
        key_index = {k: i for i, k in enumerate(keys)}
        target_zone = np.array([key_index.get(k, -1) for k in target_key], dtype=np.int64)
        sample_zone_idx = np.array([key_index.get(k, -1) for k in sample_zone], dtype=np.int64)
        frac = np.zeros((n_proto, max(len(keys), 1)))
        ok = sample_zone_idx >= 0
        np.add.at(frac, (labels[ok], sample_zone_idx[ok]), 1.0)
        counts = np.bincount(labels, minlength=n_proto).astype(np.float64)
        frac = frac / np.maximum(counts, 1)[:, None]
        self.zone_labels_ = np.array(keys if keys else [""])
        self.prototype_zone_fraction_ = frac

        # marginals
        emb = c["embedding"]
        if emb["source_mass"] == "samples":
            a = counts / counts.sum()
        else:
            a = np.full(n_proto, 1.0 / n_proto)
        if emb["target_mass"] == "zones" and keys:
            zone_mass = np.bincount(sample_zone_idx[ok], minlength=len(keys)).astype(np.float64)
            per_point = np.bincount(target_zone[target_zone >= 0], minlength=len(keys)).astype(np.float64)
            b = np.where(
                target_zone >= 0,
                zone_mass[np.maximum(target_zone, 0)] / np.maximum(per_point[np.maximum(target_zone, 0)], 1),
                0.0,
            )
            if b.sum() <= 0:
                b = np.ones(len(target_zone))
        else:
            b = np.ones(len(target_zone))
        b = b / b.sum()
        keep = b > 0
        all_canvas, all_panel = self.target_canvas_, self.target_panel_
        self.target_canvas_, self.target_panel_ = self.target_canvas_[keep], self.target_panel_[keep]
        target_zone, b = target_zone[keep], b[keep]

        # 5. joint embedding + transport (Algorithm 1), or the no-OT ablation
        proto_in = ((protos - self.feature_mean_) / self.feature_std_).astype(np.float32)
        y = self._to_unit(self.target_canvas_)
        self._fit_embedding(proto_in, d_geo, y, target_zone, frac, a, b)
        self.refine_info_ = {}
        if emb["refine"] is not None:
            if emb["transport"]:
                refined = self._refine(
                    self._predict_unit(proto_in),
                    d_geo,
                    plans,
                    all_canvas,
                    all_panel,
                    np.flatnonzero(keep),
                    target_zone,
                    frac,
                    a,
                    rng,
                )
                self._fit_regression(proto_in, self._to_unit(refined), "refine-regression", int(emb["refine_steps"]))
        self.prototype_canvas_ = self._from_unit(self._predict_unit(proto_in))
        self.prototype_features_ = protos
        self.prototype_geodesic_ = d_geo
        self.prototype_counts_ = counts

    def _training_plans(self, train: Dataset, sample_zone: np.ndarray) -> list:
        seen = sorted({(int(k.split("|")[0]), int(k.split("|")[1])) for k in sample_zone})
        plans = []
        for b, f in seen:
            try:
                plans.append(train.floor_plan(f, b if b >= 0 else None))
            except (KeyError, DataError, ValueError):
                continue
        if not plans:
            if len(train.floor_plans) == 1:
                return list(train.floor_plans)
            raise DataError(
                "OT-Isomap needs the floor plan of every floor in the training data; none matched the "
                f"recordings' (building, floor) pairs {seen}",
                field="floor_plans",
            )
        return plans

    def _fingerprint_conf(self) -> dict:
        """What of the conf decides training (checkpoint fingerprints): all but ``predict`` and the trainer's
        progress / paths."""
        return _training.training_conf(self.conf, ("predict",))

    def _fit_metric(self, xn: np.ndarray, t: np.ndarray, group: np.ndarray, rng: np.random.Generator) -> None:
        from ..nn.encoders import make_encoder

        m = self.conf["metric"]
        self._encoder = None
        self.raw_pca_mean_ = np.zeros(0, np.float32)
        self.raw_pca_components_ = np.zeros((0, 0), np.float32)
        if not m["enabled"]:
            flat = xn.reshape(len(xn), -1)
            if flat.shape[1] > int(m["raw_pca_dim"]):
                from sklearn.decomposition import PCA

                pca = PCA(n_components=int(m["raw_pca_dim"]), random_state=int(self.conf["seed"])).fit(flat)
                self.raw_pca_mean_ = pca.mean_.astype(np.float32)
                self.raw_pca_components_ = pca.components_.astype(np.float32)
            return
        tri = manifold.sample_triplets(
            t,
            group,
            int(m["triplets_per_anchor"]),
            float(m["pos_max_s"]),
            float(m["neg_min_s"]),
            float(m["neg_max_s"]),
            rng,
        )
        if len(tri) == 0:
            raise DataError(
                f"no triplets: no sample has a neighbour within pos_max_s={m['pos_max_s']} s in its "
                "recording; raise metric.pos_max_s",
                field=f"streams/{self.stream_name_}",
            )
        self._encoder = make_encoder(xn.shape[1:], int(m["dim"]), m["encoder"], m["hidden"], m["widths"])
        module = _TripletModule(self._encoder, torch.from_numpy(xn), float(m["margin"]), float(m["lr"]))
        loader = torch.utils.data.DataLoader(
            torch.from_numpy(tri),
            batch_size=int(m["batch_size"]),
            shuffle=True,
            generator=torch.Generator().manual_seed(int(self.conf["seed"])),
        )
        fit_lightning(
            module,
            loader,
            self.conf["trainer"],
            "metric",
            max_epochs=int(m["epochs"]),
            fingerprint_conf=self._fingerprint_conf(),
        )
        self.metric_loss_ = float(module.last_loss)

    def _fit_embedding(self, proto_in, d_geo, y, target_zone, frac, a, b) -> None:
        """Algorithm 1, restarted ``n_init`` times; the run with the lowest final loss is kept."""
        e = self.conf["embedding"]
        best = None
        for restart in range(max(int(e["n_init"]), 1)):
            reseed(int(self.conf["seed"]) + 1000 * restart, uses_cuda(self.conf["trainer"]))
            self._fit_embedding_once(proto_in, d_geo, y, target_zone, frac, a, b, f"embedding-{restart}")
            final = float(np.mean(self.train_log_[-max(len(self.train_log_) // 20, 1) :, 1]))
            if best is None or final < best[0]:
                best = (final, self._phi, self.train_log_)
        self.embedding_loss_, self._phi, self.train_log_ = best

    def _fit_embedding_once(self, proto_in, d_geo, y, target_zone, frac, a, b, stage: str) -> None:
        from ..nn.encoders import MLP

        e = self.conf["embedding"]
        self._phi = MLP(proto_in.shape[1], 2, e["hidden"])
        steps = int(e["steps"])
        if not e["transport"]:  # no-OT ablation: phi regresses Isomap + Procrustes
            target = self._isomap_procrustes(d_geo, y, target_zone, frac, a, b)
            self.train_log_ = self._fit_regression(proto_in, target, stage, steps)
            return
        module = _EmbeddingModule(self._phi, proto_in, d_geo, y, target_zone, frac, a, b, e)
        if not e["parametric"]:
            module.free = torch.nn.Parameter(0.01 * torch.randn(len(proto_in), 2))
        self._fit_steps(module, stage, steps)
        self.train_log_ = _rows5(module.history)
        if module.free is not None:  # then phi regresses the free coordinates
            self._fit_regression(proto_in, module.free.detach().numpy(), stage + "-regression", steps)

    def _predict_unit(self, inputs: np.ndarray) -> np.ndarray:
        """``phi`` on standardised features: (N, F) -> (N, 2) unit-canvas coordinates."""
        with torch.no_grad():
            self._phi.eval()
            return self._phi(torch.from_numpy(np.asarray(inputs, dtype=np.float32))).numpy().astype(np.float64)

    def _fit_regression(self, proto_in: np.ndarray, target_unit: np.ndarray, stage: str, steps: int) -> np.ndarray:
        """Fit ``phi`` by mean-squared regression of the prototypes onto ``target_unit`` (N, 2).

        Returns the training log, rows ``(step, mse, 0, 0, 0)`` like Algorithm 1's.
        """
        module = _RegressionModule(self._phi, proto_in, target_unit, float(self.conf["embedding"]["lr"]), steps)
        self._fit_steps(module, stage, steps)
        return _rows5(module.history)

    def _fit_steps(self, module, stage: str, steps: int) -> None:
        """Train ``module`` for ``steps`` full-batch steps (one index per step) through the shared loop."""
        fit_lightning(
            module,
            torch.utils.data.DataLoader(torch.arange(steps), batch_size=1),
            self.conf["trainer"],
            stage,
            max_epochs=1,
            max_steps=steps,
            log_every_n_steps=max(steps // 20, 1),
            fingerprint_conf=self._fingerprint_conf(),
        )

    def _refine(self, proto_unit, d_geo, plans, all_canvas, all_panel, kept, target_zone, frac, a, rng) -> np.ndarray:
        """Refine Algorithm 1's prototype placement by matching geodesics (an addition to the paper).

        Algorithm 1 compares ``D_s`` with *Euclidean* distances in the embedding; on a floor plan
        whose corridors wind (a maze) no 2-D point set has Euclidean distances equal to walking
        distances, so the loss settles with prototypes in the right zone but often in the wrong
        corridor. Here ``D_s`` is compared with the *walking* distances ``D_t`` between the floor
        samples ``y_j`` instead:

        1. scale: ``s = argmin sum (s D_s[i, k] - D_t[j_i, j_k])^2`` with ``j_i`` the floor sample
           nearest to prototype ``i``'s Algorithm-1 position (no labels needed);
        2. semi-relaxed fused Gromov-Wasserstein (``ot.gromov.semirelaxed_fused_gromov_wasserstein``)
           between ``s D_s`` and ``D_t`` with the zone mismatch ``1 - frac`` as feature cost,
           started from the Algorithm-1 assignment;
        3. :func:`~omniloc.nn.manifold.local_stress_refine` with ``refine_powers`` in turn, every
           prototype kept to floor samples of its majority zone.

        Returns
        -------
        (Ns, 2) canvas metres
            Refined prototype positions (floor samples).
        """
        import ot

        from ..nn.manifold import free_space_geodesics, local_stress_refine

        e = self.conf["embedding"]
        y = self.target_canvas_
        if len(y) > int(e["refine_max_targets"]):
            sub = np.sort(rng.choice(len(y), int(e["refine_max_targets"]), replace=False))
        else:
            sub = np.arange(len(y))
        ys, zs = y[sub], target_zone[sub]
        d_t = np.full((len(sub), len(sub)), np.inf)
        radius = 1.5 * float(e["floor_spacing_m"])
        for i, plan in enumerate(plans):
            rows = np.flatnonzero(self.target_panel_[sub] == i)
            if not len(rows):
                continue
            pts = all_canvas[all_panel == i]  # every free sample of the floor
            pos_in_panel = np.searchsorted(np.flatnonzero(all_panel == i), kept[sub[rows]])
            dist = free_space_geodesics(pts - self.panel_offset_[i], plan.walls, radius, sources=pos_in_panel)
            d_t[np.ix_(rows, rows)] = dist[:, pos_in_panel]
        finite = np.isfinite(d_t)
        big = 1.5 * d_t[finite].max() if finite.any() else 1.0
        d_t[~finite] = big
        from scipy.spatial import cKDTree

        start = cKDTree(ys).query(self._from_unit(proto_unit))[1]
        d_start = d_t[np.ix_(start, start)]
        iu = np.triu_indices(len(d_geo), 1)
        ok = d_start[iu] < big
        num, den = float(d_geo[iu][ok] @ d_start[iu][ok]), float(d_geo[iu][ok] @ d_geo[iu][ok])
        scale = num / den if den > 0 and num > 0 else 1.0
        d_s = scale * d_geo
        mismatch = np.where(zs[None] >= 0, 1.0 - frac[:, np.maximum(zs, 0)], 1.0)
        g0 = np.zeros((len(d_geo), len(sub)))
        g0[np.arange(len(d_geo)), start] = a
        plan_t, log = ot.gromov.semirelaxed_fused_gromov_wasserstein(
            mismatch,
            d_s / big,
            d_t / big,
            p=np.asarray(a, dtype=np.float64),
            alpha=float(e["refine_alpha"]),
            G0=g0,
            max_iter=500,
            log=True,
        )
        assign = np.argmax(plan_t, axis=1)
        for power in e["refine_powers"]:
            assign, _ = local_stress_refine(assign, d_s, d_t, forbidden=mismatch > 0.5, power=float(power), rng=rng)
        self.refine_info_ = {
            "scale": scale,
            "n_targets": int(len(sub)),
            "fgw_loss": float(log.get("srfgw_dist", np.nan)),
            "moved_m": float(np.linalg.norm(ys[assign] - ys[start], axis=1).mean()),
        }
        return ys[assign]

    @staticmethod
    def _isomap_procrustes(d_geo, y, target_zone, frac, a, b) -> np.ndarray:
        """No-OT ablation: classical MDS of D_s, aligned to the zone centroids (similarity Procrustes)."""
        emb = manifold.classical_mds(d_geo, 2)
        zones = np.flatnonzero((frac.sum(0) > 0) & np.isin(np.arange(frac.shape[1]), target_zone))
        if len(zones) < 3:
            raise DataError(
                "the no-transport ablation needs at least three labelled zones to align the embedding", field="zone"
            )
        w = frac[:, zones] * a[:, None]
        src = (w.T @ emb) / w.sum(0)[:, None]
        dst = np.stack(
            [(b[target_zone == z, None] * y[target_zone == z]).sum(0) / b[target_zone == z].sum() for z in zones]
        )
        s, r, tr = manifold.similarity_procrustes(src, dst, weights=w.sum(0))
        return (s * emb @ r.T + tr).astype(np.float32)

    # ------------------------------------------------------------------ predict
    def predict_recording(self, rec: Recording) -> Estimate:
        """One estimate per sample of the stream, at its time; floor from the canvas panel."""
        self._check_fitted()
        t, x = self._raw(rec)
        if list(x.shape[1:]) != list(self.input_shape_):
            raise DataError(
                f"stream '{self.stream_name_}' of recording '{rec.name}' has samples of shape "
                f"{tuple(x.shape[1:])}; the model was trained on {tuple(self.input_shape_)}",
                field=f"streams/{self.stream_name_}",
            )
        if len(t) == 0:
            return Estimate(
                np.array([], dtype=str),
                np.zeros(0),
                np.zeros((0, 3)),
                floor=np.zeros(0, np.int64),
                building=np.zeros(0, np.int64),
            )
        feats = (self._features(self._normalise(x)) - self.feature_mean_) / self.feature_std_
        with torch.no_grad():
            self._phi.eval()
            u = self._phi(torch.from_numpy(feats.astype(np.float32))).numpy().astype(np.float64)
        canvas = self._from_unit(u)
        sigma = float(self.conf["predict"]["smooth_s"])
        if sigma > 0 and len(t) > 1:
            w = np.exp(-0.5 * ((t[:, None] - t[None, :]) / sigma) ** 2)
            canvas = (w @ canvas) / w.sum(1, keepdims=True)
        panel, xy = self._canvas_to_floor(canvas)
        z = self.panel_elevation_m_[panel] + float(self.conf["device_height_m"])
        return Estimate(
            np.full(len(t), rec.name),
            t,
            np.c_[xy, z],
            floor=self.panel_floor_[panel],
            building=self.panel_building_[panel],
        )

    # ------------------------------------------------------------------ persistence
    def _save_extra(self, folder: Path) -> None:
        torch.save(
            {"phi": self._phi.state_dict(), "encoder": None if self._encoder is None else self._encoder.state_dict()},
            folder / "weights.pt",
        )

    def _load_extra(self, folder: Path) -> None:
        from ..nn.encoders import MLP, make_encoder

        try:
            w = torch.load(folder / "weights.pt", map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError) as e:
            raise DataError(f"unreadable weights: {e}", file=folder / "weights.pt") from None
        m = self.conf["metric"]
        self._encoder = None
        if w.get("encoder") is not None:
            self._encoder = make_encoder(self.input_shape_, int(m["dim"]), m["encoder"], m["hidden"], m["widths"])
            self._encoder.load_state_dict(w["encoder"])
        self._phi = MLP(len(self.feature_mean_), 2, self.conf["embedding"]["hidden"])
        self._phi.load_state_dict(w["phi"])


# ============================================================================ Lightning modules
def _rows5(history: list) -> np.ndarray:
    """Training-log rows ``(step, loss, kl, ot, eps)`` (zeros where a stage has no such value)."""
    return np.array([list(h) + [0.0] * (5 - len(h)) for h in history], dtype=np.float64).reshape(-1, 5)


class _TripletModule(TrainingModule):
    """Metric learning on temporal vicinity: ``max(0, d(h_a, h_p) - d(h_a, h_n) + alpha)`` (Eq. 5), Adam.

    Batches are (B, 3) index rows (anchor, positive, negative) into the normalised inputs ``x``.
    """

    def __init__(self, encoder, x, margin: float, lr: float):
        super().__init__(encoder, optimizer="adam", lr=lr)
        self.margin = float(margin)
        self.add_data("train", {"x": x})

    def loss(self, batch):
        h = self.net(self.data("train", "x")[batch.reshape(-1)]).reshape(len(batch), 3, -1)
        return F.triplet_margin_loss(h[:, 0], h[:, 1], h[:, 2], margin=self.margin), {}


class _EmbeddingModule(TrainingModule):
    """Algorithm 1: ``L = KL(D_s || D_hat) + lambda <T, C>`` with ``T = Sinkhorn(C, eps_t)`` (Eq. 1-4).

    One training step uses every prototype (full batch); ``eps_t`` follows the annealing schedule
    over ``conf['steps']``; Adam with a cosine decay of the learning rate to 5 %. With ``free``
    set (``parametric=False``) the prototypes' coordinates are free parameters instead of
    ``phi``'s output. The history has a row ``(step, loss, kl, ot, eps)`` every 10 steps.
    """

    def __init__(self, phi, proto_in, d_geo, y, target_zone, frac, a, b, conf: dict):
        super().__init__(phi, optimizer="adam", lr=float(conf["lr"]), cosine_steps=int(conf["steps"]), history_every=10)
        self.conf = conf
        f32 = torch.float32
        self.register_buffer("proto", torch.as_tensor(proto_in, dtype=f32), persistent=False)
        self.register_buffer("d_geo", torch.as_tensor(d_geo, dtype=f32), persistent=False)
        q = float(conf["kl_quantile"])
        mask = None
        if q < 1.0:
            off = d_geo[~np.eye(len(d_geo), dtype=bool)]
            mask = torch.as_tensor(d_geo <= np.quantile(off, q))
        self.register_buffer("kl_mask", mask, persistent=False)
        self.register_buffer("y", torch.as_tensor(y, dtype=f32), persistent=False)
        kappa = zone_penalty(
            torch.as_tensor(frac, dtype=f32), torch.as_tensor(target_zone), float(conf["zone_penalty"])
        )
        self.register_buffer("kappa", kappa, persistent=False)
        self.sinkhorn = SinkhornLoss(
            torch.as_tensor(a, dtype=f32),
            torch.as_tensor(b, dtype=f32),
            conf["sinkhorn_iter"],
            conf["sinkhorn_tol"],
            float("inf") if conf["target_relax"] is None else float(conf["target_relax"]),
        )
        self.free = None

    def loss(self, batch):
        e = self.net(self.proto) if self.free is None else self.free
        bs = self.conf["batch_prototypes"]
        eps = annealed(*self.conf["entropy"], self.global_step, int(self.conf["steps"]), self.conf["schedule"])
        if bs is not None and int(bs) < len(e):  # mini-batch of prototypes: memory B x Nt
            idx = torch.randperm(len(e), device=e.device)[: int(bs)]
            e = e[idx]
            d_geo = self.d_geo[idx][:, idx]
            mask = None if self.kl_mask is None else self.kl_mask[idx][:, idx]
            a = self.sinkhorn.a[idx] / self.sinkhorn.a[idx].sum()
            kl = distance_kl(d_geo, pairwise_distances(e), mask)
            cost = self.kappa[idx] * pairwise_distances(e, self.y, squared=True)
            ot_cost = self.sinkhorn(cost, eps, a)
        else:
            kl = distance_kl(self.d_geo, pairwise_distances(e), self.kl_mask)
            cost = self.kappa * pairwise_distances(e, self.y, squared=True)
            ot_cost = self.sinkhorn(cost, eps)
        return kl + float(self.conf["lambda_ot"]) * ot_cost, {"kl": kl.detach(), "ot": ot_cost.detach(), "eps": eps}


class _RegressionModule(TrainingModule):
    """``phi`` fitted by mean-squared regression of the prototypes onto fixed 2-D coordinates
    (no-OT ablation, free coordinates, refined positions); Adam with a cosine decay over ``steps``."""

    def __init__(self, phi, proto_in, target, lr: float, steps: int):
        super().__init__(phi, optimizer="adam", lr=lr, cosine_steps=steps, history_every=10)
        self.register_buffer("proto", torch.as_tensor(proto_in, dtype=torch.float32), persistent=False)
        self.register_buffer("target", torch.as_tensor(target, dtype=torch.float32), persistent=False)

    def loss(self, batch):
        return ((self.net(self.proto) - self.target) ** 2).sum(1).mean(), {}
