"""`Dataset`: floor plans + recordings + splits by recording."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from .._errors import DataError
from .floorplan import FloorPlan
from .recording import Recording

__all__ = ["Dataset"]


@dataclass
class Dataset:
    """Floor plans, recordings and their splits.

    Splits are by recording: no recording's frames appear on both sides of a split.

    Parameters
    ----------
    name : str
        Dataset name (``"sim-office"``, ``"ujiindoorloc"``...).
    recordings : dict[str, Recording]
        Recordings by name.
    floor_plans : dict[str, FloorPlan]
        Floor plans by name; see :meth:`floor_plan` to find the one of a (building, floor).
    splits : dict[str, list[str]]
        Split name -> recording names (``"train"``, ``"val"``, ``"test"``...).
    provenance : dict
        Where the data came from: source, licence, generator and seed, import options.
    """

    name: str
    recordings: dict[str, Recording] = field(default_factory=dict)
    floor_plans: dict[str, FloorPlan] = field(default_factory=dict)
    splits: dict[str, list[str]] = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.recordings)

    def __iter__(self) -> Iterator[Recording]:
        return iter(self.recordings.values())

    def __getitem__(self, name: str) -> Recording:
        try:
            return self.recordings[name]
        except KeyError:
            raise DataError(f"dataset '{self.name}' has no recording '{name}'") from None

    @property
    def n_samples(self) -> int:
        """Total number of poses over all recordings."""
        return int(sum(len(r) for r in self))

    def split(self, name: str) -> Dataset:
        """The sub-dataset holding the recordings of split ``name`` (floor plans shared)."""
        if name not in self.splits:
            raise DataError(
                f"dataset '{self.name}' has no split '{name}'; it has {sorted(self.splits)}", field=f"splits/{name}"
            )
        return self.subset(self.splits[name], name=f"{self.name}/{name}")

    def subset(self, names, name: str | None = None) -> Dataset:
        """A dataset with only the recordings ``names`` (in that order)."""
        recs = {n: self[n] for n in names}
        splits = {k: [n for n in v if n in recs] for k, v in self.splits.items()}
        return Dataset(
            name or self.name, recs, self.floor_plans, {k: v for k, v in splits.items() if v}, dict(self.provenance)
        )

    def floor_plan(self, floor: int = 0, building: int = 0) -> FloorPlan:
        """The floor plan of ``(building, floor)``."""
        for plan in self.floor_plans.values():
            if plan.floor == floor and plan.building == building:
                return plan
        raise DataError(
            f"dataset '{self.name}' has no floor plan for building {building} floor {floor}; "
            f"it has {[(p.building, p.floor) for p in self.floor_plans.values()]}",
            field="floor_plans",
        )

    def with_split(self, **splits: list[str]) -> Dataset:
        """A copy with new or replaced splits (recording names must exist)."""
        for k, names in splits.items():
            missing = [n for n in names if n not in self.recordings]
            if missing:
                raise DataError(f"split '{k}' names unknown recordings {missing[:5]}", field=f"splits/{k}")
        return Dataset(self.name, self.recordings, self.floor_plans, {**self.splits, **splits}, dict(self.provenance))

    def validate(self) -> Dataset:
        for plan in self.floor_plans.values():
            plan.validate()
        for rec in self:
            rec.validate()
        for k, names in self.splits.items():
            missing = [n for n in names if n not in self.recordings]
            if missing:
                raise DataError(f"split '{k}' names unknown recordings {missing[:5]}", field=f"splits/{k}")
        return self

    def summary(self) -> dict:
        """Counts per split and the streams available, for printing.

        Where the importer tolerated odd values (``provenance["import_warnings"]``, ``{file:
        {reason: count}}``), ``import_warnings`` is their total and ``import_warnings_in_files``
        the number of files with any; the details stay in the provenance (``dataset.json``).
        """
        kinds: dict[str, str] = {}
        for rec in self:
            for name, s in rec.streams.items():
                kinds.setdefault(name, s.kind)
        out = {
            "name": self.name,
            "recordings": len(self),
            "samples": self.n_samples,
            "floor_plans": len(self.floor_plans),
            "splits": {k: len(v) for k, v in self.splits.items()},
            "streams": kinds,
        }
        warnings = self.provenance.get("import_warnings") or {}
        if warnings:
            out["import_warnings"] = int(sum(sum(c.values()) for c in warnings.values()))
            out["import_warnings_in_files"] = len(warnings)
        return out

    def concat(self, key: str) -> np.ndarray:
        """A ground-truth field (``position``, ``floor``...) of all recordings stacked."""
        parts = [getattr(r, key) for r in self]
        if any(p is None for p in parts):
            raise DataError(f"not every recording has ground truth '{key}'", field=key)
        return np.concatenate(parts) if parts else np.zeros(0)
