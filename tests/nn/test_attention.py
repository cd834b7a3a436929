"""Non-local self-attention over a feature vector (MVLoc Eq. 14-15): known answer, residual, gradients."""

import math

import pytest
import torch

from omniloc.nn.attention import NonLocalAttention, nonlocal_attention


def test_nonlocal_attention_known_answer():
    theta = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    phi = torch.tensor([[0.0, math.log(2.0)]], dtype=torch.float64)
    g = torch.tensor([[1.0, 3.0]], dtype=torch.float64)
    a, attn = nonlocal_attention(theta, phi, g, return_map=True)
    # row 0: softmax(0, ln 2) = (1/3, 2/3); row 1: softmax(0, 2 ln 2) = (1/5, 4/5)
    torch.testing.assert_close(attn, torch.tensor([[[1 / 3, 2 / 3], [1 / 5, 4 / 5]]], dtype=torch.float64))
    torch.testing.assert_close(a, torch.tensor([[7 / 3, 13 / 5]], dtype=torch.float64))
    torch.testing.assert_close(nonlocal_attention(theta, phi, g), a)


def test_module_shapes_map_and_composition():
    torch.manual_seed(0)
    att = NonLocalAttention(32, reduction=8)
    assert att.inner == 4
    assert (att.theta.in_features, att.theta.out_features) == (32, 4)
    assert (att.alpha.in_features, att.alpha.out_features) == (4, 32)
    z = torch.randn(5, 32)
    out, attn = att(z, return_map=True)
    assert out.shape == (5, 32) and attn.shape == (5, 4, 4)
    torch.testing.assert_close(attn.sum(-1), torch.ones(5, 4))
    torch.testing.assert_close(out, z + att.alpha(nonlocal_attention(att.theta(z), att.phi(z), att.g(z))))
    torch.testing.assert_close(att(z), out)
    assert NonLocalAttention(4, reduction=8).inner == 1
    # leading sample dimensions carry through: (S, N, D) is S independent (N, D) batches
    zs = torch.randn(3, 5, 32)
    torch.testing.assert_close(att(zs), torch.stack([att(zs[i]) for i in range(3)]))


def test_zero_w_alpha_gives_the_identity():
    torch.manual_seed(0)
    att = NonLocalAttention(16, reduction=4)
    with torch.no_grad():
        att.alpha.weight.zero_()
        att.alpha.bias.zero_()
    z = torch.randn(3, 16)
    torch.testing.assert_close(att(z), z, rtol=0, atol=0)
    att_nb = NonLocalAttention(16, reduction=4, bias=False)
    with torch.no_grad():
        att_nb.alpha.weight.zero_()
    torch.testing.assert_close(att_nb(z), z, rtol=0, atol=0)


def test_gradcheck_module_and_function():
    torch.manual_seed(0)
    att = NonLocalAttention(12, reduction=3).double()
    z = torch.randn(3, 12, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(att, (z,))
    t, p, g = (torch.randn(2, 4, dtype=torch.float64, requires_grad=True) for _ in range(3))
    assert torch.autograd.gradcheck(nonlocal_attention, (t, p, g))


def test_gradients_reach_every_parameter_and_bad_shapes():
    torch.manual_seed(0)
    att = NonLocalAttention(16, reduction=4)
    att(torch.randn(4, 16)).square().sum().backward()
    for name, p in att.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    with pytest.raises(ValueError, match="same shape"):
        nonlocal_attention(torch.zeros(2, 3), torch.zeros(2, 4), torch.zeros(2, 3))
    with pytest.raises(ValueError, match=">= 1"):
        NonLocalAttention(8, reduction=0)
