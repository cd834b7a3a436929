"""The on-disk format: a folder with ``dataset.json`` and one HDF5 file per recording.

Layout::

    DIR/
      dataset.json          format, format_version, name, floor plans, splits, provenance
      floor_plans.h5        rasters of the floor plans that have one (optional)
      recordings/NAME.h5    one per recording

Recording file (HDF5)::

    attrs: format, format_version, name, meta (JSON string)
    t (N,) float64 s; position (N,3) m; orientation (N,4) wxyz; floor (N,) int; building (N,) int;
    zone (N,) utf-8 strings -- each optional except t
    streams/NAME/ attrs kind, meta (JSON); t (N,) s; values (N,...); ids (D,) utf-8 (wifi AP ids)

Images are chunked one frame per chunk (LZF-compressed), so reading a frame reads one chunk.
Writes go to a temporary file or folder first and are renamed into place when complete.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .._errors import DataError
from .._io import OutputExistsError, atomic_path, replace_dir, write_json
from ._lazy import LazyArray
from .dataset import Dataset
from .floorplan import FloorPlan
from .recording import Recording
from .stream import Stream

__all__ = ["FORMAT_VERSION", "save_dataset", "load_dataset", "save_recording", "load_recording"]

FORMAT = "omniloc-dataset"
FORMAT_VERSION = 1
_IMAGE_KINDS = ("rgb", "depth", "image")
_POSE_FIELDS = ("position", "orientation", "floor", "building")


def _str_array(a) -> np.ndarray:
    return np.array([s.encode("utf-8") for s in np.asarray(a, dtype=str)], dtype=object)


def save_recording(rec: Recording, path, overwrite: bool = False) -> Path:
    """Validate ``rec`` and write it to one HDF5 file, atomically."""
    import h5py

    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists; pass --overwrite to replace it")
    rec.validate(file=path)
    with atomic_path(path, ".h5") as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = "omniloc-recording"
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["name"] = rec.name
            f.attrs["meta"] = json.dumps(rec.meta)
            f.create_dataset("t", data=rec.t)
            for key in _POSE_FIELDS:
                val = getattr(rec, key)
                if val is not None:
                    f.create_dataset(key, data=val)
            if rec.zone is not None:
                f.create_dataset("zone", data=_str_array(rec.zone), dtype=h5py.string_dtype())
            g = f.create_group("streams")
            for name, s in rec.streams.items():
                sg = g.create_group(name)
                sg.attrs["kind"] = s.kind
                sg.attrs["meta"] = json.dumps(s.meta)
                sg.create_dataset("t", data=s.t)
                if s.kind in _IMAGE_KINDS and len(s):
                    shape = s.shape
                    ds = sg.create_dataset(
                        "values", shape=shape, dtype=s.dtype, chunks=(1,) + shape[1:], compression="lzf"
                    )
                    for i in range(0, shape[0], 256):  # bounded memory for lazy sources
                        ds[i : i + 256] = np.asarray(s.values[i : i + 256])
                else:
                    sg.create_dataset("values", data=s.load())
                if s.ids is not None:
                    sg.create_dataset("ids", data=_str_array(s.ids), dtype=h5py.string_dtype())
    return path


def _read(f, key, path, ndim=None):
    if key not in f:
        return None
    ds = f[key]
    if ndim is not None and ds.ndim != ndim:
        raise DataError(f"expected a {ndim}-D array, got shape {ds.shape}", file=path, field=key)
    return ds[()]


def load_recording(path, lazy_images: bool = True) -> Recording:
    """Read and validate one recording file.

    Parameters
    ----------
    path : str or Path
        HDF5 file written by :func:`save_recording`.
    lazy_images : bool
        Keep ``rgb``/``depth``/``image`` streams on disk and read frames on access.

    Raises
    ------
    DataError
        Missing, truncated or malformed file; unknown format version; bad shapes or dtypes.
    """
    import h5py

    path = Path(path)
    if not path.exists():
        raise DataError("file not found", file=path)
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise DataError(f"not a readable HDF5 file (truncated or corrupted?): {e}", file=path) from None
    try:
        with f:
            version = f.attrs.get("format_version")
            if version is None:
                raise DataError(
                    "missing attribute; expected an omniloc recording file", file=path, field="format_version"
                )
            if int(version) > FORMAT_VERSION or int(version) < 1:
                raise DataError(
                    f"unknown format version {int(version)}; this omniloc reads versions 1..{FORMAT_VERSION}",
                    file=path,
                    field="format_version",
                )
            if "t" not in f:
                raise DataError("missing pose timeline; expected (N,) seconds", file=path, field="t")
            meta = json.loads(f.attrs.get("meta", "{}"))
            zone = _read(f, "zone", path, 1)
            if zone is not None:
                zone = np.array([z.decode("utf-8") if isinstance(z, bytes) else str(z) for z in zone])
            streams = {}
            for name, sg in f.get("streams", {}).items():
                fld = f"streams/{name}"
                if "t" not in sg or "values" not in sg:
                    raise DataError("stream needs 't' and 'values'", file=path, field=fld)
                kind = sg.attrs.get("kind")
                kind = kind.decode() if isinstance(kind, bytes) else kind
                ids = sg["ids"][()] if "ids" in sg else None
                if ids is not None:
                    ids = np.array([i.decode("utf-8") if isinstance(i, bytes) else str(i) for i in ids])
                vds = sg["values"]
                if lazy_images and kind in _IMAGE_KINDS:
                    values = LazyArray(str(path), f"{fld}/values", vds.shape, vds.dtype)
                else:
                    values = vds[()]
                streams[name] = Stream(kind, sg["t"][()], values, ids, json.loads(sg.attrs.get("meta", "{}")))
            rec = Recording(
                name=str(f.attrs.get("name", path.stem)),
                t=f["t"][()],
                position=_read(f, "position", path, 2),
                orientation=_read(f, "orientation", path, 2),
                floor=_read(f, "floor", path, 1),
                building=_read(f, "building", path, 1),
                zone=zone,
                streams=streams,
                meta=meta,
            )
    except DataError:
        raise
    except (OSError, KeyError, ValueError, TypeError, json.JSONDecodeError) as e:
        raise DataError(
            f"could not read recording (truncated or corrupted?): {type(e).__name__}: {e}", file=path
        ) from None
    return rec.validate(file=path)


def save_dataset(ds: Dataset, path, overwrite: bool = False) -> Path:
    """Write a dataset folder atomically (into a temporary folder, renamed when complete)."""
    import h5py

    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists; pass --overwrite to replace it")
    ds.validate()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        rasters = {n: p.raster for n, p in ds.floor_plans.items() if p.raster is not None}
        if rasters:
            with h5py.File(tmp / "floor_plans.h5", "w") as f:
                for n, r in rasters.items():
                    f.create_dataset(n, data=r, compression="lzf")
        files = {}
        (tmp / "recordings").mkdir()
        for rec in ds:
            rel = f"recordings/{_safe_name(rec.name)}.h5"
            if rel in files.values():
                raise DataError(f"two recordings map to the same file name {rel}", field="recordings")
            save_recording(rec, tmp / rel)
            files[rec.name] = rel
        write_json(
            tmp / "dataset.json",
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "name": ds.name,
                "floor_plans": [p.to_json() for p in ds.floor_plans.values()],
                "recordings": files,
                "splits": ds.splits,
                "provenance": ds.provenance,
            },
        )
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return replace_dir(tmp, path, overwrite=overwrite)


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def load_dataset(path, lazy_images: bool = True) -> Dataset:
    """Read and validate a dataset folder written by :func:`save_dataset`.

    ``path`` may also be the ``dataset.json`` file itself.
    """
    import h5py

    path = Path(path)
    if path.is_file() and path.name == "dataset.json":
        path = path.parent
    meta_file = path / "dataset.json"
    if not meta_file.exists():
        raise DataError(
            "not an omniloc dataset folder: dataset.json not found "
            "(create one with `omniloc simulate` or `omniloc import`)",
            file=meta_file,
        )
    try:
        d = json.loads(meta_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"invalid JSON (truncated?): {e}", file=meta_file) from None
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise DataError(f'expected "{FORMAT}"', file=meta_file, field="format")
    version = d.get("format_version")
    if not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        raise DataError(
            f"unknown format version {version!r}; this omniloc reads versions 1..{FORMAT_VERSION}",
            file=meta_file,
            field="format_version",
        )
    for key in ("name", "floor_plans", "recordings", "splits"):
        if key not in d:
            raise DataError("missing key", file=meta_file, field=key)
    rasters = {}
    if (path / "floor_plans.h5").exists():
        try:
            with h5py.File(path / "floor_plans.h5", "r") as f:
                rasters = {k: f[k][()] for k in f}
        except OSError as e:
            raise DataError(f"not a readable HDF5 file: {e}", file=path / "floor_plans.h5") from None
    plans = {}
    for p in d["floor_plans"]:
        if p.get("has_raster") and p.get("name") not in rasters:
            raise DataError(f"raster of floor plan {p.get('name')!r} missing", file=path / "floor_plans.h5")
        plan = FloorPlan.from_json(p, rasters.get(p.get("name")), file=meta_file)
        plans[plan.name] = plan
    recs = {}
    for name, rel in d["recordings"].items():
        rec = load_recording(path / rel, lazy_images=lazy_images)
        if rec.name != name:
            raise DataError(
                f"recording file holds '{rec.name}', dataset.json expects '{name}'", file=path / rel, field="name"
            )
        recs[name] = rec
    ds = Dataset(d["name"], recs, plans, {k: list(v) for k, v in d["splits"].items()}, d.get("provenance", {}))
    try:
        ds.validate()
    except DataError as e:
        raise DataError(e.reason, file=meta_file, field=e.field) from None
    return ds


def default_data_root() -> Path:
    """Where public datasets are looked up: ``$OMNILOC_DATA``, else ``../shared/data`` beside the checkout."""
    env = os.environ.get("OMNILOC_DATA")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in here.parents:
        cand = parent.parent / "shared" / "data"
        if cand.is_dir():
            return cand
    return Path.cwd().parent / "shared" / "data"
