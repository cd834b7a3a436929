"""MTLoc's pretrained branches: the transfer file formats, pretraining and loading (Sec. III-B/C, IV-B/C).

* **IMU-LSTM** (the paper's transfer): :func:`pretrain_imu_lstm` trains the IMU-LSTM plus a
  linear layer to regress the 2-D position on a *source* dataset (Table IV: RMSprop, learning
  rate 0.005, 100 epochs: MTLoc's ``pretrain`` conf section) and returns / saves the LSTM
  weights with the IMU normalisation and window settings. A target MTLoc with
  ``imu_transfer`` (a file path or that dict) starts its IMU-LSTM from them and keeps the
  source's IMU normalisation (physical units are the same across phones); ``imu_trainable``
  False freezes the LSTM ("transferred model"), True fine-tunes it ("fine-tuned model").
* **WiFi-DNN** (not in the paper; for WiFi-only data such as SODIndoorLoc's buildings):
  :func:`pretrain_wifi_dnn` trains a WiFi-only MTLoc on the source building and keeps the
  layers of its WiFi MLP after the first ``Linear`` (:func:`wifi_transfer_layers`; the first
  has one or two inputs per *source* access point and cannot be reused with other APs). A
  target with ``wifi_transfer`` builds a new first layer for its own APs and starts the
  following layers from the transferred weights (``wifi_trainable`` False: frozen).

Files are ``torch.save`` dicts with a ``format`` tag (:data:`IMU_TRANSFER_FORMAT`,
:data:`WIFI_TRANSFER_FORMAT`), tensors and plain values only (``torch.load(weights_only=True)``).
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch

from .._errors import ConfigError, DataError
from ..data import Dataset

__all__ = [
    "IMU_TRANSFER_FORMAT",
    "WIFI_TRANSFER_FORMAT",
    "load_imu_lstm",
    "pretrain_imu_lstm",
    "load_wifi_dnn",
    "pretrain_wifi_dnn",
    "wifi_transfer_layers",
    "check_imu_transfer",
    "apply_imu_transfer",
    "check_wifi_transfer",
    "apply_wifi_transfer",
]

#: ``format`` field of a pretrained IMU-LSTM (:func:`pretrain_imu_lstm`)
IMU_TRANSFER_FORMAT = "omniloc.mtloc.imu_lstm"
#: ``format`` field of a pretrained WiFi-DNN (:func:`pretrain_wifi_dnn`)
WIFI_TRANSFER_FORMAT = "omniloc.mtloc.wifi_dnn"


# ============================================================================ files
def _load_transfer_state(
    source, fmt: str, what: str, conf_key: str, writer: str, required: tuple[str, ...]
) -> tuple[dict, str, Path | None]:
    """Read a pretrained branch (``torch.save`` file or the dict itself) and check its format tag and fields.

    Returns the state, how to name it in messages, and its file (None for a dict).
    """
    if isinstance(source, dict):
        state, where, file = source, f"{conf_key} (dict)", None
    else:
        path = Path(source)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # torch.load raises OSError, KeyError, UnpicklingError, RuntimeError... by content
            first = (str(e).strip().splitlines() or [""])[0]
            raise DataError(
                f"unreadable pretrained {what} ({type(e).__name__}: {first}); expected a file written by {writer}",
                file=path,
            ) from None
        where, file = str(path), path
    if not isinstance(state, dict) or state.get("format") != fmt:
        got = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise DataError(
            f"{where} is not a pretrained {what} (expected format {fmt!r}, got {got!r})", file=file, field="format"
        )
    for key in required:
        if key not in state:
            raise DataError(f"{where} has no field {key!r}", file=file, field=key)
    return state, where, file


def _where(source) -> str:
    return "wifi_transfer (dict)" if isinstance(source, dict) else f"file {source}"


def load_imu_lstm(source) -> dict:
    """A pretrained IMU-LSTM (:func:`pretrain_imu_lstm`) from a file path, or the dict itself checked."""
    return _load_transfer_state(
        source,
        IMU_TRANSFER_FORMAT,
        "IMU-LSTM",
        "imu_transfer",
        "pretrain_imu_lstm",
        ("in_features", "hidden", "imu_channels", "window_s", "rate_hz", "imu_mean", "imu_std", "lstm"),
    )[0]


def load_wifi_dnn(source) -> dict:
    """A pretrained WiFi-DNN (:func:`pretrain_wifi_dnn`) from a file path, or the dict itself checked.

    Raises
    ------
    DataError
        Unreadable file, not a pretrained WiFi-DNN (``format``), or a missing or malformed field
        (the message names the file, or ``wifi_transfer (dict)``, and the field).
    """
    state, where, file = _load_transfer_state(
        source, WIFI_TRANSFER_FORMAT, "WiFi-DNN", "wifi_transfer", "pretrain_wifi_dnn", ("hidden", "layers")
    )
    hidden = state["hidden"]
    if not isinstance(hidden, (list, tuple)) or not hidden or not all(isinstance(h, int) and h > 0 for h in hidden):
        raise DataError(
            f"{where}: 'hidden' must be a non-empty list of positive widths, got {hidden!r}", file=file, field="hidden"
        )
    if not isinstance(state["layers"], dict) or not all(isinstance(v, torch.Tensor) for v in state["layers"].values()):
        raise DataError(f"{where}: 'layers' must be a state dict of tensors", file=file, field="layers")
    return state


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
    return encoder.net[first + 1 :]


# ============================================================================ use in a target model
def check_imu_transfer(state: dict, conf: dict, in_features: int) -> dict:
    """``state`` if the pretrained IMU-LSTM fits this MTLoc conf (inputs, width, windows); a ConfigError otherwise."""
    want = {
        "in_features": int(in_features),
        "hidden": int(conf["lstm_hidden"]),
        "imu_channels": conf["imu_channels"],
        "window_s": float(conf["window_s"]),
        "rate_hz": float(conf["rate_hz"]),
    }
    for k, v in want.items():
        got = state[k]
        if (float(got) != float(v)) if isinstance(v, float) else (got != v):
            raise ConfigError(f"the pretrained IMU-LSTM has {k}={got!r} but this conf gives {v!r}")
    return state


def apply_imu_transfer(net, state: dict, trainable: bool) -> dict:
    """Load the pretrained IMU-LSTM into ``net``'s IMU branch, frozen unless ``trainable``; returns the info."""
    lstm = net.branches["imu"].encoder
    lstm.load_state_dict(state["lstm"])
    for p in lstm.parameters():
        p.requires_grad_(bool(trainable))
    return {
        "source": str(state.get("source", "")),
        "trainable": bool(trainable),
        "n_windows": int(state.get("n_windows", 0)),
        "epochs": int(state.get("epochs", 0)),
    }


def check_wifi_transfer(state: dict, conf: dict) -> dict:
    """``state`` if the pretrained WiFi-DNN's widths are this conf's ``wifi_hidden``; a ConfigError otherwise."""
    want = [int(h) for h in conf["wifi_hidden"]]
    got = [int(h) for h in state["hidden"]]
    if got != want:
        raise ConfigError(
            f"{_where(conf['wifi_transfer'])}: the pretrained WiFi-DNN has hidden={got} but this conf "
            f"gives wifi_hidden={want}; the layers after the first need the same widths"
        )
    return state


def apply_wifi_transfer(net, state: dict, conf: dict) -> dict:
    """Load the transferred layers into ``net``'s WiFi-DNN, frozen unless ``conf["wifi_trainable"]``.

    Returns the info kept as ``wifi_transfer_info_``."""
    layers = wifi_transfer_layers(net.branches["wifi"].encoder)
    try:
        layers.load_state_dict(state["layers"])
    except RuntimeError as e:
        expected = {k: tuple(v.shape) for k, v in layers.state_dict().items()}
        got = {k: tuple(v.shape) for k, v in state["layers"].items()}
        raise ConfigError(
            f"{_where(conf['wifi_transfer'])}: field 'layers' does not fit this WiFi-DNN (expected "
            f"tensors {expected}, got {got}): {str(e).splitlines()[0]}"
        ) from None
    trainable = bool(conf["wifi_trainable"])
    for p in layers.parameters():
        p.requires_grad_(trainable)
    return {
        "source": str(state.get("source", "")),
        "trainable": trainable,
        "n_windows": int(state.get("n_windows", 0)),
        "epochs": int(state.get("epochs", 0)),
        "n_access_points": int(state.get("n_access_points", 0)),
        "parameters": int(sum(p.numel() for p in layers.parameters())),
    }


# ============================================================================ pretraining
def pretrain_imu_lstm(
    source: Dataset, conf: dict | None = None, preset: str | None = None, val: Dataset | None = None, path=None
) -> dict:
    """Pretrain MTLoc's IMU-LSTM on a source dataset (Sec. IV-B) and return / save it.

    Parameters
    ----------
    source : Dataset
        Recordings with an ``imu`` stream and positions.
    conf, preset
        An MTLoc configuration (:attr:`~omniloc.methods.mtloc.MTLocLocalizer.default_conf`):
        windows, ``imu_channels``, ``lstm_hidden``, ``seed``, the ``pretrain`` section and
        ``trainer`` (checkpoints in its ``imu-pretrain/`` stage folder).
    val : Dataset, optional
        Validation recordings (early stopping on ``pretrain.early_stopping_patience``).
    path : path, optional
        Where to save (``torch.save``; load with ``conf["imu_transfer"] = path``).

    Returns
    -------
    dict
        ``format``, ``version``, ``in_features``, ``hidden``, ``imu_channels``, ``window_s``,
        ``rate_hz``, ``imu_mean`` / ``imu_std`` (C,) tensors, ``lstm`` and ``head`` state dicts,
        ``position_mean`` (2,) m and ``position_scale`` m of the source frame, ``source``,
        ``n_windows``, ``epochs``, ``loss`` (last training loss), ``val_pos_err_m``.
    """
    from .._io import atomic_path
    from ..nn.regression import PositionRegressionModule
    from ..nn.sequence import IMURegressor
    from ..nn.training import seeded, uses_cuda
    from .mtloc import MTLocLocalizer

    loc = MTLocLocalizer(conf, preset=preset)
    loc._check_conf()
    c, p = loc.conf, loc.conf["pretrain"]
    helper = copy.copy(loc)  # normalisation is computed on the source, not kept in loc
    with seeded(int(c["seed"]), uses_cuda(c["trainer"])):
        tr = helper._labelled(source, ["imu"], np.zeros(0, str))
        if not tr["present"][:, 0].any():
            raise DataError(
                f"no window of dataset '{source.name}' has IMU data inside the ground-truth time span",
                field="streams/imu",
            )
        helper._fit_normalisation(tr, None)
        helper._fit_frame(tr["position"][:, :2])
        helper.floor_classes_ = np.zeros((0, 2), np.int64)
        data = helper._tensors(tr, ["imu"], np.full(len(tr["present"]), -100, dtype=np.int64))
        val_data = None
        if val is not None and len(val):
            va = helper._labelled(val, ["imu"], np.zeros(0, str))
            if va["present"][:, 0].any():
                val_data = helper._tensors(va, ["imu"], np.full(len(va["present"]), -100, dtype=np.int64))
        net = IMURegressor(loc._in_features()["imu"], int(c["lstm_hidden"]))
        module = PositionRegressionModule(
            net,
            data,
            val_data,
            ["imu"],
            [0.0],
            0.0,
            "mse",
            1.0,
            p["optimizer"],
            float(p["lr"]),
            0.0,
            helper.position_scale_,
            single_input="imu",
        )
        loc._train(
            module, data, val_data, "imu-pretrain", int(p["epochs"]), int(p["batch_size"]), p["early_stopping_patience"]
        )
    net = module.net.cpu()
    hist = np.array(module.history, dtype=np.float64).reshape(-1, 3)
    state = {
        "format": IMU_TRANSFER_FORMAT,
        "version": 1,
        "in_features": int(net.encoder.in_features),
        "hidden": int(c["lstm_hidden"]),
        "imu_channels": c["imu_channels"],
        "window_s": float(c["window_s"]),
        "rate_hz": float(c["rate_hz"]),
        "imu_mean": torch.from_numpy(helper.imu_mean_.copy()),
        "imu_std": torch.from_numpy(helper.imu_std_.copy()),
        "lstm": {k: v.detach().clone() for k, v in net.encoder.state_dict().items()},
        "head": {k: v.detach().clone() for k, v in net.head.state_dict().items()},
        "position_mean": torch.from_numpy(np.asarray(helper.position_mean_, np.float64)),
        "position_scale": float(helper.position_scale_),
        "source": str(source.name),
        "n_windows": int(len(data["present"])),
        "epochs": int(len(hist)),
        "loss": float(hist[-1, 1]) if len(hist) else float("nan"),
        "val_pos_err_m": float(module.best_val) if np.isfinite(module.best_val) else float("nan"),
    }
    if path is not None:
        with atomic_path(path) as tmp:
            torch.save(state, tmp)
    return state


def pretrain_wifi_dnn(
    source: Dataset, conf: dict | None = None, preset: str | None = None, val: Dataset | None = None, path=None
) -> dict:
    """Pretrain MTLoc's WiFi-DNN on a source building and return / save its transferable layers.

    A WiFi-only MTLoc (``branches = ["wifi"]``, the rest of ``conf``) is trained on ``source``;
    the layers of its WiFi MLP after the first ``Linear`` (:func:`wifi_transfer_layers`) are
    kept. A target model loads them with ``conf["wifi_transfer"]`` (the path or the dict).

    Parameters
    ----------
    source : Dataset
        Recordings with a ``wifi`` stream and positions (one building).
    conf, preset
        An MTLoc configuration (:attr:`~omniloc.methods.mtloc.MTLocLocalizer.default_conf`):
        ``wifi_hidden`` (must be the target's), ``wifi_encoding``, ``window_times``, training
        settings and ``trainer``. ``branches`` is forced to ``["wifi"]``; ``wifi_transfer``,
        ``imu_transfer`` and ``warm_start`` are ignored. With ``trainer.checkpoint_dir`` the
        checkpoints go to its ``wifi-pretrain/`` sub-folder.
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
    from .._io import atomic_path
    from .mtloc import MTLocLocalizer

    conf = copy.deepcopy(MTLocLocalizer(conf, preset=preset).conf)
    conf.update({"branches": ["wifi"], "wifi_transfer": None, "imu_transfer": None, "warm_start": None})
    if conf["trainer"].get("checkpoint_dir"):
        conf["trainer"]["checkpoint_dir"] = str(Path(conf["trainer"]["checkpoint_dir"]) / "wifi-pretrain")
    src = MTLocLocalizer(conf).fit(source, val)
    if "wifi" not in src.branches_:
        raise DataError(
            f"no window of dataset '{source.name}' has WiFi data inside the ground-truth time span",
            field="streams/wifi",
        )
    layers = wifi_transfer_layers(src._net.branches["wifi"].encoder)
    hidden = [int(h) for h in conf["wifi_hidden"]]
    hist = src.train_log_
    state = {
        "format": WIFI_TRANSFER_FORMAT,
        "version": 1,
        "hidden": hidden,
        "in_features": hidden[0],
        "out_features": hidden[-1],
        "layers": {k: v.detach().clone() for k, v in layers.state_dict().items()},
        "wifi_encoding": str(conf["wifi_encoding"]),
        "window_times": str(conf["window_times"]),
        "n_access_points": int(len(src.ap_ids_)),
        "source": str(source.name),
        "n_windows": int(src.n_train_windows_),
        "epochs": int(len(hist)),
        "loss": float(hist[-1, 1]) if len(hist) else float("nan"),
        "val_pos_err_m": float(src.best_val_pos_err_m_),
        "position_scale_m": float(src.position_scale_),
    }
    if path is not None:
        with atomic_path(path) as tmp:
            torch.save(state, tmp)
    return state
