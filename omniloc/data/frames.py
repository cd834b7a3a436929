"""Camera frames of a recording with their ground-truth poses: the one place that pairs RGB with depth.

A camera method (MVLoc, the generative map, place recognition) localizes *frames*: one RGB image,
optionally the depth image nearest in time, and the ground truth at the RGB time
(:func:`~omniloc.data.align.truth_at`). :func:`camera_frames` returns their indices and labels so
that images are read only once, in the caller's chosen batches.
"""

from __future__ import annotations

import numpy as np

from .._errors import DataError
from .align import nearest_index, truth_at
from .recording import Recording

__all__ = ["camera_frames"]


def camera_frames(
    rec: Recording,
    rgb: str | None = None,
    depth: str | None = None,
    use_depth: bool = True,
    max_pair_dt_s: float = 0.05,
    labelled: bool = False,
) -> dict:
    """Frames of ``rec``: every RGB image, the nearest depth image, and the truth at the RGB time.

    Parameters
    ----------
    rec : Recording
    rgb, depth : str, optional
        Stream names (None: the one :meth:`~omniloc.data.Recording.find_stream` picks).
    use_depth : bool
        Look for a depth stream at all (False: ``depth_index`` is all -1).
    max_pair_dt_s : float
        A depth image farther than this in time from the RGB image does not pair with it
        (``depth_index`` -1: the frame has no depth).
    labelled : bool
        Keep only frames with a ground-truth position and orientation at their time.

    Returns
    -------
    dict
        ``t`` (M,) seconds (RGB times), ``rgb_index`` (M,) rows of the RGB stream, ``depth_index``
        (M,) rows of the depth stream or -1, ``rgb_stream`` / ``depth_stream`` (the streams, the
        latter None without depth), and where the recording has them ``position`` (M, 3) metres and
        ``orientation`` (M, 4) w, x, y, z at the RGB times (NaN outside the pose timeline).

    Raises
    ------
    DataError
        No RGB stream; ``labelled`` and the recording has no position or orientation.
    """
    rgb_stream = rec.find_stream("rgb", rgb)
    depth_stream = rec.find_stream("depth", depth, required=False) if use_depth else None
    t = np.asarray(rgb_stream.t, dtype=np.float64)
    out = {
        "t": t,
        "rgb_index": np.arange(len(t)),
        "depth_index": np.full(len(t), -1, dtype=np.int64),
        "rgb_stream": rgb_stream,
        "depth_stream": depth_stream,
    }
    if depth_stream is not None and len(depth_stream):
        out["depth_index"] = nearest_index(depth_stream, t, max_pair_dt_s).astype(np.int64)
    if rec.position is not None:
        truth = truth_at(rec, t)
        out["position"] = truth["position"]
        if "orientation" in truth:
            out["orientation"] = truth["orientation"]
    if labelled:
        for key in ("position", "orientation"):
            if key not in out:
                raise DataError(f"recording {rec.name!r} has no ground-truth {key} for its camera frames", field=key)
        keep = np.isfinite(out["position"]).all(1) & np.isfinite(out["orientation"]).all(1)
        for key in ("t", "rgb_index", "depth_index", "position", "orientation"):
            out[key] = out[key][keep]
    return out
