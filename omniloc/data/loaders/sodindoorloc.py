"""SODIndoorLoc (WiFi RSS fingerprints, 3 buildings, surveyed AP positions) -> :class:`omniloc.data.Dataset`.

SODIndoorLoc (Bi et al., Satellite Navigation 3, 25, 2022) was designed to be UJIIndoorLoc-compatible:
one CSV per building and role, one row per scan with the RSS columns ``MACn`` (dBm, integers)
followed by ``ECoord``, ``NCoord``, ``FloorID``, ``BuildingID``, ``SceneID``, ``UserID``,
``PhoneID`` and ``SampleTimes``. The files sit in one folder per building (``CETC331/``,
``HCXY/``, ``SYL/``), plain or gzip-compressed, with ``AP_information_<building>.csv`` (the
surveyed pre-installed access points) beside them. The reading and validation are those of the
UJIIndoorLoc importer (:func:`~omniloc.data.loaders.ujiindoorloc.read_fingerprint_csv`).

Which files
-----------
``files`` picks one training file and one test file per building (:data:`FILE_SETS`):

=========== ===================== ===================== ======================
preset      CETC331               HCXY                  SYL
=========== ===================== ===================== ======================
``ap_30``   Training_CETC331      Training_HCXY_AP_30   Training_SYL_AP_30
            Testing_CETC331       Testing_HCXY_AP       Testing_SYL_AP
``ap_avg``  Training_CETC331      Training_HCXY_AP_Avg  Training_SYL_AP_Avg
            Testing_CETC331       Testing_HCXY_AP       Testing_SYL_AP
``all_avg`` Training_CETC331      Training_HCXY_All_Avg Training_SYL_All_Avg
            Testing_CETC331       Testing_HCXY_All      Testing_SYL_All
=========== ===================== ===================== ======================

The default ``ap_30`` takes the files of **single scans**: 30 scans per reference point in HCXY
and SYL (CETC331 has only one training file, one scan per point on a 0.5 m grid). They are the
largest training sets, and their scans are of the same kind as the test files' (10 single scans per
test point), whereas the ``_Avg`` files hold one averaged fingerprint per point, which has less
noise than any scan a phone will see at test time. Every column of the ``_AP_`` files (and of the
CETC331 files) is a pre-installed access point with a surveyed position. The all-MAC training
files exist only averaged here (``Training_*_All_30`` are not in the local copy), hence
``all_avg``. ``files`` may also be a list of paths relative to ``src``
(``["HCXY/Training_HCXY_AP_30.csv.gz"]``); a file's building is its folder and its role its
name: ``Testing_*`` -> test, ``Training_*`` -> train.

How the CSVs are mapped
-----------------------
**Recordings.** One :class:`~omniloc.data.Recording` per file and ``(UserID, PhoneID)``, named
``<file stem>-u{UserID:02d}-p{PhoneID:02d}`` (``Training_HCXY_AP_30-u05-p04``), ordered by file,
then UserID, then PhoneID. The files have no timestamps (``SampleTimes`` is the index of a scan at
its point, 1..30); the rows keep their file order (points in survey order, scans in
``SampleTimes`` order) on a **synthetic timeline** of one scan every ``scan_interval_s`` seconds
(default 1 s): ``t = k * scan_interval_s`` for the k-th row of the recording, so ``t`` starts at 0
and increases strictly, like the UJIIndoorLoc importer's ``t = TIMESTAMP - t0``. It is a sample
index, not a time of capture (``meta["timeline"] = "synthetic"``).

**WiFi.** One stream ``"wifi"`` (kind ``wifi``) per recording, one scan per row: ``values`` (N, A)
float32 dBm, NaN = not heard. "Not detected" is ``100`` in most files but **-105** in
``Training_HCXY_AP_Avg``, ``Training_SYL_AP_Avg`` and ``Training_SYL_All_Avg`` (SOURCE.md);
``not_detected="auto"`` takes 100 when a file holds a 100, else -105 (a file holding both is
refused: which one would be a reading?). Detected values must lie in ``rss_range`` (default
-120..0 dBm; the data hold -104..-5). The column names restart in every building (``MAC1`` of
CETC331 is not ``MAC1`` of SYL) and no file gives the real MAC addresses, so the access point ids
are the **building-qualified column names** ``"<building>:<column>"`` (``"HCXY:MAC302"``); within
a building a column name means the same radio in every file (the ``_AP_`` files keep the
``_All_`` files' numbers), so ids match across a building's files.

**Positions.** ``x = ECoord`` (east), ``y = NCoord`` (north), in metres, ``z = 0``. Each
building has its **own local frame, kept as given**: the frames are not related to each other
(HCXY's coordinates are about 860..975 m east, 870..920 m north; CETC331's and SYL's are within
0..85 m), so positions of different buildings must not be compared.

**Labels.** ``floor = FloorID`` as given: CETC331 1..3, while HCXY and SYL (one floor each) are
labelled **4**. ``building = BuildingID`` (1 CETC331, 2 HCXY, 3 SYL), which must agree with the
file's folder; the upstream bug of ``SYL/Training_SYL_All_Avg`` (``BuildingID`` is the running
counter 3, 4, ..., 298) is repaired when a column is exactly such a counter, and the number of
repaired rows goes into the provenance. ``zone = "B{building}-F{floor}-S{SceneID}"`` (scene 1
corridor, 2 office, 3 meeting room). ``meta`` = ``{"user", "phone", "building_name",
"source_file", "role", "timeline"}``.

**Floor plans.** The release's drawings (``.dwg``) are not in the local copy, so each (building,
floor) gets a **bounds-only** :class:`~omniloc.data.FloorPlan` (no walls, no zone polygons) named
``"<building>-F<floor>"``: the extent of the loaded points and of that floor's surveyed access
points, widened by ``margin_m`` (default 1 m). Its ``meta["access_points"]`` lists the floor's
access point radios from ``AP_information_<building>.csv``, one entry per RSS column: ``{"id":
"CETC331:MAC3", "ap": 7, "band": "2.4GHz", "frequency_mhz": 2412, "position": [x, y, 0.0],
"floor": 1}`` in the building frame. Without that file the plans have no ``access_points`` and
the provenance says so.

**Splits.** :func:`load_sodindoorloc` puts the ``Training_*`` recordings in ``train`` and the
``Testing_*`` recordings in ``test`` (the release's own test files, kept out of ``train``);
:func:`import_sodindoorloc` (``omniloc import sodindoorloc``) keeps that split, and only when no
test file was loaded does it hold out ``test_fraction`` of the recordings with
:func:`~omniloc.data.splits.split_by_groups`.

Every problem with a file raises :class:`~omniloc.DataError` naming the file, the column and,
for bad values, the data row (1-based, the header not counted) and the file line.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..._errors import ConfigError, DataError
from ..dataset import Dataset
from ..floorplan import FloorPlan
from ._common import fingerprint_recording, split_import
from .ujiindoorloc import (
    FingerprintFormat,
    _line,
    file_provenance,
    read_csv_frame,
    read_fingerprint_csv,
    rss_to_dbm,
    zone_labels,
)

__all__ = [
    "load_sodindoorloc",
    "import_sodindoorloc",
    "read_access_points",
    "BUILDINGS",
    "FILE_SETS",
    "SOD_FORMAT",
    "NOT_DETECTED_CODES",
    "LABEL_COLUMNS",
]

#: Building folder name -> BuildingID.
BUILDINGS = {"CETC331": 1, "HCXY": 2, "SYL": 3}
#: The two "not detected" codes of the release.
NOT_DETECTED_CODES = (100, -105)
#: The non-RSS columns, in file order.
LABEL_COLUMNS = ("ECoord", "NCoord", "FloorID", "BuildingID", "SceneID", "UserID", "PhoneID", "SampleTimes")
#: The SODIndoorLoc CSV layout.
SOD_FORMAT = FingerprintFormat(
    "SODIndoorLoc", LABEL_COLUMNS, LABEL_COLUMNS[2:], r"^MAC(\d+)$", "MAC1..MACnnn", LABEL_COLUMNS[2:]
)
#: preset -> building -> (training file stem, test file stem).
FILE_SETS = {
    "ap_30": {
        "CETC331": ("Training_CETC331", "Testing_CETC331"),
        "HCXY": ("Training_HCXY_AP_30", "Testing_HCXY_AP"),
        "SYL": ("Training_SYL_AP_30", "Testing_SYL_AP"),
    },
    "ap_avg": {
        "CETC331": ("Training_CETC331", "Testing_CETC331"),
        "HCXY": ("Training_HCXY_AP_Avg", "Testing_HCXY_AP"),
        "SYL": ("Training_SYL_AP_Avg", "Testing_SYL_AP"),
    },
    "all_avg": {
        "CETC331": ("Training_CETC331", "Testing_CETC331"),
        "HCXY": ("Training_HCXY_All_Avg", "Testing_HCXY_All"),
        "SYL": ("Training_SYL_All_Avg", "Testing_SYL_All"),
    },
}
_AP_COLUMNS = ("ID", "ECoord", "NCoord", "FloorID", "Attribute_2.4", "Frequency_2.4", "Attribute_5", "Frequency_5")
_BANDS = (("2.4GHz", "Attribute_2.4", "Frequency_2.4"), ("5GHz", "Attribute_5", "Frequency_5"))
_MAX_COORD_M = 100_000.0

_SOURCE = {
    "dataset": "SODIndoorLoc",
    "origin": "GitHub renwudao24/SODIndoorLoc (CSV files gzipped unchanged; AP_information_<building>.csv "
    "exported from 'Information of pre-installed APs.xlsx')",
    "citation": "J. Bi, Y. Wang, B. Yu et al. Supplementary open dataset for WiFi indoor localization based on "
    "received signal strength. Satellite Navigation 3, 25 (2022). doi:10.1186/s43020-022-00086-y",
    "licence": "no licence file; open research data published with a CC BY 4.0 article: cite the paper above",
}


def _buildings(buildings) -> list[str]:
    """Building names (in :data:`BUILDINGS` order) from names or BuildingIDs; all when None."""
    if buildings is None:
        return list(BUILDINGS)
    if isinstance(buildings, (str, int, np.integer)):
        buildings = [buildings]
    by_id = {v: k for k, v in BUILDINGS.items()}
    chosen = set()
    for b in buildings:
        if isinstance(b, (int, np.integer)) and int(b) in by_id:
            chosen.add(by_id[int(b)])
        elif isinstance(b, str) and b.upper() in BUILDINGS:
            chosen.add(b.upper())
        else:
            raise ConfigError(
                f"unknown SODIndoorLoc building {b!r}; expected one of {list(BUILDINGS)} "
                f"or a BuildingID {sorted(by_id)}"
            )
    return [b for b in BUILDINGS if b in chosen]


def _locate(root: Path, building: str, stem: str) -> Path:
    """``root/building/stem.csv.gz`` or, when only that exists, ``.csv``."""
    for ext in (".csv.gz", ".csv"):
        path = root / building / f"{stem}{ext}"
        if path.is_file():
            return path
    return root / building / f"{stem}.csv.gz"  # read_csv_frame reports it as not found


def _role(path: Path) -> str:
    if path.name.startswith("Testing_"):
        return "test"
    if path.name.startswith("Training_"):
        return "train"
    raise DataError(
        "cannot tell the file's role from its name; expected a Training_* or Testing_* SODIndoorLoc CSV", file=path
    )


def _file_list(root: Path, files, chosen: list[str], with_test: bool) -> list[tuple[str, Path]]:
    """(building, path) of the files to read, in load order."""
    if isinstance(files, str):
        if files not in FILE_SETS:
            raise ConfigError(
                f"unknown SODIndoorLoc file set {files!r}; expected one of {list(FILE_SETS)} "
                "or a list of paths relative to the dataset folder"
            )
        out = []
        for b in chosen:
            train, test = FILE_SETS[files][b]
            out.append((b, _locate(root, b, train)))
            if with_test:
                out.append((b, _locate(root, b, test)))
        return out
    out = []
    for f in files:
        path = Path(f) if Path(f).is_absolute() else root / f
        building = path.parent.name
        if building not in BUILDINGS:
            raise DataError(
                f"a SODIndoorLoc CSV must sit in its building's folder, one of {list(BUILDINGS)}; "
                f"it is in {building!r}",
                file=path,
            )
        if building in chosen and (with_test or _role(path) == "train"):
            out.append((building, path))
    return out


def _not_detected_code(path: Path, raw: np.ndarray, rss_columns: list[str], not_detected) -> int:
    """The file's "not detected" code: the given one, or (``"auto"``) 100 if present, else -105."""
    if not_detected != "auto":
        return int(not_detected)
    has = {c: bool(np.any(raw == c)) for c in NOT_DETECTED_CODES}
    if all(has.values()):
        col = rss_columns[int(np.flatnonzero(np.any(raw == -105, axis=0))[0])]
        r = int(np.flatnonzero(raw[:, rss_columns.index(col)] == -105)[0])
        raise DataError(
            f"the file holds both 'not detected' codes 100 and -105 ({_line(r)} holds -105); expected "
            "only one of them; pass not_detected=100 or not_detected=-105",
            file=path,
            field=col,
        )
    return -105 if has[-105] and not has[100] else 100


def _fix_building_id(path: Path, building_id: np.ndarray, expected: int, building: str) -> int:
    """Check the BuildingID column in place; repair the running-counter bug. Returns the repaired rows."""
    wrong = building_id != expected
    if not wrong.any():
        return 0
    if np.array_equal(building_id, expected + np.arange(len(building_id))):
        building_id[:] = expected  # upstream bug: a running counter 3, 4, ... instead of the constant
        return int(wrong.sum())
    r = int(np.flatnonzero(wrong)[0])
    raise DataError(
        f"{_line(r)} holds {building_id[r]}; expected {expected}, the BuildingID of {building} "
        "(the folder the file is in)",
        file=path,
        field="BuildingID",
    )


def read_access_points(csv_path, building: str) -> list[dict]:
    """Read ``AP_information_<building>.csv``: the surveyed pre-installed access points.

    Parameters
    ----------
    csv_path : str or Path
        The CSV with the columns ``ID, ECoord, NCoord, FloorID, Attribute_2.4, Frequency_2.4,
        Attribute_5, Frequency_5`` (``Attribute_*`` = the RSS column of the AP's radio in that band,
        empty when it has none; ``Frequency_*`` = its channel in MHz).
    building : str
        The building name, to qualify the column names as stream ids.

    Returns
    -------
    list of dict
        One entry per radio (RSS column): ``id`` (``"<building>:MACn"``), ``ap`` (the AP's ID),
        ``band`` (``"2.4GHz"``/``"5GHz"``), ``frequency_mhz``, ``position`` ``[x, y, 0.0]``
        metres in the building frame and ``floor`` (FloorID), in file order.

    Raises
    ------
    DataError
        Unreadable file, missing column, bad value (naming the column and the data row).
    """
    import pandas as pd

    path = Path(csv_path)
    frame = read_csv_frame(path, "a SODIndoorLoc access point table", ", ".join(_AP_COLUMNS))
    frame.columns = [str(c) for c in frame.columns]
    missing = [c for c in _AP_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(
            f"missing column; expected the columns {', '.join(_AP_COLUMNS)}", file=path, field=", ".join(missing)
        )
    num = {}
    for col in ("ID", "ECoord", "NCoord", "FloorID", "Frequency_2.4", "Frequency_5"):
        s = frame[col]
        vals = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64)
        bad = np.isnan(vals) & s.notna().to_numpy()
        if col in ("ID", "ECoord", "NCoord", "FloorID"):
            bad |= ~np.isfinite(vals)  # required
        if col != "ECoord" and col != "NCoord":
            bad |= np.isfinite(vals) & (vals != np.round(vals))
        if bad.any():
            r = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{_line(r)} holds {s.iloc[r]!r}; expected a number"
                + ("" if col in ("ECoord", "NCoord") else " (an integer)"),
                file=path,
                field=col,
            )
        num[col] = vals
    out = []
    for r in range(len(frame)):
        for band, attr, freq in _BANDS:
            column = frame[attr].iloc[r]
            if pd.isna(column) or str(column).strip() == "":
                continue
            column = str(column).strip()
            if not re.fullmatch(SOD_FORMAT.rss_regex, column):
                raise DataError(f"{_line(r)} holds {column!r}; expected an RSS column name MACn", file=path, field=attr)
            if not np.isfinite(num[freq][r]):
                raise DataError(
                    f"{_line(r)} is empty; expected the channel frequency in MHz of {column}", file=path, field=freq
                )
            out.append(
                {
                    "id": f"{building}:{column}",
                    "ap": int(num["ID"][r]),
                    "band": band,
                    "frequency_mhz": int(num[freq][r]),
                    "position": [float(num["ECoord"][r]), float(num["NCoord"][r]), 0.0],
                    "floor": int(num["FloorID"][r]),
                }
            )
    return out


def load_sodindoorloc(
    src,
    buildings=None,
    files="ap_30",
    *,
    with_test: bool = True,
    name: str | None = None,
    not_detected="auto",
    rss_range: tuple[float, float] = (-120.0, 0.0),
    scan_interval_s: float = 1.0,
    margin_m: float = 1.0,
) -> Dataset:
    """Read SODIndoorLoc CSVs into a :class:`~omniloc.data.Dataset` (see the module docstring).

    Parameters
    ----------
    src : str or Path
        The dataset folder (holding ``CETC331/``, ``HCXY/``, ``SYL/`` and the
        ``AP_information_<building>.csv`` files), or one CSV inside a building folder.
    buildings : str, int or list of them, optional
        Buildings to load, by name (``"HCXY"``) or BuildingID (``2``); default all three.
    files : str or list of str
        A preset of :data:`FILE_SETS` (``"ap_30"``, ``"ap_avg"``, ``"all_avg"``) or paths relative
        to ``src`` (``"SYL/Testing_SYL_All.csv.gz"``); listed files of buildings not in
        ``buildings`` are left out. Ignored when ``src`` is a file.
    with_test : bool
        Load the ``Testing_*`` files too (they form the ``test`` split); ``False`` leaves them
        out, listed ones included.
    name : str, optional
        Dataset name; default ``"sodindoorloc"``.
    not_detected : {"auto", 100, -105}
        The "not detected" code; ``"auto"`` decides per file (100 if present, else -105).
    rss_range : (float, float)
        Accepted detected RSS range in dBm (anything else but the not-detected code is a
        :class:`DataError`).
    scan_interval_s : float
        Step of the synthetic timeline, seconds per scan.
    margin_m : float
        Margin in metres around the points and access points of a floor for its floor-plan bounds.

    Returns
    -------
    Dataset
        Recordings per file and (UserID, PhoneID), bounds-only floor plans per (building, floor)
        with the surveyed access points, splits ``train`` (Training files) and ``test`` (Testing
        files; absent when none is loaded), and a provenance with the files' checksums, the
        not-detected code of each file and the repaired BuildingID rows.
    """
    if not_detected != "auto" and not_detected not in NOT_DETECTED_CODES:
        raise ConfigError(f"not_detected must be 'auto', 100 or -105, got {not_detected!r}")
    if not scan_interval_s > 0:
        raise ConfigError(f"scan_interval_s must be > 0 seconds, got {scan_interval_s!r}")
    if not margin_m >= 0:
        raise ConfigError(f"margin_m must be >= 0 metres, got {margin_m!r}")
    src = Path(src)
    chosen = _buildings(buildings)
    if src.is_file():
        root, files = src.parent.parent, [f"{src.parent.name}/{src.name}"]
    elif src.is_dir():
        root = src
    else:
        raise DataError(
            "not found; expected the SODIndoorLoc folder (CETC331/, HCXY/, SYL/) or one of its CSVs", file=src
        )
    todo = _file_list(root, files, chosen, with_test)
    if not todo:
        raise ConfigError(f"no SODIndoorLoc file selected (buildings={chosen}, files={files!r}, with_test={with_test})")

    recordings, splits = {}, {"train": [], "test": []}
    points: dict[tuple[str, int], list[np.ndarray]] = {}
    file_prov, n_repaired = [], 0
    for building, path in todo:
        role = _role(path)
        frame, macs = read_fingerprint_csv(
            path,
            SOD_FORMAT,
            rss_range=rss_range,
            not_detected=(100,) if not_detected == "auto" else (int(not_detected),),
        )
        raw = frame[macs].to_numpy()
        code = _not_detected_code(path, raw, macs, not_detected)
        for col in ("ECoord", "NCoord"):
            vals = frame[col].to_numpy()
            if (np.abs(vals) > _MAX_COORD_M).any():
                r = int(np.flatnonzero(np.abs(vals) > _MAX_COORD_M)[0])
                raise DataError(
                    f"{_line(r)} holds {vals[r]:g}; expected local metres within +-{_MAX_COORD_M:g}",
                    file=path,
                    field=col,
                )
        building_id = frame["BuildingID"].to_numpy(np.int64).copy()
        repaired = _fix_building_id(path, building_id, BUILDINGS[building], building)
        n_repaired += repaired
        floor = frame["FloorID"].to_numpy(np.int64)
        user = frame["UserID"].to_numpy(np.int64)
        phone = frame["PhoneID"].to_numpy(np.int64)
        pos = np.c_[frame["ECoord"].to_numpy(), frame["NCoord"].to_numpy(), np.zeros(len(frame))]
        zone = zone_labels(building_id, floor, frame["SceneID"].to_numpy(np.int64))
        rss = rss_to_dbm(raw, code)
        ids = np.array([f"{building}:{c}" for c in macs])
        stem = path.name.split(".")[0]
        rel = f"{building}/{path.name}"
        for f in np.unique(floor):
            points.setdefault((building, int(f)), []).append(pos[floor == f, :2])
        for u, p in np.unique(np.c_[user, phone], axis=0):
            rows = np.flatnonzero((user == u) & (phone == p))  # file order
            t = np.arange(len(rows), dtype=np.float64) * float(scan_interval_s)
            rec_name = f"{stem}-u{u:02d}-p{p:02d}"
            if rec_name in recordings:
                raise DataError(f"file stem {stem!r} is loaded twice; expected distinct files", file=path)
            recordings[rec_name] = fingerprint_recording(
                rec_name,
                t,
                rows,
                {"position": pos, "floor": floor, "building": building_id, "zone": zone},
                rss,
                ids,
                {
                    "unit": "dBm",
                    "not_heard": f"NaN ({code} in the CSV)",
                    "source_columns": f"{macs[0]}..{macs[-1]}",
                    "id_format": "<building>:<CSV column>",
                },
                {
                    "user": int(u),
                    "phone": int(p),
                    "building_name": building,
                    "source_file": rel,
                    "role": role,
                    "timeline": f"synthetic: one scan every {float(scan_interval_s):g} s in file order",
                },
            )
            splits[role].append(rec_name)
        file_prov.append(
            file_provenance(
                path,
                len(frame),
                file=rel,
                building=building,
                role=role,
                access_points=len(macs),
                not_detected_code=code,
                not_detected_entries=int(np.count_nonzero(raw == code)),
                detected_fraction=round(float(np.mean(raw != code)), 6),
                building_id_repaired_rows=repaired,
            )
        )

    floor_plans, ap_prov = _floor_plans(root, points, margin_m)
    provenance = {
        **_SOURCE,
        "importer": "omniloc.data.loaders.sodindoorloc",
        "files": file_prov,
        "file_set": files if isinstance(files, str) else "explicit list",
        "buildings": {b: BUILDINGS[b] for b in chosen},
        "position": "x = ECoord (east), y = NCoord (north), z = 0; metres in each building's own local frame, "
        "kept as given (frames of different buildings are unrelated: HCXY lies ~900 m from the origin)",
        "floor": "FloorID as given: CETC331 1..3; HCXY and SYL are single-floor buildings labelled 4",
        "building": "BuildingID: 1 CETC331, 2 HCXY, 3 SYL (checked against the file's folder)",
        "building_id_repaired_rows": n_repaired,
        "rss": {
            "unit": "dBm",
            "not_detected_as": "NaN",
            "not_detected": str(not_detected),
            "accepted_range_dbm": [float(rss_range[0]), float(rss_range[1])],
        },
        "access_point_ids": "'<building>:<CSV column>' (column names restart per building; no real MAC addresses)",
        "recordings": "one per file and (UserID, PhoneID), rows in file order",
        "timeline": f"synthetic: t = k * {float(scan_interval_s):g} s for the k-th scan of a recording "
        "(the files have no timestamps)",
        "floor_plans": "bounds only (no drawings): extent of the loaded points and surveyed APs "
        f"+ {float(margin_m):g} m",
        "access_points": ap_prov,
        "dropped_columns": ["SampleTimes"],
    }
    splits = {k: v for k, v in splits.items() if v}
    if splits:
        provenance["split"] = {
            "by": "source file: Training_* -> train, Testing_* -> test",
            **{f"{k}_rows": int(sum(len(recordings[n]) for n in v)) for k, v in splits.items()},
        }
    return Dataset(name or "sodindoorloc", recordings, floor_plans, splits, provenance)


def _floor_plans(root: Path, points: dict, margin_m: float) -> tuple[dict, dict]:
    """Bounds-only floor plans per (building, floor) with their access points; and the AP provenance."""
    aps, ap_prov = {}, {}
    for b in dict.fromkeys(b for b, _ in points):
        path = root / f"AP_information_{b}.csv"
        if path.is_file():
            aps[b] = read_access_points(path, b)
            ap_prov[b] = file_provenance(path, len({a["ap"] for a in aps[b]}), radios=len(aps[b]))
        else:
            aps[b] = None
            ap_prov[b] = f"{path.name} not found: no access point positions"
    keys = set(points) | {(b, a["floor"]) for b, lst in aps.items() for a in (lst or [])}
    plans = {}
    for b, f in sorted(keys, key=lambda k: (BUILDINGS[k[0]], k[1])):
        floor_aps = [a for a in (aps[b] or []) if a["floor"] == f]
        xy = np.concatenate(points.get((b, f), []) + [np.array([a["position"][:2] for a in floor_aps]).reshape(-1, 2)])
        lo, hi = xy.min(axis=0) - margin_m, xy.max(axis=0) + margin_m
        hi = np.maximum(hi, lo + 1e-3)  # a single point with no margin still has positive bounds
        meta = {
            "building_name": b,
            "kind": "bounds only: extent of the loaded points and access points "
            f"+ {float(margin_m):g} m (the drawings are not in the release copy)",
        }
        if aps[b] is not None:
            meta["access_points"] = floor_aps
        plans[f"{b}-F{f}"] = FloorPlan(
            f"{b}-F{f}", np.zeros((0, 2, 2)), floor=f, building=BUILDINGS[b], bounds=np.r_[lo, hi], meta=meta
        )
    return plans, ap_prov


def import_sodindoorloc(src, *, test_fraction: float = 0.1, seed: int = 0, **load_opts) -> Dataset:
    """``omniloc import sodindoorloc SRC``: read the release's files with their train/test split.

    Parameters
    ----------
    src : str or Path
        The SODIndoorLoc folder (``../shared/data/sodindoorloc``) or one of its CSVs.
    test_fraction, seed
        Used only when no ``Testing_*`` file is loaded (``with_test=False`` or a list of training
        files): then ``test_fraction`` of the samples is held out by recording with
        :func:`~omniloc.data.splits.split_by_groups`. Otherwise the ``Testing_*``
        files are the ``test`` split and the provenance records that these were not used.
    **load_opts
        Passed to :func:`load_sodindoorloc` (``buildings``, ``files``, ``with_test``, ``name``,
        ``not_detected``, ``rss_range``, ``scan_interval_s``, ``margin_m``).
    """
    ds = load_sodindoorloc(src, **load_opts)
    if "test" in ds.splits:
        ds.provenance["split"]["test_fraction"] = (
            f"not used ({test_fraction:g}): the Testing_* files are the test split"
        )
        ds.provenance["split"]["seed"] = int(seed)
        return ds
    return split_import(ds, test_fraction, seed, src, unit="user/phone group")
