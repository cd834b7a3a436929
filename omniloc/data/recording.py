"""One continuous capture: pose timeline with ground truth plus sensor streams."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._errors import DataError
from .stream import MAX_ABS_TIME_S, Stream, check_timeline

__all__ = ["Recording", "MAX_COORDINATE_M", "MAX_ABS_TIME_S", "check_coordinates", "check_timeline"]

#: Largest accepted ``|coordinate|`` of a position, metres (10,000 km). Building frames are local
#: (a few km at most; UJIIndoorLoc's shifted EPSG:3857 metres stay below 5e6), so anything larger
#: (1e300, a unit mix-up) is a broken file, refused on read and on import.
MAX_COORDINATE_M = 1e7


def check_coordinates(xyz, fld: str, file=None, max_abs_m: float = MAX_COORDINATE_M) -> None:
    """Refuse positions that are not finite or whose ``|coordinate|`` exceeds ``max_abs_m`` metres.

    Parameters
    ----------
    xyz : (N, D) metres
    fld : str
        The field named in the error (``"position"``).
    file : str or Path, optional
        The file named in the error.
    max_abs_m : float
        The bound, default :data:`MAX_COORDINATE_M`.

    Raises
    ------
    DataError
        Naming the first bad row, its values and what was expected.
    """
    xyz = np.asarray(xyz, dtype=np.float64)
    if xyz.size == 0:
        return
    rows = xyz.reshape(len(xyz), -1)
    finite = np.all(np.isfinite(rows), axis=1)
    if not finite.all():
        k = int(np.argmax(~finite))
        raise DataError(f"{fld} must be finite metres; row {k} is {rows[k].tolist()}", file=file, field=fld)
    big = np.any(np.abs(rows) > max_abs_m, axis=1)
    if big.any():
        k = int(np.argmax(big))
        raise DataError(
            f"{fld} row {k} is {rows[k].tolist()}; expected metres in a building frame with "
            f"|coordinate| <= {max_abs_m:g}",
            file=file,
            field=fld,
        )


@dataclass
class Recording:
    """One continuous capture by one device.

    Parameters
    ----------
    name : str
        Unique name inside its dataset (also the HDF5 file stem).
    t : (N,) float64 seconds
        Pose timeline, non-decreasing.
    position : (N, 3) float64 metres, optional
        Ground-truth position in the building frame (x east, y north, z up).
    orientation : (N, 4) float64, optional
        Ground-truth orientation ``world_from_device`` as unit quaternion (w, x, y, z).
    floor : (N,) int, optional
        Floor index (0 = ground floor in simulated buildings; as given by real datasets).
    building : (N,) int, optional
        Building index, for multi-building datasets.
    zone : (N,) str, optional
        Zone (room, region) label of each pose, matching a zone of the floor plan.
    streams : dict[str, Stream]
        Sensor streams by name (``"wifi"``, ``"imu"``, ``"rgb"``...).
    meta : dict
        JSON-serialisable metadata: ``device`` (profile name), ``site``, ``source`` etc.
    """

    name: str
    t: np.ndarray
    position: np.ndarray | None = None
    orientation: np.ndarray | None = None
    floor: np.ndarray | None = None
    building: np.ndarray | None = None
    zone: np.ndarray | None = None
    streams: dict[str, Stream] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.t = np.asarray(self.t, dtype=np.float64)
        if self.position is not None:
            self.position = np.asarray(self.position, dtype=np.float64)
        if self.orientation is not None:
            self.orientation = np.asarray(self.orientation, dtype=np.float64)
        if self.floor is not None:
            self.floor = np.asarray(self.floor)
        if self.building is not None:
            self.building = np.asarray(self.building)
        if self.zone is not None:
            self.zone = np.asarray(self.zone, dtype=str)

    def __len__(self) -> int:
        return len(self.t)

    @property
    def duration_s(self) -> float:
        return float(self.t[-1] - self.t[0]) if len(self.t) else 0.0

    def stream(self, name: str) -> Stream:
        """The stream ``name``; a :class:`DataError` listing the available ones otherwise."""
        try:
            return self.streams[name]
        except KeyError:
            raise DataError(
                f"recording '{self.name}' has no stream '{name}'; it has {sorted(self.streams)}",
                field=f"streams/{name}",
            ) from None

    def streams_of_kind(self, kind: str) -> dict[str, Stream]:
        return {k: s for k, s in self.streams.items() if s.kind == kind}

    def find_stream(self, kind: str, name: str | None = None, required: bool = True) -> Stream | None:
        """The stream of ``kind`` a method should read: the one rule every method uses.

        1. ``name`` given: that stream, which must be of ``kind``;
        2. else the only stream of ``kind``;
        3. else, among several, the one named like the kind (``wifi`` next to a ``ble`` stream
           of kind wifi);
        4. else a :class:`DataError` that lists the streams there are and how to choose.

        Parameters
        ----------
        kind : str
            One of :data:`omniloc.data.STREAM_KINDS`.
        name : str, optional
            The stream's name (a method's ``stream`` / ``streams`` conf).
        required : bool
            False: a recording without any stream of ``kind`` (or without ``name``) gives None
            instead of an error. A stream of the wrong kind or an ambiguous choice is always an error.
        """
        if name is not None:
            s = self.streams.get(name)
            if s is None:
                if not required:
                    return None
                raise DataError(
                    f"recording '{self.name}' has no stream '{name}' (needed as its {kind} stream); "
                    f"it has {sorted(self.streams)}",
                    field=f"streams/{name}",
                )
            if s.kind != kind:
                raise DataError(
                    f"stream '{name}' of recording '{self.name}' is {s.kind}, expected {kind}", field=f"streams/{name}"
                )
            return s
        found = self.streams_of_kind(kind)
        if len(found) == 1:
            return next(iter(found.values()))
        if kind in found:
            return found[kind]
        if found:
            raise DataError(
                f"recording '{self.name}' has several {kind} streams {sorted(found)} and none is "
                f"named '{kind}'; choose one with the method's stream conf "
                f"(e.g. --conf stream={sorted(found)[0]})",
                field="streams",
            )
        if not required:
            return None
        have = {k: s.kind for k, s in self.streams.items()}
        raise DataError(f"recording '{self.name}' has no {kind} stream; it has {have or 'no streams'}", field="streams")

    def validate(self, file=None) -> Recording:
        """Check shapes, dtypes, finiteness and ranges of every field; raise :class:`DataError` naming it.

        * ``t``: (N,) finite seconds, non-decreasing, ``|t| <= MAX_ABS_TIME_S`` (1e10 s);
        * ``position``: (N, 3) finite metres with ``|coordinate| <= MAX_COORDINATE_M`` (1e7 m:
          10,000 km, larger than any building frame, so a value like 1e300 is refused);
        * ``orientation``: (N, 4) finite unit quaternions; ``floor``, ``building``: (N,) integers;
          ``zone``: (N,) labels;
        * every stream: :meth:`Stream.validate`.

        Returns self so that it chains.
        """
        n = len(self.t)
        check_timeline(self.t, "t", file)
        if self.position is not None:
            if self.position.shape != (n, 3):
                raise DataError(
                    f"position must be (N, 3) metres with N={n}, got shape {self.position.shape}",
                    file=file,
                    field="position",
                )
            check_coordinates(self.position, "position", file)
        if self.orientation is not None:
            if self.orientation.shape != (n, 4):
                raise DataError(
                    f"orientation must be (N, 4) unit quaternions w,x,y,z with N={n}, got shape "
                    f"{self.orientation.shape}",
                    file=file,
                    field="orientation",
                )
            if not np.all(np.isfinite(self.orientation)):
                k = int(np.argmax(~np.all(np.isfinite(self.orientation), axis=1)))
                raise DataError(
                    f"orientation must be finite unit quaternions (w, x, y, z); row {k} is "
                    f"{self.orientation[k].tolist()}",
                    file=file,
                    field="orientation",
                )
            norm = np.linalg.norm(self.orientation, axis=1)
            if not np.all(np.abs(norm - 1) < 1e-3):
                raise DataError(
                    "orientation must hold unit quaternions (w, x, y, z); norms range "
                    f"{np.nanmin(norm):.4g}..{np.nanmax(norm):.4g}",
                    file=file,
                    field="orientation",
                )
        for key in ("floor", "building"):
            arr = getattr(self, key)
            if arr is not None:
                if arr.shape != (n,) or not np.issubdtype(arr.dtype, np.integer):
                    raise DataError(
                        f"{key} must be (N,) integers with N={n}, got shape {arr.shape} dtype {arr.dtype}",
                        file=file,
                        field=key,
                    )
        if self.zone is not None and self.zone.shape != (n,):
            raise DataError(
                f"zone must be (N,) labels with N={n}, got shape {self.zone.shape}", file=file, field="zone"
            )
        for name, stream in self.streams.items():
            if not isinstance(stream, Stream):
                raise DataError(f"expected a Stream, got {type(stream).__name__}", file=file, field=f"streams/{name}")
            stream.validate(name, file=file)
        return self

    def crop(self, t_start: float, t_end: float) -> Recording:
        """A new recording with the poses and stream samples in ``[t_start, t_end]`` seconds."""
        keep = (self.t >= t_start) & (self.t <= t_end)

        def sel(a):
            return None if a is None else a[keep]

        streams = {k: s.select((s.t >= t_start) & (s.t <= t_end)) for k, s in self.streams.items()}
        return Recording(
            self.name,
            self.t[keep],
            sel(self.position),
            sel(self.orientation),
            sel(self.floor),
            sel(self.building),
            sel(self.zone),
            streams,
            dict(self.meta),
        )
