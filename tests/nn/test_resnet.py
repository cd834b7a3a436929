"""ResNet-18/34 encoders and the Gaussian head: shapes, parameter counts, init, gradients."""

import pytest
import torch

from omniloc.nn.resnet import BasicBlock, GaussianHead, ResNet, resnet18, resnet34


def _n_params(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("depth", [18, 34])
@pytest.mark.parametrize("in_channels", [1, 3])
@pytest.mark.parametrize("width", [8, 16])
@pytest.mark.parametrize("stem", ["imagenet", "small"])
@pytest.mark.parametrize("size", [(32, 32), (64, 64), (24, 40)])
def test_resnet_output_shapes(depth, in_channels, width, stem, size):
    torch.manual_seed(0)
    net = ResNet(depth, in_channels=in_channels, width=width, stem=stem)
    assert net.out_features == 8 * width
    x = torch.randn(2, in_channels, *size)
    with torch.no_grad():
        assert net(x).shape == (2, 8 * width)
        fmap = net.forward_features(x)
    stride = 32 if stem == "imagenet" else 8
    assert fmap.shape == (2, 8 * width, -(-size[0] // stride), -(-size[1] // stride))


@pytest.mark.parametrize("factory,depth", [(resnet18, 18), (resnet34, 34)])
@pytest.mark.parametrize("width", [32, 64])
def test_factories_and_wide_networks(factory, depth, width):
    torch.manual_seed(0)
    net = factory(in_channels=1, width=width, stem="small" if width == 32 else "imagenet").eval()
    assert net.depth == depth and net.in_channels == 1 and net.out_features == 8 * width
    assert [len(s) for s in (net.layer1, net.layer2, net.layer3, net.layer4)] == (
        [2, 2, 2, 2] if depth == 18 else [3, 4, 6, 3]
    )
    with torch.no_grad():
        assert net(torch.randn(1, 1, 32, 32)).shape == (1, 8 * width)


def test_parameter_counts_match_the_standard_networks_without_fc():
    # torchvision's resnet18 / resnet34 have 11,689,512 / 21,797,672 parameters, of which the
    # 1000-class fc layer holds 512 * 1000 + 1000 = 513,000
    r18, r34 = resnet18(), resnet34()
    assert _n_params(r18) == 11_689_512 - 513_000 == 11_176_512
    assert _n_params(r34) == 21_797_672 - 513_000 == 21_284_672
    # one input channel: the 7x7 stem has 2 * 64 * 49 fewer weights
    assert _n_params(resnet18(in_channels=1)) == 11_176_512 - 2 * 64 * 49
    # the usual state-dict layout (a standard checkpoint minus fc.* loads into it)
    keys = set(r18.state_dict())
    assert {"conv1.weight", "bn1.running_var", "layer1.0.conv2.weight", "layer2.0.downsample.0.weight"} <= keys
    assert "layer2.0.downsample.1.weight" in keys and "layer1.0.downsample.0.weight" not in keys
    assert not any(k.startswith("fc.") for k in keys)


def test_kaiming_init_and_zero_init_residual():
    torch.manual_seed(0)
    net = resnet18(width=16)
    w = net.layer3[1].conv2.weight.detach()  # 64 -> 64, 3x3: fan_out 576
    assert abs(float(w.std()) / (2.0 / 576) ** 0.5 - 1.0) < 0.05
    assert all(float(m.weight.detach().min()) == 1.0 for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))
    zero = resnet18(width=8, zero_init_residual=True)
    blocks = [m for m in zero.modules() if isinstance(m, BasicBlock)]
    assert len(blocks) == 8 and all(float(b.bn2.weight.detach().abs().sum()) == 0.0 for b in blocks)
    # a zero-initialised block with an identity shortcut starts as relu(x)
    x = torch.randn(3, 8, 6, 6)
    torch.testing.assert_close(zero.layer1[0](x), torch.relu(x))


def test_basic_block_shortcut_and_shapes():
    torch.manual_seed(0)
    same = BasicBlock(4, 4)
    down = BasicBlock(4, 8, stride=2)
    assert same.downsample is None and down.downsample is not None
    assert BasicBlock(4, 8).downsample is not None  # channel change alone needs the projection
    x = torch.randn(2, 4, 7, 7)
    assert same(x).shape == (2, 4, 7, 7)
    assert down(x).shape == (2, 8, 4, 4)
    assert bool((down(x) >= 0).all())


@pytest.mark.parametrize("train", [True, False])
def test_basic_block_gradcheck(train):
    torch.manual_seed(0)
    block = BasicBlock(2, 3, stride=2).double()
    if not train:  # eval mode with non-trivial running statistics
        for m in block.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    block.train(train)
    x = torch.randn(2, 2, 5, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(block, (x,))


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    net = resnet34(in_channels=1, width=8, stem="small")
    head = GaussianHead(net.out_features, 5)
    out = head(net(torch.randn(2, 1, 16, 16)))
    (out["mu"].square().sum() + out["logvar"].exp().sum()).backward()
    for name, p in [*net.named_parameters(), *head.named_parameters()]:
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_gaussian_head_shapes_and_clamp():
    torch.manual_seed(0)
    head = GaussianHead(12, 4, min_logvar=-2.0, max_logvar=3.0)
    out = head(torch.randn(5, 12))
    assert set(out) == {"mu", "logvar"}
    assert out["mu"].shape == out["logvar"].shape == (5, 4)
    with torch.no_grad():
        head.logvar.bias.fill_(100.0)
    assert torch.all(head(torch.randn(5, 12))["logvar"] == 3.0)
    with torch.no_grad():
        head.logvar.bias.fill_(-100.0)
    assert torch.all(head(torch.randn(5, 12))["logvar"] == -2.0)
    with pytest.raises(ValueError, match="min_logvar"):
        GaussianHead(3, 2, min_logvar=1.0, max_logvar=1.0)


def test_bad_configurations():
    with pytest.raises(ValueError, match="18 or 34"):
        ResNet(50)
    with pytest.raises(ValueError, match="unknown ResNet stem"):
        ResNet(18, stem="cifar")
    with pytest.raises(ValueError, match=">= 1"):
        ResNet(18, width=0)
