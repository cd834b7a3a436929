"""Lightning plumbing shared by the neural methods: one trainer factory, resumable fits.

Every training loop in omniloc goes through :func:`fit_lightning`, so progress bars,
checkpoints (``last.ckpt``, resumed automatically), CSV logs and multi-device strategies behave
the same in every method. Nothing here runs at import.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

__all__ = ["TRAINER_DEFAULTS", "fit_lightning", "release_process_group"]

#: Documented defaults of the ``trainer`` section of a neural method's conf:
#:
#: * ``accelerator``: Lightning accelerator (``"cpu"``, ``"gpu"``, ``"auto"``);
#: * ``devices``: number of devices (or ``"auto"``); with more than one, Lightning runs DDP;
#: * ``strategy``: Lightning strategy (``"auto"``, ``"ddp"``, ``"ddp_spawn"``, ...);
#: * ``progress``: show a progress bar;
#: * ``checkpoint_dir``: folder for ``<stage>/last.ckpt`` and CSV logs; ``None`` keeps nothing.
#:   A stage whose ``last.ckpt`` exists resumes from it (same data and conf assumed);
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
    "num_nodes": 1,
    "process_group_backend": None,
}

#: DDP strategy names -> how their worker processes start
_DDP_START = {"ddp": "popen", "ddp_spawn": "spawn", "ddp_fork": "fork", "ddp_notebook": "fork"}


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

    Call it from a LightningModule's (or callback's) ``teardown`` hook: Lightning leaves the
    group open when such a worker returns, and a gloo group still open at interpreter exit can
    abort the worker ("terminate called without an active exception"), which fails the fit after
    training has finished. Does nothing in the main process or without a process group.
    """
    import torch.distributed as dist

    start = getattr(trainer.strategy, "_start_method", None)
    if start in ("spawn", "fork", "forkserver") and dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def fit_lightning(module, dataloader, conf: dict, stage: str, max_epochs: int = 1, max_steps: int = -1,
                  log_every_n_steps: int = 50, gradient_clip_val: float | None = None, val_dataloader=None,
                  monitor: str | None = None, mode: str = "min", patience: int | None = None,
                  callbacks: list | None = None):
    """Train ``module`` on ``dataloader`` with a Lightning ``Trainer`` configured by ``conf``.

    Parameters
    ----------
    module : lightning.LightningModule
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

    Returns
    -------
    lightning.Trainer
        After ``fit``; the module holds the trained weights.
    """
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint

    callbacks, logger, ckpt_path = list(callbacks or []), False, None
    if val_dataloader is not None and monitor is not None and patience is not None:
        from lightning.pytorch.callbacks import EarlyStopping

        callbacks.append(EarlyStopping(monitor=monitor, mode=mode, patience=int(patience)))
    ckpt_dir = conf.get("checkpoint_dir")
    if ckpt_dir:
        from lightning.pytorch.loggers import CSVLogger

        folder = Path(ckpt_dir) / stage
        callbacks.append(ModelCheckpoint(dirpath=folder, filename="step{step}", save_last=True,
                                         every_n_train_steps=max(log_every_n_steps, 1), save_top_k=1,
                                         auto_insert_metric_name=False))
        logger = CSVLogger(str(Path(ckpt_dir)), name=stage, version=0)
        if (folder / "last.ckpt").exists():
            ckpt_path = str(folder / "last.ckpt")
    if conf.get("progress", True):
        from lightning.pytorch.callbacks import TQDMProgressBar

        callbacks.append(TQDMProgressBar(refresh_rate=max(1, log_every_n_steps // 5)))
    quiet = ["lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda",
             "lightning.fabric.utilities.seed"]
    levels = {name: logging.getLogger(name).level for name in quiet}
    try:
        for name in quiet:       # also while the Trainer is built (it reports the devices it sees)
            logging.getLogger(name).setLevel(logging.WARNING)
        trainer = L.Trainer(
            accelerator=conf.get("accelerator", "cpu"), devices=conf.get("devices", 1),
            strategy=_strategy(conf), num_nodes=int(conf.get("num_nodes", 1)), max_epochs=max_epochs,
            max_steps=max_steps, logger=logger, callbacks=callbacks, enable_checkpointing=bool(ckpt_dir),
            enable_progress_bar=bool(conf.get("progress", True)), enable_model_summary=False,
            log_every_n_steps=log_every_n_steps, gradient_clip_val=gradient_clip_val,
            num_sanity_val_steps=0, default_root_dir=str(ckpt_dir) if ckpt_dir else None,
        )
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            warnings.filterwarnings("ignore", message=".*GPU available but not used.*")
            warnings.filterwarnings("ignore", message=".*LeafSpec.*")
            warnings.filterwarnings("ignore", message=".*`validation_step` but have no `val_dataloader`.*")
            trainer.fit(module, dataloader, val_dataloader, ckpt_path=ckpt_path)
            if ckpt_dir:          # the final state, so that a later fit resumes as complete
                trainer.save_checkpoint(str(Path(ckpt_dir) / stage / "last.ckpt"))
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    return trainer
