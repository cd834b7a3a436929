"""The ``transfer-wifi`` suite: the split by reference point (known answers on a toy survey and on the
real SODIndoorLoc files) and the quick suite end to end (its statistics: tests/eval/test_stats.py)."""

import json

import numpy as np
import pytest

from omniloc import DataError
from omniloc.bench import SUITES, run_suite
from omniloc.bench.transfer_wifi import FILE_SET, SOURCE, TARGET, load_building
from omniloc.data import Dataset, Recording, Stream
from omniloc.data.splits import nested_fraction, split_by_reference_point


def _survey() -> Dataset:
    """Two fingerprint recordings (one scan per second): 'u1' surveys points 0-5 with 3 scans each,
    'u2' points 6-9 with 2 scans each and point 0 again with 2 scans."""
    recs = {}
    for name, pts, k in (("u1", list(range(6)), 3), ("u2", list(range(6, 10)) + [0], 2)):
        p = np.repeat(np.array(pts, dtype=np.float64), k)
        t = np.arange(len(p), dtype=np.float64) + (100.0 if name == "u2" else 0.0)
        pos = np.c_[1.5 * p, 0.5 * p, np.zeros_like(p)]
        rss = np.c_[-40.0 - p, -80.0 + p].astype(np.float32)
        recs[name] = Recording(
            name,
            t,
            position=pos,
            floor=np.zeros(len(p), np.int64),
            streams={"wifi": Stream("wifi", t.copy(), rss, ids=np.array(["a", "b"]))},
        )
    return Dataset("survey", recs, splits={"train": ["u1", "u2"]})


def _points(ds: Dataset, split: str) -> set:
    return {tuple(np.round(r.position[0, :2], 6)) for r in ds.split(split)}


def test_reference_point_split_known_answer():
    ds = split_by_reference_point(_survey(), test=0.2, val=0.1, seed=3)
    # 10 points: 2 test, 1 validation, 7 training points; one recording per (recording, point)
    assert [len(_points(ds, s)) for s in ("test", "val", "train")] == [2, 1, 7]
    assert len(ds) == 11  # point 0 is in both recordings
    for s, t in (("test", "val"), ("test", "train"), ("val", "train")):
        assert not _points(ds, s) & _points(ds, t)  # a point is on one side only
    for rec in ds:
        assert (rec.position == rec.position[0]).all()  # one reference point per recording
        np.testing.assert_array_equal(rec.streams["wifi"].t, rec.t)
        src = _survey()[rec.meta["source_recording"]]
        rows = np.flatnonzero((src.position == rec.position[0]).all(axis=1))
        np.testing.assert_array_equal(rec.t, src.t[rows])  # original times, file order
        np.testing.assert_array_equal(rec.streams["wifi"].values, src.streams["wifi"].values[rows])
    both = [r for r in ds if r.meta["reference_point"] == 0]
    assert sorted(r.name for r in both) == ["u1-rp000", "u2-rp000"]
    assert len({s for r in both for s, names in ds.splits.items() if r.name in names}) == 1
    # training order: nested fractions; the same seed gives the same split, another seed another one
    names = ds.splits["train"]
    half = nested_fraction(ds, 0.5, split="train")
    assert list(half.recordings) == names[: len(half)]
    assert split_by_reference_point(_survey(), seed=3).splits == ds.splits
    assert split_by_reference_point(_survey(), seed=4).splits != ds.splits
    small = split_by_reference_point(_survey(), test=0.2, val=0.1, seed=3, max_points=5, max_scans=1)
    assert len(_points(small, "train") | _points(small, "val") | _points(small, "test")) == 5
    assert all(len(r) == 1 for r in small)
    with pytest.raises(DataError, match="too few"):
        split_by_reference_point(_survey(), test=0.6, val=0.5)


@pytest.fixture(scope="module")
def sod(data_root):
    path = data_root / "sodindoorloc"
    if not (path / TARGET / "Training_SYL_AP_30.csv.gz").exists():
        pytest.skip(f"{path} not found")
    return data_root


def test_buildings_are_split_by_reference_point_from_training_files_only(sod):
    tgt = load_building(sod, TARGET, quick=False, seed=0, test=0.2, val=0.1)
    files = [f["file"] for f in tgt.provenance["files"]]
    assert files == [f"{TARGET}/Training_SYL_AP_30.csv.gz"] and FILE_SET == "ap_30"
    # SOURCE.md: 296 reference points, 30 scans each, 8,880 scans
    assert [len(_points(tgt, s)) for s in ("test", "val", "train")] == [59, 30, 207]
    assert tgt.n_samples == 8880 and all(len(r) == 30 for r in tgt)
    assert not _points(tgt, "test") & (_points(tgt, "train") | _points(tgt, "val"))
    # the first eighth of the pool covers the three surveyors' parts of the building
    eighth = nested_fraction(tgt, 1 / 8, split="train")
    assert {r.meta["user"] for r in eighth} == {1, 2, 3}
    src = load_building(sod, SOURCE, quick=True, seed=0, test=0.0, val=0.1)
    assert set(src.splits) == {"train", "val"} and all(r.meta["building_name"] == SOURCE for r in src)


def test_transfer_wifi_quick(tmp_path, sod):
    assert "transfer-wifi" in SUITES
    run_suite("transfer-wifi", tmp_path, quick=True, data_root=sod)
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["suite"] == "transfer-wifi" and res["quick"] is True
    labels = [r.get("label", r["method"]) for r in res["runs"]]
    assert labels == [
        "knn 50.0%",
        "mtloc scratch 50.0%",
        "mtloc fine-tuned 50.0%",
        "knn 100.0%",
        "mtloc scratch 100.0%",
        "mtloc fine-tuned 100.0%",
        "mtloc transferred, frozen 100.0%",
    ]
    for run in res["runs"]:
        assert run["metrics"]["n_test"] > 0 and run["metrics"]["pos_err_mean_m"] > 0
        if run["method"] == "mtloc":
            assert run["conf"]["branches"] == ["wifi"] and run["conf"]["window_times"] == "wifi"
    frozen = res["runs"][-1]["conf"]
    assert frozen["wifi_trainable"] is False and frozen["wifi_transfer"].endswith("wifi-dnn-HCXY-seed0.pt")
    table = res["table"]
    assert [t["fraction"] for t in table] == [0.5, 1.0]
    for t in table:
        for k in ("knn", "scratch", "fine_tuned"):
            assert t[k]["mean_m"] > 0 and t[k]["std_m"] >= 0 and t[k]["n"] == 48
        assert len(t["scratch"]["seed_means_m"]) == 2
        d = t["scratch_minus_fine_tuned"]
        assert d["ci95_m"][0] <= d["diff_m"] <= d["ci95_m"][1]
    assert table[0]["points"] < table[1]["points"]
    assert res["transferred_frozen"]["mean_m"] > 0
    assert isinstance(res["finding"]["transfer_helps"], bool) and res["finding"]["summary"]
    assert res["data"]["files"].startswith("Training_* only")
    report = (tmp_path / "report.md").read_text()
    assert "| target data | points | scans | kNN |" in report and "**Finding:**" in report
    assert res["tables"]["table"]["rows"][0][0] == "50.0%"
    for png in ("error_cdf.png", "sweep.png"):
        assert (tmp_path / png).stat().st_size > 1000 and f"]({png})" in report
    assert (tmp_path / "wifi-dnn-HCXY-seed0.pt").exists()
