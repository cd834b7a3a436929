"""The `Localizer` interface every method implements, and its save/load format."""

from __future__ import annotations

import json
import pickle
import zipfile
import zlib
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .. import __version__
from .._conf import check_types, merge_conf
from .._errors import ConfigError, DataError
from .._io import output_dir, write_json
from ..data import Dataset, Estimate, Recording

__all__ = ["Localizer", "merge_conf", "read_method_json"]

#: what reading a damaged saved model may raise (turned into a DataError naming the file)
_DAMAGE = (
    zipfile.BadZipFile,
    zlib.error,
    pickle.UnpicklingError,
    KeyError,
    AttributeError,
    IndexError,
    TypeError,
    RuntimeError,
    EOFError,
    OSError,
    ValueError,
)


class Localizer:
    """Base class of every localization method (scikit-learn style).

    Subclasses set :attr:`name`, :attr:`default_conf` (documented key by key in the class
    docstring), optionally :attr:`presets`, and implement :meth:`fit` and
    :meth:`predict_recording`. ``__init__`` only stores the configuration; learned state lives in
    attributes that end with ``_``.

    Parameters
    ----------
    conf : dict, optional
        Merged over :attr:`default_conf` (after the presets, if given).
    preset : str or list of str, optional
        Name of one of :attr:`presets`, or several applied in order (``["paper", "quick"]``:
        the paper's settings with the quick budgets over them). Recorded in :attr:`preset`.

    Raises
    ------
    ConfigError
        An unknown preset or key, a value whose type differs from its default's (see
        :func:`omniloc._conf.check_types` and :attr:`conf_types`), or a value that the method's
        :meth:`_check_conf` refuses.
    """

    name: ClassVar[str] = ""
    default_conf: ClassVar[dict] = {}
    presets: ClassVar[dict[str, dict]] = {}
    #: types of conf keys whose value may have several types, by dotted key (``{"weights": (str,
    #: int, float), "trainer.devices": (int, str)}``); every other key must have its default's type
    conf_types: ClassVar[dict[str, tuple[type, ...]]] = {}
    #: stream kinds the method needs in a recording (used by the demo and bench to pick methods)
    required_streams: ClassVar[tuple[str, ...]] = ()

    def __init__(self, conf: dict | None = None, preset: str | list[str] | None = None):
        names = self._preset_names(preset)
        base = self.default_conf
        for p in names:
            base = merge_conf(base, self.presets[p], where=f"{self.name} preset {p!r}")
        self.preset = None if not names else names[0] if isinstance(preset, str) else names
        self.conf = merge_conf(base, conf, where=f"{self.name} conf")
        check_types(self.conf, self.default_conf, where=f"{self.name} conf", types=self.conf_types)
        self._check_conf()

    @classmethod
    def _preset_names(cls, preset) -> list[str]:
        """``preset`` (None, a name or a sequence of names) as a list of known preset names."""
        if preset is None:
            return []
        names = [preset] if isinstance(preset, str) else list(preset)
        for p in names:
            if not isinstance(p, str) or p not in cls.presets:
                raise ConfigError(f"method {cls.name!r} has no preset {p!r}; presets: {sorted(cls.presets)}")
        return names

    def _check_conf(self) -> None:
        """Hook: validate ``self.conf`` beyond types (ranges, choices, combinations).

        Called by :meth:`__init__` after the merge and the type check, for every method, also
        when a saved model is loaded. Raise :class:`~omniloc.ConfigError` naming the key, the
        value and what is expected. Must not depend on fitted state nor change ``self.conf``.
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}(preset={self.preset!r})"

    # ------------------------------------------------------------------ interface
    def fit(self, train: Dataset, val: Dataset | None = None) -> Localizer:
        raise NotImplementedError

    def predict_recording(self, rec: Recording) -> Estimate:
        raise NotImplementedError

    def predict(self, data: Recording | Dataset) -> Estimate:
        """Estimates for one recording, or for every recording of a dataset (stacked)."""
        self._check_fitted()
        if isinstance(data, Recording):
            return self.predict_recording(data)
        if isinstance(data, Dataset):
            return Estimate.concat([self.predict_recording(r) for r in data])
        raise TypeError(f"predict expects a Recording or a Dataset, got {type(data).__name__}")

    @property
    def is_fitted(self) -> bool:
        return any(k.endswith("_") and not k.startswith("_") for k in vars(self))

    def _check_fitted(self):
        if not self.is_fitted:
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit() first")

    # ------------------------------------------------------------------ persistence
    def _get_state(self) -> dict[str, Any]:
        """Learned state to save: by default every public attribute ending in ``_``.

        Values must be numpy arrays, numbers, strings, or JSON-serialisable lists/dicts.
        Methods with other state (torch modules) override this and :meth:`_set_state`.
        """
        return {k: v for k, v in vars(self).items() if k.endswith("_") and not k.startswith("_")}

    def _set_state(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            setattr(self, k, v)

    def save(self, path, overwrite: bool = False) -> Path:
        """Write ``method.json`` (name, preset, conf, version, plain state, names of the arrays) and
        ``state.npz`` into folder ``path``, built in a temporary folder and swapped in whole;
        ``self`` is unchanged."""
        self._check_fitted()
        path = Path(path)
        with output_dir(path, overwrite) as tmp:
            arrays, plain = {}, {}
            for k, v in self._get_state().items():
                if isinstance(v, np.ndarray):
                    arrays[k] = v
                else:
                    plain[k] = v
            np.savez(tmp / "state.npz", **arrays)
            write_json(
                tmp / "method.json",
                {
                    "method": self.name,
                    "omniloc_version": __version__,
                    "preset": self.preset,
                    "conf": self._saved_conf(),
                    "state": plain,
                    "arrays": sorted(arrays),
                },
            )
            self._save_extra(tmp)
        return path

    def _saved_conf(self) -> dict:
        """Hook: the conf written to ``method.json`` (default ``self.conf``; a method whose conf
        holds in-memory objects returns a JSON-able copy instead of changing ``self.conf``)."""
        return self.conf

    def _save_extra(self, folder: Path) -> None:
        """Hook: write additional files (e.g. torch weights) into ``folder``."""

    def _load_extra(self, folder: Path) -> None:
        """Hook: read what :meth:`_save_extra` wrote."""

    @classmethod
    def _from_folder(cls, path: Path, meta: dict) -> Localizer:
        """The model saved in ``path`` (``meta``: its ``method.json``), constructed with the saved
        conf (presets already merged into it; :attr:`preset` restored as saved).

        Raises
        ------
        DataError
            Naming the file, for anything that a damaged or foreign folder makes fail: missing
            keys, a conf this version refuses, a truncated ``state.npz``, incomplete state,
            unreadable extra files (e.g. ``weights.pt``).
        """
        path = Path(path)
        meta_file = path / "method.json"
        for key, kind in (("conf", dict), ("state", dict)):
            if not isinstance(meta.get(key), kind):
                raise DataError(f"damaged saved model: '{key}' missing or not an object", file=meta_file, field=key)
        try:
            obj = cls(meta["conf"])
            obj.preset = meta.get("preset")
        except ConfigError as e:
            raise DataError(f"saved conf not valid for this omniloc: {e}", file=meta_file, field="conf") from None
        state_file = path / "state.npz"
        try:
            with np.load(state_file, allow_pickle=False) as z:
                state = {k: z[k] for k in z.files}
        except _DAMAGE as e:
            raise DataError(
                f"damaged saved model: unreadable state ({type(e).__name__}: {e})", file=state_file
            ) from None
        missing = sorted(set(meta.get("arrays", [])) - set(state))  # "arrays": written since omniloc 0.1
        if missing:
            raise DataError(
                f"damaged saved model: learned state incomplete or invalid (arrays {missing} missing)", file=state_file
            )
        state.update(meta["state"])
        try:
            obj._set_state(state)
        except DataError:
            raise
        except _DAMAGE as e:
            raise DataError(
                f"damaged saved model: learned state incomplete or invalid ({type(e).__name__}: {e})", file=state_file
            ) from None
        try:
            obj._load_extra(path)
        except DataError:
            raise
        except _DAMAGE as e:
            raise DataError(f"damaged saved model: {type(e).__name__}: {e}", file=_extra_file(path, e)) from None
        return obj


def _extra_file(folder: Path, error: BaseException) -> Path:
    """The file an error of :meth:`Localizer._load_extra` is about: the one it names, else the only
    file beside ``method.json`` and ``state.npz``, else the folder."""
    named = getattr(error, "filename", None)
    if named:
        return Path(named)
    extra = [p for p in sorted(folder.iterdir()) if p.name not in ("method.json", "state.npz")]
    return extra[0] if len(extra) == 1 else folder


def read_method_json(path) -> dict:
    """The ``method.json`` of a saved model folder, checked to be an object naming a method.

    Raises
    ------
    DataError
        No such file, invalid JSON, or no ``"method"`` name in it.
    """
    f = Path(path) / "method.json"
    if not f.is_file():
        raise DataError("not a saved omniloc model: method.json not found (write one with `omniloc train`)", file=f)
    try:
        meta = json.loads(f.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"damaged saved model: invalid JSON ({e})", file=f) from None
    if not isinstance(meta, dict) or not isinstance(meta.get("method"), str):
        raise DataError("damaged saved model: no method name", file=f, field="method")
    return meta
