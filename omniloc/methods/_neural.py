"""The part every torch method shares: a seeded ``fit`` and one ``weights.pt`` beside the saved state.

A subclass implements ``_fit(train, val)`` (the training, inside :func:`omniloc.nn.training.seeded`
so that the caller's torch random state is kept) and, to use the default weights file,
``_build_net()`` (a fresh network for the saved configuration) and keeps its network in ``_net``.
Only imported by torch methods: the registry in :mod:`omniloc.methods` stays torch-free.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from .._errors import DataError
from ..data import Dataset
from ..nn.training import seeded, uses_cuda
from .base import Localizer

__all__ = ["NeuralLocalizer"]


class NeuralLocalizer(Localizer):
    """A :class:`Localizer` with a torch network ``_net``: seeded ``fit``, ``fit_seconds_``, ``weights.pt``."""

    def fit(self, train: Dataset, val: Dataset | None = None):
        """Train on ``train`` (``val``: best epoch and early stopping), seeded by the conf's ``seed``.

        Records the wall time in ``fit_seconds_``; returns ``self``.
        """
        self._check_conf()
        t0 = time.perf_counter()
        with seeded(int(self.conf["seed"]), uses_cuda(self.conf["trainer"])):
            self._fit(train, val)
        self.fit_seconds_ = time.perf_counter() - t0
        return self

    def _fit(self, train: Dataset, val: Dataset | None) -> None:
        raise NotImplementedError

    def _build_net(self) -> torch.nn.Module:
        """A fresh network for ``self.conf`` (and the learned state already set), for loading weights."""
        raise NotImplementedError

    def _save_extra(self, folder: Path) -> None:
        torch.save({"net": self._net.state_dict()}, folder / "weights.pt")

    def _load_extra(self, folder: Path) -> None:
        path = folder / "weights.pt"
        try:
            w = torch.load(path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError) as e:
            raise DataError(f"unreadable weights: {e}", file=path) from None
        self._net = self._build_net()
        try:
            self._net.load_state_dict(w["net"])
        except (KeyError, RuntimeError, TypeError) as e:
            raise DataError(f"weights do not match the saved configuration: {e}", file=path) from None
        self._net.eval()
