"""IPIN 2023 competition, Track 3 (smartphone logs, Museum Industriekultur Nuremberg) -> :class:`Dataset`.

The training logs were written by the ``GetSensorData`` Android app: one text file per walk
(``IPIN2023_T3_TrainingTrialTT_repetitionRR.txt``, here xz-compressed), ``%`` header lines
(phone model, the record formats), then one semicolon-separated record per line,
``TYPE;AppTimestamp(s);...``. ``AppTimestamp`` (seconds from the start of the log) is the one
clock shared by every record type, so every time in the imported data is an ``AppTimestamp``.
:func:`parse_log` reads every known record type into arrays (:data:`RECORD_FIELDS`).

How a log is mapped
-------------------
**Recordings.** One :class:`~omniloc.data.Recording` per log file, named ``T{trial:02d}-R{rep:02d}``
(``T01-R01``). ``meta`` holds ``trial``, ``repetition``, ``phone_model`` (``SM-A520F`` or
``SM-G930F``: the device shift of the dataset), ``manufacturer``, ``android_release``,
``source_file``, ``building_id_source`` (100), the record counts and ``pose_source``.

**Ground truth = POSI.** The pose timeline is the POSI records only (10-26 per log: the surveyor
marks them when stepping on surveyed landmarks): ``t`` their AppTimestamps. Positions between them
are *not* stored; :func:`omniloc.data.align.truth_at` interpolates them linearly in time
(``meta["pose_source"]`` says so). Streams cover the whole log, also before the first and after the
last POSI point, where there is no ground truth.

- ``position`` (N, 3) metres in a local east-north-up frame around :data:`DEFAULT_ORIGIN`
  (49.4611 N, 11.1111 E, next to the museum): ``x`` east, ``y`` north (see
  :func:`latlon_to_local_m`), ``z = floorID * floor_height_m`` with ``floor_height_m = 0`` by
  default (like the UJIIndoorLoc importer: ``z = 0`` and the floor lives in ``floor``; the dataset
  gives no storey heights).
- ``floor`` = ``floorID`` as in the logs (0, -1, -2; trials 51/52 cross floors), ``building`` = 0 (the
  site has one building, ``buildingID`` 100 in the logs; any other id is a :class:`DataError`),
  ``zone`` = ``"F{floor}"`` (``"F0"``, ``"F-1"``, ``"F-2"``), the zone of the floor plan of that floor.

**Streams** (all times AppTimestamps in seconds, values float32):

- ``imu`` (kind ``imu``, (N, 6)): ACCE m/s^2 then GYRO rad/s, device axes, on the ACCE
  AppTimestamps. The SM-A520F samples ACCE at ~50 Hz and GYRO at ~100 Hz, the SM-G930F both at
  ~50 Hz; each gyroscope axis is resampled onto the accelerometer's AppTimestamps by linear
  interpolation in time (``numpy.interp``); the at most one ACCE sample per end that lies outside
  the GYRO time span takes the first/last GYRO sample (counted in the stream's meta).
- ``magnetometer`` (kind ``magnetometer``, (N, 3)): MAGN in microtesla, device axes.
- ``ahrs`` (kind ``vector``, (N, 4), ids ``qw qx qy qz``): the Android rotation-vector sensor as a
  unit quaternion (w, x, y, z). The log's ``Quat(2) Quat(3) Quat(4)`` are the vector part
  ``(x, y, z) = axis * sin(angle / 2)`` of the rotation vector (Android's ``values[0..2]``);
  ``w = sqrt(1 - x^2 - y^2 - z^2)`` (the rotation vector's ``cos(angle / 2)``, non-negative), and
  the quaternion is renormalised. It rotates device axes into Android's world frame (x east,
  y *magnetic* north, z up; not corrected for the magnetic declination of a few degrees), i.e.
  ``world_from_device`` (checked: the "up" direction it predicts in device axes is within about
  1 degree (median) of the low-passed accelerometer). The log's pitch/roll/yaw angles are not kept
  (:func:`parse_log` has them).
- ``pressure`` (kind ``vector``, (N, 1), ids ``pressure_mbar``): PRES in mbar (hPa).
- ``wifi`` (kind ``wifi``, (S, A)): one row per scan, i.e. per block of WIFI rows that share an
  AppTimestamp, at that time; RSS in dBm, NaN = not heard in that scan. ``ids`` are the anonymised
  BSSIDs (``20:23:00:00:00:01``...), which name the same access point in every log. By default
  (``id_vocabulary="dataset"``) every recording of an import has the same columns: the sorted union
  of the BSSIDs of the imported logs (so the columns depend on which logs are imported;
  ``"recording"`` gives each recording the sorted BSSIDs of its own log instead; methods align
  columns by id either way).
- ``ble`` (kind ``wifi``, (B, M)): iBeacon advertisements (BLE4 records), one row per
  AppTimestamp (in practice one advertisement, so one finite value per row), ids the anonymised
  beacon MACs, RSSI in dBm. Eddystone BLE4 records are counted and skipped.

LIGH, SOUN, PROX, HUMI and TEMP are parsed but not imported; GNSS (indoors, useless) is parsed and
ignored; record types :func:`parse_log` does not know (BLUE, RFID, IMUX...) are counted and skipped.
All counts are in the provenance.

**Floor plans** (from ``supplementary/``): ``calib_mapa_Nuremberg.cal`` georeferences the floor-map
bitmaps: per floor the WGS-84 position of the image centre, a rotation of -20.736 degrees and
0.01232008 m/pixel; the same for the three floors, so they share one canvas. Pixel ``(u, v)``
(column, row, pixel centres at integers, image centre ``c = ((W - 1) / 2, (H - 1) / 2)``) maps to::

    [x, y] = centre_m + s * R(-rotation) @ [u - c_u, -(v - c_v)]

with ``R(a)`` the counter-clockwise rotation by ``a`` (here +20.736 degrees: the image's "up" points
20.7 degrees west of north) and the row axis flipped (rows grow southwards). Only floor -1's map
(``Map_Floor_-01.png``, 10719 x 5069 px, RGBA) is available; it is box-downsampled by
``raster_downsample`` (default 8: 1340 x 634 px, 0.0986 m/pixel, RGB on white) and
``pixel_to_metre`` is adjusted (reduced pixel ``i`` covers original pixels ``k i .. k i + k - 1``).
Decoding the PNG takes about 1.5 s and about 220 MB of memory while it lasts; only the small raster
is kept. The map is a drawing (``meta["raster_kind"] = "drawing"``): almost empty apart from the
stair/lift block and the nine surveyed reference points 9001..9999 of ``references.csv``, drawn as
orange dots. Those dots sit 0.15-0.58 m from where this transform puts the points' WGS-84
coordinates (the best similarity through the nine dots has a 0.34 % smaller scale and a 0.09 degree
smaller rotation than the .cal file); the .cal transform is used as given because it is the
competition's georeference. Floors 0 and -2 have no bitmap here: their plans have no raster and no
walls, only bounds and one zone, the same canvas footprint as floor -1 (the maps share the
calibration; the same pixel size is assumed). Every plan has ``walls`` (0, 2, 2), one zone
``"F{floor}"`` whose polygon is the (rotated) canvas, ``bounds`` the box around that polygon, and
``elevation_m = floor * floor_height_m``. All 716 POSI points of the 50 training logs lie inside it,
and the floor -1 POSI points (trial 51) fall on the stairwell drawn in the floor -1 map.

**Checks.** What matters stops an import with a :class:`~omniloc.DataError` naming the file, the
record type and field and, for a bad record, the file line (1-based): the AppTimestamps and the
:data:`NEEDED_FIELDS` of the imported types (sensor values, RSS, ids, POSI). POSI points must be
valid WGS-84 degrees within :data:`MAX_POSI_DISTANCE_M` (1 km) of the origin, of building 100,
and one AppTimestamp has one position and floor; a log's records must lie within one day of each
other (a broken AppTimestamp otherwise).

**Tolerated.** Odd values in fields no stream uses (a sensor's own timestamp, accuracy flags,
WiFi frequency, iBeacon UUID/major/minor/TX power, the POSI counter) and in record types that are
not imported (LIGH, SOUN, PROX, HUMI, TEMP, GNSS) never stop an import; they become NaN (-1 for
integers) or the not-imported record is dropped, counted per log file and reason in
``provenance["import_warnings"]`` (``{file name: {reason: count}}``); ``omniloc import`` prints
the total.
"""

from __future__ import annotations

import csv
import hashlib
import io
import lzma
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..._errors import DataError
from ..dataset import Dataset
from ..fingerprint import align_access_points, scan_matrix
from ..floorplan import FloorPlan
from ..recording import Recording
from ..stream import Stream
from ._common import ImportWarnings, split_import
from ._phone_log import check_ground_truth, check_log_span, imu_values, rotation_quaternions

__all__ = [
    "parse_log",
    "read_log_header",
    "IPINLog",
    "NEEDED_FIELDS",
    "latlon_to_local_m",
    "load_floor_plans",
    "load_ipin2023",
    "import_ipin2023",
    "find_logs",
    "DEFAULT_ORIGIN",
    "MAX_POSI_DISTANCE_M",
    "RECORD_FIELDS",
    "IMPORTED_TYPES",
]

#: Fixed local origin (latitude, longitude in WGS-84 degrees) of every IPIN 2023 import.
DEFAULT_ORIGIN = (49.4611, 11.1111)
#: Largest accepted distance of a POSI point from the origin, metres (the museum spans ~130 m and
#: all 716 training POSI points lie within 55 m of :data:`DEFAULT_ORIGIN`).
MAX_POSI_DISTANCE_M = 1000.0

#: Record type -> its fields after the type, in file order: (name, kind) with kind ``f`` (float),
#: ``i`` (integer) or ``s`` (text). From the header of the GetSensorData logs (version 2.21).
RECORD_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    **{
        ty: (("app_t", "f"), ("sensor_t", "f"), ("x", "f"), ("y", "f"), ("z", "f"), ("accuracy", "i"))
        for ty in ("ACCE", "GYRO", "MAGN")
    },
    "AHRS": (
        ("app_t", "f"),
        ("sensor_t", "f"),
        ("pitch_deg", "f"),
        ("roll_deg", "f"),
        ("yaw_deg", "f"),
        ("q2", "f"),
        ("q3", "f"),
        ("q4", "f"),
        ("accuracy", "i"),
    ),
    **{
        ty: (("app_t", "f"), ("sensor_t", "f"), (name, "f"), ("accuracy", "i"))
        for ty, name in (
            ("PRES", "pressure_mbar"),
            ("LIGH", "light_lux"),
            ("PROX", "proximity"),
            ("HUMI", "humidity_percent"),
            ("TEMP", "temperature_c"),
        )
    },
    "SOUN": (("app_t", "f"), ("rms", "f"), ("pressure_pa", "f"), ("spl_db", "f")),
    "WIFI": (
        ("app_t", "f"),
        ("sensor_t", "f"),
        ("ssid", "s"),
        ("bssid", "s"),
        ("frequency_mhz", "i"),
        ("rss_dbm", "f"),
    ),
    "BLE4": (
        ("app_t", "f"),
        ("beacon_type", "s"),
        ("mac", "s"),
        ("rss_dbm", "f"),
        ("tx_power", "f"),
        ("major", "i"),
        ("minor", "i"),
        ("uuid", "s"),
    ),
    "GNSS": (
        ("app_t", "f"),
        ("unix_t", "f"),
        ("lat", "f"),
        ("lon", "f"),
        ("altitude_m", "f"),
        ("bearing_deg", "f"),
        ("accuracy_m", "f"),
        ("speed_mps", "f"),
        ("sats_in_view", "i"),
        ("sats_in_use", "i"),
    ),
    "POSI": (("app_t", "f"), ("counter", "i"), ("lat", "f"), ("lon", "f"), ("floor", "i"), ("building", "i")),
}
#: Record types that become streams or ground truth of a :class:`Recording`.
IMPORTED_TYPES = ("ACCE", "GYRO", "MAGN", "AHRS", "PRES", "WIFI", "BLE4", "POSI")
#: The fields of the imported types that the recording is built from; an odd value in any other
#: field (a sensor's own timestamp, accuracy flags, pitch/roll/yaw, WiFi frequency, iBeacon major,
#: minor, UUID, TX power, the POSI counter) or in a record type that is not imported never stops a
#: parse: numbers become NaN (integers -1), and it is counted in ``IPINLog.warnings``.
NEEDED_FIELDS: dict[str, tuple[str, ...]] = {
    **{ty: ("app_t", "x", "y", "z") for ty in ("ACCE", "GYRO", "MAGN")},
    "AHRS": ("app_t", "q2", "q3", "q4"),
    "PRES": ("app_t", "pressure_mbar"),
    "WIFI": ("app_t", "bssid", "rss_dbm"),
    "BLE4": ("app_t", "beacon_type", "mac", "rss_dbm"),
    "POSI": ("app_t", "lat", "lon", "floor", "building"),
}
#: Text fields that may be empty (hidden networks have no SSID).
_MAY_BE_EMPTY = {"ssid"}
_TYPE_RE = re.compile(r"^[A-Z][A-Z0-9]{1,7}$")
_NAME_RE = re.compile(r"Trial(\d+)_repetition(\d+)", re.IGNORECASE)
_HEADER_KEYS = {
    "manufacturer": "manufacturer",
    "model": "model",
    "api android version": "android_api",
    "android version release": "android_release",
    "date of creation": "created",
}
_XZ_MAGIC = b"\xfd7zXZ\x00"
_SITE_BUILDING_ID = 100
_WGS84_A = 6378137.0
_WGS84_F = 1 / 298.257223563
_CAL_FILE = "calib_mapa_Nuremberg.cal"

_SOURCE = {
    "dataset": "IPIN 2023 competition Track 3 (smartphone-based, off-site), training logs",
    "origin": "Zenodo doi:10.5281/zenodo.8362205 (copy from GitHub Kenny5269/2023_IPIN_Competition_Track03)",
    "citation": "J. Torres-Sospedra, A. R. Jimenez, A. Perez-Navarro et al. Datasets and Supporting Materials for the "
    "IPIN 2023 Competition Track 3 (Smartphone-based, off-site). Zenodo, 2023. doi:10.5281/zenodo.8362205",
    "licence": "research use with attribution (cite the Zenodo record); IPIN data on Zenodo is usually CC BY 4.0, "
    "not confirmed for this record",
}


# ---------------------------------------------------------------------------------------------- coordinates
def latlon_to_local_m(lat, lon, origin: tuple[float, float] = DEFAULT_ORIGIN) -> np.ndarray:
    """WGS-84 latitude/longitude -> local east/north metres around ``origin`` (tangent plane).

    ``x = (lon - lon0) * pi/180 * N(lat0) * cos(lat0)`` (east) and ``y = (lat - lat0) * pi/180 *
    M(lat0)`` (north), with the WGS-84 radii of curvature at the origin, ``M = a (1 - e^2) /
    (1 - e^2 sin^2 lat0)^1.5`` (meridian) and ``N = a / (1 - e^2 sin^2 lat0)^0.5`` (prime vertical).
    At 49.46 N one degree of latitude is 111,219 m and one degree of longitude 72,494 m. This
    equirectangular approximation of the exact east-north-up coordinates is off by about
    ``d^2 tan(lat0) / (2 R)``, i.e. less than 1 mm within 100 m of the origin and 4 mm at 200 m
    (the museum spans about 130 m), far below the ground truth's accuracy.

    Parameters
    ----------
    lat, lon : float or (N,) degrees
    origin : (float, float)
        (latitude, longitude) of the frame's origin, degrees.

    Returns
    -------
    (N, 2) float64 metres, ``[:, 0]`` east, ``[:, 1]`` north ((2,) for scalar input).
    """
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    lat0, lon0 = math.radians(float(origin[0])), float(origin[1])
    e2 = _WGS84_F * (2 - _WGS84_F)
    w = 1.0 - e2 * math.sin(lat0) ** 2
    m = _WGS84_A * (1 - e2) / w**1.5
    n = _WGS84_A / math.sqrt(w)
    x = np.radians(lon - lon0) * n * math.cos(lat0)
    y = np.radians(lat - float(origin[0])) * m
    return np.stack([x, y], axis=-1)


# ---------------------------------------------------------------------------------------------- parsing
@dataclass
class IPINLog:
    """The records of one GetSensorData log file, parsed by :func:`parse_log`.

    Parameters
    ----------
    path : Path
        The log file.
    header : dict[str, str]
        From the ``%`` lines: ``manufacturer``, ``model``, ``android_api``, ``android_release``, ``created``.
    records : dict[str, dict[str, ndarray]]
        Record type (``"ACCE"``...) -> field name (:data:`RECORD_FIELDS`) -> (n,) array in file
        order: float64 for numbers (``app_t`` in seconds), int64 for integers, str for text. Only
        the types present in the file.
    lines : dict[str, (n,) int64]
        The 1-based file line of every record, per type.
    skipped : dict[str, int]
        Records skipped, by type: unknown types and Eddystone BLE4 (``"BLE4:Eddystone"``).
    n_lines : int
        Lines in the file.
    sha256 : str
        Checksum of the file's bytes (compressed, as stored).
    warnings : dict[str, int]
        Odd values that did not stop the parse, per reason (see :data:`NEEDED_FIELDS`).
    """

    path: Path
    header: dict
    records: dict
    lines: dict
    skipped: dict
    n_lines: int
    sha256: str = ""
    warnings: dict = field(default_factory=dict)

    def count(self, record_type: str) -> int:
        """Number of records of ``record_type`` (0 when absent)."""
        rec = self.records.get(record_type)
        return 0 if rec is None else len(rec["app_t"])

    @property
    def counts(self) -> dict[str, int]:
        """Records per type, in :data:`RECORD_FIELDS` order."""
        return {ty: self.count(ty) for ty in RECORD_FIELDS if ty in self.records}


def _check_file(path: Path) -> None:
    if not path.exists():
        raise DataError("file not found; expected a GetSensorData log (.txt or .txt.xz)", file=path)
    if not path.is_file():
        raise DataError("not a file; expected a GetSensorData log (.txt or .txt.xz)", file=path)


def _open_bytes(path: Path) -> bytes:
    """The bytes of a log file as stored."""
    _check_file(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"could not read the file ({type(e).__name__}: {e})", file=path) from None
    return raw


def _decompress(path: Path, raw: bytes) -> bytes:
    if not raw.startswith(_XZ_MAGIC):
        return raw
    try:
        return lzma.decompress(raw)
    except (lzma.LZMAError, EOFError) as e:
        raise DataError(
            f"truncated or corrupted xz stream ({type(e).__name__}: {e}); expected a complete .xz-compressed log",
            file=path,
        ) from None


def _decode(path: Path, data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise DataError(
            f"line {line}: not UTF-8 text ({e.reason} at byte {e.start}); expected a text log", file=path
        ) from None
    return text.replace("\r\n", "\n") if "\r" in text else text


def _header_item(line: str, header: dict) -> None:
    key, sep, value = line.lstrip("% ").partition(":")
    name = _HEADER_KEYS.get(key.strip().lower())
    if sep and name and name not in header:
        header[name] = value.strip()


def read_log_header(path) -> dict:
    """The ``%`` header of a log (``model``, ``manufacturer``...), reading only the file's start.

    Raises
    ------
    DataError
        Missing, unreadable or truncated file.
    """
    path = Path(path)
    _check_file(path)
    header: dict = {}
    try:
        with open(path, "rb") as f:
            xz = f.read(6) == _XZ_MAGIC
        opener = lzma.open if xz else open
        with opener(path, "rt", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("%"):
                    _header_item(line, header)
                elif line.strip():
                    break
    except (lzma.LZMAError, EOFError, OSError) as e:
        raise DataError(f"truncated or corrupted log ({type(e).__name__}: {e})", file=path) from None
    return header


def _bad_record(path: Path, ty: str, lineno: int, line: str) -> DataError:
    """The precise error of a record that failed the fast parse (field count, text in a number...)."""
    fields = RECORD_FIELDS[ty]
    parts = line.split(";")
    layout = ";".join([ty] + [n for n, _ in fields])
    if len(parts) != len(fields) + 1:
        return DataError(
            f"line {lineno}: {ty} record has {len(parts)} fields; expected {len(fields) + 1} "
            f"({layout}); the line is {line[:120]!r}",
            file=path,
            field=ty,
        )
    for (name, kind), raw in zip(fields, parts[1:]):
        where = f"line {lineno}: {ty} field '{name}' holds {raw!r}"
        if kind == "s":
            if not raw.strip() and name not in _MAY_BE_EMPTY:
                return DataError(f"{where}; expected a non-empty text", file=path, field=f"{ty}/{name}")
            continue
        try:
            value = float(raw)
        except ValueError:
            return DataError(f"{where}; expected a number", file=path, field=f"{ty}/{name}")
        if not math.isfinite(value):
            return DataError(f"{where}; expected a finite number", file=path, field=f"{ty}/{name}")
        if kind == "i" and value != round(value):
            return DataError(f"{where}; expected an integer", file=path, field=f"{ty}/{name}")
    return DataError(
        f"line {lineno}: {ty} record could not be read ({layout}); the line is {line[:120]!r}", file=path, field=ty
    )


def _parse_type(
    path: Path, ty: str, lines: list[str], linenos: list[int], warnings: Counter
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Fast path: pandas' C parser over all records of one type; :func:`_bad_record` explains a failure.

    Returns the fields and the file lines of the records kept (records of a type that is not
    imported are dropped, and counted in ``warnings``, when their layout or AppTimestamp is bad).
    """
    import pandas as pd

    fields = RECORD_FIELDS[ty]
    needed = NEEDED_FIELDS.get(ty, ())
    imported = ty in IMPORTED_TYPES
    linenos = np.asarray(linenos, dtype=np.int64)
    if not imported:
        good = np.array([ln.count(";") == len(fields) for ln in lines], dtype=bool)
        if not good.all():
            warnings[f"{ty} record with the wrong number of fields dropped (not imported)"] += int((~good).sum())
            lines = [ln for ln, g in zip(lines, good) if g]
            linenos = linenos[good]
        if not lines:
            return {
                n: np.zeros(0, dtype=np.float64 if k == "f" else np.int64 if k == "i" else str) for n, k in fields
            }, linenos
    names = ["type"] + [n for n, _ in fields]
    text_cols = {n: str for n, k in fields if k == "s"}
    try:
        frame = pd.read_csv(
            io.StringIO("\n".join(lines)),
            sep=";",
            header=None,
            names=names,
            dtype={"type": str, **text_cols},
            quoting=csv.QUOTE_NONE,
            keep_default_na=False,
            na_values=[""],
            skip_blank_lines=False,
            engine="c",
        )
    except pd.errors.ParserError as e:
        m = re.search(r"Expected \d+ fields in line (\d+)", str(e))
        k = int(m.group(1)) - 1 if m and int(m.group(1)) <= len(lines) else None
        candidates = [k] if k is not None else range(len(lines))
        for j in candidates:
            if lines[j].count(";") != len(fields):
                raise _bad_record(path, ty, linenos[j], lines[j]) from None
        raise DataError(f"{ty} records could not be read ({e})", file=path, field=ty) from None
    if len(frame) != len(lines):  # cannot happen with QUOTE_NONE; guard the line mapping anyway
        raise DataError(f"{ty} records: read {len(frame)} of {len(lines)} lines", file=path, field=ty)
    out: dict[str, np.ndarray] = {}
    keep = np.ones(len(lines), dtype=bool)
    for name, kind in fields:
        col = frame[name]
        if kind == "s":
            empty = col.isna().to_numpy()
            if empty.any() and name not in _MAY_BE_EMPTY and name in needed:
                j = int(np.flatnonzero(empty)[0])
                raise _bad_record(path, ty, linenos[j], lines[j])
            out[name] = col.fillna("").to_numpy(dtype=str)
            continue
        if not pd.api.types.is_numeric_dtype(col.dtype) or pd.api.types.is_bool_dtype(col.dtype):
            col = pd.to_numeric(col, errors="coerce")
        vals = col.to_numpy(dtype=np.float64)
        bad = ~np.isfinite(vals)
        if kind == "i":
            bad |= np.isfinite(vals) & (vals != np.round(vals))
        if bad.any():
            if name in needed:
                j = int(np.flatnonzero(bad)[0])
                raise _bad_record(path, ty, linenos[j], lines[j])
            if name == "app_t":  # a record of a type that is not imported
                warnings[f"{ty} record with a bad AppTimestamp dropped (not imported)"] += int(bad.sum())
                keep &= ~bad
            else:
                what = "a finite number -> NaN" if kind == "f" else "an integer -> -1"
                warnings[f"{ty}.{name} not {what}"] += int(bad.sum())
                vals = np.where(bad, np.nan if kind == "f" else -1.0, vals)
        out[name] = vals.astype(np.int64) if kind == "i" else vals
    if not keep.all():
        out = {k: v[keep] for k, v in out.items()}
        linenos = linenos[keep]
    t = out["app_t"]
    back = np.flatnonzero(np.diff(t) < 0)
    if len(back) and imported:
        j = int(back[0]) + 1
        raise DataError(
            f"line {linenos[j]}: {ty} AppTimestamp {t[j]:g} s is earlier than the previous {ty} record's "
            f"{t[j - 1]:g} s (line {linenos[j - 1]}); expected non-decreasing AppTimestamps",
            file=path,
            field=f"{ty}/app_t",
        )
    if len(back):
        warnings[f"{ty} AppTimestamp earlier than the previous {ty} record (not imported; kept)"] += len(back)
    return out, linenos


def parse_log(path) -> IPINLog:
    """Read a GetSensorData log (plain ``.txt`` or xz-compressed ``.txt.xz``) into arrays per record type.

    ``%`` lines are the header (phone model...), blank lines are ignored, every other line is a
    record ``TYPE;field;...``. Records of the types in :data:`RECORD_FIELDS` are parsed and checked
    (number of fields, numbers, integers, non-decreasing AppTimestamps per type) where it matters:
    the fields of :data:`NEEDED_FIELDS` of the :data:`IMPORTED_TYPES`. An odd value elsewhere
    becomes NaN (-1 for an integer), and a record of a type that is not imported with a bad
    layout or AppTimestamp is dropped; both are counted in ``IPINLog.warnings``. Other types are
    counted in ``skipped`` and not read; BLE4 records that are not iBeacon (Eddystone) are counted
    as ``"BLE4:Eddystone"``. A trailing ``;`` at the end of a record is tolerated (some app versions
    write one).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    IPINLog

    Raises
    ------
    DataError
        Missing file, truncated or corrupted xz stream, non-UTF-8 bytes, a line that is not a
        record, a record with the wrong number of fields, text where a number is expected, a
        fraction where an integer is expected, an AppTimestamp earlier than the previous one of its
        type, records spanning more than a day (a broken AppTimestamp). The message names the
        file, the line (1-based) and the record type and field.
    """
    path = Path(path)
    raw = _open_bytes(path)
    text = _decode(path, _decompress(path, raw))
    header: dict = {}
    groups: dict[str, list[str]] = {ty: [] for ty in RECORD_FIELDS}
    numbers: dict[str, list[int]] = {ty: [] for ty in RECORD_FIELDS}
    skipped: Counter = Counter()
    all_lines = text.split("\n")
    for i, line in enumerate(all_lines):
        if not line or line[0] == "%":
            if line:
                _header_item(line, header)
            continue
        k = line.find(";")
        ty = line[:k] if k > 0 else line
        group = groups.get(ty)
        if group is None:
            if not line.strip():
                continue
            if k <= 0 or not _TYPE_RE.match(ty):
                raise DataError(
                    f"line {i + 1}: not a record; expected 'TYPE;AppTimestamp;...' (TYPE like ACCE, "
                    f"WIFI, POSI) or a '%' header line; the line is {line[:120]!r}",
                    file=path,
                )
            skipped[ty] += 1
            continue
        if line[-1] == ";":
            line = line[:-1]
        if ty == "BLE4" and ";iBeacon;" not in line:  # Eddystone frames have another layout
            parts = line.split(";")
            skipped["BLE4:" + (parts[2] if len(parts) > 2 else "?")] += 1
            continue
        group.append(line)
        numbers[ty].append(i + 1)
    records, lines = {}, {}
    warnings: Counter = Counter()
    for ty, group in groups.items():
        if group:
            rec, ln = _parse_type(path, ty, group, numbers[ty], warnings)
            if len(ln):  # a type whose records were all dropped (not imported, bad layout) is absent
                records[ty], lines[ty] = rec, ln
    check_log_span({ty: (rec["app_t"], lines[ty]) for ty, rec in records.items() if ty in IMPORTED_TYPES}, path)
    n_lines = len(all_lines) - (1 if text.endswith("\n") else 0)
    return IPINLog(
        path,
        header,
        records,
        lines,
        dict(skipped),
        n_lines,
        hashlib.sha256(raw).hexdigest(),
        {k: int(v) for k, v in sorted(warnings.items())},
    )


# ---------------------------------------------------------------------------------------------- streams
def _imu_stream(log: IPINLog) -> Stream:
    acc, gyr = log.records["ACCE"], log.records["GYRO"]
    t = acc["app_t"]
    values, _, outside = imu_values(
        t, np.c_[acc["x"], acc["y"], acc["z"]], gyr["app_t"], np.c_[gyr["x"], gyr["y"], gyr["z"]]
    )

    def rate(x):
        return round(float(1.0 / np.median(np.diff(x))), 2) if len(x) > 1 else float("nan")

    return Stream(
        "imu",
        t.copy(),
        values,
        ids=np.array(["acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"]),
        meta={
            "unit": "m/s^2 (acc_*), rad/s (gyr_*)",
            "frame": "device (Android sensor axes)",
            "timeline": "ACCE AppTimestamps",
            "gyro_resampling": "linear interpolation in time of each GYRO axis at the ACCE AppTimestamps; "
            "ACCE samples outside the GYRO time span take the first/last GYRO sample",
            "acce_rate_hz": rate(t),
            "gyro_rate_hz": rate(gyr["app_t"]),
            "n_gyro_raw": int(len(gyr["app_t"])),
            "n_outside_gyro_span": outside,
        },
    )


def _ahrs_stream(log: IPINLog) -> Stream:
    r = log.records["AHRS"]
    q = rotation_quaternions(np.c_[r["q2"], r["q3"], r["q4"]])
    return Stream(
        "vector",
        r["app_t"].copy(),
        q,
        ids=np.array(["qw", "qx", "qy", "qz"]),
        meta={
            "unit": "unit quaternion (w, x, y, z)",
            "frame": "world_from_device; world = Android's (x east, y magnetic north, z up)",
            "source": "AHRS Quat(2..4) = rotation-vector x, y, z; w = sqrt(1 - x^2 - y^2 - z^2)",
        },
    )


def _radio_stream(log: IPINLog, ty: str, key: str, rss_range: tuple[float, float]) -> Stream:
    """The records of ``ty`` (WIFI or BLE4) grouped into scans by AppTimestamp: (S, A) dBm, NaN = not heard,
    columns the sorted ids (``key``) heard in the log."""
    r = log.records[ty]
    rss = r["rss_dbm"]
    lo, hi = rss_range
    bad = (rss < lo) | (rss > hi)
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"line {log.lines[ty][j]}: {ty} RSS {rss[j]:g} dBm outside [{lo:g}, {hi:g}]; expected a "
            "received signal strength in dBm",
            file=log.path,
            field=f"{ty}/rss_dbm",
        )
    # an id twice in one scan (not in these logs) keeps its strongest reading
    scan_t, values, ids, _ = scan_matrix(r["app_t"], r[key], rss)
    if ty == "WIFI":
        meta = {
            "scan": "the WIFI rows sharing one AppTimestamp",
            "ids": "anonymised BSSIDs, the same access point in every log",
        }
    else:
        meta = {
            "scan": "the iBeacon BLE4 rows sharing one AppTimestamp (usually one advertisement per row)",
            "ids": "anonymised beacon MAC addresses",
        }
    return Stream(
        "wifi", scan_t, values, ids=ids, meta={"unit": "dBm", "not_heard": "NaN", **meta, "n_records": int(len(rss))}
    )


def _recording(
    name: str, log: IPINLog, origin, floor_height_m: float, rss_range, max_distance_m: float = MAX_POSI_DISTANCE_M
) -> Recording:
    """One log as a :class:`Recording` (see the module docstring); radio ids are the log's own."""
    pose = _pose(log, origin, floor_height_m, max_distance_m)
    rec = log.records
    streams = {}
    if "ACCE" in rec and "GYRO" in rec:
        streams["imu"] = _imu_stream(log)
    if "MAGN" in rec:
        m = rec["MAGN"]
        streams["magnetometer"] = Stream(
            "magnetometer",
            m["app_t"].copy(),
            np.c_[m["x"], m["y"], m["z"]].astype(np.float32),
            ids=np.array(["mag_x", "mag_y", "mag_z"]),
            meta={"unit": "uT", "frame": "device (Android sensor axes)"},
        )
    if "AHRS" in rec:
        streams["ahrs"] = _ahrs_stream(log)
    if "PRES" in rec:
        p = rec["PRES"]
        streams["pressure"] = Stream(
            "vector",
            p["app_t"].copy(),
            p["pressure_mbar"][:, None].astype(np.float32),
            ids=np.array(["pressure_mbar"]),
            meta={"unit": "mbar"},
        )
    if "WIFI" in rec:
        streams["wifi"] = _radio_stream(log, "WIFI", "bssid", rss_range)
    if "BLE4" in rec:
        streams["ble"] = _radio_stream(log, "BLE4", "mac", rss_range)
    trial, rep = _trial_rep(log.path)
    meta = {
        "trial": trial,
        "repetition": rep,
        "phone_model": log.header.get("model"),
        "manufacturer": log.header.get("manufacturer"),
        "android_release": log.header.get("android_release"),
        "created": log.header.get("created"),
        "source_file": log.path.name,
        "building_id_source": _SITE_BUILDING_ID,
        "record_counts": log.counts,
        "skipped_records": log.skipped,
        "missing_types": [ty for ty in IMPORTED_TYPES if ty not in rec],
        "pose_source": "POSI ground-truth points only (surveyed landmarks); positions between them are "
        "interpolated linearly in time by omniloc.data.align.truth_at",
    }
    return Recording(
        name,
        pose["t"],
        position=pose["position"],
        floor=pose["floor"],
        building=pose["building"],
        zone=pose["zone"],
        streams=streams,
        meta=meta,
    ).validate(file=log.path)


# ---------------------------------------------------------------------------------------------- floor plans
def _read_calibration(path: Path) -> list[dict]:
    """The floors of a GUI_mapas calibration file: file, floor, building, lat, lon, rotation_deg, m_per_px."""
    try:
        rows = [
            ln.split()
            for ln in path.read_text(encoding="utf-8", errors="replace").splitlines()
            if ln.strip() and not ln.lstrip().startswith("%")
        ]
    except OSError as e:
        raise DataError(f"could not read the calibration file ({e})", file=path) from None
    keys = ("file", "floor", "building", "lat", "lon", "rotation_deg", "m_per_px")
    if len(rows) != len(keys) or len({len(r) for r in rows}) != 1:
        raise DataError(
            f"expected {len(keys)} rows ({', '.join(keys)}) with one column per floor, got "
            f"{len(rows)} rows of {sorted({len(r) for r in rows})} columns",
            file=path,
        )
    out = []
    for j in range(len(rows[0])):
        try:
            out.append(
                {
                    "file": rows[0][j],
                    "floor": int(rows[1][j]),
                    "building": int(rows[2][j]),
                    "lat": float(rows[3][j]),
                    "lon": float(rows[4][j]),
                    "rotation_deg": float(rows[5][j]),
                    "m_per_px": float(rows[6][j]),
                }
            )
        except ValueError as e:
            raise DataError(
                f"column {j + 1}: {e}; expected integers (floor, building) and numbers (lat, lon, rotation, scale)",
                file=path,
            ) from None
    return out


def _canvas_transform(cal: dict, size: tuple[int, int], origin, downsample: int = 1) -> np.ndarray:
    """(3, 3) affine: homogeneous (column, row, 1) of the ``downsample``-reduced bitmap -> local metres."""
    w, h = size
    s = cal["m_per_px"]
    phi = math.radians(-cal["rotation_deg"])
    rot = np.array([[math.cos(phi), -math.sin(phi)], [math.sin(phi), math.cos(phi)]])
    a = s * rot @ np.diag([1.0, -1.0])  # rows grow southwards
    centre = latlon_to_local_m(cal["lat"], cal["lon"], origin)
    k = float(downsample)
    offset = np.array([(k - 1) / 2 - (w - 1) / 2, (k - 1) / 2 - (h - 1) / 2])
    out = np.eye(3)
    out[:2, :2] = k * a
    out[:2, 2] = centre + a @ offset
    return out


def _read_map(png: Path, downsample: int) -> tuple[np.ndarray | None, tuple[int, int]]:
    """(h, w, 3) uint8 RGB raster (alpha over white), box-reduced by ``downsample`` (0: none, only the
    size is read), and the original (W, H)."""
    from PIL import Image

    try:
        with Image.open(png) as im:
            size = im.size
            if downsample <= 0:
                return None, size
            im.load()
            # reduce strips of 64 output rows: no second full-size copy (RGBA reduce works on a premultiplied copy)
            small = Image.new(im.mode, (-(-size[0] // downsample), -(-size[1] // downsample)))
            step = 64 * downsample
            for y0 in range(0, size[1], step):
                strip = im.crop((0, y0, size[0], min(y0 + step, size[1])))
                small.paste(strip.reduce(downsample) if downsample > 1 else strip, (0, y0 // downsample))
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise DataError(f"could not read the floor map ({type(e).__name__}: {e}); expected a PNG", file=png) from None
    if small.mode != "RGBA":
        small = small.convert("RGBA")
    white = Image.new("RGBA", small.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(white, small).convert("RGB")), size


def load_floor_plans(
    supplementary,
    origin: tuple[float, float] = DEFAULT_ORIGIN,
    *,
    raster_downsample: int = 8,
    floor_height_m: float = 0.0,
) -> dict[str, FloorPlan]:
    """The floor plans of the IPIN 2023 site from ``calib_mapa_Nuremberg.cal`` and the map bitmaps beside it.

    One plan per floor of the calibration file, named ``"F{floor}"``, building 0; see the module
    docstring for the transform. A floor whose bitmap is present gets it as ``raster`` (reduced by
    ``raster_downsample``, ``pixel_to_metre`` adjusted); the others get the canvas of the first
    present bitmap, without raster.

    Parameters
    ----------
    supplementary : str or Path
        Folder holding ``calib_mapa_Nuremberg.cal`` and ``Map_Floor_*.png``.
    origin : (float, float)
        Local frame origin (lat, lon) degrees, see :func:`latlon_to_local_m`.
    raster_downsample : int
        Box-reduction factor of the bitmaps (1 = full resolution, 10719 x 5069 px); ``0`` keeps no raster.
    floor_height_m : float
        ``elevation_m = floor * floor_height_m``.

    Returns
    -------
    dict[str, FloorPlan]
        Empty when no bitmap of the calibration file is present (the canvas size is then unknown).
    """
    folder = Path(supplementary)
    cal_path = folder / _CAL_FILE
    if not cal_path.is_file():
        raise DataError(
            f"calibration file {_CAL_FILE} not found; expected the IPIN 2023 supplementary folder", file=cal_path
        )
    cals = _read_calibration(cal_path)
    maps = {c["floor"]: folder / c["file"] for c in cals if (folder / c["file"]).is_file()}
    if not maps:
        return {}
    k = int(raster_downsample)
    rasters = {floor: _read_map(png, k) for floor, png in maps.items()}
    canvas_size = next(iter(rasters.values()))[1]
    plans = {}
    for cal in cals:
        floor = cal["floor"]
        raster, size = rasters.get(floor, (None, canvas_size))
        full = _canvas_transform(cal, size, origin)
        w, h = size
        corners = np.array([[-0.5, -0.5, 1], [w - 0.5, -0.5, 1], [w - 0.5, h - 0.5, 1], [-0.5, h - 0.5, 1]]) @ full.T
        quad = corners[:, :2]
        bounds = np.r_[quad.min(axis=0), quad.max(axis=0)]
        meta = {
            "calibration": {k: cal[k] for k in ("lat", "lon", "rotation_deg", "m_per_px")},
            "source_building_id": cal["building"],
            "canvas_px": [int(w), int(h)],
        }
        transform = None
        if raster is not None:
            transform = _canvas_transform(cal, size, origin, k)
            meta.update(
                {
                    "map": cal["file"],
                    "raster_kind": "drawing",
                    "raster_downsample": k,
                    "raster_m_per_px": cal["m_per_px"] * k,
                }
            )
        elif floor in maps:
            meta.update({"map": cal["file"], "note": "raster not kept (raster_downsample=0)"})
        else:
            meta.update(
                {
                    "map": None,
                    "note": f"no bitmap for floor {floor} ({cal['file']} missing): bounds and zone "
                    "are the canvas of the shared calibration, no walls",
                }
            )
        name = f"F{floor}"
        plans[name] = FloorPlan(
            name,
            np.zeros((0, 2, 2)),
            zones={name: quad},
            floor=floor,
            building=0,
            bounds=bounds,
            elevation_m=floor * float(floor_height_m),
            raster=raster,
            pixel_to_metre=transform,
            meta=meta,
        )
    return plans


# ---------------------------------------------------------------------------------------------- dataset
def find_logs(src) -> list[Path]:
    """The log files of ``src``: a log file, or a folder holding them directly or in ``logfiles/``.

    Logs are ``*.txt`` or ``*.txt.xz``, sorted by name; when some of them are named like the
    competition's logs (``...Trial01_repetition01...``) only those are taken (a ``README.txt`` is not a log).
    """
    src = Path(src)
    if src.is_file():
        return [src]
    if not src.is_dir():
        raise DataError("not found; expected an IPIN 2023 folder, a logfiles/ folder or one log file", file=src)
    folder = src / "logfiles" if (src / "logfiles").is_dir() else src
    logs = sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith((".txt", ".txt.xz")))
    logs = [p for p in logs if _NAME_RE.search(p.name)] or logs
    if not logs:
        raise DataError("no log files (*.txt, *.txt.xz) in this folder or its logfiles/ subfolder", file=src)
    return logs


def _trial_rep(path: Path) -> tuple[int | None, int | None]:
    m = _NAME_RE.search(path.name)
    return (int(m.group(1)), int(m.group(2))) if m else (None, None)


def _recording_name(path: Path) -> str:
    trial, rep = _trial_rep(path)
    if trial is None:
        return path.name.split(".")[0]
    return f"T{trial:02d}-R{rep:02d}"


def _pose(log: IPINLog, origin, floor_height_m: float, max_distance_m: float = MAX_POSI_DISTANCE_M) -> dict:
    if "POSI" not in log.records:
        raise DataError(
            "no POSI ground-truth records; expected lines "
            "'POSI;AppTimestamp;Counter;Latitude;Longitude;floorID;buildingID'",
            file=log.path,
            field="POSI",
        )
    p, lines = log.records["POSI"], log.lines["POSI"]
    for key, limit in (("lat", 90.0), ("lon", 180.0)):
        bad = np.abs(p[key]) > limit
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"line {lines[j]}: POSI {key} {p[key][j]:g}; expected WGS-84 degrees within +-{limit:g}",
                file=log.path,
                field=f"POSI/{key}",
            )
    bad = p["building"] != _SITE_BUILDING_ID
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"line {lines[j]}: POSI buildingID {p['building'][j]}; expected {_SITE_BUILDING_ID}, the one "
            "building of the IPIN 2023 site",
            file=log.path,
            field="POSI/building",
        )
    xy = latlon_to_local_m(p["lat"], p["lon"], origin)
    dist = np.hypot(xy[:, 0], xy[:, 1])
    far = dist > max_distance_m
    if far.any():
        j = int(np.flatnonzero(far)[0])
        raise DataError(
            f"line {lines[j]}: POSI point ({p['lat'][j]:.8g}, {p['lon'][j]:.8g}) lies "
            f"{dist[j] / 1000:.6g} km "
            f"from the origin ({float(origin[0]):g}, {float(origin[1]):g}); expected a point of the site, "
            f"within {max_distance_m:g} m (max_posi_distance_m)",
            file=log.path,
            field="POSI/lat",
        )
    floor = p["floor"].astype(np.int64)
    check_ground_truth(p["app_t"], np.c_[xy, floor], lines, file=log.path, field="POSI")
    return {
        "t": p["app_t"].copy(),
        "position": np.c_[xy, floor * float(floor_height_m) + 0.0],
        "floor": floor,
        "building": np.zeros(len(floor), dtype=np.int64),
        "zone": np.array([f"F{f}" for f in floor]),
    }


def load_ipin2023(
    src,
    name: str | None = None,
    *,
    origin: tuple[float, float] = DEFAULT_ORIGIN,
    floor_height_m: float = 0.0,
    phone_models=None,
    trials=None,
    repetitions=None,
    id_vocabulary: str = "dataset",
    rss_range: tuple[float, float] = (-120.0, 0.0),
    raster_downsample: int = 8,
    supplementary=None,
    max_posi_distance_m: float = MAX_POSI_DISTANCE_M,
) -> Dataset:
    """Read IPIN 2023 Track 3 logs into a :class:`~omniloc.data.Dataset` (no splits; see the module docstring).

    Parameters
    ----------
    src : str or Path
        The dataset folder (``../shared/data/ipin2023-track3``, logs in ``logfiles/``), a folder of
        logs, or one log file.
    name : str, optional
        Dataset name; default ``"ipin2023-track3"``.
    origin : (float, float)
        (lat, lon) degrees of the local metric frame, see :func:`latlon_to_local_m`.
    floor_height_m : float
        ``z = floorID * floor_height_m`` (default 0: ``z = 0``, the floor is in ``floor``).
    phone_models, trials, repetitions : iterable, optional
        Keep only the logs of these phone models (``"SM-A520F"``, ``"SM-G930F"``, from the log
        header), trial numbers (1-5, 21-27, 51, 52) and repetition numbers (from the file name).
    id_vocabulary : {"dataset", "recording"}
        Columns of the ``wifi`` and ``ble`` streams: the sorted ids of all imported logs (every
        recording the same columns) or of each log.
    rss_range : (float, float)
        Accepted WiFi and BLE RSS (dBm); anything else is a :class:`DataError` naming the line.
    raster_downsample : int
        Reduction of the floor -1 bitmap (default 8: 0.099 m/pixel); ``0``: no raster.
    supplementary : str or Path, optional
        The folder with ``calib_mapa_Nuremberg.cal`` and the maps; default ``supplementary/`` in
        ``src`` or beside the logs' folder. Without it the dataset has no floor plans.
    max_posi_distance_m : float
        A POSI point farther than this from ``origin`` (metres) is a :class:`DataError`
        (default :data:`MAX_POSI_DISTANCE_M`, 1 km).

    Returns
    -------
    Dataset
        Recordings in file-name order, floor plans ``"F0"``, ``"F-1"``, ``"F-2"``, provenance.

    Raises
    ------
    DataError
        No logs, no log matching the filters, a bad log (see :func:`parse_log`), a log without POSI
        records, a POSI record with bad coordinates, farther than ``max_posi_distance_m`` from the
        origin or of another building, two POSI records at one AppTimestamp with different
        positions or floors, an RSS outside ``rss_range``.
    """
    if id_vocabulary not in ("dataset", "recording"):
        raise ValueError(f"id_vocabulary must be 'dataset' or 'recording', got {id_vocabulary!r}")
    src = Path(src)
    logs = find_logs(src)
    n_found = len(logs)
    if trials is not None:
        keep = {int(t) for t in trials}
        logs = [p for p in logs if _trial_rep(p)[0] in keep]
    if repetitions is not None:
        keep = {int(r) for r in repetitions}
        logs = [p for p in logs if _trial_rep(p)[1] in keep]
    if isinstance(phone_models, str):
        phone_models = [phone_models]
    if phone_models is not None:
        keep_models = {str(m) for m in phone_models}
        logs = [p for p in logs if read_log_header(p).get("model") in keep_models]
    if not logs:
        raise DataError(
            f"none of the {n_found} logs matches trials={trials}, repetitions={repetitions}, "
            f"phone_models={phone_models}",
            file=src,
        )
    names = [_recording_name(p) for p in logs]
    dup = sorted(n for n, c in Counter(names).items() if c > 1)
    if dup:
        raise DataError(f"two logs for recording {dup[0]}; expected one file per trial and repetition", file=src)

    recordings = {}
    totals, skipped, files = Counter(), Counter(), []
    warnings = ImportWarnings()
    for rec_name, path in zip(names, logs):  # one log in memory at a time
        log = parse_log(path)
        recordings[rec_name] = _recording(rec_name, log, origin, floor_height_m, rss_range, max_posi_distance_m)
        totals.update(log.counts)
        skipped.update(log.skipped)
        warnings.update(log.path.name, log.warnings)
        files.append(
            {
                "path": str(log.path),
                "sha256": log.sha256,
                "lines": log.n_lines,
                "records": log.counts,
                "skipped": log.skipped,
                "n_posi": log.count("POSI"),
                "recording": rec_name,
            }
        )
    if id_vocabulary == "dataset":
        for stream in ("wifi", "ble"):
            with_it = [r for r in recordings.values() if stream in r.streams]
            vocab = np.unique(np.concatenate([r.streams[stream].ids for r in with_it])) if with_it else None
            for r in with_it:
                old = r.streams[stream]
                r.streams[stream] = Stream(old.kind, old.t, align_access_points(old, vocab), ids=vocab, meta=old.meta)

    if supplementary is None:
        folder = src if src.is_dir() else src.parent
        candidates = [folder / "supplementary", folder.parent / "supplementary"]
        supplementary = next((c for c in candidates if (c / _CAL_FILE).is_file()), None)
    plans = (
        {}
        if supplementary is None
        else load_floor_plans(supplementary, origin, raster_downsample=raster_downsample, floor_height_m=floor_height_m)
    )
    not_imported = {ty: totals[ty] for ty in ("LIGH", "SOUN", "PROX", "HUMI", "TEMP") if totals[ty]}
    provenance = {
        **_SOURCE,
        "importer": "omniloc.data.loaders.ipin2023",
        "files": files,
        "n_logs": len(files),
        "n_posi": int(totals["POSI"]),
        "record_counts": dict(totals),
        "skipped_records": dict(skipped),
        "parsed_not_imported": not_imported,
        "gnss_ignored": int(totals["GNSS"]),
        "filters": {
            "trials": None if trials is None else sorted(int(t) for t in trials),
            "repetitions": None if repetitions is None else sorted(int(r) for r in repetitions),
            "phone_models": None if phone_models is None else sorted(str(m) for m in phone_models),
        },
        "clock": "AppTimestamp seconds (common to all record types of a log)",
        "crs": "local east-north-up tangent plane (equirectangular on the WGS-84 ellipsoid) around the origin",
        "origin_latlon_deg": [float(origin[0]), float(origin[1])],
        "position": f"x east, y north (metres from the origin), z = floorID * {float(floor_height_m):g} m",
        "floor_height_m": float(floor_height_m),
        "building": f"buildingID {_SITE_BUILDING_ID} -> building 0",
        "zone": "F{floorID}",
        "id_vocabulary": id_vocabulary,
        "rss_range_dbm": [float(rss_range[0]), float(rss_range[1])],
        "max_posi_distance_m": float(max_posi_distance_m),
        "import_warnings": warnings.to_json(),
        "floor_plans": (
            "none (no supplementary folder)"
            if supplementary is None
            else f"from {Path(supplementary) / _CAL_FILE}; raster only for floors with a bitmap "
            f"(downsampled x{raster_downsample}), canvas bounds and one zone per floor, no walls"
        ),
    }
    return Dataset(name or "ipin2023-track3", recordings, plans, {}, provenance)


def import_ipin2023(src, *, test_fraction: float = 0.1, seed: int = 0, name: str | None = None, **load_opts) -> Dataset:
    """``omniloc import ipin2023 SRC``: read the logs and split them by recording (log file).

    Parameters
    ----------
    src : str or Path
        See :func:`load_ipin2023`.
    test_fraction, seed
        See :func:`~omniloc.data.splits.split_by_groups`: the test split is a set of
        whole logs holding about ``test_fraction`` of the POSI points.
    name : str, optional
        Dataset name; default ``"ipin2023-track3"``.
    **load_opts
        Passed to :func:`load_ipin2023` (``phone_models``, ``trials``, ``repetitions``, ``origin``,
        ``floor_height_m``, ``id_vocabulary``, ``rss_range``, ``raster_downsample``, ``supplementary``).
    """
    ds = load_ipin2023(src, name=name, **load_opts)
    out = split_import(ds, test_fraction, seed, src, unit="log file")
    out.provenance["split"]["by"] = "recording (one log file); sizes counted in POSI points"
    return out
