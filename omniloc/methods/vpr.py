"""Hierarchical visual localization: place recognition proposes places, their poses give a metric pose.

Method
------
**Descriptors.** Every RGB frame becomes one global descriptor: the raw-pixel baseline
(``descriptor="raw"``: grey, downsampled, patch-normalised pixels, as SeqSLAM uses;
:func:`omniloc.vpr.raw_descriptors`) or a learned one (``descriptor="learned"``: a small ResNet
with GeM or NetVLAD aggregation, L2-normalised, :class:`omniloc.nn.place.PlaceNet`), trained from
scratch on the training frames with place labels from their poses: a place is a cell of
``place.cell_m`` metres on one floor with a heading sector of ``360 / place.heading_bins`` degrees
(a CosPlace-style grouping of the map into classes of views of one place).

**Retrieval.** The training frames are the database, held in a :class:`omniloc.vpr.DescriptorIndex`
(cosine similarity; exact for small databases, approximate for large ones).
A query frame retrieves its ``top_k`` most similar database frames ``i`` with similarities ``s_i``.

**Metric pose.** The position is the similarity-weighted mean of the retrieved positions with
weights ``w_i = softmax(s_i / temperature)`` (temperature -> 0: the top-1 position); the rotation is
the weighted chordal mean of their rotations; the floor is the weighted vote. The spread of the
retrieved positions around the mean, ``sum_i w_i (p_i - p)(p_i - p)^T + fix_std_m^2 I``, is the
fix's covariance.

**Over time** (``filter.kind="ekf"``): a constant-position extended Kalman filter
(:class:`omniloc.filters.ExtendedKalmanFilter`, here with linear models) over each recording's
fixes: between frames ``dt`` apart the position diffuses with variance ``(speed_m_s dt)^2`` per
axis; each fix updates it with its covariance, unless its normalised innovation squared exceeds
the validation gate ``filter.gate`` (an outlier: a wrong place); after ``filter.reset_after``
rejected fixes in a row the filter restarts at the latest fix (the track was lost). The filtered
position and its covariance are returned; ``filter.kind="none"`` returns the fixes.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .._conf import deep_update
from .._errors import ConfigError, DataError
from ..data import Dataset, Estimate, Recording
from ..data.frames import camera_frames
from ..data.transforms import quat_normalize, yaw_from_quat
from ..nn.place import PLACE_DEFAULTS
from ..nn.training import RESUME, TRAINER_DEFAULTS, TRAINER_TYPES
from ._neural import NeuralLocalizer

__all__ = ["VPRLocalizer", "DESCRIPTORS", "FILTERS", "NET_RECIPE"]

#: ``descriptor`` choices
DESCRIPTORS = ("raw", "learned")
#: ``filter.kind`` choices
FILTERS = ("ekf", "none")
#: the learned descriptor's training recipe, chosen on Nordland's validation stretch (the first 60 % of
#: the track only): a 3-stage ResNet-18 of width 16 with a stride-2 stem, GeM over a spatial grid,
#: multi-similarity loss with lambda 0.3, beta 20, margin 0.3, Adam 3e-3 with cosine decay
NET_RECIPE: dict = {
    "backbone": {"width": 16, "stem_stride": 2, "stages": 3},
    "aggregation": "gem-grid",
    "grid": [4, 8],
    "dim": 256,
    "ms": {"lam": 0.3, "beta": 20.0, "margin": 0.3},
    "lr": 3e-3,
    "epochs": 10,
}


class VPRLocalizer(NeuralLocalizer):
    """Place recognition + similarity-weighted poses + a filter over time (module docstring).

    Configuration (``default_conf``):

    * ``stream``: the RGB stream (None: the one ``find_stream`` picks).
    * ``descriptor``: ``"raw"`` or ``"learned"``; ``raw``: keyword arguments of
      :func:`omniloc.vpr.raw_descriptors` (``size`` (w, h) pixels, ``patch`` pixels); ``net``: the
      learned descriptor's training conf, :data:`omniloc.nn.place.PLACE_DEFAULTS` without ``seed``
      and ``trainer`` (backbone, aggregation, dimension, loss, batches, augmentation, epochs,
      learning rate), with exact place labels (``pos_tol = neg_tol = sample_tol = val_tol = 0``,
      ``near`` off): the place labels below are not frame indices. Its keys, documented in
      :data:`omniloc.nn.place.PLACE_DEFAULTS`: ``backbone`` (``depth``, ``width``, ``stem``,
      ``stem_stride``, ``stages``), ``aggregation``, ``clusters``, ``gem_p``, ``grid``,
      ``standardize``, ``dim``, ``netvlad_init``, ``loss``, ``ms`` (``alpha``, ``beta``, ``lam``,
      ``margin``), ``triplet`` (``margin``, ``soft``), ``places_per_batch``, ``per_place``,
      ``near``, ``near_range``, ``sample_tol``, ``pos_tol``, ``neg_tol``, ``val_tol``,
      ``optimizer``, ``lr``, ``weight_decay``, ``epochs``, ``cosine``, ``patience``, ``augment``
      (``shift``, ``scale``, ``brightness``, ``contrast``, ``saturation``, ``colour``, ``gamma``,
      ``grey``, ``blur``, ``blur_sigma``, ``noise``, ``erase``, ``erase_size``), ``batch_size``,
      ``supcon`` (``temperature``) and ``still`` (off here: it merges frame-index places);
      the defaults are :data:`NET_RECIPE` over them, with a 4 x 4 grid.
    * ``place``: how training frames are grouped into places for the learned descriptor:
      ``cell_m`` (grid cell side, metres), ``heading_bins`` (sectors of the camera heading).
    * ``index``: ``kind`` (``"auto"``: :meth:`omniloc.vpr.DescriptorIndex.for_size`, exact search
      for small databases and the approximate default for large ones; or one of
      :data:`omniloc.vpr.INDEX_KINDS`) and its other options ``params``.
    * ``top_k``: database frames retrieved per query; ``temperature``: of the similarity softmax;
      ``fix_std_m``: standard deviation added to each fix's spread, metres.
    * ``filter``: ``kind`` (``"ekf"`` or ``"none"``), ``speed_m_s`` (position diffusion rate),
      ``gate`` (chi-square gate of the normalised innovation squared, 3 degrees of freedom;
      None = no gate), ``reset_after`` (rejected fixes in a row before a restart).
    * ``predict``: ``batch_size`` (frames per descriptor pass).
    * ``seed``; ``trainer``: :data:`omniloc.nn.training.TRAINER_DEFAULTS`: ``accelerator``,
      ``devices``, ``strategy``, ``num_nodes``, ``process_group_backend``, ``progress``,
      ``checkpoint_dir`` (stage folder ``place-descriptor``) and ``resume``.
    """

    name: ClassVar[str] = "vpr"
    required_streams: ClassVar[tuple[str, ...]] = ()  # a camera method: never picked by the demo
    conf_types: ClassVar[dict[str, tuple[type, ...]]] = {
        **TRAINER_TYPES,
        "stream": (type(None), str),
        "filter.gate": (type(None), float, int),
        "temperature": (float, int),
        "fix_std_m": (float, int),
        "place.cell_m": (float, int),
        "filter.speed_m_s": (float, int),
    }
    default_conf: ClassVar[dict] = {
        "stream": None,
        "descriptor": "learned",
        "raw": {},
        # places are labels here, not frame indices: no frame tolerance, no "near" negatives
        "net": deep_update(
            {k: v for k, v in PLACE_DEFAULTS.items() if k not in ("trainer", "seed")},
            {
                **NET_RECIPE,
                "grid": [4, 4],
                **{"pos_tol": 0, "neg_tol": 0, "sample_tol": 0, "val_tol": 0, "near": False, "still": None},
            },
        ),
        "place": {"cell_m": 2.0, "heading_bins": 8},
        "index": {"kind": "auto", "params": {}},
        "top_k": 5,
        "temperature": 0.02,
        "fix_std_m": 0.5,
        "filter": {"kind": "ekf", "speed_m_s": 1.5, "gate": 16.3, "reset_after": 4},
        "predict": {"batch_size": 256},
        "seed": 0,
        "trainer": dict(TRAINER_DEFAULTS),
    }
    presets: ClassVar[dict[str, dict]] = {
        "raw": {"descriptor": "raw"},
        "single": {"filter": {"kind": "none"}},
        "quick": {"net": {"epochs": 2}, "trainer": {"progress": False}},
    }

    def _check_conf(self) -> None:
        c, f = self.conf, self.conf["filter"]
        for key, value, allowed in (
            ("descriptor", c["descriptor"], DESCRIPTORS),
            ("filter.kind", f["kind"], FILTERS),
            ("trainer.resume", c["trainer"]["resume"], RESUME),
        ):
            if value not in allowed:
                raise ConfigError(f"{key} must be one of {list(allowed)}, got {value!r}")
        if c["top_k"] < 1:
            raise ConfigError(f"top_k must be >= 1, got {c['top_k']!r}")
        if c["temperature"] <= 0 or c["fix_std_m"] <= 0 or f["speed_m_s"] <= 0:
            raise ConfigError("temperature, fix_std_m and filter.speed_m_s must be positive")
        if c["place"]["cell_m"] <= 0 or c["place"]["heading_bins"] < 1:
            raise ConfigError("place.cell_m must be positive and place.heading_bins >= 1")
        if f["gate"] is not None and f["gate"] <= 0:
            raise ConfigError(f"filter.gate must be positive or null, got {f['gate']!r}")
        if f["reset_after"] < 1:
            raise ConfigError(f"filter.reset_after must be >= 1, got {f['reset_after']!r}")

    # ------------------------------------------------------------------ data
    def _frames(self, rec: Recording, labelled: bool) -> dict:
        f = camera_frames(rec, self.conf["stream"], use_depth=False, labelled=labelled)
        out = {"t": f["t"], "rgb": f["rgb_stream"].load()[f["rgb_index"]] if len(f["t"]) else None}
        for key in ("position", "orientation", "floor"):
            if key in f:
                out[key] = f[key]
        return out

    def places(self, position: np.ndarray, orientation: np.ndarray, floor: np.ndarray | None = None) -> np.ndarray:
        """Place labels (N,) int of poses: grid cell of ``place.cell_m`` on the floor x heading sector."""
        pc = self.conf["place"]
        cell = np.floor(np.asarray(position)[:, :2] / float(pc["cell_m"])).astype(np.int64)
        bins = int(pc["heading_bins"])
        yaw = np.mod(yaw_from_quat(np.asarray(orientation)), 2 * np.pi)
        sector = np.minimum((yaw / (2 * np.pi) * bins).astype(np.int64), bins - 1)
        fl = np.zeros(len(cell), dtype=np.int64) if floor is None else np.asarray(floor, dtype=np.int64)
        keys = np.stack([fl, cell[:, 0], cell[:, 1], sector], axis=1)
        return np.unique(keys, axis=0, return_inverse=True)[1].reshape(-1)

    # ------------------------------------------------------------------ fit
    def _fit(self, train: Dataset, val: Dataset | None) -> None:
        parts = [p for p in (self._frames(r, labelled=True) for r in train) if len(p["t"])]
        if not parts:
            raise DataError("the training dataset has no RGB frames with ground-truth poses", field="rgb")
        images = np.concatenate([p["rgb"] for p in parts])
        position = np.concatenate([p["position"] for p in parts])
        orientation = np.concatenate([p["orientation"] for p in parts])
        floor = np.concatenate([p.get("floor", np.zeros(len(p["t"]), dtype=np.int64)) for p in parts])
        self._net = None
        if self.conf["descriptor"] == "learned":
            from ..nn.place import train_place_descriptor

            vparts = [] if val is None else [p for p in (self._frames(r, labelled=True) for r in val) if len(p["t"])]
            n = len(images)
            if vparts:
                vpos = np.concatenate([p["position"] for p in vparts])
                vquat = np.concatenate([p["orientation"] for p in vparts])
                vfloor = np.concatenate([p.get("floor", np.zeros(len(p["t"]), dtype=np.int64)) for p in vparts])
                labels = self.places(
                    np.concatenate([position, vpos]),
                    np.concatenate([orientation, vquat]),
                    np.concatenate([floor, vfloor]),
                )
                val_data = {
                    "query_images": np.concatenate([p["rgb"] for p in vparts]),
                    "query_places": labels[n:],
                    "database_images": images,
                    "database_places": labels[:n],
                }
            else:
                labels, val_data = self.places(position, orientation, floor), None
            self._net = train_place_descriptor(images, labels[:n], self._net_conf(), val=val_data)
        self.set_database(images, position, orientation, floor)

    def _net_conf(self) -> dict:
        """The descriptor's training conf (:func:`omniloc.nn.place.train_place_descriptor`)."""
        return {**self.conf["net"], "seed": int(self.conf["seed"]), "trainer": self.conf["trainer"]}

    def _build_net(self):
        from ..nn.place import build_place_net

        return build_place_net(self._net_conf())

    # ------------------------------------------------------------------ database
    def describe(self, images: np.ndarray) -> np.ndarray:
        """Global descriptors (N, D) float32, L2-normalised, of RGB frames (N, H, W, 3) uint8."""
        if self.conf["descriptor"] == "raw":
            from ..vpr import raw_descriptors

            return raw_descriptors(images, **self.conf["raw"])
        from ..nn.place import describe

        return describe(self._net, images, batch_size=int(self.conf["predict"]["batch_size"]))

    def set_database(self, images, position, orientation, floor=None) -> None:
        """Make frames with known poses the database (replacing the current one)."""
        from ..vpr import DescriptorIndex

        desc = self.describe(images)
        ic = self.conf["index"]
        if ic["kind"] == "auto":
            index = DescriptorIndex.for_size(len(desc), metric="cosine", **ic["params"])
        else:
            index = DescriptorIndex(kind=ic["kind"], metric="cosine", **ic["params"])
        self._index = index.fit(desc)
        self.db_position_ = np.asarray(position, dtype=np.float64)
        self.db_orientation_ = quat_normalize(np.asarray(orientation, dtype=np.float64))
        self.db_floor_ = np.zeros(len(desc), dtype=np.int64) if floor is None else np.asarray(floor, dtype=np.int64)

    def database_from(self, data: Dataset) -> None:
        """The frames (with ground-truth poses) of every recording of ``data`` as the database."""
        parts = [p for p in (self._frames(r, labelled=True) for r in data) if len(p["t"])]
        if not parts:
            raise DataError("no RGB frames with ground-truth poses for the database", field="rgb")
        self.set_database(
            np.concatenate([p["rgb"] for p in parts]),
            np.concatenate([p["position"] for p in parts]),
            np.concatenate([p["orientation"] for p in parts]),
            np.concatenate([p.get("floor", np.zeros(len(p["t"]), dtype=np.int64)) for p in parts]),
        )

    def retrieve(self, images: np.ndarray, k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Similarities (N, k) and database indices (N, k) of the ``k`` (``top_k``) most similar frames."""
        self._check_fitted()
        k = min(int(k or self.conf["top_k"]), len(self.db_position_))
        return self._index.search(self.describe(images), k)

    # ------------------------------------------------------------------ predict
    def fixes(self, sims: np.ndarray, ids: np.ndarray) -> dict[str, np.ndarray]:
        """Similarity-weighted poses of retrievals (module docstring): ``position`` (N, 3) m,
        ``orientation`` (N, 4), ``floor`` (N,), ``covariance`` (N, 3, 3) m^2, ``weights`` (N, k)."""
        s = np.asarray(sims, dtype=np.float64) / float(self.conf["temperature"])
        w = np.exp(s - s.max(axis=1, keepdims=True))
        w /= w.sum(axis=1, keepdims=True)
        p = self.db_position_[ids]  # (N, k, 3)
        mean = (w[..., None] * p).sum(1)
        d = p - mean[:, None]
        cov = np.einsum("nk,nki,nkj->nij", w, d, d) + float(self.conf["fix_std_m"]) ** 2 * np.eye(3)
        q = self.db_orientation_[ids]
        q = q * np.where((q * q[:, :1]).sum(-1, keepdims=True) < 0, -1.0, 1.0)
        quat = quat_normalize((w[..., None] * q).sum(1))
        fl = self.db_floor_[ids]
        floors = np.unique(fl)
        votes = np.stack([(w * (fl == f)).sum(1) for f in floors], axis=1)
        return {
            "position": mean,
            "orientation": quat,
            "floor": floors[np.argmax(votes, axis=1)],
            "covariance": cov,
            "weights": w,
        }

    def predict_recording(self, rec: Recording) -> Estimate:
        f = self._frames(rec, labelled=False)
        n = len(f["t"])
        if n == 0:
            return Estimate(np.zeros(0, dtype=str), np.zeros(0), np.zeros((0, 3)), orientation=np.zeros((0, 4)))
        fx = self.fixes(*self.retrieve(f["rgb"]))
        position, cov = fx["position"], fx["covariance"]
        if self.conf["filter"]["kind"] == "ekf":
            position, cov = self._filter(f["t"], position, cov)
        return Estimate(
            np.repeat(rec.name, n), f["t"], position, floor=fx["floor"], orientation=fx["orientation"], covariance=cov
        )

    def _filter(self, t: np.ndarray, z: np.ndarray, R: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The constant-position EKF with a validation gate and restarts (module docstring)."""
        import torch

        from ..filters import constant_transition, ekf_predict, ekf_update

        fc = self.conf["filter"]
        zt, Rt = torch.tensor(z)[:, None], torch.tensor(R)[:, None]
        x, P = zt[0], Rt[0]
        xs, Ps = [x], [P]
        rejected = 0
        dt = np.diff(t, prepend=t[0])
        for i in range(1, len(t)):
            q = (float(fc["speed_m_s"]) * max(float(dt[i]), 1e-3)) ** 2
            x, P = ekf_predict(x, P, constant_transition, q * torch.eye(3, dtype=x.dtype))
            x, P, info = ekf_update(x, P, zt[i], lambda v: v, Rt[i], gate=fc["gate"])
            rejected = 0 if bool(info["accepted"][0]) else rejected + 1
            if rejected >= int(fc["reset_after"]):
                x, P, rejected = zt[i], Rt[i], 0
            xs.append(x)
            Ps.append(P)
        return torch.cat(xs).numpy(), torch.cat(Ps).numpy()

    # ------------------------------------------------------------------ persistence
    def _save_extra(self, folder) -> None:
        if self._net is not None:
            super()._save_extra(folder)
        self._index.save(folder / "index.faiss")

    def _load_extra(self, folder) -> None:
        from ..vpr import DescriptorIndex

        self._net = None
        if self.conf["descriptor"] == "learned":
            super()._load_extra(folder)
        self._index = DescriptorIndex.load(folder / "index.faiss")

    def _set_state(self, state: dict[str, Any]) -> None:
        super()._set_state(state)
        self.db_position_ = np.asarray(self.db_position_, dtype=np.float64).reshape(-1, 3)
