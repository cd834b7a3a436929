"""Microsoft 7-Scenes (hand-held Kinect RGB-D, KinectFusion camera poses) -> :class:`omniloc.data.Dataset`.

A scene folder (``stairs/``) holds sequence folders ``seq-XX/`` with one triple of files per frame,
``frame-NNNNNN.color.png`` (or ``.color.jpg``, as in the kapture sample), ``frame-NNNNNN.depth.png``
(640x480 uint16 **millimetres**, ``0`` and ``65535`` = no measurement) and ``frame-NNNNNN.pose.txt``
(a 4x4 camera-to-world matrix, metres), plus ``TrainSplit.txt`` / ``TestSplit.txt`` (one line per
sequence, ``sequence2`` = ``seq-02``).

How a scene is mapped
---------------------
**Source.** ``SRC`` is a scene folder (it has ``seq-XX`` folders) or a folder of scene folders
(each scene has its own KinectFusion world frame: import one scene per dataset for pose
regression). One :class:`~omniloc.data.Recording` per sequence, named ``<scene>-seq-XX``
(``stairs-seq-02``), ``meta`` with ``scene`` and ``sequence``.

**Timeline.** The files carry no timestamps; the frames were captured at the Kinect's 30 Hz, so
frame ``NNNNNN`` is at ``t = NNNNNN / frame_rate_hz`` seconds (default 30; an assumed, not a
recorded, time: ``meta["timeline"] = "frame index / 30 Hz"``).

**Poses.** ``pose.txt`` is camera-to-world of the colour camera's *optical* frame (x right, y
down, z forward): ``p_world = R @ p_optical + t``. Each matrix must be a rotation (within
:data:`omniloc.data.camera.ROTATION_TOL`; KinectFusion's deviate by about 1e-4) with the last row
``0 0 0 1``. ``position = t``; the orientation becomes ``world_from_device`` (device x forward,
y left, z up) with :func:`omniloc.data.camera.device_from_optical`
(``R_wd = R @ OPTICAL_FROM_DEVICE``: the device +x axis is the optical axis, column 2 of ``R``).
The world frame is KinectFusion's, as given (not gravity-aligned).

**Depth registration.** 7-Scenes' depth images are *not* registered to the colour images: they
come from the Kinect's infrared camera, whose focal length is about 585 px against 525 px for the
colour camera (both centred at (320, 240) at 640x480, the usual calibration-free values). With
``register_depth=True`` (the default) every depth image is moved into the colour camera with
:func:`omniloc.data.camera.reproject_depth`: back-projected with the depth intrinsics and rendered
with the colour intrinsics by :func:`~omniloc.data.camera.depth_from_points` (the nearest point
wins a pixel). The two cameras are assumed to sit at one point (no baseline: the ~2.5 cm between
them is ignored, the documented calibration-free approximation), so only the intrinsics differ:
the depth camera's narrower view fills the middle ~90 % of the colour image and the border stays
0 (no measurement). ``register_depth=False`` keeps the raw depth images with the depth
intrinsics, and the stream meta says ``registered: false``.

**Streams and size.** ``rgb`` (kind ``rgb``, (N, H, W, 3) uint8) and ``depth`` (kind ``depth``,
(N, H, W) float32 metres = millimetres / 1000, 0 = no measurement), both at the frame times.
``size=(W, H)`` (default (160, 120); None keeps 640x480) reduces both by integer factors after
registration: colour by the mean of each block, depth by the median of the block's valid pixels
(0 when fewer than half are valid; invalid pixels never enter a value). The intrinsics ``K`` in
each stream's meta are scaled to the output size (:func:`~omniloc.data.camera.scale_intrinsics`:
``f' = f s``, ``c' = (c + 0.5) s - 0.5``): colour ``K`` for ``rgb`` and for registered depth,
depth ``K`` for raw depth. ``frame`` says how to read ``K`` (as the simulated camera's meta).

**Splits.** :func:`import_7scenes` takes ``train`` / ``test`` from ``TrainSplit.txt`` /
``TestSplit.txt`` (when only one is there, the other split is the remaining sequences; a
sequence present but in neither file stays out of both and is listed in
``provenance["split"]["unsplit"]``); without split files, by recording through
:func:`~._common.split_import` (``test_fraction``, ``seed``).

Every problem raises :class:`~omniloc.DataError` naming the file and the field: a frame without
its colour, depth or pose file, a pose file without 16 numbers or whose matrix is not a rigid
transform, an unreadable or truncated image, images of different sizes, a split file line that
is not ``sequenceN`` or names a sequence that is not there.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..._errors import ConfigError, DataError
from ..camera import (
    check_rotation,
    device_from_optical,
    downscale_depth,
    downscale_rgb,
    pinhole_intrinsics,
    pose_from_matrix,
    reproject_depth,
    scale_intrinsics,
)
from ..dataset import Dataset
from ..recording import Recording, check_coordinates
from ..stream import Stream
from ._common import split_import
from ._images import read_color_image, read_depth_png, same_size, target_size

__all__ = [
    "load_7scenes",
    "import_7scenes",
    "read_pose_file",
    "read_split_file",
    "find_scenes",
    "DEPTH_K",
    "RGB_K",
    "FULL_SIZE",
    "DEFAULT_SIZE",
    "FRAME_RATE_HZ",
    "DEPTH_INVALID",
]

#: Kinect image size of 7-Scenes (width, height), at which :data:`DEPTH_K` and :data:`RGB_K` hold.
FULL_SIZE = (640, 480)
#: Default output size (width, height) of :func:`load_7scenes`.
DEFAULT_SIZE = (160, 120)
#: Calibration-free intrinsics of the depth (infrared) camera at 640x480.
DEPTH_K = pinhole_intrinsics(585.0, 585.0, 320.0, 240.0)
#: Calibration-free intrinsics of the colour camera at 640x480.
RGB_K = pinhole_intrinsics(525.0, 525.0, 320.0, 240.0)
#: Assumed frame rate of the sequences (Kinect v1), Hz: ``t = frame index / FRAME_RATE_HZ``.
FRAME_RATE_HZ = 30.0
#: Depth PNG values meaning "no measurement".
DEPTH_INVALID = (0, 65535)

_SEQ_RE = re.compile(r"^seq-(\d+)$")
_FRAME_RE = re.compile(r"^frame-(\d+)\.(color\.png|color\.jpg|depth\.png|pose\.txt)$")
_SPLIT_RE = re.compile(r"^sequence\s*(\d+)$", re.IGNORECASE)
_SPLIT_FILES = {"train": "TrainSplit.txt", "test": "TestSplit.txt"}
_FRAME_TEXT = "camera looks along device +x; K in the optical frame (x right, y down, z forward)"

_SOURCE = {
    "dataset": "Microsoft RGB-D Dataset 7-Scenes",
    "origin": "https://www.microsoft.com/en-us/research/project/rgb-d-dataset-7-scenes/",
    "citation": "J. Shotton, B. Glocker, C. Zach, S. Izadi, A. Criminisi, A. Fitzgibbon. Scene Coordinate "
    "Regression Forests for Camera Relocalization in RGB-D Images. CVPR 2013.",
    "licence": "Microsoft Research License Agreement, non-commercial use only",
}


def read_pose_file(path) -> np.ndarray:
    """A 7-Scenes ``frame-NNNNNN.pose.txt``: 16 numbers -> (4, 4) float64 camera-to-world, validated.

    Raises
    ------
    DataError
        (``field="pose"``) Missing or unreadable file, not 16 finite numbers, a last row other than
        ``0 0 0 1``, a rotation block that is not a rotation (:func:`~omniloc.data.camera.check_rotation`)
        or a translation beyond a building frame.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("pose file not found; expected a 4x4 camera-to-world matrix", file=path, field="pose")
    try:
        words = path.read_text(encoding="utf-8").split()
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"unreadable ({e}); expected a 4x4 camera-to-world matrix", file=path, field="pose") from None
    try:
        vals = np.array([float(w) for w in words], dtype=np.float64)
    except ValueError:
        bad = next(w for w in words if not _is_number(w))
        raise DataError(f"holds {bad!r}; expected 16 numbers (a 4x4 matrix)", file=path, field="pose") from None
    if vals.size != 16:
        raise DataError(
            f"holds {vals.size} numbers; expected 16 (a 4x4 camera-to-world matrix)", file=path, field="pose"
        )
    if not np.all(np.isfinite(vals)):
        raise DataError("holds non-finite numbers; expected a 4x4 camera-to-world matrix", file=path, field="pose")
    T = vals.reshape(4, 4)
    if not np.allclose(T[3], [0.0, 0.0, 0.0, 1.0], atol=1e-6):
        raise DataError(
            f"last row is {T[3].tolist()}; expected 0 0 0 1 (a rigid 4x4 camera-to-world matrix)",
            file=path,
            field="pose",
        )
    check_rotation(T[:3, :3], "pose", file=path)
    check_coordinates(T[None, :3, 3], "pose", file=path)
    return T


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def read_split_file(path) -> list[int]:
    """Sequence numbers listed in a ``TrainSplit.txt`` / ``TestSplit.txt`` (``sequence2`` -> 2), in file order."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"unreadable ({e}); expected lines like 'sequence2'", file=path, field="sequence") from None
    out = []
    for k, line in enumerate(lines, start=1):
        s = line.strip()
        if not s:
            continue
        m = _SPLIT_RE.match(s)
        if m is None:
            raise DataError(
                f"line {k} holds {s!r}; expected 'sequenceN' (N = the seq-NN folder)", file=path, field="sequence"
            )
        out.append(int(m.group(1)))
    return out


def _sequences_of(scene: Path) -> dict[int, Path]:
    return {
        int(m.group(1)): p for p in sorted(scene.iterdir()) if p.is_dir() and (m := _SEQ_RE.match(p.name)) is not None
    }


def find_scenes(src) -> list[Path]:
    """The scene folders of ``src``: itself when it has ``seq-XX`` folders, else its sub-folders that have them."""
    src = Path(src)
    if not src.is_dir():
        raise DataError(
            "not found; expected a 7-Scenes scene folder (with seq-XX folders) or a folder of them", file=src
        )
    if _sequences_of(src):
        return [src]
    found = sorted(p for p in src.iterdir() if p.is_dir() and _sequences_of(p))
    if not found:
        raise DataError(
            "no 7-Scenes sequence here; expected seq-XX folders of frame-NNNNNN.color/depth/pose files in this "
            "folder or in its sub-folders",
            file=src,
        )
    return found


def _frames(seq: Path) -> list[tuple[int, Path, Path, Path]]:
    """(index, colour, depth, pose) of every frame of a sequence folder; a DataError when one is missing."""
    found: dict[int, dict[str, Path]] = {}
    for p in seq.iterdir():
        m = _FRAME_RE.match(p.name)
        if m is not None:
            kind = m.group(2).split(".")[0]
            slot = found.setdefault(int(m.group(1)), {})
            if kind == "color" and "color" in slot and slot["color"].suffix == ".png":
                continue  # a .png next to a .jpg: the png (the original encoding)
            slot[kind] = p
    if not found:
        raise DataError(
            "no frames; expected frame-NNNNNN.color.png (or .jpg), .depth.png and .pose.txt files", file=seq
        )
    out = []
    for idx in sorted(found):
        slot = found[idx]
        stem = next(iter(slot.values())).name.split(".")[0]
        for kind, ext in (("color", "color.png|jpg"), ("depth", "depth.png"), ("pose", "pose.txt")):
            if kind not in slot:
                other = ", ".join(sorted(p.name for p in slot.values()))
                raise DataError(
                    f"frame {idx} has {other} but no {kind} file; expected the colour, depth and pose file of "
                    "every frame",
                    file=seq / f"{stem}.{ext}",
                    field=kind,
                )
        out.append((idx, slot["color"], slot["depth"], slot["pose"]))
    return out


def _depth_metres(raw: np.ndarray) -> np.ndarray:
    depth = raw.astype(np.float32) / np.float32(1000.0)
    depth[np.isin(raw, DEPTH_INVALID)] = 0.0
    return depth


def _sequence_recording(
    scene: Path, seq: Path, *, register_depth: bool, size, frame_rate_hz: float, depth_K, rgb_K
) -> tuple[Recording, dict]:
    frames = _frames(seq)
    idx = np.array([f[0] for f in frames], dtype=np.float64)
    colour_files = [f[1] for f in frames]
    depth_files = [f[2] for f in frames]
    poses = np.stack([read_pose_file(f[3]) for f in frames])
    rgb = [read_color_image(p, "color") for p in colour_files]
    hw = same_size(rgb, colour_files, "color")
    raw = [read_depth_png(p, "depth") for p in depth_files]
    dhw = same_size(raw, depth_files, "depth")
    colour_size, depth_size = (hw[1], hw[0]), (dhw[1], dhw[0])
    K_rgb = scale_intrinsics(rgb_K, FULL_SIZE, colour_size)
    K_depth = scale_intrinsics(depth_K, FULL_SIZE, depth_size)
    depth = [_depth_metres(r) for r in raw]
    if register_depth:
        depth = [reproject_depth(d, K_depth, K_rgb, width=colour_size[0], height=colour_size[1]) for d in depth]
        depth_hw, depth_K_out, depth_from = hw, K_rgb, colour_size
    else:
        depth_hw, depth_K_out, depth_from = dhw, K_depth, depth_size
    rgb, depth = np.stack(rgb), np.stack(depth).astype(np.float32)
    target_rgb = target_size(size, hw, seq)
    target_depth = target_size(size, depth_hw, seq)
    if target_rgb is not None:
        rgb = downscale_rgb(rgb, target_rgb)
    if target_depth is not None:
        depth = downscale_depth(depth, target_depth)
    rgb_out = target_rgb or colour_size
    depth_out = target_depth or depth_from
    position, q_wo = pose_from_matrix(poses)
    position, orientation = device_from_optical(position, q_wo)
    t = idx / float(frame_rate_hz)
    name = f"{scene.name}-{seq.name}"
    note = (
        "calibration-free Kinect intrinsics (colour f = 525 px, depth f = 585 px, centre (320, 240) at 640x480) "
        "scaled to the image size"
    )
    rgb_meta = {
        "K": scale_intrinsics(K_rgb, colour_size, rgb_out).tolist(),
        "intrinsics": note,
        "frame": _FRAME_TEXT,
        "width": int(rgb_out[0]),
        "height": int(rgb_out[1]),
    }
    depth_meta = {
        "K": scale_intrinsics(depth_K_out, depth_from, depth_out).tolist(),
        "intrinsics": note,
        "frame": _FRAME_TEXT,
        "width": int(depth_out[0]),
        "height": int(depth_out[1]),
        "unit": "m",
        "registered": bool(register_depth),
        "registration": (
            "depth re-projected into the colour camera (depth f 585 px -> colour f 525 px), no baseline assumed; "
            "nearest point per pixel"
            if register_depth
            else "raw depth camera images (not registered to rgb); K = depth camera intrinsics"
        ),
        "scale": "PNG millimetres / 1000",
        "invalid": "0 = no measurement (PNG 0 or 65535)",
    }
    rec = Recording(
        name,
        t,
        position=position,
        orientation=orientation,
        streams={
            "rgb": Stream("rgb", t.copy(), rgb, meta=rgb_meta),
            "depth": Stream("depth", t.copy(), depth, meta=depth_meta),
        },
        meta={
            "source": "7scenes",
            "scene": scene.name,
            "sequence": seq.name,
            "timeline": f"frame index / {float(frame_rate_hz):g} Hz (assumed, the files carry no times)",
            "first_frame": int(idx[0]),
        },
    )
    prov = {
        "scene": scene.name,
        "sequence": seq.name,
        "path": str(seq),
        "frames": len(frames),
        "color_format": sorted({p.suffix.lstrip(".") for p in colour_files}),
        "image_size": [int(colour_size[0]), int(colour_size[1])],
        "depth_size": [int(depth_size[0]), int(depth_size[1])],
    }
    return rec, prov


def load_7scenes(
    src,
    name: str | None = None,
    *,
    register_depth: bool = True,
    size: tuple[int, int] | None = DEFAULT_SIZE,
    frame_rate_hz: float = FRAME_RATE_HZ,
    sequences: list[str] | None = None,
    depth_intrinsics: tuple[float, float, float, float] | None = None,
    rgb_intrinsics: tuple[float, float, float, float] | None = None,
) -> Dataset:
    """Read 7-Scenes sequences into a :class:`~omniloc.data.Dataset` (no splits; see the module docstring).

    Parameters
    ----------
    src : str or Path
        A scene folder (with ``seq-XX``) or a folder of scene folders.
    name : str, optional
        Dataset name; default ``"7scenes-<scene>"`` for one scene, ``"7scenes"`` for several.
    register_depth : bool
        Re-project each depth image into the colour camera (default); False keeps raw depth.
    size : (width, height) or None
        Output image size (integer factors of 640x480); None keeps the stored size.
    frame_rate_hz : float
        Assumed frame rate: ``t = frame index / frame_rate_hz``.
    sequences : list of str, optional
        Only these recordings (``"stairs-seq-02"``) or sequence folders (``"seq-02"``).
    depth_intrinsics, rgb_intrinsics : (fx, fy, cx, cy) at 640x480, optional
        Replace :data:`DEPTH_K` / :data:`RGB_K` (a calibration of your own).

    Returns
    -------
    Dataset
        One recording per sequence, ordered by scene then sequence; provenance with the source,
        licence, conventions, registration and the sequences read (``"split_files"``: the
        sequences each scene's ``TrainSplit.txt`` / ``TestSplit.txt`` list, for :func:`import_7scenes`).
    """
    if frame_rate_hz is None or not float(frame_rate_hz) > 0:
        raise ConfigError(f"frame_rate_hz must be a positive number of frames per second, got {frame_rate_hz!r}")
    depth_K = DEPTH_K if depth_intrinsics is None else pinhole_intrinsics(*depth_intrinsics)
    rgb_K = RGB_K if rgb_intrinsics is None else pinhole_intrinsics(*rgb_intrinsics)
    scenes = find_scenes(src)
    chosen = None if sequences is None else {str(s) for s in sequences}
    recordings, files, split_files = {}, [], {}
    for scene in scenes:
        seqs = _sequences_of(scene)
        picked = {
            n: p for n, p in seqs.items() if chosen is None or p.name in chosen or f"{scene.name}-{p.name}" in chosen
        }
        for _, seq in sorted(picked.items()):
            rec, prov = _sequence_recording(
                scene,
                seq,
                register_depth=register_depth,
                size=size,
                frame_rate_hz=frame_rate_hz,
                depth_K=depth_K,
                rgb_K=rgb_K,
            )
            recordings[rec.name] = rec
            files.append(prov)
        listed = {}
        for side, fname in _SPLIT_FILES.items():
            path = scene / fname
            if not path.is_file():
                continue
            names = []
            for number in read_split_file(path):
                if number not in seqs:
                    raise DataError(
                        f"lists sequence{number}, but {scene} has no seq-{number:02d}; expected one of "
                        f"{[p.name for p in seqs.values()]}",
                        file=path,
                        field="sequence",
                    )
                if number in picked:
                    names.append(f"{scene.name}-{seqs[number].name}")
            listed[side] = {"file": str(path), "recordings": names}
        if listed:
            split_files[scene.name] = listed
    if chosen is not None:
        unknown = sorted(chosen - set(recordings) - {r.meta["sequence"] for r in recordings.values()})
        if unknown:
            raise ConfigError(f"unknown 7-Scenes sequences {unknown}; {src} has {sorted(recordings) or 'none of them'}")
    provenance = {
        **_SOURCE,
        "importer": "omniloc.data.loaders.sevenscenes",
        "files": files,
        "pose": "pose.txt camera-to-world of the colour camera's optical frame -> world_from_device: position = "
        "translation, R_wd = R @ OPTICAL_FROM_DEVICE (device +x = optical axis); world = KinectFusion's frame",
        "depth": "PNG millimetres / 1000 = metres; 0 and 65535 -> 0 (no measurement)",
        "registration": (
            "depth re-projected into the colour camera (f 585 -> 525 px, centre (320, 240) at 640x480), no baseline"
            if register_depth
            else "none: raw depth camera images"
        ),
        "intrinsics": {"depth_640x480": depth_K.tolist(), "rgb_640x480": rgb_K.tolist()},
        "size": None if size is None else [int(v) for v in size],
        "resize": "colour: mean of each block; depth: median of the valid pixels (0 if fewer than half valid)",
        "timeline": f"t = frame index / {float(frame_rate_hz):g} Hz (assumed)",
        "split_files": split_files,
    }
    default_name = f"7scenes-{scenes[0].name}" if len(scenes) == 1 else "7scenes"
    return Dataset(name or default_name, recordings, {}, {}, provenance)


def import_7scenes(
    src,
    *,
    test_fraction: float = 0.1,
    seed: int = 0,
    use_split_files: bool = True,
    name: str | None = None,
    **load_opts,
) -> Dataset:
    """``omniloc import 7scenes SRC``: read the sequences and split them (the scene's split files, else by recording).

    Parameters
    ----------
    src : str or Path
        A scene folder or a folder of scenes (e.g. ``../shared/data/7scenes-stairs-fixture/stairs``).
    test_fraction, seed
        Used only without split files (or with ``use_split_files=False``): see
        :func:`~omniloc.data.splits.split_by_groups`.
    use_split_files : bool
        Take ``train`` / ``test`` from ``TrainSplit.txt`` / ``TestSplit.txt`` (default) when the
        scenes have them.
    name : str, optional
        Dataset name.
    **load_opts
        Passed to :func:`load_7scenes` (``register_depth``, ``size``, ``frame_rate_hz``, ``sequences``,
        ``depth_intrinsics``, ``rgb_intrinsics``).
    """
    ds = load_7scenes(src, name=name, **load_opts)
    listed = ds.provenance["split_files"]
    if not (use_split_files and listed):
        out = split_import(ds, test_fraction, seed, src, unit="sequence")
        out.provenance["split"]["by"] = "recording (one sequence); sizes in frames"
        return out
    scenes = {r.meta["scene"] for r in ds}
    missing = sorted(scenes - set(listed))
    if missing:
        raise DataError(
            f"scene {missing[0]!r} has neither TrainSplit.txt nor TestSplit.txt while "
            f"{sorted(listed)} do; expected split files in every scene (or use_split_files=False)",
            file=Path(src) / missing[0],
        )
    splits: dict[str, list[str]] = {"train": [], "test": []}
    for scene, sides in listed.items():
        in_scene = [n for n, r in ds.recordings.items() if r.meta["scene"] == scene]
        for side, other in (("train", "test"), ("test", "train")):
            if side in sides:
                splits[side] += sides[side]["recordings"]
            elif other in sides:
                splits[side] += [n for n in in_scene if n not in sides[other]["recordings"]]
    both = sorted(set(splits["train"]) & set(splits["test"]))
    if both:
        raise DataError(
            f"{both[0]} is listed in both TrainSplit.txt and TestSplit.txt; expected each sequence on one side",
            file=Path(src),
            field="sequence",
        )
    order = list(ds.recordings)
    splits = {k: sorted(v, key=order.index) for k, v in splits.items() if v}
    out = ds.with_split(**splits)
    unsplit = [n for n in order if not any(n in v for v in splits.values())]
    out.provenance["split"] = {
        "by": "TrainSplit.txt / TestSplit.txt of the scene",
        "test_rows": int(sum(len(ds[n]) for n in splits.get("test", []))),
        "total_rows": ds.n_samples,
        "unsplit": unsplit,
    }
    return out
