"""Lightning plumbing shared by the neural methods: one training module, one trainer factory.

Every training loop in omniloc goes through :func:`fit_lightning` with a :class:`TrainingModule`,
so the optimiser choice, the per-epoch validation with best-epoch weights, the progress bar,
checkpoints (``last.ckpt``, resumed only when its fingerprint matches), CSV logs (one version per
attempt) and multi-device strategies behave the same in every method. Fits are seeded through
:func:`seeded`, which forks torch's generators so that the caller's random state is untouched.
Nothing here runs at import.

A new neural method writes a subclass of :class:`TrainingModule` with a :meth:`~TrainingModule.loss`
(and, for validation, :meth:`~TrainingModule.validation_sums` and
:meth:`~TrainingModule.validation_metrics`), then calls::

    with seeded(conf["seed"], uses_cuda(conf["trainer"])):
        net = build_net()                                   # seeded initial weights
        module = MyModule(net, optimizer="adam", lr=1e-3)
        fit_lightning(module, loader, conf["trainer"], "my-stage", max_epochs=10,
                      fingerprint_conf=training_conf(conf))
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import multiprocessing
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import TQDMProgressBar

from .._errors import ConfigError, DataError

__all__ = [
    "TRAINER_DEFAULTS",
    "TRAINER_TYPES",
    "RESUME",
    "OPTIMIZERS",
    "TrainingModule",
    "fit_lightning",
    "seeded",
    "reseed",
    "uses_cuda",
    "fingerprint",
    "training_conf",
    "release_process_group",
    "index_loaders",
]

log = logging.getLogger(__name__)

#: Documented defaults of the ``trainer`` section of a neural method's conf:
#:
#: * ``accelerator``: Lightning accelerator (``"cpu"``, ``"gpu"``, ``"auto"``);
#: * ``devices``: number of devices (or ``"auto"``); with more than one, Lightning runs DDP;
#: * ``strategy``: Lightning strategy (``"auto"``, ``"ddp"``, ``"ddp_spawn"``, ...);
#: * ``progress``: show the Lightning progress bar (stage, epoch, steps with ETA, loss) when
#:   stderr is a terminal; nothing is drawn into a file or a pipe;
#: * ``checkpoint_dir``: folder for ``<stage>/last.ckpt``, ``<stage>/step*.ckpt`` and the CSV
#:   logs ``<stage>/version_<k>/metrics.csv`` (a new version per attempt, earlier ones kept);
#:   ``None`` keeps nothing;
#: * ``resume``: what a stage does when ``<stage>/last.ckpt`` exists. ``"auto"``: resume from it
#:   when its fingerprint (a hash of the method conf without the ``trainer`` section's
#:   ``progress``, ``checkpoint_dir`` and ``resume``, and of the training data) matches this
#:   fit's, and say so once ("resumed from <path> at epoch N"); refuse with
#:   a :class:`~omniloc.ConfigError` naming the checkpoint and what differs otherwise.
#:   ``"never"``: start fresh; the old ``<stage>`` folder is moved aside to
#:   ``<stage>.attempt-<n>`` (the next free number), never deleted;
#: * ``num_nodes``: machines for multi-node DDP (launched by the cluster, e.g. SLURM or torchrun);
#: * ``process_group_backend``: DDP communication backend (``"gloo"`` for CPU processes,
#:   ``"nccl"`` for GPUs); ``None`` lets Lightning choose. Only used by DDP strategies
#:   (``"ddp"``, ``"ddp_spawn"``, ``"ddp_fork"``, ``"ddp_notebook"``).
TRAINER_DEFAULTS: dict = {
    "accelerator": "cpu",
    "devices": 1,
    "strategy": "auto",
    "progress": True,
    "checkpoint_dir": None,
    "resume": "auto",
    "num_nodes": 1,
    "process_group_backend": None,
}

#: keys of the ``trainer`` section that accept several types (a method's ``conf_types``)
TRAINER_TYPES: dict[str, tuple[type, ...]] = {"trainer.devices": (int, str, list)}

#: choices of ``trainer.resume``
RESUME = ("auto", "never")
#: choices of :class:`TrainingModule`'s ``optimizer``
OPTIMIZERS = ("adam", "rmsprop", "sgd")
#: ``trainer`` keys that do not change what is trained (left out of the fingerprint)
_UNTRAINED_KEYS = ("progress", "checkpoint_dir", "resume")
#: checkpoint field holding the fingerprint
_FINGERPRINT_KEY = "omniloc_fingerprint"

#: DDP strategy names -> how their worker processes start
_DDP_START = {"ddp": "popen", "ddp_spawn": "spawn", "ddp_fork": "fork", "ddp_notebook": "fork"}

#: Lightning's advice that does not apply to omniloc's in-memory tensors (filtered inside fits only)
_QUIET_WARNINGS = (
    ".*does not have many workers.*",
    ".*GPU available but not used.*",
    ".*LeafSpec.*",
    ".*`validation_step` but have no `val_dataloader`.*",
    ".*log_every_n_steps.*",
    ".*Checkpoint directory .* exists and is not empty.*",
    ".*exists and is not empty.*",
    ".*Trying to infer the `batch_size`.*",
    ".*TPU available.*",
    ".*HPU available.*",
    ".*sync_dist=True.*",
    ".*isinstance\\(treespec, LeafSpec\\).*",
)
#: loggers through which Lightning reports devices and tips (quietened inside fits only)
_QUIET_LOGGERS = (
    "lightning.pytorch.utilities.rank_zero",
    "lightning.pytorch.accelerators.cuda",
    "lightning.fabric.utilities.seed",
    "lightning.pytorch.utilities.upgrade_checkpoint",
    "lightning.pytorch.trainer.connectors.checkpoint_connector",
)


# ============================================================================ seeding
def uses_cuda(conf: dict) -> bool:
    """Whether a ``trainer`` conf section trains on CUDA devices (``gpu``/``cuda``, or ``auto`` with CUDA present)."""
    acc = str(conf.get("accelerator", "cpu")).lower()
    return acc in ("gpu", "cuda") or (acc == "auto" and torch.cuda.is_available())


def reseed(seed: int, cuda: bool = False) -> None:
    """Seed torch's CPU generator (and every CUDA device's with ``cuda``); use inside :func:`seeded`.

    Without ``cuda`` the CUDA generators are not touched, not even lazily (``torch.manual_seed``
    would queue a CUDA seed that changes the caller's state once CUDA starts).
    """
    if cuda:
        torch.manual_seed(int(seed))
    else:
        torch.default_generator.manual_seed(int(seed))


@contextlib.contextmanager
def seeded(seed: int, cuda: bool = False):
    """Run a block with torch seeded to ``seed`` and the caller's generator state restored afterwards.

    Forks torch's CPU generator (and, with ``cuda``, the generator of every visible CUDA device)
    with :func:`torch.random.fork_rng`, then seeds it with :func:`reseed`. Whatever the block
    draws (weight initialisation, batch order, dropout) depends only on ``seed``; the caller's
    ``torch.random.get_rng_state()`` is the same after the block as before.

    Parameters
    ----------
    seed : int
    cuda : bool
        Also fork and seed the CUDA generators (see :func:`uses_cuda`).
    """
    devices = list(range(torch.cuda.device_count())) if cuda and torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        reseed(seed, bool(devices))
        yield


# ============================================================================ fingerprints
def _feed(h, value) -> None:
    """Feed a canonical byte form of ``value`` (nested dicts, lists, arrays, tensors, scalars) into hash ``h``."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        h.update(f"T{value.dtype}{tuple(value.shape)}".encode())
        if value.dtype == torch.bfloat16:
            value = value.float()
        h.update(np.ascontiguousarray(value.numpy()).tobytes())
    elif isinstance(value, np.ndarray):
        h.update(f"A{value.dtype.str}{value.shape}".encode())
        if value.dtype.kind in "OUS":
            for v in value.reshape(-1):
                _feed(h, v.item() if hasattr(v, "item") else v)
        else:
            h.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, dict):
        h.update(f"D{len(value)}".encode())
        for k in sorted(value, key=str):
            _feed(h, str(k))
            _feed(h, value[k])
    elif isinstance(value, (list, tuple)):
        h.update(f"L{len(value)}".encode())
        for v in value:
            _feed(h, v)
    elif isinstance(value, (bool, np.bool_)):
        h.update(f"B{bool(value)}".encode())
    elif isinstance(value, (int, np.integer)):
        h.update(f"I{int(value)}".encode())
    elif isinstance(value, (float, np.floating)):
        h.update(f"F{float(value)!r}".encode())
    elif value is None:
        h.update(b"N")
    else:
        s = str(value).encode()
        h.update(f"S{len(s)}:".encode() + s)


def fingerprint(value) -> str:
    """A SHA-256 hex digest of ``value``: nested dicts (key order ignored), lists, numpy arrays,
    torch tensors (dtype, shape and every element), numbers, strings and None.

    Equal inputs give equal digests in any process; a change of one element, dtype or shape
    changes the digest.
    """
    h = hashlib.sha256()
    _feed(h, value)
    return h.hexdigest()


def training_conf(conf: dict, ignore: tuple[str, ...] = ()) -> dict:
    """The part of a method conf that decides what is trained (what a checkpoint fingerprint hashes).

    Drops the ``trainer`` section's ``progress``, ``checkpoint_dir`` and ``resume`` and every
    dotted key of ``ignore`` (e.g. ``("predict", "epochs")``); returns a new dict.
    """
    out = {k: v for k, v in conf.items()}
    if isinstance(out.get("trainer"), dict):
        out["trainer"] = {k: v for k, v in out["trainer"].items() if k not in _UNTRAINED_KEYS}
    for key in ignore:
        *parents, last = key.split(".")
        node = out
        for p in parents:
            if not isinstance(node.get(p), dict):
                node = None
                break
            node[p] = dict(node[p])
            node = node[p]
        if node is not None:
            node.pop(last, None)
    return out


def _data_of(module, dataloaders) -> list:
    """What a stage trains on: the module's buffers and the tensors of its loaders' datasets."""
    parts: list[Any] = [{k: v for k, v in module.named_buffers()}]
    for dl in dataloaders:
        ds = getattr(dl, "dataset", None) if dl is not None else None
        if isinstance(ds, torch.Tensor):
            parts.append(ds)
        elif isinstance(ds, torch.utils.data.TensorDataset):
            parts.append(list(ds.tensors))
        elif dl is not None:
            parts.append(f"{type(ds).__name__} of length {len(ds) if hasattr(ds, '__len__') else '?'}")
    return parts


def _stage_fingerprint(module, dataloaders, fingerprint_conf: dict | None) -> dict[str, str]:
    return {"conf": fingerprint(fingerprint_conf or {}), "data": fingerprint(_data_of(module, dataloaders))}


class _Fingerprint(L.Callback):
    """Writes the stage fingerprint into every checkpoint Lightning saves."""

    def __init__(self, value: dict[str, str]):
        self.value = dict(value)

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        checkpoint[_FINGERPRINT_KEY] = dict(self.value)


_WHAT = {"conf": "the method conf", "data": "the training data"}


def _check_resume(path: Path, expected: dict[str, str]) -> tuple[int, int]:
    """The epoch and step of checkpoint ``path`` if its fingerprint is ``expected``; a ConfigError otherwise."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # a truncated or foreign file: torch raises by content
        first = (str(e).strip().splitlines() or [""])[0]
        raise DataError(
            f"unreadable checkpoint ({type(e).__name__}: {first}); delete it or set "
            "trainer.resume='never' to start fresh",
            file=path,
        ) from None
    got = ckpt.get(_FINGERPRINT_KEY) if isinstance(ckpt, dict) else None
    fix = (
        f"set trainer.resume='never' to start fresh (the old folder is kept as {path.parent.name}.attempt-<n>) "
        "or choose another trainer.checkpoint_dir"
    )
    if not isinstance(got, dict):
        raise ConfigError(
            f"checkpoint {path} has no omniloc fingerprint (written by an older version), so it "
            f"cannot be checked against this fit; {fix}"
        )
    differ = [k for k in ("conf", "data") if got.get(k) != expected.get(k)]
    if differ:
        what = " and ".join(_WHAT[k] for k in differ)
        raise ConfigError(
            f"checkpoint {path} was written by a fit with other {what.replace('the ', '')}; "
            f"refusing to resume it: {fix}"
        )
    return int(ckpt.get("epoch", 0)), int(ckpt.get("global_step", 0))


def _attempt_folder(folder: Path) -> Path:
    n = 1
    while (folder.parent / f"{folder.name}.attempt-{n}").exists():
        n += 1
    return folder.parent / f"{folder.name}.attempt-{n}"


def _next_version(folder: Path) -> int:
    """The first CSV-log version number after the ``version_<k>`` folders already in ``folder``."""
    used = []
    if folder.is_dir():
        for p in folder.iterdir():
            if p.is_dir() and p.name.startswith("version_") and p.name[8:].isdigit():
                used.append(int(p.name[8:]))
    return max(used) + 1 if used else 0


def _is_rank_zero() -> bool:
    """Whether this process is the first of a launched group (always true outside DDP launchers)."""
    return all(os.environ.get(k, "0") == "0" for k in ("RANK", "LOCAL_RANK", "NODE_RANK"))


# ============================================================================ progress and warnings
def _progress_bar(conf: dict, stage: str, refresh_rate: int, stream=None):
    """The progress-bar callback for ``conf['progress']``, or None (off, or ``stream`` not a terminal)."""
    stream = sys.stderr if stream is None else stream
    if not conf.get("progress", True):
        return None
    try:
        tty = bool(stream.isatty())
    except (AttributeError, ValueError):
        tty = False
    return _StageProgressBar(stage, refresh_rate) if tty else None


class _StageProgressBar(TQDMProgressBar):
    """One bar on stderr over the whole stage: ``<stage> epoch e/E``, steps done / total with ETA, the logged
    loss (and a validation bar after each epoch)."""

    def __init__(self, stage: str, refresh_rate: int = 1):
        super().__init__(refresh_rate=max(int(refresh_rate), 1))
        self.stage = stage

    def _tqdm(self, desc: str, position: int, leave: bool, **kw):
        from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm

        # on stderr (Lightning's default is stdout, which a command may be writing results to)
        return Tqdm(
            desc=desc,
            position=position,
            disable=self.is_disabled,
            leave=leave,
            dynamic_ncols=True,
            file=sys.stderr,
            bar_format=self.BAR_FORMAT,
            **kw,
        )

    def init_train_tqdm(self):
        return self._tqdm(self.stage, 2 * self.process_position, True, smoothing=0)

    def init_validation_tqdm(self):
        return self._tqdm(self.validation_description, 2 * self.process_position + 1, False)

    def on_train_epoch_start(self, trainer, *_):
        bar = self.train_progress_bar
        total = trainer.estimated_stepping_batches
        total = None if total is None or not np.isfinite(float(total)) else int(total)
        if bar.total != total:
            bar.reset(total=total)
        bar.n = int(trainer.global_step)
        epochs = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else None
        bar.set_description(f"{self.stage} epoch {trainer.current_epoch + 1}" + (f"/{epochs}" if epochs else ""))
        bar.refresh()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        bar = self.train_progress_bar
        n = int(trainer.global_step)
        if bar is not None and not bar.disable and self._should_update(n, bar.total):
            bar.n = n
            bar.set_postfix(self.get_metrics(trainer, pl_module))
            bar.refresh()


@contextlib.contextmanager
def _quiet():
    """Inside: Lightning's advice warnings filtered and its device / tip messages below WARNING dropped."""
    levels = {name: logging.getLogger(name).level for name in _QUIET_LOGGERS}
    try:
        for name in _QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
        with warnings.catch_warnings():
            for msg in _QUIET_WARNINGS:
                warnings.filterwarnings("ignore", message=msg)
            yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


class _WorkerSetup(L.Callback):
    """In a DDP worker process that Lightning started (spawn, fork): the same warning filters and
    deterministic algorithms as the main process's fit (the worker ends with the fit)."""

    def setup(self, trainer, pl_module, stage: str) -> None:
        if multiprocessing.parent_process() is None:
            return
        for msg in _QUIET_WARNINGS:
            warnings.filterwarnings("ignore", message=msg)
        for name in _QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
        torch.use_deterministic_algorithms(True, warn_only=True)


@contextlib.contextmanager
def _deterministic():
    """``torch.use_deterministic_algorithms(True, warn_only=True)`` inside, the caller's setting restored after."""
    enabled = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)


# ============================================================================ DDP
def _strategy(conf: dict):
    """The ``strategy`` argument of the Trainer: the name, or a DDPStrategy with the asked backend."""
    name = conf.get("strategy", "auto")
    backend = conf.get("process_group_backend")
    if backend is None or not isinstance(name, str) or name not in _DDP_START:
        return name
    from lightning.pytorch.strategies import DDPStrategy

    return DDPStrategy(process_group_backend=backend, start_method=_DDP_START[name])


def release_process_group(trainer) -> None:
    """End the DDP process group of a worker process that Lightning started by spawn or fork.

    :class:`TrainingModule` calls it from its ``teardown`` hook: Lightning leaves the group open
    when such a worker returns, and a gloo group still open at interpreter exit can abort the
    worker ("terminate called without an active exception"), which fails the fit after training
    has finished. Does nothing in the main process or without a process group.
    """
    import torch.distributed as dist

    start = getattr(trainer.strategy, "_start_method", None)
    if start in ("spawn", "fork", "forkserver") and dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


# ============================================================================ the module
class TrainingModule(L.LightningModule):
    """The Lightning module every neural method trains through: optimiser, loss, validation, checkpoints.

    A subclass implements :meth:`loss` (and for validation :meth:`validation_sums` and
    :meth:`validation_metrics`); this class does the rest:

    * the optimiser over the trainable parameters (``requires_grad``): ``"adam"``, ``"rmsprop"``
      (Keras' ``rho = 0.9``) or ``"sgd"`` (momentum ``momentum``), with ``lr`` and
      ``weight_decay``; ``cosine_steps`` adds a per-step cosine decay of the learning rate to
      ``cosine_floor * lr`` over that many steps;
    * each training step logs the loss as ``loss`` (on the progress bar) with the extra values
      :meth:`loss` returns, and keeps the epoch's mean loss; :attr:`history` gets one row per
      epoch, ``[epoch, mean loss, validation metric]`` (NaN without validation), or, with
      ``history_every`` steps, ``[step, loss, *extra values]`` every that many steps;
    * with a validation loader, :meth:`validation_sums` of every batch are summed over the epoch
      and over processes (DDP), :meth:`validation_metrics` turns the sums into metrics (logged,
      on the progress bar); the first is the monitored one: the weights of its best epoch
      (lowest, or highest with ``mode="max"``) are kept and loaded back when training ends;
    * checkpoints carry the history, the best epoch (value and weights) and
      :meth:`extra_state`, so a resumed fit continues where it stopped;
    * data tensors registered with :meth:`add_data` are non-persistent buffers (they move to the
      accelerator with the module and are not written into checkpoints).

    Parameters
    ----------
    net : torch.nn.Module
        The trained network (``self.net``; its ``state_dict`` is what best-epoch selection keeps).
    optimizer : ``"adam"``, ``"rmsprop"`` or ``"sgd"``
    lr : float
        Learning rate.
    weight_decay : float
        L2 penalty of the optimiser.
    momentum : float
        SGD momentum (ignored by the other optimisers).
    cosine_steps : int, optional
        Per-step cosine decay over this many steps (None: constant learning rate).
    cosine_floor : float
        Final learning rate of the cosine decay, as a fraction of ``lr``.
    mode : ``"min"`` or ``"max"``
        Whether the monitored validation metric improves downwards or upwards.
    history_every : int, optional
        Record a history row every this many training steps instead of one per epoch.
    """

    def __init__(
        self,
        net: torch.nn.Module,
        optimizer: str = "adam",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        momentum: float = 0.9,
        cosine_steps: int | None = None,
        cosine_floor: float = 0.05,
        mode: str = "min",
        history_every: int | None = None,
    ):
        super().__init__()
        if optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer must be one of {list(OPTIMIZERS)}, got {optimizer!r}")
        if mode not in ("min", "max"):
            raise ConfigError(f"mode must be 'min' or 'max', got {mode!r}")
        self.net = net
        self.optimizer_kind, self.lr, self.weight_decay = optimizer, float(lr), float(weight_decay)
        self.momentum, self.cosine_steps, self.cosine_floor = float(momentum), cosine_steps, float(cosine_floor)
        self.mode, self.history_every = mode, history_every
        self.best_val = float("inf") if mode == "min" else float("-inf")
        self.best_state: dict | None = None
        self.history: list[list[float]] = []
        self.last_loss = float("nan")
        self._loss_sum, self._loss_n = 0.0, 0
        self._last_val = float("nan")
        self._val_acc = None

    # ------------------------------------------------------------------ to implement
    def loss(self, batch) -> tuple[torch.Tensor, dict]:
        """The training loss of one batch (a scalar tensor) and extra values to log (name -> number)."""
        raise NotImplementedError

    def validation_sums(self, batch) -> torch.Tensor:
        """Sums over one validation batch, (S,) tensor (e.g. ``[error sum, count]``), added up over the epoch."""
        raise NotImplementedError

    def validation_metrics(self, sums: torch.Tensor) -> dict[str, torch.Tensor]:
        """Metrics from the epoch's summed :meth:`validation_sums`; the first one is monitored."""
        raise NotImplementedError

    def extra_state(self) -> dict:
        """Further state written into checkpoints (restored by :meth:`load_extra_state`)."""
        return {}

    def load_extra_state(self, state: dict) -> None:
        """Restore what :meth:`extra_state` returned."""

    # ------------------------------------------------------------------ data
    def add_data(self, split: str, tensors: dict[str, torch.Tensor] | None) -> None:
        """Register ``tensors`` as non-persistent buffers ``<split>__<name>`` (read with :meth:`data`)."""
        for k, v in (tensors or {}).items():
            self.register_buffer(f"{split}__{k}", v, persistent=False)

    def data(self, split: str, key: str) -> torch.Tensor:
        return getattr(self, f"{split}__{key}")

    # ------------------------------------------------------------------ training
    def training_step(self, batch, batch_idx):
        loss, extra = self.loss(batch)
        self.log("loss", loss, prog_bar=True)
        if extra:
            self.log_dict({k: v for k, v in extra.items()}, prog_bar=True)
        value = float(loss.detach())
        self.last_loss = value
        self._loss_sum += value
        self._loss_n += 1
        if self.history_every is not None and self.global_step % int(self.history_every) == 0:
            self.history.append([float(self.global_step), value] + [float(v) for v in extra.values()])
        return loss

    def on_train_epoch_end(self):
        if self.history_every is None:
            self.history.append([float(self.current_epoch), self._loss_sum / max(self._loss_n, 1), self._last_val])
        self._loss_sum, self._loss_n = 0.0, 0

    def on_train_end(self):
        if self.best_state is not None:
            self.net.load_state_dict(self.best_state)

    # ------------------------------------------------------------------ validation
    def on_validation_epoch_start(self):
        self._val_acc = None

    def validation_step(self, batch, batch_idx):
        s = self.validation_sums(batch).detach().double()
        self._val_acc = s if self._val_acc is None else self._val_acc + s

    def on_validation_epoch_end(self):
        if self._val_acc is None:
            return
        total = self.trainer.strategy.reduce(self._val_acc, reduce_op="sum")
        metrics = self.validation_metrics(total)
        # already summed over processes: the sync averages equal values (and silences Lightning's advice)
        self.log_dict({k: v.float() for k, v in metrics.items()}, prog_bar=True, sync_dist=True)
        self.update_best(float(next(iter(metrics.values()))))

    def update_best(self, value: float) -> bool:
        """Record ``value`` as this epoch's validation metric; keep the weights if it is the best so far."""
        self._last_val = value
        better = value < self.best_val if self.mode == "min" else value > self.best_val
        if better:
            self.best_val = value
            self.best_state = {k: t.detach().cpu().clone() for k, t in self.net.state_dict().items()}
        return better

    @torch.no_grad()
    def score(self, dataloader) -> float:
        """The monitored validation metric of the current weights over ``dataloader``, outside a trainer."""
        was_training = self.net.training
        self.net.eval()
        total = None
        for batch in dataloader:
            s = self.validation_sums(batch).detach().double()
            total = s if total is None else total + s
        self.net.train(was_training)
        if total is None:
            return float("nan")
        return float(next(iter(self.validation_metrics(total).values())))

    # ------------------------------------------------------------------ checkpoints, optimiser, DDP
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["omniloc_history"] = [list(map(float, h)) for h in self.history]
        checkpoint["omniloc_best"] = {"val": float(self.best_val), "state": self.best_state}
        checkpoint["omniloc_extra"] = self.extra_state()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.history = [list(h) for h in checkpoint.get("omniloc_history", [])]
        best = checkpoint.get("omniloc_best") or {}
        self.best_val = float(best.get("val", self.best_val))
        self.best_state = best.get("state")
        self.load_extra_state(checkpoint.get("omniloc_extra") or {})

    def configure_optimizers(self):
        params = [p for p in self.parameters() if p.requires_grad]
        if self.optimizer_kind == "rmsprop":  # Keras' defaults: rho 0.9
            opt = torch.optim.RMSprop(params, lr=self.lr, alpha=0.9, weight_decay=self.weight_decay)
        elif self.optimizer_kind == "sgd":
            opt = torch.optim.SGD(params, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay)
        else:
            opt = torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
        if self.cosine_steps is None:
            return opt
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(
            opt, T_max=max(int(self.cosine_steps), 1), eta_min=self.cosine_floor * self.lr
        )
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def teardown(self, stage: str) -> None:
        release_process_group(self.trainer)


def index_loaders(n: int, batch_size: int, n_val: int | None = None, val_batch_size: int = 256):
    """Loaders of index tensors for data held in a module's buffers (:meth:`TrainingModule.add_data`).

    The training loader shuffles ``0 .. n-1`` into batches of ``batch_size``; its order draws from
    torch's generator, seeded around the fit (a ``torch.Generator`` given to the loader would not
    survive the pickling of DDP spawn). The validation loader, when ``n_val`` is given, runs
    ``0 .. n_val-1`` in order in batches of ``val_batch_size``.

    Returns
    -------
    loader, val_loader (or None), steps per epoch
    """
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.arange(n)), batch_size=batch_size, shuffle=True
    )
    val_loader = None
    if n_val is not None:
        val_loader = torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(torch.arange(n_val)), batch_size=val_batch_size
        )
    return loader, val_loader, max(1, -(-n // batch_size))


# ============================================================================ the loop
def fit_lightning(
    module,
    dataloader,
    conf: dict,
    stage: str,
    max_epochs: int = 1,
    max_steps: int = -1,
    log_every_n_steps: int = 50,
    gradient_clip_val: float | None = None,
    val_dataloader=None,
    monitor: str | None = None,
    mode: str = "min",
    patience: int | None = None,
    callbacks: list | None = None,
    fingerprint_conf: dict | None = None,
):
    """Train ``module`` on ``dataloader`` with a Lightning ``Trainer`` configured by ``conf``.

    Inside the fit only: ``torch.use_deterministic_algorithms(True, warn_only=True)``, Lightning's
    advice warnings filtered and its device messages silenced; all restored afterwards. Seed the
    fit with :func:`seeded` around the whole method fit (weights are drawn before this is called).

    Parameters
    ----------
    module : lightning.LightningModule
        Usually a :class:`TrainingModule`.
    dataloader : torch DataLoader
    conf : dict
        :data:`TRAINER_DEFAULTS` keys.
    stage : str
        Name of this training stage: the checkpoint sub-folder and the progress-bar label.
    max_epochs, max_steps : int
    log_every_n_steps : int
        Logging interval; also the checkpoint interval in training steps.
    gradient_clip_val : float, optional
    val_dataloader : torch DataLoader, optional
        Validation batches, run after every training epoch (the module needs a
        ``validation_step``).
    monitor : str, optional
        A metric the module logs during validation (e.g. ``"val_pos_err_m"``); with
        ``patience`` it drives early stopping.
    mode : ``"min"`` or ``"max"``
        Whether ``monitor`` improves downwards or upwards.
    patience : int, optional
        Stop after this many validations without improvement of ``monitor`` (needs
        ``val_dataloader`` and ``monitor``); ``None``: no early stopping.
    callbacks : list, optional
        Further Lightning callbacks.
    fingerprint_conf : dict, optional
        What of the method conf decides this stage's training (:func:`training_conf`); hashed
        into the checkpoint fingerprint with the data (the module's buffers and the loaders'
        tensors).

    Returns
    -------
    lightning.Trainer
        After ``fit``; the module holds the trained weights.

    Raises
    ------
    ConfigError
        ``trainer.resume`` unknown, or ``<stage>/last.ckpt`` written by a fit with another conf
        or other data (with ``resume="auto"``).
    DataError
        ``<stage>/last.ckpt`` unreadable.
    """
    from lightning.pytorch.callbacks import ModelCheckpoint

    resume = conf.get("resume", "auto")
    if resume not in RESUME:
        raise ConfigError(f"trainer.resume must be one of {list(RESUME)}, got {resume!r}")
    callbacks, logger, ckpt_path = list(callbacks or []) + [_WorkerSetup()], False, None
    if val_dataloader is not None and monitor is not None and patience is not None:
        from lightning.pytorch.callbacks import EarlyStopping

        callbacks.append(EarlyStopping(monitor=monitor, mode=mode, patience=int(patience)))
    ckpt_dir = conf.get("checkpoint_dir")
    if ckpt_dir:
        from lightning.pytorch.loggers import CSVLogger

        folder = Path(ckpt_dir) / stage
        last = folder / "last.ckpt"
        expected = _stage_fingerprint(module, [dataloader, val_dataloader], fingerprint_conf)
        if resume == "never" and folder.exists() and _is_rank_zero():
            moved = _attempt_folder(folder)
            folder.rename(moved)
            log.warning("trainer.resume='never': the earlier attempt %s was moved to %s", folder, moved)
        elif resume == "auto" and last.exists():
            epoch, step = _check_resume(last, expected)
            ckpt_path = str(last)
            log.warning("resumed from %s at epoch %d (step %d)", last, epoch, step)
        callbacks.append(_Fingerprint(expected))
        callbacks.append(
            ModelCheckpoint(
                dirpath=folder,
                filename="step{step}",
                save_last=True,
                every_n_train_steps=max(log_every_n_steps, 1),
                save_top_k=1,
                auto_insert_metric_name=False,
            )
        )
        logger = CSVLogger(str(Path(ckpt_dir)), name=stage, version=_next_version(folder))
    bar = _progress_bar(conf, stage, max(1, log_every_n_steps // 5))
    if bar is not None:
        callbacks.append(bar)
    module.train()  # e.g. a network evaluated between two stages: trained in training mode
    with _quiet(), _deterministic():  # also while the Trainer is built (it reports the devices it sees)
        trainer = L.Trainer(
            accelerator=conf.get("accelerator", "cpu"),
            devices=conf.get("devices", 1),
            strategy=_strategy(conf),
            num_nodes=int(conf.get("num_nodes", 1)),
            max_epochs=max_epochs,
            max_steps=max_steps,
            logger=logger,
            callbacks=callbacks,
            enable_checkpointing=bool(ckpt_dir),
            enable_progress_bar=bar is not None,
            enable_model_summary=False,
            log_every_n_steps=log_every_n_steps,
            gradient_clip_val=gradient_clip_val,
            num_sanity_val_steps=0,
            default_root_dir=str(ckpt_dir) if ckpt_dir else None,
        )
        trainer.fit(module, dataloader, val_dataloader, ckpt_path=ckpt_path)
        if ckpt_dir:  # the final state, so that a later fit resumes as complete
            trainer.save_checkpoint(str(Path(ckpt_dir) / stage / "last.ckpt"))
    return trainer
