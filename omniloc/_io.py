"""Atomic file writes and output-folder guards used everywhere outputs are written."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
from pathlib import Path

import numpy as np

__all__ = [
    "atomic_path",
    "write_json",
    "check_output",
    "output_dir",
    "prepare_output_dir",
    "replace_dir",
    "OutputExistsError",
]


class OutputExistsError(FileExistsError):
    """An output exists and ``overwrite`` was not given."""


def _temporary(path: Path, suffix: str, make) -> Path:
    """A new ``.NAME.XXXXXXXX.tmp<suffix>`` beside ``path``, created by ``make(name)`` (which must
    fail with FileExistsError when the name is taken). Unlike :mod:`tempfile`, the permissions
    follow the umask, as those of any file or folder the user creates."""
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp{suffix}")
        try:
            make(tmp)
            return tmp
        except FileExistsError:
            continue


def _new_file(p: Path) -> None:
    os.close(os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))


@contextlib.contextmanager
def atomic_path(path, suffix: str = ""):
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    A crash or exception leaves any previous ``path`` untouched and no partial file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(path, suffix, _new_file)
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


def check_output(path, overwrite: bool = False) -> Path:
    """Refuse an existing output unless ``overwrite``; an empty existing folder counts as absent.

    Cheap and read-only: commands call it before their long work, so that a refusal comes at
    once, and :func:`output_dir` calls it again before it creates anything.

    Raises
    ------
    OutputExistsError
        ``path`` is a file or a non-empty folder and ``overwrite`` is False.
    """
    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())) and not overwrite:
        raise OutputExistsError(f"{path} exists and is not empty; pass --overwrite to replace it")
    return path


@contextlib.contextmanager
def output_dir(path, overwrite: bool = False):
    """Build an output folder in a temporary folder beside ``path`` and swap it in whole.

    Yields the temporary folder (``.NAME.XXXXXXXX.tmp`` in ``path``'s parent). When the block
    succeeds, the temporary folder is renamed onto ``path``; an existing ``path`` is replaced
    only then (:func:`replace_dir`). On any exception, :class:`KeyboardInterrupt` or
    :class:`~omniloc._errors.Interrupted` (SIGTERM in the command line), the temporary folder
    and any parent folders created for it are removed and an existing ``path`` is left as it
    was: readers never see a half-written output or one mixing two runs.

    Parameters
    ----------
    path : path
        The output folder.
    overwrite : bool
        Replace an existing non-empty ``path`` (an empty folder is replaced without it).

    Raises
    ------
    OutputExistsError
        ``path`` exists, is not empty and ``overwrite`` is False (checked before anything is
        created, and again before the swap).
    """
    path = check_output(path, overwrite)
    created = [p for p in [path.parent, *path.parent.parents] if not p.exists()]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(path, "", os.mkdir)
    try:
        yield tmp
        check_output(path, overwrite)  # nothing appeared meanwhile that we were not allowed to replace
        replace_dir(tmp, path, overwrite=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        for p in created:  # innermost first
            with contextlib.suppress(OSError):
                p.rmdir()
        raise


def prepare_output_dir(path, overwrite: bool = False) -> Path:
    """Create an output folder; refuse a non-empty existing one unless ``overwrite``.

    With ``overwrite`` the folder is kept and files are replaced one by one (atomically). Prefer
    :func:`output_dir`, which swaps a whole new folder in.
    """
    path = check_output(path, overwrite)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def replace_dir(tmp_dir, path, overwrite: bool = False) -> Path:
    """Move a fully written ``tmp_dir`` onto ``path`` (the old ``path`` is removed only afterwards).

    An existing ``path`` (folder or file) is first renamed aside; if the second rename fails it
    is put back, so ``path`` ends up either old or new.
    """
    tmp_dir, path = Path(tmp_dir), Path(path)
    if path.exists() or path.is_symlink():
        if not overwrite:
            shutil.rmtree(tmp_dir, ignore_errors=True)
            raise OutputExistsError(f"{path} exists; pass --overwrite to replace it")
        old = path.with_name(f".{path.name}.old-{os.getpid()}")
        _remove(old)
        os.replace(path, old)
        try:
            os.replace(tmp_dir, path)
        except BaseException:
            os.replace(old, path)
            raise
        _remove(old)
    else:
        os.replace(tmp_dir, path)
    return path
