"""Quaternion log/exp (MVLoc Eq. 12), the learned geometric loss (Eq. 11) and the pose regressor."""

import math

import pytest
import torch

import omniloc.nn
from omniloc.nn.pose import GeometricLoss, PoseHead, geometric_loss, quat_canonical, quat_exp, quat_log

F64 = torch.float64


def _axis_angle(axis, angle):
    """Unit quaternion (w, x, y, z) of a rotation by ``angle`` about ``axis`` (float64)."""
    n = torch.as_tensor(axis, dtype=F64)
    n = n / n.norm(dim=-1, keepdim=True)
    a = torch.as_tensor(angle, dtype=F64)[..., None]
    return torch.cat([torch.cos(a / 2), torch.sin(a / 2) * n], dim=-1)


def _random_quats(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(n, 4, generator=g, dtype=F64)
    return q / q.norm(dim=-1, keepdim=True)


def test_quat_canonical():
    q = torch.tensor([[-0.5, 0.5, -0.5, 0.5], [0.5, 0.5, 0.5, 0.5], [0.0, -1.0, 0.0, 0.0]], dtype=F64)
    c = quat_canonical(q)
    torch.testing.assert_close(c[0], -q[0])
    torch.testing.assert_close(c[1:], q[1:])
    assert bool((quat_canonical(_random_quats(50))[:, 0] >= 0).all())


def test_quat_log_known_values():
    torch.testing.assert_close(quat_log(torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=F64)), torch.zeros(3, dtype=F64))
    torch.testing.assert_close(quat_log(torch.tensor([-1.0, 0.0, 0.0, 0.0], dtype=F64)), torch.zeros(3, dtype=F64))
    c = math.cos(math.pi / 4)
    q90z = torch.tensor([c, 0.0, 0.0, c], dtype=F64)
    torch.testing.assert_close(quat_log(q90z), torch.tensor([0.0, 0.0, math.pi / 4], dtype=F64))
    torch.testing.assert_close(
        quat_log(torch.tensor([0.0, 1.0, 0.0, 0.0], dtype=F64)), torch.tensor([math.pi / 2, 0.0, 0.0], dtype=F64)
    )
    # generic rotations: half the angle times the axis, for angles up to pi
    g = torch.Generator().manual_seed(1)
    axes = torch.randn(20, 3, generator=g, dtype=F64)
    angles = torch.rand(20, generator=g, dtype=F64) * math.pi
    expected = angles[:, None] / 2 * axes / axes.norm(dim=-1, keepdim=True)
    torch.testing.assert_close(quat_log(_axis_angle(axes, angles)), expected)
    # the 4-vector is normalised first; the zero quaternion maps to 0
    torch.testing.assert_close(quat_log(3.0 * q90z), quat_log(q90z))
    assert torch.equal(quat_log(torch.zeros(2, 4, dtype=F64)), torch.zeros(2, 3, dtype=F64))


@pytest.mark.parametrize("angle", [1e-12, 1e-7, 1e-4, 1.99e-2, 2.0e-2, 2.01e-2, 0.3, 3.0])
def test_quat_log_is_accurate_on_both_sides_of_the_series_switch(angle):
    axis = torch.tensor([0.3, -0.5, 0.8], dtype=F64)
    log = quat_log(_axis_angle(axis, angle))
    torch.testing.assert_close(log, angle / 2 * axis / axis.norm(), rtol=1e-14, atol=1e-300)
    v = angle / 2 * axis / axis.norm()
    torch.testing.assert_close(quat_exp(v), _axis_angle(axis, angle), rtol=1e-14, atol=1e-300)


def test_q_and_minus_q_have_the_same_log():
    q = _random_quats(100)
    torch.testing.assert_close(quat_log(q), quat_log(-q))
    assert float(quat_log(q).norm(dim=-1).max()) <= math.pi / 2 + 1e-12


def test_round_trips():
    q = _random_quats(100, seed=2)
    torch.testing.assert_close(quat_exp(quat_log(q)), quat_canonical(q))
    g = torch.Generator().manual_seed(3)
    v = torch.randn(100, 3, generator=g, dtype=F64)
    v = v / v.norm(dim=-1, keepdim=True) * torch.rand(100, 1, generator=g, dtype=F64) * (math.pi / 2 - 1e-6)
    v = torch.cat([v, torch.zeros(1, 3, dtype=F64), 1e-9 * v[:5]])
    torch.testing.assert_close(quat_log(quat_exp(v)), v)
    torch.testing.assert_close(quat_exp(v).norm(dim=-1), torch.ones(len(v), dtype=F64))
    torch.testing.assert_close(quat_exp(torch.zeros(3)), torch.tensor([1.0, 0.0, 0.0, 0.0]))
    # batch dimensions and dtype carry through
    assert quat_log(torch.ones(2, 5, 4, dtype=torch.float32)).shape == (2, 5, 3)
    assert quat_exp(torch.ones(2, 5, 3, dtype=torch.float32)).dtype == torch.float32


def test_quat_log_gradcheck_at_near_and_away_from_identity():
    identity = torch.tensor([[1.0, 0.0, 0.0, 0.0]], dtype=F64)
    near = torch.tensor([[1.0, 1e-7, -2e-7, 3e-8], [0.99995, 0.01, 0.0, 0.0], [1.0, 0.0, 0.00999, 0.0]], dtype=F64)
    away = _random_quats(6, seed=4)
    away = away[away[:, 0].abs() > 0.1]  # the canonical sign flips at w = 0
    for q in (identity, near, away, 2.0 * away):
        assert torch.autograd.gradcheck(quat_log, (q.clone().requires_grad_(True),))
    # float32 gradients are finite at the identity
    q32 = torch.tensor([[1.0, 0.0, 0.0, 0.0]], requires_grad=True)
    quat_log(q32).sum().backward()
    assert torch.isfinite(q32.grad).all()
    torch.testing.assert_close(q32.grad, torch.tensor([[0.0, 1.0, 1.0, 1.0]]))


def test_quat_exp_gradcheck():
    g = torch.Generator().manual_seed(5)
    for v in (
        torch.zeros(1, 3, dtype=F64),
        1e-6 * torch.randn(3, 3, generator=g, dtype=F64),
        torch.tensor([[0.0099, 0.0, 0.0], [0.0, 0.0101, 0.0]], dtype=F64),
        torch.randn(4, 3, generator=g, dtype=F64),
    ):
        assert torch.autograd.gradcheck(quat_exp, (v.clone().requires_grad_(True),))


def _pose_batch():
    p = torch.tensor([[1.0, 2.0, 3.0], [0.5, -0.5, 0.0]], dtype=F64)
    p_true = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], dtype=F64)
    logq = torch.tensor([[0.1, 0.0, 0.0], [0.0, 0.3, 0.0]], dtype=F64)
    logq_true = torch.tensor([[0.0, 0.0, 0.2], [0.0, 0.0, 0.4]], dtype=F64)
    return p, p_true, logq, logq_true


def test_geometric_loss_known_values():
    p, pt, lq, lqt = _pose_batch()
    e3 = math.exp(3.0)
    l1 = geometric_loss(p, pt, lq, lqt, -3.0, 0.0)
    torch.testing.assert_close(l1, torch.tensor([6 * e3 - 3 + 0.3, 1.0 * e3 - 3 + 0.7], dtype=F64))
    l2 = geometric_loss(p, pt, lq, lqt, -3.0, 0.0, norm=2)
    torch.testing.assert_close(
        l2, torch.tensor([math.sqrt(14) * e3 - 3 + math.sqrt(0.05), math.sqrt(0.5) * e3 - 3 + 0.5], dtype=F64)
    )
    torch.testing.assert_close(geometric_loss(p, pt, lq, lqt, -3.0, 0.0, reduction="mean"), l1.mean())
    torch.testing.assert_close(geometric_loss(p, pt, lq, lqt, -3.0, 0.0, reduction="sum"), l1.sum())
    # beta and gamma weigh the two terms: beta = gamma = 0 is the plain sum of the errors
    torch.testing.assert_close(geometric_loss(p, pt, lq, lqt, 0.0, 0.0), torch.tensor([6.3, 1.7], dtype=F64))
    with pytest.raises(ValueError, match="norm must be 1 or 2"):
        geometric_loss(p, pt, lq, lqt, 0.0, 0.0, norm=3)
    with pytest.raises(ValueError, match="unknown reduction"):
        geometric_loss(p, pt, lq, lqt, 0.0, 0.0, reduction="max")


@pytest.mark.parametrize("norm", [1, 2])
def test_geometric_loss_gradcheck(norm):
    torch.manual_seed(0)
    args = [torch.randn(3, 3, dtype=F64, requires_grad=True) for _ in range(4)]
    beta = torch.tensor(-1.0, dtype=F64, requires_grad=True)
    gamma = torch.tensor(0.5, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda *a: geometric_loss(*a, norm=norm), (*args, beta, gamma))
    assert torch.autograd.gradcheck(lambda *a: geometric_loss(*a, reduction="mean", norm=norm), (*args, beta, gamma))


def test_geometric_loss_weights_are_stationary_at_the_log_error():
    # d/dbeta (d e^-beta + beta) = 0 at beta = log d
    p, pt, lq, lqt = _pose_batch()
    loss = GeometricLoss().double()
    with torch.no_grad():  # mean L1 errors: position (6 + 1) / 2, rotation (0.3 + 0.7) / 2
        loss.beta.fill_(math.log(3.5))
        loss.gamma.fill_(math.log(0.5))
    loss(p, pt, lq, lqt).backward()
    assert abs(float(loss.beta.grad)) < 1e-12 and abs(float(loss.gamma.grad)) < 1e-12


def test_geometric_loss_module_learns_then_freezes():
    p, pt, lq, lqt = _pose_batch()
    p = p.clone().requires_grad_(True)
    loss = GeometricLoss().double()
    assert loss.beta.item() == -3.0 and loss.gamma.item() == 0.0
    assert {n for n, _ in loss.named_parameters()} == {"beta", "gamma"}
    assert loss(p, pt, lq, lqt).shape == ()
    assert loss(p, pt, lq, lqt, reduction="none").shape == (2,)
    torch.testing.assert_close(loss(p, pt, lq, lqt), geometric_loss(p, pt, lq, lqt, -3.0, 0.0, reduction="mean"))
    loss(p, pt, lq, lqt).backward()
    assert loss.beta.grad is not None and loss.gamma.grad is not None and float(loss.beta.grad) != 0.0

    p.grad = None
    assert loss.freeze() is loss
    loss.beta.grad = loss.gamma.grad = None
    loss(p, pt, lq, lqt).backward()
    assert loss.beta.grad is None and loss.gamma.grad is None
    assert loss.beta.item() == -3.0 and loss.gamma.item() == 0.0
    assert p.grad is not None  # the network still learns
    assert "beta" in loss.state_dict() and "gamma" in loss.state_dict()

    assert GeometricLoss(learnable=False).beta.requires_grad is False
    assert loss.unfreeze().beta.requires_grad is True
    with pytest.raises(ValueError, match="norm must be 1 or 2"):
        GeometricLoss(norm=0)


def test_pose_head_shapes_dropout_and_gradients():
    torch.manual_seed(0)
    head = PoseHead(16, hidden=8, dropout=0.5)
    z = torch.randn(4, 16)
    out = head(z)
    assert set(out) == {"position", "log_quat"}
    assert out["position"].shape == out["log_quat"].shape == (4, 3)
    assert [type(m) for m in head.position] == [torch.nn.Linear, torch.nn.ReLU, torch.nn.Linear]
    assert head.rotation[0].out_features == 8 and head.rotation[2].out_features == 3
    (out["position"].sum() + out["log_quat"].sum()).backward()
    for name, p in head.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    head.eval()
    torch.testing.assert_close(head(z)["position"], head(z)["position"])
    head.train()
    assert not torch.equal(head(z)["position"], head(z)["position"])
    assert quat_exp(head(z)["log_quat"]).shape == (4, 4)


def test_lazy_exports_from_omniloc_nn():
    from omniloc.nn import attention, pose, resnet

    assert omniloc.nn.quat_log is pose.quat_log and omniloc.nn.GeometricLoss is GeometricLoss
    assert omniloc.nn.ResNet is resnet.ResNet and omniloc.nn.NonLocalAttention is attention.NonLocalAttention
    assert {"resnet18", "GaussianHead", "PoseHead", "nonlocal_attention"} <= set(omniloc.nn.__all__)
    with pytest.raises(AttributeError):
        omniloc.nn.no_such_block  # noqa: B018
