"""Place descriptors: stops, the validation metric, the training module, the entry points and a quick
training on a slice of Nordland's training stretch (blocks: test_place_nets, test_metric_losses, test_augment)."""

import math

import numpy as np
import pytest
import torch

from omniloc import ConfigError, DataError
from omniloc.methods.vpr import NET_RECIPE
from omniloc.nn.place import (
    AUGMENT_DEFAULTS,
    PlaceModule,
    PlaceNet,
    SequenceDescriptor,
    describe,
    describe_windows,
    images_to_tensor,
    recall_at_1,
    train_place_descriptor,
    train_sequence_descriptor,
    travel_coordinate,
)
from omniloc.nn.training import index_loaders, seeded

QUIET = {"progress": False}
OFF = {k: 0.0 for k in AUGMENT_DEFAULTS}


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
    images, places = np.concatenate([summer[train], winter[train]]), np.concatenate([train, train])
    net = train_place_descriptor(images, places, conf, v)
    recalls = [h[2] for h in net.history_]
    assert len(recalls) == 3 and net.best_val_ == pytest.approx(max(recalls))
    # the returned weights are the best epoch's: their recall@1 is the logged one
    again = _recall(describe(net, winter[val]), describe(net, summer[val]))
    assert again == pytest.approx(net.best_val_, abs=1e-9)
