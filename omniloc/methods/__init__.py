"""Localization methods behind one interface, created by name from a registry.

Usage (``train`` and ``test`` are :class:`~omniloc.data.Dataset` objects)::

    loc = omniloc.methods.create("knn", {"k": 5})
    est = loc.fit(train).predict(test)

Methods are registered as ``name -> "module:Class"`` so that importing this package does not
import torch; the module is imported on first use.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from .._errors import ConfigError, DataError
from .base import Localizer, merge_conf, read_method_json

__all__ = ["Localizer", "merge_conf", "create", "load", "available", "get_class", "register", "suitable_methods"]

_REGISTRY: dict[str, str] = {
    "knn": "omniloc.methods.knn:KNNLocalizer",
    "pdr": "omniloc.methods.pdr:PDRLocalizer",
    "otisomap": "omniloc.methods.otisomap:OTIsomapLocalizer",
    "mtloc": "omniloc.methods.mtloc:MTLocLocalizer",
    "track": "omniloc.methods.track:TrackLocalizer",
    "pf": "omniloc.methods.pf:ParticleLocalizer",
    "mvloc": "omniloc.methods.mvloc:MVLocLocalizer",
    "mvloc-v": "omniloc.methods.mvloc:MVLocV",
    "mvloc-c": "omniloc.methods.mvloc:MVLocC",
    "mvloc-p": "omniloc.methods.mvloc:MVLocP",
    "genmap": "omniloc.methods.genmap:GenMapLocalizer",
    "vpr": "omniloc.methods.vpr:VPRLocalizer",
}


def register(name: str, target: str) -> None:
    """Register a method class under ``name``; ``target`` is ``"package.module:ClassName"``."""
    _REGISTRY[name] = target


def available() -> list[str]:
    """Names of the registered methods."""
    return sorted(_REGISTRY)


def get_class(name: str) -> type[Localizer]:
    """The class registered as ``name`` (its module imported on first use).

    Raises
    ------
    ConfigError
        ``name`` is not registered.
    """
    if name not in _REGISTRY:
        raise ConfigError(f"unknown method {name!r}; available: {available()}")
    module, cls = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), cls)


def create(name: str, conf: dict | None = None, preset: str | list[str] | None = None) -> Localizer:
    """A new, unfitted method ``name``: ``conf`` merged over its ``default_conf`` after the presets.

    Parameters
    ----------
    name : str
        A registered method (:func:`available`).
    conf : dict, optional
        Values merged over the defaults (nested sections key by key), type-checked.
    preset : str or list of str, optional
        A preset of the method, or several applied in order (``["paper", "quick"]``).

    Raises
    ------
    ConfigError
        Unknown method, preset or key; a value of the wrong type or refused by the method.
    """
    return get_class(name)(conf, preset=preset)


def load(path) -> Localizer:
    """Load a method saved with :meth:`Localizer.save` (or ``omniloc train``) from folder ``path``.

    Raises
    ------
    DataError
        Not a saved model, or a damaged one (truncated ``state.npz``, ``method.json`` without
        its state, unreadable ``weights.pt``, ...); the message names the file.
    """
    path = Path(path)
    meta = read_method_json(path)
    try:
        cls = get_class(meta["method"])
    except ConfigError as e:
        raise DataError(str(e), file=path / "method.json", field="method") from None
    return cls._from_folder(path, meta)


def suitable_methods(dataset) -> list[str]:
    """Registered methods that can run on every recording of ``dataset``, by stream kind.

    A method suits when its ``required_streams`` kinds are all present in every recording.
    Methods that declare no required streams (they adapt to whatever a recording has, e.g.
    ``otisomap``, or need a choice from the caller) are never picked.

    Parameters
    ----------
    dataset : Dataset or iterable of Recording

    Returns
    -------
    list of str
        Method names, sorted.
    """
    kinds = [{s.kind for s in rec.streams.values()} for rec in dataset]
    out = []
    for name in available():
        need = set(get_class(name).required_streams)
        if need and all(need <= k for k in kinds):
            out.append(name)
    return out
