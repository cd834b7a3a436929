"""Importers of public dataset formats into :class:`omniloc.data.Dataset`.

``omniloc import KIND SRC --out DIR`` calls :func:`import_dataset`. Loaders depend only on
numpy/pandas, and Pillow for images (never torch), and each one documents how the source's
fields, units and coordinates are mapped.

>>> from omniloc.data import default_data_root
>>> ds = import_dataset("ujiindoorloc", default_data_root() / "ujiindoorloc", test_fraction=0.1, seed=0)
>>> len(ds), sorted(ds.splits), ds.provenance["split"]["test_fraction"]
(18, ['test', 'train'], 0.1)

:func:`load_nordland` (Nordland summer/winter thumbnails for place recognition) is not an
importer: the dataset has no poses, so it returns its own small result type instead of a
:class:`Dataset` and is not in :data:`LOADERS`.

Importers tolerate odd values in fields no method needs and count them in
``ds.provenance["import_warnings"]`` (``{file: {reason: count}}``); ``ds.summary()`` shows the
total. A source with a single recording and ``0 < test_fraction < 1`` is refused (it would leave
a split empty without saying so).
"""

from __future__ import annotations

from collections.abc import Callable

from ..._errors import ConfigError
from ..dataset import Dataset
from ..splits import split_by_groups
from .indoor_competition import import_indoor_competition, load_indoor_competition
from .ipin2023 import import_ipin2023, load_ipin2023
from .nordland import load_nordland
from .sevenscenes import import_7scenes, load_7scenes
from .sodindoorloc import import_sodindoorloc, load_sodindoorloc
from .tum_rgbd import import_tum_rgbd, load_tum_rgbd
from .ujiindoorloc import import_ujiindoorloc, load_ujiindoorloc

__all__ = [
    "LOADERS",
    "import_dataset",
    "available",
    "load_ujiindoorloc",
    "load_sodindoorloc",
    "load_indoor_competition",
    "load_ipin2023",
    "load_tum_rgbd",
    "load_7scenes",
    "load_nordland",
    "split_by_groups",
]

#: kind -> importer ``f(src, **opts) -> Dataset``
LOADERS: dict[str, Callable[..., Dataset]] = {
    "ujiindoorloc": import_ujiindoorloc,
    "sodindoorloc": import_sodindoorloc,
    "indoor-competition": import_indoor_competition,
    "ipin2023": import_ipin2023,
    "tum-rgbd": import_tum_rgbd,
    "7scenes": import_7scenes,
}


def available() -> list[str]:
    """Names of the importable formats."""
    return sorted(LOADERS)


def import_dataset(kind: str, src, **opts) -> Dataset:
    """Import ``src`` (a folder or file of format ``kind``) as a validated :class:`Dataset`.

    Parameters
    ----------
    kind : str
        One of :data:`LOADERS`: ``"ujiindoorloc"``, ``"sodindoorloc"`` (WiFi fingerprints),
        ``"indoor-competition"`` (Indoor Location Competition 2.0 phone traces), ``"ipin2023"``
        (IPIN 2023 track 3 phone logs), ``"tum-rgbd"`` (TUM RGB-D sequences), ``"7scenes"``
        (Microsoft 7-Scenes RGB-D sequences).
    src : str or Path
        The source folder or file.
    **opts
        Passed to the importer (all accept ``test_fraction`` and ``seed`` for the split by recording).

    Raises
    ------
    ConfigError
        Unknown ``kind`` or option.
    DataError
        Unreadable or invalid source data (the message names the file and field).
    """
    if kind not in LOADERS:
        raise ConfigError(f"unknown dataset format {kind!r}; available: {available()}")
    try:
        ds = LOADERS[kind](src, **opts)
    except TypeError as e:
        if "unexpected keyword argument" in str(e):
            raise ConfigError(f"{kind} import: {e}") from None
        raise
    return ds.validate()
