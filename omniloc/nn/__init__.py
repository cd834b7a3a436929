"""Building blocks shared by the methods: encoders, manifold geometry, optimal transport, training.

``omniloc.nn.manifold`` is numpy/SciPy only; the other modules import torch (and are imported
only by the methods that need them, never at ``import omniloc``). The torch building blocks
listed in ``_LAZY`` are exported here too, but load on first attribute access.
"""

from importlib import import_module

from .manifold import (
    classical_mds,
    connect_components,
    free_space_geodesics,
    geodesic_distances,
    knn_pairs,
    local_covariances,
    local_stress_refine,
    pushforward_distances,
    sample_triplets,
    similarity_procrustes,
)

# name -> submodule; imported (with torch) on first access
_LAZY = {
    "BasicBlock": "resnet",
    "ResNet": "resnet",
    "resnet18": "resnet",
    "resnet34": "resnet",
    "GaussianHead": "resnet",
    "nonlocal_attention": "attention",
    "NonLocalAttention": "attention",
    "quat_canonical": "pose",
    "quat_log": "pose",
    "quat_exp": "pose",
    "geometric_loss": "pose",
    "GeometricLoss": "pose",
    "PoseHead": "pose",
    "DCGANEncoder": "dcgan",
    "DCGANDecoder": "dcgan",
    "PoseEncoder": "dcgan",
}


def __getattr__(name):
    if name in _LAZY:
        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "classical_mds",
    "connect_components",
    "free_space_geodesics",
    "geodesic_distances",
    "knn_pairs",
    "local_covariances",
    "local_stress_refine",
    "pushforward_distances",
    "sample_triplets",
    "similarity_procrustes",
    *_LAZY,
]
