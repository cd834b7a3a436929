"""Visual place recognition: global image descriptors, a nearest-neighbour index and sequence matching.

* :mod:`omniloc.vpr.descriptors`: the raw-pixel baseline descriptor (downsampled, patch-normalised
  images, as SeqSLAM uses); the learned descriptors are torch networks in :mod:`omniloc.nn.place`.
* :mod:`omniloc.vpr.index`: :class:`DescriptorIndex`, faiss behind one class (exact flat search for
  small databases, IVF-PQ or HNSW for large ones; cosine similarity as an inner product of
  L2-normalised vectors), with save and load.
* :mod:`omniloc.vpr.sequence`: sequence matching over a query-database distance matrix
  (SeqSLAM: local contrast normalisation, constant-velocity search over a range of slopes).

Recall@N of a retrieval lives with the other metrics, in :mod:`omniloc.eval.retrieval`.
Names are imported on first use, so ``import omniloc.vpr`` stays free of torch and faiss.
"""

from importlib import import_module

_NAMES = {
    "patch_normalise": "descriptors",
    "raw_descriptors": "descriptors",
    "DescriptorIndex": "index",
    "INDEX_KINDS": "index",
    "local_contrast_normalise": "sequence",
    "sequence_match": "sequence",
    "SequenceMatch": "sequence",
}

__all__ = sorted(_NAMES)


def __getattr__(name):
    if name in _NAMES:
        return getattr(import_module(f".{_NAMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
