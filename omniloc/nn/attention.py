"""Non-local self-attention over a feature vector (MVLoc Eq. 14-15, after AtLoc).

For one latent vector ``z`` (D,), with learned linear maps ``theta, phi, g: R^D -> R^K``
(``K = D / reduction``) and ``W_alpha: R^K -> R^D``::

    A = softmax_rows(theta(z) phi(z)^T)      (K, K)   the attention map, Eq. 14
    a = A g(z)                                (K,)
    Att(z) = W_alpha a + z                    (D,)     Eq. 15

Eq. 14 writes ``Softmax(z^T W_theta^T W_phi z) W_g z``; read literally the argument is a scalar, so
(as in AtLoc, whose module MVLoc uses) the product is taken as the outer product of the two
embeddings, i.e. every feature ``i`` of ``theta(z)`` attends over the features ``j`` of ``phi(z)``.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["nonlocal_attention", "NonLocalAttention"]


def nonlocal_attention(
    theta: torch.Tensor, phi: torch.Tensor, g: torch.Tensor, return_map: bool = False
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Attention of embedded feature vectors: ``a = softmax(theta phi^T, dim=-1) g`` (Eq. 14).

    Parameters
    ----------
    theta, phi, g : (..., K), all the same shape
        The three embeddings ``W_theta z``, ``W_phi z``, ``W_g z`` of each sample (usually (N, K)).
    return_map : bool
        Also return the attention map.

    Returns
    -------
    a : (..., K)
    attention : (..., K, K), only with ``return_map``
        ``attention[..., i, j] = softmax_j(theta[..., i] * phi[..., j])``; rows sum to 1.
    """
    if theta.shape != phi.shape or theta.shape != g.shape or theta.dim() < 1:
        raise ValueError(
            f"theta, phi and g must have the same shape (..., K), got {tuple(theta.shape)}, {tuple(phi.shape)}, "
            f"{tuple(g.shape)}"
        )
    attn = torch.softmax(theta.unsqueeze(-1) * phi.unsqueeze(-2), dim=-1)
    a = torch.matmul(attn, g.unsqueeze(-1)).squeeze(-1)
    return (a, attn) if return_map else a


class NonLocalAttention(nn.Module):
    """Residual non-local self-attention of a feature vector: ``Att(z) = W_alpha a(z) + z`` (Eq. 14-15).

    Parameters
    ----------
    dim : int
        Feature size ``D``.
    reduction : int
        The embeddings have ``K = max(1, D // reduction)`` features.
    bias : bool
        Bias terms in the four linear maps.

    Attributes
    ----------
    theta, phi, g : nn.Linear(D, K)
    alpha : nn.Linear(K, D)
        ``W_alpha``; with it at zero the module is the identity.

    Shapes
    ------
    ``(N, D)`` -> ``(N, D)``; with ``return_map=True`` also the ``(N, K, K)`` attention map. Extra
    leading dimensions (e.g. ``(S, N, D)`` for ``S`` latent samples) carry through.
    """

    def __init__(self, dim: int, reduction: int = 8, bias: bool = True):
        super().__init__()
        if int(dim) < 1 or int(reduction) < 1:
            raise ValueError(f"dim and reduction must be >= 1, got {dim!r} and {reduction!r}")
        self.dim, self.reduction = int(dim), int(reduction)
        self.inner = max(1, self.dim // self.reduction)
        self.theta = nn.Linear(self.dim, self.inner, bias=bias)
        self.phi = nn.Linear(self.dim, self.inner, bias=bias)
        self.g = nn.Linear(self.dim, self.inner, bias=bias)
        self.alpha = nn.Linear(self.inner, self.dim, bias=bias)

    def forward(self, z: torch.Tensor, return_map: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        a, attn = nonlocal_attention(self.theta(z), self.phi(z), self.g(z), return_map=True)
        out = z + self.alpha(a)
        return (out, attn) if return_map else out
