"""Product of experts, Gaussian densities and the importance-weighted objective with its DReG gradient."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from omniloc.nn.variational import (
    gaussian_log_prob,
    importance_weighted_loss,
    kl_gaussians,
    kl_standard_normal,
    product_of_experts,
    reparameterize,
    vae_loss,
)


def test_product_of_experts_equals_numeric_product_of_densities():
    """The closed form against the normalised product of the densities on a fine grid (1-D)."""
    mu = torch.tensor([[[0.7]], [[-1.2]]], dtype=torch.float64)
    logvar = torch.log(torch.tensor([[[0.5]], [[2.0]]], dtype=torch.float64))
    m, lv = product_of_experts(mu, logvar)  # with the prior N(0, 1)
    z = torch.linspace(-8, 8, 20001, dtype=torch.float64)
    dens = torch.exp(
        gaussian_log_prob(z[:, None], mu[0, 0], logvar[0, 0])
        + gaussian_log_prob(z[:, None], mu[1, 0], logvar[1, 0])
        + gaussian_log_prob(z[:, None])
    )
    dens = dens / torch.trapezoid(dens, z)
    mean = torch.trapezoid(z * dens, z)
    var = torch.trapezoid((z - mean) ** 2 * dens, z)
    assert float(m) == pytest.approx(float(mean), abs=1e-6)
    assert float(lv.exp()) == pytest.approx(float(var), abs=1e-6)
    # known value: precisions 2 + 0.5 + 1, mean (2 * 0.7 - 0.5 * 1.2) / 3.5
    assert float(lv.exp()) == pytest.approx(1 / 3.5)
    assert float(m) == pytest.approx((1.4 - 0.6) / 3.5)


def test_absent_expert_is_left_out():
    mu = torch.tensor([[[1.0, 2.0]], [[50.0, -50.0]]])
    logvar = torch.zeros(2, 1, 2)
    m, lv = product_of_experts(mu, logvar, present=torch.tensor([[True], [False]]))
    m1, lv1 = product_of_experts(mu[:1], logvar[:1])
    assert torch.allclose(m, m1) and torch.allclose(lv, lv1)
    assert torch.allclose(m, torch.tensor([[0.5, 1.0]]))  # expert N(mu, 1) x prior N(0, 1)
    # nobody present: the prior
    m0, lv0 = product_of_experts(mu, logvar, present=torch.zeros(2, 1, dtype=torch.bool))
    assert torch.allclose(m0, torch.zeros(1, 2)) and torch.allclose(lv0, torch.zeros(1, 2))


def test_gaussian_log_prob_and_kl_known_values():
    z = torch.tensor([[0.0, 1.0]])
    assert float(gaussian_log_prob(z)) == pytest.approx(-math.log(2 * math.pi) - 0.5)
    mu, logvar = torch.tensor([[1.0, 0.0]]), torch.log(torch.tensor([[1.0, 4.0]]))
    assert float(gaussian_log_prob(z, mu, logvar)) == pytest.approx(
        -math.log(2 * math.pi) - 0.5 - 0.5 * math.log(4) - 0.125
    )
    # KL(N(1, 1) || N(0, 1)) = 0.5; KL(N(0, 4) || N(0, 1)) = 0.5 (4 - 1 - log 4)
    assert float(kl_standard_normal(mu, logvar)) == pytest.approx(0.5 + 0.5 * (3 - math.log(4)))


def test_reparameterize_shapes_and_moments():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.tensor([[1.0, -2.0]]), torch.log(torch.tensor([[0.25, 4.0]]))
    z = reparameterize(mu, logvar, 20000, generator=g)
    assert z.shape == (20000, 1, 2)
    assert torch.allclose(z.mean(0), mu, atol=0.05)
    assert torch.allclose(z.var(0), logvar.exp(), rtol=0.05)
    assert reparameterize(mu, logvar).shape == (1, 2)


# ---------------------------------------------------------------- the DReG estimator on a toy problem
# p(z) = N(0, 1), p(y | z) = N(y; z, 1), y = 1: the posterior is N(0.5, 0.5), log p(y) = log N(1; 0, 2).
def _toy_grads(mu0, logvar0, k, estimator, n_rep, seed=0):
    g = torch.Generator().manual_seed(seed)
    grads = []
    for _ in range(n_rep):
        mu = torch.tensor([[mu0]], dtype=torch.float64, requires_grad=True)
        logvar = torch.tensor([[logvar0]], dtype=torch.float64, requires_grad=True)
        z = reparameterize(mu, logvar, k, generator=g)
        log_lik = gaussian_log_prob(z, torch.ones_like(z), torch.zeros_like(z))  # (K, 1)
        res = importance_weighted_loss(log_lik, z, mu, logvar, lam=1.0, estimator=estimator)
        res["loss"].backward()
        grads.append([float(mu.grad), float(logvar.grad)])
    return np.array(grads)


def test_dreg_gradient_is_exactly_zero_at_the_true_posterior():
    """With q = p(z | y) every weight equals p(y): DReG's gradient is 0 sample by sample (IWAE's is not)."""
    g = _toy_grads(0.5, math.log(0.5), k=5, estimator="dreg", n_rep=5)
    assert np.abs(g).max() < 1e-12
    g_iwae = _toy_grads(0.5, math.log(0.5), k=5, estimator="iwae", n_rep=5)
    assert np.abs(g_iwae).max() > 1e-3


def test_dreg_matches_the_known_elbo_gradient_for_k1():
    """k = 1: the bound is the ELBO, d/dmu = 1 - 2 mu, d/dlogvar = 0.5 - sigma^2 (we minimise -ELBO)."""
    mu0, lv0 = 0.1, math.log(0.3)
    g = _toy_grads(mu0, lv0, k=1, estimator="dreg", n_rep=4000, seed=1)
    mean, se = g.mean(0), g.std(0) / math.sqrt(len(g))
    expected = -np.array([1 - 2 * mu0, 0.5 - 0.3])
    assert np.all(np.abs(mean - expected) < 4 * se + 1e-3)


def test_dreg_and_iwae_agree_in_expectation_and_dreg_has_lower_variance():
    mu0, lv0 = -0.3, math.log(1.5)
    d = _toy_grads(mu0, lv0, k=10, estimator="dreg", n_rep=1500, seed=2)
    i = _toy_grads(mu0, lv0, k=10, estimator="iwae", n_rep=1500, seed=3)
    se = np.sqrt(d.var(0) / len(d) + i.var(0) / len(i))
    assert np.all(np.abs(d.mean(0) - i.mean(0)) < 4 * se)
    assert np.all(d.var(0) < i.var(0))


def test_bound_value_and_its_tightness():
    """The bound is log (1/k) sum w; on average it rises with k towards log p(y) = log N(1; 0, 2) (Eq. 6)."""
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.zeros(200, 1, dtype=torch.float64), torch.zeros(200, 1, dtype=torch.float64)
    target = -0.5 * math.log(2 * math.pi * 2) - 0.25
    mean_bound = {}
    for k in (1, 5, 100):
        z = reparameterize(mu, logvar, k, generator=g)
        ll = gaussian_log_prob(z, torch.ones_like(z), torch.zeros_like(z))
        res = importance_weighted_loss(ll, z, mu, logvar)
        logw = ll + gaussian_log_prob(z) - gaussian_log_prob(z, mu, logvar)
        assert torch.allclose(res["bound"], torch.logsumexp(logw, 0) - math.log(k))
        assert torch.allclose(res["weights"].sum(0), torch.ones(200, dtype=torch.float64))
        mean_bound[k] = float(res["bound"].mean())
    assert mean_bound[1] < mean_bound[5] < mean_bound[100] < target + 0.01
    assert abs(mean_bound[100] - target) < 0.02


def test_dreg_decoder_gradient_is_the_weighted_one():
    """Decoder parameters get sum_i w~_i d log w_i / d theta (the usual IWAE gradient)."""
    g = torch.Generator().manual_seed(0)
    theta = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    mu, logvar = torch.zeros(1, 1, dtype=torch.float64), torch.zeros(1, 1, dtype=torch.float64)
    z = reparameterize(mu, logvar, 7, generator=g)
    ll = -0.5 * (1.0 - theta * z) ** 2  # (K, 1, 1) -> sum over D
    ll = ll.sum(-1)
    res = importance_weighted_loss(ll, z, mu, logvar, estimator="dreg")
    res["loss"].backward()
    w = res["weights"]
    expected = -(w * ((1.0 - theta.detach() * z) * z).sum(-1)).sum()
    assert float(theta.grad) == pytest.approx(float(expected))


def test_vae_loss_known_value_and_unknown_estimator():
    mu, logvar = torch.tensor([[1.0]]), torch.zeros(1, 1)
    assert float(vae_loss(torch.tensor([2.0]), mu, logvar, lam=0.5)) == pytest.approx(2.0 + 0.25)
    with pytest.raises(ValueError, match="estimator"):
        importance_weighted_loss(torch.zeros(2, 1), torch.zeros(2, 1, 1), mu, logvar, estimator="nope")


def test_gradcheck_product_of_experts_and_kl():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(2, 3, 4, dtype=torch.float64, generator=g, requires_grad=True)
    logvar = (0.3 * torch.randn(2, 3, 4, dtype=torch.float64, generator=g)).requires_grad_()
    present = torch.tensor([[True, True, False], [True, False, True]])
    assert torch.autograd.gradcheck(lambda m, lv: product_of_experts(m, lv, present), (mu, logvar))
    assert torch.autograd.gradcheck(lambda m, lv: kl_standard_normal(m[0], lv[0]), (mu, logvar))
    z = torch.randn(3, 4, dtype=torch.float64, generator=g, requires_grad=True)
    assert torch.autograd.gradcheck(lambda z, m, lv: gaussian_log_prob(z, m[0], lv[0]), (z, mu, logvar))


def test_kl_between_gaussians_against_numeric_integration():
    mu_q, lv_q = torch.tensor([[0.3]], dtype=torch.float64), torch.log(torch.tensor([[0.4]], dtype=torch.float64))
    mu_p, lv_p = torch.tensor([[-0.5]], dtype=torch.float64), torch.log(torch.tensor([[1.7]], dtype=torch.float64))
    z = torch.linspace(-10, 10, 40001, dtype=torch.float64)[:, None]
    log_q, log_p = gaussian_log_prob(z, mu_q, lv_q), gaussian_log_prob(z, mu_p, lv_p)
    numeric = torch.trapezoid(torch.exp(log_q) * (log_q - log_p), z[:, 0])
    assert float(kl_gaussians(mu_q, lv_q, mu_p, lv_p)) == pytest.approx(float(numeric), abs=1e-8)
    # unit-variance p (the Generative Map's p(z | pose)) and the standard-normal special case
    assert torch.allclose(kl_gaussians(mu_q, lv_q, torch.zeros(1, 1), 0.0), kl_standard_normal(mu_q, lv_q))
