"""The bench suites run end to end with --quick and write results.json as DESIGN.md specifies."""

import json

import pytest

from omniloc.bench import run_suite


def _check_results(out, suite):
    res = json.loads((out / "results.json").read_text())
    assert res["suite"] == suite and res["quick"] is True and res["omniloc_version"]
    # what the figures depend on is recorded: machine, fixed thread count, seeds
    assert res["threads"] >= 1 and res["machine"]["threads"] == res["threads"] and res["seeds"] == [0]
    assert {"cpu", "cpus", "python", "numpy", "torch"} <= set(res["machine"])
    assert res["runs"], "a suite must run at least one method"
    for run in res["runs"]:
        assert {"method", "dataset", "conf", "metrics", "timing"} <= set(run)
        assert run["metrics"]["n_test"] > 0
        assert "predict_ms_per_sample" in run["timing"]
    assert (out / "report.md").exists() and (out / "error_cdf.png").stat().st_size > 1000
    return res


def test_ujiindoorloc_quick(tmp_path, data_root):
    res = (
        _check_results(tmp_path, "ujiindoorloc")
        if run_suite("ujiindoorloc", tmp_path, quick=True, data_root=data_root)
        else None
    )
    knn = res["runs"][0]
    assert knn["method"] == "knn"
    # on two held-out user/phone recordings: buildings found, errors far below the 400 m campus extent
    assert knn["metrics"]["building_hit_rate"] > 0.95
    assert knn["metrics"]["pos_err_median_m"] < 20
    assert "sweep" not in res and "per_seed" not in knn


def _metrics(res):
    return [(r.get("label", r["method"]), r["metrics"]) for r in res["runs"]]


def test_a_quick_suite_reproduces_its_metrics(tmp_path):
    # sim-office --quick is the fastest suite with trained networks (MTLoc, OT-Isomap) besides kNN and PDR
    first = run_suite("sim-office", tmp_path / "a", quick=True)
    again = run_suite("sim-office", tmp_path / "b", quick=True)
    assert {"knn", "pdr", "mtloc", "otisomap"} <= {r["method"] for r in first["runs"]}
    assert _metrics(first) == _metrics(again)
    on_disk = [json.loads((tmp_path / d / "results.json").read_text()) for d in ("a", "b")]
    assert _metrics(on_disk[0]) == _metrics(on_disk[1]) == _metrics(first)
    assert on_disk[0]["threads"] == on_disk[1]["threads"]


def test_ujiindoorloc_sweep_and_seeds(tmp_path, data_root):
    from omniloc.bench.ujiindoorloc import QUICK_SWEEP, sweep_grid
    from omniloc.eval.stats import seed_summary

    res = run_suite("ujiindoorloc", tmp_path, quick=True, data_root=data_root, seeds=2, sweep=True)
    assert res["seeds"] == [0, 1]
    knn = res["runs"][0]
    per = knn["per_seed"]
    assert [p["seed"] for p in per] == [0, 1] and per[0]["metrics"] == knn["metrics"]
    assert per[0]["metrics"]["pos_err_mean_m"] != per[1]["metrics"]["pos_err_mean_m"]  # another split
    values = [p["metrics"]["pos_err_mean_m"] for p in per]
    assert knn["aggregate"]["pos_err_mean_m"] == seed_summary(values)
    assert (tmp_path / "seed1" / "error_cdf.png").exists() and res["other_seeds"][0]["seed"] == 1
    # the sweep: the grid's first settings, scored on the same split, in results.json and report.md
    rows = res["sweep"]
    assert [r["conf"] for r in rows] == sweep_grid()[:QUICK_SWEEP]
    assert rows[0]["label"] == "dbm, euclidean, k=1, uniform, flat, vote"
    assert all(r["metrics"]["n_test"] == knn["metrics"]["n_test"] for r in rows)
    assert rows[0]["mean_over_seeds"]["pos_err_mean_m"] == pytest.approx(
        (rows[0]["metrics"]["pos_err_mean_m"] + res["other_seeds"][0]["sweep"][0]["metrics"]["pos_err_mean_m"]) / 2
    )
    table = res["tables"]["sweep"]
    assert table["columns"][0] == "settings" and len(table["rows"]) == QUICK_SWEEP
    report = (tmp_path / "report.md").read_text()
    assert "| dbm, euclidean, k=1, uniform, flat, vote |" in report and "over 2 seeds" in report
    assert len(sweep_grid()) == 20 and sum(r["representation"] == "powed" for r in sweep_grid()) == 4


def test_sim_office_quick(tmp_path):
    run_suite("sim-office", tmp_path, quick=True)
    res = _check_results(tmp_path, "sim-office")
    methods = {r["method"] for r in res["runs"]}
    assert {"knn", "pdr", "otisomap", "mtloc", "track", "pf"} <= methods
    assert set(res["simulator"]) >= {
        "wifi_samples_per_s",
        "imu_samples_per_s",
        "magnetometer_samples_per_s",
        "camera_frames_per_s",
    }


def test_existing_output_needs_overwrite(tmp_path):
    from omniloc._io import OutputExistsError

    (tmp_path / "x").write_text("keep me")
    with pytest.raises(OutputExistsError):
        run_suite("sim-office", tmp_path, quick=True)
    assert (tmp_path / "x").read_text() == "keep me"


def test_maze_quick(tmp_path):
    run_suite("maze", tmp_path, quick=True)
    res = _check_results(tmp_path, "maze")
    labels = {r.get("label", r["method"]) for r in res["runs"]}
    assert {
        "otisomap",
        "otisomap-no-ot",
        "otisomap-euclidean",
        "otisomap-raw-input",
        "otisomap-no-zone-penalty",
    } <= labels
    main = next(r for r in res["runs"] if r["method"] == "otisomap" and "label" not in r)
    assert main["metrics"]["pos_err_mean_m"] < res["random_guess"]["pos_err_mean_m"]
    assert [c["n_trajectories"] for c in res["error_vs_trajectories"]] == [6, 12]
    assert res["sinkhorn_step"][0]["step_ms"] > 0
    assert (tmp_path / "error_vs_trajectories.png").stat().st_size > 1000
    assert [row[0] for row in res["tables"]["error_vs_trajectories"]["rows"]] == [6, 12]
    assert "| trajectories | mean px | median px | fit s |" in (tmp_path / "report.md").read_text()


def test_indoor_competition_quick(tmp_path, data_root):
    # --test-site pointed at site1 itself exercises the fine-tuning path (only site1 is in the data folder)
    site = data_root / "indoor-location-competition-20" / "site1"
    run_suite("indoor-competition", tmp_path, quick=True, data_root=data_root, test_site=site, finetune_fraction=0.5)
    res = _check_results(tmp_path, "indoor-competition")
    assert res["test_site"]["finetune_fraction"] == 0.5 and res["test_site"]["train_paths"] >= 1
    assert {"mtloc fine-tuned (site1, 50% of its paths)", "mtloc from scratch (site1, 50% of its paths)"} <= {
        r.get("label") for r in res["runs"]
    }
    assert (tmp_path / "test_site_cdf.png").stat().st_size > 1000
    # the transferred IMU-LSTM is used: fine-tuned and from-scratch models differ; site1 as its own
    # test site is flagged
    rows = {r.get("label"): r["metrics"] for r in res["runs"]}
    assert rows["mtloc fine-tuned (site1, 50% of its paths)"] != rows["mtloc from scratch (site1, 50% of its paths)"]
    assert res["test_site"]["same_as_source"] is True
    assert "is the source site" in (tmp_path / "report.md").read_text()
    labels = {r.get("label", r["method"]) for r in res["runs"]}
    assert {
        "mtloc",
        "mtloc-wifi-only",
        "mtloc-imu-only",
        "mtloc-mag-only",
        "knn",
        "track (knn)",
        "track (mtloc)",
        "pf (knn)",
        "pf-online (knn)",
        "pf-fixes (knn)",
        "pf (knn, site1)",
    } <= labels
    assert all(r["method"] == "pf" for r in res["runs"] if r.get("label", "").startswith("pf"))
    assert 0 < res["pf_step_ms"] < 1000 and (tmp_path / "pf_particles.png").stat().st_size > 1000
    main = next(r for r in res["runs"] if r["method"] == "mtloc" and "label" not in r)
    assert main["timing"]["predict_ms_per_window_unbatched"] > 0
    # the split is by path: no path on both sides
    assert "by path" in res["data"]["split"]
    assert (tmp_path / "trajectory.png").stat().st_size > 1000
    # every run is split by the test positions' distance to the training paths
    cov = res["test_survey_distance"]
    assert cov["mean_m"] >= 0 and 0 <= cov["share_within_covered_m"] <= 1
    assert 0 <= main["metrics"]["covered_share"] <= 1 and "survey_dist_mean_m" in main["metrics"]
    assert (tmp_path / "survey_coverage.png").stat().st_size > 1000


def test_transfer_and_robustness_quick(tmp_path, data_root):
    run_suite("transfer", tmp_path / "t", quick=True, data_root=data_root)
    res = json.loads((tmp_path / "t" / "results.json").read_text())
    assert [row["fraction"] for row in res["table_v"]] == [0.5, 1.0]
    assert {"scratch", "fine_tuned", "test_survey_dist_mean_m"} <= set(res["table_v"][0])
    assert res["transferred_frozen"]["mean_m"] > 0 and (tmp_path / "t" / "fig4_cdf.png").exists()
    assert (tmp_path / "t" / "imu-lstm-site1.pt").exists()
    assert [row[0] for row in res["tables"]["table_v"]["rows"]] == ["50.0%", "100.0%"]
    assert res["table_v"][0]["scratch"]["p90_m"] >= res["table_v"][0]["scratch"]["median_m"]
    # fingerprinting and tracking next to MTLoc on the same held-out routes
    tracking = [row[0] for row in res["tables"]["tracking"]["rows"]]
    assert tracking == [
        "knn",
        "scratch 100.0%",
        "track (knn)",
        "track (mtloc)",
        "pf (knn)",
        "pf-online (knn)",
        "pf-fixes (knn)",
        "pf (mtloc)",
        "pf-online (mtloc)",
    ]
    by_label = {r.get("label", r["method"]): r for r in res["runs"]}
    assert by_label["pf (knn)"]["metrics"]["pos_err_mean_m"] > 0
    assert (tmp_path / "t" / "tracking_cdf.png").stat().st_size > 1000

    run_suite("robustness", tmp_path / "r", quick=True, data_root=data_root)
    res = json.loads((tmp_path / "r" / "results.json").read_text())
    fig5 = res["fig5_fine_tuned"]
    assert set(fig5) == {"imu", "magnetometer", "wifi"}
    assert [row["removed_fraction"] for row in fig5["wifi"]] == [0.0, 0.4, 1.0]
    assert set(res["fig6_removed_40"]) == {"scratch", "transferred", "fine-tuned"}
    assert (tmp_path / "r" / "robustness.png").stat().st_size > 1000
    assert [row[0] for row in res["tables"]["table_vi"]["rows"]] == ["imu", "magnetometer", "wifi"]
    assert res["tables"]["fig5"]["columns"] == ["removed", "0%", "40%", "100%"]


def test_mvloc_quick(tmp_path, data_root):
    run_suite("mvloc", tmp_path, quick=True, data_root=data_root, train_seeds=2)
    res = _check_results(tmp_path, "mvloc")
    runs = {(r["method"], r["dataset"]): r for r in res["runs"]}
    variants = ["mvloc-v", "mvloc-c", "mvloc-p", "mvloc"]
    for name in variants:
        run = runs[(name, "sim-office")]
        assert {"pos_err_median_m", "rot_err_median_deg", "pos_err_mean_m", "pos_err_p90_m"} <= set(run["metrics"])
        assert len(run["per_train_seed"]) == 2 and "pos_err_median_m" in run["train_seed_aggregate"]
        assert (name, "tum-rgbd") in runs
    for mode in ("blank", "absent"):
        assert {(n, f"sim-office-missing-depth-{mode}") for n in variants[1:]} <= set(runs)
    assert ("mean-pose", "sim-office") in runs and ("mean-pose", "tum-rgbd") in runs
    assert [row[0] for row in res["tables"]["ablation"]["rows"]] == variants + ["mean-pose"]
    assert set(res["differences_vs_mvloc"]) == set(variants[:-1])
    assert set(res["inference_ms_per_frame"]) == set(variants)
    for fig in ("rotation_cdf.png", "trajectory.png", "frames.png", "tum-rgbd_poses.png"):
        assert (tmp_path / fig).stat().st_size > 1000


def test_genmap_quick(tmp_path, data_root):
    run_suite("genmap", tmp_path, quick=True, data_root=data_root)
    res = json.loads((tmp_path / "results.json").read_text())
    labels = {(r.get("label", r["method"]), r["dataset"]) for r in res["runs"]}
    assert {("genmap-sq1", "sim-office"), ("genmap-sq0.001", "sim-office"), ("genmap-sq1e-06", "sim-office")} <= labels
    assert {("genmap-dev0.5", "sim-office-dev0.5"), ("genmap-dev1.0", "sim-office-dev1.0")} <= labels
    assert {("odometry", "sim-office-odometry"), ("genmap-odometry-sq0.0001", "sim-office-odometry")} <= labels
    assert {("genmap", "sim-office"), ("genmap-fd", "sim-office"), ("genmap-retrieval", "sim-office")} <= labels
    assert ("mvloc-v", "sim-office") in labels and ("genmap", "tum-rgbd") in labels
    render = next(r for r in res["runs"] if r.get("label") == "genmap-render")
    assert 0 < render["metrics"]["psnr_db"] < 100 and -1 <= render["metrics"]["ssim"] <= 1
    assert all(
        r["method"].startswith("genmap") for r in res["runs"] if r["method"] not in ("mvloc-v", "mean-pose", "odometry")
    )
    assert res["ekf_step_ms"] > 0 and (tmp_path / "render_strip.png").stat().st_size > 1000
    assert {"table2", "table3", "fig7", "tum"} <= set(res["tables"])


def test_vpr_quick(tmp_path, data_root):
    run_suite("vpr", tmp_path, quick=True, data_root=data_root)
    res = json.loads((tmp_path / "results.json").read_text())
    runs = {(r.get("label", r["method"]), r["dataset"]): r for r in res["runs"]}
    nordland = [r for (label, ds), r in runs.items() if ds == "nordland"]
    assert {r["method"] for r in nordland} >= {"vpr-raw", "vpr-raw-seq20", "vpr-learned", "vpr-learned-seq20"}
    assert any(r["method"].startswith("vpr-seqdesc") for r in nordland)
    for r in nordland:
        m = r["metrics"]
        assert 0 <= m["recall@1"] <= m["recall@5"] <= m["recall@10"] <= 1
    assert {("vpr", "sim-office"), ("vpr-single", "sim-office"), ("vpr-raw", "sim-office")} <= set(runs)
    assert ("knn", "sim-office") in runs and ("mvloc-v", "sim-office") in runs
    scale = [r for (label, ds), r in runs.items() if ds == "scale-1m"]
    assert {r["method"] for r in scale} == {"index-flat", "index-ivfsq8", "index-ivfpq"}
    flat = next(r for r in scale if r["method"] == "index-flat")
    assert flat["metrics"]["recall@1"] == 1.0
    assert all({"query_ms", "build_s", "memory_mb"} <= set(r["timing"]) for r in scale)
    for fig in ("nordland_recall.png", "nordland_retrievals.png", "office_cdf.png", "office_trajectory.png"):
        assert (tmp_path / fig).stat().st_size > 1000
    assert {"nordland", "sim_office", "scale"} <= set(res["tables"])
