"""Lazy, picklable access to an HDF5 dataset (images are read frame by frame)."""

from __future__ import annotations

import numpy as np

__all__ = ["LazyArray"]


class LazyArray:
    """Array-like view of one HDF5 dataset that reads only what is indexed.

    The file is opened on first access and kept open; pickling drops the handle so that a
    lazy stream can be sent to data-loader worker processes.

    Parameters
    ----------
    path : str
        HDF5 file.
    key : str
        Dataset path inside the file.
    shape, dtype
        Shape and dtype of the dataset (read once when the recording was opened).
    """

    def __init__(self, path: str, key: str, shape: tuple[int, ...], dtype):
        self.path, self.key = str(path), key
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        self._h5 = None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def _dataset(self):
        if self._h5 is None:
            import h5py

            self._h5 = h5py.File(self.path, "r")
        return self._h5[self.key]

    def __getitem__(self, index):
        ds = self._dataset()
        if isinstance(index, (list, np.ndarray)):
            index = np.asarray(index)
            if index.dtype == bool:
                index = np.flatnonzero(index)
            if index.size == 0:
                return np.empty((0,) + self.shape[1:], self.dtype)
            index = np.where(index < 0, index + self.shape[0], index)
            uniq, inverse = np.unique(index, return_inverse=True)
            return ds[uniq][inverse]  # h5py needs increasing, unique indices
        return ds[index]

    def __array__(self, dtype=None, copy=None):
        out = self._dataset()[()]
        return out if dtype is None else out.astype(dtype)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_h5"] = None
        return state

    def __repr__(self) -> str:
        return f"LazyArray({self.path!r}, {self.key!r}, shape={self.shape}, dtype={self.dtype})"
