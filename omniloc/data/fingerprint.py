"""WiFi fingerprints: the access-point vocabulary, scans aligned to it, and RSS representations.

One place for what every WiFi method does to a scan before it compares or learns from it:

* :func:`access_point_vocabulary`: the access points (APs) heard in training streams;
* :func:`align_access_points`: a stream's scans as columns of that vocabulary (NaN = not heard);
* :func:`scan_matrix`: logged radio rows ``(t, id, rss)`` (one row per access point heard, as
  phone logs write them) as a scan matrix, one row per scan time;
* :func:`rss_to_features`: the representations of Torres-Sospedra et al. (2015) that kNN
  fingerprinting compares (``dbm``, ``positive``, ``exponential``, ``powed``), 0 = not heard;
* :func:`wifi_features`: the network inputs of MTLoc's WiFi-DNN (``mask``: standardised RSS plus
  the 0/1 heard mask, 2 inputs per AP; ``positive``: the paper's single input per AP).

RSS values are dBm (negative), NaN where an AP was not heard.
"""

from __future__ import annotations

import math

import numpy as np

from .._errors import ConfigError, DataError
from .stream import Stream

__all__ = [
    "REPRESENTATIONS",
    "WIFI_ENCODINGS",
    "access_point_vocabulary",
    "align_access_points",
    "rss_to_features",
    "wifi_features",
    "scan_matrix",
]

#: representations of :func:`rss_to_features`
REPRESENTATIONS = ("dbm", "positive", "exponential", "powed")
#: encodings of :func:`wifi_features`
WIFI_ENCODINGS = ("mask", "positive")


def access_point_vocabulary(streams, max_access_points: int | None = None) -> np.ndarray:
    """Access points heard in ``streams``, most often heard first (ties by id), at most ``max_access_points``.

    Parameters
    ----------
    streams : iterable of ``wifi`` Stream

    Returns
    -------
    (A,) str
    """
    counts: dict[str, int] = {}
    for s in streams:
        if s.ids is None:
            raise DataError("a wifi stream needs access point ids", field="stream (wifi)/ids")
        heard = np.isfinite(np.asarray(s.load(), dtype=np.float32)).sum(axis=0)
        for a, n in zip(s.ids.tolist(), heard.tolist()):
            counts[a] = counts.get(a, 0) + int(n)
    ids = sorted((a for a, n in counts.items() if n > 0), key=lambda a: (-counts[a], a))
    if max_access_points is not None:
        ids = ids[: int(max_access_points)]
    return np.asarray(ids, dtype=str)


def align_access_points(stream: Stream, ap_ids) -> np.ndarray:
    """The scans of a ``wifi`` stream on an access-point vocabulary.

    Parameters
    ----------
    stream : Stream
        ``wifi`` (S, A_s) dBm, NaN = not heard, with ``ids`` (A_s,).
    ap_ids : (A,) str
        The vocabulary.

    Returns
    -------
    (S, A) float32 dBm
        Column ``j`` is the stream's column with id ``ap_ids[j]``, NaN where the stream has no
        such AP; the stream's APs outside the vocabulary are dropped.
    """
    if stream.ids is None:
        raise DataError("a wifi stream needs access point ids", field="stream (wifi)/ids")
    vals = np.asarray(stream.load(), dtype=np.float32)
    ap_ids = np.asarray(ap_ids, dtype=str)
    out = np.full((len(vals), len(ap_ids)), np.nan, dtype=np.float32)
    col = {a: j for j, a in enumerate(ap_ids.tolist())}
    pairs = [(i, col[a]) for i, a in enumerate(stream.ids.tolist()) if a in col]
    if pairs:
        src, dst = np.array(pairs, dtype=np.int64).T
        out[:, dst] = vals[:, src]
    return out


def scan_matrix(t, ids, rss, rank=None) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Radio rows ``(t, id, rss)`` -> one scan per distinct time, one column per distinct id.

    Phone logs write one row per access point (or beacon) heard; the rows of one scan share its
    time. Where an id appears more than once in a scan (a dual-band access point, a cached result
    next to a fresh one) the row with the largest ``rank`` is kept, then the strongest ``rss``.

    Parameters
    ----------
    t : (R,) seconds
        Scan time of each row.
    ids : (R,) str
        Access point (BSSID) or beacon id of each row.
    rss : (R,) dBm
    rank : (R,) float, optional
        Preference among rows of one id in one scan (e.g. the ``last_seen`` time: freshest first);
        default: none, the strongest row wins.

    Returns
    -------
    times : (S,) float64 seconds
        The distinct scan times, sorted.
    values : (S, A) float32 dBm
        NaN where the id was not heard in that scan.
    ids : (A,) str
        The distinct ids, sorted.
    merged : int
        Rows dropped because their id was already in the scan.
    """
    t = np.asarray(t, dtype=np.float64).reshape(-1)
    ids = np.asarray(ids, dtype=str).reshape(-1)
    rss = np.asarray(rss, dtype=np.float64).reshape(-1)
    rank = np.zeros(len(t)) if rank is None else np.asarray(rank, dtype=np.float64).reshape(-1)
    if not len(t) == len(ids) == len(rss) == len(rank):
        raise ValueError(
            f"scan_matrix needs rows of equal length, got t {len(t)}, ids {len(ids)}, rss {len(rss)}, rank {len(rank)}"
        )
    times, scan = np.unique(t, return_inverse=True)
    uid, col = np.unique(ids, return_inverse=True)
    scan, col = scan.reshape(-1), col.reshape(-1)
    values = np.full((len(times), len(uid)), np.nan, dtype=np.float32)
    if not len(t):
        return times, values, uid.astype(str), 0
    key = scan.astype(np.int64) * len(uid) + col
    order = np.lexsort((rss, rank, key))
    last = np.r_[key[order][1:] != key[order][:-1], True]
    keep = order[last]
    values[scan[keep], col[keep]] = rss[keep]
    return times, values, uid.astype(str), int(len(t) - len(keep))


def rss_to_features(
    rss: np.ndarray,
    representation: str,
    min_rss: float,
    *,
    alpha: float = 24.0,
    beta: float = math.e,
    not_heard_dbm: float = -110.0,
) -> np.ndarray:
    """RSS in dBm (NaN = not heard) -> non-negative features, 0 = not heard.

    Parameters
    ----------
    rss : (N, A) dBm, NaN where not heard
    representation : {"dbm", "positive", "exponential", "powed"}
        See the module docstring; ``dbm`` returns ``max(rss, not_heard_dbm) - not_heard_dbm``.
    min_rss : float
        The ``min`` of the positive/exponential/powed representations (dBm, negative); readings
        below it are clipped to it.
    alpha, beta, not_heard_dbm : float

    Returns
    -------
    (N, A) float32
    """
    rss = np.asarray(rss, dtype=np.float64)
    heard = np.isfinite(rss)
    x = np.where(heard, rss, 0.0)
    if representation == "dbm":
        out = np.maximum(x, not_heard_dbm) - not_heard_dbm
    else:
        pos = np.maximum(x, min_rss) - min_rss + 1.0
        if representation == "positive":
            out = pos
        elif representation == "exponential":
            out = np.exp((pos + min_rss) / alpha)  # = exp(pos/alpha) / exp(-min/alpha)
        elif representation == "powed":
            if min_rss >= 0:
                raise ConfigError(f"the powed representation needs a negative min_rss, got {min_rss}")
            out = (pos / -min_rss) ** beta
        else:
            raise ConfigError(f"unknown representation {representation!r}; expected one of {REPRESENTATIONS}")
    return np.where(heard, out, 0.0).astype(np.float32)


def wifi_features(
    scans: np.ndarray, encoding: str, rss_mean: float, rss_std: float, rss_min: float, rss_max: float
) -> np.ndarray:
    """Network input of WiFi scans (see the module docstring).

    Parameters
    ----------
    scans : (S, A) dBm, NaN = not heard
    encoding : ``"mask"`` or ``"positive"``
    rss_mean, rss_std : float dBm
        Standardisation of heard readings (``mask``).
    rss_min, rss_max : float dBm
        Range of heard readings (``positive``).

    Returns
    -------
    (S, 2A) float32 for ``mask`` (standardised RSS with 0 where not heard, then the 0/1 heard
    mask), (S, A) float32 for ``positive`` (in (0, 1] where heard, 0 where not).
    """
    rss = np.asarray(scans, dtype=np.float32)
    heard = np.isfinite(rss)
    if encoding == "mask":
        z = np.where(heard, (rss - np.float32(rss_mean)) / np.float32(rss_std), 0.0)
        return np.concatenate([z, heard], axis=1).astype(np.float32)
    if encoding == "positive":
        span = np.float32(rss_max - rss_min + 1.0)
        pos = (np.clip(rss, rss_min, rss_max) - np.float32(rss_min) + 1.0) / span
        return np.where(heard, pos, 0.0).astype(np.float32)
    raise ConfigError(f"wifi_encoding must be 'mask' or 'positive', got {encoding!r}")
