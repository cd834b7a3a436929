"""Random streams for the simulator (private); configuration merging is :func:`omniloc._conf.merge_conf`."""

from __future__ import annotations

import numpy as np

from .._conf import merge_conf

__all__ = ["merge_conf", "make_rng"]


def make_rng(seed: int, *keys: int) -> np.random.Generator:
    """An independent generator for ``(seed, *keys)``.

    Every random component of the simulator draws from its own stream keyed by integers, so
    that e.g. adding a recording does not change the floor plan or the access points.
    """
    return np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, *[int(k) for k in keys]]))
