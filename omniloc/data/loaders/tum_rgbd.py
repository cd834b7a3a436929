"""TUM RGB-D benchmark sequences (Kinect colour + depth, motion-capture 6-DoF poses) -> :class:`omniloc.data.Dataset`.

A sequence folder (``rgbd_dataset_freiburg1_rpy/``) holds ``rgb/<timestamp>.png`` (8-bit colour),
``depth/<timestamp>.png`` (16-bit, ``value / 5000`` = metres, 0 = no reading, registered to the
colour image), the lists ``rgb.txt`` and ``depth.txt`` (``timestamp filename``) and
``groundtruth.txt`` (``timestamp tx ty tz qx qy qz qw``, about 100 Hz motion capture), all
timestamps in Unix seconds; lines starting with ``#`` are comments. The staged copy in
``../shared/data/tum-rgbd-fr1`` adds ``frames.txt`` (``rgb_ts rgb_file depth_ts depth_file tx ty
tz qx qy qz qw``: the associated pairs with the pose interpolated at the RGB time).

How a sequence is mapped
------------------------
**Source.** ``SRC`` is one sequence folder (it has ``rgb.txt`` or ``frames.txt``) or a folder of
sequence folders (``tum-rgbd-fr1/``); each sequence becomes one :class:`~omniloc.data.Recording`
named after its folder (``rgbd_dataset_freiburg1_rpy``), in name order.

**Frames.** With ``frames.txt`` present (and ``use_frames_txt=True``, the default) its rows are the
frames, as they are. Otherwise (:func:`read_tum_frames`): ``rgb.txt`` and ``depth.txt`` are
associated one-to-one by nearest timestamp (:func:`associate`: the candidate pairs with
``|dt| <= max_dt_s``, default 0.02 s, are taken greedily from the closest, each image used at most
once, TUM's own rule), and ``groundtruth.txt`` is interpolated at each RGB time with
:func:`omniloc.data.truth_at` (linear position, slerp orientation); a pair is dropped when the
mocap has no sample within ``max_dt_s`` before *and* after the RGB time (a gap). Both ways give
the same frames on the staged copy (fr1/rpy: 723 RGB, 694 pairs, 688 frames with a pose; fr1/xyz:
32). Frames left out are counted in ``provenance["import_warnings"]``.

**Timeline.** ``t = rgb_timestamp - t0`` seconds with ``t0`` the sequence's first RGB timestamp
(Unix seconds, kept in ``meta["t0_unix"]``), so every recording starts at 0; the sequences of one
room are still comparable through their poses, which share the mocap frame.

**Poses.** TUM's ``tx ty tz qx qy qz qw`` (scalar *last*) is the colour camera's optical centre
and the orientation of its optical frame (x right, y down, z forward) in the mocap world frame:
camera-to-world, metres. omniloc keeps the position and turns the orientation into
``world_from_device`` (device x forward, y left, z up) with
:func:`omniloc.data.camera.device_from_optical`: ``R_wd = R_wo @ OPTICAL_FROM_DEVICE``, so the
device +x axis (column 0 of ``R_wd``) is the optical axis (column 2 of TUM's rotation). The world
frame is the mocap's, as given (z up in the Freiburg rooms). A quaternion whose norm is not 1
within :data:`QUAT_NORM_TOL` is refused; the others are normalised (``w >= 0``).

**Streams.** ``rgb`` (kind ``rgb``, (N, H, W, 3) uint8) at the RGB times and ``depth`` (kind
``depth``, (N, H, W) float32 metres = PNG value / 5000, 0 stays 0 = no reading) at the *depth*
image times (a few ms from the RGB ones; frame ``i`` of both streams is one associated pair).
Depth is already registered to the colour image, so both streams share one ``K`` in their meta:
the ROS default that TUM recommends for registered depth (640x480: ``fx = fy = 525``, ``cx =
319.5``, ``cy = 239.5``), scaled to the image size with
:func:`omniloc.data.camera.scale_intrinsics` (``f' = f * W / 640``, ``c' = (c + 0.5) * W / 640 -
0.5``; 160x120: 131.25, 131.25, 79.5, 59.5); Freiburg 1 sequences also get the calibrated
``K_calibrated`` and ``distortion`` (the images are *not* undistorted). ``frame`` says how to read
``K`` (as the simulated camera's meta). ``size=(W, H)`` optionally reduces the images by integer
factors (colour: block mean; depth: median of the valid pixels of a block, 0 when fewer than half
are valid) and scales ``K`` with them.

**Splits.** :func:`import_tum_rgbd` splits by recording (:func:`~._common.split_import`:
``test_fraction``, ``seed``), or puts the sequences named in ``test_sequences`` in ``test`` and the
others in ``train`` (the TUM bench: train on fr1/rpy, test on fr1/xyz).

Every problem raises :class:`~omniloc.DataError` naming the file, the field and, for a bad line,
the line: a missing list or ``groundtruth.txt``, a line with the wrong number of columns, a value
that is not a number, a listed image that does not exist, an unreadable or truncated PNG, images
of different sizes, a depth PNG that is not 16-bit, a quaternion that is not a rotation.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..._errors import ConfigError, DataError
from ..align import truth_at
from ..camera import device_from_optical, downscale_depth, downscale_rgb, pinhole_intrinsics, scale_intrinsics
from ..dataset import Dataset
from ..recording import Recording
from ..stream import Stream
from ._common import ImportWarnings, split_import
from ._images import read_color_image, read_depth_png, same_size, target_size

__all__ = [
    "load_tum_rgbd",
    "import_tum_rgbd",
    "read_tum_frames",
    "find_sequences",
    "read_tum_table",
    "associate",
    "read_color_image",
    "read_depth_png",
    "TumFrames",
    "DEPTH_SCALE",
    "MAX_DT_S",
    "QUAT_NORM_TOL",
    "ROS_DEFAULT_K",
    "FULL_SIZE",
]

#: TUM depth PNG units per metre (value / 5000 = metres).
DEPTH_SCALE = 5000.0
#: Default association and mocap-gap tolerance, seconds (TUM's own tool uses 0.02 s).
MAX_DT_S = 0.02
#: Largest accepted ``| |q| - 1 |`` of a pose quaternion in a TUM file (they hold 4 decimals).
QUAT_NORM_TOL = 1e-2
#: Image size of the Kinect sequences as TUM publishes them (width, height).
FULL_SIZE = (640, 480)
#: The ROS default intrinsics at 640x480 that TUM recommends for registered depth.
ROS_DEFAULT_K = pinhole_intrinsics(525.0, 525.0, 319.5, 239.5)
#: Calibrated Freiburg 1 colour camera at 640x480 and its distortion d0..d4 (TUM's page).
FR1_CALIBRATED_K = pinhole_intrinsics(517.3, 516.5, 318.6, 255.3)
FR1_DISTORTION = (0.2624, -0.9531, -0.0054, 0.0026, 1.1633)

_FRAMES_COLUMNS = ("rgb_ts", "rgb_file", "depth_ts", "depth_file", "tx", "ty", "tz", "qx", "qy", "qz", "qw")
_LIST_COLUMNS = ("timestamp", "filename")
_GT_COLUMNS = ("timestamp", "tx", "ty", "tz", "qx", "qy", "qz", "qw")
_FRAME_TEXT = "camera looks along device +x; K in the optical frame (x right, y down, z forward)"

_SOURCE = {
    "dataset": "TUM RGB-D benchmark",
    "origin": "https://cvg.cit.tum.de/data/datasets/rgbd-dataset",
    "citation": "J. Sturm, N. Engelhard, F. Endres, W. Burgard, D. Cremers. A Benchmark for the Evaluation of "
    "RGB-D SLAM Systems. IEEE/RSJ IROS 2012, pp. 573-580, doi:10.1109/IROS.2012.6385773.",
    "licence": "CC BY 4.0",
}


# --------------------------------------------------------------------------------------------- images
def read_tum_table(path, columns: tuple[str, ...], text: tuple[str, ...] = (), what: str = "TUM list") -> dict:
    """Read a whitespace-separated TUM text file (``#`` comments) into columns.

    Parameters
    ----------
    path : str or Path
    columns : tuple of str
        The column names, in order; every data line must have exactly these.
    text : tuple of str
        The columns kept as strings (file names); the others must be finite numbers (float64).
    what : str
        What the file is, for the messages.

    Returns
    -------
    dict
        Column name -> (N,) array, and ``"_line"`` -> (N,) int, the 1-based line of each row.

    Raises
    ------
    DataError
        Missing or undecodable file, no data line, a line with another number of columns (the
        field is the first missing column, or the last one when there are too many), a value
        that is not a finite number.
    """
    path = Path(path)
    spec = " ".join(columns)
    if not path.is_file():
        raise DataError(f"not found; expected the {what} ({spec})", file=path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"unreadable ({e}); expected a text {what} ({spec})", file=path) from None
    rows, numbers = [], []
    for k, line in enumerate(lines, start=1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        parts = s.split()
        if len(parts) != len(columns):
            fld = columns[len(parts)] if len(parts) < len(columns) else columns[-1]
            raise DataError(f"line {k} has {len(parts)} columns; expected {len(columns)}: {spec}", file=path, field=fld)
        rows.append(parts)
        numbers.append(k)
    if not rows:
        raise DataError(f"no data lines; expected the {what} ({spec})", file=path)
    out: dict = {"_line": np.asarray(numbers, dtype=np.int64)}
    for j, col in enumerate(columns):
        vals = [r[j] for r in rows]
        if col in text:
            out[col] = np.asarray(vals, dtype=object)
            continue
        try:
            arr = np.asarray(vals, dtype=np.float64)
        except ValueError:
            arr = None
        if arr is None or not np.all(np.isfinite(arr)):
            for i, v in enumerate(vals):
                try:
                    ok = np.isfinite(float(v))
                except ValueError:
                    ok = False
                if not ok:
                    raise DataError(f"line {numbers[i]} holds {v!r}; expected a finite number", file=path, field=col)
        out[col] = arr
    return out


def associate(t_a, t_b, max_dt_s: float = MAX_DT_S) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one nearest-timestamp matching of two image lists (TUM's association rule).

    Every pair ``(i, j)`` with ``|t_a[i] - t_b[j]| <= max_dt_s`` is a candidate; candidates are
    taken from the smallest ``|dt|`` up (ties by ``i`` then ``j``), skipping those whose ``i`` or ``j``
    is already matched.

    Returns
    -------
    ia, ib : (M,) int
        Matched indices into ``t_a`` and ``t_b``, in increasing ``ia``.
    """
    t_a = np.asarray(t_a, dtype=np.float64)
    t_b = np.asarray(t_b, dtype=np.float64)
    order = np.argsort(t_b, kind="stable")
    tb = t_b[order]
    lo = np.searchsorted(tb, t_a - max_dt_s - 1e-9, side="left")
    hi = np.searchsorted(tb, t_a + max_dt_s + 1e-9, side="right")
    counts = hi - lo
    ia = np.repeat(np.arange(len(t_a)), counts)
    start = np.repeat(np.cumsum(counts) - counts, counts)
    jb = order[np.repeat(lo, counts) + np.arange(int(counts.sum())) - start]
    dt = np.abs(t_a[ia] - t_b[jb])
    keep = dt <= max_dt_s
    ia, jb, dt = ia[keep], jb[keep], dt[keep]
    used_a = np.zeros(len(t_a), bool)
    used_b = np.zeros(len(t_b), bool)
    pairs = []
    for k in np.lexsort((jb, ia, dt)):
        i, j = ia[k], jb[k]
        if not used_a[i] and not used_b[j]:
            used_a[i] = used_b[j] = True
            pairs.append((i, j))
    pairs.sort()
    out = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    return out[:, 0], out[:, 1]


@dataclass
class TumFrames:
    """The frames of one TUM sequence, before any image is read.

    Attributes
    ----------
    folder : Path
    rgb_t, depth_t : (N,) float64 Unix seconds
    rgb_file, depth_file : list[Path]
        Absolute image paths.
    position : (N, 3) float64 metres
        TUM's ``tx ty tz`` (interpolated at ``rgb_t``).
    q_world_from_optical : (N, 4) float64 unit quaternions (w, x, y, z)
        TUM's ``qw qx qy qz``, camera-to-world of the optical frame.
    pose_source : str
        ``"frames.txt"`` or ``"groundtruth.txt"`` (interpolated here).
    list_file : Path
        The file naming the images (``frames.txt`` or ``rgb.txt``), for errors.
    dropped : dict
        Reason -> number of RGB frames left out.
    """

    folder: Path
    rgb_t: np.ndarray
    rgb_file: list
    depth_t: np.ndarray
    depth_file: list
    position: np.ndarray
    q_world_from_optical: np.ndarray
    pose_source: str
    list_file: Path
    dropped: dict = field(default_factory=dict)


def _quaternions(table: dict, path: Path) -> np.ndarray:
    """TUM ``qx qy qz qw`` columns -> (N, 4) w, x, y, z, normalised; a DataError for a non-unit one."""
    q = np.stack([table["qw"], table["qx"], table["qy"], table["qz"]], axis=1)
    norm = np.linalg.norm(q, axis=1)
    bad = np.abs(norm - 1.0) > QUAT_NORM_TOL
    if bad.any():
        k = int(np.argmax(bad))
        raise DataError(
            f"line {table['_line'][k]}: quaternion {q[k, [1, 2, 3, 0]].tolist()} has norm {norm[k]:.6g}; expected a "
            f"rotation, a unit quaternion qx qy qz qw (norm 1 +- {QUAT_NORM_TOL:g})",
            file=path,
            field="qx qy qz qw",
        )
    return q / norm[:, None]


def _image_paths(folder: Path, names, lines, list_file: Path, fld: str) -> list[Path]:
    paths = [folder / str(n) for n in names]
    for p, line in zip(paths, lines, strict=True):
        if not p.is_file():
            raise DataError(
                f"line {line} lists {p.relative_to(folder)}, which does not exist in {folder}; expected one "
                "image per listed line",
                file=list_file,
                field=fld,
            )
    return paths


def read_tum_frames(folder, *, use_frames_txt: bool = True, max_dt_s: float = MAX_DT_S) -> TumFrames:
    """The posed RGB-D frames of a TUM sequence folder, from ``frames.txt`` or by association (module docstring).

    Parameters
    ----------
    folder : str or Path
        A sequence folder.
    use_frames_txt : bool
        Use ``frames.txt`` when present (default); False always associates ``rgb.txt`` and
        ``depth.txt`` and interpolates ``groundtruth.txt``.
    max_dt_s : float
        Association tolerance and largest mocap gap on either side of an RGB time, seconds.

    Raises
    ------
    DataError
        See the module docstring; every listed image must exist.
    """
    folder = Path(folder)
    frames_txt = folder / "frames.txt"
    rgb_txt = folder / "rgb.txt"
    if use_frames_txt and frames_txt.is_file():
        tab = read_tum_table(frames_txt, _FRAMES_COLUMNS, text=("rgb_file", "depth_file"), what="TUM frame list")
        order = np.argsort(tab["rgb_ts"], kind="stable")
        tab = {k: v[order] for k, v in tab.items()}
        dropped = {}
        if rgb_txt.is_file():
            n_rgb = len(read_tum_table(rgb_txt, _LIST_COLUMNS, text=("filename",), what="TUM image list")["timestamp"])
            if n_rgb > len(order):
                dropped["RGB frame not in frames.txt (no depth image or no mocap pose within 0.02 s) -> left out"] = (
                    n_rgb - len(order)
                )
        return TumFrames(
            folder,
            tab["rgb_ts"],
            _image_paths(folder, tab["rgb_file"], tab["_line"], frames_txt, "rgb_file"),
            tab["depth_ts"],
            _image_paths(folder, tab["depth_file"], tab["_line"], frames_txt, "depth_file"),
            np.stack([tab["tx"], tab["ty"], tab["tz"]], axis=1),
            _quaternions(tab, frames_txt),
            "frames.txt",
            frames_txt,
            dropped,
        )
    rgb = read_tum_table(rgb_txt, _LIST_COLUMNS, text=("filename",), what="TUM image list")
    depth = read_tum_table(folder / "depth.txt", _LIST_COLUMNS, text=("filename",), what="TUM image list")
    gt_path = folder / "groundtruth.txt"
    gt = read_tum_table(gt_path, _GT_COLUMNS, what="TUM ground-truth trajectory")
    rgb_files = _image_paths(folder, rgb["filename"], rgb["_line"], rgb_txt, "filename")
    depth_files = _image_paths(folder, depth["filename"], depth["_line"], folder / "depth.txt", "filename")
    gt_q = _quaternions(gt, gt_path)
    order = np.argsort(gt["timestamp"], kind="stable")
    gt_t, gt_q = gt["timestamp"][order], gt_q[order]
    gt_pos = np.stack([gt["tx"], gt["ty"], gt["tz"]], axis=1)[order]

    ra = np.argsort(rgb["timestamp"], kind="stable")
    ia, ib = associate(rgb["timestamp"][ra], depth["timestamp"], max_dt_s)
    ia = ra[ia]
    t = rgb["timestamp"][ia]
    prev = np.searchsorted(gt_t, t, side="right") - 1
    nxt = np.searchsorted(gt_t, t, side="left")
    ok = (prev >= 0) & (nxt < len(gt_t))
    ok[ok] &= (t[ok] - gt_t[prev[ok]] <= max_dt_s) & (gt_t[nxt[ok]] - t[ok] <= max_dt_s)
    dropped = {}
    if len(rgb_files) > len(ia):
        dropped[f"RGB frame without a depth image within {max_dt_s:g} s -> left out"] = len(rgb_files) - len(ia)
    if (~ok).any():
        dropped[f"RGB-D pair without a mocap sample within {max_dt_s:g} s on both sides -> left out"] = int((~ok).sum())
    ia, ib, t = ia[ok], ib[ok], t[ok]
    truth = truth_at(Recording("groundtruth", gt_t, position=gt_pos, orientation=gt_q), t)
    return TumFrames(
        folder,
        t,
        [rgb_files[i] for i in ia],
        depth["timestamp"][ib],
        [depth_files[j] for j in ib],
        truth["position"],
        truth["orientation"],
        "groundtruth.txt",
        rgb_txt,
        dropped,
    )


# ------------------------------------------------------------------------------------------- loading
def _is_sequence(folder: Path) -> bool:
    return (folder / "rgb.txt").is_file() or (folder / "frames.txt").is_file()


def find_sequences(src) -> list[Path]:
    """The sequence folders of ``src`` (itself, or its sub-folders that are sequences, by name)."""
    src = Path(src)
    if not src.exists():
        raise DataError("not found; expected a TUM RGB-D sequence folder or a folder of them", file=src)
    if _is_sequence(src):
        return [src]
    found = sorted(p for p in src.iterdir() if p.is_dir() and _is_sequence(p)) if src.is_dir() else []
    if not found:
        raise DataError(
            "no TUM RGB-D sequence here; expected rgb.txt, depth.txt and groundtruth.txt (or frames.txt) in this "
            "folder or in its sub-folders",
            file=src,
        )
    return found


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sequence_recording(frames: TumFrames, size) -> tuple[Recording, dict]:
    if len(frames.rgb_t) == 0:
        raise DataError(
            "no RGB frame with a depth image and a mocap pose; expected at least one posed RGB-D pair",
            file=frames.list_file,
            field="timestamp",
        )
    if np.any(np.diff(frames.depth_t) < 0):
        k = int(np.argmax(np.diff(frames.depth_t) < 0))
        raise DataError(
            f"depth image times run backwards between frames {k} and {k + 1}; expected RGB-D pairs in time order",
            file=frames.list_file,
            field="depth_ts" if frames.pose_source == "frames.txt" else "timestamp",
        )
    rgb = [read_color_image(p, "rgb") for p in frames.rgb_file]
    depth = [read_depth_png(p, "depth") for p in frames.depth_file]
    hw = same_size(rgb, frames.rgb_file, "rgb")
    same_size(depth, frames.depth_file, "depth", expected=hw)
    rgb, depth_m = np.stack(rgb), np.stack(depth).astype(np.float32) / np.float32(DEPTH_SCALE)
    target = target_size(size, hw, frames.folder)
    out_size = (hw[1], hw[0])
    if target is not None:
        rgb, depth_m, out_size = downscale_rgb(rgb, target), downscale_depth(depth_m, target), target
    name = frames.folder.name
    K = scale_intrinsics(ROS_DEFAULT_K, FULL_SIZE, out_size)
    meta = {
        "K": K.tolist(),
        "intrinsics": "ROS default (fx = fy = 525, cx = 319.5, cy = 239.5 at 640x480, TUM's recommendation for "
        "registered depth) scaled to the image size; images not undistorted",
        "frame": _FRAME_TEXT,
        "width": int(out_size[0]),
        "height": int(out_size[1]),
    }
    if "freiburg1" in name:
        meta["K_calibrated"] = scale_intrinsics(FR1_CALIBRATED_K, FULL_SIZE, out_size).tolist()
        meta["distortion"] = list(FR1_DISTORTION)
    t0 = float(frames.rgb_t[0])
    position, orientation = device_from_optical(frames.position, frames.q_world_from_optical)
    rec = Recording(
        name,
        frames.rgb_t - t0,
        position=position,
        orientation=orientation,
        streams={
            "rgb": Stream("rgb", frames.rgb_t - t0, rgb, meta=dict(meta)),
            "depth": Stream(
                "depth",
                frames.depth_t - t0,
                depth_m,
                meta=dict(meta, unit="m", registered=True, scale="PNG value / 5000", invalid="0 = no reading"),
            ),
        },
        meta={
            "source": "tum-rgbd",
            "sequence": name,
            "t0_unix": t0,
            "pose_source": frames.pose_source,
            "timeline": "t = RGB timestamp - t0_unix; the depth stream keeps its own image times",
        },
    )
    text_files = [frames.list_file] + (
        [frames.folder / "groundtruth.txt"] if frames.pose_source != "frames.txt" else []
    )
    prov = {
        "sequence": name,
        "path": str(frames.folder),
        "pose_source": frames.pose_source,
        "frames": len(rec),
        "image_size": [int(hw[1]), int(hw[0])],
        "files_sha256": {p.name: _sha256(p) for p in text_files},
    }
    return rec, prov


def load_tum_rgbd(
    src,
    name: str | None = None,
    *,
    sequences: list[str] | None = None,
    use_frames_txt: bool = True,
    max_dt_s: float = MAX_DT_S,
    size: tuple[int, int] | None = None,
) -> Dataset:
    """Read TUM RGB-D sequences into a :class:`~omniloc.data.Dataset` (no splits; see the module docstring).

    Parameters
    ----------
    src : str or Path
        A sequence folder or a folder of sequence folders.
    name : str, optional
        Dataset name; default ``"tum-rgbd"``.
    sequences : list of str, optional
        Only these sequence folders (by name) of a folder of sequences.
    use_frames_txt : bool
        Read ``frames.txt`` when a sequence has it (default); False associates and interpolates.
    max_dt_s : float
        RGB-depth association tolerance and largest mocap gap, seconds (default 0.02).
    size : (width, height), optional
        Reduce the images to this size (integer factors); default: as stored.

    Returns
    -------
    Dataset
        One recording per sequence with ``rgb`` and ``depth`` streams and ``world_from_device``
        poses; provenance with the source, licence, conventions and the files read.
    """
    folders = find_sequences(src)
    if sequences is not None:
        known = {f.name: f for f in folders}
        unknown = [s for s in sequences if s not in known]
        if unknown:
            raise ConfigError(f"unknown TUM sequences {unknown}; {src} has {sorted(known)}")
        folders = [known[s] for s in sequences]
    warnings = ImportWarnings()
    recordings, files = {}, []
    for folder in folders:
        frames = read_tum_frames(folder, use_frames_txt=use_frames_txt, max_dt_s=max_dt_s)
        warnings.update(frames.list_file, frames.dropped)
        rec, prov = _sequence_recording(frames, size)
        recordings[rec.name] = rec
        files.append(prov)
    provenance = {
        **_SOURCE,
        "importer": "omniloc.data.loaders.tum_rgbd",
        "files": files,
        "pose": "TUM camera-to-world of the colour camera's optical frame (tx ty tz qx qy qz qw, scalar last) "
        "-> world_from_device: position kept, R_wd = R_wo @ OPTICAL_FROM_DEVICE (device +x = optical axis); "
        "world = the motion-capture frame",
        "depth": "PNG value / 5000 = metres, 0 = no reading; registered to the colour image",
        "intrinsics": "ROS default scaled to the image size (stream meta K)",
        "timeline": "t = RGB timestamp - the sequence's first RGB timestamp (meta t0_unix)",
        "association": f"frames.txt when present, else rgb/depth nearest one-to-one within {max_dt_s:g} s and "
        f"groundtruth.txt interpolated at the RGB time (frames without mocap within {max_dt_s:g} s on both "
        "sides left out)",
        "import_warnings": warnings.to_json(),
    }
    if size is not None:
        provenance["resized"] = "colour: mean of each block; depth: median of the valid pixels (0 if < half valid)"
    return Dataset(name or "tum-rgbd", recordings, {}, {}, provenance)


def import_tum_rgbd(
    src,
    *,
    test_fraction: float = 0.1,
    seed: int = 0,
    test_sequences: list[str] | None = None,
    name: str | None = None,
    **load_opts,
) -> Dataset:
    """``omniloc import tum-rgbd SRC``: read the sequences and split them by recording (sequence).

    Parameters
    ----------
    src : str or Path
        A sequence folder or a folder of sequences (e.g. ``../shared/data/tum-rgbd-fr1``).
    test_fraction, seed
        See :func:`~omniloc.data.splits.split_by_groups` (whole sequences go to ``test``); ignored
        when ``test_sequences`` is given.
    test_sequences : list of str, optional
        Sequence names that form the ``test`` split; the others are ``train``
        (``["rgbd_dataset_freiburg1_xyz"]``).
    name : str, optional
        Dataset name.
    **load_opts
        Passed to :func:`load_tum_rgbd` (``sequences``, ``use_frames_txt``, ``max_dt_s``, ``size``).
    """
    ds = load_tum_rgbd(src, name=name, **load_opts)
    if test_sequences is None:
        out = split_import(ds, test_fraction, seed, src, unit="sequence")
        out.provenance["split"]["by"] = "recording (one sequence); sizes in frames"
        return out
    test_sequences = [str(s) for s in test_sequences]
    unknown = [s for s in test_sequences if s not in ds.recordings]
    if unknown:
        raise ConfigError(f"test_sequences {unknown} are not sequences of {src}; it has {sorted(ds.recordings)}")
    test = [n for n in ds.recordings if n in test_sequences]
    train = [n for n in ds.recordings if n not in test_sequences]
    out = ds.with_split(**{k: v for k, v in (("train", train), ("test", test)) if v})
    out.provenance["split"] = {
        "by": "named sequences (test_sequences)",
        "test_sequences": test,
        "test_rows": int(sum(len(ds[n]) for n in test)),
        "total_rows": ds.n_samples,
    }
    return out
