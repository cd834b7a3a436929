"""Atomic file writes and output-folder guards used everywhere outputs are written."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["atomic_path", "write_json", "prepare_output_dir", "replace_dir", "OutputExistsError"]


class OutputExistsError(FileExistsError):
    """An output exists and ``overwrite`` was not given."""


@contextlib.contextmanager
def atomic_path(path, suffix: str = ""):
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    A crash or exception leaves any previous ``path`` untouched and no partial file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")


def write_json(path, obj, overwrite: bool = True) -> Path:
    """Write ``obj`` as indented JSON, atomically. NaN becomes ``null``."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists; pass --overwrite to replace it")

    def clean(o):
        if isinstance(o, float) and not np.isfinite(o):
            return None
        if isinstance(o, dict):
            return {str(k): clean(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [clean(v) for v in o]
        if isinstance(o, np.generic):
            return clean(o.item())
        return o

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(clean(obj), indent=2, default=_json_default) + "\n")
    return path


def prepare_output_dir(path, overwrite: bool = False) -> Path:
    """Create an output folder; refuse a non-empty existing one unless ``overwrite``.

    With ``overwrite`` the folder is kept and files are replaced one by one (atomically), so
    that an interrupted run never leaves a half-deleted output.
    """
    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())) and not overwrite:
        raise OutputExistsError(f"{path} exists and is not empty; pass --overwrite to replace its contents")
    path.mkdir(parents=True, exist_ok=True)
    return path


def replace_dir(tmp_dir, path, overwrite: bool = False) -> Path:
    """Move a fully written ``tmp_dir`` onto ``path`` (the old folder is removed only afterwards)."""
    tmp_dir, path = Path(tmp_dir), Path(path)
    if path.exists():
        if not overwrite:
            shutil.rmtree(tmp_dir, ignore_errors=True)
            raise OutputExistsError(f"{path} exists; pass --overwrite to replace it")
        old = path.with_name(f".{path.name}.old-{os.getpid()}")
        os.replace(path, old)
        os.replace(tmp_dir, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp_dir, path)
    return path
