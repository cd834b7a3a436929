"""The `Localizer` interface every method implements, and its save/load format."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .. import __version__
from .._conf import merge_conf
from .._errors import ConfigError, DataError
from .._io import replace_dir, write_json
from ..data import Dataset, Estimate, Recording

__all__ = ["Localizer", "merge_conf"]


class Localizer:
    """Base class of every localization method (scikit-learn style).

    Subclasses set :attr:`name`, :attr:`default_conf` (documented key by key in the class
    docstring), optionally :attr:`presets`, and implement :meth:`fit` and
    :meth:`predict_recording`. ``__init__`` only stores the configuration; learned state lives in
    attributes that end with ``_``.

    Parameters
    ----------
    conf : dict, optional
        Merged over :attr:`default_conf` (after the preset, if given).
    preset : str, optional
        Name of one of :attr:`presets`.
    """

    name: ClassVar[str] = ""
    default_conf: ClassVar[dict] = {}
    presets: ClassVar[dict[str, dict]] = {}
    #: stream kinds the method needs in a recording (used by the demo and bench to pick methods)
    required_streams: ClassVar[tuple[str, ...]] = ()

    def __init__(self, conf: dict | None = None, preset: str | None = None):
        base = self.default_conf
        if preset is not None:
            if preset not in self.presets:
                raise ConfigError(f"method {self.name!r} has no preset {preset!r}; presets: {sorted(self.presets)}")
            base = merge_conf(base, self.presets[preset], where=f"preset {preset}")
        self.preset = preset
        self.conf = merge_conf(base, conf, where=f"{self.name} conf")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(preset={self.preset!r})"

    # ------------------------------------------------------------------ interface
    def fit(self, train: Dataset, val: Dataset | None = None) -> "Localizer":
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
        """Write ``method.json`` (name, conf, version) and ``state.npz`` into folder ``path``, atomically."""
        self._check_fitted()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
        try:
            arrays, plain = {}, {}
            for k, v in self._get_state().items():
                if isinstance(v, np.ndarray):
                    arrays[k] = v
                else:
                    plain[k] = v
            np.savez(tmp / "state.npz", **arrays)
            write_json(tmp / "method.json", {"method": self.name, "omniloc_version": __version__,
                                             "preset": self.preset, "conf": self.conf, "state": plain})
            self._save_extra(tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return replace_dir(tmp, path, overwrite=overwrite)

    def _save_extra(self, folder: Path) -> None:
        """Hook: write additional files (e.g. torch weights) into ``folder``."""

    def _load_extra(self, folder: Path) -> None:
        """Hook: read what :meth:`_save_extra` wrote."""

    @classmethod
    def _from_folder(cls, path: Path, meta: dict) -> "Localizer":
        obj = cls(meta.get("conf"))
        obj.preset = meta.get("preset")
        try:
            with np.load(path / "state.npz", allow_pickle=False) as z:
                state = {k: z[k] for k in z.files}
        except (OSError, ValueError) as e:
            raise DataError(f"unreadable state: {e}", file=path / "state.npz") from None
        state.update(meta.get("state", {}))
        obj._set_state(state)
        obj._load_extra(path)
        return obj


def read_method_json(path: Path) -> dict:
    f = Path(path) / "method.json"
    if not f.exists():
        raise DataError("not a saved omniloc model: method.json not found", file=f)
    try:
        return json.loads(f.read_text())
    except json.JSONDecodeError as e:
        raise DataError(f"invalid JSON: {e}", file=f) from None
