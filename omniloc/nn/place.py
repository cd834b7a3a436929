"""Learned place descriptors for visual place recognition: training and inference.

The blocks live in their own modules and are re-exported here:

* networks, :mod:`omniloc.nn.place_nets`: :class:`PlaceNet` (ResNet feature map, GeM / grid GeM /
  NetVLAD, projection, L2) and the SeqNet-style :class:`SequenceDescriptor` for windows of frames;
* metric losses, :mod:`omniloc.nn.metric_losses`: :func:`multi_similarity_loss`,
  :func:`triplet_loss`, :func:`supervised_contrastive_loss` and :func:`place_masks`;
* augmentation, :mod:`omniloc.nn.augment`: :func:`augment`.

This module: :func:`travel_coordinate` (merges the frames of a stop into one place),
:func:`recall_at_1` (the validation metric, :func:`omniloc.eval.retrieval.recall_at_n`'s rule),
:class:`PlaceModule`, which trains either network through the shared
:class:`~omniloc.nn.training.TrainingModule` on batches of ``P`` places x ``K`` samples validated by
recall@1, and the entry points :func:`train_place_descriptor`, :func:`train_sequence_descriptor`,
:func:`describe` and :func:`describe_windows`.

A *place* is a frame index along a route traversed several times (e.g. Nordland's seasons, where
row ``k`` of every season is the same place). Two samples are positives when their places differ by
at most ``pos_tol`` frames, negatives when by more than ``neg_tol`` (pairs in between are ignored).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .._conf import check_types, merge_conf
from .._errors import ConfigError, DataError
from ..vpr.descriptors import LUMA_WEIGHTS
from .aggregation import l2_normalize
from .augment import AUGMENT_DEFAULTS, augment
from .metric_losses import multi_similarity_loss, place_masks, supervised_contrastive_loss, triplet_loss
from .place_nets import AGGREGATIONS, PlaceNet, SequenceDescriptor, images_to_tensor, seqnet
from .training import TRAINER_DEFAULTS, TRAINER_TYPES, TrainingModule, fit_lightning, seeded, uses_cuda

__all__ = [
    "AGGREGATIONS",
    "LOSSES",
    "AUGMENT_DEFAULTS",
    "PLACE_DEFAULTS",
    "SEQUENCE_DEFAULTS",
    "PlaceNet",
    "SequenceDescriptor",
    "seqnet",
    "place_masks",
    "multi_similarity_loss",
    "triplet_loss",
    "supervised_contrastive_loss",
    "augment",
    "images_to_tensor",
    "travel_coordinate",
    "PlaceModule",
    "build_place_net",
    "train_place_descriptor",
    "train_sequence_descriptor",
    "describe",
    "describe_windows",
    "recall_at_1",
]

#: metric losses of :class:`PlaceModule`
LOSSES = ("ms", "triplet", "supcon")


# ============================================================================ stops
def travel_coordinate(images, places, threshold: float = 0.95) -> np.ndarray:
    """A place coordinate that stands still where the camera does: frames taken while the vehicle
    stops (a train at a station) are the same place.

    Consecutive places ``p < q`` (sorted distinct values of ``places``) are one step apart unless some
    image at ``p`` and some image at ``q`` are nearly identical: raw-pixel similarity (grey levels,
    each image zero-mean and unit-norm, inner product) above ``threshold``; then the step is 0. Where
    several traversals are recorded (e.g. seasons), the most similar pair decides, which is a pair
    of the same traversal.

    Parameters
    ----------
    images : (M, H, W, 3) uint8
    places : (M,) int
        Frame indices.
    threshold : float
        Similarity in [-1, 1] above which two consecutive places are one.

    Returns
    -------
    (M,) int64
        The coordinate of each image: the number of moving steps from the first place to its own.
    """
    images = _check_images(images, "images")
    places = _check_places(places, len(images), "places")
    g = images.astype(np.float32) @ np.array(LUMA_WEIGHTS, np.float32)
    g = g.reshape(len(g), -1)
    g -= g.mean(1, keepdims=True)
    g /= np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-6)
    uniq, inverse = np.unique(places, return_inverse=True)
    members = [np.flatnonzero(inverse == k) for k in range(len(uniq))]
    step = np.ones(len(uniq), np.int64)
    step[0] = 0
    for k in range(1, len(uniq)):
        sim = g[members[k - 1]] @ g[members[k]].T
        if sim.size and float(sim.max()) > threshold:
            step[k] = 0
    return np.cumsum(step)[inverse]


# ============================================================================ retrieval metric
def recall_at_1(
    query: torch.Tensor, query_places: torch.Tensor, database: torch.Tensor, database_places: torch.Tensor, tol: int
) -> torch.Tensor:
    """Fraction (scalar tensor) of queries whose most similar database descriptor (inner product) is
    within ``tol`` frames of the query's place: :func:`omniloc.eval.retrieval.recall_at_n` at N = 1
    with ``unmatched="miss"`` (a query without any match counts as a miss), after a top-1 search on
    the descriptors' device.

    Parameters
    ----------
    query : (Q, D), database : (B, D)
    query_places : (Q,) int, database_places : (B,) int
    tol : int
    """
    from ..eval.retrieval import recall_at_n

    if query.shape[0] == 0 or database.shape[0] == 0:
        return query.new_tensor(float("nan"))
    top = (query @ database.T).argmax(1, keepdim=True).cpu().numpy()
    r = recall_at_n(
        top, query_places.cpu().numpy(), database_places.cpu().numpy(), ns=(1,), tolerance=int(tol), unmatched="miss"
    )
    return query.new_tensor(r["recall@1"])


# ============================================================================ training
class PlaceModule(TrainingModule):
    """Training of a :class:`PlaceNet` on images or of a :class:`SequenceDescriptor` on windows of frame
    descriptors, from place labels, by a metric loss on batches of ``P`` places x ``K`` samples.

    A training batch (from :func:`~omniloc.nn.training.index_loaders` over the anchor places) holds
    ``P`` anchor places (with ``near``: ``P / 2`` shuffled anchors, each with a partner place between
    ``neg_tol + 1`` and ``neg_tol + near_range`` frames away, the hard negatives of a route). Each place
    brings ``K`` samples drawn without replacement among those within ``sample_tol`` frames of it, from
    every traversal (season). Pairs are positives within ``pos_tol`` frames, negatives beyond
    ``neg_tol`` (:func:`place_masks`).

    Samples are images (``data``: ``image`` (M, H, W, 3) uint8, ``place`` (M,) int), augmented by
    :func:`augment`, or windows (``frames`` (R, F, D) float: ``R`` renderings of ``F`` frame
    descriptors, ``start`` (M,) int first frame of each window in ``0 .. F - 1``, ``place`` (M,) int the
    window's centre place); a window's frames each come from a random rendering, plus Gaussian noise
    of ``noise`` per coordinate, renormalised.

    Validation (``val``: the same keys plus ``query`` (V,) bool) embeds every validation sample and
    reports the recall@1 of the queries against the other samples within ``val_tol`` frames,
    ``val_recall_at_1`` (monitored, higher is better). The descriptors are accumulated as the
    epoch's validation sums (each batch fills its rows of a ``V x dim`` matrix).

    Parameters
    ----------
    net : PlaceNet or SequenceDescriptor
    data, val : dict name -> tensor (``val`` may be None)
    places_per_batch, per_place : int
        ``P`` and ``K``.
    pos_tol, neg_tol, sample_tol, val_tol : int
        Frames.
    near : bool
    near_range : int
    loss : ``"ms"`` or ``"triplet"``
    loss_conf : dict
        Keyword arguments of :func:`multi_similarity_loss` or :func:`triplet_loss`.
    augment_conf : dict, optional
        :func:`augment`'s strengths for images (None: no augmentation).
    noise : float
        Descriptor noise for windows.
    optimizer, lr, weight_decay, cosine_steps
        :class:`~omniloc.nn.training.TrainingModule`'s.
    """

    def __init__(
        self,
        net: nn.Module,
        data: dict,
        val: dict | None,
        places_per_batch: int = 32,
        per_place: int = 4,
        pos_tol: int = 2,
        neg_tol: int = 3,
        sample_tol: int = 1,
        val_tol: int = 2,
        near: bool = True,
        near_range: int = 10,
        loss: str = "ms",
        loss_conf: dict | None = None,
        augment_conf: dict | None = None,
        noise: float = 0.0,
        optimizer: str = "adam",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        cosine_steps: int | None = None,
    ):
        super().__init__(
            net, optimizer=optimizer, lr=lr, weight_decay=weight_decay, cosine_steps=cosine_steps, mode="max"
        )
        if loss not in LOSSES:
            raise ConfigError(f"loss must be one of {list(LOSSES)}, got {loss!r}")
        self.windows = "frames" in data
        self.P, self.K = int(places_per_batch), int(per_place)
        self.pos_tol, self.neg_tol, self.val_tol = int(pos_tol), int(max(neg_tol, pos_tol)), int(val_tol)
        self.near, self.near_range = bool(near), max(int(near_range), 1)
        self.loss_kind, self.loss_conf = loss, dict(loss_conf or {})
        self.augment_conf = None if augment_conf is None else dict(augment_conf)
        self.noise = float(noise)
        places = data["place"].long()
        anchors = torch.unique(places)  # sorted
        cand, count = _candidates(places, anchors, int(sample_tol))
        self.add_data("train", {**data, "anchor": anchors, "cand": cand, "count": count})
        self.add_data("val", val)
        self.n_anchors = int(anchors.numel())
        self.n_val = None if val is None else int(val["place"].shape[0])

    @property
    def anchors_per_batch(self) -> int:
        """Loader batch size: ``P``, or ``P / 2`` anchors with their near partners."""
        return max(1, self.P // 2) if self.near else self.P

    # ------------------------------------------------------------------ batches
    def _batch_places(self, idx: torch.Tensor) -> torch.Tensor:
        """Anchor positions (into the sorted anchors) of a batch: the loader's and their near partners."""
        if not self.near:
            return idx
        anchors = self.data("train", "anchor")
        n = idx.numel()
        off = self.neg_tol + 1 + torch.randint(0, self.near_range, (n,), device=idx.device)
        sign = torch.where(torch.rand(n, device=idx.device) < 0.5, -1, 1)
        target = anchors[idx] + sign * off
        outside = (target < anchors[0]) | (target > anchors[-1])  # past an end of the route: the other side
        target = torch.where(outside, anchors[idx] - sign * off, target)
        partner = torch.searchsorted(anchors, target).clamp(max=anchors.numel() - 1)
        return torch.cat([idx, partner])

    def _sample(self, idx: torch.Tensor) -> torch.Tensor:
        """``K`` sample indices per place of the batch, without replacement (fewer when a place has fewer)."""
        pos = self._batch_places(idx)
        cand, count = self.data("train", "cand")[pos], self.data("train", "count")[pos]
        keys = torch.rand(cand.shape, device=cand.device)
        keys = torch.where(torch.arange(cand.shape[1], device=cand.device)[None] < count[:, None], keys, 2.0)
        order = keys.argsort(1)[:, : self.K]
        take = torch.arange(order.shape[1], device=cand.device)[None] < count[:, None]
        return cand.gather(1, order)[take]

    def _inputs(self, split: str, idx: torch.Tensor, train: bool) -> dict:
        if not self.windows:
            x = images_to_tensor(self.data(split, "image")[idx])
            if train and self.augment_conf is not None:
                x = augment(x, self.augment_conf)
            return {"image": x}
        frames = self.data(split, "frames")  # (R, F, D)
        length = self.net.length
        rows = self.data(split, "start")[idx][:, None] + torch.arange(length, device=idx.device)[None]
        if train:
            r = torch.randint(0, frames.shape[0], rows.shape, device=idx.device)
        else:
            r = torch.zeros_like(rows)
        d = frames[r, rows]  # (B, L, D)
        if train and self.noise > 0:
            d = l2_normalize(d + self.noise * torch.randn_like(d), dim=-1)
        return {"descriptors": d}

    def loss(self, batch):
        idx = batch[0] if isinstance(batch, (list, tuple)) else batch
        sample = self._sample(idx)
        desc = self.net(self._inputs("train", sample, train=True))["descriptor"]
        pos, neg = place_masks(self.data("train", "place")[sample], self.pos_tol, self.neg_tol)
        if self.loss_kind == "ms":
            value = multi_similarity_loss(desc, pos, negatives=neg, **self.loss_conf)
        elif self.loss_kind == "supcon":
            value = supervised_contrastive_loss(desc, pos, negatives=neg, **self.loss_conf)
        else:
            value = triplet_loss(desc, pos, negatives=neg, **self.loss_conf)
        return value, {}

    # ------------------------------------------------------------------ validation
    def validation_sums(self, batch):
        idx = batch[0] if isinstance(batch, (list, tuple)) else batch
        desc = self.net(self._inputs("val", idx, train=False))["descriptor"]
        out = desc.new_zeros(self.n_val, desc.shape[1])
        out[idx] = desc
        return out.reshape(-1)

    def validation_metrics(self, sums):
        desc = sums.reshape(self.n_val, -1)
        q = self.data("val", "query").to(desc.device)
        places = self.data("val", "place").to(desc.device)
        r = recall_at_1(desc[q], places[q], desc[~q], places[~q], self.val_tol)
        return {"val_recall_at_1": r}


def _candidates(places: torch.Tensor, anchors: torch.Tensor, tol: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For each anchor place, the sample indices within ``tol`` frames, padded: (A, C) int64 and counts (A,)."""
    order = torch.argsort(places, stable=True)
    sorted_places = places[order]
    lo = torch.searchsorted(sorted_places, anchors - tol)
    hi = torch.searchsorted(sorted_places, anchors + tol, right=True)
    count = hi - lo
    width = int(count.max()) if count.numel() else 0
    j = lo[:, None] + torch.arange(width)[None]
    cand = order[j.clamp(max=max(len(order) - 1, 0))]
    return cand, count


# ============================================================================ entry points
#: The metric loss and its parameters, shared by :data:`PLACE_DEFAULTS` and :data:`SEQUENCE_DEFAULTS`.
LOSS_DEFAULTS: dict = {
    "loss": "ms",
    "ms": {"alpha": 2.0, "beta": 50.0, "lam": 0.5, "margin": 0.1},
    "triplet": {"margin": 0.1, "soft": False},
    "supcon": {"temperature": 0.1},
}

#: Documented defaults of :func:`train_place_descriptor`:
#:
#: * ``backbone``: :class:`PlaceNet`'s ResNet ``depth`` (18/34), ``width``, ``stem``, ``stem_stride`` and
#:   ``stages``;
#: * ``aggregation`` (``"gem"`` / ``"netvlad"``), ``clusters`` (NetVLAD's K), ``gem_p``, ``standardize``
#:   (per-image channel standardisation of the input, :class:`PlaceNet`); ``dim`` the
#:   descriptor size (0: no projection); ``netvlad_init``: training images whose (untrained)
#:   feature maps seed NetVLAD's k-means;
#: * ``still``: consecutive training places whose images are nearly identical (raw-pixel similarity
#:   above this; a stop) are one place for the loss (:func:`travel_coordinate`); None: frame indices as given;
#: * ``loss`` (``"ms"`` / ``"triplet"`` / ``"supcon"``) and its parameters ``ms``
#:   (:func:`multi_similarity_loss`), ``triplet`` (:func:`triplet_loss`) and ``supcon``
#:   (:func:`supervised_contrastive_loss`);
#: * batches: ``places_per_batch`` (P), ``per_place`` (K), ``near`` and ``near_range`` (hard partner
#:   places), tolerances in frames ``sample_tol``, ``pos_tol``, ``neg_tol``, ``val_tol``
#:   (:class:`PlaceModule`);
#: * optimisation: ``optimizer``, ``lr``, ``weight_decay``, ``epochs`` (an epoch visits every
#:   training place once as an anchor), ``cosine`` (per-step cosine decay to 5 % of ``lr``),
#:   ``patience`` (early stopping on validation recall; None: off);
#: * ``augment``: :data:`AUGMENT_DEFAULTS` (None: none);
#: * ``batch_size``: inference batch size (validation, :func:`describe`);
#: * ``seed``: weights, batches and augmentation; ``trainer``: :data:`~omniloc.nn.training.TRAINER_DEFAULTS`.
PLACE_DEFAULTS: dict = {
    "backbone": {"depth": 18, "width": 16, "stem": "small", "stem_stride": 1, "stages": 4},
    "aggregation": "gem",
    "clusters": 16,
    "gem_p": 3.0,
    "grid": [2, 4],
    "standardize": False,
    "dim": 256,
    "netvlad_init": 256,
    "still": 0.95,
    **LOSS_DEFAULTS,
    "places_per_batch": 32,
    "per_place": 4,
    "near": True,
    "near_range": 10,
    "sample_tol": 1,
    "pos_tol": 2,
    "neg_tol": 3,
    "val_tol": 2,
    "optimizer": "adam",
    "lr": 1e-3,
    "weight_decay": 1e-4,
    "epochs": 10,
    "cosine": True,
    "patience": None,
    "augment": dict(AUGMENT_DEFAULTS),
    "batch_size": 256,
    "seed": 0,
    "trainer": dict(TRAINER_DEFAULTS),
}

#: Documented defaults of :func:`train_sequence_descriptor` (batches, loss, optimisation and
#: ``trainer`` as in :data:`PLACE_DEFAULTS`):
#:
#: * ``length``: frames per window ``L``; ``kernel``: SeqNet's temporal kernel ``w`` (clipped to ``L``);
#:   ``init``: :class:`SequenceDescriptor`'s initialisation; ``dim``: output size;
#: * ``renderings``: how many descriptors of each training frame (the first unaugmented, the others
#:   of :func:`augment`-ed images with ``augment``), one drawn per frame and window at each step;
#: * ``noise``: Gaussian noise added to each frame descriptor during training (then renormalised);
#: * windows of the same centre place are the positives (``sample_tol = pos_tol = 0``, ``K = 2``: one
#:   per season): a window shifted by a frame puts every frame in another slot of the convolution,
#:   so shifted windows are not asked to match (they are ignored up to ``neg_tol``).
SEQUENCE_DEFAULTS: dict = {
    "length": 10,
    "kernel": 10,
    "init": "orthogonal",
    "dim": 256,
    "renderings": 4,
    "augment": dict(AUGMENT_DEFAULTS),
    "noise": 0.0,
    **LOSS_DEFAULTS,
    "places_per_batch": 32,
    "per_place": 2,
    "near": True,
    "near_range": 10,
    "sample_tol": 0,
    "pos_tol": 0,
    "neg_tol": 2,
    "val_tol": 2,
    "optimizer": "adam",
    "lr": 1e-3,
    "weight_decay": 1e-4,
    "epochs": 20,
    "cosine": True,
    "patience": None,
    "batch_size": 256,
    "seed": 0,
    "trainer": dict(TRAINER_DEFAULTS),
}

_CONF_TYPES = {**TRAINER_TYPES, "augment": (dict,), "patience": (int,), "dim": (int,)}


def _check_conf(conf: dict | None, default: dict, where: str) -> dict:
    c = merge_conf(default, conf, where=where)
    check_types(c, default, where=where, types=_CONF_TYPES)
    if c["loss"] not in LOSSES:
        raise ConfigError(f"{where} 'loss' must be one of {list(LOSSES)}, got {c['loss']!r}")
    for key in ("places_per_batch", "per_place", "epochs", "batch_size"):
        if int(c[key]) < 1:
            raise ConfigError(f"{where} '{key}' must be >= 1, got {c[key]!r}")
    if int(c["per_place"]) < 2:
        raise ConfigError(f"{where} 'per_place' must be >= 2 (a place needs a positive pair), got {c['per_place']!r}")
    for key in ("pos_tol", "neg_tol", "sample_tol", "val_tol"):
        if int(c[key]) < 0:
            raise ConfigError(f"{where} '{key}' must be >= 0 frames, got {c[key]!r}")
    if c["lr"] <= 0:
        raise ConfigError(f"{where} 'lr' must be positive, got {c['lr']!r}")
    return c


def _check_images(images, field: str) -> np.ndarray:
    a = np.asarray(images)
    if a.ndim != 4 or a.shape[3] != 3 or a.dtype != np.uint8:
        raise DataError(f"expected (N, H, W, 3) uint8 RGB images, got {a.dtype} of shape {a.shape}", field=field)
    return a


def _check_places(places, n: int, field: str) -> np.ndarray:
    p = np.asarray(places)
    if p.shape != (n,) or not np.issubdtype(p.dtype, np.integer):
        raise DataError(f"expected ({n},) integer frame indices, got {p.dtype} of shape {p.shape}", field=field)
    return p.astype(np.int64)


def _fit(module: PlaceModule, c: dict, stage: str, n_anchors: int, n_val: int | None) -> None:
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.arange(n_anchors)), batch_size=module.anchors_per_batch, shuffle=True
    )
    steps = max(1, -(-n_anchors // module.anchors_per_batch))
    val_loader = None
    if n_val is not None:
        val_loader = torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(torch.arange(n_val)), batch_size=int(c["batch_size"])
        )
    fit_lightning(
        module,
        loader,
        c["trainer"],
        stage,
        max_epochs=int(c["epochs"]),
        log_every_n_steps=steps,
        val_dataloader=val_loader,
        monitor="val_recall_at_1" if val_loader is not None else None,
        mode="max",
        patience=c["patience"],
        fingerprint_conf={k: v for k, v in c.items() if k not in ("trainer", "batch_size", "patience")},
    )


def _val_tensors(val: dict | None, what: str) -> dict | None:
    """``query_*`` and ``database_*`` arrays -> ``place`` (V,), ``query`` (V,) bool and the stacked ``what``."""
    if val is None:
        return None
    need = (f"query_{what}", "query_places", f"database_{what}", "database_places")
    missing = [k for k in need if k not in val]
    if missing:
        raise DataError(f"validation data needs keys {list(need)}; missing {missing}", field=missing[0])
    qp = _check_places(val["query_places"], len(val[need[0]]), "query_places")
    dp = _check_places(val["database_places"], len(val[need[2]]), "database_places")
    return {
        "place": torch.as_tensor(np.concatenate([qp, dp])),
        "query": torch.cat([torch.ones(len(qp), dtype=torch.bool), torch.zeros(len(dp), dtype=torch.bool)]),
    }


def build_place_net(conf: dict | None = None) -> PlaceNet:
    """The untrained :class:`PlaceNet` of a :func:`train_place_descriptor` conf (over :data:`PLACE_DEFAULTS`;
    weights drawn from torch's generator), e.g. to load a saved state dict into."""
    c = _check_conf(conf, PLACE_DEFAULTS, "place descriptor conf")
    b = c["backbone"]
    return PlaceNet(
        b["depth"],
        b["width"],
        b["stem"],
        b["stages"],
        c["aggregation"],
        c["clusters"],
        c["dim"],
        c["gem_p"],
        standardize=c["standardize"],
        stem_stride=b["stem_stride"],
        grid=tuple(c["grid"]),
    )


def train_place_descriptor(images, places, conf: dict | None = None, val: dict | None = None) -> PlaceNet:
    """Train a :class:`PlaceNet` from images labelled with places (frame indices).

    Parameters
    ----------
    images : (M, H, W, 3) uint8
        Training images of every traversal (e.g. both seasons' frames of the training stretch).
    places : (M,) int
        The place (frame index) of each image; images of different traversals at the same place
        share it.
    conf : dict, optional
        Over :data:`PLACE_DEFAULTS`.
    val : dict, optional
        ``query_images``, ``query_places``, ``database_images``, ``database_places``: the validation
        stretch, scored by recall@1 of the queries within ``val_tol`` frames after every epoch; the
        best epoch's weights are kept.

    Returns
    -------
    PlaceNet
        In eval mode; ``history_`` holds ``[epoch, mean loss, val recall@1]`` rows and ``best_val_``
        the best validation recall@1 (NaN without ``val``).

    Raises
    ------
    ConfigError, DataError
    """
    c = _check_conf(conf, PLACE_DEFAULTS, "place descriptor conf")
    images = _check_images(images, "images")
    places = _check_places(places, len(images), "places")
    if len(np.unique(places)) < 2:
        raise DataError("training needs images of at least two places", field="places")
    v = _val_tensors(val, "images")
    val_data = None
    if v is not None:
        qi, di = (
            _check_images(val["query_images"], "query_images"),
            _check_images(val["database_images"], "database_images"),
        )
        val_data = {"image": torch.as_tensor(np.concatenate([qi, di])), **v}
    with seeded(int(c["seed"]), uses_cuda(c["trainer"])):
        net = build_place_net(c)
        if c["aggregation"] == "netvlad":
            pick = torch.randperm(len(images))[: int(c["netvlad_init"])]
            with torch.no_grad():
                net.eval()
                fmap = net.features(images_to_tensor(images[np.sort(pick.numpy())]))
                net.train()
            net.pool.init_from(fmap, seed=int(c["seed"]))
        coord = places if c["still"] is None else travel_coordinate(images, places, float(c["still"]))
        data = {"image": torch.as_tensor(images), "place": torch.as_tensor(coord)}
        module = _module(net, data, val_data, c, c["augment"], 0.0)
        _fit(module, c, "place-descriptor", module.n_anchors, module.n_val)
    return _finish(net, module)


def _module(net, data, val_data, c: dict, augment_conf, noise: float) -> PlaceModule:
    per_batch = max(1, c["places_per_batch"] // 2) if c["near"] else c["places_per_batch"]
    steps = max(1, -(-int(torch.unique(data["place"]).numel()) // per_batch))
    return PlaceModule(
        net,
        data,
        val_data,
        places_per_batch=c["places_per_batch"],
        per_place=c["per_place"],
        pos_tol=c["pos_tol"],
        neg_tol=c["neg_tol"],
        sample_tol=c["sample_tol"],
        val_tol=c["val_tol"],
        near=c["near"],
        near_range=c["near_range"],
        loss=c["loss"],
        loss_conf=c[c["loss"]],
        augment_conf=augment_conf,
        noise=noise,
        optimizer=c["optimizer"],
        lr=c["lr"],
        weight_decay=c["weight_decay"],
        cosine_steps=steps * int(c["epochs"]) if c["cosine"] else None,
    )


def _finish(net: nn.Module, module: PlaceModule) -> nn.Module:
    net.eval()
    net.history_ = [list(map(float, h)) for h in module.history]
    net.best_val_ = float(module.best_val) if module.best_state is not None else float("nan")
    return net


def describe(net: nn.Module, images, batch_size: int = 256) -> np.ndarray:
    """Descriptors of images by a :class:`PlaceNet`, in eval mode without gradients.

    Parameters
    ----------
    net : PlaceNet
    images : (N, H, W, 3) uint8
    batch_size : int

    Returns
    -------
    (N, net.out_features) float32 numpy, unit rows.
    """
    images = _check_images(images, "images")
    p = next(net.parameters())
    was = net.training
    net.eval()
    out = []
    try:
        with torch.no_grad():
            for i in range(0, len(images), int(batch_size)):
                x = images_to_tensor(images[i : i + int(batch_size)]).to(p.device, p.dtype)
                out.append(net({"image": x})["descriptor"].float().cpu())
    finally:
        net.train(was)
    if not out:
        return np.zeros((0, net.out_features), np.float32)
    return torch.cat(out).numpy().astype(np.float32)


def describe_windows(seq: SequenceDescriptor, descriptors, batch_size: int = 1024) -> np.ndarray:
    """Sequence descriptors of every window of ``seq.length`` consecutive frames of one traversal.

    Parameters
    ----------
    seq : SequenceDescriptor
    descriptors : (T, D) frame descriptors in traversal order (e.g. :func:`describe`'s)
    batch_size : int

    Returns
    -------
    (T - L + 1, seq.dim) float32 numpy: row ``t`` describes frames ``t .. t + L - 1`` (its centre is frame
    ``t + L // 2``).
    """
    d = torch.as_tensor(np.asarray(descriptors))
    if d.dim() != 2 or d.shape[1] != seq.frame_dim:
        raise DataError(
            f"expected (T, {seq.frame_dim}) frame descriptors, got shape {tuple(d.shape)}", field="descriptors"
        )
    p = next(seq.conv.parameters())
    d = d.to(p.device, p.dtype)
    n = d.shape[0] - seq.length + 1
    if n <= 0:
        return np.zeros((0, seq.dim), np.float32)
    rows = torch.arange(n, device=d.device)[:, None] + torch.arange(seq.length, device=d.device)[None]
    out = []
    was = seq.training
    seq.eval()
    try:
        with torch.no_grad():
            for i in range(0, n, int(batch_size)):
                out.append(seq({"descriptors": d[rows[i : i + int(batch_size)]]})["descriptor"].float().cpu())
    finally:
        seq.train(was)
    return torch.cat(out).numpy().astype(np.float32)


def _frame_descriptors(net, traversal, field: str, c: dict, renderings: int) -> np.ndarray:
    """(R, T, D) descriptors of one traversal: frame descriptors given as (T, D) floats, or images
    described by ``net`` (rendering 0 plain, the others augmented)."""
    a = np.asarray(traversal)
    if a.ndim == 2 and np.issubdtype(a.dtype, np.floating):
        return a.astype(np.float32)[None]
    a = _check_images(a, field)
    if net is None:
        raise DataError(
            "images need a frame network (net) to be described; pass frame descriptors instead", field=field
        )
    out = [describe(net, a, c["batch_size"])]
    p = next(net.parameters())
    was = net.training
    net.eval()
    try:
        with torch.no_grad():
            for _ in range(max(renderings, 1) - 1):
                chunks = []
                for i in range(0, len(a), int(c["batch_size"])):
                    x = images_to_tensor(a[i : i + int(c["batch_size"])]).to(p.device, p.dtype)
                    x = augment(x, c["augment"]) if c["augment"] is not None else x
                    chunks.append(net({"image": x})["descriptor"].float().cpu())
                out.append(torch.cat(chunks).numpy())
    finally:
        net.train(was)
    return np.stack(out).astype(np.float32)


def train_sequence_descriptor(
    net: PlaceNet | None, traversals, conf: dict | None = None, val: dict | None = None
) -> SequenceDescriptor:
    """Train a :class:`SequenceDescriptor` on windows of consecutive frames of several traversals.

    The frame network is fixed: frame descriptors are computed once (``renderings`` of them per
    training frame, the extra ones from augmented images), then only the sequence weights train, on
    windows of ``length`` frames labelled with their centre place; windows of the same place in
    different traversals (seasons) are positives.

    Parameters
    ----------
    net : PlaceNet or None
        Describes the frames given as images (None when frame descriptors are given).
    traversals : list of (frames, places)
        Each a traversal in order: ``frames`` (T, H, W, 3) uint8 images or (T, D) float frame
        descriptors, ``places`` (T,) int.
    conf : dict, optional
        Over :data:`SEQUENCE_DEFAULTS`.
    val : dict, optional
        ``query_frames``, ``query_places``, ``database_frames``, ``database_places``: one query and one
        database traversal of the validation stretch (images or descriptors); scored by window
        recall@1 within ``val_tol`` frames of the centre places.

    Returns
    -------
    SequenceDescriptor
        In eval mode, with ``frame_net = net``; ``history_`` and ``best_val_`` as
        :func:`train_place_descriptor`'s.
    """
    c = _check_conf(conf, SEQUENCE_DEFAULTS, "sequence descriptor conf")
    length = int(c["length"])
    if length < 1 or int(c["kernel"]) < 1:
        raise ConfigError(
            f"sequence descriptor conf 'length' and 'kernel' must be >= 1, got {length} and {c['kernel']}"
        )
    if not traversals:
        raise DataError("no training traversals", field="traversals")
    with seeded(int(c["seed"]), uses_cuda(c["trainer"])):
        frames, starts, centres, offset = [], [], [], 0
        for k, (tr_frames, tr_places) in enumerate(traversals):
            r = _frame_descriptors(net, tr_frames, f"traversals[{k}]", c, int(c["renderings"]))
            p = _check_places(tr_places, r.shape[1], f"traversals[{k}] places")
            n = r.shape[1] - length + 1
            if n > 0:
                starts.append(offset + np.arange(n))
                centres.append(p[length // 2 : length // 2 + n])
            frames.append(r)
            offset += r.shape[1]
        if not starts:
            raise DataError(f"no traversal has {length} frames", field="traversals")
        n_r = min(f.shape[0] for f in frames)
        data = {
            "frames": torch.as_tensor(np.concatenate([f[:n_r] for f in frames], axis=1)),
            "start": torch.as_tensor(np.concatenate(starts)),
            "place": torch.as_tensor(np.concatenate(centres)),
        }
        val_data = None
        if val is not None:
            v = _val_tensors(val, "frames")
            q = _frame_descriptors(net, val["query_frames"], "query_frames", c, 1)[0]
            d = _frame_descriptors(net, val["database_frames"], "database_frames", c, 1)[0]
            nq, nd = len(q) - length + 1, len(d) - length + 1
            if nq < 1 or nd < 1:
                raise DataError(f"validation traversals need at least {length} frames", field="query_frames")
            qp, dp = v["place"][: len(q)], v["place"][len(q) :]
            val_data = {
                "frames": torch.as_tensor(np.concatenate([q, d]))[None],
                "start": torch.cat([torch.arange(nq), len(q) + torch.arange(nd)]),
                "place": torch.cat([qp[length // 2 : length // 2 + nq], dp[length // 2 : length // 2 + nd]]),
                "query": torch.cat([torch.ones(nq, dtype=torch.bool), torch.zeros(nd, dtype=torch.bool)]),
            }
        seq = SequenceDescriptor(data["frames"].shape[2], c["dim"], length, c["kernel"], init=c["init"])
        module = _module(seq, data, val_data, c, None, float(c["noise"]))
        _fit(module, c, "sequence-descriptor", module.n_anchors, module.n_val)
    seq.frame_net = net
    return _finish(seq, module)
