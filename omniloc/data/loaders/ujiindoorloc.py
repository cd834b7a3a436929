"""UJIIndoorLoc (WiFi RSS fingerprints, 3 buildings, 4-5 floors) -> :class:`omniloc.data.Dataset`.

The CSV format (``trainingData.csv``, ``validationData.csv``, plain or gzip-compressed) has one
row per fingerprint and the columns ``WAP001`` ... ``WAPnnn`` (RSS in dBm, ``100`` = not
detected), ``LONGITUDE``, ``LATITUDE``, ``FLOOR``, ``BUILDINGID``, ``SPACEID``,
``RELATIVEPOSITION``, ``USERID``, ``PHONEID`` and ``TIMESTAMP`` (UNIX seconds).

How the CSV is mapped
---------------------
**Recordings.** One :class:`~omniloc.data.Recording` per ``(USERID, PHONEID)`` group, named
``u{USERID:02d}-p{PHONEID:02d}`` (``u11-p13``). Its rows are sorted by ``TIMESTAMP`` (stable:
fingerprints captured in the same second keep their file order) and its pose timeline is
``t = TIMESTAMP - t0`` seconds with ``t0`` the group's first timestamp (kept in
``meta["t0_unix"]``); several fingerprints often share one second, so ``t`` is non-decreasing
with repeats. The validation file has ``USERID = 0`` everywhere: its recordings are the
``PHONEID`` groups (``u00-p13``).

**WiFi.** Each recording has one stream ``"wifi"`` (kind ``wifi``) with one scan per row at the
row's time: ``values`` (N, A) float32 dBm, ``ids`` the column names (``WAP001``...). ``100``
("not detected") becomes NaN. Detected values must lie in ``rss_range`` (default -120..0 dBm;
the data holds -104..0). The few **0 dBm** entries (137 of ~10 million in the training file,
physically implausible: the phone was next to the access point or the driver reported a bogus
value) are kept as 0 dBm by default, because they do say "heard, and very strong";
``zero_dbm="nan"`` treats them as not heard instead. The count is written to the provenance.

**Positions.** ``LONGITUDE``/``LATITUDE`` are WGS-84 / Pseudo-Mercator (EPSG:3857) metres,
kept in those units, as most papers report UJIIndoorLoc errors in them. EPSG:3857 stretches
lengths by ``1 / cos(latitude)``: at the campus (39.99 deg N) one EPSG:3857 "metre" is about
0.766 ground metres, so distances and errors are **inflated by about 1.31** with respect to true
ground distances (multiply by ``provenance["ground_metres_per_unit"]`` for ground metres). To keep
numbers small they are shifted to a fixed local origin (``origin``, default
``(-7700, 4864700)`` EPSG:3857 m, chosen once for the whole dataset so that the training and the
validation file share one frame): ``x = LONGITUDE - origin[0]`` (east), ``y = LATITUDE -
origin[1]`` (north). The dataset gives no heights: ``z = FLOOR * floor_height_m`` with
``floor_height_m = 0`` by default, i.e. ``z = 0`` and the floor lives in the ``floor`` field
(the metrics use 2-D errors plus the floor hit rate).

**Labels.** ``floor`` = ``FLOOR``, ``building`` = ``BUILDINGID``, ``zone`` =
``"B{building}-F{floor}-S{SPACEID}"``. ``RELATIVEPOSITION`` (1 inside / 2 in front of the door)
is not kept. ``meta`` = ``{"user", "phone", "t0_unix", "source_file"}``.

**Checks.** Besides the values (see :func:`read_fingerprint_csv`), ``TIMESTAMP`` must be UNIX
seconds within :data:`TIMESTAMP_RANGE` and one recording must not span more than
:data:`MAX_RECORDING_SPAN_S` (a year): a TIMESTAMP of -5 would make a 43-year recording. Many rows
of one recording legitimately share a second with different positions (one row per scan), so
repeated times are *not* an error here.

**Splits.** :func:`load_ujiindoorloc` returns a dataset without splits;
:func:`~omniloc.data.splits.split_by_groups` adds ``train``/``test`` by recording, and :func:`import_ujiindoorloc`
(the ``omniloc import ujiindoorloc`` command) does both.

Every problem with a file raises :class:`~omniloc.DataError` naming the file, the column and,
for bad values, the data row (1-based, the header not counted) and the file line.

The reading and validation (:func:`read_fingerprint_csv` with a :class:`FingerprintFormat`,
:func:`rss_to_dbm`, :func:`zone_labels`, :func:`file_provenance`) are shared with the
UJIIndoorLoc-compatible SODIndoorLoc importer.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..._errors import DataError
from ..dataset import Dataset
from ._common import fingerprint_recording, split_import

__all__ = [
    "load_ujiindoorloc",
    "read_ujiindoorloc_csv",
    "import_ujiindoorloc",
    "DEFAULT_ORIGIN",
    "NOT_DETECTED",
    "TIMESTAMP_RANGE",
    "MAX_RECORDING_SPAN_S",
    "LABEL_COLUMNS",
    "FingerprintFormat",
    "UJI_FORMAT",
    "read_fingerprint_csv",
    "read_csv_frame",
    "rss_to_dbm",
    "zone_labels",
    "file_provenance",
]

#: RSS value that means "access point not detected" in UJIIndoorLoc files.
NOT_DETECTED = 100
#: Fixed local origin (EPSG:3857 metres, x east, y north) of every UJIIndoorLoc import.
DEFAULT_ORIGIN = (-7700.0, 4864700.0)
#: The non-RSS columns, in file order.
LABEL_COLUMNS = (
    "LONGITUDE",
    "LATITUDE",
    "FLOOR",
    "BUILDINGID",
    "SPACEID",
    "RELATIVEPOSITION",
    "USERID",
    "PHONEID",
    "TIMESTAMP",
)
_INT_COLUMNS = ("FLOOR", "BUILDINGID", "SPACEID", "RELATIVEPOSITION", "USERID", "PHONEID", "TIMESTAMP")
_WAP_RE = re.compile(r"^WAP(\d+)$")
_EARTH_RADIUS_M = 6378137.0  # EPSG:3857 sphere
_TRAINING_FILES = ("trainingData.csv.gz", "trainingData.csv")
#: Accepted ``TIMESTAMP`` range, UNIX seconds (1970-01-01 exclusive .. 2100-01-01).
TIMESTAMP_RANGE = (1, 4102444800)
#: Longest accepted time span of one recording (one USERID/PHONEID group), seconds: a year (the
#: training file's groups span at most 21 days). A group spanning decades has a broken TIMESTAMP.
MAX_RECORDING_SPAN_S = 366 * 86400

_SOURCE = {
    "dataset": "UJIIndoorLoc",
    "origin": "UCI Machine Learning Repository, dataset 310, doi:10.24432/C5MS59",
    "citation": "J. Torres-Sospedra, R. Montoliu, A. Martinez-Uso, J. P. Avariento, T. J. Arnau, "
    "M. Benedito-Bordonau, J. Huerta. UJIIndoorLoc: A New Multi-building and Multi-floor Database for "
    "WLAN Fingerprint-based Indoor Localization Problems. IPIN 2014, pp. 261-270.",
    "licence": "CC BY 4.0",
}


def _line(row: int) -> str:
    """Human position of 0-based data row ``row``: 1-based data row and file line (header = line 1)."""
    return f"data row {row + 1} (line {row + 2} of the file)"


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def _sha256(path: Path, gz: bool = False) -> str:
    """SHA-256 of a file's bytes, or of its decompressed content when ``gz``."""
    h = hashlib.sha256()
    with gzip.open(path, "rb") if gz else open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_csv_frame(csv_path, what: str, header: str):
    """Read a CSV (plain or gzip, detected from the first bytes) into a DataFrame; every failure is a DataError.

    Parameters
    ----------
    csv_path : str or Path
    what : str
        What the file should be, for messages (``"a UJIIndoorLoc CSV"``).
    header : str
        What its header row should name, for the message about an empty file.

    Returns
    -------
    pandas.DataFrame
        The rows as pandas parsed them (no validation of the values).

    Raises
    ------
    DataError
        Missing file, a folder, an empty file, a truncated or corrupted gzip stream, a malformed
        CSV, a binary file or a read error; the message names the file.
    """
    import pandas as pd

    path = Path(csv_path)
    if not path.exists():
        raise DataError(f"file not found; expected {what} (plain or .gz)", file=path)
    if not path.is_file():
        raise DataError(f"not a file; expected {what} (plain or .gz)", file=path)
    gz = _is_gzip(path)
    try:
        return pd.read_csv(path, compression="gzip" if gz else None, low_memory=False)
    except pd.errors.EmptyDataError:
        raise DataError(f"empty file; expected a CSV with a header row naming {header}", file=path) from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise DataError(
            f"truncated or corrupted gzip stream ({type(e).__name__}: {e}); expected a complete gzip-compressed CSV",
            file=path,
        ) from None
    except pd.errors.ParserError as e:
        raise DataError(f"not a well-formed CSV ({e}); expected one value per column on every row", file=path) from None
    except UnicodeDecodeError as e:
        raise DataError(
            f"not a text CSV ({e}); expected a UTF-8/ASCII CSV, optionally gzip-compressed", file=path
        ) from None
    except OSError as e:
        raise DataError(f"could not read the file ({type(e).__name__}: {e})", file=path) from None


@dataclass(frozen=True)
class FingerprintFormat:
    """The columns of a UJIIndoorLoc-style fingerprint CSV (one row per scan: RSS columns, then labels).

    Parameters
    ----------
    name : str
        Format name used in error messages (``"UJIIndoorLoc"``).
    label_columns : tuple of str
        The required non-RSS columns, in file order.
    int_columns : tuple of str
        Label columns that must hold integers (the others are floats, e.g. coordinates).
    rss_regex : str
        Regular expression matching an RSS column name, with one group for its number
        (``r"^WAP(\\d+)$"``).
    rss_hint : str
        How the RSS columns are named, for messages (``"WAP001..WAPnnn"``; the part before
        ``..`` is the field named when there is no RSS column at all).
    nonnegative : tuple of str
        Integer label columns that must be ``>= 0``.
    """

    name: str
    label_columns: tuple
    int_columns: tuple
    rss_regex: str
    rss_hint: str
    nonnegative: tuple = ()


#: The UJIIndoorLoc CSV layout.
UJI_FORMAT = FingerprintFormat(
    "UJIIndoorLoc",
    LABEL_COLUMNS,
    _INT_COLUMNS,
    _WAP_RE.pattern,
    "WAP001..WAPnnn",
    ("FLOOR", "BUILDINGID", "USERID", "PHONEID", "SPACEID"),
)


def read_fingerprint_csv(
    csv_path,
    fmt: FingerprintFormat,
    rss_range: tuple[float, float] = (-120.0, 0.0),
    not_detected: tuple[int, ...] = (NOT_DETECTED,),
):
    """Read and validate a fingerprint CSV of layout ``fmt`` (plain or gzip) into a pandas DataFrame.

    Shared by the UJIIndoorLoc and the UJIIndoorLoc-compatible importers (SODIndoorLoc).

    Parameters
    ----------
    csv_path : str or Path
        The CSV file; gzip compression is detected from the file's first bytes.
    fmt : FingerprintFormat
        The expected columns.
    rss_range : (float, float)
        Accepted range (dBm, inclusive) of detected RSS values.
    not_detected : tuple of int
        RSS codes meaning "not detected", accepted whatever ``rss_range`` says.

    Returns
    -------
    frame : pandas.DataFrame
        The file's rows, integer label columns and RSS columns as int64, the other label columns
        as float64, in file order.
    rss_columns : list[str]
        The RSS columns (matching ``fmt.rss_regex``) in file order.

    Raises
    ------
    DataError
        Missing file, unreadable or truncated file, missing columns, empty or non-numeric values,
        non-integer labels or RSS, RSS outside ``rss_range`` and not a ``not_detected`` code,
        negative values in ``fmt.nonnegative``. The message names the file, the column and the
        data row (1-based, header not counted) with its file line.
    """
    import pandas as pd

    path = Path(csv_path)
    frame = read_csv_frame(path, f"a {fmt.name} CSV", f"{fmt.rss_hint} and {', '.join(fmt.label_columns)}")
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    missing = [c for c in fmt.label_columns if c not in columns]
    if missing:
        raise DataError(
            f"missing column; expected the {fmt.name} columns {fmt.rss_hint}, {', '.join(fmt.label_columns)}",
            file=path,
            field=", ".join(missing),
        )
    rss_re = re.compile(fmt.rss_regex)
    rss_columns = [c for c in columns if rss_re.match(c)]
    if not rss_columns:
        raise DataError(
            f"missing RSS columns; expected {fmt.rss_hint} (one per access point)",
            file=path,
            field=fmt.rss_hint.split("..")[0],
        )
    if len(frame) == 0:
        raise DataError("no data rows; expected at least one fingerprint after the header", file=path)

    def bad_row(mask) -> int:
        return int(np.flatnonzero(mask)[0])

    rss_set, codes = set(rss_columns), tuple(not_detected)
    code_text = f"{codes[0]}" if len(codes) == 1 else "one of " + ", ".join(str(c) for c in codes)
    for col in list(fmt.label_columns) + rss_columns:
        s = frame[col]
        if not pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
            num = pd.to_numeric(s, errors="coerce")
            bad = num.isna().to_numpy() & s.notna().to_numpy()
            if bad.any():
                r = bad_row(bad)
                raise DataError(f"{_line(r)} holds {s.iloc[r]!r}; expected a number", file=path, field=col)
            s = num
        vals = s.to_numpy(dtype=np.float64)
        if not np.all(np.isfinite(vals)):
            r = bad_row(~np.isfinite(vals))
            raise DataError(f"{_line(r)} is empty or not finite; expected a number", file=path, field=col)
        is_int = col in fmt.int_columns or col in rss_set
        if is_int:
            frac = vals != np.round(vals)
            if frac.any():
                r = bad_row(frac)
                raise DataError(f"{_line(r)} holds {vals[r]:g}; expected an integer", file=path, field=col)
        if col in rss_set:
            lo, hi = rss_range
            bad = ~np.isin(vals, codes) & ((vals < lo) | (vals > hi))
            if bad.any():
                r = bad_row(bad)
                raise DataError(
                    f"{_line(r)} holds {vals[r]:g}; expected an RSS in dBm within [{lo:g}, {hi:g}] "
                    f"or {code_text} for 'not detected'",
                    file=path,
                    field=col,
                )
        frame[col] = vals.astype(np.int64) if is_int else vals
    for col in fmt.nonnegative:
        vals = frame[col].to_numpy()
        if (vals < 0).any():
            r = bad_row(vals < 0)
            raise DataError(f"{_line(r)} holds {vals[r]}; expected a non-negative integer", file=path, field=col)
    return frame, rss_columns


def read_ujiindoorloc_csv(csv_path, rss_range: tuple[float, float] = (-120.0, 0.0)):
    """Read and validate a UJIIndoorLoc CSV (plain or gzip) into a pandas DataFrame.

    Parameters
    ----------
    csv_path : str or Path
        The CSV file; gzip compression is detected from the file's first bytes.
    rss_range : (float, float)
        Accepted range (dBm, inclusive) of detected RSS values; ``100`` (not detected) is
        always accepted.

    Returns
    -------
    frame : pandas.DataFrame
        The file's rows, label columns as int64 (coordinates float64) and RSS columns as int64
        or float64, in file order.
    wap_columns : list[str]
        The RSS columns ``WAP001`` ... ``WAPnnn`` in file order.

    Raises
    ------
    DataError
        Missing file, unreadable or truncated file, missing columns, empty or non-numeric values,
        non-integer labels, RSS outside ``rss_range`` and not ``100``, coordinates outside the
        EPSG:3857 square, a ``TIMESTAMP`` outside :data:`TIMESTAMP_RANGE`.
    """
    path = Path(csv_path)
    frame, waps = read_fingerprint_csv(path, UJI_FORMAT, rss_range=rss_range, not_detected=(NOT_DETECTED,))
    numbers = {int(_WAP_RE.match(c).group(1)) for c in waps}
    gaps = sorted(set(range(1, max(numbers) + 1)) - numbers)
    if gaps:
        raise DataError(
            f"missing column; expected contiguous RSS columns WAP001..WAP{max(numbers):03d}",
            file=path,
            field=f"WAP{gaps[0]:03d}",
        )
    for col in ("LONGITUDE", "LATITUDE"):
        vals = frame[col].to_numpy()
        bad = np.abs(vals) > 20037508.35  # outside the EPSG:3857 square
        if bad.any():
            r = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{_line(r)} holds {vals[r]:g}; expected EPSG:3857 metres within +-20037508", file=path, field=col
            )
    ts = frame["TIMESTAMP"].to_numpy()
    bad = (ts < TIMESTAMP_RANGE[0]) | (ts > TIMESTAMP_RANGE[1])
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{_line(r)} holds {ts[r]}; expected UNIX seconds in [{TIMESTAMP_RANGE[0]}, "
            f"{TIMESTAMP_RANGE[1]}] (1970..2100)",
            file=path,
            field="TIMESTAMP",
        )
    return frame, waps


def rss_to_dbm(raw: np.ndarray, not_detected: int = NOT_DETECTED) -> np.ndarray:
    """Integer RSS codes -> float32 dBm with NaN where the code is ``not_detected``.

    Parameters
    ----------
    raw : (N, A) int
        RSS as stored in the CSV (dBm, or the not-detected code).
    not_detected : int
        The code meaning "access point not heard" (``100`` in UJIIndoorLoc).

    Returns
    -------
    (N, A) float32 dBm, NaN = not heard
    """
    raw = np.asarray(raw)
    rss = raw.astype(np.float32)
    rss[raw == not_detected] = np.nan
    return rss


def zone_labels(building: np.ndarray, floor: np.ndarray, space: np.ndarray) -> np.ndarray:
    """``"B{building}-F{floor}-S{space}"`` for each row of three (N,) integer arrays -> (N,) str."""

    def cat(*parts):
        out = parts[0]
        for p in parts[1:]:
            out = np.char.add(out, p)
        return out

    return cat(
        "B", np.asarray(building).astype(str), "-F", np.asarray(floor).astype(str), "-S", np.asarray(space).astype(str)
    )


def file_provenance(path, rows: int, **extra) -> dict:
    """Provenance entry of one source file: path, SHA-256 of its bytes and of its (decompressed) CSV, rows.

    Parameters
    ----------
    path : str or Path
    rows : int
        Number of data rows read.
    **extra
        Further JSON-serialisable keys (``access_points``...).
    """
    path = Path(path)
    return {
        "path": str(path),
        "sha256": _sha256(path),
        "sha256_csv": _sha256(path, _is_gzip(path)),
        "rows": int(rows),
        **extra,
    }


def load_ujiindoorloc(
    csv_path,
    name: str | None = None,
    *,
    origin: tuple[float, float] = DEFAULT_ORIGIN,
    floor_height_m: float = 0.0,
    zero_dbm: str = "keep",
    rss_range: tuple[float, float] = (-120.0, 0.0),
) -> Dataset:
    """Read a UJIIndoorLoc CSV into a :class:`~omniloc.data.Dataset` (no splits; see the module docstring).

    Parameters
    ----------
    csv_path : str or Path
        ``trainingData.csv(.gz)``, ``validationData.csv(.gz)`` or any CSV with those columns.
    name : str, optional
        Dataset name; default ``"ujiindoorloc-<file stem>"``.
    origin : (float, float)
        EPSG:3857 metres subtracted from (LONGITUDE, LATITUDE); stored in the provenance.
    floor_height_m : float
        ``z = FLOOR * floor_height_m`` (0: every ``z`` is 0, the floor is in ``floor``).
    zero_dbm : {"keep", "nan"}
        What the implausible 0 dBm readings become: kept as 0 dBm, or NaN (not heard).
    rss_range : (float, float)
        Accepted detected RSS range in dBm (anything else but ``100`` is a :class:`DataError`).

    Returns
    -------
    Dataset
        One recording per (USERID, PHONEID), ordered by USERID then PHONEID; provenance with the
        source, licence, file checksum, origin, scale note and RSS handling.
    """
    if zero_dbm not in ("keep", "nan"):
        raise ValueError(f"zero_dbm must be 'keep' or 'nan', got {zero_dbm!r}")
    path = Path(csv_path)
    frame, waps = read_ujiindoorloc_csv(path, rss_range=rss_range)
    stem = path.name.split(".")[0]
    name = name or f"ujiindoorloc-{stem}"

    raw = frame[waps].to_numpy()
    heard = raw != NOT_DETECTED
    n_zero = int(np.count_nonzero(raw == 0))
    rss = rss_to_dbm(raw, NOT_DETECTED)
    if zero_dbm == "nan":
        rss[rss == 0] = np.nan
    x = frame["LONGITUDE"].to_numpy() - float(origin[0])
    y = frame["LATITUDE"].to_numpy() - float(origin[1])
    floor = frame["FLOOR"].to_numpy(np.int64)
    building = frame["BUILDINGID"].to_numpy(np.int64)
    space = frame["SPACEID"].to_numpy(np.int64)
    user = frame["USERID"].to_numpy(np.int64)
    phone = frame["PHONEID"].to_numpy(np.int64)
    ts = frame["TIMESTAMP"].to_numpy(np.int64)
    pos = np.c_[x, y, floor * float(floor_height_m)]
    zone = zone_labels(building, floor, space)
    ap_ids = np.array(waps)

    recordings = {}
    keys = np.unique(np.c_[user, phone], axis=0)
    for u, p in keys:
        rows = np.flatnonzero((user == u) & (phone == p))
        rows = rows[np.argsort(ts[rows], kind="stable")]
        t0 = int(ts[rows[0]])
        if ts[rows[-1]] - t0 > MAX_RECORDING_SPAN_S:
            raise DataError(
                f"USERID {u} PHONEID {p} spans {(ts[rows[-1]] - t0) / 86400:.6g} days, from "
                f"{_line(rows[0])} "
                f"(TIMESTAMP {t0}) to {_line(rows[-1])} (TIMESTAMP {ts[rows[-1]]}); expected one recording "
                f"of at most {MAX_RECORDING_SPAN_S // 86400} days (a broken TIMESTAMP?)",
                file=path,
                field="TIMESTAMP",
            )
        t = (ts[rows] - t0).astype(np.float64)
        rec_name = f"u{u:02d}-p{p:02d}"
        recordings[rec_name] = fingerprint_recording(
            rec_name,
            t,
            rows,
            {"position": pos, "floor": floor, "building": building, "zone": zone},
            rss,
            ap_ids,
            {
                "unit": "dBm",
                "not_heard": "NaN (100 in the CSV)",
                "zero_dbm": zero_dbm,
                "source_columns": f"{waps[0]}..{waps[-1]}",
            },
            {"user": int(u), "phone": int(p), "t0_unix": t0, "source_file": path.name},
        )

    lat = math.degrees(
        2.0 * math.atan(math.exp((float(np.mean(y)) + float(origin[1])) / _EARTH_RADIUS_M)) - math.pi / 2
    )
    scale = math.cos(math.radians(lat))
    provenance = {
        **_SOURCE,
        "importer": "omniloc.data.loaders.ujiindoorloc",
        "files": [file_provenance(path, len(frame), access_points=len(waps))],
        "crs": "EPSG:3857 (WGS-84 / Pseudo-Mercator) metres, shifted to a local origin",
        "origin_epsg3857_m": [float(origin[0]), float(origin[1])],
        "position": "x = LONGITUDE - origin[0] (east), y = LATITUDE - origin[1] (north), "
        f"z = FLOOR * {float(floor_height_m):g} m",
        "floor_height_m": float(floor_height_m),
        "latitude_deg": round(lat, 5),
        "ground_metres_per_unit": round(scale, 6),
        "scale_note": f"EPSG:3857 lengths are 1/cos(latitude) = {1 / scale:.3f} times ground lengths here; "
        "positions and errors are kept in EPSG:3857 units as most UJIIndoorLoc papers report them; "
        "multiply by ground_metres_per_unit for ground metres",
        "rss": {
            "unit": "dBm",
            "not_detected_value": NOT_DETECTED,
            "not_detected_as": "NaN",
            "accepted_range_dbm": [float(rss_range[0]), float(rss_range[1])],
            "zero_dbm_entries": n_zero,
            "zero_dbm": zero_dbm,
            "detected_fraction": round(float(heard.mean()), 6),
        },
        "recordings": "one per (USERID, PHONEID), sorted by TIMESTAMP; t = TIMESTAMP - t0 (meta t0_unix)",
        "dropped_columns": ["RELATIVEPOSITION"],
    }
    return Dataset(name, recordings, {}, {}, provenance)


def import_ujiindoorloc(
    src, *, test_fraction: float = 0.1, seed: int = 0, name: str | None = None, **load_opts
) -> Dataset:
    """``omniloc import ujiindoorloc SRC``: read a folder or a CSV and split it by recording.

    Parameters
    ----------
    src : str or Path
        A folder holding ``trainingData.csv.gz`` or ``trainingData.csv`` (e.g.
        ``../shared/data/ujiindoorloc``), or one UJIIndoorLoc CSV file (e.g. a
        ``validationData.csv``; use ``test_fraction=1`` to put all of it in ``test``).
    test_fraction, seed
        See :func:`~omniloc.data.splits.split_by_groups`.
    name : str, optional
        Dataset name; default ``"ujiindoorloc"`` for a folder, ``"ujiindoorloc-<stem>"`` for a file.
    **load_opts
        Passed to :func:`load_ujiindoorloc` (``origin``, ``floor_height_m``, ``zero_dbm``, ``rss_range``).
    """
    src = Path(src)
    if src.is_dir():
        found = [src / f for f in _TRAINING_FILES if (src / f).is_file()]
        if not found:
            raise DataError(
                f"no UJIIndoorLoc training file in this folder; expected one of {list(_TRAINING_FILES)}", file=src
            )
        csv, name = found[0], name or "ujiindoorloc"
    elif src.exists():
        csv = src
    else:
        raise DataError("not found; expected a UJIIndoorLoc folder or CSV file", file=src)
    ds = load_ujiindoorloc(csv, name=name, **load_opts)
    return split_import(ds, test_fraction, seed, csv, unit="user/phone group")
