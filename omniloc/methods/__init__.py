"""Localization methods behind one interface, created by name from a registry.

>>> loc = omniloc.methods.create("knn", {"k": 5})
>>> loc.fit(train).predict(test)

Methods are registered as ``name -> "module:Class"`` so that importing this package does not
import torch; the module is imported on first use.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from .._errors import ConfigError
from .base import Localizer, merge_conf, read_method_json

__all__ = ["Localizer", "merge_conf", "create", "load", "available", "get_class", "register"]

_REGISTRY: dict[str, str] = {
    "knn": "omniloc.methods.knn:KNNLocalizer",
    "pdr": "omniloc.methods.pdr:PDRLocalizer",
    "otisomap": "omniloc.methods.otisomap:OTIsomapLocalizer",
    "mtloc": "omniloc.methods.mtloc:MTLocLocalizer",
    "track": "omniloc.methods.track:TrackLocalizer",
}


def register(name: str, target: str) -> None:
    """Register a method class under ``name``; ``target`` is ``"package.module:ClassName"``."""
    _REGISTRY[name] = target


def available() -> list[str]:
    """Names of the registered methods."""
    return sorted(_REGISTRY)


def get_class(name: str) -> type[Localizer]:
    if name not in _REGISTRY:
        raise ConfigError(f"unknown method {name!r}; available: {available()}")
    module, cls = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), cls)


def create(name: str, conf: dict | None = None, preset: str | None = None) -> Localizer:
    """A new, unfitted method ``name`` with ``conf`` merged over its ``default_conf``."""
    return get_class(name)(conf, preset=preset)


def load(path) -> Localizer:
    """Load a method saved with :meth:`Localizer.save`."""
    path = Path(path)
    meta = read_method_json(path)
    return get_class(meta["method"])._from_folder(path, meta)
