"""Encoders: shapes, the automatic choice, and gradients reaching every parameter."""

import pytest
import torch

from omniloc.nn.encoders import MLP, ConvEncoder, make_encoder


@pytest.mark.parametrize("shape,kind", [((10,), MLP), ((1, 7, 7), MLP), ((3, 32, 32), ConvEncoder)])
def test_make_encoder_picks_by_shape_and_backpropagates(shape, kind):
    torch.manual_seed(0)
    enc = make_encoder(shape, 5)
    assert isinstance(enc, kind)
    x = torch.randn(4, *shape)
    out = enc(x)
    assert out.shape == (4, 5)
    out.square().sum().backward()
    for name, p in enc.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_mlp_gradcheck_and_bad_kinds():
    torch.manual_seed(0)
    mlp = MLP(3, 2, (4,)).double()
    assert torch.autograd.gradcheck(mlp, (torch.randn(5, 3, dtype=torch.float64, requires_grad=True),))
    with pytest.raises(ValueError, match="unknown encoder kind"):
        make_encoder((3,), 2, "transformer")
    with pytest.raises(ValueError, match="needs \\(C, H, W\\)"):
        make_encoder((3,), 2, "cnn")
