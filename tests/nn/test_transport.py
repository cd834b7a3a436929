"""Sinkhorn plans, the envelope gradient of the transport loss, and the distance KL (Eq. 1-4)."""

import numpy as np
import pytest
import torch

from omniloc.nn.transport import (
    SinkhornLoss,
    annealed,
    distance_kl,
    pairwise_distances,
    semi_relaxed_sinkhorn,
    sinkhorn_plan,
    zone_penalty,
)


def _problem(ns=12, nt=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(ns, 2, generator=g, dtype=torch.float64)
    y = torch.rand(nt, 2, generator=g, dtype=torch.float64)
    a = torch.full((ns,), 1.0 / ns, dtype=torch.float64)
    b = torch.rand(nt, generator=g, dtype=torch.float64) + 0.5
    return x, y, a, b / b.sum()


def _entropic_value(cost, a, b, reg):
    plan, _, _ = sinkhorn_plan(cost, a, b, reg, max_iter=20000, tol=1e-13)
    return float((plan * cost).sum() + reg * (plan * torch.log(plan / (a[:, None] * b[None, :]))).sum())


def test_sinkhorn_plan_has_the_marginals_and_matches_pot():
    import ot

    x, y, a, b = _problem()
    c = pairwise_distances(x, y, squared=True)
    plan, _, _ = sinkhorn_plan(c, a, b, 0.05, max_iter=5000, tol=1e-12)
    torch.testing.assert_close(plan.sum(1), a)
    torch.testing.assert_close(plan.sum(0), b)
    ref = ot.sinkhorn(a.numpy(), b.numpy(), c.numpy(), 0.05, numItermax=5000, stopThr=1e-12)
    np.testing.assert_allclose(plan.numpy(), ref, atol=1e-10)
    # the balanced limit of the semi-relaxed solver is the same plan
    semi, _, _ = semi_relaxed_sinkhorn(c, a, b, 0.05, float("inf"), max_iter=5000, tol=1e-12)
    np.testing.assert_allclose(semi.numpy(), ref, atol=1e-9)


def test_semi_relaxed_keeps_the_source_marginal_and_leaves_unneeded_targets_empty():
    x, y, a, _ = _problem()
    y = torch.cat([y, y + 10.0])  # a far copy no source needs
    b = torch.full((len(y),), 1.0 / len(y), dtype=torch.float64)
    c = pairwise_distances(x, y, squared=True)
    plan, _, _ = semi_relaxed_sinkhorn(c, a, b, 0.01, relax=0.05, max_iter=2000, tol=1e-10)
    torch.testing.assert_close(plan.sum(1), a)
    assert plan[:, 20:].sum() < 1e-6
    with pytest.warns(UserWarning, match="did not converge"):
        balanced, _, _ = sinkhorn_plan(c, a, b, 0.01, max_iter=2000, tol=1e-10)
    assert float(balanced[:, 20:].sum()) > 0.45  # balanced OT must still fill the far copy


def test_sinkhorn_loss_gradient_is_the_envelope_gradient():
    """d/dx of the entropic OT value, by central differences, equals autograd through SinkhornLoss."""
    x, y, a, b = _problem(8, 15)
    reg = 0.05
    x = x.clone().requires_grad_(True)
    loss = SinkhornLoss(a, b, max_iter=20000, tol=1e-13)
    loss(pairwise_distances(x, y, squared=True), reg).backward()
    h = 1e-6
    num = torch.zeros_like(x)
    for i in range(x.shape[0]):
        for k in range(2):
            xp, xm = x.detach().clone(), x.detach().clone()
            xp[i, k] += h
            xm[i, k] -= h
            num[i, k] = (
                _entropic_value(pairwise_distances(xp, y, squared=True), a, b, reg)
                - _entropic_value(pairwise_distances(xm, y, squared=True), a, b, reg)
            ) / (2 * h)
    torch.testing.assert_close(x.grad, num, atol=1e-6, rtol=1e-5)


def test_sinkhorn_loss_warm_start_and_minibatch_sources():
    x, y, a, b = _problem(30, 40)
    c = pairwise_distances(x, y, squared=True)
    loss = SinkhornLoss(a, b, max_iter=3, tol=1e-12, relax=1.0)
    for _ in range(200):  # 3 iterations per call, warm started
        val = loss(c, 0.05)
    plan, _, _ = semi_relaxed_sinkhorn(c, a, b, 0.05, 1.0, max_iter=5000, tol=1e-13)
    torch.testing.assert_close(loss.last_plan, plan, atol=1e-9, rtol=1e-6)
    assert float(val) == pytest.approx(float((plan * c).sum()), rel=1e-6)
    sub = torch.arange(10)
    val = loss(c[sub], 0.05, a[sub] / a[sub].sum())
    torch.testing.assert_close(loss.last_plan.sum(1), a[sub] / a[sub].sum())


def test_distance_kl_is_scale_free_and_has_gradients():
    rng = np.random.default_rng(0)
    p = rng.random((6, 2))
    d = torch.as_tensor(np.linalg.norm(p[:, None] - p[None], axis=-1))
    assert float(distance_kl(d, 3.0 * d)) == pytest.approx(0.0, abs=1e-10)
    e = torch.rand(6, 2, dtype=torch.float64, requires_grad=True)
    assert float(distance_kl(d, pairwise_distances(e)).detach()) > 0
    assert torch.autograd.gradcheck(lambda z: distance_kl(d, pairwise_distances(z)), (e,))
    mask = d < np.median(d.numpy())
    assert torch.autograd.gradcheck(lambda z: distance_kl(d, pairwise_distances(z), mask), (e,))


def test_zone_penalty_known_answer():
    frac = torch.tensor([[1.0, 0.0], [0.5, 0.5], [0.0, 0.0]])
    tz = torch.tensor([0, 1, -1])
    k = zone_penalty(frac, tz, 10.0)
    torch.testing.assert_close(k, torch.tensor([[1.0, 10.0, 1.0], [5.5, 5.5, 1.0], [1.0, 1.0, 1.0]]))


def test_annealing_schedules():
    assert annealed(1.0, 0.0, 0, 11) == 1.0 and annealed(1.0, 0.0, 5, 11) == pytest.approx(0.5)
    assert annealed(1.0, 0.0, 10, 11) == 0.0 and annealed(1.0, 0.0, 99, 11) == 0.0
    assert annealed(1.0, 0.01, 5, 11, "geometric") == pytest.approx(0.1)
