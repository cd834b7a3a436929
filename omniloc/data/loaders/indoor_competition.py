"""Microsoft Indoor Location Competition 2.0 (phone traces in shopping malls) -> :class:`omniloc.data.Dataset`.

The source is a folder per site, ``<site>/<FLOOR>/path_data_files/<path_id>.txt[.xz]`` (one
trace per walked path, tab-separated text, optionally xz-compressed), with
``<site>/<FLOOR>/floor_image.png`` (raster map) and ``<site>/<FLOOR>/floor_info.json``
(``{"map_info": {"width": W, "height": H}}``, the floor extent in metres). Lines starting with
``#`` are header metadata (``startTime``, ``SiteID``, ``FloorName``, phone ``Brand``/``Model``,
sensor specs, ``endTime``); data lines are ``unix_ms <TAB> TYPE <TAB> values...``.

How a trace is mapped
---------------------
**Recordings.** One :class:`~omniloc.data.Recording` per path file, named
``"<site>-<FLOOR>-<path_id>"`` (``site1-F1-5dd9e7aac5b77e0006b1732b``). All times are seconds
relative to the trace's first imported record (``meta["t0_unix_ms"]``, integer Unix ms). Records
of each type are sorted by time (stable): the files interleave types out of time order (the
last waypoint is written after later IMU samples, WiFi and beacon rows are written after the scan).

**Pose timeline = the waypoints.** The surveyor taps 2-18 ground-truth ``TYPE_WAYPOINT`` per
path; the recording's ``t`` and ``position`` are exactly those taps: ``(x, y)`` metres in the
floor-plan frame (origin at the bottom-left of the floor image, x right, y up; see below) and
``z = floor * floor_height_m`` (0 by default). Positions between taps come from
:func:`omniloc.data.align.truth_at` at use time (linear in time, i.e. constant walking
speed between taps; ``meta["pose_source"]``). Sensor samples before the first or after the
last tap are kept, but they have no ground truth: evaluation only covers
``meta["waypoint_span_s"]``. ``orientation`` is not given (the rotation vector is the phone's own
estimate, kept as a stream). ``floor`` follows the Kaggle "Indoor Location & Navigation"
numbering (:func:`floor_index`): ``B2 = -2``, ``B1 = -1``, ``F1 = 0``, ``F2 = 1`` ... (also
``1F``/``L1`` = 0); ``building`` = ``N - 1`` for a site folder named ``siteN`` (``site1`` = 0),
else the site's index in the sorted site folders; ``zone`` = the floor name (``"F1"``), so every
pose has a zone label.

**Streams** (float32, device frame, Android conventions):

- ``imu`` (kind ``imu``, (N, 6)): ``TYPE_ACCELEROMETER`` m/s^2 then ``TYPE_GYROSCOPE`` rad/s on
  the accelerometer timestamps. When the gyroscope timestamps differ from the accelerometer's
  (never in the site1 sample: both are logged together at ~50 Hz) the gyroscope is linearly
  interpolated onto them (held constant beyond its ends); ``meta["gyroscope_timing"]`` says which.
- ``magnetometer`` (kind ``magnetometer``, (N, 3)): ``TYPE_MAGNETIC_FIELD`` in microtesla (calibrated).
- ``rotation_vector`` (kind ``vector``, (N, 4)): ``TYPE_ROTATION_VECTOR`` ``(x, y, z)`` as the unit
  quaternion ``(w, x, y, z)``, ``w = sqrt(1 - |v|^2)`` (the file's 4th column is Android's accuracy
  flag, not ``w``), renormalised. It rotates the device frame into Android's east-north-up world
  frame, whose heading relative to the floor-plan axes is not given by the data.
- ``wifi`` (kind ``wifi``, (S, A)): one row per scan (the ``TYPE_WIFI`` rows that share a
  timestamp, the system time at scan completion, every ~2 s), RSS in dBm, NaN = not heard;
  ``ids`` = the BSSIDs heard in this recording, sorted (methods align columns by id across
  recordings). A scan also lists *cached* results: rows whose ``last_seen`` is older than the scan
  time by more than ``max_wifi_age_s`` are dropped (NaN). The default **2.4 s** comes from the
  data: over the 842,278 WiFi rows of site1 the age ``scan time - last_seen`` is bimodal, with the
  fresh mode at 0.25-2.3 s, a trough at 2.35-2.45 s (scans are 1.8-2.3 s apart, median 2.09 s) and
  a second mode at ~3.3 s (the previous scan's results served again); 2.4 s keeps 45.7 % of the
  rows. ``max_wifi_age_s=None`` keeps every row. A BSSID listed twice in one scan (dual-channel
  access points) keeps its freshest row (then the strongest). Scans left with no fresh row are
  dropped. Counts are in the stream's ``meta`` and the dataset provenance.
- ``beacon`` (kind ``wifi``, only with ``include_beacons=True``): ``TYPE_BEACON`` RSSI in dBm,
  one row per distinct timestamp, ``ids`` ``"uuid:major:minor:mac"`` by default: 25,379 of the
  28,109 site1 beacon rows carry ``major = minor = 0`` (324 different transmitters share
  ``9195B3AD-...:0:0``), so ``"uuid:major:minor"`` (``beacon_id="uuid:major:minor"``, the Kaggle
  convention) merges them. Off by default because a second ``wifi``-kind stream makes
  "the WiFi stream" ambiguous for methods that pick a stream by kind.

**Skipped.** ``*_UNCALIBRATED`` sensors (documented, redundant with the calibrated ones), and the
undocumented ``TYPE_BLUE``, ``TYPE_BLU4`` (raw BLE rows), ``TYPE_DIST1``, ``TYPE_DIST2``,
``TYPE_SENSOR_MAGNETIC_FIELD_ACCURACY_CHANGED`` and any other type: counted per type in the
provenance. Accuracy flags, SSIDs and WiFi frequencies are not kept in the streams
(:func:`parse_trace` returns them).

**Floor plans.** One :class:`~omniloc.data.FloorPlan` per (site, floor) named ``"<site>-<FLOOR>"``:
``bounds = (0, 0, W, H)`` metres from ``floor_info.json``, ``raster`` =
``floor_image.png`` composited on white as (h, w, 3) uint8 (transparent pixels -- corridors and
the outside -- become white; shops are light blue), downsampled when wider than
``max_raster_px``. Image pixel edges satisfy ``(col, row) = (x w / W, h - y h / H)``: y flips
(checked: with the flip, waypoints land on the transparent corridor pixels). With pixel centres
at integer coordinates (the :class:`FloorPlan` convention) ``pixel_to_metre`` is
``x = (col + 0.5) W / w``, ``y = H - (row + 0.5) H / h``.

``geojson_map.json`` (:func:`read_geojson_map`) gives the walkable space: its ``"floor"``
feature is the building's outline (one polygon or several), every other feature a shop, void or
other unwalkable polygon inside it. The file is WGS-84 longitude / latitude, and the bounding box
of the outline maps linearly onto ``(0, 0, W, H)`` of ``floor_info.json``:
``x = W (lon - lon_min) / (lon_max - lon_min)``, ``y = H (lat - lat_min) / (lat_max - lat_min)``
(checked on site1: the aspect ratio of the box in degrees times ``cos(latitude)`` matches
``W / H``, and 97.5 % (B1) to 100 % (F1, F4) of the waypoints fall in walkable space). The
outline parts become ``zones`` (``"<FLOOR>"``, ``"<FLOOR>-2"`` ...), the other polygons
``obstacles`` (labelled by their name and index), and the edges of all of them ``walls``.

**Splits.** :func:`load_indoor_competition` returns a dataset without splits;
:func:`import_indoor_competition` (``omniloc import indoor-competition SRC``) adds ``train``/``test``
by path with :func:`~omniloc.data.splits.split_by_groups`.

**Checks.** What matters stops an import with a :class:`~omniloc.DataError` naming the file, the
line and the record type and value (``field="TYPE_WAYPOINT.y"``): timestamps, the ground truth and
the sensor values themselves. The waypoints must be finite, lie on their floor (within the
``floor_info.json`` extent widened by :data:`WAYPOINT_MARGIN` = one floor size on every side) and
give one position per time (two taps at one millisecond with different positions are refused);
all records of a path must lie within one day of each other (a broken timestamp otherwise).
``on_malformed="skip"`` drops bad data lines instead and counts them.

**Tolerated.** Real logs of other buildings carry odd values in fields no method needs; they never
stop an import. Values of :data:`OPTIONAL_FIELDS` (WiFi ``freq``, beacon ``tx_power`` and
``distance``, e.g. a distance of ``Infinity``) become NaN; beacon rows with a bad value are
dropped when beacons are not imported; an unreadable header ``startTime``/``endTime`` is left out
of ``meta``; a floor folder whose name :func:`floor_index` does not know is skipped (unless asked
for with ``floors``; ``floor_map`` imports it). Each is counted per file and reason in
``provenance["import_warnings"]`` (``{source_file: {reason: count}}``), and ``omniloc import``
prints the total.
"""

from __future__ import annotations

import json
import lzma
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..._errors import DataError
from ..dataset import Dataset
from ..fingerprint import scan_matrix
from ..floorplan import FloorPlan
from ..recording import Recording
from ..stream import Stream
from ._common import ImportWarnings, split_import
from ._phone_log import check_ground_truth, check_log_span, imu_values, rotation_quaternions

__all__ = [
    "Trace",
    "parse_trace",
    "floor_index",
    "read_floor_plan",
    "read_geojson_map",
    "load_indoor_competition",
    "import_indoor_competition",
    "DEFAULT_MAX_WIFI_AGE_S",
    "KNOWN_RECORD_TYPES",
    "OPTIONAL_FIELDS",
    "WAYPOINT_MARGIN",
]

#: Default WiFi cache rule: rows whose ``last_seen`` is older than the scan time by more than this are dropped.
DEFAULT_MAX_WIFI_AGE_S = 2.4

_XZ_MAGIC = b"\xfd7zXZ\x00"
_SENSOR_FIELDS = ("x", "y", "z")
#: record type -> (Trace attribute, names of the value columns it needs)
_NUMERIC_TYPES = {
    "TYPE_WAYPOINT": ("waypoint", ("x", "y")),
    "TYPE_ACCELEROMETER": ("accelerometer", _SENSOR_FIELDS),
    "TYPE_GYROSCOPE": ("gyroscope", _SENSOR_FIELDS),
    "TYPE_MAGNETIC_FIELD": ("magnetometer", _SENSOR_FIELDS),
    "TYPE_ROTATION_VECTOR": ("rotation_vector", _SENSOR_FIELDS),
}
_WIFI_FIELDS = ("ssid", "bssid", "rssi", "freq", "last_seen")
_BEACON_FIELDS = ("uuid", "major", "minor", "tx_power", "rssi", "distance", "mac")
_TEXT_FIELDS = ("ssid", "bssid", "uuid", "mac")
_INT_FIELDS = ("last_seen", "major", "minor")
#: Value fields no stream uses: an odd value there (``Infinity``, text) becomes NaN and is counted.
OPTIONAL_FIELDS = {"TYPE_WIFI": ("freq",), "TYPE_BEACON": ("tx_power", "distance")}
_VALUE_FIELDS = {
    **{k: v[1] for k, v in _NUMERIC_TYPES.items()},
    "TYPE_WIFI": _WIFI_FIELDS,
    "TYPE_BEACON": _BEACON_FIELDS,
}
#: The record types :func:`parse_trace` imports; everything else is counted and skipped.
KNOWN_RECORD_TYPES = tuple(_VALUE_FIELDS)
#: Documented types that are deliberately not imported (anything else is "unknown").
_DOCUMENTED_SKIPPED = (
    "TYPE_ACCELEROMETER_UNCALIBRATED",
    "TYPE_GYROSCOPE_UNCALIBRATED",
    "TYPE_MAGNETIC_FIELD_UNCALIBRATED",
)
_BEACON_IDS = ("uuid:major:minor:mac", "uuid:major:minor")
_SITE_RE = re.compile(r"^site(\d+)$")
_TRACE_SUFFIXES = (".txt", ".txt.xz")
#: A waypoint must lie within the floor extent (``floor_info.json``) widened by this fraction of
#: its width / height on every side (1.0: one floor size); farther out it is not on the floor.
WAYPOINT_MARGIN = 1.0

_SOURCE = {
    "dataset": "Microsoft Indoor Location Competition 2.0 (sample data)",
    "origin": "GitHub location-competition/indoor-location-competition-20, folder data/",
    "citation": "Microsoft Research & XYZ10, Indoor Location Competition 2.0 (Sample Data and Code), 2020; "
    "full data: Kaggle 'Indoor Location & Navigation' competition, 2021",
    "licence": "MIT (Copyright (c) 2017-2020 XYZ10, Inc.)",
}


# ============================================================================================== one trace
@dataclass
class Trace:
    """The content of one path file, by record type.

    All times are seconds relative to ``t0_unix_ms`` (the earliest imported record); each type is
    sorted by time (stable).

    Attributes
    ----------
    path : str
        The file read.
    meta : dict
        Header metadata: ``start_time_ms``, ``end_time_ms`` (Unix ms), ``site_id``, ``site_name``,
        ``floor_id``, ``floor_name``, ``brand``, ``model``, ``android``, ``api_level``,
        ``app_version``, ``sensors`` (one dict per ``#\\ttype:...`` line); absent keys are left out.
    t0_unix_ms : int
        Unix ms of ``t = 0``.
    waypoint : (K, 3) float64
        ``t`` s, ``x`` m, ``y`` m (floor-plan frame, y up).
    accelerometer, gyroscope, magnetometer : (N, 4) float64
        ``t`` s then x, y, z in m/s^2, rad/s, microtesla (device frame).
    rotation_vector : (N, 4) float64
        ``t`` s then the rotation vector x, y, z (sin(angle/2) times the axis).
    wifi : dict[str, ndarray]
        One entry per row: ``t`` (R,) s scan time, ``ssid``, ``bssid`` (R,) str, ``rssi`` (R,) dBm,
        ``freq`` (R,) MHz, ``last_seen`` (R,) s.
    beacon : dict[str, ndarray]
        One entry per row: ``t`` (B,) s, ``uuid``, ``mac`` (B,) str, ``major``, ``minor`` (B,) int,
        ``tx_power`` (B,) dBm, ``rssi`` (B,) dBm, ``distance`` (B,) m.
    skipped : dict[str, int]
        Data lines of record types that are not imported, per type.
    malformed : dict[str, int]
        Data lines dropped as malformed, per record type (only with ``on_malformed="skip"``).
    n_lines : int
        Lines in the file.
    lines : dict[str, (n,) int64]
        Per imported record type, the 1-based file line of each row, in the (sorted) order of the
        arrays above.
    warnings : dict[str, int]
        Odd values that did not stop the parse, per reason: values of :data:`OPTIONAL_FIELDS`
        made NaN, beacon rows dropped (``beacons=False``), header times ignored.
    """

    path: str
    meta: dict
    t0_unix_ms: int
    waypoint: np.ndarray
    accelerometer: np.ndarray
    gyroscope: np.ndarray
    magnetometer: np.ndarray
    rotation_vector: np.ndarray
    wifi: dict
    beacon: dict
    skipped: dict = field(default_factory=dict)
    malformed: dict = field(default_factory=dict)
    n_lines: int = 0
    lines: dict = field(default_factory=dict)
    warnings: dict = field(default_factory=dict)


_HEADER_KEYS = {
    "startTime": "start_time_ms",
    "endTime": "end_time_ms",
    "SiteID": "site_id",
    "SiteName": "site_name",
    "FloorId": "floor_id",
    "FloorName": "floor_name",
    "Brand": "brand",
    "Model": "model",
    "AndroidName": "android",
    "APILevel": "api_level",
    "VersionName": "app_version",
}


class _Reader:
    """Line-level bookkeeping of one trace: where a bad value is, and what to do about it."""

    def __init__(self, path: Path, on_malformed: str):
        self.path = path
        self.skip = on_malformed == "skip"
        self.malformed: Counter = Counter()
        self.warnings: Counter = Counter()

    def bad(self, lineno: int, rtype: str, fld: str, message: str) -> None:
        """Raise (``on_malformed="raise"``); with ``"skip"`` the caller drops the line and counts it once."""
        if not self.skip:
            raise DataError(f"line {lineno} ({rtype}): {message}", file=self.path, field=f"{rtype}.{fld}")

    def column(
        self, rows: list, linenos: list, col: int, rtype: str, fld: str, dtype, expected: str, mode: str = "required"
    ):
        """Column ``col`` of ``rows`` as ``dtype``; returns (values, ok) with ``ok`` False on rows to drop.

        ``mode``: ``"required"`` (a bad value raises, or drops the row with ``on_malformed="skip"``),
        ``"optional"`` (a bad value becomes NaN, counted in ``warnings``; float columns only) or
        ``"tolerant"`` (a bad value drops the row silently: the caller counts the dropped rows).
        """
        raw = [r[col] for r in rows]
        conv = int if dtype == np.int64 else float
        try:
            vals = np.array(raw, dtype=dtype)
            ok = np.ones(len(raw), dtype=bool)
        except (ValueError, OverflowError):
            vals = np.zeros(len(raw), dtype=dtype)
            ok = np.zeros(len(raw), dtype=bool)
            for i, s in enumerate(raw):
                try:
                    vals[i] = conv(s)
                    ok[i] = True
                except (ValueError, OverflowError):
                    if mode == "required":
                        self.bad(linenos[i], rtype, fld, f"{fld} is {s!r}; expected {expected}")
        if mode == "optional":
            self.warnings[f"{rtype}.{fld} not a number -> NaN"] += int(np.count_nonzero(~ok))
            finite = np.isfinite(vals)
            self.warnings[f"{rtype}.{fld} not a finite number -> NaN"] += int(np.count_nonzero(ok & ~finite))
            vals[~(ok & finite)] = np.nan
            return vals, np.ones(len(raw), dtype=bool)
        if dtype != np.int64:
            finite = np.isfinite(vals)
            if mode == "required":
                for i in np.flatnonzero(ok & ~finite):
                    self.bad(linenos[i], rtype, fld, f"{fld} is {raw[i]!r}; expected a finite number ({expected})")
            ok &= finite
        return vals, ok


def _open_text(path: Path):
    with open(path, "rb") as f:
        xz = f.read(len(_XZ_MAGIC)) == _XZ_MAGIC
    return lzma.open(path, "rt", encoding="utf-8") if xz else open(path, encoding="utf-8")


def _header(line: str, meta: dict, warnings: Counter) -> None:
    items = {}
    for tok in line.lstrip("#").strip().split("\t"):
        if ":" in tok:
            k, v = tok.split(":", 1)
            items[k.strip()] = v.strip()
    if "type" in items and "name" in items:  # a sensor spec line
        meta.setdefault("sensors", []).append(items)
        return
    for key, name in _HEADER_KEYS.items():
        if key in items:
            value = items[key]
            if name.endswith("_ms"):  # metadata only (t = 0 is the first record): an odd value is ignored
                try:
                    value = int(value)
                except ValueError:
                    warnings[f"header {key} not Unix milliseconds (ignored)"] += 1
                    continue
            meta[name] = value


def parse_trace(path, *, on_malformed: str = "raise", beacons: bool = True) -> Trace:
    """Parse one path file (``.txt`` or ``.txt.xz``, compression detected from the first bytes).

    Parameters
    ----------
    path : str or Path
        The trace file.
    on_malformed : {"raise", "skip"}
        What a malformed data line of an imported record type does (too few tab-separated values,
        a non-numeric or non-finite value in a field that matters, a non-integer timestamp, a line
        without a type): raise a :class:`DataError`, or drop the line and count it in
        ``Trace.malformed``.
    beacons : bool
        Whether the beacon rows matter (the importer's ``include_beacons``). False: a
        ``TYPE_BEACON`` row with a bad timestamp, RSSI, major or minor is dropped and counted in
        ``Trace.warnings`` instead of stopping the parse.

    Odd values in fields no stream uses (:data:`OPTIONAL_FIELDS`: WiFi ``freq``, beacon
    ``tx_power`` and ``distance``, e.g. a distance of ``Infinity``) become NaN, and an unreadable
    header ``startTime`` / ``endTime`` is left out of ``meta``; both are counted in
    ``Trace.warnings`` and never stop the parse.

    Returns
    -------
    Trace

    Raises
    ------
    DataError
        Missing file, truncated or corrupted xz, non-UTF-8 text, malformed data line (message:
        file, line number, record type and value name; ``field="TYPE.value"``), no imported
        record at all, records spanning more than a day (a broken timestamp, see
        :func:`~omniloc.data.loaders._phone_log.check_log_span`).
    """
    if on_malformed not in ("raise", "skip"):
        raise ValueError(f"on_malformed must be 'raise' or 'skip', got {on_malformed!r}")
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found; expected a trace file (.txt or .txt.xz)", file=path)
    reader = _Reader(path, on_malformed)
    rows: dict[str, list] = {k: [] for k in KNOWN_RECORD_TYPES}
    linenos: dict[str, list] = {k: [] for k in KNOWN_RECORD_TYPES}
    skipped: Counter = Counter()
    meta: dict = {}
    lineno = 0
    try:
        with _open_text(path) as fh:
            for lineno, line in enumerate(fh, 1):
                if line.startswith("#"):
                    _header(line, meta, reader.warnings)
                    continue
                parts = line.rstrip("\r\n").split("\t")
                if len(parts) < 2:
                    if line.strip():
                        reader.bad(
                            lineno,
                            "?",
                            "type",
                            f"{line.strip()[:60]!r} has no record type; expected 'unix_ms <TAB> TYPE <TAB> values...'",
                        )
                        reader.malformed["?"] += 1
                    continue
                rtype = parts[1]
                bucket = rows.get(rtype)
                if bucket is None:
                    skipped[rtype] += 1
                    continue
                need = _VALUE_FIELDS[rtype]
                if len(parts) < 2 + len(need) and rtype == "TYPE_BEACON" and not beacons:
                    reader.warnings["TYPE_BEACON row with too few fields dropped (beacons not imported)"] += 1
                    continue
                if len(parts) < 2 + len(need):
                    reader.bad(
                        lineno,
                        rtype,
                        need[len(parts) - 2] if len(parts) >= 2 else "timestamp",
                        f"{len(parts)} tab-separated fields; expected at least {2 + len(need)}: "
                        f"unix_ms, {rtype}, {', '.join(need)}",
                    )
                    reader.malformed[rtype] += 1
                    continue
                bucket.append(parts)
                linenos[rtype].append(lineno)
    except (EOFError, lzma.LZMAError) as e:
        raise DataError(
            f"truncated or corrupted xz stream after line {lineno} ({type(e).__name__}: {e}); "
            "expected a complete .xz file",
            file=path,
        ) from None
    except UnicodeDecodeError as e:
        raise DataError(
            f"not UTF-8 text after line {lineno} ({e}); expected a tab-separated trace", file=path
        ) from None
    except OSError as e:
        raise DataError(f"could not read the file ({type(e).__name__}: {e})", file=path) from None

    # ---- numbers, per type; times stay int64 Unix ms until t0 is known
    tables: dict[str, dict] = {}
    for rtype in KNOWN_RECORD_TYPES:
        rr, ln = rows[rtype], linenos[rtype]
        mode = "tolerant" if rtype == "TYPE_BEACON" and not beacons else "required"
        ts, ok = reader.column(rr, ln, 0, rtype, "timestamp", np.int64, "Unix milliseconds (an integer)", mode)
        cols = {"unix_ms": ts, "line": np.asarray(ln, dtype=np.int64)}
        for j, fld in enumerate(_VALUE_FIELDS[rtype]):
            if fld not in _TEXT_FIELDS:
                dtype = np.int64 if fld in _INT_FIELDS else np.float64
                what = (
                    "Unix milliseconds (an integer)"
                    if fld == "last_seen"
                    else ("an integer" if dtype == np.int64 else "a number")
                )
                fmode = "optional" if fld in OPTIONAL_FIELDS.get(rtype, ()) else mode
                cols[fld], ok_j = reader.column(rr, ln, 2 + j, rtype, fld, dtype, what, fmode)
                ok &= ok_j
            else:
                cols[fld] = np.array([r[2 + j] for r in rr], dtype=str)
        if not ok.all():
            if mode == "tolerant":
                reader.warnings[
                    f"{rtype} row with a bad timestamp, rssi, major or minor dropped (beacons not imported)"
                ] += int(np.count_nonzero(~ok))
            else:
                reader.malformed[rtype] += int(np.count_nonzero(~ok))
            cols = {k: v[ok] for k, v in cols.items()}
        order = np.argsort(cols["unix_ms"], kind="stable")
        tables[rtype] = {k: v[order] for k, v in cols.items()}
    check_log_span({ty: (tab["unix_ms"], tab["line"]) for ty, tab in tables.items()}, path, unit="ms")

    firsts = [int(tab["unix_ms"][0]) for tab in tables.values() if len(tab["unix_ms"])]
    if not firsts:
        raise DataError(
            f"no data record of the imported types {list(KNOWN_RECORD_TYPES)} in {lineno} lines; "
            "expected a trace with 'unix_ms <TAB> TYPE <TAB> values' lines",
            file=path,
        )
    t0 = min(firsts)

    def sec(ms):
        return (np.asarray(ms, dtype=np.int64) - t0) / 1000.0

    def xyz(rtype):
        tab = tables[rtype]
        names = _NUMERIC_TYPES[rtype][1]
        return np.column_stack([sec(tab["unix_ms"])] + [tab[n] for n in names]).reshape(-1, 1 + len(names))

    w, b = tables["TYPE_WIFI"], tables["TYPE_BEACON"]
    return Trace(
        path=str(path),
        meta=meta,
        t0_unix_ms=t0,
        waypoint=xyz("TYPE_WAYPOINT"),
        accelerometer=xyz("TYPE_ACCELEROMETER"),
        gyroscope=xyz("TYPE_GYROSCOPE"),
        magnetometer=xyz("TYPE_MAGNETIC_FIELD"),
        rotation_vector=xyz("TYPE_ROTATION_VECTOR"),
        wifi={
            "t": sec(w["unix_ms"]),
            "ssid": w["ssid"],
            "bssid": w["bssid"],
            "rssi": w["rssi"],
            "freq": w["freq"],
            "last_seen": sec(w["last_seen"]),
        },
        beacon={
            "t": sec(b["unix_ms"]),
            "uuid": b["uuid"],
            "major": b["major"],
            "minor": b["minor"],
            "tx_power": b["tx_power"],
            "rssi": b["rssi"],
            "distance": b["distance"],
            "mac": b["mac"],
        },
        skipped=dict(sorted(skipped.items())),
        malformed=dict(sorted(reader.malformed.items())),
        n_lines=lineno,
        lines={ty: tab["line"] for ty, tab in tables.items()},
        warnings={k: int(v) for k, v in sorted(reader.warnings.items()) if v},
    )


# ============================================================================================== trace -> streams
def _wifi_stream(trace: Trace, max_wifi_age_s: float | None) -> tuple[Stream, dict]:
    w = trace.wifi
    n_rows = len(w["t"])
    if max_wifi_age_s is None:
        fresh = np.ones(n_rows, dtype=bool)
    else:  # both times are whole milliseconds: compare in ms so that the threshold is exact
        fresh = np.rint((w["t"] - w["last_seen"]) * 1000.0) <= max_wifi_age_s * 1000.0 + 1e-6
    n_scans_all = len(np.unique(w["t"]))
    times, values, ids, merged = scan_matrix(w["t"][fresh], w["bssid"][fresh], w["rssi"][fresh], w["last_seen"][fresh])
    stats = {
        "rows": n_rows,
        "cached_rows_dropped": int(n_rows - fresh.sum()),
        "duplicate_rows_merged": merged,
        "scans": n_scans_all,
        "stale_scans_dropped": int(n_scans_all - len(times)),
    }
    meta = {
        "unit": "dBm",
        "not_heard": "NaN",
        "ids": "BSSID",
        "source": "TYPE_WIFI",
        "scan_time": "system time at scan completion (the rows of one scan share it)",
        "max_wifi_age_s": max_wifi_age_s,
        **stats,
    }
    return Stream("wifi", times, values, ids=ids, meta=meta), stats


def _beacon_stream(trace: Trace, beacon_id: str) -> Stream:
    b = trace.beacon
    ids = np.char.add(
        np.char.add(np.char.add(b["uuid"].astype(str), ":"), b["major"].astype(str)),
        np.char.add(":", b["minor"].astype(str)),
    )
    if beacon_id == "uuid:major:minor:mac":
        ids = np.char.add(np.char.add(ids, ":"), b["mac"].astype(str))
    times, values, uid, merged = scan_matrix(b["t"], ids, b["rssi"])
    return Stream(
        "wifi",
        times,
        values,
        ids=uid,
        meta={
            "unit": "dBm",
            "not_heard": "NaN",
            "ids": beacon_id,
            "source": "TYPE_BEACON",
            "rows": int(len(ids)),
            "duplicate_rows_merged": merged,
        },
    )


def _imu_stream(trace: Trace) -> tuple[Stream | None, str]:
    acc, gyr = trace.accelerometer, trace.gyroscope
    if len(acc) == 0 or len(gyr) == 0:
        return None, f"no imu stream: {len(acc)} accelerometer and {len(gyr)} gyroscope samples"
    values, same, _ = imu_values(acc[:, 0], acc[:, 1:], gyr[:, 0], gyr[:, 1:])
    timing = (
        "same timestamps as the accelerometer"
        if same
        else "linearly interpolated onto the accelerometer timestamps (held constant beyond its ends)"
    )
    return Stream(
        "imu",
        acc[:, 0],
        values,
        ids=np.array(["acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"]),
        meta={
            "unit": "m/s^2 (accelerometer), rad/s (gyroscope)",
            "frame": "Android device frame",
            "source": "TYPE_ACCELEROMETER + TYPE_GYROSCOPE",
            "gyroscope_timing": timing,
        },
    ), timing


def _rotation_stream(trace: Trace) -> Stream:
    rv = trace.rotation_vector
    return Stream(
        "vector",
        rv[:, 0],
        rotation_quaternions(rv[:, 1:4]),
        ids=np.array(["w", "x", "y", "z"]),
        meta={
            "unit": "unit quaternion (w, x, y, z)",
            "source": "TYPE_ROTATION_VECTOR (x, y, z)",
            "w": "sqrt(1 - |v|^2), then renormalised",
            "frame": "rotates the Android device frame into Android's east-north-up world frame",
        },
    )


def _check_waypoints(trace: Trace, extent_m) -> None:
    """Waypoints finite, on the floor (its extent widened by :data:`WAYPOINT_MARGIN`), one position per time."""
    wp = trace.waypoint
    lo = hi = None
    what = ""
    if extent_m is not None:
        w, h = extent_m
        lo = np.array([-WAYPOINT_MARGIN * w, -WAYPOINT_MARGIN * h])
        hi = np.array([(1 + WAYPOINT_MARGIN) * w, (1 + WAYPOINT_MARGIN) * h])
        what = f"the floor extent {w:g} x {h:g} m of floor_info.json, widened by {WAYPOINT_MARGIN:g} times its size"
    check_ground_truth(
        wp[:, 0],
        wp[:, 1:3],
        trace.lines.get("TYPE_WAYPOINT", np.zeros(len(wp), dtype=np.int64)),
        file=trace.path,
        field="TYPE_WAYPOINT",
        lo=lo,
        hi=hi,
        extent=what,
    )


def _recording(
    trace: Trace,
    name: str,
    *,
    floor: int,
    building: int,
    floor_name: str,
    site: str,
    floor_height_m: float,
    max_wifi_age_s: float | None,
    include_beacons: bool,
    beacon_id: str,
    extent_m=None,
) -> tuple[Recording, dict]:
    wp = trace.waypoint
    if len(wp) == 0:
        raise DataError(
            "no TYPE_WAYPOINT line; expected at least one ground-truth waypoint per path",
            file=trace.path,
            field="TYPE_WAYPOINT",
        )
    _check_waypoints(trace, extent_m)
    n = len(wp)
    streams: dict[str, Stream] = {}
    imu, timing = _imu_stream(trace)
    if imu is not None:
        streams["imu"] = imu
    if len(trace.magnetometer):
        streams["magnetometer"] = Stream(
            "magnetometer",
            trace.magnetometer[:, 0],
            trace.magnetometer[:, 1:].astype(np.float32),
            meta={"unit": "uT", "frame": "Android device frame (calibrated)", "source": "TYPE_MAGNETIC_FIELD"},
        )
    if len(trace.rotation_vector):
        streams["rotation_vector"] = _rotation_stream(trace)
    wifi, wifi_stats = _wifi_stream(trace, max_wifi_age_s)
    streams["wifi"] = wifi
    if include_beacons:
        streams["beacon"] = _beacon_stream(trace, beacon_id)
    m = trace.meta
    meta = {
        "site": site,
        "path_id": Path(trace.path).name.split(".")[0],
        "floor_name": floor_name,
        "source_file": f"{site}/{floor_name}/path_data_files/{Path(trace.path).name}",
        "t0_unix_ms": int(trace.t0_unix_ms),
        "pose_source": "waypoints (linear interpolation in time between taps)",
        "waypoint_span_s": [float(wp[0, 0]), float(wp[-1, 0])],
        "evaluation_note": "ground truth only covers waypoint_span_s; sensor samples outside it have none",
        "device": " ".join(x for x in (m.get("brand"), m.get("model")) if x) or None,
        "imu": timing,
        **{k: m[k] for k in ("site_id", "site_name", "floor_id", "android", "start_time_ms", "end_time_ms") if k in m},
    }
    rec = Recording(
        name,
        wp[:, 0],
        position=np.column_stack([wp[:, 1], wp[:, 2], np.full(n, floor * floor_height_m)]),
        floor=np.full(n, floor, dtype=np.int64),
        building=np.full(n, building, dtype=np.int64),
        zone=np.full(n, floor_name),
        streams=streams,
        meta=meta,
    )
    return rec.validate(file=trace.path), wifi_stats


# ============================================================================================== floors and plans
def floor_index(name: str, floor_map: dict | None = None) -> int:
    """Floor number of a floor name, as in the Kaggle "Indoor Location & Navigation" competition.

    ``B<n>`` -> ``-n`` (``B1 = -1``), ``F<n>``, ``<n>F`` and ``L<n>`` -> ``n - 1`` (``F1 = 0``,
    ``F2 = 1``). ``floor_map`` (name -> int) takes precedence.

    Raises
    ------
    DataError
        A name that matches none of these patterns and is not in ``floor_map``.
    """
    if floor_map and name in floor_map:
        return int(floor_map[name])
    m = re.fullmatch(r"B(\d+)", name)
    if m:
        return -int(m.group(1))
    m = re.fullmatch(r"F(\d+)|(\d+)F|L(\d+)", name)
    if m:
        return int(next(g for g in m.groups() if g is not None)) - 1
    raise DataError(
        f"unknown floor name {name!r}; expected B<n> (basement, -n), F<n>, <n>F or L<n> (n - 1), "
        "or pass floor_map={name: int}",
        field="FloorName",
    )


def _floor_info(floor_dir: Path) -> tuple[float, float]:
    path = floor_dir / "floor_info.json"
    if not path.is_file():
        raise DataError(
            'file not found; expected {"map_info": {"width": W_m, "height": H_m}} (floor extent in metres)', file=path
        )
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(
            f'invalid JSON ({e}); expected {{"map_info": {{"width": W_m, "height": H_m}}}}', file=path
        ) from None
    if not isinstance(info, dict) or not isinstance(info.get("map_info"), dict):
        raise DataError(
            'missing object; expected {"map_info": {"width": W_m, "height": H_m}}', file=path, field="map_info"
        )
    out = []
    for key in ("width", "height"):
        val = info["map_info"].get(key)
        if isinstance(val, bool) or not isinstance(val, (int, float)) or not math.isfinite(val) or val <= 0:
            raise DataError(f"is {val!r}; expected a positive number of metres", file=path, field=f"map_info.{key}")
        out.append(float(val))
    return out[0], out[1]


def _rings(geometry: dict, path: Path, where: str) -> list[np.ndarray]:
    """The outer rings (P, 2) lon/lat of a GeoJSON Polygon or MultiPolygon (holes are not used)."""
    kind = geometry.get("type") if isinstance(geometry, dict) else None
    coords = geometry.get("coordinates") if isinstance(geometry, dict) else None
    if kind not in ("Polygon", "MultiPolygon") or not isinstance(coords, list):
        raise DataError(f"is {kind!r}; expected a Polygon or MultiPolygon geometry", file=path, field=where)
    polys = coords if kind == "MultiPolygon" else [coords]
    out = []
    for poly in polys:
        try:
            ring = np.asarray(poly[0], dtype=np.float64)
        except (TypeError, ValueError, IndexError):
            raise DataError("expected rings of [lon, lat] pairs", file=path, field=where) from None
        if ring.ndim != 2 or ring.shape[1] < 2 or len(ring) < 3 or not np.isfinite(ring).all():
            raise DataError(
                f"expected a ring of >= 3 finite [lon, lat] pairs, got shape {ring.shape}", file=path, field=where
            )
        out.append(ring[:, :2])
    return out


def read_geojson_map(path, width_m: float, height_m: float, floor_name: str = "floor") -> dict:
    """Walkable space of one floor from ``geojson_map.json``, in the waypoint frame (module docstring).

    Parameters
    ----------
    path : str or Path
        ``<site>/<FLOOR>/geojson_map.json``.
    width_m, height_m : float
        The floor extent of ``floor_info.json``: the outline's bounding box maps onto ``(0, 0, W, H)``.
    floor_name : str
        Label of the outline zones.

    Returns
    -------
    dict with ``zones`` (outline parts), ``obstacles`` (label -> (P, 2) metres), ``walls``
    (W, 2, 2) metres (every polygon edge) and ``meta`` (the lon/lat box, counts).

    Raises
    ------
    DataError
        Unreadable JSON, no ``"floor"`` feature, a malformed geometry, or a degenerate outline.
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"not readable GeoJSON ({e}); expected a FeatureCollection", file=path) from None
    features = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(features, list):
        raise DataError("missing list; expected a GeoJSON FeatureCollection", file=path, field="features")
    floors = [
        k
        for k, f in enumerate(features)
        if isinstance(f, dict) and isinstance(f.get("properties"), dict) and f["properties"].get("type") == "floor"
    ]
    if not floors:
        raise DataError(
            'no feature with properties.type == "floor" (the outline of the floor)', file=path, field="features"
        )
    outline = _rings(features[floors[0]].get("geometry"), path, f"features[{floors[0]}].geometry")
    box = np.concatenate(outline)
    lo, hi = box.min(axis=0), box.max(axis=0)
    if not np.all(hi - lo > 0):
        raise DataError(f"the floor outline spans {(hi - lo).tolist()} degrees; expected an area", file=path)
    scale = np.array([width_m, height_m]) / (hi - lo)

    def metres(ring):
        return (ring - lo) * scale

    zones = {floor_name if k == 0 else f"{floor_name}-{k + 1}": metres(r) for k, r in enumerate(outline)}
    obstacles = {}
    for k, f in enumerate(features):
        if k == floors[0] or not isinstance(f, dict):
            continue
        props = f.get("properties") if isinstance(f.get("properties"), dict) else {}
        label = str(props.get("display") or props.get("name") or "unnamed").strip() or "unnamed"
        for m, ring in enumerate(_rings(f.get("geometry"), path, f"features[{k}].geometry")):
            obstacles[f"{label} #{k}" + (f".{m + 1}" if m else "")] = metres(ring)
    polys = list(zones.values()) + list(obstacles.values())
    walls = np.concatenate([np.stack([p, np.roll(p, -1, axis=0)], axis=1) for p in polys])
    walls = walls[np.linalg.norm(walls[:, 1] - walls[:, 0], axis=1) > 1e-9]
    meta = {
        "geojson": str(path),
        "geojson_lonlat_box": [*lo.tolist(), *hi.tolist()],
        "n_outline_parts": len(outline),
        "n_obstacles": len(obstacles),
        "walls_are_polygon_edges": True,
    }
    return {"zones": zones, "obstacles": obstacles, "walls": walls, "meta": meta}


def read_floor_plan(
    floor_dir,
    *,
    name: str | None = None,
    floor: int | None = None,
    building: int = 0,
    floor_height_m: float = 0.0,
    max_raster_px: int = 2000,
    floor_map: dict | None = None,
    geojson: bool = True,
) -> FloorPlan:
    """The :class:`FloorPlan` of one floor folder (``floor_info.json`` + ``floor_image.png`` +
    ``geojson_map.json``).

    Parameters
    ----------
    floor_dir : str or Path
        ``<site>/<FLOOR>``.
    name : str, optional
        Plan name; default ``"<site folder>-<FLOOR>"``.
    floor : int, optional
        Floor number; default :func:`floor_index` of the folder name.
    building : int
    floor_height_m : float
        ``elevation_m = floor * floor_height_m``.
    max_raster_px : int
        Images wider or taller than this are downsampled (box filter) so that the larger side
        is ``max_raster_px``; the transform follows the stored raster.
    floor_map : dict, optional
        Passed to :func:`floor_index`.
    geojson : bool
        Read ``geojson_map.json`` when the folder has one (:func:`read_geojson_map`).

    Returns
    -------
    FloorPlan
        ``bounds = (0, 0, W, H)`` metres; zones, obstacles and walls from ``geojson_map.json``
        (none without it), ``raster`` (h, w, 3) uint8 (the PNG
        composited on white) or None when there is no ``floor_image.png``, ``pixel_to_metre``
        (3, 3) with ``x = (col + 0.5) W / w``, ``y = H - (row + 0.5) H / h``.

    Raises
    ------
    DataError
        Missing or malformed ``floor_info.json``; unreadable image.
    """
    from PIL import Image, UnidentifiedImageError

    floor_dir = Path(floor_dir)
    width_m, height_m = _floor_info(floor_dir)
    floor = floor_index(floor_dir.name, floor_map) if floor is None else int(floor)
    name = name or f"{floor_dir.parent.name}-{floor_dir.name}"
    image = floor_dir / "floor_image.png"
    raster = transform = None
    meta = {
        "source": str(floor_dir),
        "frame": "metres, origin at the bottom-left of floor_image.png, x right, y up",
        "map_info_m": [width_m, height_m],
    }
    if image.is_file():
        try:
            with Image.open(image) as im:
                im.load()
                rgba = im.convert("RGBA")
        except (UnidentifiedImageError, OSError, SyntaxError) as e:
            raise DataError(
                f"not a readable image ({type(e).__name__}: {e}); expected a PNG floor map", file=image
            ) from None
        meta["image_px"] = list(rgba.size)
        scale = max_raster_px / max(rgba.size)
        if scale < 1:
            rgba = rgba.resize((max(1, round(rgba.size[0] * scale)), max(1, round(rgba.size[1] * scale))), Image.BOX)
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        white.alpha_composite(rgba)
        raster = np.asarray(white.convert("RGB"), dtype=np.uint8)
        h, w = raster.shape[:2]
        sx, sy = width_m / w, height_m / h
        transform = np.array([[sx, 0.0, 0.5 * sx], [0.0, -sy, height_m - 0.5 * sy], [0.0, 0.0, 1.0]])
        meta["raster_kind"] = "image (PNG on white: white = transparent = corridors and outside, light blue = shops)"
    else:
        meta["raster_kind"] = "none (floor_image.png not found)"
    walls, zones, obstacles = np.zeros((0, 2, 2)), {}, {}
    if geojson and (floor_dir / "geojson_map.json").is_file():
        g = read_geojson_map(floor_dir / "geojson_map.json", width_m, height_m, floor_name=floor_dir.name)
        walls, zones, obstacles = g["walls"], g["zones"], g["obstacles"]
        meta.update(g["meta"])
    return FloorPlan(
        name,
        walls,
        zones=zones,
        obstacles=obstacles,
        floor=floor,
        building=building,
        bounds=np.array([0.0, 0.0, width_m, height_m]),
        elevation_m=floor * floor_height_m,
        raster=raster,
        pixel_to_metre=transform,
        meta=meta,
    ).validate(file=floor_dir / "floor_info.json")


# ============================================================================================== datasets
def _is_site(folder: Path) -> bool:
    return folder.is_dir() and any((f / "path_data_files").is_dir() for f in folder.iterdir() if f.is_dir())


def _sites(src: Path) -> list[Path]:
    if not src.exists():
        raise DataError("not found; expected an Indoor Location Competition site folder or a folder of sites", file=src)
    if _is_site(src):
        return [src]
    sites = sorted(d for d in src.iterdir() if not d.name.startswith(".") and _is_site(d)) if src.is_dir() else []
    if not sites:
        raise DataError(
            "no site found; expected SRC/<FLOOR>/path_data_files/*.txt[.xz] (a site folder) or "
            "SRC/<site>/<FLOOR>/path_data_files/... (a folder of sites)",
            file=src,
        )
    return sites


def _building_ids(sites: list[Path]) -> dict[str, int]:
    names = [s.name for s in sites]
    if all(_SITE_RE.match(n) for n in names):
        return {n: int(_SITE_RE.match(n).group(1)) - 1 for n in names}
    return {n: i for i, n in enumerate(names)}


def _trace_files(floor_dir: Path) -> dict[str, Path]:
    """path id -> file (a plain ``.txt`` wins over ``.txt.xz`` of the same id), sorted by id."""
    found: dict[str, Path] = {}
    for p in sorted((floor_dir / "path_data_files").iterdir()):
        for suffix in _TRACE_SUFFIXES[::-1]:
            if p.name.endswith(suffix) and p.is_file():
                pid = p.name[: -len(suffix)]
                if pid not in found or suffix == ".txt":
                    found[pid] = p
                break
    return dict(sorted(found.items()))


def _spread(n: int, k: int | None) -> list[int]:
    """``k`` indices spread over ``range(n)``: ``floor(i n / k)``, i = 0..k-1 (all when k is None or >= n)."""
    if k is None or k >= n:
        return list(range(n))
    if k < 0:
        raise ValueError(f"max_paths_per_floor must be >= 0, got {k}")
    return [(i * n) // k for i in range(k)]


def load_indoor_competition(
    src,
    floors=None,
    *,
    paths=None,
    max_paths_per_floor: int | None = None,
    max_wifi_age_s: float | None = DEFAULT_MAX_WIFI_AGE_S,
    floor_height_m: float = 0.0,
    floor_map: dict | None = None,
    include_beacons: bool = False,
    beacon_id: str = "uuid:major:minor:mac",
    on_malformed: str = "raise",
    max_raster_px: int = 2000,
    name: str | None = None,
) -> Dataset:
    """Read Indoor Location Competition 2.0 sites into a :class:`~omniloc.data.Dataset` (no splits).

    See the module docstring for the mapping of fields, units and frames.

    Parameters
    ----------
    src : str or Path
        A site folder (``.../indoor-location-competition-20/site1``) or a folder of site folders.
    floors : iterable of str, optional
        Floor names to load (``["F1", "F2"]``); default all.
    paths : iterable of str, optional
        Path ids to load (default all); an id not found is a :class:`DataError`.
    max_paths_per_floor : int, optional
        Load at most this many paths per floor, spread over the sorted file names
        (indices ``floor(i n / k)``), for quick tests and benches.
    max_wifi_age_s : float or None
        WiFi rows whose ``last_seen`` is older than their scan by more than this (seconds) are
        cached results and dropped; None keeps all. Default 2.4 s (see the module docstring).
    floor_height_m : float
        ``z = floor * floor_height_m`` (0: every ``z`` is 0; the floor is in ``floor``).
    floor_map : dict, optional
        Floor name -> number, for names :func:`floor_index` does not know.
    include_beacons : bool
        Add the iBeacon stream ``beacon`` (kind ``wifi``).
    beacon_id : {"uuid:major:minor:mac", "uuid:major:minor"}
        Beacon column ids.
    on_malformed : {"raise", "skip"}
        See :func:`parse_trace`.
    max_raster_px : int
        See :func:`read_floor_plan`.
    name : str, optional
        Dataset name; default ``"indoor-competition-<site>"`` for one site, else ``"indoor-competition"``.

    Returns
    -------
    Dataset
        One recording per path file (ordered by site, floor, path id), one floor plan per loaded
        (site, floor), provenance with the source, selection, record counts, skipped record types,
        dropped cached WiFi rows and malformed lines.
    """
    if beacon_id not in _BEACON_IDS:
        raise ValueError(f"beacon_id must be one of {_BEACON_IDS}, got {beacon_id!r}")
    if max_wifi_age_s is not None and not max_wifi_age_s >= 0:
        raise ValueError(f"max_wifi_age_s must be >= 0 seconds or None, got {max_wifi_age_s!r}")
    src = Path(src)
    sites = _sites(src)
    buildings = _building_ids(sites)
    wanted_floors = None if floors is None else [str(f) for f in ([floors] if isinstance(floors, str) else floors)]
    wanted_paths = None if paths is None else {str(p) for p in ([paths] if isinstance(paths, str) else paths)}

    recordings: dict[str, Recording] = {}
    plans: dict[str, FloorPlan] = {}
    record_counts: Counter = Counter()
    skipped: Counter = Counter()
    malformed: Counter = Counter()
    wifi_totals: Counter = Counter()
    warnings = ImportWarnings()
    floor_errors: list[DataError] = []
    n_files, floor_numbers, seen_floors, seen_paths = 0, {}, set(), set()
    for site in sites:
        floor_dirs = sorted(d for d in site.iterdir() if (d / "path_data_files").is_dir())
        seen_floors.update(d.name for d in floor_dirs)
        for fdir in floor_dirs:
            if wanted_floors is not None and fdir.name not in wanted_floors:
                continue
            files = _trace_files(fdir)
            ids = list(files)
            if wanted_paths is not None:
                ids = [i for i in ids if i in wanted_paths]
            ids = [ids[i] for i in _spread(len(ids), max_paths_per_floor)]
            if not ids:
                continue
            try:
                floor = floor_index(fdir.name, floor_map)
            except DataError as e:
                if wanted_floors is not None:  # asked for by name: the user must say its number
                    raise DataError(e.reason, file=fdir, field=e.field) from None
                floor_errors.append(DataError(e.reason, file=fdir, field=e.field))
                warnings.add(
                    f"{site.name}/{fdir.name}",
                    f"unknown floor name {fdir.name!r}: floor folder skipped "
                    "(pass floor_map={name: number} to import it)",
                    len(ids),
                )
                continue
            building = buildings[site.name]
            plan = read_floor_plan(
                fdir, floor=floor, building=building, floor_height_m=floor_height_m, max_raster_px=max_raster_px
            )
            plans[plan.name] = plan
            floor_numbers[plan.name] = floor
            extent = (float(plan.bounds[2] - plan.bounds[0]), float(plan.bounds[3] - plan.bounds[1]))
            for pid in ids:
                trace = parse_trace(files[pid], on_malformed=on_malformed, beacons=include_beacons)
                header_floor = trace.meta.get("floor_name")
                if header_floor is not None and header_floor != fdir.name:
                    raise DataError(
                        f"header FloorName is {header_floor!r} but the file is in floor folder "
                        f"{fdir.name!r}; expected them to agree",
                        file=files[pid],
                        field="FloorName",
                    )
                rec, wstats = _recording(
                    trace,
                    f"{site.name}-{fdir.name}-{pid}",
                    floor=floor,
                    building=building,
                    floor_name=fdir.name,
                    site=site.name,
                    floor_height_m=floor_height_m,
                    max_wifi_age_s=max_wifi_age_s,
                    include_beacons=include_beacons,
                    beacon_id=beacon_id,
                    extent_m=extent,
                )
                recordings[rec.name] = rec
                source_file = rec.meta["source_file"]
                warnings.update(source_file, trace.warnings)
                for rtype, n_bad in trace.malformed.items():
                    warnings.add(source_file, f"malformed {rtype} line dropped (on_malformed='skip')", n_bad)
                seen_paths.add(pid)
                n_files += 1
                skipped.update(trace.skipped)
                malformed.update(trace.malformed)
                wifi_totals.update(wstats)
                for rtype, arr in (
                    ("TYPE_WAYPOINT", trace.waypoint),
                    ("TYPE_ACCELEROMETER", trace.accelerometer),
                    ("TYPE_GYROSCOPE", trace.gyroscope),
                    ("TYPE_MAGNETIC_FIELD", trace.magnetometer),
                    ("TYPE_ROTATION_VECTOR", trace.rotation_vector),
                    ("TYPE_WIFI", trace.wifi["t"]),
                    ("TYPE_BEACON", trace.beacon["t"]),
                ):
                    record_counts[rtype] += len(arr)
    if wanted_floors is not None:
        unknown = sorted(set(wanted_floors) - seen_floors)
        if unknown:
            raise DataError(
                f"no floor folder {unknown}; the source has {sorted(seen_floors)}", file=src, field="floors"
            )
    if wanted_paths is not None:
        unknown = sorted(wanted_paths - seen_paths)
        if unknown and max_paths_per_floor is None:
            raise DataError(f"no path file for ids {unknown[:5]}", file=src, field="paths")
    if not recordings:
        if floor_errors:
            raise floor_errors[0]
        raise DataError("no path file selected; expected <FLOOR>/path_data_files/*.txt[.xz] files", file=src)

    name = name or (f"indoor-competition-{sites[0].name}" if len(sites) == 1 else "indoor-competition")
    provenance = {
        **_SOURCE,
        "importer": "omniloc.data.loaders.indoor_competition",
        "source": str(src),
        "files": n_files,
        "sites": {s.name: buildings[s.name] for s in sites},
        "floors": floor_numbers,
        "selection": {
            "floors": wanted_floors,
            "paths": None if wanted_paths is None else sorted(wanted_paths),
            "max_paths_per_floor": max_paths_per_floor,
            "rule": "per floor: sorted path ids, indices floor(i n / k), i = 0..k-1",
        },
        "record_counts": dict(sorted(record_counts.items())),
        "skipped_record_types": dict(sorted(skipped.items())),
        "unknown_record_types": sorted(t for t in skipped if t not in _DOCUMENTED_SKIPPED),
        "malformed_lines": dict(sorted(malformed.items())),
        "malformed_lines_total": int(sum(malformed.values())),
        "on_malformed": on_malformed,
        "import_warnings": warnings.to_json(),
        "wifi": {
            "max_wifi_age_s": max_wifi_age_s,
            "rule": "row dropped when scan time - last_seen > max_wifi_age_s",
            **{k: int(v) for k, v in wifi_totals.items()},
        },
        "cached_wifi_rows_dropped": int(wifi_totals["cached_rows_dropped"]),
        "beacons": {"included": include_beacons, "ids": beacon_id},
        "frame": "x, y metres in the floor-plan frame (origin bottom-left of floor_image.png, x right, y up); "
        f"z = floor * {float(floor_height_m):g} m",
        "floor_height_m": float(floor_height_m),
        "floor_numbering": "Kaggle: B<n> = -n, F<n> = n - 1 (B1 = -1, F1 = 0, F2 = 1)",
        "building": "siteN -> N - 1 (else the site's index among the sorted site folders)",
        "time": "seconds since each trace's first imported record (meta t0_unix_ms)",
        "pose_source": "waypoints (linear interpolation in time between taps)",
        "evaluation_note": "ground truth covers only each recording's waypoint span (meta waypoint_span_s)",
    }
    return Dataset(name, recordings, plans, {}, provenance)


def import_indoor_competition(
    src, *, test_fraction: float = 0.1, seed: int = 0, name: str | None = None, **load_opts
) -> Dataset:
    """``omniloc import indoor-competition SRC``: read sites and split them by path.

    Parameters
    ----------
    src : str or Path
        A site folder or a folder of sites (see :func:`load_indoor_competition`).
    test_fraction, seed
        See :func:`~omniloc.data.splits.split_by_groups`: whole recordings (paths)
        go to ``test`` until about ``test_fraction`` of the waypoints are there.
    name : str, optional
        Dataset name.
    **load_opts
        Passed to :func:`load_indoor_competition` (``floors``, ``paths``, ``max_paths_per_floor``,
        ``max_wifi_age_s``, ``floor_height_m``, ``floor_map``, ``include_beacons``, ``beacon_id``,
        ``on_malformed``, ``max_raster_px``).
    """
    ds = load_indoor_competition(src, name=name, **load_opts)
    out = split_import(ds, test_fraction, seed, src, unit="path file")
    out.provenance["split"]["by"] = "recording (one path file); sizes in waypoints"
    return out
