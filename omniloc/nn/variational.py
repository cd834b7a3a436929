"""Variational fusion of modalities: Gaussian experts, their product, and importance-weighted objectives.

The pieces of MVLoc's MVGAL fusion (Zhou et al., Sec. 3.2), written as plain tensor functions:

* :func:`product_of_experts`: the joint Gaussian ``q(z | x^1, ..., x^E)`` of Eq. 4-5, the
  product of the per-modality Gaussians and the prior expert ``N(0, I)``; an absent modality is
  an absent expert (its precision is left out), never a fake input;
* :func:`reparameterize`: ``z = mu + sigma * eps`` with ``eps ~ N(0, I)``, ``k`` samples at once;
* :func:`gaussian_log_prob`, :func:`kl_standard_normal`: diagonal-Gaussian log densities and the
  closed-form KL divergence to the prior;
* :func:`importance_weighted_loss`: the importance-weighted bound of Eq. 6-7 with the weights of
  Eq. 13, ``log w_i = -L_p(y, y_i) + lambda (log p(z_i) - log q(z_i | x))``, and its gradient by the
  doubly-reparameterised estimator (DReG, Tucker et al. 2018; Eq. 9 and 13) or the plain IWAE one;
* :func:`vae_loss`: the single-sample objective of a standard (MVAE-style) VAE, ``L_p + lambda KL``.

Shapes: ``E`` experts, ``K`` samples, ``N`` batch, ``D`` latent dimensions. Device and dtype are
taken from the inputs.
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "product_of_experts",
    "reparameterize",
    "gaussian_log_prob",
    "kl_standard_normal",
    "kl_gaussians",
    "importance_weighted_loss",
    "vae_loss",
    "ESTIMATORS",
]

#: gradient estimators of :func:`importance_weighted_loss`
ESTIMATORS = ("dreg", "iwae")

_LOG_2PI = math.log(2.0 * math.pi)


def product_of_experts(
    mu: torch.Tensor, logvar: torch.Tensor, present: torch.Tensor | None = None, prior: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """The product of diagonal Gaussian experts (Eq. 4-5): precisions add, means are precision-weighted.

    ``T = [1] + sum_e present_e / sigma_e^2``, ``mu = sum_e present_e mu_e / sigma_e^2 / T``,
    ``sigma^2 = 1 / T``, where the bracketed 1 (mean 0) is the prior expert ``N(0, I)``.

    Parameters
    ----------
    mu, logvar : (E, N, D)
        Mean and log-variance of each expert.
    present : (E, N) bool, optional
        Which experts exist for each sample (default: all). A sample with no expert and no prior
        gets the prior's ``N(0, I)`` if ``prior`` is set; without the prior it needs one expert.
    prior : bool
        Include the prior expert ``N(0, I)``.

    Returns
    -------
    mu, logvar : (N, D)
        The joint Gaussian.

    Examples
    --------
    >>> m, lv = product_of_experts(torch.tensor([[[1.0]], [[3.0]]]), torch.zeros(2, 1, 1), prior=False)
    >>> float(m), float(lv.exp())
    (2.0, 0.5)
    """
    precision = torch.exp(-logvar)
    if present is not None:
        precision = precision * present.to(precision.dtype).unsqueeze(-1)
    total = precision.sum(0)
    weighted = (precision * mu).sum(0)
    if prior:
        total = total + 1.0
    return weighted / total, -torch.log(total)


def reparameterize(
    mu: torch.Tensor, logvar: torch.Tensor, k: int | None = None, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Samples ``z = mu + exp(logvar / 2) * eps``, ``eps ~ N(0, I)`` (differentiable in mu and logvar).

    Parameters
    ----------
    mu, logvar : (N, D)
    k : int, optional
        Number of samples per row; None gives one sample of shape (N, D).
    generator : torch.Generator, optional

    Returns
    -------
    (K, N, D) or (N, D)
    """
    shape = mu.shape if k is None else (int(k), *mu.shape)
    eps = torch.randn(shape, dtype=mu.dtype, device=mu.device, generator=generator)
    return mu + torch.exp(0.5 * logvar) * eps


def gaussian_log_prob(z: torch.Tensor, mu: torch.Tensor | None = None, logvar: torch.Tensor | None = None):
    """``log N(z; mu, diag(exp(logvar)))`` summed over the last axis (the standard normal without mu/logvar).

    Parameters
    ----------
    z : (..., D)
    mu, logvar : broadcastable to z, optional

    Returns
    -------
    (...,) nats
    """
    if mu is None:
        return -0.5 * (z.pow(2) + _LOG_2PI).sum(-1)
    return -0.5 * ((z - mu).pow(2) * torch.exp(-logvar) + logvar + _LOG_2PI).sum(-1)


def kl_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, diag(exp(logvar))) || N(0, I))`` in nats, summed over the last axis: (N, D) -> (N,)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)


def kl_gaussians(mu_q: torch.Tensor, logvar_q: torch.Tensor, mu_p: torch.Tensor, logvar_p) -> torch.Tensor:
    """``KL(N(mu_q, exp(logvar_q)) || N(mu_p, exp(logvar_p)))`` of diagonal Gaussians, nats, summed over
    the last axis: ``0.5 sum(exp(lq - lp) + (mu_q - mu_p)^2 exp(-lp) - 1 + lp - lq)``.

    ``logvar_p`` may be a float (e.g. 0: the Generative Map's fixed unit variance of ``p(z | p)``).
    """
    logvar_p = torch.as_tensor(logvar_p, dtype=mu_q.dtype, device=mu_q.device)
    return 0.5 * (
        torch.exp(logvar_q - logvar_p) + (mu_q - mu_p).pow(2) * torch.exp(-logvar_p) - 1.0 + logvar_p - logvar_q
    ).sum(-1)


def importance_weighted_loss(
    log_lik: torch.Tensor,
    z: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    lam: float = 1.0,
    estimator: str = "dreg",
) -> dict[str, torch.Tensor]:
    """Importance-weighted objective with ``k`` samples (Eq. 6-7, weights of Eq. 13) and its DReG gradient.

    ``log w_i = log_lik_i + lam * (log p(z_i) - log q(z_i | mu, logvar))`` with ``p = N(0, I)``;
    the bound is ``log (1/k) sum_i w_i``. The returned ``loss`` is a surrogate whose gradient is

    * ``"dreg"`` (Eq. 9, 13; Tucker et al.): for the inference network (through ``z``),
      ``sum_i w~_i^2 d log w_i / d z_i  d z_i / d phi``, with ``log q`` evaluated at stopped
      ``mu, logvar`` so that the score-function term is gone; for the parameters of ``log_lik``
      (the decoder), the usual ``sum_i w~_i d log w_i / d theta``; ``w~ = softmax_i(log w)``;
    * ``"iwae"``: the plain reparameterised gradient of the bound (Burda et al.), score term included.

    Both are unbiased for the same gradient of the bound; DReG has lower variance and does not
    degrade as ``k`` grows. The DReG factor ``w~_i`` is applied to the gradient reaching ``z`` by a
    hook registered here, so call this once per forward pass, before ``backward``.

    Parameters
    ----------
    log_lik : (K, N)
        ``log p(y | z_i)``; MVLoc uses the negative geometric loss ``-L_p(y, y*)`` (Eq. 13).
    z : (K, N, D)
        The samples, reparameterised from ``mu, logvar`` (:func:`reparameterize`).
    mu, logvar : (N, D)
        Parameters of ``q(z | x)`` that drew ``z``.
    lam : float
        ``lambda``, the weight of the latent term (beta-VAE style).
    estimator : ``"dreg"`` or ``"iwae"``

    Returns
    -------
    dict
        ``loss`` () the surrogate to minimise (mean over the batch of minus the weighted log
        weights), ``bound`` (N,) the importance-weighted bound ``log (1/k) sum_i w_i`` per sample
        (no gradient), ``weights`` (K, N) the normalised weights ``w~`` (no gradient).
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {list(ESTIMATORS)}, got {estimator!r}")
    k = log_lik.shape[0]
    if estimator == "dreg":
        log_q = gaussian_log_prob(z, mu.detach(), logvar.detach())
    else:
        log_q = gaussian_log_prob(z, mu, logvar)
    log_w = log_lik + lam * (gaussian_log_prob(z) - log_q)
    w = torch.softmax(log_w.detach(), dim=0)
    bound = torch.logsumexp(log_w.detach(), dim=0) - math.log(k)
    if estimator == "dreg":
        if z.requires_grad:
            z.register_hook(lambda g: g * w.unsqueeze(-1).to(g.dtype))
        loss = -(w * log_w).sum(0).mean()
    else:
        loss = -(torch.logsumexp(log_w, dim=0) - math.log(k)).mean()
    return {"loss": loss, "bound": bound, "weights": w}


def vae_loss(neg_log_lik: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, lam: float = 1.0) -> torch.Tensor:
    """Standard single-sample VAE objective ``mean(L_p + lam * KL(q || N(0, I)))`` (MVLoc (P)).

    Parameters
    ----------
    neg_log_lik : (N,)
        ``-log p(y | z)`` of one sample per row (MVLoc: the geometric loss ``L_p``).
    mu, logvar : (N, D)
        ``q(z | x)``.
    lam : float
        Weight of the KL term.
    """
    return (neg_log_lik + lam * kl_standard_normal(mu, logvar)).mean()
