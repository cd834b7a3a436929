"""What the phone-log importers (Indoor Location Competition, IPIN 2023) share.

Both formats log one row per sensor sample and one row per radio heard; both become the same
streams. The numeric cores live in the data package, so that any method can use them:

* rows ``(t, id, rss)`` -> scan matrix: :func:`omniloc.data.fingerprint.scan_matrix`;
* gyroscope onto the accelerometer clock: :func:`omniloc.data.transforms.resample_to_clock`,
  assembled into an ``imu`` (N, 6) block by :func:`imu_values`;
* rotation vector -> quaternion: :func:`omniloc.data.transforms.quat_from_rotation_vector`.

And the checks of what a log says about the truth, with errors that name the file and line:

* :func:`check_log_span`: every record of one walk lies within :data:`MAX_LOG_SPAN_S`;
* :func:`check_ground_truth`: ground-truth points are finite, within a plausible extent, and one
  time has one position (phone logs tap one point at a time; a repeated time with two positions
  is a broken file. UJIIndoorLoc fingerprints, where many rows share one second, are not phone
  logs and do not use this check).
"""

from __future__ import annotations

import numpy as np

from ..._errors import DataError
from ..recording import MAX_COORDINATE_M
from ..transforms import quat_from_rotation_vector, resample_to_clock

__all__ = ["MAX_LOG_SPAN_S", "check_log_span", "check_ground_truth", "imu_values", "rotation_quaternions"]

#: Longest accepted time span of one log (one walk), seconds: a day. The logs here last 3.5 s to
#: 10 minutes; a record dated decades away from the others is a broken timestamp.
MAX_LOG_SPAN_S = 86400.0


def check_log_span(times: dict, file, unit: str = "s", max_span_s: float = MAX_LOG_SPAN_S) -> None:
    """Refuse a log whose records span more than ``max_span_s``.

    Parameters
    ----------
    times : dict[str, tuple[(n,) array, (n,) int]]
        Record type -> (its times, its 1-based file lines).
    file : str or Path
        The log, named in the error.
    unit : {"s", "ms"}
        Unit of the times.
    max_span_s : float
        Default :data:`MAX_LOG_SPAN_S`.

    Raises
    ------
    DataError
        Naming the earliest and the latest record (type, line, time); ``field="<TYPE>.timestamp"``
        of the one farther from the median time.
    """
    scale = 1000.0 if unit == "ms" else 1.0
    parts = [(ty, np.asarray(t, dtype=np.float64), np.asarray(ln)) for ty, (t, ln) in times.items() if len(t)]
    if not parts:
        return
    lo = min(parts, key=lambda p: p[1].min())
    hi = max(parts, key=lambda p: p[1].max())
    t_lo, t_hi = lo[1].min(), hi[1].max()
    if (t_hi - t_lo) / scale <= max_span_s:
        return
    line_lo, line_hi = int(lo[2][np.argmin(lo[1])]), int(hi[2][np.argmax(hi[1])])
    median = np.median(np.concatenate([p[1] for p in parts]))
    odd = lo if median - t_lo > t_hi - median else hi
    raise DataError(
        f"records span {(t_hi - t_lo) / scale:.6g} s, from line {line_lo} ({lo[0]} at {t_lo:.16g} {unit}) "
        f"to line {line_hi} ({hi[0]} at {t_hi:.16g} {unit}); expected one walk of at most "
        f"{max_span_s:g} s (a broken timestamp?)",
        file=file,
        field=f"{odd[0]}.timestamp",
    )


def check_ground_truth(t, xy, lines, *, file, field: str, lo=None, hi=None, extent: str = "") -> None:
    """Refuse impossible ground-truth points of one log.

    Parameters
    ----------
    t : (K,) seconds (or any clock), any order
    xy : (K, D) metres (D = 2 or 3); for a check of repeated times, D may also carry the floor
    lines : (K,) int
        1-based file line of each point.
    file : str or Path
    field : str
        Named in the error (``"TYPE_WAYPOINT"``, ``"POSI"``).
    lo, hi : (D,) metres, optional
        The accepted box: every point must satisfy ``lo <= xy <= hi`` (NaN entries of ``lo`` /
        ``hi`` leave that coordinate unbounded).
    extent : str
        What the box is, for the message (``"the floor extent 240 x 177 m, +- 100 %"``).

    Raises
    ------
    DataError
        A point that is not finite or has ``|coordinate| > MAX_COORDINATE_M``, a point outside
        the box, or two points at the same time with different positions; the message names the
        line(s).
    """
    t = np.asarray(t, dtype=np.float64).reshape(-1)
    xy = np.asarray(xy, dtype=np.float64).reshape(len(t), -1)
    lines = np.asarray(lines).reshape(-1)
    bad = ~np.all(np.isfinite(xy), axis=1) | np.any(np.abs(xy) > MAX_COORDINATE_M, axis=1)
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"line {lines[j]}: {field} point {xy[j].tolist()}; expected finite metres with |coordinate| <= "
            f"{MAX_COORDINATE_M:g}",
            file=file,
            field=field,
        )
    if lo is not None or hi is not None:
        d = xy.shape[1]
        lo = np.full(d, -np.inf) if lo is None else np.where(np.isnan(lo), -np.inf, np.asarray(lo, dtype=np.float64))
        hi = np.full(d, np.inf) if hi is None else np.where(np.isnan(hi), np.inf, np.asarray(hi, dtype=np.float64))
        out = np.any((xy < lo) | (xy > hi), axis=1)
        if out.any():
            j = int(np.flatnonzero(out)[0])
            box = ", ".join(f"[{a:g}, {b:g}]" for a, b in zip(lo, hi))
            raise DataError(
                f"line {lines[j]}: {field} point {xy[j].tolist()} lies outside {box} m"
                f"{' (' + extent + ')' if extent else ''}; expected a ground-truth point on the site",
                file=file,
                field=field,
            )
    order = np.argsort(t, kind="stable")
    ts, ps = t[order], xy[order]
    same = np.flatnonzero((ts[1:] == ts[:-1]) & np.any(ps[1:] != ps[:-1], axis=1))
    if len(same):
        a, b = order[same[0]], order[same[0] + 1]
        raise DataError(
            f"lines {lines[a]} and {lines[b]}: two {field} points at the same time {t[a]:.16g} with "
            f"different positions {xy[a].tolist()} and {xy[b].tolist()}; expected one position per "
            "ground-truth time",
            file=file,
            field=field,
        )


def imu_values(acc_t, acc, gyr_t, gyr) -> tuple[np.ndarray, bool, int]:
    """Accelerometer and gyroscope on the accelerometer clock, side by side.

    Parameters
    ----------
    acc_t : (N,) seconds
    acc : (N, 3) m/s^2
    gyr_t : (G,) seconds, G >= 1
    gyr : (G, 3) rad/s

    Returns
    -------
    values : (N, 6) float32
        Accelerometer then the gyroscope :func:`~omniloc.data.transforms.resample_to_clock`'d onto
        ``acc_t`` (linear in time, held constant beyond its ends; as is where both clocks are equal).
    same_clock : bool
        Whether ``gyr_t`` equals ``acc_t``.
    n_outside : int
        Accelerometer samples outside the gyroscope's time span.
    """
    acc_t = np.asarray(acc_t, dtype=np.float64)
    gyr_t = np.asarray(gyr_t, dtype=np.float64)
    same = bool(np.array_equal(acc_t, gyr_t))
    g = resample_to_clock(gyr_t, gyr, acc_t)
    n_outside = int(np.count_nonzero((acc_t < gyr_t[0]) | (acc_t > gyr_t[-1])))
    return np.hstack([np.asarray(acc, dtype=np.float64).reshape(len(acc_t), 3), g]).astype(np.float32), same, n_outside


def rotation_quaternions(v) -> np.ndarray:
    """(N, 3) rotation-vector samples -> (N, 4) float32 unit quaternions (w, x, y, z), see
    :func:`~omniloc.data.transforms.quat_from_rotation_vector`."""
    return quat_from_rotation_vector(np.asarray(v, dtype=np.float64).reshape(-1, 3)).astype(np.float32)
