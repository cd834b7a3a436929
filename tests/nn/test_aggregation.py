"""GeM, NetVLAD and L2 pooling: known answers, shapes, k-means initialisation, gradients."""

import math

import numpy as np
import pytest
import torch

from omniloc.nn.aggregation import GeM, L2Norm, NetVLAD, gem, l2_normalize, netvlad, netvlad_alpha


# ---------------------------------------------------------------------------------------------- L2
def test_l2_normalize_and_module():
    x = torch.tensor([[3.0, 4.0], [0.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(l2_normalize(x), torch.tensor([[0.6, 0.8], [0.0, 0.0]], dtype=torch.float64))
    y = torch.randn(2, 5, 3)
    torch.testing.assert_close(L2Norm(1)(y).norm(dim=1), torch.ones(2, 3))
    z = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(L2Norm(1), (z,))


# ---------------------------------------------------------------------------------------------- GeM
def test_gem_known_answers():
    x = torch.tensor([[[[1.0, 2.0]]]], dtype=torch.float64)  # (1, 1, 1, 2)
    torch.testing.assert_close(gem(x, 3.0), torch.tensor([[4.5 ** (1 / 3)]], dtype=torch.float64))
    torch.manual_seed(0)
    f = torch.rand(2, 4, 3, 5, dtype=torch.float64) + 0.1
    # p = 1 is average pooling
    torch.testing.assert_close(gem(f, 1.0), f.mean(dim=(2, 3)))
    # large p approaches max pooling: (1/M)^(1/p) <= gem / max <= 1
    big = gem(f, 200.0)
    mx = f.amax(dim=(2, 3))
    assert torch.all(big <= mx + 1e-12) and torch.all(big >= mx * (1 / 15) ** (1 / 200) - 1e-12)
    torch.testing.assert_close(big, mx, rtol=0.02, atol=0)
    # negative features are clamped to eps
    torch.testing.assert_close(gem(-torch.ones(1, 1, 2, 2), 3.0, eps=1e-2), torch.full((1, 1), 1e-2))
    with pytest.raises(ValueError, match="feature map"):
        gem(torch.ones(2, 3), 3.0)


def test_gem_grid_pools_each_cell():
    x = torch.arange(16, dtype=torch.float64).reshape(1, 1, 2, 8) + 1.0
    # a 1 x 2 grid: the left and right halves, each a 2 x 4 block
    out = gem(x, 1.0, grid=(1, 2))
    torch.testing.assert_close(out, torch.stack([x[..., :4].mean(), x[..., 4:].mean()])[None])
    p3 = gem(x, 3.0, grid=(2, 1))
    torch.testing.assert_close(p3[0], x[0, 0].pow(3).mean(1).pow(1 / 3))
    two = torch.rand(2, 3, 4, 4, dtype=torch.float64) + 0.1
    assert gem(two, 3.0, grid=(2, 2)).shape == (2, 12)
    # channel-major layout: channel c's cells are entries c * 4 .. c * 4 + 3
    torch.testing.assert_close(gem(two, 3.0, grid=(2, 2))[:, 4:8], gem(two[:, 1:2], 3.0, grid=(2, 2)))
    m = GeM(grid=(2, 2))
    assert m.cells == 4 and m(two.float()).shape == (2, 12) and GeM().cells == 1


def test_gem_module_learns_p_and_fixed_p_is_a_buffer():
    m = GeM()
    assert isinstance(m.p, torch.nn.Parameter) and float(m.p.detach()) == 3.0
    f = torch.rand(2, 3, 4, 4) + 0.1
    assert m(f).shape == (2, 3)
    m(f).sum().backward()
    assert m.p.grad is not None and torch.isfinite(m.p.grad)
    fixed = GeM(p=2.0, learn_p=False)
    assert not any(True for _ in fixed.parameters()) and "p" in dict(fixed.named_buffers())
    torch.testing.assert_close(fixed(f), f.pow(2).mean(dim=(2, 3)).sqrt())
    with pytest.raises(ValueError, match="positive"):
        GeM(p=0.0)


def test_gem_gradcheck():
    torch.manual_seed(0)
    f = (torch.rand(2, 3, 2, 3, dtype=torch.float64) + 0.1).requires_grad_()
    p = torch.tensor(2.5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(gem, (f, p))
    m = GeM().double()
    assert torch.autograd.gradcheck(m, (f,))
    assert torch.autograd.gradcheck(lambda t, q: gem(t, q, grid=(2, 1)), (f, p))


# ---------------------------------------------------------------------------------------------- NetVLAD
def _feats(n=2, c=3, h=2, w=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, c, h, w, generator=g, dtype=torch.float64)


def test_netvlad_one_cluster_is_the_normalised_sum_of_residuals():
    x = _feats()
    c = torch.tensor([[0.2, -0.1, 0.3]], dtype=torch.float64)
    w = torch.randn(1, 3, dtype=torch.float64)
    out = netvlad(x, w, torch.zeros(1, dtype=torch.float64), c)
    xn = l2_normalize(x.flatten(2), dim=1)  # (N, C, M), unit local features
    expected = l2_normalize((xn - c[0][None, :, None]).sum(2), dim=1)
    torch.testing.assert_close(out, expected)
    # without input normalisation: the raw residuals
    raw = netvlad(x, w, None, c, normalize_input=False)
    torch.testing.assert_close(raw, l2_normalize((x.flatten(2) - c[0][None, :, None]).sum(2), dim=1))


def test_netvlad_equal_assignment_known_answer():
    # zero assignment weights: a_k = 1/2 for both clusters; each block is then sum_i (x_i - c_k),
    # intra-normalised, and the two unit blocks together have norm sqrt(2)
    x = _feats(n=1)
    c = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0]], dtype=torch.float64)
    out = netvlad(x, torch.zeros(2, 3, dtype=torch.float64), None, c)
    xn = l2_normalize(x.flatten(2), dim=1)[0]  # (C, M)
    blocks = [l2_normalize((xn - c[k][:, None]).sum(1), dim=0) for k in range(2)]
    torch.testing.assert_close(out[0], torch.cat(blocks) / math.sqrt(2.0))
    assert out.shape == (1, 6)


def test_netvlad_shapes_and_errors():
    torch.manual_seed(0)
    m = NetVLAD(8, clusters=4)
    assert m.out_features == 32
    y = m(torch.randn(3, 8, 4, 5))
    assert y.shape == (3, 32)
    torch.testing.assert_close(y.norm(dim=1), torch.ones(3))
    # every intra-normalised block has norm 1 / sqrt(K)
    torch.testing.assert_close(y.reshape(3, 4, 8).norm(dim=2), torch.full((3, 4), 0.5))
    with pytest.raises(ValueError, match="channels"):
        m(torch.randn(1, 7, 2, 2))
    with pytest.raises(ValueError, match="feature map"):
        netvlad(torch.randn(2, 8), m.assign.weight[:, :, 0, 0], None, m.centroids)
    with pytest.raises(ValueError, match=">= 1"):
        NetVLAD(0)


def test_netvlad_alpha_known_answer():
    feats = np.array([[0.5, 0.0], [1.5, 0.0]])
    cents = np.array([[0.0, 0.0], [2.0, 0.0]])
    # squared distances (0.25, 2.25) and (2.25, 0.25): the gap is 2 for both
    assert netvlad_alpha(feats, cents) == pytest.approx(math.log(100.0) / 2.0)
    assert netvlad_alpha(feats, cents, ratio=math.e) == pytest.approx(0.5)


def test_netvlad_init_from_kmeans_recovers_clusters():
    rng = np.random.default_rng(0)
    centres = np.eye(4)[:3]  # three unit directions in 4-D
    feats = np.concatenate([c + 0.05 * rng.standard_normal((50, 4)) for c in centres])
    m = NetVLAD(4, clusters=3).double()
    m.init_from(torch.tensor(feats), seed=0)
    got = m.centroids.detach().numpy()
    # every true centre has a k-means centroid next to it
    d = np.linalg.norm(got[:, None] - centres[None], axis=2)
    assert d.min(0).max() < 0.1
    assert m.alpha > 0
    torch.testing.assert_close(m.assign.weight[:, :, 0, 0], 2 * m.alpha * m.centroids)
    torch.testing.assert_close(m.assign.bias, -m.alpha * m.centroids.pow(2).sum(1))
    # the soft assignment of a clean feature picks its cluster (nearest is 100 x the second on average)
    x = torch.tensor(centres, dtype=torch.float64)[:, :, None, None]  # 3 images, one location each
    a = torch.softmax(m.assign(l2_normalize(x, dim=1)).flatten(1), dim=1)
    assert torch.all(a.max(1).values > 0.9)
    # seeded: the same again; feature maps (N, C, H, W) are accepted
    m2 = NetVLAD(4, clusters=3).double().init_from(torch.tensor(feats).T.reshape(1, 4, 15, 10), seed=0)
    assert m2.centroids.shape == (3, 4)
    m3 = NetVLAD(4, clusters=3).double().init_from(feats, seed=0)
    torch.testing.assert_close(m3.centroids, m.centroids)
    with pytest.raises(ValueError, match="at least 3"):
        NetVLAD(4, clusters=3).init_from(feats[:2])
    with pytest.raises(ValueError, match="expects"):
        NetVLAD(5, clusters=3).init_from(feats)


def test_netvlad_gradcheck_function_and_module():
    x = _feats(n=2, c=3, h=2, w=2).requires_grad_()
    g = torch.Generator().manual_seed(1)
    w = torch.randn(2, 3, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, generator=g, dtype=torch.float64, requires_grad=True)
    c = torch.randn(2, 3, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(netvlad, (x, w, b, c))
    torch.manual_seed(0)
    m = NetVLAD(3, clusters=2).double()
    assert torch.autograd.gradcheck(m, (x,))
