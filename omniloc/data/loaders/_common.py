"""Pieces every importer shares: the import-warning tally and the train/test split of an import.

* :class:`ImportWarnings`: odd values that did not stop an import (a beacon distance of
  ``Infinity``, an unreadable header time, a floor folder with an unknown name), counted per
  source file and reason; importers write :meth:`ImportWarnings.to_json` to
  ``Dataset.provenance["import_warnings"]`` and :meth:`omniloc.data.Dataset.summary` prints the total.
* :func:`split_import`: the ``train`` / ``test`` split of ``omniloc import`` by recording, which
  refuses a split that would leave one side empty.
* :func:`fingerprint_recording`: one recording of a fingerprint survey (UJIIndoorLoc,
  SODIndoorLoc): the chosen CSV rows as poses, each with its own scan.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from ..._errors import ConfigError, DataError
from ..dataset import Dataset
from ..recording import Recording
from ..splits import split_by_groups
from ..stream import Stream

__all__ = ["ImportWarnings", "split_import", "fingerprint_recording"]


def fingerprint_recording(
    name: str, t: np.ndarray, rows: np.ndarray, columns: dict, rss: np.ndarray, ids, wifi_meta: dict, meta: dict
) -> Recording:
    """A recording whose poses are fingerprint rows and whose ``wifi`` scans are on the same timeline.

    Parameters
    ----------
    name : str
    t : (N,) seconds
        Time of each chosen row.
    rows : (N,) int
        The chosen rows of the file's arrays.
    columns : dict
        ``position`` (R, 3) metres, ``floor``, ``building`` (R,) int and ``zone`` (R,) str of every
        row of the file.
    rss : (R, A) float32 dBm, NaN = not heard
    ids : (A,) str
        Access-point ids.
    wifi_meta, meta : dict
        Metadata of the ``wifi`` stream and of the recording.
    """
    return Recording(
        name,
        t,
        position=columns["position"][rows],
        floor=columns["floor"][rows],
        building=columns["building"][rows],
        zone=columns["zone"][rows],
        streams={"wifi": Stream("wifi", t.copy(), rss[rows], ids=ids, meta=wifi_meta)},
        meta=meta,
    )


class ImportWarnings:
    """Counts of tolerated problems, per source file and reason.

    The reasons are short fixed texts (``"TYPE_BEACON.distance not a finite number -> NaN"``), not
    the offending values, so that a file with a thousand odd rows gives one line with its count.
    """

    def __init__(self):
        self._counts: dict[str, Counter] = {}

    def add(self, file, reason: str, n: int = 1) -> None:
        """Count ``n`` occurrences of ``reason`` in ``file`` (a path or a label such as ``site1/F9``)."""
        if n:
            self._counts.setdefault(str(file), Counter())[reason] += int(n)

    def update(self, file, counts: dict) -> None:
        """Add a ``{reason: count}`` mapping for ``file``."""
        for reason, n in counts.items():
            self.add(file, reason, n)

    @property
    def total(self) -> int:
        """All counts together."""
        return int(sum(sum(c.values()) for c in self._counts.values()))

    def to_json(self) -> dict:
        """``{file: {reason: count}}``, sorted; empty when nothing was tolerated."""
        return {f: dict(sorted(c.items())) for f, c in sorted(self._counts.items())}


def split_import(ds: Dataset, test_fraction: float, seed: int, src=None, unit: str = "recording") -> Dataset:
    """``train`` / ``test`` by recording (:func:`~omniloc.data.splits.split_by_groups`) for an import.

    With one recording only, any ``0 < test_fraction < 1`` would leave ``test`` (or ``train``)
    empty without saying so; that is refused: the user asks for ``test_fraction=0`` (all train)
    or ``1`` (all test) or imports more groups.

    Parameters
    ----------
    ds : Dataset
    test_fraction : float in [0, 1]
    seed : int
    src : str or Path, optional
        The source, named in the error.
    unit : str
        What one recording is in this format (``"user/phone group"``, ``"path file"``, ``"log file"``).

    Raises
    ------
    ConfigError
        ``test_fraction`` outside [0, 1] (or not a number).
    DataError
        One recording and ``0 < test_fraction < 1`` (``field="test_fraction"``).
    """
    try:
        ok = 0.0 <= float(test_fraction) <= 1.0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ConfigError(
            f"test_fraction must be a number in [0, 1] (the share of samples held out as 'test'), got {test_fraction!r}"
        )
    if len(ds) == 1 and 0.0 < float(test_fraction) < 1.0:
        only = next(iter(ds.recordings))
        empty = "test" if test_fraction < 0.5 else "train"
        raise DataError(
            f"only one {unit} ({only!r}) to split by recording: test_fraction={test_fraction:g} would "
            f"leave the {empty} split empty; expected at least two recordings, or test_fraction 0 "
            "(everything in train) or 1 (everything in test)",
            file=src,
            field="test_fraction",
        )
    return split_by_groups(ds, test_fraction=test_fraction, seed=seed)
