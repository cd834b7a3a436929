"""Lightning plumbing shared by the neural methods: one trainer factory, resumable fits.

Every training loop in omniloc goes through :func:`fit_lightning`, so progress bars,
checkpoints (``last.ckpt``, resumed automatically), CSV logs and multi-device strategies behave
the same in every method. Nothing here runs at import.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

__all__ = ["TRAINER_DEFAULTS", "fit_lightning"]

#: Documented defaults of the ``trainer`` section of a neural method's conf:
#:
#: * ``accelerator``: Lightning accelerator (``"cpu"``, ``"gpu"``, ``"auto"``);
#: * ``devices``: number of devices (or ``"auto"``); with more than one, Lightning runs DDP;
#: * ``strategy``: Lightning strategy (``"auto"``, ``"ddp"``, ``"ddp_spawn"``, ...);
#: * ``progress``: show a progress bar;
#: * ``checkpoint_dir``: folder for ``<stage>/last.ckpt`` and CSV logs; ``None`` keeps nothing.
#:   A stage whose ``last.ckpt`` exists resumes from it (same data and conf assumed).
TRAINER_DEFAULTS: dict = {
    "accelerator": "cpu",
    "devices": 1,
    "strategy": "auto",
    "progress": True,
    "checkpoint_dir": None,
}


def fit_lightning(module, dataloader, conf: dict, stage: str, max_epochs: int = 1, max_steps: int = -1,
                  log_every_n_steps: int = 50, gradient_clip_val: float | None = None):
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
    gradient_clip_val : float, optional

    Returns
    -------
    lightning.Trainer
        After ``fit``; the module holds the trained weights.
    """
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint

    callbacks, logger, ckpt_path = [], False, None
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
    trainer = L.Trainer(
        accelerator=conf.get("accelerator", "cpu"), devices=conf.get("devices", 1),
        strategy=conf.get("strategy", "auto"), max_epochs=max_epochs, max_steps=max_steps,
        logger=logger, callbacks=callbacks, enable_checkpointing=bool(ckpt_dir),
        enable_progress_bar=bool(conf.get("progress", True)), enable_model_summary=False,
        log_every_n_steps=log_every_n_steps, gradient_clip_val=gradient_clip_val,
        num_sanity_val_steps=0, default_root_dir=str(ckpt_dir) if ckpt_dir else None,
    )
    quiet = ["lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda",
             "lightning.fabric.utilities.seed"]
    levels = {name: logging.getLogger(name).level for name in quiet}
    try:
        for name in quiet:
            logging.getLogger(name).setLevel(logging.WARNING)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            warnings.filterwarnings("ignore", message=".*GPU available but not used.*")
            warnings.filterwarnings("ignore", message=".*LeafSpec.*")
            trainer.fit(module, dataloader, ckpt_path=ckpt_path)
            if ckpt_dir:          # the final state, so that a later fit resumes as complete
                trainer.save_checkpoint(str(Path(ckpt_dir) / stage / "last.ckpt"))
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    return trainer
