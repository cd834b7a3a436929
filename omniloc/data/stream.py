"""One sensor's time series: `Stream` and its validation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._errors import DataError
from ._lazy import LazyArray

__all__ = ["Stream", "STREAM_KINDS", "MAX_ABS_TIME_S", "WIFI_RSS_RANGE_DBM", "check_timeline"]

#: Largest accepted ``|t|``, seconds (1e10 s: Unix seconds up to the year 2286). Relative clocks
#: and Unix seconds are far below it; Unix milliseconds or a value like 1e300 are refused.
MAX_ABS_TIME_S = 1e10
#: Accepted range of heard WiFi/BLE RSS on read, dBm (wider than any receiver's, to catch unit errors).
WIFI_RSS_RANGE_DBM = (-200.0, 30.0)


def check_timeline(t: np.ndarray, fld: str, file=None) -> None:
    """Refuse a timeline that is not (N,) finite, non-decreasing seconds with ``|t| <= MAX_ABS_TIME_S``.

    Parameters
    ----------
    t : (N,) seconds
    fld : str
        The field named in the error (``"t"``, ``"streams/imu/t"``).
    file : str or Path, optional
        The file named in the error.

    Raises
    ------
    DataError
        Naming the first bad sample and what was expected.
    """
    t = np.asarray(t)
    if t.ndim != 1:
        raise DataError(f"timestamps must be (N,) seconds, got shape {t.shape}", file=file, field=fld)
    if not np.issubdtype(t.dtype, np.number) or np.issubdtype(t.dtype, np.complexfloating):
        raise DataError(f"timestamps must be real numbers (seconds), got dtype {t.dtype}", file=file, field=fld)
    if not np.all(np.isfinite(t)):
        k = int(np.argmax(~np.isfinite(t)))
        raise DataError(f"timestamps must be finite seconds; t[{k}] is {t[k]}", file=file, field=fld)
    big = np.abs(t) > MAX_ABS_TIME_S
    if big.any():
        k = int(np.argmax(big))
        raise DataError(
            f"t[{k}] = {t[k]:g}; expected seconds with |t| <= {MAX_ABS_TIME_S:g} (relative or Unix "
            "seconds, not milliseconds)",
            file=file,
            field=fld,
        )
    if len(t) > 1 and np.any(np.diff(t) < 0):
        k = int(np.argmax(np.diff(t) < 0))
        raise DataError(
            f"timestamps must be non-decreasing; t[{k + 1}]={t[k + 1]} < t[{k}]={t[k]}", file=file, field=fld
        )


#: kind -> (expected number of dimensions of `values`, fixed trailing shape or None, description)
STREAM_KINDS: dict[str, tuple[tuple[int, ...], tuple | None, str]] = {
    "rgb": ((4,), (3,), "(N, H, W, 3) uint8 colour images"),
    "depth": ((3,), None, "(N, H, W) float32 depth in metres (0 or NaN = no measurement)"),
    "wifi": ((2,), None, "(N, A) float32 RSS in dBm, NaN = access point not heard"),
    "imu": ((2,), (6,), "(N, 6) accelerometer m/s^2 (x, y, z) then gyroscope rad/s (x, y, z), device frame"),
    "magnetometer": ((2,), (3,), "(N, 3) magnetic field in microtesla, device frame"),
    "vector": ((2,), None, "(N, D) any other float signal"),
    "image": ((3, 4), None, "(N, H, W) or (N, H, W, C) any other image-like signal (e.g. a top-down patch)"),
}


@dataclass
class Stream:
    """Timestamps and values of one sensor, at the sensor's own rate.

    Parameters
    ----------
    kind : str
        One of :data:`STREAM_KINDS`: ``rgb``, ``depth``, ``wifi``, ``imu``, ``magnetometer``,
        ``vector``, ``image``.
    t : (N,) float64 seconds
        Sample times, non-decreasing, on the same clock as the recording's pose timeline.
    values : (N, ...) array or :class:`~omniloc.data._lazy.LazyArray`
        The samples; shape and dtype per kind (see :data:`STREAM_KINDS`). Images read from disk
        stay lazy: indexing loads only the frames asked for.
    ids : (D,) str, optional
        Names of the value columns: the access point ids (BSSID/MAC) of a ``wifi`` stream
        (required there), channel names otherwise.
    meta : dict
        Free-form sensor metadata (device model, intrinsics ``K`` (3, 3), units...). JSON-serialisable.
    """

    kind: str
    t: np.ndarray
    values: Any
    ids: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.t = np.asarray(self.t, dtype=np.float64)
        if not isinstance(self.values, LazyArray):
            self.values = np.asarray(self.values)
        if self.ids is not None:
            self.ids = np.asarray(self.ids, dtype=str)

    def __len__(self) -> int:
        return len(self.t)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.values.shape)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.values.dtype)

    @property
    def rate_hz(self) -> float:
        """Median sampling rate in Hz (NaN for fewer than two samples)."""
        if len(self.t) < 2:
            return float("nan")
        dt = np.median(np.diff(self.t))
        return float(1.0 / dt) if dt > 0 else float("inf")

    def load(self) -> np.ndarray:
        """All values as an in-memory array (loads a lazy stream)."""
        return np.asarray(self.values[:]) if isinstance(self.values, LazyArray) else self.values

    def select(self, index) -> Stream:
        """A new stream with the samples ``index`` (boolean mask, slice or integer array)."""
        idx = np.arange(len(self.t))[index]
        return Stream(self.kind, self.t[idx], np.asarray(self.values[idx]), self.ids, dict(self.meta))

    def validate(self, name: str = "", file=None) -> Stream:
        """Check kind, shapes, dtypes, timestamps and values; raise :class:`DataError` naming the field.

        * ``t``: see :func:`check_timeline`; one value row per timestamp, shape per kind;
        * ``rgb`` uint8, the other kinds numeric;
        * ``wifi``: floating point dBm (float32 as written by the loaders; integer codes such as
          int16 are refused: "not heard" must be NaN), every value NaN or finite within
          :data:`WIFI_RSS_RANGE_DBM` (no +-inf), one unique access point id per column;
        * ``imu``, ``magnetometer``: finite values.

        Parameters
        ----------
        name : str
            The stream's name in its recording (for the field named in errors).
        file : str or Path, optional
            The file named in errors.

        Returns self so that it chains.
        """
        fld = f"streams/{name}" if name else "stream"
        if self.kind not in STREAM_KINDS:
            raise DataError(
                f"unknown stream kind {self.kind!r}; expected one of {sorted(STREAM_KINDS)}",
                file=file,
                field=f"{fld}/kind",
            )
        ndims, trailing, desc = STREAM_KINDS[self.kind]
        check_timeline(self.t, f"{fld}/t", file)
        shape = self.shape
        if len(shape) not in ndims:
            raise DataError(f"{self.kind} values must be {desc}; got shape {shape}", file=file, field=f"{fld}/values")
        if shape[0] != len(self.t):
            raise DataError(
                f"{shape[0]} values for {len(self.t)} timestamps; expected one value row per timestamp",
                file=file,
                field=f"{fld}/values",
            )
        if trailing is not None and shape[-len(trailing) :] != trailing:
            raise DataError(f"{self.kind} values must be {desc}; got shape {shape}", file=file, field=f"{fld}/values")
        dt = self.dtype
        if self.kind == "rgb" and dt != np.uint8:
            raise DataError(f"rgb values must be uint8, got {dt}", file=file, field=f"{fld}/values")
        if self.kind != "rgb" and not (np.issubdtype(dt, np.floating) or np.issubdtype(dt, np.integer)):
            raise DataError(f"{self.kind} values must be numeric, got {dt}", file=file, field=f"{fld}/values")
        if self.kind == "wifi":
            self._validate_wifi(fld, file)
        elif self.kind in ("imu", "magnetometer") and not np.all(np.isfinite(self.load())):
            raise DataError(f"{self.kind} values contain NaN or infinity", file=file, field=f"{fld}/values")
        return self

    def _validate_wifi(self, fld: str, file) -> None:
        shape = self.shape
        if self.ids is None or self.ids.shape != (shape[1],):
            got = None if self.ids is None else self.ids.shape
            raise DataError(
                f"a wifi stream needs one access point id per column: expected ids of shape ({shape[1]},), got {got}",
                file=file,
                field=f"{fld}/ids",
            )
        uniq, counts = np.unique(self.ids, return_counts=True)
        if len(uniq) < len(self.ids):
            dup = uniq[counts > 1]
            raise DataError(
                f"access point ids must be unique (one column per access point); {len(dup)} repeated, "
                f"e.g. {str(dup[0])!r} in columns {np.flatnonzero(self.ids == dup[0]).tolist()}",
                file=file,
                field=f"{fld}/ids",
            )
        if not np.issubdtype(self.dtype, np.floating):
            raise DataError(
                f"wifi values must be floating point dBm (float32) with NaN = not heard, got {self.dtype}",
                file=file,
                field=f"{fld}/values",
            )
        vals = self.load()
        inf = np.isinf(vals)
        if inf.any():
            k = np.argwhere(inf)[0]
            raise DataError(
                f"wifi RSS must be finite dBm or NaN for 'not heard'; value [{k[0]}, {k[1]}] is {vals[tuple(k)]}",
                file=file,
                field=f"{fld}/values",
            )
        finite = vals[np.isfinite(vals)]
        lo, hi = WIFI_RSS_RANGE_DBM
        if finite.size and (finite.max() > hi or finite.min() < lo):
            raise DataError(
                f"wifi RSS must be in dBm (about -120..0) with NaN for 'not heard'; got values in "
                f"[{finite.min():g}, {finite.max():g}]",
                file=file,
                field=f"{fld}/values",
            )
