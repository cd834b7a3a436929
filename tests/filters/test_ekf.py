"""Extended Kalman filter: closed-form linear Kalman filter, Jacobians, known answers, numerical
safety of the Joseph form, nonlinear and neural observation models, missing observations."""

import math

import numpy as np
import pytest
import torch

from omniloc.filters import (
    ExtendedKalmanFilter,
    additive_transition,
    constant_transition,
    ekf_predict,
    ekf_update,
    jacobian,
)

D = torch.float64


def _linear_system(seed=0):
    """A batch of 3 linear-Gaussian systems sharing A, B, H but with different Q and R."""
    rng = np.random.default_rng(seed)
    n, m, k, b, T = 3, 2, 2, 3, 6
    A = np.eye(n) + 0.1 * rng.standard_normal((n, n))
    Bm = rng.standard_normal((n, m))
    H = rng.standard_normal((k, n))
    Q = np.stack([np.diag(rng.uniform(0.01, 0.5, n)) + 0.01 for _ in range(b)])  # (B, n, n) SPD
    R = rng.uniform(0.05, 1.0, (T, b, k))  # per-step diagonal variances
    us = rng.standard_normal((T, b, m))
    zs = rng.standard_normal((T, b, k))
    x0 = rng.standard_normal((b, n))
    P0 = np.stack([np.eye(n) * s for s in (0.5, 1.0, 2.0)])
    return A, Bm, H, Q, R, us, zs, x0, P0


def _numpy_kalman(A, Bm, H, Q, R, us, zs, x0, P0):
    """The textbook Kalman filter, one filter at a time, with explicit inverses."""
    T, b = zs.shape[:2]
    xs = np.zeros((T, b, len(x0[0])))
    Ps = np.zeros((T, b) + P0.shape[1:])
    lls = np.zeros((T, b))
    for i in range(b):
        x, P = x0[i].copy(), P0[i].copy()
        for t in range(T):
            x = A @ x + Bm @ us[t, i]
            P = A @ P @ A.T + Q[i]
            Rt = np.diag(R[t, i])
            S = H @ P @ H.T + Rt
            K = P @ H.T @ np.linalg.inv(S)
            y = zs[t, i] - H @ x
            x = x + K @ y
            P = (np.eye(len(x)) - K @ H) @ P
            lls[t, i] = -0.5 * (y @ np.linalg.inv(S) @ y + np.log(np.linalg.det(S)) + len(y) * np.log(2 * np.pi))
            xs[t, i], Ps[t, i] = x, P
    return xs, Ps, lls


@pytest.mark.parametrize("joseph", [True, False])
def test_linear_gaussian_system_equals_the_closed_form_kalman_filter(joseph):
    A, Bm, H, Q, R, us, zs, x0, P0 = _linear_system()
    want_x, want_P, want_ll = _numpy_kalman(A, Bm, H, Q, R, us, zs, x0, P0)
    At, Bt, Ht = (torch.tensor(a, dtype=D) for a in (A, Bm, H))

    def f(x, u):
        return x @ At.T + u @ Bt.T

    def g(x):
        return x @ Ht.T

    ekf = ExtendedKalmanFilter(f, g, torch.tensor(Q), joseph=joseph)
    out = ekf.run(torch.tensor(x0), torch.tensor(P0), torch.tensor(zs), torch.tensor(R), us=torch.tensor(us))
    assert out["x"].shape == (6, 3, 3) and out["P"].shape == (6, 3, 3, 3) and out["x"].dtype == D
    np.testing.assert_allclose(out["x"].numpy(), want_x, rtol=0, atol=1e-10)
    np.testing.assert_allclose(out["P"].numpy(), want_P, rtol=0, atol=1e-10)
    np.testing.assert_allclose(out["log_likelihood"].numpy(), want_ll, rtol=0, atol=1e-10)

    # the same with step-by-step functions, finite-difference Jacobians (exact for linear maps up to rounding)
    x, P = torch.tensor(x0), torch.tensor(P0)
    for t in range(len(zs)):
        x, P = ekf_predict(x, P, f, torch.tensor(Q), u=torch.tensor(us[t]), jacobian_method="finite_difference")
        x, P, info = ekf_update(x, P, torch.tensor(zs[t]), g, torch.tensor(R[t]), "finite_difference", joseph=joseph)
        assert info["innovation"].shape == (3, 2) and info["S"].shape == (3, 2, 2) and info["K"].shape == (3, 3, 2)
        np.testing.assert_allclose(x.numpy(), want_x[t], atol=1e-8)
        np.testing.assert_allclose(P.numpy(), want_P[t], atol=1e-8)


def _g_nonlinear(x):
    return torch.stack([torch.sin(x[:, 0]) * x[:, 1], torch.exp(0.1 * x[:, 2]), x[:, 0] ** 2], dim=1)


def _g_nonlinear_jacobian(x):
    x0, x1, x2 = x[:, 0], x[:, 1], x[:, 2]
    zero = torch.zeros_like(x0)
    rows = [
        [torch.cos(x0) * x1, torch.sin(x0), zero],
        [zero, zero, 0.1 * torch.exp(0.1 * x2)],
        [2 * x0, zero, zero],
    ]
    return torch.stack([torch.stack(r, dim=1) for r in rows], dim=1)


def test_autograd_and_finite_difference_jacobians_agree_with_the_analytic_one():
    x = torch.randn(5, 3, dtype=D, generator=torch.Generator().manual_seed(1))
    ja = jacobian(_g_nonlinear, x, method="autograd")
    jf = jacobian(_g_nonlinear, x, method="finite_difference", eps=1e-4)
    want = _g_nonlinear_jacobian(x)
    assert ja.shape == (5, 3, 3)
    torch.testing.assert_close(ja, want, rtol=0, atol=1e-12)
    torch.testing.assert_close(jf, ja, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="method"):
        jacobian(_g_nonlinear, x, method="complex_step")
    # non-square: (B, 2) -> (B, 4)
    y = jacobian(lambda v: torch.cat([v, v**2], dim=1), x[:, :2])
    assert y.shape == (5, 4, 2)
    torch.testing.assert_close(y[:, 2:], torch.diag_embed(2 * x[:, :2]))


def test_ready_made_transitions_have_identity_jacobians():
    x = torch.randn(4, 3, dtype=D)
    u = torch.randn(4, 3, dtype=D)
    eye = torch.eye(3, dtype=D).expand(4, 3, 3)
    assert torch.equal(constant_transition(x), x)
    torch.testing.assert_close(additive_transition(x, u), x + u)
    torch.testing.assert_close(constant_transition.jacobian(x, None), eye)
    torch.testing.assert_close(additive_transition.jacobian(x, u), eye)
    torch.testing.assert_close(jacobian(lambda v: additive_transition(v, u), x), eye)
    P = torch.eye(3, dtype=D).repeat(4, 1, 1)
    x1, P1 = ekf_predict(x, P, additive_transition, 0.1, u=u)
    torch.testing.assert_close(x1, x + u)
    torch.testing.assert_close(P1, 1.1 * P)
    with pytest.raises(ValueError, match="control"):
        additive_transition(x, None)


def test_scalar_known_answer():
    x, P = torch.zeros(1, 1, dtype=D), torch.ones(1, 1, 1, dtype=D)
    for joseph in (True, False):
        x1, P1, info = ekf_update(x, P, torch.tensor([[2.0]], dtype=D), lambda v: v, 1.0, joseph=joseph)
        assert x1.item() == pytest.approx(1.0, abs=1e-14)
        assert P1.item() == pytest.approx(0.5, abs=1e-14)
        assert info["K"].item() == pytest.approx(0.5)
        assert info["S"].item() == pytest.approx(2.0)
        # log N(2; 0, 2)
        assert info["log_likelihood"].item() == pytest.approx(-0.5 * (4 / 2 + math.log(2 * math.pi * 2)), abs=1e-12)


def test_validation_gate_rejects_outliers_only():
    x, P = torch.zeros(2, 1, dtype=D), torch.ones(2, 1, 1, dtype=D)
    z = torch.tensor([[2.0], [10.0]], dtype=D)  # NIS = 4 / 2 = 2 and 100 / 2 = 50 (S = 2)
    x1, P1, info = ekf_update(x, P, z, lambda v: v, 1.0, gate=9.0)
    torch.testing.assert_close(info["nis"], torch.tensor([2.0, 50.0], dtype=D))
    assert info["accepted"].tolist() == [True, False]
    assert x1[:, 0].tolist() == pytest.approx([1.0, 0.0]) and P1[:, 0, 0].tolist() == pytest.approx([0.5, 1.0])
    assert info["log_likelihood"][1].item() == 0.0
    # without a gate both are used; through the filter, a run reports what it used
    assert ekf_update(x, P, z, lambda v: v, 1.0)[2]["accepted"].tolist() == [True, True]
    ekf = ExtendedKalmanFilter(None, lambda v: v, 0.0, gate=9.0)
    out = ekf.run(
        torch.zeros(1, 1, dtype=D),
        torch.ones(1, 1, dtype=D),
        torch.tensor([[[0.5]], [[30.0]], [[0.4]]], dtype=D),
        [1.0] * 3,
    )
    assert out["accepted"][:, 0].tolist() == [True, False, True]
    assert out["x"][1].item() == out["x"][0].item()


def _tiny_r_run(joseph, steps=200):
    """Two strongly correlated states, only the first observed, with R 16 orders below P."""
    x = torch.zeros(1, 2, dtype=D)
    P = torch.tensor([[[1.0, 0.999], [0.999, 1.0]]], dtype=D)
    H = torch.tensor([[1.0, 0.0]], dtype=D)
    Q = torch.diag(torch.tensor([0.0, 1e-6], dtype=D))
    min_eig, not_pd, max_asym = np.inf, 0, 0.0
    for _ in range(steps):
        x, P = ekf_predict(x, P, constant_transition, Q)
        x, P, _ = ekf_update(x, P, torch.zeros(1, 1, dtype=D), lambda v: v @ H.T, 1e-16, joseph=joseph)
        min_eig = min(min_eig, torch.linalg.eigvalsh(P).min().item())
        not_pd += int(torch.linalg.cholesky_ex(P)[1].item() > 0)
        max_asym = max(max_asym, (P - P.transpose(-1, -2)).abs().max().item())
    return min_eig, not_pd, max_asym


def test_joseph_form_keeps_the_covariance_positive_definite_where_the_simple_form_does_not():
    min_eig, not_pd, max_asym = _tiny_r_run(joseph=True)
    assert max_asym == 0.0 and min_eig > 0 and not_pd == 0
    min_eig, not_pd, max_asym = _tiny_r_run(joseph=False)
    assert max_asym == 0.0  # symmetrised every step
    assert min_eig <= 0 or not_pd > 0  # P - K H P rounds the observed variance to zero


def test_nonlinear_tracking_converges_from_a_wrong_start():
    gen = torch.Generator().manual_seed(3)
    beacons = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]], dtype=D)
    truth = torch.tensor([[3.0, 6.0], [7.0, 2.0]], dtype=D)  # two filters

    def g(x):  # ranges to the beacons (B, 4)
        return torch.linalg.norm(x[:, None, :] - beacons[None], dim=-1)

    T, sigma = 40, 0.1
    zs = g(truth)[None] + sigma * torch.randn(T, 2, 4, dtype=D, generator=gen)
    Rs = torch.full((T, 4), sigma**2, dtype=D)
    x0 = truth + torch.tensor([[2.0, -2.0], [-2.5, 1.5]], dtype=D)
    P0 = torch.eye(2, dtype=D) * 9.0
    for method in ("autograd", "finite_difference"):
        out = ExtendedKalmanFilter(None, g, 1e-8, jacobian_method=method).run(x0, P0, zs, Rs)
        err = torch.linalg.norm(out["x"][-1] - truth, dim=-1)
        assert torch.all(err < 0.1), err
        sd = torch.sqrt(torch.linalg.eigvalsh(out["P"][-1]).max(-1).values)
        assert torch.all(sd < 0.1) and torch.all(err < 4 * sd + 0.02)


def test_mask_skips_the_update_and_ignores_missing_values():
    gen = torch.Generator().manual_seed(4)
    T, B = 5, 2
    zs = torch.randn(T, B, 2, dtype=D, generator=gen)
    Rs = torch.full((T, B, 2), 0.5, dtype=D)
    mask = torch.ones(T, B, dtype=torch.bool)
    mask[2, 1] = False
    mask[3, :] = False
    zs_missing = zs.clone()
    zs_missing[~mask] = float("nan")
    Rs_missing = Rs.clone()
    Rs_missing[~mask] = float("nan")
    ekf = ExtendedKalmanFilter(constant_transition, lambda v: v, 0.1 * torch.eye(2, dtype=D))
    x0, P0 = torch.zeros(B, 2, dtype=D), torch.eye(2, dtype=D)
    full = ekf.run(x0, P0, zs, Rs)
    out = ekf.run(x0, P0, zs_missing, Rs_missing, mask=mask)
    assert torch.isfinite(out["x"]).all() and torch.isfinite(out["P"]).all()
    # filter 0 is untouched until step 3; at masked steps: prediction only (x kept, P + Q)
    torch.testing.assert_close(out["x"][:3, 0], full["x"][:3, 0])
    torch.testing.assert_close(out["x"][2, 1], out["x"][1, 1])
    torch.testing.assert_close(out["P"][2, 1], out["P"][1, 1] + 0.1 * torch.eye(2, dtype=D))
    torch.testing.assert_close(out["x"][3], out["x"][2])
    torch.testing.assert_close(out["P"][3], out["P"][2] + 0.1 * torch.eye(2, dtype=D))
    assert out["log_likelihood"][2, 1] == 0 and torch.all(out["log_likelihood"][3] == 0)
    assert out["log_likelihood"][2, 0] == full["log_likelihood"][2, 0]


def test_a_small_neural_observation_model_with_autograd_jacobians():
    torch.manual_seed(5)
    net = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 6)).double().eval()
    x = torch.randn(4, 2, dtype=D)
    ja = jacobian(net, x)
    jf = jacobian(net, x, method="finite_difference")
    assert ja.shape == (4, 6, 2)
    torch.testing.assert_close(ja, jf, rtol=0, atol=1e-6)

    truth = torch.tensor([[0.3, -0.2], [-0.4, 0.5], [0.1, 0.1], [0.6, 0.0]], dtype=D)
    T, sigma = 30, 0.01
    with torch.no_grad():
        zs = net(truth)[None] + sigma * torch.randn(T, 4, 6, dtype=D)
        out = ExtendedKalmanFilter(None, net, 1e-8).run(truth + 0.3, torch.eye(2, dtype=D) * 0.25, zs, [sigma**2] * T)
    assert not out["x"].requires_grad  # outer no_grad is respected; the Jacobians still come from autograd
    err0 = torch.linalg.norm(0.3 * torch.ones(2, dtype=D))
    err = torch.linalg.norm(out["x"][-1] - truth, dim=-1)
    assert torch.all(err < 0.2 * err0), err


def test_float32_inputs_and_noise_forms():
    x = torch.zeros(2, 2)
    P = torch.eye(2).repeat(2, 1, 1)
    z = torch.ones(2, 2)
    forms = [1.0, torch.ones(2), torch.ones(2, 2), torch.eye(2).repeat(2, 1, 1), np.ones(2)]
    results = [ekf_update(x, P, z, lambda v: v, R)[0] for R in forms]
    for r in results:
        assert r.dtype == torch.float32
        torch.testing.assert_close(r, torch.full((2, 2), 0.5))
    for Q in (0.1, torch.full((2,), 0.1), 0.1 * torch.eye(2), 0.1 * torch.eye(2).repeat(2, 1, 1)):
        torch.testing.assert_close(ekf_predict(x, P, constant_transition, Q)[1], 1.1 * P)


def test_bad_shapes_are_reported():
    x, P = torch.zeros(2, 3, dtype=D), torch.eye(3, dtype=D).repeat(2, 1, 1)
    with pytest.raises(ValueError, match="P must have shape"):
        ekf_predict(x, P[:, :2, :2], constant_transition, 0.1)
    with pytest.raises(ValueError, match="Q must be"):
        ekf_predict(x, P, constant_transition, torch.ones(4))
    with pytest.raises(ValueError, match="R must be"):
        ekf_update(x, P, torch.zeros(2, 3, dtype=D), lambda v: v, torch.ones(3, 3))
    with pytest.raises(ValueError, match="g must map"):
        ekf_update(x, P, torch.zeros(2, 2, dtype=D), lambda v: v, 1.0)
    with pytest.raises(torch.linalg.LinAlgError, match="positive definite"):
        ekf_update(x, P, torch.zeros(2, 3, dtype=D), lambda v: v, -torch.ones(3, dtype=D) * 2)
    with pytest.raises(ValueError, match="jacobian_method"):
        ExtendedKalmanFilter(None, lambda v: v, 0.1, jacobian_method="magic")


def test_importing_the_package_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, omniloc.filters; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_filter_is_differentiable_with_respect_to_model_parameters_and_the_start():
    gen = torch.Generator().manual_seed(6)
    W = torch.randn(3, 2, dtype=D, generator=gen, requires_grad=True)
    x0 = torch.randn(2, 2, dtype=D, generator=gen, requires_grad=True)
    zs = torch.randn(3, 2, 3, dtype=D, generator=gen)

    def loss(W, x0):
        ekf = ExtendedKalmanFilter(None, lambda v: torch.tanh(v @ W.T), 0.01)
        out = ekf.run(x0, torch.eye(2, dtype=D), zs, [0.1] * 3)
        return out["x"].sum() + out["P"].sum() - out["log_likelihood"].sum()

    gW, gx = torch.autograd.grad(loss(W, x0), (W, x0))
    with torch.no_grad():
        for param, grad in ((W, gW), (x0, gx)):
            num = torch.zeros_like(param)
            for idx in np.ndindex(*param.shape):
                step = torch.zeros_like(param)
                step[idx] = 1e-6
                a = loss(W + step, x0) if param is W else loss(W, x0 + step)
                c = loss(W - step, x0) if param is W else loss(W, x0 - step)
                num[idx] = (a - c) / 2e-6
            torch.testing.assert_close(grad, num, rtol=1e-5, atol=1e-6)


def test_iterated_update_equals_the_ekf_for_linear_g_and_improves_a_nonlinear_one():
    from omniloc.filters import ekf_update

    g = torch.Generator().manual_seed(5)
    H = torch.randn(3, 2, dtype=torch.float64, generator=g)

    def lin(x):
        return x @ H.T

    x = torch.randn(4, 2, dtype=torch.float64, generator=g)
    P = torch.eye(2, dtype=torch.float64).expand(4, 2, 2).clone()
    z = torch.randn(4, 3, dtype=torch.float64, generator=g)
    one = ekf_update(x, P, z, lin, 0.1)
    three = ekf_update(x, P, z, lin, 0.1, iterations=3)
    assert torch.allclose(one[0], three[0], atol=1e-12) and torch.allclose(one[1], three[1], atol=1e-12)

    # a strongly nonlinear scalar observation z = x^3 of x* = 2 from the prior x = 1: iterating moves closer
    def cube(x):
        return x**3

    x0, P0, z0 = torch.ones(1, 1, dtype=torch.float64), torch.ones(1, 1, 1, dtype=torch.float64), torch.tensor([[8.0]])
    e1 = abs(float(ekf_update(x0, P0, z0, cube, 1e-6)[0]) - 2.0)
    e5 = abs(float(ekf_update(x0, P0, z0, cube, 1e-6, iterations=8)[0]) - 2.0)
    assert e5 < 1e-3 < e1
    with pytest.raises(ValueError, match="iterations"):
        ekf_update(x0, P0, z0, cube, 1.0, iterations=0)
