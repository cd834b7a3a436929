"""The scale benchmark's pieces: seeded synthetic descriptors, exact top-1, and the per-kind measurements."""

import numpy as np

from omniloc.bench._vpr_scale import exact_top1, scale_runs, synthetic_database, synthetic_queries


def test_synthetic_descriptors_are_seeded_unit_vectors_and_queries_have_a_source():
    db, mix = synthetic_database(3000, 32, seed=4)
    again, _ = synthetic_database(3000, 32, seed=4)
    assert db.shape == (3000, 32) and db.dtype == np.float32
    np.testing.assert_array_equal(db, again)
    np.testing.assert_allclose(np.linalg.norm(db, axis=1), 1.0, atol=1e-5)
    q, source = synthetic_queries(db, mix, 50, seed=4)
    assert q.shape == (50, 32) and source.shape == (50,)
    top = exact_top1(db, q)
    np.testing.assert_array_equal(top, np.argmax(q @ db.T, axis=1))
    assert np.mean(top == source) > 0.2  # many queries are nearest to the vector they perturb (chance: 1 in 3000)


def test_scale_runs_report_speed_memory_and_recall_against_exact():
    runs = scale_runs(n=3000, d=32, n_queries=50, kinds=["flat", "ivfsq8"], threads=1, sweep=False)
    by = {r["label"]: r for r in runs}
    assert set(by) == {"flat", "ivfsq8"}
    assert by["flat"]["recall@1"] == 1.0
    assert 0.5 < by["ivfsq8"]["recall@1"] <= 1.0
    for r in runs:
        assert r["build_s"] >= 0 and r["query_ms"] > 0 and r["memory_mb"] > 0
        assert r["n"] == 3000 and r["d"] == 32
    # the 8-bit codes take about a quarter of the float32 vectors' memory
    assert by["ivfsq8"]["memory_mb"] < 0.5 * by["flat"]["memory_mb"]
