"""kNN WiFi fingerprinting: known answers on tiny fingerprints, representations, NaN handling, cascade,
logistic floor model, save/load."""

import math

import numpy as np
import pytest

from omniloc import ConfigError, DataError, methods
from omniloc.data import Dataset, Recording, Stream
from omniloc.methods.knn import KNNLocalizer, _unit_rows, _vote, rss_to_features

NAN = np.nan


def fingerprints(name, rss, pos, ids, floor=None, building=None, t=None):
    """A recording whose WiFi scans are its poses (like an imported fingerprint dataset)."""
    rss = np.asarray(rss, dtype=np.float32)
    n = len(rss)
    t = np.arange(n, dtype=float) if t is None else np.asarray(t, dtype=float)
    pos = np.asarray(pos, dtype=float)
    if pos.shape[1] == 2:
        pos = np.c_[pos, np.zeros(n)]
    return Recording(
        name,
        t,
        position=pos,
        floor=np.zeros(n, dtype=np.int64) if floor is None else np.asarray(floor, dtype=np.int64),
        building=np.zeros(n, dtype=np.int64) if building is None else np.asarray(building, dtype=np.int64),
        streams={"wifi": Stream("wifi", t, rss, ids=list(ids))},
    )


def dataset(*recs):
    return Dataset("toy", {r.name: r for r in recs})


REF_RSS = [[-40, -80, NAN], [NAN, -45, -75], [-85, NAN, -50]]
REF_POS = [[0, 0], [10, 0], [0, 10]]
IDS = ["a", "b", "c"]


@pytest.fixture
def three():
    return dataset(fingerprints("ref", REF_RSS, REF_POS, IDS))


@pytest.mark.parametrize("rep", ["dbm", "positive", "exponential", "powed"])
@pytest.mark.parametrize("metric", ["euclidean", "manhattan", "sorensen"])
def test_query_equal_to_a_reference_returns_its_position(three, rep, metric):
    loc = KNNLocalizer({"representation": rep, "metric": metric, "k": 2, "weights": "distance"}).fit(three)
    est = loc.predict(fingerprints("q", REF_RSS, np.zeros((3, 2)), IDS))
    np.testing.assert_allclose(est.position, np.c_[REF_POS, np.zeros(3)], atol=1e-9)  # exact match wins
    assert est.floor.tolist() == [0, 0, 0] and est.building.tolist() == [0, 0, 0]
    np.testing.assert_array_equal(est.t, [0, 1, 2])
    assert set(est.recording) == {"q"}


def test_representations_on_known_values():
    rss = np.array([[-104, -50, 0, NAN, -120]])
    m = -104.0
    pos = np.array([1, 55, 105, 0, 1])  # readings below min are clipped to min
    np.testing.assert_allclose(rss_to_features(rss, "positive", m)[0], pos)
    expo = np.exp(pos / 24) / np.exp(-m / 24)
    expo[3] = 0
    np.testing.assert_allclose(rss_to_features(rss, "exponential", m)[0], expo, rtol=1e-6)
    powed = (pos / 104.0) ** math.e
    powed[3] = 0
    np.testing.assert_allclose(rss_to_features(rss, "powed", m)[0], powed, rtol=1e-6)
    np.testing.assert_allclose(rss_to_features(rss, "dbm", m, not_heard_dbm=-110)[0], [6, 60, 110, 0, 0])
    assert rss_to_features(rss, "positive", m).dtype == np.float32
    with pytest.raises(ConfigError):
        rss_to_features(rss, "raw", m)


def test_weighted_k_averaging_known_answer():
    # one AP; positive representation with the learned min -90: refs 31, 21, 1; query -64 -> 27
    refs = dataset(fingerprints("ref", [[-60], [-70], [-90]], [[0, 0], [10, 0], [20, 0]], ["a"]))
    q = fingerprints("q", [[-64]], [[0, 0]], ["a"])
    base = {"representation": "positive", "metric": "euclidean", "k": 2}
    # distances 4 and 6 to the two nearest references
    cases = {"uniform": 5.0, "distance": (10 / 6) / (1 / 4 + 1 / 6), 2: (10 / 36) / (1 / 16 + 1 / 36)}
    for weights, x in cases.items():
        loc = KNNLocalizer({**base, "weights": weights}).fit(refs)
        assert loc.min_rss_ == -90
        np.testing.assert_allclose(loc.predict(q).position[0], [x, 0, 0], atol=1e-12)
    loc = KNNLocalizer({**base, "k": 3, "metric": "manhattan", "weights": "uniform"}).fit(refs)
    np.testing.assert_allclose(loc.predict(q).position[0], [10, 0, 0])
    loc = KNNLocalizer({**base, "k": 50, "weights": "uniform"}).fit(refs)  # k larger than the references
    np.testing.assert_allclose(loc.predict(q).position[0], [10, 0, 0])


@pytest.mark.parametrize(
    "metric,sk", [("euclidean", "euclidean"), ("manhattan", "manhattan"), ("sorensen", "braycurtis")]
)
@pytest.mark.parametrize("rep", ["dbm", "positive", "exponential", "powed"])
def test_distances_match_scikit_learn(metric, sk, rep):
    from sklearn.metrics import pairwise_distances

    rng = np.random.default_rng(0)
    n, a = 60, 25
    rss = np.where(rng.random((n + 10, a)) < 0.3, rng.integers(-100, -30, (n + 10, a)), NAN).astype(np.float32)
    rss[:, 0] = -60  # every scan hears one AP
    ids = [f"ap{i}" for i in range(a)]
    loc = KNNLocalizer({"representation": rep, "metric": metric}).fit(
        dataset(fingerprints("ref", rss[:n], rng.uniform(0, 50, (n, 2)), ids))
    )
    X = loc._features(rss[:n])
    Q = loc._features(rss[n:])
    D = loc._distances(Q)
    np.testing.assert_allclose(
        D, pairwise_distances(Q.astype(np.float64), X.astype(np.float64), metric=sk), rtol=1e-9, atol=1e-9
    )


def test_nan_means_not_heard_and_unknown_aps_are_ignored(three):
    loc = KNNLocalizer({"k": 1}).fit(three)
    # reference 1 does not hear "a"; a query that does not hear "a" either, in another column order, with
    # an AP unknown to training, matches it exactly
    q = fingerprints("q", [[-75, -45, NAN, -30]], [[0, 0]], ["c", "b", "a", "zz"])
    np.testing.assert_allclose(loc.predict(q).position[0], [10, 0, 0])
    assert loc.ap_ids_.tolist() == ["a", "b", "c"]
    X = loc._features(np.array([[NAN, -45, -75]], dtype=np.float32))
    assert np.all(np.isfinite(X)) and X[0, 0] == 0


def test_min_detected_skips_and_flags_scans():
    refs = dataset(fingerprints("ref", REF_RSS + [[NAN, NAN, NAN]], REF_POS + [[50, 50]], IDS))
    loc = KNNLocalizer({"k": 1, "min_detected": 1}).fit(refs)
    assert len(loc.positions_) == 3  # the scan that hears nothing is not a reference
    est = loc.predict(fingerprints("q", [[NAN, NAN, NAN], [-40, -80, NAN], [NAN, NAN, -50]], np.zeros((3, 2)), IDS))
    assert np.isnan(est.position[0]).all() and est.floor[0] == -1 and est.building[0] == -1
    np.testing.assert_allclose(est.position[1], [0, 0, 0])
    loc2 = KNNLocalizer({"k": 1, "min_detected": 2}).fit(refs)
    assert np.isnan(loc2.predict(fingerprints("q", [[NAN, NAN, -50]], [[0, 0]], IDS)).position).all()
    with pytest.raises(DataError, match="min_detected"):
        KNNLocalizer({"min_detected": 4}).fit(refs)


def two_buildings():
    """Building b hears APs b*; floor f of building 1 hears AP f{f}; positions per (building, floor)."""
    ids = ["b0", "b1", "f0", "f1"]
    rss, pos, floor, bld = [], [], [], []
    for b, f, x, n in [(0, 0, 0, 6), (1, 0, 100, 3), (1, 1, 200, 2)]:
        for i in range(n):
            r = [NAN] * 4
            r[b] = -50 - i
            r[2 + f] = -60 - i
            rss.append(r)
            pos.append([x + i, 0])
            floor.append(f)
            bld.append(b)
    return dataset(fingerprints("ref", rss, pos, ids, floor, bld)), ids


def test_cascade_picks_building_then_floor_then_position():
    refs, ids = two_buildings()
    q = fingerprints("q", [[NAN, -50, NAN, -60]], [[0, 0]], ids)  # building 1, floor 1 pattern
    conf = {"metric": "euclidean", "k": 5, "k_vote": 1, "weights": "uniform", "floor_model": "knn"}
    est = KNNLocalizer({**conf, "cascade": True}).fit(refs).predict(q)
    assert est.building[0] == 1 and est.floor[0] == 1
    np.testing.assert_allclose(est.position[0], [200.5, 0, 0])  # mean of the two (1, 1) references only
    flat = KNNLocalizer({**conf, "cascade": False}).fit(refs).predict(q)
    # the 5 nearest are the two (1, 1) and the three (1, 0) references: they give position and floor
    assert flat.building[0] == 1 and flat.floor[0] == 0
    np.testing.assert_allclose(flat.position[0], [(200 + 201 + 100 + 101 + 102) / 5, 0, 0])
    # the logistic floor model reads floor 1 from AP f1, whatever the neighbours; the position stays flat
    logit = KNNLocalizer({**conf, "floor_model": "logistic"}).fit(refs).predict(q)
    assert logit.building[0] == 1 and logit.floor[0] == 1
    np.testing.assert_array_equal(logit.position, flat.position)
    # with a large vote the building-0 majority wins without the cascade, the cascade still finds building 1
    conf = {"metric": "euclidean", "k": 11, "weights": "uniform", "floor_model": "knn"}
    assert KNNLocalizer({**conf, "cascade": False}).fit(refs).predict(q).building[0] == 0
    est = KNNLocalizer({**conf, "cascade": True, "k_vote": 3}).fit(refs).predict(q)
    assert est.building[0] == 1 and est.floor[0] == 1


def atrium():
    """Two floors around an atrium: APs s1..s3 are heard alike on both floors (their pattern gives the area,
    A at x = 0 or B at x = 20), AP f1 only on floor 1, f2 only on floor 2. Floor 1 is surveyed in both
    areas, floor 2 only in area B (4 scans per floor and area)."""
    ids = ["s1", "s2", "s3", "f1", "f2"]
    area = {0: [-50, -60, -80], 20: [-80, -60, -50]}
    rss, pos, floor = [], [], []
    for f, x in [(1, 0), (1, 20), (2, 20)]:
        for i in range(4):
            r = [v - i for v in area[x]] + [NAN, NAN]
            r[2 + f] = -60 - i
            rss.append(r)
            pos.append([x + i, 0])
            floor.append(f)
    return dataset(fingerprints("ref", rss, pos, ids, floor)), ids


def test_logistic_floor_model_reads_the_floor_aps():
    refs, ids = atrium()
    # floor 2 in area A, where floor 2 was never surveyed; then floor 1 in both areas, floor 2 in area B
    q = fingerprints(
        "q",
        [
            [-50, -60, -80, NAN, -60],
            [-52, -62, -82, NAN, -63],
            [-50, -60, -80, -60, NAN],
            [-80, -60, -50, -60, NAN],
            [-80, -60, -50, NAN, -60],
        ],
        np.zeros((5, 2)),
        ids,
    )
    truth = [2, 2, 1, 1, 2]
    for k in (1, 3, 11):
        base = {"k": k, "weights": "uniform"}
        vote = KNNLocalizer({**base, "floor_model": "knn"}).fit(refs).predict(q)
        assert vote.floor[:2].tolist() == [1, 1]  # the atrium APs make the floor-1 scans of area A the nearest
        est = KNNLocalizer({**base, "floor_model": "logistic"}).fit(refs).predict(q)
        assert est.floor.tolist() == truth  # the floor APs decide: the atrium APs are weak floor evidence
        np.testing.assert_array_equal(est.position, vote.position)  # the floor model does not move the position
    loc = KNNLocalizer({"k": 3, "weights": "uniform"}).fit(refs)
    np.testing.assert_allclose(loc.predict(q).position[0], [1, 0, 0])  # area A, from the floor-1 neighbours
    # the state is plain arrays: one row per floor (a binary model: floor 1 is the zero row)
    assert loc.floor_coef_.shape == (2, 5) and loc.floor_labels_.tolist() == [1, 2]
    assert loc.floor_buildings_.tolist() == [0, 0] and loc.floor_intercept_.shape == (2,)
    np.testing.assert_array_equal(loc.floor_coef_[0], 0)
    w = loc.floor_coef_[1]
    assert w[ids.index("f2")] > 0 > w[ids.index("f1")] and abs(w[ids.index("f2")]) > 2 * np.abs(w[:3]).max()
    # the cascade takes that floor and averages the position over its references only: area B, 20 m away
    casc = KNNLocalizer({"k": 5, "weights": "uniform", "cascade": True}).fit(refs).predict(q)
    assert casc.floor.tolist() == truth
    np.testing.assert_allclose(casc.position[0], [21.5, 0, 0])  # the four floor-2 references, x = 20..23


@pytest.mark.parametrize("n_floors", [2, 3])
def test_logistic_floor_model_equals_scikit_learn(n_floors):
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    n, a = 30 * n_floors, 12
    floor = np.repeat(np.arange(n_floors), 30)
    rss = np.where(rng.random((n, a)) < 0.5, rng.uniform(-95, -40, (n, a)), NAN)
    rss[np.arange(n), floor] = -45.0  # AP f is loud on floor f
    ids = [f"ap{i}" for i in range(a)]
    loc = KNNLocalizer({"floor_c": 3.0}).fit(dataset(fingerprints("ref", rss, rng.uniform(0, 9, (n, 2)), ids, floor)))
    X = _unit_rows(loc._features(rss))
    lr = LogisticRegression(C=3.0, class_weight="balanced", max_iter=5000, tol=1e-8).fit(X, floor)
    coef, icpt = lr.coef_, lr.intercept_
    if n_floors == 2:  # stored as a zero row for floor 0 and the log-odds row for floor 1
        coef, icpt = np.vstack([np.zeros(a), coef]), np.r_[0.0, icpt]
    np.testing.assert_allclose(loc.floor_coef_, coef, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(loc.floor_intercept_, icpt, rtol=1e-6, atol=1e-6)
    q = np.where(rng.random((40, a)) < 0.5, rng.uniform(-95, -40, (40, a)), NAN).astype(np.float32)
    Q = loc._features(q)
    np.testing.assert_array_equal(loc._floor_logistic(Q, np.zeros(40, dtype=np.int64)), lr.predict(_unit_rows(Q)))


def test_logistic_floor_model_one_and_two_floor_buildings():
    refs, ids = two_buildings()  # building 0 has one floor, building 1 two
    loc = KNNLocalizer({"metric": "euclidean", "k": 1}).fit(refs)
    assert loc.floor_labels_.tolist() == [0, 0, 1] and loc.floor_buildings_.tolist() == [0, 1, 1]
    np.testing.assert_array_equal(loc.floor_coef_[:2], 0)  # constant class; binary: class 0 is the zero row
    q = fingerprints("q", [[-50, NAN, -60, NAN], [NAN, -50, -60, NAN], [NAN, -50, NAN, -60]], np.zeros((3, 2)), ids)
    est = loc.predict(q)
    assert est.building.tolist() == [0, 1, 1] and est.floor.tolist() == [0, 0, 1]


def test_unit_rows_dense_and_sparse():
    from scipy import sparse

    X = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    np.testing.assert_allclose(_unit_rows(X), [[0.6, 0.8, 0], [0, 0, 0], [0, 1, 0]])
    np.testing.assert_allclose(_unit_rows(sparse.csr_matrix(X)).toarray(), _unit_rows(X))


def test_vote_ties_go_to_the_nearest_neighbour():
    labels = np.array([[2, 1, 1, 2], [1, 2, 2, 2], [3, 3, 5, 5]])
    w = np.ones((3, 4))
    assert _vote(labels, w).tolist() == [2, 2, 3]
    assert _vote(labels, np.array([[1, 1, 1, 0.5]] * 3)).tolist() == [1, 2, 3]


def test_ground_truth_interpolated_at_scan_times():
    t = np.arange(11.0)
    rec = Recording(
        "walk",
        t,
        position=np.c_[t, np.zeros(11), np.zeros(11)],
        floor=np.zeros(11, dtype=np.int64),
        streams={
            "wifi": Stream(
                "wifi",
                [2.5, 7.0, 20.0],
                np.array([[-50, NAN], [NAN, -60], [-70, -70]], dtype=np.float32),
                ids=["a", "b"],
            )
        },
    )
    loc = KNNLocalizer({"k": 1}).fit(dataset(rec))
    np.testing.assert_allclose(loc.positions_[:, 0], [2.5, 7.0])  # the scan after the last pose is dropped
    est = loc.predict_recording(rec)
    np.testing.assert_allclose(est.position[:2, 0], [2.5, 7.0])


def test_predict_at_uses_the_latest_recent_scan(three):
    loc = KNNLocalizer({"k": 1, "max_scan_age_s": 5.0}).fit(three)
    q = fingerprints("q", REF_RSS[:2], np.zeros((2, 2)), IDS, t=[0.0, 10.0])
    est = loc.predict_at(q, [-1.0, 0.5, 9.0, 12.0, 20.0])
    np.testing.assert_array_equal(est.t, [-1.0, 0.5, 9.0, 12.0, 20.0])
    ok = np.isfinite(est.position[:, 0])
    assert ok.tolist() == [False, True, False, True, False]
    np.testing.assert_allclose(est.position[ok, :2], [[0, 0], [10, 0]])
    assert est.floor.tolist() == [-1, 0, -1, 0, -1]


@pytest.mark.parametrize(
    "conf",
    [
        {},
        {"cascade": True, "metric": "euclidean", "representation": "powed"},
        {"metric": "manhattan", "representation": "dbm", "weights": 2, "floor_model": "knn"},
        {"floor_model": "knn", "cascade": True},
    ],
)
def test_save_load_round_trip(tmp_path, conf):
    refs, ids = two_buildings()
    rng = np.random.default_rng(1)
    rss = np.where(rng.random((20, 4)) < 0.6, rng.uniform(-90, -40, (20, 4)), NAN).astype(np.float32)
    q = fingerprints("q", rss, np.zeros((20, 2)), ids)
    loc = methods.create("knn", {**conf, "k": 3}).fit(refs)
    est = loc.predict(q)
    loc.save(tmp_path / "m")
    back = methods.load(tmp_path / "m")
    assert isinstance(back, KNNLocalizer) and back.conf == loc.conf
    again = back.predict(q)
    np.testing.assert_array_equal(again.position, est.position)
    np.testing.assert_array_equal(again.floor, est.floor)
    np.testing.assert_array_equal(again.building, est.building)
    np.testing.assert_array_equal(back.ap_ids_, loc.ap_ids_)
    np.testing.assert_array_equal(back.floor_coef_, loc.floor_coef_)
    np.testing.assert_array_equal(back.floor_labels_, loc.floor_labels_)


def test_models_saved_without_a_floor_model_keep_the_vote(tmp_path):
    import json

    refs, ids = atrium()
    loc = KNNLocalizer({"k": 3, "floor_model": "knn"}).fit(refs)
    loc.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "method.json").read_text())  # as written before floor_model existed
    for key in ("floor_model", "floor_c"):
        meta["conf"].pop(key)
    meta.pop("arrays", None)  # not written then either
    (tmp_path / "m" / "method.json").write_text(json.dumps(meta))
    with np.load(tmp_path / "m" / "state.npz") as z:
        state = {k: z[k] for k in z.files if not k.startswith("floor_")}
    np.savez(tmp_path / "m" / "state.npz", **state)
    back = methods.load(tmp_path / "m")
    assert back.conf["floor_model"] == "knn" and back.floor_coef_.shape == (0, len(back.ap_ids_))
    q = fingerprints("q", [[-50, -60, -80, NAN, -60]], [[0, 0]], ids)
    assert back.predict(q).floor.tolist() == loc.predict(q).floor.tolist() == [1]
    conf = dict(back.conf)
    back.save(tmp_path / "again")  # save and load leave the conf alone
    assert back.conf == conf and methods.load(tmp_path / "again").conf == conf
    # a logistic model whose floor arrays are missing is damaged, not silently a vote
    meta["conf"]["floor_model"] = "logistic"
    (tmp_path / "m" / "method.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match="floor_coef_"):
        methods.load(tmp_path / "m")


def test_conf_is_checked_and_presets_are_valid():
    for bad in [
        {"representation": "raw"},
        {"metric": "cosine"},
        {"k": 0},
        {"k": 2.5},
        {"weights": "gauss"},
        {"min_detected": -1},
        {"min_rss": 3},
        {"k_vote": 0},
        {"floor_model": "forest"},
        {"floor_c": 0},
        {"floor_c": True},
    ]:
        with pytest.raises(ConfigError):
            KNNLocalizer(bad)
    for preset in KNNLocalizer.presets:
        KNNLocalizer(preset=preset)
    assert KNNLocalizer(preset="uji").conf == KNNLocalizer.default_conf
    with pytest.raises(RuntimeError, match="not fitted"):
        KNNLocalizer().predict(fingerprints("q", REF_RSS, REF_POS, IDS))


def test_needs_a_wifi_stream(three):
    loc = KNNLocalizer().fit(three)
    rec = Recording("x", [0.0], position=[[0, 0, 0]])
    with pytest.raises(DataError, match="wifi"):
        loc.predict(rec)


def test_on_a_real_slice(data_root, tmp_path):
    import gzip

    from omniloc.data.loaders.ujiindoorloc import load_ujiindoorloc

    src = data_root / "ujiindoorloc" / "trainingData.csv.gz"
    if not src.exists():
        pytest.skip(f"{src} not found")
    with gzip.open(src, "rt") as f:
        text = "".join(next(f) for _ in range(301))
    (tmp_path / "s.csv").write_text(text)
    ds = load_ujiindoorloc(tmp_path / "s.csv")
    loc = KNNLocalizer().fit(ds)
    est = loc.predict(ds)
    ok = np.isfinite(est.position[:, 0])
    assert ok.sum() == 298  # the two u11-p13 scans hear nothing
    gt = np.concatenate([r.position for r in ds])
    assert np.median(np.linalg.norm(est.position[ok, :2] - gt[ok, :2], axis=1)) < 1.0  # every scan is a reference
    assert np.mean(est.building[ok] == ds.concat("building")[ok]) == 1.0


def test_every_conf_key_is_documented_and_weights_take_a_name_or_a_power():
    doc = KNNLocalizer.__doc__
    assert [k for k in KNNLocalizer.default_conf if f"\n        {k} :" not in doc] == []
    assert KNNLocalizer({"weights": 2}).conf["weights"] == 2 and KNNLocalizer({"weights": 0.5}).conf["weights"] == 0.5
    with pytest.raises(ConfigError, match="weights"):
        KNNLocalizer({"weights": [1.0]})
    assert KNNLocalizer(preset=["paper", "fast"]).conf["metric"] == "euclidean"  # presets applied in order
