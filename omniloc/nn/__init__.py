"""Building blocks shared by the methods: encoders, manifold geometry, optimal transport, training.

``omniloc.nn.manifold`` is numpy/SciPy only; the other modules import torch (and are imported
only by the methods that need them, never at ``import omniloc``).
"""

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
]
