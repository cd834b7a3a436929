"""DescriptorIndex: known neighbours, approximate recall, save/load, corrupted files, bad confs."""

import json
import struct

import faiss
import numpy as np
import pytest

from omniloc import ConfigError, DataError
from omniloc._io import OutputExistsError
from omniloc.bench._vpr_scale import synthetic_database, synthetic_queries
from omniloc.vpr import INDEX_KINDS, DescriptorIndex
from omniloc.vpr.index import _MAGIC, FLAT_MAX_SIZE, auto_nlist, choose_kind


def fan(d=8, degrees=(0, 10, 20, 30, 40, 50)):
    """Unit vectors at the given angles in the first two dimensions of R^d (neighbours known by construction)."""
    a = np.radians(np.asarray(degrees, dtype=np.float64))
    x = np.zeros((len(a), d), dtype=np.float32)
    x[:, 0], x[:, 1] = np.cos(a), np.sin(a)
    return x


@pytest.fixture(scope="module")
def clustered():
    """3000 clustered 32-D descriptors and 200 perturbed queries with their exact top-10."""
    db, mix = synthetic_database(3000, 32, seed=3, n_clusters=30)
    q, _ = synthetic_queries(db, mix, 200, seed=3, noise=0.3)
    exact = np.argsort(-(q @ db.T), axis=1)[:, :10]
    return db, q, exact


def test_flat_known_neighbours_scores_and_order():
    index = DescriptorIndex("flat").fit(fan())
    scores, ids = index.search(fan(degrees=[12]), k=4)
    assert ids.dtype == np.int64 and ids.tolist() == [[1, 2, 0, 3]]
    np.testing.assert_allclose(scores[0], np.cos(np.radians([2, 8, 12, 18])), atol=1e-6)
    assert np.all(np.diff(scores[0]) <= 0)  # similarities, best first
    assert len(index) == 6 and index.dim == 8


def test_cosine_normalises_and_l2_gives_squared_distances():
    db = fan() * np.arange(1, 7, dtype=np.float32)[:, None]  # scaled copies: cosine must not care
    q = 3.0 * fan(degrees=[12])
    _, ids = DescriptorIndex("flat", "cosine").fit(db).search(q, 4)
    assert ids.tolist() == [[1, 2, 0, 3]]
    # on unit vectors l2 ranks like cosine, with ||a - b||^2 = 2 - 2 cos
    cs, cid = DescriptorIndex("flat", "cosine").fit(fan()).search(fan(degrees=[12]), 6)
    ls, lid = DescriptorIndex("flat", "l2").fit(fan()).search(fan(degrees=[12]), 6)
    np.testing.assert_array_equal(cid, lid)
    np.testing.assert_allclose(ls, 2 - 2 * cs, atol=1e-5)
    assert np.all(np.diff(ls[0]) >= 0)  # distances, best first
    # l2 on raw vectors: squared distances by hand
    s, i = DescriptorIndex("flat", "l2").fit(np.array([[0, 0], [3, 4], [1, 0]], np.float32)).search([[0, 0]], 3)
    assert i.tolist() == [[0, 2, 1]] and s.tolist() == [[0.0, 1.0, 25.0]]


def test_caller_arrays_untouched_and_k_beyond_size():
    db = 2.0 * fan()
    before = db.copy()
    index = DescriptorIndex("flat").fit(db)
    np.testing.assert_array_equal(db, before)
    scores, ids = index.search(fan(degrees=[0]), k=8)
    assert ids[0, 6:].tolist() == [-1, -1] and np.all(np.isneginf(scores[0, 6:]))
    s2, i2 = DescriptorIndex("flat", "l2").fit(db).search(fan(degrees=[0]), k=8)
    assert i2[0, 6:].tolist() == [-1, -1] and np.all(np.isposinf(s2[0, 6:]))


def test_add_continues_ids():
    index = DescriptorIndex("flat").fit(fan()[:3])
    index.add(fan()[3:])
    assert len(index) == 6
    assert index.search(fan(degrees=[49]), 1)[1].tolist() == [[5]]


@pytest.mark.parametrize(
    "conf, bound",
    [
        ({"kind": "ivfflat", "nprobe": 8}, 0.95),
        ({"kind": "ivfsq8", "nprobe": 8}, 0.95),
        ({"kind": "ivfpq", "nprobe": 8, "m": 16, "nbits": 6}, 0.9),
        ({"kind": "ivfpq", "nprobe": 8, "m": 8, "nbits": 6, "refine": 8}, 0.95),
        ({"kind": "hnsw", "M": 16, "ef_search": 64}, 0.95),
    ],
)
def test_approximate_recall_on_clustered_set(clustered, conf, bound):
    db, q, exact = clustered
    index = DescriptorIndex(**conf, threads=1).fit(db)
    _, ids = index.search(q, 10)
    recall1 = np.mean(ids[:, 0] == exact[:, 0])
    assert recall1 >= bound, (conf, recall1)
    if conf["kind"] != "hnsw":
        assert index.params_["nlist"] == auto_nlist(len(db)) and index.params_["nprobe"] == 8


def test_ivf_seeded_and_nprobe_all_is_exact(clustered):
    db, q, exact = clustered
    a = DescriptorIndex("ivfflat", seed=7, threads=1).fit(db).search(q, 5)
    b = DescriptorIndex("ivfflat", seed=7, threads=1).fit(db).search(q, 5)
    np.testing.assert_array_equal(a[1], b[1])
    index = DescriptorIndex("ivfflat", nlist=16, threads=1).fit(db)
    index.set_search_params(nprobe=16)  # every cell: exact
    np.testing.assert_array_equal(index.search(q, 1)[1][:, 0], exact[:, 0])
    assert index.params_["nprobe"] == 16 and index.conf["nprobe"] == 16


def test_threads_restored():
    before = faiss.omp_get_max_threads()
    DescriptorIndex("ivfflat", nlist=4, threads=2).fit(np.random.default_rng(0).random((400, 8), dtype=np.float32))
    assert faiss.omp_get_max_threads() == before


def test_memory_bytes_of_flat():
    index = DescriptorIndex("flat").fit(np.random.default_rng(0).random((100, 16), dtype=np.float32))
    assert 4 * 100 * 16 <= index.memory_bytes() < 4 * 100 * 16 + 1024
    assert DescriptorIndex("flat").memory_bytes() == 0


@pytest.mark.parametrize(
    "conf",
    [
        {"kind": "flat"},
        {"kind": "ivfpq", "m": 8, "nbits": 6, "nlist": 16},
        {"kind": "ivfsq8", "metric": "l2"},
        {"kind": "hnsw", "M": 8},
    ],
)
def test_save_load_round_trip(tmp_path, clustered, conf):
    db, q, _ = clustered
    index = DescriptorIndex(**conf, threads=1).fit(db)
    path = index.save(tmp_path / "db.index")
    back = DescriptorIndex.load(path)
    assert (back.kind, back.metric, len(back), back.dim) == (index.kind, index.metric, len(index), index.dim)
    assert back.conf == index.conf and back.params_ == index.params_
    for a, b in zip(index.search(q, 5), back.search(q, 5)):
        np.testing.assert_array_equal(a, b)


def test_save_refuses_overwrite_and_is_atomic(tmp_path):
    path = tmp_path / "db.index"
    DescriptorIndex("flat").fit(fan()).save(path)
    with pytest.raises(OutputExistsError, match="overwrite=True"):
        DescriptorIndex("flat").fit(fan()[:2]).save(path)
    assert len(DescriptorIndex.load(path)) == 6
    DescriptorIndex("flat").fit(fan()[:2]).save(path, overwrite=True)
    assert len(DescriptorIndex.load(path)) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["db.index"]  # no temporary left behind
    with pytest.raises(RuntimeError, match="not fitted"):
        DescriptorIndex("flat").save(tmp_path / "x.index")


def _split(path):
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[len(_MAGIC) : len(_MAGIC) + 8])[0]
    start = len(_MAGIC) + 8
    return json.loads(raw[start : start + n]), raw[start + n :]


def _write(path, meta, payload):
    header = json.dumps(meta).encode()
    path.write_bytes(_MAGIC + struct.pack("<Q", len(header)) + header + payload)


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "db.index"
    DescriptorIndex("flat").fit(fan()).save(path)
    return path


@pytest.mark.parametrize(
    "change, field",
    [
        (lambda m: m.update(dim=9), "dim"),
        (lambda m: m.update(ntotal=7), "ntotal"),
        (lambda m: (m.update(kind="hnsw"), m["conf"].update(kind="hnsw")), "kind"),
        (lambda m: m.update(kind="hnsw"), "conf"),  # disagrees with the stored conf
        (lambda m: m.update(kind="annoy"), "kind"),
        (lambda m: (m.update(metric="l2"), m["conf"].update(metric="l2")), "metric"),
        (lambda m: m.update(format_version=99), "format_version"),
        (lambda m: m.pop("dim"), "dim"),
        (lambda m: m["conf"].update(colour="red"), "conf"),
        (lambda m: m["conf"].update(nbits=99), "conf"),
    ],
)
def test_wrong_metadata_is_a_data_error(saved, change, field):
    meta, payload = _split(saved)
    change(meta)
    _write(saved, meta, payload)
    with pytest.raises(DataError) as e:
        DescriptorIndex.load(saved)
    assert e.value.field == field and e.value.file == str(saved) and "\n" not in str(e.value)


def test_corrupted_and_truncated_files(saved, tmp_path):
    raw = saved.read_bytes()
    cases = {
        "truncated": (raw[:-10], "index"),
        "flipped": (raw[:-20] + bytes([raw[-20] ^ 0xFF]) + raw[-19:], "index"),
        "magic": (b"NOT-AN-INDEX" + raw[12:], "header"),
        "short": (raw[: len(_MAGIC) + 3], "header"),
        "json": (raw[: len(_MAGIC) + 8] + b"{not json" + raw[len(_MAGIC) + 17 :], "metadata"),
        "empty": (b"", "header"),
    }
    for name, (content, field) in cases.items():
        p = tmp_path / f"{name}.index"
        p.write_bytes(content)
        with pytest.raises(DataError) as e:
            DescriptorIndex.load(p)
        assert e.value.field == field and e.value.file == str(p), name
    # a valid checksum over bytes faiss cannot read
    meta, _ = _split(saved)
    junk = b"\x00" * 64
    import zlib

    meta.update(payload_bytes=len(junk), payload_crc32=zlib.crc32(junk))
    _write(saved, meta, junk)
    with pytest.raises(DataError, match="faiss cannot read") as e:
        DescriptorIndex.load(saved)
    assert e.value.field == "index"
    with pytest.raises(DataError, match="no such index file"):
        DescriptorIndex.load(tmp_path / "missing.index")


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"kind": "annoy"}, "kind"),
        ({"metric": "manhattan"}, "metric"),
        ({"nlist": 0}, "nlist"),
        ({"nprobe": "many"}, "nprobe"),
        ({"nbits": 17}, "nbits"),
        ({"kind": "flat", "refine": 4}, "refine"),
        ({"M": 1}, "'M'"),
        ({"seed": None}, "seed"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_conf_is_a_config_error(kwargs, word):
    with pytest.raises(ConfigError, match=word):
        DescriptorIndex(**kwargs)


def test_bad_data_is_a_data_error():
    index = DescriptorIndex("flat")
    with pytest.raises(DataError, match="database"):
        index.fit(np.zeros(8, dtype=np.float32))
    bad = fan()
    bad[2, 3] = np.nan
    with pytest.raises(DataError, match="row 2 has NaN"):
        index.fit(bad)
    with pytest.raises(DataError, match="all zeros"):
        index.fit(np.zeros((3, 8), dtype=np.float32))
    with pytest.raises(RuntimeError, match="not fitted"):
        index.search(fan(), 1)
    index.fit(fan())
    with pytest.raises(DataError, match="dimension 4"):
        index.search(np.ones((1, 4), dtype=np.float32), 1)
    with pytest.raises(DataError, match="vectors"):
        index.add(np.ones((1, 5), dtype=np.float32))
    with pytest.raises(ConfigError, match="k must be"):
        index.search(fan(), 0)
    with pytest.raises(DataError, match="training vectors"):
        DescriptorIndex("ivfpq", nlist=2, m=2).fit(np.random.default_rng(0).random((100, 8), dtype=np.float32))
    with pytest.raises(ConfigError, match="divide"):
        DescriptorIndex("ivfpq", nlist=2, m=3).fit(np.random.default_rng(0).random((300, 8), dtype=np.float32))


def test_kind_rule_and_auto_nlist():
    assert choose_kind(FLAT_MAX_SIZE) == "flat" and choose_kind(FLAT_MAX_SIZE + 1) == "ivfsq8"
    assert DescriptorIndex.for_size(1000).kind == "flat"
    big = DescriptorIndex.for_size(2_000_000, metric="l2")
    assert (big.kind, big.metric, big.conf["nprobe"]) == ("ivfsq8", "l2", 32)
    assert DescriptorIndex.for_size(2_000_000, kind="hnsw").kind == "hnsw"
    assert (auto_nlist(1_000_000), auto_nlist(10_000), auto_nlist(50), auto_nlist(0)) == (4000, 256, 1, 1)
    assert set(INDEX_KINDS) >= {"flat", "ivfpq", "hnsw", "ivfsq8"}
