"""Property-based tests of the data model and the alignment utilities, against brute-force references.

Random timelines with repeated times and gaps, NaN-heavy scans, empty streams and recordings:
``truth_at``, ``latest_index``, ``nearest_index``, ``resample_windows``, ``wifi_windows`` and
``scan_matrix`` agree with a per-query loop written from their documentation, and a
:class:`Dataset` keeps every field through ``save_dataset`` / ``load_dataset``. Hypothesis runs
derandomized (the same examples every run) and without deadlines, so CI is deterministic.
"""

import string
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omniloc.data import (
    Dataset,
    FloorPlan,
    Recording,
    Stream,
    latest_index,
    load_dataset,
    nearest_index,
    resample_windows,
    save_dataset,
    truth_at,
)
from omniloc.data.fingerprint import scan_matrix
from omniloc.data.windows import wifi_windows

FAST = settings(max_examples=150, deadline=None, derandomize=True)
SLOW = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# ---------------------------------------------------------------------------------------------- strategies
#: steps between samples: a repeated time (0), regular steps, irregular ones and a long gap
STEPS = st.one_of(st.just(0.0), st.sampled_from([0.1, 0.5, 1.0]), st.floats(0.01, 3.0), st.just(25.0))


@st.composite
def timelines(draw, min_size=0, max_size=25, start=None):
    """Non-decreasing (N,) seconds with repeats and gaps."""
    n = draw(st.integers(min_size, max_size))
    t0 = draw(st.floats(-50.0, 50.0)) if start is None else start
    steps = draw(st.lists(STEPS, min_size=n, max_size=n))
    return t0 + np.cumsum(np.asarray(steps, dtype=np.float64)) if n else np.zeros(0)


@st.composite
def queries(draw, t):
    """Query times: pose times (also repeated), times between and outside them, in any order."""
    lo, hi = (float(t.min()) - 5, float(t.max()) + 5) if len(t) else (-10.0, 10.0)
    free = st.floats(lo, hi)
    pick = st.sampled_from(t.tolist()) if len(t) else free
    q = draw(st.lists(st.one_of(pick, free), max_size=30))
    return np.asarray(q, dtype=np.float64)


def unit_quaternions(n, rng):
    q = rng.normal(size=(n, 4))
    return q / np.linalg.norm(q, axis=1, keepdims=True)


# ---------------------------------------------------------------------------------------------- truth_at
def brute_truth(t, position, orientation, floor, zone, q):
    """The documented rule of truth_at, one query at a time (poses in stable time order)."""
    order = sorted(range(len(t)), key=lambda i: (t[i], i))
    seen = Counter()
    rows = []
    for x in q.tolist():
        same = [i for i in order if t[i] == x]
        if same:  # the j-th query at a pose time takes the j-th pose at that time (the last one after)
            i = same[min(seen[x], len(same) - 1)]
            seen[x] += 1
            rows.append((position[i], orientation[i], floor[i], zone[i], 0.0, i, i))
        elif not order or x < t[order[0]] or x > t[order[-1]]:
            end = order[0] if order and x < t[order[0]] else (order[-1] if order else None)
            rows.append(
                (
                    np.full(3, np.nan),
                    None if end is None else orientation[end],
                    None if end is None else floor[end],
                    None if end is None else zone[end],
                    None,
                    end,
                    end,
                )
            )
        else:
            i0 = [i for i in order if t[i] < x][-1]
            i1 = [i for i in order if t[i] > x][0]
            u = (x - t[i0]) / (t[i1] - t[i0])
            near = i0 if u < 0.5 else i1
            rows.append((position[i0] * (1 - u) + position[i1] * u, None, floor[near], zone[near], u, i0, i1))
    return rows


def slerp_reference(q0, q1, u):
    q0, q1 = q0 / np.linalg.norm(q0), q1 / np.linalg.norm(q1)
    if q0 @ q1 < 0:
        q1 = -q1
    theta = np.arccos(np.clip(q0 @ q1, -1.0, 1.0))
    if theta < 1e-9:
        return q0
    return (np.sin((1 - u) * theta) * q0 + np.sin(u * theta) * q1) / np.sin(theta)


@FAST
@given(st.data())
def test_truth_at_agrees_with_a_per_query_reference(data):
    t = data.draw(timelines())
    if len(t) and data.draw(st.booleans()):  # truth_at also takes an unsorted pose timeline
        t = t[np.asarray(data.draw(st.permutations(range(len(t)))), dtype=int)]
    n = len(t)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    position = rng.uniform(-100, 100, (n, 3))
    orientation = unit_quaternions(n, rng)
    floor = rng.integers(-2, 5, n)
    zone = np.array([f"z{k}" for k in rng.integers(0, 4, n)])
    rec = Recording("r", t, position=position, orientation=orientation, floor=floor, zone=zone)
    q = data.draw(queries(np.sort(t)))
    got = truth_at(rec, q)
    assert got["inside"].shape == (len(q),)
    if n == 0:
        assert not got["inside"].any() and np.isnan(got["position"]).all() and "floor" not in got
        return
    assert got["position"].shape == (len(q), 3) and got["orientation"].shape == (len(q), 4)
    for m, (pos, ori, fl, zn, u, i0, i1) in enumerate(brute_truth(t, position, orientation, floor, zone, q)):
        inside = t.min() <= q[m] <= t.max()
        assert got["inside"][m] == inside
        np.testing.assert_allclose(got["position"][m], pos, rtol=1e-9, atol=1e-9)
        assert got["floor"][m] == fl and got["zone"][m] == zn
        want = ori if ori is not None else slerp_reference(orientation[i0], orientation[i1], u)
        assert abs(float(got["orientation"][m] @ want)) > 1 - 1e-9  # the same rotation (q and -q)


def test_truth_at_reference_known_answer():
    """The reference itself, on the case the rule was written for: repeated times matched in order."""
    t = np.array([0.0, 1.0, 1.0, 2.0])
    pos = np.array([[0, 0, 0], [1, 0, 0], [5, 0, 0], [2, 0, 0]], dtype=float)
    rows = brute_truth(
        t,
        pos,
        unit_quaternions(4, np.random.default_rng(0)),
        [0, 1, 2, 3],
        list("abcd"),
        np.array([1.0, 1.0, 1.0, 0.25, 3.0, 0.5]),
    )
    assert [r[2] for r in rows] == [1, 2, 2, 0, 3, 1]  # 0.5: halfway, the later pose's floor
    np.testing.assert_allclose(rows[3][0], [0.25, 0, 0])
    assert np.isnan(rows[4][0]).all()


# ---------------------------------------------------------------------------------------------- latest / nearest
@FAST
@given(st.data())
def test_latest_and_nearest_index_agree_with_brute_force(data):
    t = data.draw(timelines())
    s = Stream("vector", t, np.zeros((len(t), 1)))
    q = data.draw(queries(t))
    max_age = data.draw(st.sampled_from([np.inf, 0.0, 0.5, 2.0]))
    latest = latest_index(s, q, max_age_s=max_age)
    nearest = nearest_index(s, q, max_dt_s=max_age)
    assert latest.shape == nearest.shape == (len(q),)
    for m, x in enumerate(q.tolist()):
        before = [i for i in range(len(t)) if t[i] <= x]
        want = before[-1] if before and x - t[before[-1]] <= max_age else -1
        assert latest[m] == want
        if not len(t):
            assert nearest[m] == -1
            continue
        best = float(np.min(np.abs(t - x)))
        if best > max_age:
            assert nearest[m] == -1
        else:
            assert nearest[m] >= 0 and abs(t[nearest[m]] - x) == best


# ---------------------------------------------------------------------------------------------- windows
def brute_windows(t, values, t_end, duration_s, rate_hz, max_gap_s):
    n = int(round(duration_s * rate_hz))
    out = np.zeros((len(t_end), n, values.shape[1]))
    ok = np.zeros(len(t_end), dtype=bool)
    if len(t) < 2:
        return out, ok
    for m, te in enumerate(t_end):
        grid = [te - duration_s + (k + 1) / rate_hz for k in range(n)]
        ok[m] = all(t[0] - 1e-9 <= g <= t[-1] + 1e-9 and np.min(np.abs(t - g)) <= max_gap_s for g in grid)
        if not ok[m]:
            continue
        for k, g in enumerate(grid):
            g = min(max(g, t[0]), t[-1])
            i = max(j for j in range(len(t)) if t[j] <= g)
            if i == len(t) - 1 or t[i] == g:
                out[m, k] = values[i]
            else:
                w = (g - t[i]) / (t[i + 1] - t[i])
                out[m, k] = values[i] * (1 - w) + values[i + 1] * w
    return out, ok


@FAST
@given(st.data())
def test_resample_windows_agrees_with_brute_force(data):
    strict = data.draw(st.booleans())
    t = data.draw(timelines(max_size=30))
    if strict:  # random values need distinct times for one interpolation; repeats are tested with a line
        t = np.unique(t)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    if strict:
        values = rng.uniform(-10, 10, (len(t), 2))
    else:  # a linear signal: the same value for repeated times, exact interpolation
        values = np.c_[0.5 * t + 1.0, -2.0 * t]
    s = Stream("vector", t, values)
    duration_s, rate_hz = data.draw(st.sampled_from([(1.0, 10.0), (0.5, 4.0), (2.0, 2.0)]))
    max_gap = data.draw(st.sampled_from([None, 0.3, 1.0, 30.0]))
    t_end = data.draw(queries(t))
    got, ok = resample_windows(s, t_end, duration_s, rate_hz, max_gap_s=max_gap)
    if max_gap is None and len(t) >= 2:
        max_gap = max(2.0 / rate_hz, 3.0 * float(np.median(np.diff(t))))
    want, want_ok = brute_windows(t, values, t_end, duration_s, rate_hz, max_gap)
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_array_equal(ok, want_ok)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
    assert np.all(got[~ok] == 0)


ID_POOL = ("aa:01", "aa:02", "bb:03", "cc:04", "dd:05", "ee:06")


@st.composite
def wifi_streams(draw, max_scans=15):
    """A wifi stream with NaN-heavy scans (often all NaN), possibly empty."""
    t = draw(timelines(max_size=max_scans))
    ids = draw(st.lists(st.sampled_from(ID_POOL), unique=True, max_size=len(ID_POOL)))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    heard = rng.random((len(t), len(ids))) < draw(st.sampled_from([0.0, 0.1, 0.3, 0.8]))
    values = np.where(heard, rng.integers(-100, -30, (len(t), len(ids))), np.nan).astype(np.float32)
    return Stream("wifi", t, values, ids=np.array(ids, dtype=str))


@FAST
@given(st.data())
def test_wifi_windows_agree_with_brute_force(data):
    s = data.draw(wifi_streams())
    s.validate()
    vocab = data.draw(st.lists(st.sampled_from(ID_POOL), unique=True, max_size=len(ID_POOL)))
    t_end = data.draw(queries(s.t))
    max_age = data.draw(st.sampled_from([0.5, 4.0, np.inf]))
    min_detected = data.draw(st.integers(0, 3))
    scans, idx = wifi_windows(s, t_end, vocab, max_age_s=max_age, min_detected=min_detected)
    assert scans.shape == (len(s), len(vocab)) and scans.dtype == np.float32 and idx.shape == (len(t_end),)
    ids = s.ids.tolist()
    for j, a in enumerate(vocab):
        want = s.values[:, ids.index(a)] if a in ids else np.full(len(s), np.nan, dtype=np.float32)
        np.testing.assert_array_equal(scans[:, j], want)
    for m, x in enumerate(t_end.tolist()):
        before = [i for i in range(len(s)) if s.t[i] <= x and x - s.t[i] <= max_age]
        last = [i for i in range(len(s)) if s.t[i] <= x]
        i = last[-1] if last and last[-1] in before else -1
        if i >= 0 and np.isfinite(scans[i]).sum() < max(min_detected, 1):
            i = -1
        assert idx[m] == i


@FAST
@given(st.data())
def test_scan_matrix_agrees_with_brute_force(data):
    n = data.draw(st.integers(0, 30))
    t = np.asarray(data.draw(st.lists(st.sampled_from([0.0, 1.5, 2.0, 7.25]), min_size=n, max_size=n)))
    ids = np.asarray(data.draw(st.lists(st.sampled_from(ID_POOL[:4]), min_size=n, max_size=n)), dtype=str)
    rss = np.asarray(data.draw(st.lists(st.integers(-95, -30), min_size=n, max_size=n)), dtype=np.float64)
    rank = np.asarray(data.draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)), dtype=np.float64)
    times, values, uid, merged = scan_matrix(t, ids, rss, rank)
    assert times.tolist() == sorted(set(t.tolist())) and uid.tolist() == sorted(set(ids.tolist()))
    best: dict = {}
    for k in range(n):
        key = (t[k], ids[k])
        if key not in best or (rank[k], rss[k]) > best[key]:
            best[key] = (rank[k], rss[k])
    want = np.full((len(times), len(uid)), np.nan, dtype=np.float32)
    for (tk, a), (_, r) in best.items():
        want[times.tolist().index(tk), uid.tolist().index(a)] = r
    np.testing.assert_array_equal(values, want)
    assert merged == n - len(best)


# ---------------------------------------------------------------------------------------------- save / load
LABEL = st.text(alphabet=string.ascii_letters + string.digits + "-_ é", max_size=6)
JSON_VALUE = st.one_of(
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    LABEL,
    st.lists(st.integers(0, 9), max_size=3),
    st.none(),
)
META = st.dictionaries(st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=5), JSON_VALUE, max_size=3)


@st.composite
def recordings(draw, name):
    t = draw(timelines(max_size=12, start=0.0))
    n = len(t)
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    streams = {"wifi": draw(wifi_streams(max_scans=8))}
    if draw(st.booleans()):
        m = draw(st.integers(0, 10))  # 0: an empty stream
        streams["imu"] = Stream(
            "imu", np.sort(rng.uniform(0, 5, m)), rng.normal(size=(m, 6)).astype(np.float32), meta=draw(META)
        )
    if draw(st.booleans()):
        m = draw(st.integers(0, 4))
        streams["cam"] = Stream("rgb", np.arange(m, dtype=float), rng.integers(0, 256, (m, 3, 2, 3), dtype=np.uint8))
    if draw(st.booleans()):
        k = draw(st.integers(0, 6))
        streams["ble"] = Stream(
            "vector",
            np.arange(k) * 0.5,
            np.where(rng.random((k, 2)) < 0.5, np.nan, rng.normal(size=(k, 2))),
            ids=["u", "v"],
        )
    opt = draw(
        st.fixed_dictionaries({k: st.booleans() for k in ("position", "orientation", "floor", "building", "zone")})
    )
    return Recording(
        name,
        t,
        position=rng.uniform(-1e6, 1e6, (n, 3)) if opt["position"] else None,
        orientation=unit_quaternions(n, rng) if opt["orientation"] else None,
        floor=rng.integers(-3, 9, n) if opt["floor"] else None,
        building=rng.integers(0, 3, n) if opt["building"] else None,
        zone=np.array(draw(st.lists(LABEL, min_size=n, max_size=n)), dtype=str) if opt["zone"] else None,
        streams=streams,
        meta=draw(META),
    )


@st.composite
def datasets(draw):
    names = draw(st.lists(st.sampled_from(["a", "b-1", "c_2", "d.3"]), unique=True, min_size=1, max_size=3))
    recs = {n: draw(recordings(n)) for n in names}
    split = draw(st.lists(st.sampled_from(names), unique=True))
    plan = FloorPlan("F0", [[[0, 0], [4, 0]]], zones={"room": [[0, 0], [4, 0], [4, 3]]}, floor=draw(st.integers(-2, 3)))
    prov = {"source": draw(LABEL), "import_warnings": {"x.txt": {"odd value -> NaN": draw(st.integers(1, 9))}}}
    return Dataset("prop", recs, {"F0": plan}, {"train": split} if split else {}, prov)


def assert_same_recording(a: Recording, b: Recording):
    assert a.name == b.name and a.meta == b.meta
    np.testing.assert_array_equal(a.t, b.t)
    for key in ("position", "orientation", "floor", "building"):
        va, vb = getattr(a, key), getattr(b, key)
        assert (va is None) == (vb is None), key
        if va is not None:
            np.testing.assert_array_equal(va, vb)
            assert va.dtype.kind == vb.dtype.kind, key
    assert (a.zone is None) == (b.zone is None) and (a.zone is None or a.zone.tolist() == b.zone.tolist())
    assert set(a.streams) == set(b.streams)
    for name, s in a.streams.items():
        g = b.streams[name]
        assert g.kind == s.kind and g.meta == s.meta and g.dtype == s.dtype
        np.testing.assert_array_equal(g.t, s.t)
        np.testing.assert_array_equal(np.asarray(g.values[:]), s.values)  # NaN where NaN
        assert (g.ids is None) == (s.ids is None) and (g.ids is None or g.ids.tolist() == s.ids.tolist())


@SLOW
@given(datasets())
def test_dataset_save_load_round_trip_keeps_every_field(ds):
    ds.validate()
    with tempfile.TemporaryDirectory() as tmp:
        back = load_dataset(save_dataset(ds, Path(tmp) / "ds"))
        assert back.name == ds.name and back.splits == ds.splits and back.provenance == ds.provenance
        assert list(back.recordings) == list(ds.recordings)
        for rec in ds:
            assert_same_recording(rec, back[rec.name])
        plan, got = ds.floor_plans["F0"], back.floor_plans["F0"]
        np.testing.assert_array_equal(got.walls, plan.walls)
        np.testing.assert_array_equal(got.zones["room"], plan.zones["room"])
        assert got.floor == plan.floor and got.bounds.tolist() == plan.bounds.tolist()
        assert back.summary() == ds.summary()
