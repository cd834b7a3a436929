"""Place-recognition networks: PlaceNet shapes, unit descriptors and gradients; SeqNet windows."""

import math

import pytest
import torch

from omniloc import ConfigError
from omniloc.nn.aggregation import l2_normalize
from omniloc.nn.place import build_place_net
from omniloc.nn.place_nets import PlaceNet, SequenceDescriptor, seqnet


# ---------------------------------------------------------------------------------------------- networks
@pytest.mark.parametrize("aggregation", ["gem", "netvlad", "gem-grid"])
@pytest.mark.parametrize("stages", [2, 4])
def test_placenet_shapes_and_unit_descriptors(aggregation, stages):
    torch.manual_seed(0)
    net = PlaceNet(width=4, stages=stages, aggregation=aggregation, clusters=3, dim=16)
    assert net.feature_dim == 4 * 2 ** (stages - 1) and net.out_features == 16
    x = torch.rand(3, 3, 32, 64) * 2 - 1
    fmap = net.features(x)
    stride = 2 ** (stages - 1)
    assert fmap.shape == (3, net.feature_dim, 32 // stride, 64 // stride)
    out = net({"image": x})
    assert out["descriptor"].shape == (3, 16)
    torch.testing.assert_close(out["descriptor"].norm(dim=1), torch.ones(3))
    raw = PlaceNet(width=4, stages=stages, aggregation=aggregation, clusters=3, dim=None, grid=(2, 4))
    pooled = raw.feature_dim * {"netvlad": 3, "gem": 1, "gem-grid": 8}[aggregation]
    assert raw.out_features == pooled and raw({"image": x})["descriptor"].shape == (3, pooled)
    with pytest.raises(ValueError, match="aggregation"):
        PlaceNet(aggregation="max")
    with pytest.raises(ValueError, match="stages"):
        PlaceNet(stages=5)


def test_stem_stride_and_build_from_conf():
    torch.manual_seed(0)
    net = PlaceNet(width=4, stages=3, stem_stride=2)
    assert net.features(torch.zeros(1, 3, 32, 64)).shape == (1, 16, 4, 8)
    with pytest.raises(ValueError, match="stem_stride"):
        PlaceNet(stem="imagenet", stem_stride=2)
    built = build_place_net({"backbone": {"width": 4, "stages": 2, "stem_stride": 2}, "aggregation": "gem-grid"})
    assert built.feature_dim == 8 and built.stem_stride == 2 and built.grid == (2, 4) and built.out_features == 256
    with pytest.raises(ConfigError, match="unknown"):
        build_place_net({"backbone": {"widht": 4}})


@pytest.mark.parametrize("aggregation", ["gem", "netvlad", "gem-grid"])
def test_placenet_gradcheck(aggregation):
    torch.manual_seed(0)
    net = PlaceNet(width=2, stages=2, aggregation=aggregation, clusters=2, dim=3).double().eval()
    x = (torch.rand(2, 3, 4, 4, dtype=torch.float64) * 2 - 1).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: net({"image": t})["descriptor"], (x,))


def test_seqnet_known_answer_and_gradcheck():
    g = torch.Generator().manual_seed(0)
    d = l2_normalize(torch.randn(2, 4, 3, generator=g, dtype=torch.float64), dim=-1)  # N=2, L=4, D=3
    # an identity kernel of width 1: the L2-normalised mean of the frame descriptors
    eye = torch.eye(3, dtype=torch.float64)[:, :, None]
    torch.testing.assert_close(seqnet(d, eye), l2_normalize(d.mean(1), dim=1))
    # width 2, weights (a on the older frame, b on the newer): mean over the 3 positions
    w = torch.cat([2.0 * eye, -1.0 * eye], dim=2)
    expected = l2_normalize((2.0 * d[:, :-1] - d[:, 1:]).mean(1), dim=1)
    torch.testing.assert_close(seqnet(d, w), expected)
    # the order of the frames matters (unlike an average)
    assert not torch.allclose(seqnet(d.flip(1), w), expected)
    dd = d.clone().requires_grad_()
    ww = torch.randn(2, 3, 2, generator=g, dtype=torch.float64, requires_grad=True)
    bb = torch.randn(2, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(seqnet, (dd, ww, bb))
    with pytest.raises(ValueError, match="shorter"):
        seqnet(d[:, :1], w)


def test_sequence_descriptor_module():
    torch.manual_seed(0)
    seq = SequenceDescriptor(frame_dim=6, dim=6, length=5, kernel=3)
    assert seq.kernel == 3 and seq.conv.weight.shape == (6, 6, 3)
    assert SequenceDescriptor(6, 4, length=2, kernel=5).kernel == 2
    d = l2_normalize(torch.randn(4, 5, 6), dim=-1)
    out = seq({"descriptors": d})["descriptor"]
    assert out.shape == (4, 6)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(4))
    # init "average" with kernel = L and dim = D: the L2-normalised window average
    avg = SequenceDescriptor(6, 6, length=5, kernel=5, init="average")
    torch.testing.assert_close(avg({"descriptors": d})["descriptor"], l2_normalize(d.mean(1), dim=1))
    # init "orthogonal" with dim = L x D: an orthogonal map of the concatenated window, so inner products
    # are those of the concatenations (the sum of frame similarities along the diagonal) / L
    ortho = SequenceDescriptor(6, 12, length=2, kernel=2)
    d2 = d[:, :2]
    out2 = ortho({"descriptors": d2})["descriptor"]
    cat = d2.reshape(4, 12) / math.sqrt(2.0)
    torch.testing.assert_close(out2 @ out2.T, cat @ cat.T)
    with pytest.raises(ValueError, match="init"):
        SequenceDescriptor(6, 6, init="zeros")
    with pytest.raises(ValueError, match="frame_net"):
        seq({"image": torch.zeros(1, 5, 3, 8, 8)})
    # on top of a PlaceNet: (N, L, 3, H, W) images
    frame = PlaceNet(width=2, stages=1, dim=6)
    seq2 = SequenceDescriptor(6, 4, length=3, kernel=2, frame_net=frame)
    assert seq2({"image": torch.zeros(2, 3, 3, 8, 16)})["descriptor"].shape == (2, 4)
    s64 = SequenceDescriptor(3, 2, length=3, kernel=2).double()
    x = l2_normalize(torch.randn(2, 3, 3, dtype=torch.float64), dim=-1).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: s64({"descriptors": t})["descriptor"], (x,))
