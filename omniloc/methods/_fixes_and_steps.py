"""What ``track`` and ``pf`` share: a base method's fixes fused with the phone's dead-reckoned steps.

:data:`BASE_STEP_CONF` is their common configuration (documented in each class), and
:class:`FixesAndSteps` checks it and calibrates the steps and the heading on the training walks
(:func:`omniloc.filters.calibrate_steps`, the rule ``pdr`` uses too).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .._errors import ConfigError
from ..data import Dataset
from ..filters import HEADING_SOURCES, STEP_DEFAULTS, calibrate_steps

__all__ = ["BASE_STEP_CONF", "FixesAndSteps"]

#: the base method, the IMU's step detection and the heading source
BASE_STEP_CONF: dict = {
    "base": "knn",
    "base_conf": None,
    "base_preset": None,
    "imu_stream": None,
    "steps": dict(STEP_DEFAULTS),
    "heading": "auto",
    "orientation_stream": None,
    "step_length_k": 0.5,
    "fit_step_length": True,
}


class FixesAndSteps:
    """Mixin of :class:`~omniloc.methods.base.Localizer` subclasses built on a base method and steps."""

    def _check_base_and_steps(self) -> None:
        """The base method exists and takes its conf and preset; heading source and ``K`` are valid."""
        from . import available, create

        c, name = self.conf, self.name
        if c["base"] not in available() or c["base"] == name:
            raise ConfigError(
                f"{name} conf 'base' must be another registered method, got {c['base']!r}; "
                f"available: {[m for m in available() if m != name]}"
            )
        try:
            create(c["base"], c["base_conf"], preset=c["base_preset"])  # its conf and preset are valid
        except ConfigError as e:
            raise ConfigError(f"{name} conf 'base_conf' / 'base_preset' for base {c['base']!r}: {e}") from None
        if c["heading"] not in HEADING_SOURCES:
            raise ConfigError(f"{name} conf 'heading' must be one of {list(HEADING_SOURCES)}, got {c['heading']!r}")
        if c["step_length_k"] is None or not c["step_length_k"] > 0:
            raise ConfigError(f"{name} conf 'step_length_k' must be a positive number, got {c['step_length_k']!r}")

    def _calibrate_steps(self, train: Dataset | None) -> None:
        """``step_length_k_``, ``heading_source_`` and ``heading_offset_`` from the training walks."""
        c = self.conf
        cal = calibrate_steps(
            [] if train is None else train, c["steps"], c["heading"], c["imu_stream"], c["orientation_stream"]
        )
        self.step_length_k_ = float(c["step_length_k"])
        if c["fit_step_length"] and cal.step_length_k is not None:
            self.step_length_k_ = float(cal.step_length_k)
        self.heading_source_ = cal.heading_source
        self.heading_offset_ = 0.0 if cal.heading_offset is None else float(cal.heading_offset)

    # ------------------------------------------------------------------ persistence
    def _get_state(self) -> dict[str, Any]:
        return {
            "step_length_k_": float(self.step_length_k_),
            "heading_source_": self.heading_source_,
            "heading_offset_": float(self.heading_offset_),
        }

    def _save_extra(self, folder: Path) -> None:
        self.base_.save(Path(folder) / "base")

    def _load_extra(self, folder: Path) -> None:
        from . import load

        self.base_ = load(Path(folder) / "base")
