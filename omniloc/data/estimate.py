"""`Estimate`: what a localizer predicts for a recording or a dataset."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._errors import DataError

__all__ = ["Estimate"]


@dataclass
class Estimate:
    """Predicted poses at the times a method localizes.

    Parameters
    ----------
    recording : (M,) str
        Name of the recording each estimate belongs to.
    t : (M,) float64 seconds
        Time of each estimate on its recording's clock (evaluation compares it with the
        ground truth interpolated at this time).
    position : (M, 3) float64 metres
        Estimated position, NaN where the method could not localize.
    orientation : (M, 4) float64, optional
        Estimated orientation, unit quaternion (w, x, y, z).
    floor : (M,) int, optional
    building : (M,) int, optional
    covariance : (M, 3, 3) float64 m^2, optional
        Position uncertainty.
    """

    recording: np.ndarray
    t: np.ndarray
    position: np.ndarray
    orientation: np.ndarray | None = None
    floor: np.ndarray | None = None
    building: np.ndarray | None = None
    covariance: np.ndarray | None = None

    def __post_init__(self):
        self.recording = np.asarray(self.recording, dtype=str).reshape(-1)
        self.t = np.asarray(self.t, dtype=np.float64).reshape(-1)
        self.position = np.asarray(self.position, dtype=np.float64).reshape(-1, 3)
        for key, dtype in (
            ("orientation", np.float64),
            ("covariance", np.float64),
            ("floor", None),
            ("building", None),
        ):
            if getattr(self, key) is not None:
                setattr(self, key, np.asarray(getattr(self, key), dtype=dtype))
        m = len(self.t)
        if self.recording.shape == (1,) and m != 1:
            self.recording = np.repeat(self.recording, m)
        for key, shape in (
            ("recording", (m,)),
            ("position", (m, 3)),
            ("orientation", (m, 4)),
            ("floor", (m,)),
            ("building", (m,)),
            ("covariance", (m, 3, 3)),
        ):
            val = getattr(self, key)
            if val is not None and np.shape(val) != shape:
                raise DataError(f"estimate field must have shape {shape}, got {np.shape(val)}", field=key)

    def __len__(self) -> int:
        return len(self.t)

    @classmethod
    def concat(cls, parts: list[Estimate]) -> Estimate:
        """Stack estimates (e.g. one per recording); optional fields are kept if all parts have them."""
        if not parts:
            return cls(np.zeros(0, dtype=str), np.zeros(0), np.zeros((0, 3)))

        def cat(key):
            vals = [getattr(p, key) for p in parts]
            return None if any(v is None for v in vals) else np.concatenate(vals)

        return cls(
            cat("recording"),
            cat("t"),
            cat("position"),
            cat("orientation"),
            cat("floor"),
            cat("building"),
            cat("covariance"),
        )

    def select(self, mask) -> Estimate:
        def sel(v):
            return None if v is None else v[mask]

        return Estimate(
            self.recording[mask],
            self.t[mask],
            self.position[mask],
            sel(self.orientation),
            sel(self.floor),
            sel(self.building),
            sel(self.covariance),
        )

    def for_recording(self, name: str) -> Estimate:
        return self.select(self.recording == name)

    def to_frame(self):
        """A pandas DataFrame (one row per estimate) for CSV export."""
        import pandas as pd

        cols = {
            "recording": self.recording,
            "t": self.t,
            "x": self.position[:, 0],
            "y": self.position[:, 1],
            "z": self.position[:, 2],
        }
        if self.orientation is not None:
            for i, k in enumerate("wxyz"):
                cols[f"q{k}"] = self.orientation[:, i]
        if self.floor is not None:
            cols["floor"] = self.floor
        if self.building is not None:
            cols["building"] = self.building
        if self.covariance is not None:
            for i, a in enumerate("xyz"):
                for j, b in enumerate("xyz"):
                    if j >= i:
                        cols[f"cov_{a}{b}"] = self.covariance[:, i, j]
        return pd.DataFrame(cols)
