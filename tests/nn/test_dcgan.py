"""DC-GAN image encoder / decoder and the pose encoder of the Generative Map: shapes, counts, gradients."""

import math

import pytest
import torch
from torch import nn

import omniloc.nn
from omniloc.nn.dcgan import DCGANDecoder, DCGANEncoder, PoseEncoder, fourier_features

F64 = torch.float64


def _n_params(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("size", [32, 64, 96])
@pytest.mark.parametrize("channels", [8, 16])
@pytest.mark.parametrize("latent_dim", [4, 32])
@pytest.mark.parametrize("in_channels", [1, 3])
def test_encoder_output_shapes(size, channels, latent_dim, in_channels):
    torch.manual_seed(0)
    enc = DCGANEncoder(in_channels=in_channels, input_size=size, latent_dim=latent_dim, channels=channels)
    x = torch.rand(2, in_channels, size, size) * 2 - 1
    out = enc(x)
    assert set(out) == {"mu", "logvar"}
    assert out["mu"].shape == out["logvar"].shape == (2, latent_dim)
    assert enc.widths[-1] == channels and enc.out_features == channels * 16
    # 32 -> 16 -> 8 -> 4 (3 layers), 64 -> 4 (4 layers), 96 -> 48 -> 24 -> 12 -> 6 then pooled to 4
    assert len(enc.widths) == {32: 3, 64: 4, 96: 4}[size]
    assert enc.feature_size == {32: 4, 64: 4, 96: 6}[size]
    assert isinstance(enc.pool, nn.AdaptiveAvgPool2d) == (size == 96)
    assert enc.forward_features(x).shape == (2, channels * 16)


def test_encoder_layout_matches_dcgan_discriminator():
    enc = DCGANEncoder(input_size=64, channels=512)
    assert enc.widths == (64, 128, 256, 512)
    convs = [m for m in enc.features if isinstance(m, nn.Conv2d)]
    bns = [m for m in enc.features if isinstance(m, nn.BatchNorm2d)]
    assert all((c.kernel_size, c.stride, c.padding) == ((4, 4), (2, 2), (1, 1)) for c in convs)
    assert [c.bias is not None for c in convs] == [True, False, False, False]
    assert [b.num_features for b in bns] == [128, 256, 512]  # none after the first convolution
    assert all(m.negative_slope == 0.2 for m in enc.features if isinstance(m, nn.LeakyReLU))
    # the paper's 96 x 96 input with min_size 4: four halvings, then an adaptive pool 6 -> 4
    enc96 = DCGANEncoder(input_size=96, channels=512)
    assert enc96.widths == (64, 128, 256, 512) and enc96.feature_size == 6
    # other min sizes and odd sides (floor halving): 40 -> 20 -> 10 -> 5 with min_size 5 is exact
    assert DCGANEncoder(input_size=40, min_size=5, channels=8).widths == (2, 4, 8)
    assert isinstance(DCGANEncoder(input_size=40, min_size=5, channels=8).pool, nn.Identity)
    assert DCGANEncoder(input_size=8, min_size=4, channels=8).widths == (8,)


def test_wide_networks_at_tiny_batch():
    torch.manual_seed(0)
    enc = DCGANEncoder(input_size=96, latent_dim=128, channels=512).eval()
    dec = DCGANDecoder(latent_dim=128, output_size=64, channels=512).eval()
    with torch.no_grad():
        out = enc(torch.rand(1, 3, 96, 96) * 2 - 1)
        assert out["mu"].shape == (1, 128)
        img = dec(out["mu"])
    assert img.shape == (1, 3, 64, 64)
    assert dec.widths == (512, 256, 128, 64, 3)


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("channels", [8, 16])
@pytest.mark.parametrize("latent_dim", [4, 32])
@pytest.mark.parametrize("out_channels", [1, 3])
def test_decoder_output_shapes_and_range(size, channels, latent_dim, out_channels):
    torch.manual_seed(0)
    dec = DCGANDecoder(latent_dim=latent_dim, output_size=size, out_channels=out_channels, channels=channels)
    with torch.no_grad():
        img = dec(10 * torch.randn(3, latent_dim))  # large latents push tanh towards its limits
    assert isinstance(dec.deconv[-1], nn.Tanh)
    assert img.shape == (3, out_channels, size, size)
    assert float(img.min()) >= -1.0 and float(img.max()) <= 1.0
    assert len(dec.widths) == {32: 4, 64: 5}[size] and dec.widths[0] == channels
    assert dec.widths[-1] == out_channels


def test_decoder_accepts_leading_batch_dims():
    torch.manual_seed(0)
    dec = DCGANDecoder(latent_dim=6, output_size=16, channels=8).eval()
    z = torch.randn(2, 3, 6)
    with torch.no_grad():
        img = dec(z)
        assert img.shape == (2, 3, 3, 16, 16)
        torch.testing.assert_close(img[1, 2], dec(z[1, 2:3])[0])
        assert dec(z[0, 0]).shape == (3, 16, 16)
    enc = DCGANEncoder(input_size=16, latent_dim=6, channels=8).eval()
    with torch.no_grad():
        out = enc(img)
    assert out["mu"].shape == (2, 3, 6)


def test_parameter_counts_by_hand():
    # encoder 3 x 16 x 16 -> 4 x 8 x 8 -> 8 x 4 x 4, latent 4:
    #   conv1 3 -> 4 (bias, no BatchNorm): 3 * 4 * 4 * 4 + 4 = 196
    #   conv2 4 -> 8 (no bias):            4 * 8 * 4 * 4     = 512
    #   BatchNorm(8):                      8 + 8             = 16
    #   head on 8 * 4 * 4 = 128 features:  2 * (128 * 4 + 4) = 1032
    enc = DCGANEncoder(in_channels=3, input_size=16, latent_dim=4, channels=8, min_size=4)
    assert _n_params(enc) == 196 + 512 + 16 + 1032 == 1756
    # decoder latent 4 -> 8 x 4 x 4 -> 4 x 8 x 8 -> 3 x 16 x 16:
    #   projection 4 -> 128 (no bias):     4 * 128           = 512
    #   BatchNorm(8):                                          16
    #   deconv1 8 -> 4 (no bias):          8 * 4 * 4 * 4     = 512
    #   BatchNorm(4):                                          8
    #   deconv2 4 -> 3 (bias):             4 * 3 * 4 * 4 + 3 = 195
    dec = DCGANDecoder(latent_dim=4, output_size=16, out_channels=3, channels=8, min_size=4)
    assert _n_params(dec) == 512 + 16 + 512 + 8 + 195 == 1243
    # pose encoder 6 -> 16 -> 4: (6 * 16 + 16) + (16 * 4 + 4) = 180; a learned logvar head adds 68
    assert _n_params(PoseEncoder(pose_dim=6, latent_dim=4, hidden=16)) == 180
    assert _n_params(PoseEncoder(pose_dim=6, latent_dim=4, hidden=16, fixed_logvar=None)) == 248
    # the paper's pose encoder: 6 -> 512 -> 128
    assert _n_params(PoseEncoder()) == 6 * 512 + 512 + 512 * 128 + 128


def test_dcgan_initialisation():
    torch.manual_seed(0)
    enc = DCGANEncoder(input_size=64, channels=64)
    w = torch.cat([m.weight.detach().flatten() for m in enc.modules() if isinstance(m, nn.Conv2d)])
    assert abs(float(w.std()) - 0.02) < 0.002 and abs(float(w.mean())) < 0.002
    bn = torch.cat([m.weight.detach() for m in enc.modules() if isinstance(m, nn.BatchNorm2d)])
    assert abs(float(bn.mean()) - 1.0) < 0.01


def test_logvar_is_clamped():
    torch.manual_seed(0)
    enc = DCGANEncoder(input_size=8, latent_dim=3, channels=4, min_size=2, min_logvar=-1.0, max_logvar=1.0).eval()
    with torch.no_grad():
        enc.head.logvar.bias.fill_(5.0)
        assert torch.all(enc(torch.zeros(2, 3, 8, 8))["logvar"] == 1.0)
    pe = PoseEncoder(pose_dim=2, latent_dim=3, hidden=4, fixed_logvar=None, min_logvar=-2.0, max_logvar=2.0)
    with torch.no_grad():
        pe.logvar.bias.fill_(-7.0)
        pe.logvar.weight.zero_()
        assert torch.all(pe(torch.randn(5, 2))["logvar"] == -2.0)


@pytest.mark.parametrize("train", [False, True])
def test_encoder_gradcheck(train):
    torch.manual_seed(0)
    enc = DCGANEncoder(in_channels=2, input_size=8, latent_dim=3, channels=4, min_size=2).to(F64)
    enc.train(train)
    if not train:  # non-trivial running statistics
        for m in enc.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    x = (torch.rand(2, 2, 8, 8, dtype=F64) * 2 - 1).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: tuple(enc(t).values()), (x,))


@pytest.mark.parametrize("train", [False, True])
def test_decoder_gradcheck(train):
    torch.manual_seed(0)
    dec = DCGANDecoder(latent_dim=3, output_size=8, out_channels=2, channels=4, min_size=2).to(F64)
    dec.train(train)
    z = torch.randn(2, 3, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(dec, (z,))


@pytest.mark.parametrize("fixed_logvar", [0.0, None])
def test_pose_encoder_gradcheck(fixed_logvar):
    torch.manual_seed(0)
    pe = PoseEncoder(pose_dim=6, latent_dim=4, hidden=8, fixed_logvar=fixed_logvar).to(F64)
    p = torch.randn(3, 6, dtype=F64, requires_grad=True)
    if fixed_logvar is None:
        assert torch.autograd.gradcheck(lambda t: tuple(pe(t).values()), (p,))
    else:
        assert torch.autograd.gradcheck(lambda t: pe(t)["mu"], (p,))


def test_pose_encoder_is_one_hidden_layer_mlp():
    torch.manual_seed(0)
    pe = PoseEncoder(pose_dim=6, latent_dim=5, hidden=7)
    p = torch.randn(4, 3, 6)
    out = pe(p)
    assert out["mu"].shape == out["logvar"].shape == (4, 3, 5)
    expected = torch.relu(p @ pe.fc1.weight.T + pe.fc1.bias) @ pe.mu.weight.T + pe.mu.bias
    torch.testing.assert_close(out["mu"], expected)
    assert pe.logvar is None and [type(m) for m in pe.children()] == [nn.Linear, nn.Linear]


def test_fourier_features_known_values():
    p = torch.tensor([[0.25, -0.5]], dtype=F64)
    f = fourier_features(p, 2)
    # [p, sin(pi p), sin(2 pi p), cos(pi p), cos(2 pi p)], each block in p's order
    s2 = math.sqrt(0.5)
    expected = torch.tensor([[0.25, -0.5, s2, -1.0, 1.0, 0.0, s2, 0.0, 0.0, -1.0]], dtype=F64)
    torch.testing.assert_close(f, expected, atol=1e-12, rtol=0)
    assert fourier_features(p, 0) is p
    assert fourier_features(torch.zeros(4, 3, 6), 3).shape == (4, 3, 42)
    with pytest.raises(ValueError, match="bands must be >= 0"):
        fourier_features(p, -1)


def test_pose_encoder_with_fourier_input():
    torch.manual_seed(0)
    pe = PoseEncoder(pose_dim=6, latent_dim=4, hidden=8, fourier_bands=3).to(F64)
    assert pe.fc1.in_features == 6 * 7
    p = torch.randn(3, 6, dtype=F64, requires_grad=True)
    expected = torch.relu(fourier_features(p, 3) @ pe.fc1.weight.T + pe.fc1.bias) @ pe.mu.weight.T + pe.mu.bias
    torch.testing.assert_close(pe(p)["mu"], expected)
    assert torch.autograd.gradcheck(lambda t: pe(t)["mu"], (p,))
    with pytest.raises(ValueError, match="fourier_bands must be >= 0"):
        PoseEncoder(fourier_bands=-2)


def test_fixed_logvar_path():
    pe = PoseEncoder(pose_dim=6, latent_dim=4, hidden=8).to(F64)
    p = torch.randn(3, 6, dtype=F64, requires_grad=True)
    out = pe(p)
    assert torch.equal(out["logvar"], torch.zeros(3, 4, dtype=F64))
    assert out["logvar"].dtype == F64 and not out["logvar"].requires_grad
    assert out["mu"].requires_grad
    out2 = PoseEncoder(pose_dim=6, latent_dim=4, hidden=8, fixed_logvar=-3.0)(torch.randn(2, 6))
    assert torch.equal(out2["logvar"], torch.full((2, 4), -3.0))
    learned = PoseEncoder(pose_dim=6, latent_dim=4, hidden=8, fixed_logvar=None)(torch.randn(2, 6))
    assert learned["logvar"].requires_grad


def test_invalid_configurations_and_inputs():
    with pytest.raises(ValueError, match="input_size must be at least"):
        DCGANEncoder(input_size=6, min_size=4)
    with pytest.raises(ValueError, match="min_size \\* 2\\^k"):
        DCGANDecoder(output_size=96, min_size=4)
    with pytest.raises(ValueError, match="min_size \\* 2\\^k"):
        DCGANDecoder(output_size=4, min_size=4)
    with pytest.raises(ValueError, match="channels must be >= 1"):
        DCGANEncoder(channels=0)
    with pytest.raises(ValueError, match="finite or None"):
        PoseEncoder(fixed_logvar=float("nan"))
    enc = DCGANEncoder(input_size=16, channels=8)
    with pytest.raises(ValueError, match="expects images"):
        enc(torch.zeros(2, 3, 32, 32))
    with pytest.raises(ValueError, match="expects latents"):
        DCGANDecoder(latent_dim=4, output_size=16, channels=8)(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="expects poses"):
        PoseEncoder()(torch.zeros(2, 7))


def test_lazy_exports():
    assert omniloc.nn.DCGANEncoder is DCGANEncoder
    assert omniloc.nn.DCGANDecoder is DCGANDecoder
    assert omniloc.nn.PoseEncoder is PoseEncoder
    assert {"DCGANEncoder", "DCGANDecoder", "PoseEncoder"} <= set(omniloc.nn.__all__) & set(dir(omniloc.nn))
