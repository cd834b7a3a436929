"""Nordland summer vs winter thumbnails for visual place recognition -> :class:`NordlandVPR`.

The Nordland dataset (Sünderhauf, Neubert & Protzel, "Are We There Yet? Challenging SeqSLAM on a
3000 km Journey Across All Four Seasons", ICRA 2013 workshop) is the same 728 km train ride filmed
in every season by NRK; the videos are time-synchronised, so frame ``k`` of one season shows the
same place as frame ``k`` of another. There are no metric poses: the ground truth of a place is its
frame index. The staged copy ``../shared/data/nordland-vpr/nordland_64x32.npz`` holds

* ``summer``, ``winter``: uint8 (N, 32, 64, 3) RGB thumbnails, N = 3,576 (row ``k`` of both is one place);
  the staged ones are grey (R = G = B in every pixel), so colour carries nothing here;
* ``frame_index``: int (N,), the upstream frame number of each row (10, 20, ..., 35760: every 10th
  frame of the video, adjacent rows about 10 s of travel apart), strictly increasing.

Tunnels, stations and stops are not filtered out (the train stands still there), so some frames
are dark or repeated.

Our protocol
------------
:meth:`NordlandVPR.split` (:func:`nordland_split`) cuts the track into the first
``train_fraction = 0.6`` of its rows (tuning and training) and the last 40 % (testing): with
N = 3,576, rows 0-2145 and 2146-3575 (2,146 and 1,430 places). Winter frames are the queries,
summer frames the database, and a retrieved database row ``i`` is correct for query row ``j`` when
``|i - j| <= TOLERANCE`` (2 rows, 20 upstream frames). This is *our* protocol (the issue's); VPR-Bench
and other papers use other partitions of Nordland (e.g. without tunnels and stops) and +-1 frame.

Reading
-------
:func:`load_nordland` reads the arrays from the ``.npz`` archive without ``numpy.load``'s full
decompression when only some rows are asked for (``start``, ``stop``): the ``.npy`` headers give
every shape and dtype, which are checked first, and only the first ``stop`` rows of each image
array are decompressed. Every problem raises :class:`~omniloc.DataError` naming the file and the
field: a missing or unreadable file, a missing array, a wrong dtype or shape, summer and winter of
different shapes, a ``frame_index`` of another length, or one that does not strictly increase.

>>> from omniloc.data import default_data_root
>>> nl = load_nordland(default_data_root() / "nordland-vpr", stop=5)
>>> nl.summer.shape, nl.winter.dtype, nl.frame_index.tolist(), nl.n_total
((5, 32, 64, 3), dtype('uint8'), [10, 20, 30, 40, 50], 3576)
>>> nordland_split(3576)
NordlandSplit(train=range(0, 2146), test=range(2146, 3576))
"""

from __future__ import annotations

import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..._errors import DataError

__all__ = [
    "load_nordland",
    "nordland_split",
    "NordlandVPR",
    "NordlandSplit",
    "FILE_NAME",
    "TOLERANCE",
    "TRAIN_FRACTION",
]

#: The archive's name in ``../shared/data/nordland-vpr``.
FILE_NAME = "nordland_64x32.npz"
#: Our protocol: a retrieved database row within this many rows of the query's row is correct.
TOLERANCE = 2
#: Our protocol: the first 60 % of the track is for tuning and training, the last 40 % for testing.
TRAIN_FRACTION = 0.6

_IMAGE_KEYS = ("summer", "winter")
_SOURCE = {
    "dataset": "Nordland (summer vs winter), 64x32 thumbnails",
    "origin": "NRK 'Nordlandsbanen: minute by minute, season by season' (2013), via GitHub TimQuelch/seqslam "
    "datasets/nordland_trimmed, packed into one .npz",
    "citation": "N. Sünderhauf, P. Neubert, P. Protzel. Are We There Yet? Challenging SeqSLAM on a 3000 km Journey "
    "Across All Four Seasons. ICRA 2013 Workshop on Long-Term Autonomy.",
    "licence": "NRK footage under a Creative Commons Attribution licence (NRKbeta, 2013); attribute NRK and the paper",
    "ground_truth": "row k of summer and row k of winter are the same place",
}


@dataclass(frozen=True)
class NordlandSplit:
    """Row ranges of our Nordland protocol (see the module docstring).

    Attributes
    ----------
    train : range
        The first ``round(train_fraction * N)`` rows: tuning and training.
    test : range
        The remaining rows: testing (winter queries against the summer database of these rows).
    """

    train: range
    test: range


def nordland_split(n: int, train_fraction: float = TRAIN_FRACTION) -> NordlandSplit:
    """Our protocol's split of a track of ``n`` places: the first ``train_fraction`` of it and the rest.

    Parameters
    ----------
    n : int
        Number of rows (places) of the track.
    train_fraction : float
        Fraction of the rows, from the start, in ``train`` (rounded to the nearest row; default 0.6).

    Returns
    -------
    NordlandSplit
        ``train = range(0, m)``, ``test = range(m, n)`` with ``m = round(train_fraction * n)``.
    """
    if int(n) != n or n < 0:
        raise ValueError(f"nordland_split needs a number of rows >= 0, got {n!r}")
    if not 0.0 <= float(train_fraction) <= 1.0:
        raise ValueError(f"train_fraction must be in [0, 1], got {train_fraction!r}")
    m = int(np.floor(float(train_fraction) * int(n) + 0.5))
    return NordlandSplit(range(0, m), range(m, int(n)))


@dataclass
class NordlandVPR:
    """Nordland summer and winter thumbnails of the same places, row for row.

    Attributes
    ----------
    summer, winter : (N, H, W, 3) uint8 RGB
        Row ``k`` of both shows the same place (H, W = 32, 64 for the staged file).
    frame_index : (N,) int64
        Upstream frame number of each row, strictly increasing.
    file : Path
        The archive read.
    rows : range
        Rows of the archive loaded (``start``, ``stop`` of :func:`load_nordland`).
    n_total : int
        Rows in the archive (the whole track).
    provenance : dict
        Source, citation, licence and what was read.
    """

    summer: np.ndarray
    winter: np.ndarray
    frame_index: np.ndarray
    file: Path
    rows: range
    n_total: int
    provenance: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frame_index)

    def split(self, train_fraction: float = TRAIN_FRACTION) -> NordlandSplit:
        """:func:`nordland_split` of the loaded rows (load the whole track for our protocol)."""
        return nordland_split(len(self), train_fraction)


def _find_file(src) -> Path:
    if src is None:
        from ..io import default_data_root

        src = default_data_root() / "nordland-vpr"
    path = Path(src)
    if path.is_dir():
        if (path / FILE_NAME).is_file():
            return path / FILE_NAME
        if (path / "nordland-vpr" / FILE_NAME).is_file():
            return path / "nordland-vpr" / FILE_NAME
        raise DataError(f"no {FILE_NAME} in this folder; expected the Nordland archive or its folder", file=path)
    if not path.is_file():
        raise DataError(f"not found; expected the Nordland archive {FILE_NAME} or the folder holding it", file=path)
    return path


def _header(zf: zipfile.ZipFile, key: str, path: Path) -> tuple[tuple, bool, np.dtype]:
    """Shape, Fortran order and dtype of the array ``key`` of an open archive, from its ``.npy`` header."""
    if f"{key}.npy" not in zf.namelist():
        present = sorted(n.removesuffix(".npy") for n in zf.namelist())
        raise DataError(
            f"missing; the archive holds {present}, expected summer, winter and frame_index", file=path, field=key
        )
    with zf.open(f"{key}.npy") as f:
        version = np.lib.format.read_magic(f)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        return reader(f)


def _read(zf: zipfile.ZipFile, key: str, shape: tuple, fortran: bool, dtype: np.dtype, stop: int) -> np.ndarray:
    """The first ``stop`` rows of the array ``key``, decompressing only those (all of it when Fortran-ordered)."""
    with zf.open(f"{key}.npy") as f:
        if fortran or dtype.hasobject or len(shape) == 0:
            return np.lib.format.read_array(f, allow_pickle=False)[:stop]
        version = np.lib.format.read_magic(f)
        (np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0)(f)
        row = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
        want = stop * row
        data = f.read(want)
        if len(data) != want:
            raise EOFError(f"{key}.npy ends after {len(data)} of {want} bytes")
        return np.frombuffer(bytearray(data), dtype=dtype).reshape((stop, *shape[1:]))


@contextmanager
def _readable(path: Path):
    """Turn what a broken archive raises (bad zip, bad deflate stream, bad ``.npy`` header) into one DataError."""
    try:
        yield
    except DataError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as e:
        raise DataError(f"unreadable ({type(e).__name__}: {e}); expected a NumPy .npz archive", file=path) from None


def _check_headers(heads: dict, path: Path) -> int:
    """The number of rows, after checking the dtypes and shapes in the ``.npy`` headers."""
    for key in _IMAGE_KEYS:
        shape, _, dtype = heads[key]
        if dtype != np.uint8 or len(shape) != 4 or shape[-1] != 3:
            raise DataError(
                f"{dtype} array of shape {shape}; expected uint8 RGB images of shape (N, H, W, 3)",
                file=path,
                field=key,
            )
    if heads["winter"][0] != heads["summer"][0]:
        raise DataError(
            f"shape {heads['winter'][0]} differs from summer's {heads['summer'][0]}; expected the same places "
            "row for row, in images of the same size",
            file=path,
            field="winter",
        )
    n = int(heads["summer"][0][0])
    shape, _, dtype = heads["frame_index"]
    if not np.issubdtype(dtype, np.integer) or len(shape) != 1 or shape[0] != n:
        raise DataError(
            f"{dtype} array of shape {shape}; expected integer frame numbers of shape ({n},), one per image",
            file=path,
            field="frame_index",
        )
    return n


def load_nordland(src=None, *, start: int = 0, stop: int | None = None) -> NordlandVPR:
    """Read the Nordland summer and winter thumbnails (module docstring).

    Parameters
    ----------
    src : str or Path, optional
        The archive ``nordland_64x32.npz``, the folder holding it, or the data root holding
        ``nordland-vpr/``; default ``default_data_root() / "nordland-vpr"``.
    start, stop : int
        Rows to load (``start <= row < stop``, default: all); only the first ``stop`` rows of the
        image arrays are decompressed, so a slice at the start of the track loads fast.

    Returns
    -------
    NordlandVPR

    Raises
    ------
    DataError
        The file is missing or not a readable ``.npz``; an array is missing; ``summer`` or ``winter``
        is not uint8 (N, H, W, 3); they differ in shape; ``frame_index`` is not an integer (N,)
        array or does not strictly increase.
    ValueError
        ``start`` / ``stop`` outside the track.
    """
    path = _find_file(src)
    with _readable(path), zipfile.ZipFile(path) as zf:
        heads = {key: _header(zf, key, path) for key in (*_IMAGE_KEYS, "frame_index")}
        n = _check_headers(heads, path)
        frame_index = _read(zf, "frame_index", *heads["frame_index"], n).astype(np.int64)
    steps = np.diff(frame_index)
    if (steps <= 0).any():
        k = int(np.argmax(steps <= 0))
        raise DataError(
            f"rows {k} and {k + 1} hold frames {frame_index[k]} and {frame_index[k + 1]}; expected strictly "
            "increasing frame numbers (the order of the ride)",
            file=path,
            field="frame_index",
        )
    stop = n if stop is None else stop
    if not (0 <= start <= stop <= n):
        raise ValueError(f"load_nordland: need 0 <= start <= stop <= {n} rows, got start={start}, stop={stop}")
    with _readable(path), zipfile.ZipFile(path) as zf:
        images = {key: _read(zf, key, *heads[key], stop)[start:] for key in _IMAGE_KEYS}
    prov = {
        **_SOURCE,
        "loader": "omniloc.data.loaders.nordland",
        "file": str(path),
        "rows": [start, stop],
        "n_total": n,
    }
    return NordlandVPR(
        images["summer"], images["winter"], frame_index[start:stop], path, range(start, stop), int(n), prov
    )
