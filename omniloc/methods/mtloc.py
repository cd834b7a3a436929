"""MTLoc: multimodal (IMU + magnetometer + WiFi) location regression with a transferable IMU-LSTM.

Wei & Radu, "Leveraging Transfer Learning for Robust Multimodal Positioning Systems based on
Smartphone Multisensory Data" (``../shared/papers/mtloc.txt``).

Windows (Sec. IV-A/B)
---------------------
Estimates are made at window end times ``t_k`` every ``hop_s`` = 0.1 s (1-s windows overlapping
by 900 ms, :func:`omniloc.data.window_end_times`). For each window:

* **IMU**: the ``imu`` stream over ``(t_k - window_s, t_k]`` resampled to ``rate_hz`` = 10 Hz
  (10 steps, linear interpolation, :func:`omniloc.data.resample_windows`). ``imu_channels``
  chooses what each step holds: ``"axes"`` (default) the 6 raw channels, accelerometer x, y, z
  in m/s^2 then gyroscope x, y, z in rad/s (device frame); ``"magnitude"`` (the paper's
  ``10*2`` input) the norms ``|acc|`` m/s^2 and ``|gyro|`` rad/s, computed on the raw samples
  before resampling; ``"both"`` the 6 axes then the 2 norms.
* **Magnetometer**: the same window of the ``magnetometer`` stream: ``mag_channels`` ``"axes"``
  (3 channels, uT, device frame), ``"magnitude"`` (``|B|`` uT, the paper's ``10*1``) or ``"both"``.
* **WiFi**: the latest scan at or before ``t_k`` no older than ``wifi_max_age_s``
  (:func:`omniloc.data.latest_index`), its access points (APs) matched to the training
  vocabulary by id (:func:`align_access_points`).

**Fingerprint data** (``window_times = "wifi"``): in a fingerprint survey such as SODIndoorLoc
the recording is a list of scans on a synthetic timeline (one scan per second) and the position
jumps from reference point to reference point, so windows every ``hop_s`` labelled by
interpolation would mix two points, and the "latest scan up to ``wifi_max_age_s`` old" rule would
give one scan several labels. With ``window_times = "wifi"`` the window end times are the scan
times of the recording's WiFi stream (one window per scan, in fit and predict; a recording
without WiFi has no windows): each window holds exactly its own scan (age 0) and is labelled with
the pose at the scan time. IMU and magnetometer windows, when used, end at the same times.

A window *lacks* a modality when the recording has no such stream, when a grid time of the
window is farther than ``max_gap_s`` from every raw sample or outside the stream (default
``max(2 / rate_hz, 3 x median sample period)``, i.e. the stream is too sparse there), when a
resampled value is not finite, or (WiFi) when no scan is recent enough or the scan hears fewer
than ``wifi_min_detected`` vocabulary APs. The availability is a per-window mask
(:class:`MTLocWindows.present`).

Labels: the ground truth interpolated at ``t_k`` (:func:`omniloc.data.truth_at`: linear
position, floor and building of the nearest pose), so sparse waypoint labels of real phone data
work. Only windows whose end lies inside the recording's pose timeline, and that have at least
one of the model's modalities, are used for training and validation.

Network (Table I)
-----------------
Branches (``branches``; any non-empty subset, in this order):

* IMU-LSTM: one LSTM layer, ``lstm_hidden`` = 128 units, over the ``(10, C_imu)`` window; the
  last hidden state is the feature.
* MAG-LSTM: the same over the ``(10, C_mag)`` magnetometer window.
* WiFi-DNN: ``FC(wifi_hidden[0]) -> ReLU -> FC(wifi_hidden[1])`` (128, 128) over the scan.

Inputs are standardised with statistics learned in :meth:`MTLocLocalizer.fit` (per channel for
IMU and magnetometer; one mean and standard deviation over every heard RSS for WiFi). The WiFi
vector (``wifi_encoding``):

* ``"mask"`` (default): ``[m * (rss - mu) / sigma, m]`` with ``m = 1`` for heard APs, 0 for not
  heard: 2 inputs per AP, the presence itself is an input and not-heard is never a fake RSS value.
* ``"positive"`` (the paper's single input per AP): ``(rss - rss_min + 1) / (rss_max - rss_min + 1)``
  for heard APs (in (0, 1]), 0 for not heard (``rss_min``/``rss_max`` of the training data).

The vocabulary is the APs heard in the training recordings, most often heard first, capped at
``max_access_points`` (saved with the model; APs unknown to it are ignored at prediction).

A missing modality does not feed zeros: each branch is an :class:`omniloc.nn.sequence.MaskedBranch`
whose output is a learned "missing" embedding (128 values) for windows lacking that modality,
independent of the input. The three features are concatenated (384), then
``FC(fusion_hidden = 128) -> ReLU -> Dropout(dropout)`` and two heads: ``FC(2)``, the 2-D position
in a normalised frame (training mean subtracted, divided by one isotropic scale, the root mean
of the x and y variances; predictions are mapped back to metres), and ``FC(F)``, floor logits
over the ``F`` (building, floor) pairs seen in training (only when ``F >= 2`` and
``floor_weight > 0``). The height ``z`` of an estimate is the mean training height of its
predicted floor.

**Modality dropout** (not in the paper; what lets a trained model run with a sensor missing):
during training each present modality of each window is removed with probability
``modality_dropout[name]`` (independently), so the fused layers learn to use the missing
embeddings.

**Access-point dropout and WiFi warm start** (not in the paper; defaults, chosen on the
validation paths of site1, see README): ``wifi_ap_dropout`` hides each heard access point of a
training scan with that probability (a phone at run time misses some of the APs the survey heard). ``warm_start="wifi"``
trains the WiFi branch alone first and starts the fused network from it, with the IMU and
magnetometer features at zero weight in the fusion layer; the fused model's best-epoch selection
starts from that model. Trained jointly from the start, the fused model was worse than its WiFi
branch alone on real phone data (its IMU and magnetometer branches learn patterns of the training
paths); the ``paper`` preset switches both off.

Loss: ``loss = "mse"``: the mean squared Euclidean distance in the normalised frame (the
paper's regression loss), or ``"huber"``: the Huber loss per axis with ``huber_delta_m`` metres
as threshold (robust to label noise of waypoint interpolation); plus ``floor_weight`` x the
floor cross-entropy (windows without a floor label are left out of it).

Transfer (Sec. III-B/C, IV-B/C)
--------------------------------
:func:`pretrain_imu_lstm` trains the IMU-LSTM plus a linear layer to regress the 2-D position on
a *source* dataset (Table IV: RMSprop, learning rate 0.005, 100 epochs: conf ``pretrain``) and
returns / saves the LSTM weights with the IMU normalisation and window settings. A target model
with ``imu_transfer`` (a file path or that dict) starts its IMU-LSTM from them and keeps the
source's IMU normalisation (physical units are the same across phones); ``imu_trainable=False``
freezes the LSTM ("transferred model"), ``True`` fine-tunes it ("fine-tuned model"). Without
``imu_transfer`` the IMU-LSTM is trained from scratch. The fraction sweep of Table V is ``fit``
on :func:`omniloc.data.splits.nested_fraction` of the target training recordings.

**WiFi-DNN transfer** (not in the paper, which transfers only the IMU-LSTM; for WiFi-only data
such as SODIndoorLoc's buildings): :func:`pretrain_wifi_dnn` trains a WiFi-only MTLoc on the
source building and returns / saves the WiFi-DNN's layers that do not depend on the access-point
vocabulary, i.e. every layer of the WiFi MLP after its first ``Linear`` (the first one has one
input per source AP, or two with the ``mask`` encoding, and cannot be reused in a building with
other APs). A target model with ``wifi_transfer`` builds a new first layer for its own APs
(trained from scratch, with the target's own RSS normalisation) and starts the following layers
from the transferred weights: ``wifi_trainable=False`` freezes them, ``True`` fine-tunes them.
The fusion layer and the heads are always new (the position frame is the target building's).

Training and prediction
-----------------------
Training runs through :func:`omniloc.nn.training.fit_lightning` (progress bar, checkpoints in
``trainer.checkpoint_dir`` resumed from ``last.ckpt``, DDP on several devices / processes). With
``val`` given, the mean validation position error (``val_pos_err_m``) is computed after every
epoch, training stops after ``early_stopping_patience`` epochs without improvement, and the
weights of the best epoch are kept. Optimiser: ``optimizer`` (``adam`` or ``rmsprop``, Keras-like
``rho = 0.9``), ``lr``, ``weight_decay``, mini-batches of ``batch_size`` windows. ``seed`` seeds
the weights, the batch order and the modality dropout (bit-identical fits on CPU).

:meth:`MTLocLocalizer.predict` gives one estimate per window end time over the span of the
recording's sensor streams (10 Hz), batched; a window with none of the model's modalities gets
a NaN position and floor -1. ``drop_modalities={"wifi": 0.4}`` removes that modality from a
seeded random 40 % of the windows that have it (the robustness experiment of Sec. IV-E/F).

Parameter count
---------------
:meth:`MTLocLocalizer.parameter_table` lists the blocks. With the ``paper`` preset (magnitude
inputs, ``positive`` WiFi encoding), 750 APs and two floor classes the network has 297,476
parameters: the paper's 295,810 (:data:`PAPER_PARAMETERS`) + 1,024 for the second LSTM bias
vector PyTorch keeps (``b_ih`` and ``b_hh``: ``4 x 128`` per LSTM, Keras has one) + 384 for the
three missing embeddings + 258 for the floor head. The default configuration (6 IMU axes, 3
magnetometer axes, ``mask`` WiFi encoding: 1,500 WiFi inputs) has 396,548 with 750 APs and two
floors.

Experiments (benchmarks)
------------------------
Transfer sweep (Table V, Fig. 4): pretrain once on the source building, then fit on growing
fractions of the target's training recordings, from scratch, frozen and fine-tuned::

    state = pretrain_imu_lstm(source.split("train"), conf, val=source.split("val"), path="imu-lstm.pt")
    for f in (0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0):
        sub = nested_fraction(target.split("train"), f, seed=0)          # nested subsets
        for over in ({}, {"imu_transfer": "imu-lstm.pt", "imu_trainable": False},
                     {"imu_transfer": "imu-lstm.pt", "imu_trainable": True}):
            MTLocLocalizer({**conf, **over}).fit(sub, target.split("val"))

Robustness (Fig. 5/6, Table VI): one fitted model, each modality removed from 0-100 % of the
test windows that have it: ``loc.predict(test, drop_modalities={"wifi": 0.4}, drop_seed=0)``.
The ``transfer`` and ``robustness`` bench suites (:mod:`omniloc.bench.transfer`,
:mod:`omniloc.bench.robustness`) run both on real phone data; ``sim-office`` runs the fused model
and its single-branch baselines on the simulated office.
"""

from __future__ import annotations

import copy
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F

from .._errors import ConfigError, DataError
from ..data import Dataset, Estimate, Recording, Stream
from ..data.align import truth_at
from ..data.fingerprint import access_point_vocabulary, align_access_points, wifi_features
from ..data.splits import nested_fraction
from ..data.windows import CHANNELS, channel_values, sensor_windows, wifi_windows, window_end_times
from ..nn.training import TRAINER_DEFAULTS
from .base import Localizer

__all__ = ["MTLocLocalizer", "MTLocWindows", "BRANCHES", "PAPER_PARAMETERS", "IMU_TRANSFER_FORMAT",
           "window_labels", "extract_windows", "drop_windows",
           "pretrain_imu_lstm", "load_imu_lstm",
           "WIFI_TRANSFER_FORMAT", "WINDOW_TIMES", "pretrain_wifi_dnn", "load_wifi_dnn", "wifi_transfer_layers"]

#: modalities in fusion order (also the columns of :attr:`MTLocWindows.present`)
BRANCHES = ("imu", "magnetometer", "wifi")
#: trainable parameters of the paper's network (Table I, Keras, 750 access points, no floor head)
PAPER_PARAMETERS = 295_810
#: ``format`` field of a pretrained IMU-LSTM (:func:`pretrain_imu_lstm`)
IMU_TRANSFER_FORMAT = "omniloc.mtloc.imu_lstm"
#: ``format`` field of a pretrained WiFi-DNN (:func:`pretrain_wifi_dnn`)
WIFI_TRANSFER_FORMAT = "omniloc.mtloc.wifi_dnn"
#: choices of ``window_times``: every ``hop_s`` (``"hop"``) or at every WiFi scan (``"wifi"``)
WINDOW_TIMES = ("hop", "wifi")


# ============================================================================ windows
def window_labels(rec: Recording, t_end: np.ndarray) -> dict[str, np.ndarray]:
    """Ground truth at window end times.

    Returns
    -------
    dict
        ``position`` (M, 3) m (NaN outside the pose timeline or without positions), ``floor``
        (M,) int, ``building`` (M,) int (0 where the recording has none), ``has_floor`` (M,) bool,
        ``inside`` (M,) bool: the time is inside the pose timeline and the position is known.
    """
    t_end = np.asarray(t_end, dtype=np.float64).reshape(-1)
    m = len(t_end)
    out = {"position": np.full((m, 3), np.nan), "floor": np.zeros(m, np.int64), "building": np.zeros(m, np.int64),
           "has_floor": np.zeros(m, bool), "inside": np.zeros(m, bool)}
    if len(rec.t) == 0 or rec.position is None or m == 0:
        return out
    gt = truth_at(rec, t_end)
    out["position"] = gt["position"]
    out["inside"] = gt["inside"] & np.isfinite(gt["position"]).all(axis=1)
    if "floor" in gt:
        out["floor"] = np.asarray(gt["floor"], dtype=np.int64)
        out["has_floor"] = out["inside"].copy()
    if "building" in gt:
        out["building"] = np.asarray(gt["building"], dtype=np.int64)
    return out


@dataclass
class MTLocWindows:
    """The windows of one recording.

    Attributes
    ----------
    recording : str
    t : (M,) seconds
        Window end times.
    imu : (M, n, C_imu) float32 or None
        Resampled IMU windows (raw units, zeros where absent); None when not asked for.
    magnetometer : (M, n, C_mag) float32 or None
    scans : (S, A) float32 dBm or None
        The recording's WiFi scans on the vocabulary (NaN = not heard).
    scan_index : (M,) int
        Row of ``scans`` used by each window, -1 = none.
    present : (M, 3) bool
        Availability of ``imu``, ``magnetometer``, ``wifi`` per window (:data:`BRANCHES` order).
    """

    recording: str
    t: np.ndarray
    imu: np.ndarray | None
    magnetometer: np.ndarray | None
    scans: np.ndarray | None
    scan_index: np.ndarray
    present: np.ndarray

    def __len__(self) -> int:
        return len(self.t)


def extract_windows(rec: Recording, ap_ids=(), t_end: np.ndarray | None = None, *, branches=BRANCHES,
                    streams: dict | None = None, window_s: float = 1.0, hop_s: float = 0.1, rate_hz: float = 10.0,
                    imu_channels: str = "axes", mag_channels: str = "axes", wifi_max_age_s: float = 4.0,
                    wifi_min_detected: int = 1, max_gap_s: float | None = None,
                    window_times: str = "hop") -> MTLocWindows:
    """Windows of the modalities ``branches`` of a recording.

    Parameters
    ----------
    rec : Recording
    ap_ids : (A,) str
        WiFi vocabulary.
    t_end : (M,) seconds, optional
        Window end times; default (``window_times="hop"``): every ``hop_s`` over the span of the
        recording's streams of ``branches`` (:func:`omniloc.data.window_end_times` from the
        earliest first sample to the latest last sample).
    branches : subset of :data:`BRANCHES`
    streams : dict kind -> stream name, optional
        Which stream to use when a recording has several of a kind.
    window_s, hop_s, rate_hz, imu_channels, mag_channels, wifi_max_age_s, wifi_min_detected, max_gap_s
        See the module docstring.
    window_times : ``"hop"`` or ``"wifi"``
        Used when ``t_end`` is None. ``"wifi"``: the window ends are the scan times of the
        recording's ``wifi`` stream (``streams["wifi"]``, else the only one), one window per scan,
        whatever ``branches`` are; none when the recording has no WiFi stream.

    Returns
    -------
    MTLocWindows
    """
    streams = streams or {}
    if window_times not in WINDOW_TIMES:
        raise ConfigError(f"window_times must be one of {list(WINDOW_TIMES)}, got {window_times!r}")
    found = {b: rec.find_stream(b, streams.get(b), required=False) for b in branches}
    found = {b: s for b, s in found.items() if s is not None and len(s.t) > 0}
    if t_end is None and window_times == "wifi":
        scans = found.get("wifi") or rec.find_stream("wifi", streams.get("wifi"), required=False)
        t_end = np.asarray(scans.t, dtype=np.float64).copy() if scans is not None else np.zeros(0)
    if t_end is None:
        if found:
            t_end = window_end_times(min(float(s.t[0]) for s in found.values()),
                                     max(float(s.t[-1]) for s in found.values()), window_s, hop_s)
        else:
            t_end = np.zeros(0)
    t_end = np.asarray(t_end, dtype=np.float64).reshape(-1)
    m = len(t_end)
    n = int(round(window_s * rate_hz))
    present = np.zeros((m, len(BRANCHES)), dtype=bool)
    arrays: dict[str, Any] = {"imu": None, "magnetometer": None}
    for b, ch, width in (("imu", imu_channels, 6), ("magnetometer", mag_channels, 3)):
        if b not in branches:
            continue
        c = channel_values(np.zeros((1, width)), ch).shape[1]
        if b in found:
            arrays[b], present[:, BRANCHES.index(b)] = sensor_windows(found[b], t_end, ch, window_s, rate_hz,
                                                                      max_gap_s)
        else:
            arrays[b] = np.zeros((m, n, c), dtype=np.float32)
    scans, scan_index = None, np.full(m, -1, dtype=np.int64)
    if "wifi" in branches:
        if "wifi" in found:
            scans, scan_index = wifi_windows(found["wifi"], t_end, ap_ids, wifi_max_age_s, wifi_min_detected)
        else:
            scans = np.zeros((0, len(ap_ids)), dtype=np.float32)
        present[:, 2] = scan_index >= 0
    return MTLocWindows(rec.name, t_end, arrays["imu"], arrays["magnetometer"], scans, scan_index.astype(np.int64),
                        present)


def drop_windows(present: np.ndarray, fractions: dict[int, float], rng: np.random.Generator) -> np.ndarray:
    """Remove a modality from a random fraction of the windows that have it.

    Parameters
    ----------
    present : (M, K) bool
    fractions : dict column -> fraction in [0, 1]
        Exactly ``round(fraction * n_k)`` of the ``n_k`` windows with modality ``k`` lose it.
    rng : numpy Generator

    Returns
    -------
    (M, K) bool (a copy)
    """
    out = np.array(present, dtype=bool, copy=True)
    for k, f in sorted(fractions.items()):
        f = float(f)
        if not 0.0 <= f <= 1.0:
            raise ConfigError(f"drop fractions must be in [0, 1], got {f}")
        rows = np.flatnonzero(out[:, k])
        n = int(round(f * len(rows)))
        if n:
            out[rng.choice(rows, n, replace=False), k] = False
    return out


# ============================================================================ transfer
def _load_transfer_state(source, fmt: str, what: str, conf_key: str, writer: str,
                         required: tuple[str, ...]) -> tuple[dict, str, Path | None]:
    """Read a pretrained branch (``torch.save`` file or the dict itself) and check its format tag and fields.

    Returns the state, how to name it in messages, and its file (None for a dict).
    """
    if isinstance(source, dict):
        state, where, file = source, f"{conf_key} (dict)", None
    else:
        path = Path(source)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:   # torch.load raises OSError, KeyError, UnpicklingError, RuntimeError... by content
            first = (str(e).strip().splitlines() or [""])[0]
            raise DataError(f"unreadable pretrained {what} ({type(e).__name__}: {first}); expected a file "
                            f"written by {writer}", file=path) from None
        where, file = str(path), path
    if not isinstance(state, dict) or state.get("format") != fmt:
        got = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise DataError(f"{where} is not a pretrained {what} (expected format {fmt!r}, got {got!r})",
                        file=file, field="format")
    for key in required:
        if key not in state:
            raise DataError(f"{where} has no field {key!r}", file=file, field=key)
    return state, where, file


def load_imu_lstm(source) -> dict:
    """A pretrained IMU-LSTM (:func:`pretrain_imu_lstm`) from a file path, or the dict itself checked."""
    return _load_transfer_state(source, IMU_TRANSFER_FORMAT, "IMU-LSTM", "imu_transfer", "pretrain_imu_lstm",
                                ("in_features", "hidden", "imu_channels", "window_s", "rate_hz", "imu_mean",
                                 "imu_std", "lstm"))[0]


def pretrain_imu_lstm(source: Dataset, conf: dict | None = None, preset: str | None = None,
                      val: Dataset | None = None, path=None) -> dict:
    """Pretrain MTLoc's IMU-LSTM on a source dataset (Sec. IV-B) and return / save it.

    Parameters
    ----------
    source : Dataset
        Recordings with an ``imu`` stream and positions.
    conf, preset
        An MTLoc configuration (:attr:`MTLocLocalizer.default_conf`): windows, ``imu_channels``,
        ``lstm_hidden``, the ``pretrain`` section and ``trainer``.
    val : Dataset, optional
        Validation recordings (early stopping on ``pretrain.early_stopping_patience``).
    path : path, optional
        Where to save (``torch.save``; load with ``conf["imu_transfer"] = path``).

    Returns
    -------
    dict
        ``format``, ``in_features``, ``hidden``, ``imu_channels``, ``window_s``, ``rate_hz``,
        ``imu_mean`` / ``imu_std`` (C,) tensors, ``lstm`` and ``head`` state dicts, ``source``,
        ``n_windows``, ``epochs``, ``loss`` (last training loss), ``val_pos_err_m``.
    """
    return MTLocLocalizer(conf, preset=preset).pretrain_imu(source, val=val, path=path)


def wifi_transfer_layers(encoder) -> torch.nn.Sequential:
    """The layers of a WiFi-DNN (:class:`omniloc.nn.encoders.MLP`) after its first ``Linear``.

    The first ``Linear`` maps the access-point inputs (one or two per AP of the training
    vocabulary) to ``wifi_hidden[0]`` units and is tied to the building's APs; what follows
    (``ReLU``, then ``Linear(wifi_hidden[0], wifi_hidden[1])`` and so on) only sees hidden units and
    is what :func:`pretrain_wifi_dnn` transfers.

    Parameters
    ----------
    encoder : MLP
        The ``wifi`` encoder of an MTLoc network (``net.branches["wifi"].encoder``).

    Returns
    -------
    torch.nn.Sequential
        A view sharing the encoder's modules (changing its parameters changes the encoder's);
        its state-dict keys are the encoder's ``net`` indices (``"2.weight"``, ``"2.bias"``, ...).
        Maps ``(B, wifi_hidden[0])`` pre-activations to ``(B, wifi_hidden[-1])``.
    """
    from ..nn.encoders import MLP

    if not isinstance(encoder, MLP):
        raise TypeError(f"the WiFi-DNN must be an MLP, got {type(encoder).__name__}")
    first = next(i for i, m in enumerate(encoder.net) if isinstance(m, torch.nn.Linear))
    return encoder.net[first + 1:]


def load_wifi_dnn(source) -> dict:
    """A pretrained WiFi-DNN (:func:`pretrain_wifi_dnn`) from a file path, or the dict itself checked.

    Raises
    ------
    DataError
        Unreadable file, not a pretrained WiFi-DNN (``format``), or a missing or malformed field
        (the message names the file, or ``wifi_transfer (dict)``, and the field).
    """
    state, where, file = _load_transfer_state(source, WIFI_TRANSFER_FORMAT, "WiFi-DNN", "wifi_transfer",
                                              "pretrain_wifi_dnn", ("hidden", "layers"))
    hidden = state["hidden"]
    if (not isinstance(hidden, (list, tuple)) or not hidden
            or not all(isinstance(h, int) and h > 0 for h in hidden)):
        raise DataError(f"{where}: 'hidden' must be a non-empty list of positive widths, got {hidden!r}",
                        file=file, field="hidden")
    if not isinstance(state["layers"], dict) or not all(isinstance(v, torch.Tensor) for v in state["layers"].values()):
        raise DataError(f"{where}: 'layers' must be a state dict of tensors", file=file, field="layers")
    return state


def pretrain_wifi_dnn(source: Dataset, conf: dict | None = None, preset: str | None = None,
                      val: Dataset | None = None, path=None) -> dict:
    """Pretrain MTLoc's WiFi-DNN on a source building and return / save its transferable layers.

    A WiFi-only MTLoc (``branches = ["wifi"]``, the rest of ``conf``) is trained on ``source``;
    the layers of its WiFi MLP after the first ``Linear`` (:func:`wifi_transfer_layers`) are
    kept. A target model loads them with ``conf["wifi_transfer"]`` (the path or the dict).

    Parameters
    ----------
    source : Dataset
        Recordings with a ``wifi`` stream and positions (one building).
    conf, preset
        An MTLoc configuration (:attr:`MTLocLocalizer.default_conf`): ``wifi_hidden`` (must be the
        target's), ``wifi_encoding``, ``window_times``, training settings and ``trainer``.
        ``branches`` is forced to ``["wifi"]``; ``wifi_transfer``, ``imu_transfer`` and
        ``warm_start`` are ignored. With ``trainer.checkpoint_dir`` the checkpoints go to its
        ``wifi-pretrain/`` sub-folder.
    val : Dataset, optional
        Validation recordings of the source (early stopping, best epoch).
    path : path, optional
        Where to save (``torch.save``; load with ``conf["wifi_transfer"] = path``).

    Returns
    -------
    dict
        ``format`` (:data:`WIFI_TRANSFER_FORMAT`), ``version``, ``hidden`` (``wifi_hidden``, list
        of int), ``in_features`` (``hidden[0]``: inputs of the transferred layers),
        ``out_features`` (``hidden[-1]``), ``layers`` (state dict of :func:`wifi_transfer_layers`,
        float32 tensors, e.g. ``"2.weight"`` (hidden[1], hidden[0]) and ``"2.bias"`` (hidden[1],)),
        ``wifi_encoding``, ``window_times``, ``n_access_points`` (source vocabulary),
        ``source`` (dataset name), ``n_windows``, ``epochs``, ``loss`` (last training loss, in the
        normalised frame), ``val_pos_err_m`` (best source validation error, metres; NaN without
        ``val``), ``position_scale_m``.
    """
    return MTLocLocalizer(conf, preset=preset).pretrain_wifi(source, val=val, path=path)


# ============================================================================ method
class MTLocLocalizer(Localizer):
    """MTLoc (see the module docstring for windows, network, transfer and training).

    Configuration (``default_conf``; nested sections merge key by key):

    * ``branches``: modalities used, a non-empty subset of ``["imu", "magnetometer", "wifi"]``
      (presets ``imu-only``, ``mag-only``, ``wifi-only`` are single-branch baselines). A branch
      with no data in the training set is left out (``branches_``).
    * ``streams``: stream name per modality (``imu``, ``magnetometer``, ``wifi``); None = the only
      stream of that kind.
    * ``window_s``, ``hop_s``, ``rate_hz``: window length (1 s), spacing of the window ends (0.1 s)
      and resampling rate (10 Hz) of the IMU and magnetometer windows.
    * ``window_times``: where windows end, in fit and predict: ``"hop"`` (every ``hop_s`` over the
      streams' span) or ``"wifi"`` (at every scan of the WiFi stream, one window per scan, for
      fingerprint surveys on a synthetic timeline such as SODIndoorLoc; see the module docstring).
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
    * ``modality_dropout``: per modality, the probability of removing it from a training window.
    * ``wifi_ap_dropout``: probability of hiding each heard access point of a training scan
      (:func:`~omniloc.nn.sequence.access_point_dropout`; 0 = off).
    * ``warm_start``: None, or a branch (``"wifi"``) trained alone first; the fused network then
      starts from it with the other branches' fusion weights at zero
      (:func:`~omniloc.nn.sequence.warm_start_fusion`), and its best-epoch selection starts from
      that model's validation error, so with ``val`` the fused model is never worse on validation
      than the branch alone. Not in the paper (see the module docstring).
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
    * ``epochs``, ``batch_size``, ``lr``, ``optimizer`` (``"adam"`` | ``"rmsprop"``),
      ``weight_decay``: training of the fused model.
    * ``early_stopping_patience``: epochs without improvement of the validation error before
      stopping (only with ``val``; None = train all epochs). The best epoch's weights are kept.
    * ``seed``: weights, batch order and modality dropout.
    * ``pretrain``: :func:`pretrain_imu_lstm` (Table IV): ``epochs`` (100), ``lr`` (0.005),
      ``optimizer`` (``"rmsprop"``), ``batch_size``, ``early_stopping_patience``.
    * ``predict``: ``batch_size`` (windows per forward pass), ``drop_modalities`` (per modality,
      the fraction of windows whose modality is removed at prediction, for robustness tests),
      ``drop_seed``.
    * ``trainer``: :data:`omniloc.nn.training.TRAINER_DEFAULTS` (accelerator, devices, strategy,
      num_nodes, process_group_backend, progress, checkpoint_dir).
    """

    name: ClassVar[str] = "mtloc"
    #: empty: any one of the modalities is enough, so the demo and benches add MTLoc explicitly
    #: what the default conf fuses (``branches`` may use fewer)
    required_streams: ClassVar[tuple[str, ...]] = ("imu", "magnetometer", "wifi")
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
        "pretrain": {"epochs": 100, "lr": 0.005, "optimizer": "rmsprop", "batch_size": 128,
                     "early_stopping_patience": None},
        "predict": {"batch_size": 4096, "drop_modalities": {"imu": 0.0, "magnetometer": 0.0, "wifi": 0.0},
                    "drop_seed": 0},
        "trainer": dict(TRAINER_DEFAULTS),
    }
    presets: ClassVar[dict[str, dict]] = {
        # seconds-long smoke runs (tests, --quick benches)
        "quick": {"lstm_hidden": 32, "wifi_hidden": [32, 32], "fusion_hidden": 32, "epochs": 12, "batch_size": 64,
                  "lr": 3e-3, "early_stopping_patience": None, "pretrain": {"epochs": 3, "batch_size": 64},
                  "trainer": {"progress": False}},
        # Table I inputs (acc/gyro and field magnitudes, one input per AP, scans of the current second)
        # and Table IV pretraining
        "paper": {"imu_channels": "magnitude", "mag_channels": "magnitude", "wifi_encoding": "positive",
                  "wifi_max_age_s": 1.0, "wifi_ap_dropout": 0.0, "warm_start": None,
                  "pretrain": {"epochs": 100, "lr": 0.005, "optimizer": "rmsprop"}},
        # single-branch baselines
        "imu-only": {"branches": ["imu"]},
        "mag-only": {"branches": ["magnetometer"]},
        "wifi-only": {"branches": ["wifi"]},
    }

    # ------------------------------------------------------------------ configuration
    def _check_conf(self) -> list[str]:
        """Validate the conf; returns the branches in fusion order."""
        c = self.conf
        branches = list(c["branches"] or [])
        unknown = [b for b in branches if b not in BRANCHES]
        if unknown or not branches:
            raise ConfigError(f"branches must be a non-empty subset of {list(BRANCHES)}, got {c['branches']!r}")
        for key in ("imu_channels", "mag_channels"):
            if c[key] not in CHANNELS:
                raise ConfigError(f"{key} must be one of {list(CHANNELS)}, got {c[key]!r}")
        if c["wifi_encoding"] not in ("mask", "positive"):
            raise ConfigError(f"wifi_encoding must be 'mask' or 'positive', got {c['wifi_encoding']!r}")
        if c["loss"] not in ("mse", "huber"):
            raise ConfigError(f"loss must be 'mse' or 'huber', got {c['loss']!r}")
        for sec in (c, c["pretrain"]):
            if sec["optimizer"] not in ("adam", "rmsprop"):
                raise ConfigError(f"optimizer must be 'adam' or 'rmsprop', got {sec['optimizer']!r}")
        for b, p in c["modality_dropout"].items():
            if not 0.0 <= float(p) < 1.0:
                raise ConfigError(f"modality_dropout.{b} must be in [0, 1), got {p}")
        if c["window_s"] <= 0 or c["hop_s"] <= 0 or c["rate_hz"] <= 0:
            raise ConfigError("window_s, hop_s and rate_hz must be positive")
        if c["window_times"] not in WINDOW_TIMES:
            raise ConfigError(f"window_times must be one of {list(WINDOW_TIMES)}, got {c['window_times']!r}")
        if c["wifi_transfer"] is not None and "wifi" not in branches:
            raise ConfigError("wifi_transfer needs the 'wifi' branch")
        if not 0.0 <= float(c["wifi_ap_dropout"]) < 1.0:
            raise ConfigError(f"wifi_ap_dropout must be in [0, 1), got {c['wifi_ap_dropout']!r}")
        if c["warm_start"] is not None and c["warm_start"] not in BRANCHES:
            raise ConfigError(f"warm_start must be None or one of {list(BRANCHES)}, got {c['warm_start']!r}")
        return [b for b in BRANCHES if b in branches]

    def _extract(self, rec: Recording, branches, ap_ids, t_end=None) -> MTLocWindows:
        c = self.conf
        return extract_windows(rec, ap_ids, t_end, branches=branches, streams=c["streams"], window_s=c["window_s"],
                               hop_s=c["hop_s"], rate_hz=c["rate_hz"], imu_channels=c["imu_channels"],
                               mag_channels=c["mag_channels"], wifi_max_age_s=c["wifi_max_age_s"],
                               wifi_min_detected=c["wifi_min_detected"], max_gap_s=c["max_gap_s"],
                               window_times=c["window_times"])

    def _labelled(self, data: Dataset, branches, ap_ids) -> dict[str, np.ndarray]:
        """Training windows of every recording: inside the pose timeline, with one of ``branches``."""
        cols = [BRANCHES.index(b) for b in branches]
        parts: dict[str, list] = {k: [] for k in ("imu", "magnetometer", "scan_index", "present", "position",
                                                  "floor", "building", "has_floor", "t")}
        scans, offset = [], 0
        for rec in data:
            w = self._extract(rec, branches, ap_ids)
            lab = window_labels(rec, w.t)
            keep = lab["inside"] & w.present[:, cols].any(axis=1)
            for b in ("imu", "magnetometer"):
                if getattr(w, b) is not None:
                    parts[b].append(getattr(w, b)[keep])
            if w.scans is not None:
                si = w.scan_index[keep]
                parts["scan_index"].append(np.where(si >= 0, si + offset, -1))
                scans.append(w.scans)
                offset += len(w.scans)
            else:
                parts["scan_index"].append(np.full(int(keep.sum()), -1, dtype=np.int64))
            parts["present"].append(w.present[keep])
            parts["t"].append(w.t[keep])
            for k in ("position", "floor", "building", "has_floor"):
                parts[k].append(lab[k][keep])
        out = {k: np.concatenate(v) if v else None for k, v in parts.items()}
        out["scans"] = np.concatenate(scans) if scans else None
        if out["present"] is None:
            out["present"] = np.zeros((0, len(BRANCHES)), bool)
        return out

    # ------------------------------------------------------------------ network
    def _in_features(self) -> dict[str, int]:
        c = self.conf
        return {"imu": channel_values(np.zeros((1, 6)), c["imu_channels"]).shape[1],
                "magnetometer": channel_values(np.zeros((1, 3)), c["mag_channels"]).shape[1]}

    def _build_net(self, branches, n_access_points: int, n_floor_classes: int):
        from ..nn.encoders import MLP
        from ..nn.sequence import LSTMEncoder, MultimodalRegressor

        c = self.conf
        enc: dict[str, torch.nn.Module] = {}
        feats = self._in_features()
        for b in branches:
            if b in ("imu", "magnetometer"):
                enc[b] = LSTMEncoder(feats[b], int(c["lstm_hidden"]))
            else:
                width = n_access_points * (2 if c["wifi_encoding"] == "mask" else 1)
                hidden = [int(h) for h in c["wifi_hidden"]]
                enc[b] = MLP(width, hidden[-1], hidden[:-1])
        n_cls = int(n_floor_classes) if float(c["floor_weight"]) > 0 else 0
        return MultimodalRegressor(enc, int(c["fusion_hidden"]), n_cls, float(c["dropout"]))

    def _input_shapes(self, branches, n_access_points: int) -> dict[str, tuple]:
        n = int(round(self.conf["window_s"] * self.conf["rate_hz"]))
        feats = self._in_features()
        shapes = {b: (n, feats[b]) for b in ("imu", "magnetometer")}
        shapes["wifi"] = (n_access_points * (2 if self.conf["wifi_encoding"] == "mask" else 1),)
        return {b: shapes[b] for b in branches}

    def parameter_table(self, n_access_points: int | None = None,
                        n_floor_classes: int | None = None) -> tuple[list[tuple[str, tuple, int]], str]:
        """Blocks of the network with their output shapes and parameter counts, and a printable table.

        Parameters
        ----------
        n_access_points : int, optional
            WiFi vocabulary size (default: the fitted model's, or 750 as in the paper's target).
        n_floor_classes : int, optional
            Floor classes (default: the fitted model's, or 2).

        Returns
        -------
        rows : list of (block, shape, parameters)
        text : str
            The table, the total, the paper's 295,810 and the documented differences
            (PyTorch's second LSTM bias vector, the missing embeddings, the floor head) with the
            resulting paper-comparable count.
        """
        fitted = self.is_fitted
        if fitted and n_access_points is None and n_floor_classes is None:
            net, branches, a = self._net, list(self.branches_), len(self.ap_ids_)
        else:
            branches = list(self.branches_) if fitted else self._check_conf()
            a = int(n_access_points if n_access_points is not None else (len(self.ap_ids_) if fitted else 750))
            f = int(n_floor_classes if n_floor_classes is not None else
                    (len(self.floor_classes_) if fitted else 2))
            net = self._build_net(branches, a, f)
        rows = net.parameter_rows(self._input_shapes(branches, a))
        total = sum(r[2] for r in rows)
        n_lstm = sum(1 for b in branches if b in ("imu", "magnetometer"))
        extra_bias = 4 * int(self.conf["lstm_hidden"]) * n_lstm
        missing = sum(r[2] for r in rows if r[0].startswith("missing"))
        floor = sum(r[2] for r in rows if r[0] == "FC floor")
        from ..nn.sequence import format_parameter_table

        lines = [format_parameter_table(rows, f"MTLoc network ({a} access points)"),
                 f"paper (Table I, Keras, 750 APs, three branches): {PAPER_PARAMETERS:,}",
                 f"  + second LSTM bias vector in PyTorch (b_hh, 4 x {self.conf['lstm_hidden']} per LSTM): "
                 f"{extra_bias:,}",
                 f"  + learned missing-modality embeddings: {missing:,}",
                 f"  + floor head: {floor:,}",
                 f"this network without these additions: {total - extra_bias - missing - floor:,}"]
        feats = self._in_features()
        if feats["imu"] != 2 or feats["magnetometer"] != 1 or self.conf["wifi_encoding"] != "positive":
            lines.append(f"  (inputs differ from the paper's 10x2 IMU, 10x1 magnetometer, 1 value per AP: here "
                         f"IMU 10x{feats['imu']}, magnetometer 10x{feats['magnetometer']}, WiFi encoding "
                         f"{self.conf['wifi_encoding']!r})")
        return rows, "\n".join(lines)

    # ------------------------------------------------------------------ fit
    def fit(self, train: Dataset, val: Dataset | None = None) -> "MTLocLocalizer":
        """Learn normalisation, vocabulary, floor classes and the network from ``train`` (positions needed).

        ``val``: validation recordings for early stopping and best-epoch selection.
        """
        from ..nn.sequence import warm_start_fusion
        from ..nn.training import fit_lightning

        c = self.conf
        t0 = time.perf_counter()
        branches = self._check_conf()
        torch.manual_seed(int(c["seed"]))
        recs = list(train)
        if not recs:
            raise DataError("the training dataset has no recordings", field="recordings")
        transfer = None
        if c["imu_transfer"] is not None:
            if "imu" not in branches:
                raise ConfigError("imu_transfer needs the 'imu' branch")
            transfer = self._check_transfer(load_imu_lstm(c["imu_transfer"]))
        wifi_transfer = None
        if c["wifi_transfer"] is not None:
            wifi_transfer = self._check_wifi_transfer(load_wifi_dnn(c["wifi_transfer"]))
        ap_ids = np.zeros(0, dtype=str)
        if "wifi" in branches:
            found = [r.find_stream("wifi", c["streams"]["wifi"], required=False) for r in recs]
            ap_ids = access_point_vocabulary([s for s in found if s is not None], c["max_access_points"])
        tr = self._labelled(train, branches, ap_ids)
        used = [b for b in branches if tr["present"][:, BRANCHES.index(b)].any()]
        if not used:
            raise DataError(f"no training window has any of the modalities {branches} inside the ground-truth "
                            "time span (streams missing, or no positions)", field="streams")
        if transfer is not None and "imu" not in used:
            raise DataError("imu_transfer is set but no training window has IMU data", field="streams/imu")
        if wifi_transfer is not None and "wifi" not in used:
            raise DataError("wifi_transfer is set but no training window has WiFi data", field="streams/wifi")
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
        self.floor_z_ = np.array([np.nanmean(np.where(target_cls == k, z, np.nan)) if (target_cls == k).any()
                                  else self.default_z_ for k in range(len(self.floor_classes_))], dtype=np.float64)
        xy = tr["position"][:, :2]
        self.position_mean_ = xy.mean(axis=0)
        self.position_scale_ = float(max(np.sqrt(xy.var(axis=0).mean()), 1e-3)) if len(xy) > 1 else 1.0

        net = self._build_net(used, len(self.ap_ids_), len(self.floor_classes_))
        self.imu_transfer_info_ = {}
        if transfer is not None:
            self.imu_transfer_info_ = self._apply_imu_transfer(net, transfer)
        self.wifi_transfer_info_ = {}
        if wifi_transfer is not None:
            self.wifi_transfer_info_ = self._apply_wifi_transfer(net, wifi_transfer)
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
                self._apply_wifi_transfer(p_net, wifi_transfer)
            if transfer is not None and warm == "imu":
                self._apply_imu_transfer(p_net, transfer)
            partial = self._module(p_net, p_data, p_val, [warm])
            self._train(partial, p_data, p_val, f"mtloc-{warm}", int(c["epochs"]), int(c["batch_size"]),
                        c["early_stopping_patience"], fit_lightning)
            warm_start_fusion(net, partial.net.cpu())
        module = self._module(net, data, val_data, used)
        if warm is not None and val_data is not None:
            # best-epoch selection starts from the warm start (the fused net computes the branch's output)
            module.best_val = module.validation_error()
            module.best_state = {k: t.detach().cpu().clone() for k, t in module.net.state_dict().items()}
            self.warm_start_val_pos_err_m_ = float(module.best_val)
        self._train(module, data, val_data, "mtloc", int(c["epochs"]), int(c["batch_size"]),
                    c["early_stopping_patience"], fit_lightning)
        self._net = module.net.cpu().eval()
        self.train_log_ = np.array(module.history, dtype=np.float64).reshape(-1, 3)
        self.n_train_windows_ = int(len(tr["present"]))
        self.best_val_pos_err_m_ = float(module.best_val) if np.isfinite(module.best_val) else float("nan")
        self.fit_seconds_ = time.perf_counter() - t0
        return self

    def _apply_imu_transfer(self, net, transfer: dict) -> dict:
        """Load the pretrained IMU-LSTM into ``net``'s IMU branch, frozen unless ``imu_trainable``."""
        lstm = net.branches["imu"].encoder
        lstm.load_state_dict(transfer["lstm"])
        trainable = bool(self.conf["imu_trainable"])
        for p in lstm.parameters():
            p.requires_grad_(trainable)
        return {"source": str(transfer.get("source", "")), "trainable": trainable,
                "n_windows": int(transfer.get("n_windows", 0)), "epochs": int(transfer.get("epochs", 0))}

    def _module(self, net, data: dict, val_data: dict | None, branches) -> "_MTLocModule":
        c = self.conf
        drop = [float(c["modality_dropout"].get(b, 0.0)) for b in branches]
        return _MTLocModule(net, data, val_data, branches, drop, float(c["floor_weight"]), c["loss"],
                            float(c["huber_delta_m"]) / self.position_scale_, c["optimizer"], float(c["lr"]),
                            float(c["weight_decay"]), self.position_scale_,
                            ap_dropout=float(c["wifi_ap_dropout"]), n_access_points=len(self.ap_ids_))

    def _check_transfer(self, tr: dict) -> dict:
        c = self.conf
        want = {"in_features": self._in_features()["imu"], "hidden": int(c["lstm_hidden"]),
                "imu_channels": c["imu_channels"], "window_s": float(c["window_s"]), "rate_hz": float(c["rate_hz"])}
        for k, v in want.items():
            got = tr[k]
            if (float(got) != float(v)) if isinstance(v, float) else (got != v):
                raise ConfigError(f"the pretrained IMU-LSTM has {k}={got!r} but this conf gives {v!r}")
        return tr

    def _check_wifi_transfer(self, tr: dict) -> dict:
        """The pretrained WiFi-DNN ``tr`` if its widths are this conf's ``wifi_hidden``."""
        c = self.conf
        src = c["wifi_transfer"]
        where = "wifi_transfer (dict)" if isinstance(src, dict) else f"file {src}"
        want = [int(h) for h in c["wifi_hidden"]]
        got = [int(h) for h in tr["hidden"]]
        if got != want:
            raise ConfigError(f"{where}: the pretrained WiFi-DNN has hidden={got} but this conf gives "
                              f"wifi_hidden={want}; the layers after the first need the same widths")
        return tr

    def _apply_wifi_transfer(self, net, tr: dict) -> dict:
        """Load the transferred layers into ``net``'s WiFi-DNN, frozen unless ``wifi_trainable``; returns the info."""
        c = self.conf
        src = c["wifi_transfer"]
        where = "wifi_transfer (dict)" if isinstance(src, dict) else f"file {src}"
        layers = wifi_transfer_layers(net.branches["wifi"].encoder)
        try:
            layers.load_state_dict(tr["layers"])
        except RuntimeError as e:
            expected = {k: tuple(v.shape) for k, v in layers.state_dict().items()}
            got = {k: tuple(v.shape) for k, v in tr["layers"].items()}
            raise ConfigError(f"{where}: field 'layers' does not fit this WiFi-DNN (expected tensors {expected}, "
                              f"got {got}): {str(e).splitlines()[0]}") from None
        trainable = bool(c["wifi_trainable"])
        for p in layers.parameters():
            p.requires_grad_(trainable)
        return {"source": str(tr.get("source", "")), "trainable": trainable,
                "n_windows": int(tr.get("n_windows", 0)), "epochs": int(tr.get("epochs", 0)),
                "n_access_points": int(tr.get("n_access_points", 0)),
                "parameters": int(sum(p.numel() for p in layers.parameters()))}

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
        if transfer is not None:          # the frozen / initial LSTM expects the source's normalisation
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
        out = np.full(len(d["present"]), -100, dtype=np.int64)
        if len(self.floor_classes_) == 0:
            return out
        lookup = {(int(b), int(f)): k for k, (b, f) in enumerate(self.floor_classes_)}
        for i in np.flatnonzero(d["has_floor"]):
            out[i] = lookup.get((int(d["building"][i]), int(d["floor"][i])), -100)
        return out

    def _inputs(self, d: dict, branches) -> dict[str, np.ndarray]:
        """Normalised network inputs: IMU / magnetometer windows, WiFi features per scan (+ a zero row)."""
        out = {}
        if "imu" in branches:
            out["imu"] = ((d["imu"] - self.imu_mean_) / self.imu_std_).astype(np.float32)
        if "magnetometer" in branches:
            out["magnetometer"] = ((d["magnetometer"] - self.mag_mean_) / self.mag_std_).astype(np.float32)
        if "wifi" in branches:
            scans = d["scans"] if d["scans"] is not None else np.zeros((0, len(self.ap_ids_)), np.float32)
            feats = wifi_features(scans, self.conf["wifi_encoding"], self.rss_mean_, self.rss_std_, self.rss_min_,
                                  self.rss_max_)
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

    def _train(self, module, data, val_data, stage: str, epochs: int, batch_size: int, patience, fit_lightning):
        c = self.conf
        n = len(data["present"])
        # the batch order draws from torch's global generator, seeded in fit (a torch.Generator given to the
        # loader would not survive the pickling of DDP spawn)
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.arange(n)), batch_size=batch_size,
                                             shuffle=True)
        val_loader = None
        if val_data is not None:
            nv = len(val_data["present"])
            val_loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.arange(nv)),
                                                     batch_size=max(batch_size, 1024))
        steps = max(1, -(-n // batch_size))
        fit_lightning(module, loader, c["trainer"], stage, max_epochs=epochs, log_every_n_steps=steps,
                      val_dataloader=val_loader, monitor="val_pos_err_m" if val_loader is not None else None,
                      patience=patience)

    # ------------------------------------------------------------------ transfer
    def pretrain_imu(self, source: Dataset, val: Dataset | None = None, path=None) -> dict:
        """Pretrain the IMU-LSTM + linear regression on ``source``; see :func:`pretrain_imu_lstm`.

        Does not change this localizer's learned state.
        """
        from .._io import atomic_path
        from ..nn.sequence import IMURegressor
        from ..nn.training import fit_lightning

        c, p = self.conf, self.conf["pretrain"]
        self._check_conf()
        torch.manual_seed(int(c["seed"]))
        helper = copy.copy(self)            # normalisation is computed on the source, not kept here
        tr = helper._labelled(source, ["imu"], np.zeros(0, str))
        if not tr["present"][:, 0].any():
            raise DataError(f"no window of dataset '{source.name}' has IMU data inside the ground-truth time span",
                            field="streams/imu")
        helper._fit_normalisation(tr, None)
        xy = tr["position"][:, :2]
        helper.position_mean_ = xy.mean(axis=0)
        helper.position_scale_ = float(max(np.sqrt(xy.var(axis=0).mean()), 1e-3)) if len(xy) > 1 else 1.0
        helper.floor_classes_ = np.zeros((0, 2), np.int64)
        data = helper._tensors(tr, ["imu"], np.full(len(tr["present"]), -100, dtype=np.int64))
        val_data = None
        if val is not None and len(val):
            va = helper._labelled(val, ["imu"], np.zeros(0, str))
            if va["present"][:, 0].any():
                val_data = helper._tensors(va, ["imu"], np.full(len(va["present"]), -100, dtype=np.int64))
        net = IMURegressor(self._in_features()["imu"], int(c["lstm_hidden"]))
        module = _MTLocModule(net, data, val_data, ["imu"], [0.0], 0.0, "mse", 1.0, p["optimizer"], float(p["lr"]),
                              0.0, helper.position_scale_, pretrain=True)
        self._train(module, data, val_data, "imu-pretrain", int(p["epochs"]), int(p["batch_size"]),
                    p["early_stopping_patience"], fit_lightning)
        net = module.net.cpu()
        hist = np.array(module.history, dtype=np.float64).reshape(-1, 3)
        state = {"format": IMU_TRANSFER_FORMAT, "version": 1, "in_features": int(net.encoder.in_features),
                 "hidden": int(c["lstm_hidden"]), "imu_channels": c["imu_channels"], "window_s": float(c["window_s"]),
                 "rate_hz": float(c["rate_hz"]), "imu_mean": torch.from_numpy(helper.imu_mean_.copy()),
                 "imu_std": torch.from_numpy(helper.imu_std_.copy()),
                 "lstm": {k: v.detach().clone() for k, v in net.encoder.state_dict().items()},
                 "head": {k: v.detach().clone() for k, v in net.head.state_dict().items()},
                 "position_mean": torch.from_numpy(np.asarray(helper.position_mean_, np.float64)),
                 "position_scale": float(helper.position_scale_), "source": str(source.name),
                 "n_windows": int(len(data["present"])), "epochs": int(len(hist)),
                 "loss": float(hist[-1, 1]) if len(hist) else float("nan"),
                 "val_pos_err_m": float(module.best_val) if np.isfinite(module.best_val) else float("nan")}
        if path is not None:
            with atomic_path(path) as tmp:
                torch.save(state, tmp)
        return state

    def pretrain_wifi(self, source: Dataset, val: Dataset | None = None, path=None) -> dict:
        """Train a WiFi-only MTLoc on ``source`` and return / save its transferable WiFi-DNN layers.

        See :func:`pretrain_wifi_dnn`. Does not change this localizer's learned state.
        """
        from .._io import atomic_path

        self._check_conf()
        conf = copy.deepcopy(self.conf)
        conf.update({"branches": ["wifi"], "wifi_transfer": None, "imu_transfer": None, "warm_start": None})
        if conf["trainer"].get("checkpoint_dir"):
            conf["trainer"]["checkpoint_dir"] = str(Path(conf["trainer"]["checkpoint_dir"]) / "wifi-pretrain")
        src = MTLocLocalizer(conf).fit(source, val)
        if "wifi" not in src.branches_:
            raise DataError(f"no window of dataset '{source.name}' has WiFi data inside the ground-truth time span",
                            field="streams/wifi")
        layers = wifi_transfer_layers(src._net.branches["wifi"].encoder)
        hidden = [int(h) for h in conf["wifi_hidden"]]
        hist = src.train_log_
        state = {"format": WIFI_TRANSFER_FORMAT, "version": 1, "hidden": hidden, "in_features": hidden[0],
                 "out_features": hidden[-1],
                 "layers": {k: v.detach().clone() for k, v in layers.state_dict().items()},
                 "wifi_encoding": str(conf["wifi_encoding"]), "window_times": str(conf["window_times"]),
                 "n_access_points": int(len(src.ap_ids_)), "source": str(source.name),
                 "n_windows": int(src.n_train_windows_), "epochs": int(len(hist)),
                 "loss": float(hist[-1, 1]) if len(hist) else float("nan"),
                 "val_pos_err_m": float(src.best_val_pos_err_m_), "position_scale_m": float(src.position_scale_)}
        if path is not None:
            with atomic_path(path) as tmp:
                torch.save(state, tmp)
        return state

    # ------------------------------------------------------------------ predict
    def predict(self, data: Recording | Dataset, drop_modalities: dict | None = None,
                drop_seed: int | None = None) -> Estimate:
        """One estimate per window end time (every ``hop_s``, or every WiFi scan with ``window_times="wifi"``)
        of a recording or of every recording of a dataset.

        Parameters
        ----------
        data : Recording or Dataset
        drop_modalities : dict modality -> fraction, optional
            Overrides ``conf["predict"]["drop_modalities"]``: remove the modality from that
            fraction of the windows that have it (seeded, exactly ``round(fraction * n)`` windows
            per recording), e.g. ``{"wifi": 0.4}``.
        drop_seed : int, optional
            Overrides ``conf["predict"]["drop_seed"]``.

        Returns
        -------
        Estimate
            ``position`` (M, 3) m (NaN where a window has none of the model's modalities left),
            ``floor`` (M,) (-1 there), ``building`` when the training data had buildings.
        """
        self._check_fitted()
        drop = dict(self.conf["predict"]["drop_modalities"])
        for k, v in (drop_modalities or {}).items():
            if k not in BRANCHES:
                raise ConfigError(f"drop_modalities keys must be in {list(BRANCHES)}, got {k!r}")
            drop[k] = float(v)
        seed = int(self.conf["predict"]["drop_seed"] if drop_seed is None else drop_seed)
        if isinstance(data, Recording):
            return self._predict_one(data, drop, seed)
        if isinstance(data, Dataset):
            return Estimate.concat([self._predict_one(r, drop, seed) for r in data])
        raise TypeError(f"predict expects a Recording or a Dataset, got {type(data).__name__}")

    def predict_recording(self, rec: Recording) -> Estimate:
        """Estimates for one recording (with ``conf["predict"]`` modality removal)."""
        return self.predict(rec)

    def _predict_one(self, rec: Recording, drop: dict, seed: int) -> Estimate:
        w = self._extract(rec, self.branches_, self.ap_ids_)
        cols = [BRANCHES.index(b) for b in self.branches_]
        present = w.present[:, cols]
        fracs = {i: drop.get(b, 0.0) for i, b in enumerate(self.branches_) if drop.get(b, 0.0) > 0}
        if fracs:
            present = drop_windows(present, fracs, np.random.default_rng([seed, zlib.crc32(rec.name.encode())]))
        m = len(w)
        pos = np.full((m, 3), np.nan)
        cls = np.full(m, -1, dtype=np.int64)
        ok = present.any(axis=1)
        if ok.any():
            d = {"imu": w.imu, "magnetometer": w.magnetometer, "scans": w.scans, "scan_index": w.scan_index}
            inputs = self._inputs(d, self.branches_)
            xy, cls_ok = self._forward(inputs, present, np.flatnonzero(ok))
            pos[ok, :2] = xy * self.position_scale_ + self.position_mean_
            cls[ok] = cls_ok
        has_cls = cls >= 0
        pos[ok, 2] = self.default_z_
        if len(self.floor_classes_):
            pos[ok & has_cls, 2] = self.floor_z_[cls[ok & has_cls]]
        floor = building = None
        if self.has_floor_ and len(self.floor_classes_):
            floor = np.where(has_cls, self.floor_classes_[np.maximum(cls, 0), 1], -1)
            if self.has_building_:
                building = np.where(has_cls, self.floor_classes_[np.maximum(cls, 0), 0], -1)
        return Estimate(np.full(m, rec.name), w.t, pos, floor=floor, building=building)

    def _forward(self, inputs: dict, present: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Normalised positions (R, 2) and floor classes (R,) of windows ``rows``, batched."""
        bs = int(self.conf["predict"]["batch_size"])
        net = self._net.eval()
        xy, cls = [], []
        n_cls = len(self.floor_classes_)
        with torch.no_grad():
            for s in range(0, len(rows), bs):
                r = rows[s:s + bs]
                batch = {}
                for b in self.branches_:
                    if b == "wifi":
                        batch[b] = torch.from_numpy(inputs["wifi_scans"][inputs["scan_index"][r]])
                    else:
                        batch[b] = torch.from_numpy(inputs[b][r])
                p, logits = net(batch, torch.from_numpy(present[r]))
                xy.append(p.numpy().astype(np.float64))
                if logits is not None:
                    cls.append(logits.argmax(dim=1).numpy())
                else:
                    cls.append(np.full(len(r), 0 if n_cls == 1 else -1, dtype=np.int64))
        return np.concatenate(xy), np.concatenate(cls).astype(np.int64)

    # ------------------------------------------------------------------ persistence
    def save(self, path, overwrite: bool = False) -> Path:
        """As :meth:`Localizer.save`; an in-memory ``imu_transfer`` or ``wifi_transfer`` dict is saved as a
        description."""
        conf = self.conf
        if isinstance(conf["imu_transfer"], dict):
            src = conf["imu_transfer"].get("source", "")
            self.conf = {**self.conf, "imu_transfer": f"<pretrained IMU-LSTM from {src!r}, in memory at fit time>"}
        if isinstance(conf["wifi_transfer"], dict):
            src = conf["wifi_transfer"].get("source", "")
            self.conf = {**self.conf, "wifi_transfer": f"<pretrained WiFi-DNN from {src!r}, in memory at fit time>"}
        try:
            return super().save(path, overwrite=overwrite)
        finally:
            self.conf = conf

    def _set_state(self, state: dict[str, Any]) -> None:
        super()._set_state(state)
        self.branches_ = [str(b) for b in self.branches_]
        self.ap_ids_ = np.asarray(self.ap_ids_, dtype=str).reshape(-1)
        self.floor_classes_ = np.asarray(self.floor_classes_, dtype=np.int64).reshape(-1, 2)
        for k in ("position_scale_", "default_z_", "rss_mean_", "rss_std_", "rss_min_", "rss_max_"):
            setattr(self, k, float(getattr(self, k)))
        self.has_building_, self.has_floor_ = bool(self.has_building_), bool(self.has_floor_)

    def _save_extra(self, folder: Path) -> None:
        torch.save({"net": self._net.state_dict()}, folder / "weights.pt")

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


# ============================================================================ Lightning module
class _MTLocModule(L.LightningModule):
    """Training of :class:`~omniloc.nn.sequence.MultimodalRegressor` (or the IMU pretraining regressor).

    The windows live in non-persistent buffers (moved to the accelerator with the module);
    batches are index tensors into them. Validation accumulates the position error in metres
    over the epoch (reduced across processes), logs ``val_pos_err_m`` and keeps the best weights,
    which are loaded back when training ends.
    """

    def __init__(self, net, data: dict, val: dict | None, branches, drop_p, floor_weight: float, loss: str,
                 huber_delta: float, optimizer: str, lr: float, weight_decay: float, position_scale: float,
                 pretrain: bool = False, ap_dropout: float = 0.0, n_access_points: int = 0):
        super().__init__()
        self.ap_dropout, self.n_access_points = float(ap_dropout), int(n_access_points)
        self.net = net
        self.branches = list(branches)
        self.drop_p = [float(p) for p in drop_p]
        self.floor_weight, self.loss_kind, self.huber_delta = floor_weight, loss, huber_delta
        self.optimizer_kind, self.lr, self.weight_decay = optimizer, lr, weight_decay
        self.position_scale, self.pretrain = float(position_scale), bool(pretrain)
        for split, d in (("train", data), ("val", val)):
            for k, v in (d or {}).items():
                self.register_buffer(f"{split}__{k}", v, persistent=False)
        self.best_val = float("inf")
        self.best_state = None
        self.history: list[list[float]] = []
        self._loss_sum, self._loss_n = 0.0, 0
        self._last_val = float("nan")

    def _get(self, split: str, key: str) -> torch.Tensor:
        return getattr(self, f"{split}__{key}")

    def _run(self, split: str, idx: torch.Tensor, dropout: bool = False):
        present = self._get(split, "present")[idx]
        if dropout:
            from ..nn.sequence import modality_dropout

            present = modality_dropout(present, self.drop_p)
        if self.pretrain:
            return self.net(self._get(split, "imu")[idx]), None
        inputs = {}
        for b in self.branches:
            if b == "wifi":
                inputs[b] = self._get(split, "wifi_scans")[self._get(split, "scan_index")[idx]]
                if dropout and self.ap_dropout > 0:
                    from ..nn.sequence import access_point_dropout

                    inputs[b] = access_point_dropout(inputs[b], self.ap_dropout, self.n_access_points)
            else:
                inputs[b] = self._get(split, b)[idx]
        return self.net(inputs, present)

    def training_step(self, batch, batch_idx):
        idx = batch[0] if isinstance(batch, (list, tuple)) else batch
        pos, logits = self._run("train", idx, dropout=True)
        target = self._get("train", "target")[idx]
        if self.loss_kind == "huber":
            loss = F.huber_loss(pos, target, reduction="none", delta=self.huber_delta).sum(dim=1).mean()
        else:
            loss = (pos - target).square().sum(dim=1).mean()
        self.log("pos_loss", loss, prog_bar=True)
        if logits is not None and self.floor_weight > 0:
            fl = self._get("train", "floor")[idx]
            known = (fl >= 0).to(logits.dtype)
            ce = F.cross_entropy(logits, fl.clamp(min=0), reduction="none")
            ce = (ce * known).sum() / known.sum().clamp(min=1.0)
            self.log("floor_ce", ce, prog_bar=True)
            loss = loss + self.floor_weight * ce
        self._loss_sum += float(loss.detach())
        self._loss_n += 1
        return loss

    def on_train_epoch_end(self):
        mean = self._loss_sum / max(self._loss_n, 1)
        self.history.append([float(self.current_epoch), mean, self._last_val])
        self._loss_sum, self._loss_n = 0.0, 0

    def on_validation_epoch_start(self):
        self._val_acc = torch.zeros(3, device=self.device, dtype=torch.float64)

    def validation_step(self, batch, batch_idx):
        idx = batch[0] if isinstance(batch, (list, tuple)) else batch
        pos, logits = self._run("val", idx)
        err = (pos - self._get("val", "target")[idx]).norm(dim=1) * self.position_scale
        hits = torch.zeros((), device=err.device)
        if logits is not None:
            hits = (logits.argmax(dim=1) == self._get("val", "floor")[idx]).sum()
        self._val_acc += torch.stack([err.sum().double(), torch.tensor(float(len(idx)), device=err.device).double(),
                                      hits.double()])

    @torch.no_grad()
    def validation_error(self, batch_size: int = 4096) -> float:
        """Mean validation position error (m) of the current weights, outside a trainer (one process)."""
        was_training = self.net.training
        self.net.eval()
        n = len(self._get("val", "present"))
        total = 0.0
        for lo in range(0, n, batch_size):
            idx = torch.arange(lo, min(lo + batch_size, n))
            pos, _ = self._run("val", idx)
            total += float((pos - self._get("val", "target")[idx]).norm(dim=1).sum()) * self.position_scale
        self.net.train(was_training)
        return total / max(n, 1)

    def on_validation_epoch_end(self):
        tot = self.trainer.strategy.reduce(self._val_acc, reduce_op="sum")
        val = tot[0] / tot[1].clamp(min=1.0)
        # already summed over processes: the sync below averages equal values (and silences Lightning's advice)
        self.log("val_pos_err_m", val.float(), prog_bar=True, sync_dist=True)
        if self.net_has_floor:
            self.log("val_floor_hit", (tot[2] / tot[1].clamp(min=1.0)).float(), prog_bar=True, sync_dist=True)
        v = float(val)
        self._last_val = v
        if v < self.best_val:
            self.best_val = v
            self.best_state = {k: t.detach().cpu().clone() for k, t in self.net.state_dict().items()}

    @property
    def net_has_floor(self) -> bool:
        return getattr(self.net, "floor_head", None) is not None

    def on_train_end(self):
        if self.best_state is not None:
            self.net.load_state_dict(self.best_state)

    def teardown(self, stage: str) -> None:
        from ..nn.training import release_process_group

        release_process_group(self.trainer)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["omniloc_history"] = [list(map(float, h)) for h in self.history]
        checkpoint["omniloc_best"] = {"val": float(self.best_val), "state": self.best_state}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.history = [list(h) for h in checkpoint.get("omniloc_history", [])]
        best = checkpoint.get("omniloc_best") or {}
        self.best_val = float(best.get("val", float("inf")))
        self.best_state = best.get("state")

    def configure_optimizers(self):
        params = [p for p in self.parameters() if p.requires_grad]
        if self.optimizer_kind == "rmsprop":   # Keras' defaults: rho 0.9
            return torch.optim.RMSprop(params, lr=self.lr, alpha=0.9, weight_decay=self.weight_decay)
        return torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
