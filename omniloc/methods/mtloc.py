"""MTLoc: multimodal (IMU + magnetometer + WiFi) location regression with a transferable IMU-LSTM.

Wei & Radu, "Leveraging Transfer Learning for Robust Multimodal Positioning Systems based on
Smartphone Multisensory Data" (``../shared/papers/mtloc.txt``).

**Windows** (Sec. IV-A/B, :func:`omniloc.data.windows.extract_windows`): at end times ``t_k``
every ``hop_s`` = 0.1 s (or at every WiFi scan, ``window_times="wifi"``), ``x_imu`` (10, C_imu)
and ``x_mag`` (10, C_mag) are the IMU and magnetometer over ``(t_k - 1 s, t_k]`` resampled to
10 Hz (axes, or the paper's norms), ``x_wifi`` the latest scan no older than ``wifi_max_age_s``
on the training access points (APs); any modality may be missing (mask ``p_k``). Labels are the
ground truth at ``t_k`` (:func:`omniloc.data.truth_at`).

**Network** (Table I, :func:`omniloc.nn.sequence.multimodal_regressor`)::

    h_imu = LSTM_128(x_imu)        h_mag = LSTM_128(x_mag)        h_wifi = FC_128(ReLU(FC_128(x_wifi)))
    h_b   = m_b  where p_k[b] = 0  (a learned "missing" embedding per branch)
    z     = Dropout(ReLU(W [h_imu; h_mag; h_wifi] + c)),   xy = W_pos z,   floor logits = W_floor z

Inputs are standardised on the training data; WiFi is ``[m * (rss - mu) / sigma, m]`` (``m`` =
heard) or the paper's ``(rss - rss_min + 1) / (rss_max - rss_min + 1)``, 0 = not heard. ``xy``
is in the training frame (mean removed, divided by one isotropic scale ``s``); ``z`` is the mean
training height of the predicted (building, floor) class. **Loss**
(:class:`omniloc.nn.regression.PositionRegressionModule`): ``mean ||xy - xy*||^2`` or the Huber
loss (threshold ``huber_delta_m / s``) + ``floor_weight`` x floor cross-entropy.

Not in the paper (off in the ``paper`` preset): modality dropout, access-point dropout and the
WiFi warm start (:func:`~omniloc.nn.sequence.warm_start_fusion`). Transfer (Sec. III-B/C):
:mod:`omniloc.methods.mtloc_transfer`. Robustness (Sec. IV-E/F): :meth:`MTLocLocalizer.predict_with_dropped`.
Parameters: :meth:`MTLocLocalizer.parameter_table` (``paper`` preset, 750 APs, two floors: the
paper's 295,810 + 1,024 PyTorch LSTM biases + 384 missing embeddings + 258 floor head). The
findings behind the defaults are in ``docs/methods/mtloc.md``.
"""

from __future__ import annotations

import copy
import warnings
import zlib
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from .._errors import ConfigError, DataError
from ..data import Dataset, Estimate, Recording
from ..data import windows as _windows
from ..data.fingerprint import access_point_vocabulary, wifi_features
from ..data.windows import (
    CHANNELS,
    WINDOW_TIMES,
    MultimodalWindows,
    channel_values,
    drop_windows,
    extract_windows,
    labelled_windows,
)
from ..nn.regression import PositionRegressionModule, predict_positions
from ..nn.sequence import keras_comparison, multimodal_regressor
from ..nn.training import (
    OPTIMIZERS,
    RESUME,
    TRAINER_DEFAULTS,
    TRAINER_TYPES,
    fit_lightning,
    index_loaders,
    training_conf,
)
from . import mtloc_transfer as xfer
from ._neural import NeuralLocalizer
from .base import Localizer

__all__ = [
    "MTLocLocalizer",
    "MTLocWindows",
    "BRANCHES",
    "PAPER_PARAMETERS",
    "IMU_TRANSFER_FORMAT",
    "window_labels",
    "extract_windows",
    "drop_windows",
    "pretrain_imu_lstm",
    "load_imu_lstm",
    "WIFI_TRANSFER_FORMAT",
    "WINDOW_TIMES",
    "pretrain_wifi_dnn",
    "load_wifi_dnn",
    "wifi_transfer_layers",
]

# the transfer functions, importable from here too (omniloc.methods.mtloc.pretrain_imu_lstm, ...)
IMU_TRANSFER_FORMAT, WIFI_TRANSFER_FORMAT = xfer.IMU_TRANSFER_FORMAT, xfer.WIFI_TRANSFER_FORMAT
pretrain_imu_lstm, load_imu_lstm, wifi_transfer_layers = (
    xfer.pretrain_imu_lstm,
    xfer.load_imu_lstm,
    xfer.wifi_transfer_layers,
)
pretrain_wifi_dnn, load_wifi_dnn = xfer.pretrain_wifi_dnn, xfer.load_wifi_dnn
#: modalities in fusion order (also the columns of :attr:`MTLocWindows.present`)
BRANCHES = _windows.WINDOW_MODALITIES
#: the windows of one recording (:class:`omniloc.data.windows.MultimodalWindows`)
MTLocWindows = MultimodalWindows
#: ground truth at window end times (:func:`omniloc.data.windows.window_labels`)
window_labels = _windows.window_labels
#: trainable parameters of the paper's network (Table I, Keras, 750 access points, no floor head)
PAPER_PARAMETERS = 295_810
#: conf keys that do not change what a fit trains (left out of the checkpoint fingerprint): a
#: finished fit resumed with more ``epochs`` continues training
_NOT_FINGERPRINTED = ("predict", "epochs", "pretrain.epochs")


def _patterns(present: np.ndarray, branches) -> np.ndarray:
    """Each window's present modalities (W, B) bool as one string, ``"imu+wifi"`` ("" when none)."""
    names = np.asarray(list(branches), dtype=object)
    return np.array(["+".join(names[row]) for row in np.asarray(present, dtype=bool)], dtype=object)


class MTLocLocalizer(NeuralLocalizer):
    """MTLoc (see the module docstring for windows, network, loss and transfer).

    Configuration (``default_conf``; nested sections merge key by key):

    * ``branches``: modalities used, a non-empty subset of ``["imu", "magnetometer", "wifi"]``
      (presets ``imu-only``, ``mag-only``, ``wifi-only`` are single-branch baselines). A branch
      with no data in the training set is left out (``branches_``) with a warning naming it.
    * ``streams``: stream name per modality, ``imu``, ``magnetometer``, ``wifi``; None = the one
      :meth:`omniloc.data.Recording.find_stream` picks.
    * ``window_s``, ``hop_s``, ``rate_hz``: window length (1 s), spacing of the window ends (0.1 s)
      and resampling rate (10 Hz) of the IMU and magnetometer windows.
    * ``window_times``: where windows end, in fit and predict: ``"hop"`` (every ``hop_s`` over the
      streams' span) or ``"wifi"`` (at every scan of the WiFi stream, one window per scan, for
      fingerprint surveys on a synthetic timeline such as SODIndoorLoc).
    * ``max_gap_s``: a window lacks a sensor when one of its grid times is farther than this from
      every raw sample (None: ``max(2 / rate_hz, 3 x median sample period)``).
    * ``imu_channels``: ``"axes"`` (6: acc x, y, z m/s^2, gyro x, y, z rad/s), ``"magnitude"``
      (2: ``|acc|``, ``|gyro|``, the paper's) or ``"both"`` (8).
    * ``mag_channels``: ``"axes"`` (3, uT), ``"magnitude"`` (1, the paper's) or ``"both"`` (4).
    * ``wifi_max_age_s``: the latest scan counts for a window up to this age (seconds).
    * ``wifi_min_detected``: a scan hearing fewer vocabulary APs counts as missing.
    * ``wifi_encoding``: ``"mask"`` (standardised RSS + heard mask, 2 inputs per AP) or
      ``"positive"`` (the paper's single input per AP, 0 = not heard).
    * ``max_access_points``: cap of the WiFi vocabulary (most often heard first; None = all).
    * ``lstm_hidden``: units of the IMU-LSTM and MAG-LSTM (128).
    * ``wifi_hidden``: widths of the WiFi-DNN (``[128, 128]``).
    * ``fusion_hidden``: width of the fusion layer (128).
    * ``dropout``: dropout on the fusion layer.
    * ``floor_weight``: lambda of the floor cross-entropy (0 = no floor head).
    * ``loss``: ``"mse"`` or ``"huber"`` (position loss); ``huber_delta_m``: Huber threshold, metres.
    * ``modality_dropout``: per modality (``imu``, ``magnetometer``, ``wifi``), the probability of
      removing it from a training window.
    * ``wifi_ap_dropout``: probability of hiding each heard access point of a training scan
      (:func:`~omniloc.nn.sequence.access_point_dropout`; 0 = off).
    * ``warm_start``: None, or a branch (``"wifi"``) trained alone first; the fused network then
      starts from it (see the module docstring), so with ``val`` the fused model is never worse
      on validation than the branch alone.
    * ``imu_transfer``: None (train the IMU-LSTM from scratch), or a pretrained IMU-LSTM: a path
      written by :func:`pretrain_imu_lstm` or the dict it returns.
    * ``imu_trainable``: with ``imu_transfer``: False = frozen (transferred model), True =
      fine-tuned from the transferred weights.
    * ``wifi_transfer``: None (train the WiFi-DNN from scratch), or a pretrained WiFi-DNN: a path
      written by :func:`pretrain_wifi_dnn` or the dict it returns. Its layers after the first
      ``Linear`` start the WiFi-DNN (``wifi_hidden`` must match); the first layer, tied to this
      building's access points, is new. Needs the ``wifi`` branch.
    * ``wifi_trainable``: with ``wifi_transfer``: False = the transferred layers are frozen,
      True = fine-tuned from the transferred weights.
    * ``epochs``, ``batch_size``, ``lr``, ``optimizer`` (``"adam"``, ``"rmsprop"`` with Keras'
      ``rho = 0.9``, or ``"sgd"``), ``weight_decay``: training of the fused model
      (:class:`omniloc.nn.training.TrainingModule`).
    * ``early_stopping_patience``: epochs without improvement of the validation error
      (``val_pos_err_m``, after every epoch) before stopping (only with ``val``; None = train all
      epochs). The best epoch's weights are kept.
    * ``seed``: weights, batch order and modality dropout (bit-identical fits on CPU; the
      caller's torch random state is not changed).
    * ``pretrain``: :func:`pretrain_imu_lstm` (Table IV): ``epochs`` (100), ``lr`` (0.005),
      ``optimizer`` (``"rmsprop"``), ``batch_size``, ``early_stopping_patience``.
    * ``refuse_uninformative``: with validation data, windows whose combination of present
      modalities the model places no better than the training centroid on the validation
      windows, or more than ``refuse_ratio`` times worse than the windows of its best
      combination, get no estimate (NaN) from :meth:`predict` instead of a meaningless one
      (``refused_`` lists them; :meth:`predict_with_dropped`, the robustness experiments, still
      answers them).
    * ``predict``: ``batch_size`` (windows per forward pass), ``drop_modalities`` (per modality,
      the fraction of windows whose modality is removed at prediction, for robustness tests; see
      :meth:`predict_with_dropped`), ``drop_seed`` (seed of that removal).
    * ``trainer``: :data:`omniloc.nn.training.TRAINER_DEFAULTS`: ``accelerator``, ``devices``,
      ``strategy``, ``num_nodes``, ``process_group_backend``, ``progress``, ``checkpoint_dir``
      (stage folders ``mtloc``, ``mtloc-wifi`` for the warm start, ``imu-pretrain``) and
      ``resume`` (``"auto"``: resume a stage whose checkpoint fingerprint matches, refuse
      otherwise; ``"never"``: start fresh, the old stage folder kept aside). ``epochs`` and the
      ``predict`` section are not part of the fingerprint, so more epochs continue a finished fit.
    """

    name: ClassVar[str] = "mtloc"
    #: what the default conf fuses (``branches`` may use fewer; any one modality is enough)
    required_streams: ClassVar[tuple[str, ...]] = ("imu", "magnetometer", "wifi")
    conf_types: ClassVar[dict[str, tuple[type, ...]]] = dict(TRAINER_TYPES)
    default_conf: ClassVar[dict] = {
        "branches": ["imu", "magnetometer", "wifi"],
        "streams": {"imu": None, "magnetometer": None, "wifi": None},
        "window_s": 1.0,
        "hop_s": 0.1,
        "rate_hz": 10.0,
        "window_times": "hop",
        "max_gap_s": None,
        "imu_channels": "axes",
        "mag_channels": "axes",
        "wifi_max_age_s": 4.0,
        "wifi_min_detected": 1,
        "wifi_encoding": "mask",
        "max_access_points": 1000,
        "lstm_hidden": 128,
        "wifi_hidden": [128, 128],
        "fusion_hidden": 128,
        "dropout": 0.0,
        "floor_weight": 0.5,
        "loss": "mse",
        "huber_delta_m": 2.0,
        "modality_dropout": {"imu": 0.1, "magnetometer": 0.1, "wifi": 0.2},
        "wifi_ap_dropout": 0.2,
        "warm_start": "wifi",
        "imu_transfer": None,
        "imu_trainable": True,
        "wifi_transfer": None,
        "wifi_trainable": True,
        "epochs": 60,
        "batch_size": 128,
        "lr": 1e-3,
        "optimizer": "adam",
        "weight_decay": 0.0,
        "early_stopping_patience": 10,
        "seed": 0,
        "pretrain": {
            "epochs": 100,
            "lr": 0.005,
            "optimizer": "rmsprop",
            "batch_size": 128,
            "early_stopping_patience": None,
        },
        "refuse_uninformative": True,
        "refuse_ratio": 2.0,
        "predict": {
            "batch_size": 4096,
            "drop_modalities": {"imu": 0.0, "magnetometer": 0.0, "wifi": 0.0},
            "drop_seed": 0,
        },
        "trainer": dict(TRAINER_DEFAULTS),
    }
    presets: ClassVar[dict[str, dict]] = {
        # seconds-long smoke runs (tests, --quick benches)
        "quick": {
            "lstm_hidden": 32,
            "wifi_hidden": [32, 32],
            "fusion_hidden": 32,
            "epochs": 12,
            "batch_size": 64,
            "lr": 3e-3,
            "early_stopping_patience": None,
            "pretrain": {"epochs": 3, "batch_size": 64},
            "trainer": {"progress": False},
        },
        # Table I inputs (acc/gyro and field magnitudes, one input per AP, scans of the current second)
        # and Table IV pretraining
        "paper": {
            "imu_channels": "magnitude",
            "mag_channels": "magnitude",
            "wifi_encoding": "positive",
            "wifi_max_age_s": 1.0,
            "wifi_ap_dropout": 0.0,
            "warm_start": None,
            "pretrain": {"epochs": 100, "lr": 0.005, "optimizer": "rmsprop"},
        },
        # single-branch baselines
        "imu-only": {"branches": ["imu"]},
        "mag-only": {"branches": ["magnetometer"]},
        "wifi-only": {"branches": ["wifi"]},
    }

    # ------------------------------------------------------------------ configuration
    def _check_conf(self) -> None:
        """Validate the merged conf (a :class:`~omniloc.ConfigError` naming the key and what was expected)."""
        c = self.conf
        branches = list(c["branches"] or [])
        if not branches or any(b not in BRANCHES for b in branches):
            raise ConfigError(f"branches must be a non-empty subset of {list(BRANCHES)}, got {c['branches']!r}")
        choices = {
            "imu_channels": CHANNELS,
            "mag_channels": CHANNELS,
            "wifi_encoding": ("mask", "positive"),
            "loss": ("mse", "huber"),
            "optimizer": OPTIMIZERS,
            "pretrain.optimizer": OPTIMIZERS,
            "window_times": WINDOW_TIMES,
            "warm_start": (None, *BRANCHES),
            "trainer.resume": RESUME,
        }
        for key, allowed in choices.items():
            value = c[key] if "." not in key else c[key.split(".")[0]][key.split(".")[1]]
            if value not in allowed:
                raise ConfigError(f"{key} must be one of {list(allowed)}, got {value!r}")
        for key, probs, closed in (
            ("modality_dropout", c["modality_dropout"], False),
            ("predict.drop_modalities", c["predict"]["drop_modalities"], True),
        ):
            for b, p in probs.items():
                if b not in BRANCHES or not (0.0 <= float(p) <= 1.0 if closed else 0.0 <= float(p) < 1.0):
                    raise ConfigError(
                        f"{key}.{b} must be a modality of {list(BRANCHES)} with a fraction in "
                        f"[0, 1{']' if closed else ')'}, got {p!r}"
                    )
        if not 0.0 <= float(c["wifi_ap_dropout"]) < 1.0:
            raise ConfigError(f"wifi_ap_dropout must be in [0, 1), got {c['wifi_ap_dropout']!r}")
        if c["window_s"] <= 0 or c["hop_s"] <= 0 or c["rate_hz"] <= 0:
            raise ConfigError("window_s, hop_s and rate_hz must be positive")
        for key, branch in (("imu_transfer", "imu"), ("wifi_transfer", "wifi")):
            if c[key] is not None and branch not in branches:
                raise ConfigError(f"{key} needs the {branch!r} branch")

    def _fusion_branches(self) -> list[str]:
        """The conf's ``branches`` in fusion order (:data:`BRANCHES`)."""
        return [b for b in BRANCHES if b in self.conf["branches"]]

    def _extract(self, rec: Recording, branches, ap_ids, t_end=None) -> MultimodalWindows:
        c = self.conf
        return extract_windows(
            rec,
            ap_ids,
            t_end,
            branches=branches,
            streams=c["streams"],
            window_s=c["window_s"],
            hop_s=c["hop_s"],
            rate_hz=c["rate_hz"],
            imu_channels=c["imu_channels"],
            mag_channels=c["mag_channels"],
            wifi_max_age_s=c["wifi_max_age_s"],
            wifi_min_detected=c["wifi_min_detected"],
            max_gap_s=c["max_gap_s"],
            window_times=c["window_times"],
        )

    def _labelled(self, data: Dataset, branches, ap_ids) -> dict[str, np.ndarray]:
        """Training windows of every recording: inside the pose timeline, with one of ``branches``."""
        return labelled_windows(data, lambda rec: self._extract(rec, branches, ap_ids), branches)

    # ------------------------------------------------------------------ network
    def _in_features(self) -> dict[str, int]:
        c = self.conf
        return {
            "imu": channel_values(np.zeros((1, 6)), c["imu_channels"]).shape[1],
            "magnetometer": channel_values(np.zeros((1, 3)), c["mag_channels"]).shape[1],
        }

    def _build_net(self, branches, n_access_points: int, n_floor_classes: int):
        c = self.conf
        n_cls = int(n_floor_classes) if float(c["floor_weight"]) > 0 else 0
        return multimodal_regressor(
            self._input_shapes(branches, n_access_points),
            int(c["lstm_hidden"]),
            c["wifi_hidden"],
            int(c["fusion_hidden"]),
            n_cls,
            float(c["dropout"]),
        )

    def _input_shapes(self, branches, n_access_points: int) -> dict[str, tuple]:
        n = int(round(self.conf["window_s"] * self.conf["rate_hz"]))
        feats = self._in_features()
        shapes = {b: (n, feats[b]) for b in ("imu", "magnetometer")}
        shapes["wifi"] = (n_access_points * (2 if self.conf["wifi_encoding"] == "mask" else 1),)
        return {b: shapes[b] for b in branches}

    def parameter_table(
        self, n_access_points: int | None = None, n_floor_classes: int | None = None
    ) -> tuple[list[tuple[str, tuple, int]], str]:
        """Rows ``(block, shape, parameters)`` of the network and a printable table compared with the paper's.

        ``n_access_points`` (default: the fitted model's, or 750 as the paper's) and
        ``n_floor_classes`` (the fitted model's, or 2) size the network.
        """
        fitted = self.is_fitted
        if fitted and n_access_points is None and n_floor_classes is None:
            net, branches, a = self._net, list(self.branches_), len(self.ap_ids_)
        else:
            branches = list(self.branches_) if fitted else self._fusion_branches()
            a = int(n_access_points if n_access_points is not None else (len(self.ap_ids_) if fitted else 750))
            f = int(n_floor_classes if n_floor_classes is not None else (len(self.floor_classes_) if fitted else 2))
            net = self._build_net(branches, a, f)
        rows = net.parameter_rows(self._input_shapes(branches, a))
        n_lstm = sum(1 for b in branches if b in ("imu", "magnetometer"))
        lines = [
            keras_comparison(
                rows,
                int(self.conf["lstm_hidden"]),
                n_lstm,
                PAPER_PARAMETERS,
                f"MTLoc network ({a} access points)",
                "paper (Table I, Keras, 750 APs, three branches)",
            )
        ]
        feats = self._in_features()
        if feats["imu"] != 2 or feats["magnetometer"] != 1 or self.conf["wifi_encoding"] != "positive":
            lines.append(
                f"  (inputs differ from the paper's 10x2 IMU, 10x1 magnetometer, 1 value per AP: here "
                f"IMU 10x{feats['imu']}, magnetometer 10x{feats['magnetometer']}, WiFi encoding "
                f"{self.conf['wifi_encoding']!r})"
            )
        return rows, "\n".join(lines)

    # ------------------------------------------------------------------ fit
    def _fit(self, train: Dataset, val: Dataset | None) -> None:
        from ..nn.sequence import warm_start_fusion

        c = self.conf
        branches = self._fusion_branches()
        recs = list(train)
        if not recs:
            raise DataError("the training dataset has no recordings", field="recordings")
        transfer = wifi_transfer = None
        if c["imu_transfer"] is not None:
            transfer = xfer.check_imu_transfer(load_imu_lstm(c["imu_transfer"]), c, self._in_features()["imu"])
        if c["wifi_transfer"] is not None:
            wifi_transfer = xfer.check_wifi_transfer(load_wifi_dnn(c["wifi_transfer"]), c)
        ap_ids = np.zeros(0, dtype=str)
        if "wifi" in branches:
            found = [r.find_stream("wifi", c["streams"]["wifi"], required=False) for r in recs]
            ap_ids = access_point_vocabulary([s for s in found if s is not None], c["max_access_points"])
        tr = self._labelled(train, branches, ap_ids)
        used = [b for b in branches if tr["present"][:, BRANCHES.index(b)].any()]
        if not used:
            raise DataError(
                f"no training window has any of the modalities {branches} inside the ground-truth "
                "time span (streams missing, or no positions)",
                field="streams",
            )
        if transfer is not None and "imu" not in used:
            raise DataError("imu_transfer is set but no training window has IMU data", field="streams/imu")
        if wifi_transfer is not None and "wifi" not in used:
            raise DataError("wifi_transfer is set but no training window has WiFi data", field="streams/wifi")
        dropped = [b for b in branches if b not in used]
        if dropped:
            warnings.warn(
                f"mtloc: branch{'es' if len(dropped) > 1 else ''} {dropped} dropped: no training window "
                f"has {' or '.join(dropped)} data inside the ground-truth time span (stream missing or "
                f"too sparse); the model fuses {used} only",
                UserWarning,
                stacklevel=3,
            )
        self.branches_ = used
        self.ap_ids_ = ap_ids if "wifi" in used else np.zeros(0, dtype=str)
        self._fit_normalisation(tr, transfer)

        # floor classes: (building, floor) pairs seen in training; height per class
        self.has_building_ = any(r.building is not None for r in recs)
        self.has_floor_ = bool(tr["has_floor"].any())
        fb = np.c_[tr["building"], tr["floor"]][tr["has_floor"]]
        self.floor_classes_ = np.unique(fb, axis=0).astype(np.int64) if len(fb) else np.zeros((0, 2), np.int64)
        target_cls = self._floor_targets(tr)
        z = tr["position"][:, 2]
        self.default_z_ = float(np.nanmean(z)) if np.isfinite(z).any() else 0.0
        self.floor_z_ = np.array(
            [
                np.nanmean(np.where(target_cls == k, z, np.nan)) if (target_cls == k).any() else self.default_z_
                for k in range(len(self.floor_classes_))
            ],
            dtype=np.float64,
        )
        self._fit_frame(tr["position"][:, :2])

        net = self._build_net(used, len(self.ap_ids_), len(self.floor_classes_))
        self.imu_transfer_info_ = {} if transfer is None else xfer.apply_imu_transfer(net, transfer, c["imu_trainable"])
        self.wifi_transfer_info_ = {} if wifi_transfer is None else xfer.apply_wifi_transfer(net, wifi_transfer, c)
        data = self._tensors(tr, used, target_cls)
        val_data, va = None, None
        if val is not None and len(val):
            va = self._labelled(val, used, self.ap_ids_)
            cols = [BRANCHES.index(b) for b in used]
            if va["present"][:, cols].any(axis=1).any():
                val_data = self._tensors(va, used, self._floor_targets(va))
        warm = c["warm_start"] if c["warm_start"] in used and len(used) > 1 else None
        self.warm_start_val_pos_err_m_ = float("nan")
        if warm is not None:
            # the branch alone first (same schedule), then the fused network starting from it
            p_data = self._tensors(tr, [warm], target_cls)
            p_val = None
            if val_data is not None and va["present"][:, BRANCHES.index(warm)].any():
                p_val = self._tensors(va, [warm], self._floor_targets(va))
            p_net = self._build_net([warm], len(self.ap_ids_), len(self.floor_classes_))
            if wifi_transfer is not None and warm == "wifi":
                xfer.apply_wifi_transfer(p_net, wifi_transfer, c)
            if transfer is not None and warm == "imu":
                xfer.apply_imu_transfer(p_net, transfer, c["imu_trainable"])
            partial = self._module(p_net, p_data, p_val, [warm])
            self._train(
                partial,
                p_data,
                p_val,
                f"mtloc-{warm}",
                int(c["epochs"]),
                int(c["batch_size"]),
                c["early_stopping_patience"],
            )
            warm_start_fusion(net, partial.net.cpu())
        module = self._module(net, data, val_data, used)
        if warm is not None and val_data is not None:
            # best-epoch selection starts from the warm start (the fused net computes the branch's output)
            module.update_best(module.score(torch.arange(len(val_data["present"])).split(4096)))
            self.warm_start_val_pos_err_m_ = float(module.best_val)
        self._train(
            module, data, val_data, "mtloc", int(c["epochs"]), int(c["batch_size"]), c["early_stopping_patience"]
        )
        self._net = module.net.cpu().eval()
        self.train_log_ = np.array(module.history, dtype=np.float64).reshape(-1, 3)
        self.n_train_windows_ = int(len(tr["present"]))
        self.best_val_pos_err_m_ = float(module.best_val) if np.isfinite(module.best_val) else float("nan")
        self.refused_ = []
        if c["refuse_uninformative"] and val is not None and len(val):
            self.refused_ = self._uninformative_patterns(val)

    def _uninformative_patterns(self, val: Dataset) -> list[str]:
        """Presence patterns (``"imu+magnetometer"`` ...) whose validation windows the model places no
        better than the training centroid does, or more than ``refuse_ratio`` times worse than the
        windows of its best pattern: the model refuses those windows (NaN) at prediction.

        On site1 the fused model estimates the windows before a path's first WiFi scan from the
        IMU and magnetometer alone, 70 m off on average, which made the fused mean worse than the
        WiFi branch's although it is better on the windows both estimate.
        """
        from ..data.align import truth_at

        cols = [BRANCHES.index(b) for b in self.branches_]
        err: dict[str, list] = {}
        base: dict[str, list] = {}
        for rec in val:
            if rec.position is None or not len(rec.t):
                continue
            try:
                w = self._extract(rec, self.branches_, self.ap_ids_)
                est = self._predict_one(rec, {}, 0, windows=w)
            except DataError:
                continue
            present = w.present[:, cols]
            inside = (est.t >= rec.t[0]) & (est.t <= rec.t[-1]) & np.isfinite(est.position[:, 0])
            if not inside.any():
                continue
            gt = truth_at(rec, est.t[inside])["position"][:, :2]
            e = np.linalg.norm(est.position[inside, :2] - gt, axis=1)
            b = np.linalg.norm(self.position_mean_[None] - gt, axis=1)
            for key, ei, bi in zip(_patterns(present[inside], self.branches_), e, b):
                err.setdefault(key, []).append(ei)
                base.setdefault(key, []).append(bi)
        mean = {k: float(np.mean(v)) for k, v in err.items() if len(v) >= 10}
        if not mean:
            return []
        best = min(mean.values())
        ratio = float(self.conf["refuse_ratio"])
        return sorted(k for k, e in mean.items() if e >= float(np.mean(base[k])) or e > ratio * best)

    def _fit_frame(self, xy: np.ndarray) -> None:
        """The normalised position frame: training mean (2,) m and one isotropic scale, metres."""
        self.position_mean_ = xy.mean(axis=0)
        self.position_scale_ = float(max(np.sqrt(xy.var(axis=0).mean()), 1e-3)) if len(xy) > 1 else 1.0

    def _module(self, net, data: dict, val_data: dict | None, branches) -> PositionRegressionModule:
        c = self.conf
        drop = [float(c["modality_dropout"].get(b, 0.0)) for b in branches]
        return PositionRegressionModule(
            net,
            data,
            val_data,
            branches,
            drop,
            float(c["floor_weight"]),
            c["loss"],
            float(c["huber_delta_m"]) / self.position_scale_,
            c["optimizer"],
            float(c["lr"]),
            float(c["weight_decay"]),
            self.position_scale_,
            ap_dropout=float(c["wifi_ap_dropout"]),
            n_access_points=len(self.ap_ids_),
        )

    def _train(self, module, data, val_data, stage: str, epochs: int, batch_size: int, patience) -> None:
        n_val = None if val_data is None else len(val_data["present"])
        loader, val_loader, steps = index_loaders(len(data["present"]), batch_size, n_val, max(batch_size, 1024))
        fit_lightning(
            module,
            loader,
            self.conf["trainer"],
            stage,
            max_epochs=epochs,
            log_every_n_steps=steps,
            val_dataloader=val_loader,
            monitor="val_pos_err_m" if val_loader is not None else None,
            patience=patience,
            fingerprint_conf=training_conf(self.conf, _NOT_FINGERPRINTED),
        )

    # ------------------------------------------------------------------ predict
    def predict_recording(self, rec: Recording) -> Estimate:
        """One estimate per window end time (every ``hop_s``, or every WiFi scan with ``window_times="wifi"``).

        Windows lose modalities as ``conf["predict"]`` asks. ``position`` (M, 3) m is NaN and
        ``floor`` -1 where a window has none of the model's modalities left; ``building`` when the
        training data had buildings. A recording with none of the branches' streams is a DataError.
        """
        p = self.conf["predict"]
        drop = {k: float(v) for k, v in p["drop_modalities"].items()}
        return self._predict_one(rec, drop, int(p["drop_seed"]), refuse=True)

    def predict_with_dropped(
        self, data: Recording | Dataset, drop_modalities: dict, drop_seed: int | None = None
    ) -> Estimate:
        """:meth:`predict` with modalities removed from a seeded fraction of the windows (Sec. IV-E/F).

        ``drop_modalities`` (modality -> fraction in [0, 1], e.g. ``{"wifi": 0.4}``) and ``drop_seed``
        override ``conf["predict"]``: the modality is removed from exactly ``round(fraction * n)`` of
        the ``n`` windows of each recording that have it (drawn from the seed and the recording name).
        """
        self._check_fitted()
        drop = {k: float(v) for k, v in self.conf["predict"]["drop_modalities"].items()}
        for k, v in drop_modalities.items():
            if k not in BRANCHES:
                raise ConfigError(f"drop_modalities keys must be in {list(BRANCHES)}, got {k!r}")
            drop[k] = float(v)
        seed = int(self.conf["predict"]["drop_seed"] if drop_seed is None else drop_seed)
        if isinstance(data, Recording):
            return self._predict_one(data, drop, seed)
        if isinstance(data, Dataset):
            return Estimate.concat([self._predict_one(r, drop, seed) for r in data])
        raise TypeError(f"predict_with_dropped expects a Recording or a Dataset, got {type(data).__name__}")

    def _predict_one(
        self, rec: Recording, drop: dict, seed: int, refuse: bool = False, windows: MultimodalWindows | None = None
    ) -> Estimate:
        """Estimates at the windows of ``rec`` (``windows``: already extracted by :meth:`_extract`)."""
        self._check_fitted()
        streams = self.conf["streams"]
        if all(rec.find_stream(b, streams.get(b), required=False) is None for b in self.branches_):
            raise DataError(
                f"recording '{rec.name}' has none of the streams of the model's branches "
                f"{self.branches_}; it has {sorted(rec.streams)}",
                field="streams",
            )
        w = self._extract(rec, self.branches_, self.ap_ids_) if windows is None else windows
        cols = [BRANCHES.index(b) for b in self.branches_]
        present = w.present[:, cols]
        fracs = {i: drop.get(b, 0.0) for i, b in enumerate(self.branches_) if drop.get(b, 0.0) > 0}
        if fracs:
            present = drop_windows(present, fracs, np.random.default_rng([seed, zlib.crc32(rec.name.encode())]))
        m = len(w)
        pos = np.full((m, 3), np.nan)
        cls = np.full(m, -1, dtype=np.int64)
        ok = present.any(axis=1)
        refused = getattr(self, "refused_", None) if refuse else None
        if refused:
            ok &= ~np.isin(_patterns(present, self.branches_), refused)
        if ok.any():
            d = {"imu": w.imu, "magnetometer": w.magnetometer, "scans": w.scans, "scan_index": w.scan_index}
            inputs = self._inputs(d, self.branches_)
            n_cls = len(self.floor_classes_)
            xy, cls_ok = predict_positions(
                self._net,
                inputs,
                present,
                np.flatnonzero(ok),
                int(self.conf["predict"]["batch_size"]),
                0 if n_cls == 1 else -1,
            )
            pos[ok, :2] = xy * self.position_scale_ + self.position_mean_
            cls[ok] = cls_ok
        has_cls, fb = cls >= 0, None
        pos[ok, 2] = self.default_z_
        if len(self.floor_classes_):
            pos[ok & has_cls, 2] = self.floor_z_[cls[ok & has_cls]]
            fb = np.where(has_cls[:, None], self.floor_classes_[np.maximum(cls, 0)], -1)
        floor = fb[:, 1] if fb is not None and self.has_floor_ else None
        building = fb[:, 0] if floor is not None and self.has_building_ else None
        return Estimate(np.full(m, rec.name), w.t, pos, floor=floor, building=building)

    # ------------------------------------------------------------------ inputs
    def _fit_normalisation(self, tr: dict, transfer: dict | None) -> None:
        present = tr["present"]
        for b, key in (("imu", "imu"), ("magnetometer", "mag")):
            x = tr[b]
            c = self._in_features()[b]
            rows = present[:, BRANCHES.index(b)]
            if x is not None and rows.any():
                flat = x[rows].reshape(-1, x.shape[-1]).astype(np.float64)
                mean, std = flat.mean(axis=0), np.maximum(flat.std(axis=0), 1e-3)
            else:
                mean, std = np.zeros(c), np.ones(c)
            setattr(self, f"{key}_mean_", mean.astype(np.float32))
            setattr(self, f"{key}_std_", std.astype(np.float32))
        if transfer is not None:  # the frozen / initial LSTM expects the source's normalisation
            self.imu_mean_ = np.asarray(transfer["imu_mean"], dtype=np.float32)
            self.imu_std_ = np.asarray(transfer["imu_std"], dtype=np.float32)
        rss = tr["scans"]
        heard = rss[np.isfinite(rss)] if rss is not None else np.zeros(0)
        if len(heard):
            self.rss_mean_, self.rss_std_ = float(heard.mean()), float(max(heard.std(), 1.0))
            self.rss_min_, self.rss_max_ = float(heard.min()), float(heard.max())
        else:
            self.rss_mean_, self.rss_std_, self.rss_min_, self.rss_max_ = -70.0, 10.0, -100.0, -30.0

    def _floor_targets(self, d: dict) -> np.ndarray:
        """Floor-class index per window, -100 (ignored) where unknown or not a training class."""
        lookup = {(int(b), int(f)): k for k, (b, f) in enumerate(self.floor_classes_)}
        return np.array(
            [
                lookup.get((int(b), int(f)), -100) if h else -100
                for b, f, h in zip(d["building"], d["floor"], d["has_floor"])
            ],
            dtype=np.int64,
        )

    def _inputs(self, d: dict, branches) -> dict[str, np.ndarray]:
        """Normalised network inputs: IMU / magnetometer windows, WiFi features per scan (+ a zero row)."""
        out = {}
        if "imu" in branches:
            out["imu"] = ((d["imu"] - self.imu_mean_) / self.imu_std_).astype(np.float32)
        if "magnetometer" in branches:
            out["magnetometer"] = ((d["magnetometer"] - self.mag_mean_) / self.mag_std_).astype(np.float32)
        if "wifi" in branches:
            scans = d["scans"] if d["scans"] is not None else np.zeros((0, len(self.ap_ids_)), np.float32)
            feats = wifi_features(
                scans, self.conf["wifi_encoding"], self.rss_mean_, self.rss_std_, self.rss_min_, self.rss_max_
            )
            out["wifi_scans"] = np.concatenate([feats, np.zeros((1, feats.shape[1]), np.float32)])
            si = d["scan_index"]
            out["scan_index"] = np.where(si >= 0, si, len(feats)).astype(np.int64)
        return out

    def _tensors(self, d: dict, branches, floor_target: np.ndarray) -> dict[str, torch.Tensor]:
        cols = [BRANCHES.index(b) for b in branches]
        keep = d["present"][:, cols].any(axis=1)
        sub = {k: (v[keep] if k not in ("scans",) and v is not None else v) for k, v in d.items()}
        # torch-owned copies (not views of numpy memory): DDP spawn moves them to shared memory
        data = {k: torch.tensor(v) for k, v in self._inputs(sub, branches).items()}
        data["present"] = torch.tensor(sub["present"][:, cols])
        xy = (sub["position"][:, :2] - self.position_mean_) / self.position_scale_
        data["target"] = torch.tensor(xy, dtype=torch.float32)
        data["floor"] = torch.tensor(floor_target[keep], dtype=torch.int64)
        return data

    # ------------------------------------------------------------------ persistence
    def save(self, path, overwrite: bool = False) -> Path:
        """As :meth:`Localizer.save`; an in-memory ``imu_transfer`` / ``wifi_transfer`` is saved as a description."""
        conf = dict(self.conf)
        for key, what in (("imu_transfer", "IMU-LSTM"), ("wifi_transfer", "WiFi-DNN")):
            if isinstance(conf[key], dict):
                conf[key] = f"<pretrained {what} from {conf[key].get('source', '')!r}, in memory at fit time>"
        view = copy.copy(self)  # shares the learned state; only its conf differs
        view.conf = conf
        return Localizer.save(view, path, overwrite=overwrite)

    def _set_state(self, state: dict[str, Any]) -> None:
        super()._set_state(state)
        self.branches_ = [str(b) for b in self.branches_]
        self.ap_ids_ = np.asarray(self.ap_ids_, dtype=str).reshape(-1)
        self.floor_classes_ = np.asarray(self.floor_classes_, dtype=np.int64).reshape(-1, 2)
        for k in ("position_scale_", "default_z_", "rss_mean_", "rss_std_", "rss_min_", "rss_max_"):
            setattr(self, k, float(getattr(self, k)))
        self.has_building_, self.has_floor_ = bool(self.has_building_), bool(self.has_floor_)

    def _load_extra(self, folder: Path) -> None:
        try:
            w = torch.load(folder / "weights.pt", map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError) as e:
            raise DataError(f"unreadable weights: {e}", file=folder / "weights.pt") from None
        self._net = self._build_net(self.branches_, len(self.ap_ids_), len(self.floor_classes_))
        try:
            self._net.load_state_dict(w["net"])
        except (KeyError, RuntimeError) as e:
            raise DataError(f"weights do not match the saved configuration: {e}", file=folder / "weights.pt") from None
        self._net.eval()
