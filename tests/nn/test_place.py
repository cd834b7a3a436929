"""Place descriptors: networks, sequence descriptor, metric losses, augmentation, the training module
and a quick training on a slice of Nordland's training stretch."""

import math

import numpy as np
import pytest
import torch

from omniloc import ConfigError, DataError
from omniloc.nn.aggregation import l2_normalize
from omniloc.nn.place import (
    AUGMENT_DEFAULTS,
    PlaceModule,
    PlaceNet,
    SequenceDescriptor,
    augment,
    build_place_net,
    describe,
    describe_windows,
    images_to_tensor,
    multi_similarity_loss,
    place_masks,
    recall_at_1,
    seqnet,
    supervised_contrastive_loss,
    train_place_descriptor,
    train_sequence_descriptor,
    travel_coordinate,
    triplet_loss,
)
from omniloc.nn.training import index_loaders, seeded
from omniloc.methods.vpr import NET_RECIPE

QUIET = {"progress": False}
OFF = {k: 0.0 for k in AUGMENT_DEFAULTS}


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


# ---------------------------------------------------------------------------------------------- losses
def test_place_masks():
    pos, neg = place_masks(torch.tensor([0, 1, 3, 10]), pos_tol=1, neg_tol=2)
    assert pos.tolist() == [
        [True, True, False, False],
        [True, True, False, False],
        [False, False, True, False],
        [False, False, False, True],
    ]
    # |0 - 3| = 3 > 2 is a negative, |1 - 3| = 2 is neither
    assert neg[0].tolist() == [False, False, True, True] and neg[1].tolist() == [False, False, False, True]
    p2, n2 = place_masks(torch.tensor([0, 5]), 0, other=torch.tensor([0, 1, 5]))
    assert p2.tolist() == [[True, False, False], [False, False, True]] and n2.tolist() == [
        [False, True, True],
        [True, True, False],
    ]


def test_multi_similarity_loss_known_answer():
    d = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.8, -0.6]], dtype=torch.float64)
    # S01 = 0.6 (positive), S02 = 0.8, S12 = 0 (negatives). Anchor 0: the negative is kept
    # (0.8 + 0.1 > 0.6) and so is the positive (0.6 - 0.1 < 0.8). Anchor 1: its negative is easy
    # (0 + 0.1 <= 0.6), no mined negative: 0. Anchor 2 has no positive: 0.
    expected = (0.5 * math.log(1 + math.exp(-2 * (0.6 - 0.5))) + math.log(1 + math.exp(50 * 0.3)) / 50) / 3
    loss = multi_similarity_loss(d, torch.tensor([0, 0, 1]))
    assert float(loss) == pytest.approx(expected, rel=1e-12)
    # the same with a positives mask
    pos = torch.tensor([[True, True, False], [True, True, False], [False, False, True]])
    assert float(multi_similarity_loss(d, pos)) == pytest.approx(expected, rel=1e-12)


def test_multi_similarity_mining_drops_easy_positives():
    # anchor 0 only (the other rows have no positives): positives at S = 0.9 and 0.3, a negative at 0.5.
    # The easy positive (0.9 - 0.1 >= 0.5) is dropped; the negative is kept (0.5 + 0.1 > 0.3).
    e = torch.eye(4, dtype=torch.float64)
    d = torch.stack(
        [
            e[0],
            0.9 * e[0] + math.sqrt(0.19) * e[1],
            0.3 * e[0] + math.sqrt(0.91) * e[2],
            0.5 * e[0] + math.sqrt(0.75) * e[3],
        ]
    )
    pos = torch.zeros(4, 4, dtype=torch.bool)
    pos[0, 1] = pos[0, 2] = True
    neg = torch.zeros(4, 4, dtype=torch.bool)
    neg[0, 3] = True
    expected = (0.5 * math.log(1 + math.exp(-2 * (0.3 - 0.5))) + math.log(2.0) / 50) / 4
    assert float(multi_similarity_loss(d, pos, negatives=neg)) == pytest.approx(expected, rel=1e-12)
    # no hard pair at all: zero
    far = torch.tensor([[1.0, 0.0], [1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64)
    assert float(multi_similarity_loss(far, torch.tensor([0, 0, 1]))) == 0.0


def test_triplet_loss_batch_hard_known_answer():
    x = torch.tensor([[0.0], [1.0], [3.0], [3.5]], dtype=torch.float64)
    labels = torch.tensor([0, 0, 1, 1])
    # (hardest positive, hardest negative): (1, 3), (1, 2), (0.5, 2), (0.5, 2.5); margin 2.5
    assert float(triplet_loss(x, labels, margin=2.5)) == pytest.approx((0.5 + 1.5 + 1.0 + 0.5) / 4, rel=1e-9)
    soft = np.mean([math.log1p(math.exp(g)) for g in (-2.0, -1.0, -1.5, -2.0)])
    assert float(triplet_loss(x, labels, soft=True)) == pytest.approx(soft, rel=1e-9)
    # negatives restricted to a mask: anchor 0 now only sees point 3 as a negative
    neg = torch.zeros(4, 4, dtype=torch.bool)
    neg[0, 3] = True
    assert float(triplet_loss(x, labels, margin=2.5, negatives=neg)) == pytest.approx(1 - 3.5 + 2.5, abs=1e-9)
    # no anchor with a positive and a negative: a zero that still has a graph
    z = triplet_loss(x.clone().requires_grad_(), torch.tensor([0, 1, 2, 3]))
    assert float(z.detach()) == 0.0 and z.requires_grad


def test_supervised_contrastive_loss_known_answer():
    d = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.8, -0.6]], dtype=torch.float64)
    t = 0.5
    # anchor 0: positive 1 (S = 0.6) against {1, 2} (0.6, 0.8); anchor 1: positive 0 against (0.6, 0.0);
    # anchor 2 has no positive
    l0 = -(0.6 / t - math.log(math.exp(0.6 / t) + math.exp(0.8 / t)))
    l1 = -(0.6 / t - math.log(math.exp(0.6 / t) + math.exp(0.0 / t)))
    got = supervised_contrastive_loss(d, torch.tensor([0, 0, 1]), temperature=t)
    assert float(got) == pytest.approx((l0 + l1) / 2, rel=1e-12)
    # an ignored pair leaves the denominator: anchor 0 without the negative 2 has nothing to contrast
    neg = torch.zeros(3, 3, dtype=torch.bool)
    neg[1, 2] = True
    assert float(supervised_contrastive_loss(d, torch.tensor([0, 0, 1]), t, neg)) == pytest.approx(l1, rel=1e-12)
    none = supervised_contrastive_loss(d.clone().requires_grad_(), torch.tensor([0, 1, 2]))
    assert float(none.detach()) == 0.0 and none.requires_grad


def test_loss_gradchecks():
    g = torch.Generator().manual_seed(0)
    d = l2_normalize(torch.randn(6, 3, generator=g, dtype=torch.float64), dim=1).requires_grad_()
    labels = torch.tensor([0, 0, 1, 1, 2, 2])

    def ms(t):
        return multi_similarity_loss(l2_normalize(t, dim=1), labels, beta=10.0, margin=0.5)

    assert float(ms(d).detach()) > 0
    assert torch.autograd.gradcheck(ms, (d,))
    assert torch.autograd.gradcheck(lambda t: triplet_loss(t, labels, margin=1.0), (d,))
    assert torch.autograd.gradcheck(lambda t: supervised_contrastive_loss(l2_normalize(t, dim=1), labels), (d,))
    with pytest.raises(ValueError, match="labels"):
        multi_similarity_loss(d, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="mask"):
        triplet_loss(d, torch.ones(2, 2, dtype=torch.bool))


# ---------------------------------------------------------------------------------------------- augmentation
def test_augment_off_is_identity_and_brightness_known_answer():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 8, 16, generator=g) * 2 - 1
    torch.testing.assert_close(augment(x, OFF), x)
    only = dict(OFF, brightness=0.5)
    f = 0.5 + torch.rand(4, generator=torch.Generator().manual_seed(3))  # U(1 - 0.5, 1 + 0.5)
    expected = (((x + 1) / 2) * f[:, None, None, None]).clamp(0, 1) * 2 - 1
    torch.testing.assert_close(augment(x, only, torch.Generator().manual_seed(3)), expected)
    grey = augment(x, dict(OFF, grey=1.0))
    torch.testing.assert_close(grey[:, 0], grey[:, 1])
    torch.testing.assert_close(
        grey[:, 0], ((x + 1) / 2 * torch.tensor([0.299, 0.587, 0.114])[:, None, None]).sum(1) * 2 - 1
    )


def test_augment_is_seeded_bounded_and_leaves_the_global_generator():
    x = torch.rand(6, 3, 16, 32) * 2 - 1
    state = torch.random.get_rng_state()
    a = augment(x, None, torch.Generator().manual_seed(1))
    assert torch.equal(torch.random.get_rng_state(), state)
    b = augment(x, None, torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert a.shape == x.shape and a.dtype == x.dtype and float(a.min()) >= -1 and float(a.max()) <= 1
    assert not torch.allclose(a, x)
    with seeded(5):
        c1 = augment(x)
    with seeded(5):
        c2 = augment(x)
    torch.testing.assert_close(c1, c2, rtol=0, atol=0)
    # a shift moves the content: a half-image shift of a left/right split image
    img = torch.cat([-torch.ones(1, 3, 4, 8), torch.ones(1, 3, 4, 8)], dim=3)
    shifted = augment(img, dict(OFF, shift=0.5), torch.Generator().manual_seed(0))
    assert not torch.allclose(shifted, img)
    assert augment(x[:0]).shape == (0, 3, 16, 32)
    with pytest.raises(ConfigError, match="unknown"):
        augment(x, {"hue": 0.1})


# ---------------------------------------------------------------------------------------------- stops
def test_travel_coordinate_merges_stops():
    rng = np.random.default_rng(0)
    scenes = rng.integers(0, 255, (4, 6, 8, 3), dtype=np.uint8)
    # one traversal: scenes 0, 1, 1, 1 (a stop), 2, 3; a second traversal moves at every frame
    first = scenes[[0, 1, 1, 1, 2, 3]]
    second = rng.integers(0, 255, (6, 6, 8, 3), dtype=np.uint8)
    places = np.concatenate([np.arange(6), np.arange(6)])
    coord = travel_coordinate(np.concatenate([first, second]), places, threshold=0.95)
    assert coord[:6].tolist() == [0, 1, 1, 1, 2, 3] and coord[6:].tolist() == [0, 1, 1, 1, 2, 3]
    # brightness does not matter (each image is normalised): a darker copy is the same scene
    darker = (first.astype(int) // 2).astype(np.uint8)
    assert travel_coordinate(darker, np.arange(6)).tolist() == [0, 1, 1, 1, 2, 3]
    assert travel_coordinate(first, np.arange(6), threshold=1.1).tolist() == list(range(6))
    with pytest.raises(DataError, match="field 'places'"):
        travel_coordinate(first, np.arange(5))


# ---------------------------------------------------------------------------------------------- metric
def test_recall_at_1_known_answer():
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    db = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # query 0 -> db 0 (place 10, query 11: hit within 1); query 1 -> db 1 (20 vs 25: miss); query 2 -> db 0 or 1
    r = recall_at_1(q, torch.tensor([11, 25, 40]), db, torch.tensor([10, 20]), tol=1)
    assert float(r) == pytest.approx(1 / 3)
    assert float(recall_at_1(q, torch.tensor([11, 25, 40]), db, torch.tensor([10, 20]), tol=5)) == pytest.approx(2 / 3)
    assert math.isnan(float(recall_at_1(q[:0], torch.tensor([]), db, torch.tensor([10, 20]), 1)))


# ---------------------------------------------------------------------------------------------- module
class _Angle(torch.nn.Module):
    """Descriptor (cos v, sin v) of an image whose first pixel's red value is v / pi in [-1, 1]."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(()))

    def forward(self, data):
        v = data["image"][:, 0, 0, 0] * math.pi * self.w
        return {"descriptor": torch.stack([torch.cos(v), torch.sin(v)], 1)}


def _angle_images(places, n_places):
    img = np.zeros((len(places), 4, 4, 3), np.uint8)
    img[:, :, :, 0] = np.round((np.asarray(places) / n_places) * 255 * 0.5).astype(np.uint8)[:, None, None]
    return img


def test_module_sampling_p_by_k_with_near_partners():
    places = np.concatenate([np.arange(40), np.arange(40)])  # two traversals
    data = {"image": torch.as_tensor(_angle_images(places, 40)), "place": torch.as_tensor(places)}
    m = PlaceModule(_Angle(), data, None, places_per_batch=8, per_place=3, sample_tol=1, neg_tol=3, near_range=4)
    assert m.anchors_per_batch == 4 and m.n_anchors == 40
    idx = torch.tensor([0, 10, 20, 39])
    with seeded(0):
        pos = m._batch_places(idx)
        sample = m._sample(idx)
    assert pos.shape == (8,) and torch.equal(pos[:4], idx)
    anchors = m.data("train", "anchor")
    off = (anchors[pos[4:]] - anchors[idx]).abs()
    assert torch.all((off >= 4) & (off <= 7))
    assert sample.shape == (24,) and len(set(sample.tolist())) == 24  # K = 3 each, no repeats
    with seeded(0):
        m2 = PlaceModule(_Angle(), data, None, places_per_batch=8, per_place=3, near=False)
        s2 = m2._sample(idx)
    got = torch.as_tensor(places)[s2].reshape(4, 3)
    assert torch.all((got - anchors[idx][:, None]).abs() <= 1)
    # a place with fewer candidates than K gives what it has
    few = PlaceModule(_Angle(), data, None, per_place=8, sample_tol=0, near=False)
    assert few._sample(torch.tensor([5])).shape == (2,)
    # the loss runs and has a gradient
    loss, _ = m.loss([idx])
    loss.backward()
    assert torch.isfinite(m.net.w.grad)
    with pytest.raises(ConfigError, match="loss"):
        PlaceModule(_Angle(), data, None, loss="arcface")


def test_module_validation_metric_is_recall_at_1():
    qp, dp = np.arange(0, 30), np.arange(0, 30)
    val = {
        "image": torch.as_tensor(_angle_images(np.concatenate([qp, dp]), 60)),
        "place": torch.as_tensor(np.concatenate([qp, dp + np.where(dp % 2 == 0, 0, 5)])),  # odd ones mislabelled
        "query": torch.cat([torch.ones(30, dtype=torch.bool), torch.zeros(30, dtype=torch.bool)]),
    }
    data = {"image": val["image"], "place": torch.as_tensor(np.concatenate([qp, dp]))}
    m = PlaceModule(_Angle(), data, val, val_tol=2)
    for batch in (7, 60):  # the validation sums assemble the descriptors over batches
        _, loader, _ = index_loaders(60, 8, n_val=60, val_batch_size=batch)
        assert m.score(loader) == pytest.approx(0.5)
    m.val_tol = 5
    assert m.score(loader) == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------- errors
def test_entry_point_errors():
    imgs = np.zeros((4, 8, 8, 3), np.uint8)
    with pytest.raises(ConfigError, match="unknown"):
        train_place_descriptor(imgs, np.arange(4), {"lr_typo": 1})
    with pytest.raises(ConfigError, match="'epochs' must be an int"):
        train_place_descriptor(imgs, np.arange(4), {"epochs": "ten"})
    with pytest.raises(ConfigError, match="per_place"):
        train_place_descriptor(imgs, np.arange(4), {"per_place": 1})
    with pytest.raises(DataError, match="field 'images'"):
        train_place_descriptor(imgs.astype(np.float32), np.arange(4))
    with pytest.raises(DataError, match="field 'places'"):
        train_place_descriptor(imgs, np.arange(3))
    with pytest.raises(DataError, match="two places"):
        train_place_descriptor(imgs, np.zeros(4, int))
    with pytest.raises(DataError, match="query_places"):
        train_place_descriptor(imgs, np.arange(4), val={"query_images": imgs})
    with pytest.raises(DataError, match="frame network"):
        train_sequence_descriptor(None, [(imgs, np.arange(4))])
    with pytest.raises(DataError, match="field 'descriptors'"):
        describe_windows(SequenceDescriptor(4, 4, 2, 2), np.zeros((5, 3), np.float32))


def test_describe_and_describe_windows():
    torch.manual_seed(0)
    net = PlaceNet(width=2, stages=1, dim=4).train()
    imgs = np.random.default_rng(0).integers(0, 255, (5, 8, 16, 3), dtype=np.uint8)
    d = describe(net, imgs, batch_size=2)
    assert d.shape == (5, 4) and d.dtype == np.float32 and net.training  # mode restored
    with torch.no_grad():
        expected = net.eval()({"image": images_to_tensor(imgs)})["descriptor"].numpy()
    np.testing.assert_allclose(d, expected, rtol=1e-5, atol=1e-6)
    seq = SequenceDescriptor(4, 3, length=3, kernel=2)
    w = describe_windows(seq, d, batch_size=2)
    assert w.shape == (3, 3)
    with torch.no_grad():
        row1 = seq({"descriptors": torch.as_tensor(d[1:4])[None]})["descriptor"][0].numpy()
    np.testing.assert_allclose(w[1], row1, rtol=1e-5, atol=1e-6)
    assert describe_windows(seq, d[:2]).shape == (0, 3)


# ---------------------------------------------------------------------------------------------- Nordland
def _raw(images):
    """The raw-pixel baseline: greyscale, per-image zero mean and unit norm."""
    g = images.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    g = g.reshape(len(g), -1)
    g -= g.mean(1, keepdims=True)
    return g / np.linalg.norm(g, axis=1, keepdims=True)


def _recall(q, db, tol=2):
    top = np.argmax(q @ db.T, axis=1)
    return float(np.mean(np.abs(top - np.arange(len(q))) <= tol))


@pytest.fixture(scope="module")
def nordland(data_root):
    path = data_root / "nordland-vpr" / "nordland_64x32.npz"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    with np.load(path) as f:
        n = len(f["summer"])
        train_end = int(0.6 * n)  # only the training part of the protocol is used in tests
        return f["summer"][:train_end], f["winter"][:train_end]


def test_standardize_removes_global_photometric_changes():
    torch.manual_seed(0)
    net = PlaceNet(width=2, stages=1, dim=4, standardize=True).eval()
    x = torch.rand(2, 3, 8, 16) * 2 - 1
    gain, shift = (
        torch.tensor([0.5, 1.2, 0.8])[None, :, None, None],
        torch.tensor([0.1, -0.2, 0.0])[None, :, None, None],
    )
    with torch.no_grad():
        torch.testing.assert_close(net({"image": x * gain + shift})["descriptor"], net({"image": x})["descriptor"])


def _synthetic_traversals(n=120, seed=0):
    """Two traversals of one route: frame descriptors = 4 dimensions of a place code (plus noise) and 8
    dimensions of strong nuisance that differs between traversals (e.g. the season)."""
    rng = np.random.default_rng(seed)
    code = rng.standard_normal((n, 4))
    out = []
    for _ in range(2):
        f = np.concatenate([code + 0.5 * rng.standard_normal((n, 4)), rng.standard_normal((n, 8))], axis=1)
        out.append((f / np.linalg.norm(f, axis=1, keepdims=True)).astype(np.float32))
    return out


def test_train_sequence_descriptor_beats_frames_and_concatenation_on_synthetic_routes():
    (a, b), (va, vb) = _synthetic_traversals(n=300, seed=0), _synthetic_traversals(seed=1)
    places, vp, length = np.arange(len(a)), np.arange(len(va)), 5
    conf = {"length": length, "kernel": 5, "dim": 32, "epochs": 6, "places_per_batch": 16, "lr": 1e-2}
    conf.update({"pos_tol": 0, "sample_tol": 0, "neg_tol": 2, "per_place": 2, "trainer": QUIET})
    val = {"query_frames": va, "query_places": vp, "database_frames": vb, "database_places": vp}
    seq = train_sequence_descriptor(None, [(a, places), (b, places)], conf, val)
    assert isinstance(seq, SequenceDescriptor) and not seq.training and seq.frame_net is None
    assert len(seq.history_) == 6 and 0 <= seq.best_val_ <= 1
    n = len(va) - length + 1
    rows = np.arange(n)[:, None] + np.arange(length)[None]
    frame_recall = _recall(va, vb, tol=0)
    concat = _recall(va[rows].reshape(n, -1), vb[rows].reshape(n, -1), tol=0)
    windows = _recall(describe_windows(seq, va), describe_windows(seq, vb), tol=0)
    assert windows > max(frame_recall, concat) + 0.2, (windows, frame_recall, concat)
    # seeded: the same weights again
    again = train_sequence_descriptor(None, [(a, places), (b, places)], conf, val)
    torch.testing.assert_close(again.conv.weight, seq.conv.weight, rtol=0, atol=0)


#: the method's recipe, shortened: 9 epochs on 600 places (about 30 s on 2 cores)
QUICK = {**NET_RECIPE, "epochs": 9, "trainer": QUIET}


def test_quick_training_on_nordland_beats_raw_pixels(nordland):
    summer, winter = nordland
    train, held = np.arange(0, 600), np.arange(1000, 1300)  # both inside the training 60 %
    net = train_place_descriptor(np.concatenate([summer[train], winter[train]]), np.concatenate([train, train]), QUICK)
    assert isinstance(net, PlaceNet) and not net.training and len(net.history_) == QUICK["epochs"]
    learned = _recall(describe(net, winter[held]), describe(net, summer[held]))
    raw = _recall(_raw(winter[held]), _raw(summer[held]))
    assert raw == pytest.approx(0.22)  # 66 of 300 held-out places
    assert learned > raw + 0.1, (learned, raw)


def test_module_validation_metric_on_nordland_is_the_kept_epochs_recall(nordland):
    summer, winter = nordland
    train, val = np.arange(0, 200), np.arange(1000, 1150)
    conf = {**QUICK, "epochs": 3, "backbone": {"width": 8, "stem_stride": 2, "stages": 3}}
    v = {"query_images": winter[val], "query_places": val, "database_images": summer[val], "database_places": val}
    net = train_place_descriptor(np.concatenate([summer[train], winter[train]]), np.concatenate([train, train]), conf, v)
    recalls = [h[2] for h in net.history_]
    assert len(recalls) == 3 and net.best_val_ == pytest.approx(max(recalls))
    # the returned weights are the best epoch's: their recall@1 is the logged one
    again = _recall(describe(net, winter[val]), describe(net, summer[val]))
    assert again == pytest.approx(net.best_val_, abs=1e-9)
