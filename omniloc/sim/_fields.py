"""Smooth random fields fixed in space (private): random Fourier features.

A stationary Gaussian random field with squared-exponential covariance of length scale
``ell`` is approximated by ``f(x) = std * sqrt(2 / K) * sum_k cos(w_k . x + b_k)`` with
``w_k ~ N(0, I / ell^2)`` and ``b_k ~ U(0, 2 pi)``. It is deterministic given its parameters, so a
place revisited gets the same value, and it is evaluated for any number of points at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["FourierField", "make_fourier_field"]


@dataclass
class FourierField:
    """``F`` independent scalar fields over ``D``-dimensional space.

    Parameters
    ----------
    omega : (F, K, D) rad/metre
        Random frequencies.
    phase : (F, K) rad
    weight : (F,) amplitude per field, ``std * sqrt(2 / K)``
    """

    omega: np.ndarray
    phase: np.ndarray
    weight: np.ndarray

    def _rows(self) -> int:
        """Rows per batch so that the (rows, F, K) temporaries stay around 256k elements (cache-sized)."""
        return max(1, (1 << 18) // max(1, self.phase.size))

    def _phases(self, x: np.ndarray) -> np.ndarray:
        """``w_k . x + b_k`` for a batch of points (m, D) -> (m, F, K) float32.

        Evaluated element by element in float32 (no BLAS), so a point's value does not depend on
        the batch it is evaluated in, and the cosines run in fast SIMD code. For building-sized
        coordinates (tens of metres) the phase error is about 1e-5 rad.
        """
        om = self.omega.astype(np.float32)
        x = x.astype(np.float32)
        arg = x[:, None, None, 0] * om[None, :, :, 0]
        for d in range(1, om.shape[-1]):
            arg += x[:, None, None, d] * om[None, :, :, d]
        arg += self.phase.astype(np.float32)[None]
        return arg

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Values at points ``x`` (M, D) metres -> (M, F) float64."""
        x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        out = np.empty((len(x), len(self.weight)))
        step = self._rows()
        for s in range(0, len(x), step):  # batches of rows, not per sample
            arg = self._phases(x[s : s + step])
            np.cos(arg, out=arg)
            out[s : s + step] = arg.sum(axis=-1)
        return out * self.weight[None]

    def gradient(self, x: np.ndarray) -> np.ndarray:
        """Spatial gradient at ``x`` (M, D) -> (M, F, D) float64 (units of the field per metre)."""
        x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        f, k, d = self.omega.shape
        om = self.omega.astype(np.float32)
        out = np.empty((len(x), f, d))
        step = self._rows()
        for s in range(0, len(x), step):
            arg = self._phases(x[s : s + step])
            np.sin(arg, out=arg)
            for j in range(d):
                out[s : s + step, :, j] = -(arg * om[None, :, :, j]).sum(axis=-1)
        return out * self.weight[None, :, None]

    def to_json(self) -> dict:
        return {"omega": self.omega.tolist(), "phase": self.phase.tolist(), "weight": self.weight.tolist()}


def make_fourier_field(
    rng: np.random.Generator, n_fields: int, dim: int, length_scale_m: float, std: float, n_features: int = 48
) -> FourierField:
    """Draw ``n_fields`` independent smooth fields over ``dim``-D space.

    Parameters
    ----------
    rng : numpy Generator
    n_fields : int
    dim : int
        Dimension of the input points (2 or 3).
    length_scale_m : float
        Correlation length in metres.
    std : float
        Standard deviation of each field (in the field's unit).
    n_features : int
        Number of random features ``K`` (more = closer to Gaussian).
    """
    omega = rng.normal(0.0, 1.0 / length_scale_m, size=(n_fields, n_features, dim))
    phase = rng.uniform(0.0, 2 * np.pi, size=(n_fields, n_features))
    weight = np.full(n_fields, std * np.sqrt(2.0 / n_features))
    return FourierField(omega, phase, weight)
