"""7-Scenes loader: the real 12-frame stairs fixture (counts, splits, units, pose conversion, depth
registration), the command line, and corrupted inputs on copies in tmp_path."""

import shutil

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from omniloc import ConfigError, DataError
from omniloc.cli import app
from omniloc.data import OPTICAL_FROM_DEVICE, device_from_optical, load_dataset, reproject_depth
from omniloc.data.loaders import LOADERS
from omniloc.data.loaders._images import read_depth_png
from omniloc.data.loaders.sevenscenes import DEPTH_K, RGB_K, import_7scenes, load_7scenes, read_pose_file
from omniloc.data.transforms import quat_from_matrix, quat_to_matrix

FAST = {"register_depth": False}  # tests of the split logic need no registration
NAMES = ["stairs-seq-01", "stairs-seq-02", "stairs-seq-03", "stairs-seq-04"]


@pytest.fixture(scope="module")
def scene(data_root):
    path = data_root / "7scenes-stairs-fixture" / "stairs"
    if not (path / "seq-01" / "frame-000000.pose.txt").exists():
        pytest.skip(f"{path} not found")
    return path


@pytest.fixture(scope="module")
def default(scene):
    return import_7scenes(scene).validate()


def raw_metres(path):
    raw = read_depth_png(path)
    return raw, np.where((raw == 0) | (raw == 65535), 0.0, raw / 1000.0).astype(np.float32)


def copy_scene(scene, dst, seqs=("seq-01",), split_files=False):
    out = dst / "stairs"
    out.mkdir(parents=True)
    for s in seqs:
        shutil.copytree(scene / s, out / s)
        for f in (out / s).iterdir():
            f.chmod(0o644)
    if split_files:
        for f in ("TrainSplit.txt", "TestSplit.txt"):
            shutil.copyfile(scene / f, out / f)
    return out


# ---------------------------------------------------------------------------------------- real data
def test_default_import_counts_splits_and_streams(default):
    assert LOADERS["7scenes"] is import_7scenes
    assert default.name == "7scenes-stairs" and list(default.recordings) == NAMES
    assert default.splits == {"train": ["stairs-seq-02", "stairs-seq-03"], "test": ["stairs-seq-01", "stairs-seq-04"]}
    assert default.provenance["split"]["by"].startswith("TrainSplit.txt")
    assert "non-commercial" in default.provenance["licence"]
    for rec in default:
        assert len(rec) == 3 and rec.meta["scene"] == "stairs"
        np.testing.assert_allclose(rec.t, [0.0, 1 / 30, 2 / 30])
        rgb, depth = rec.stream("rgb"), rec.stream("depth")
        assert rgb.shape == (3, 120, 160, 3) and rgb.dtype == np.uint8
        assert depth.shape == (3, 120, 160) and depth.dtype == np.float32
        np.testing.assert_array_equal(depth.t, rec.t)
        valid = depth.values[depth.values > 0]
        assert 0.5 < np.median(valid) < 4.0 and valid.max() < 10.0 and (depth.values > 0).mean() > 0.5
        assert depth.meta["registered"] is True and depth.meta["unit"] == "m"
        K = [[131.25, 0.0, 79.625], [0.0, 131.25, 59.625], [0.0, 0.0, 1.0]]  # colour K at 160x120
        assert rgb.meta["K"] == K and depth.meta["K"] == K and "device +x" in rgb.meta["frame"]
        np.testing.assert_allclose(np.linalg.norm(rec.orientation, axis=1), 1.0, atol=1e-12)


def test_pose_conversion(default, scene):
    for rec in default:
        for k in range(3):
            T = np.loadtxt(scene / rec.meta["sequence"] / f"frame-{k:06d}.pose.txt")
            assert np.array_equal(read_pose_file(scene / rec.meta["sequence"] / f"frame-{k:06d}.pose.txt"), T)
            np.testing.assert_allclose(rec.position[k], T[:3, 3], atol=1e-12)
            _, q = device_from_optical(T[:3, 3], quat_from_matrix(T[:3, :3]))
            np.testing.assert_allclose(rec.orientation[k], q, atol=1e-12)
            R_wd = quat_to_matrix(rec.orientation[k])
            # the device's forward axis is the pose's optical axis (third column); KinectFusion's matrices
            # are orthonormal only to ~1.5e-4, hence the tolerance
            np.testing.assert_allclose(R_wd[:, 0], T[:3, 2], atol=1e-3)
            np.testing.assert_allclose(R_wd, T[:3, :3] @ OPTICAL_FROM_DEVICE, atol=1e-3)


def test_registration_at_full_size(scene):
    reg = load_7scenes(scene, sequences=["seq-02"], size=None)["stairs-seq-02"].stream("depth")
    raw = load_7scenes(scene, sequences=["stairs-seq-02"], size=None, register_depth=False)["stairs-seq-02"]
    raw = raw.stream("depth")
    assert reg.shape == raw.shape == (3, 480, 640)
    assert raw.meta["registered"] is False and raw.meta["K"] == DEPTH_K.tolist() and reg.meta["K"] == RGB_K.tolist()
    codes, metres = raw_metres(scene / "seq-02" / "frame-000000.depth.png")
    assert (codes == 65535).any() and (codes == 0).any()  # both invalid codes occur and become 0
    np.testing.assert_array_equal(raw.values[0], metres)
    np.testing.assert_array_equal(reg.values[0], reproject_depth(metres, DEPTH_K, RGB_K))
    # both cameras are centred at (320, 240): that pixel keeps its depth; the narrower depth view leaves a border
    assert metres[240, 320] > 0 and reg.values[0][240, 320] == metres[240, 320]
    assert not reg.values[0][:, :30].any() and not reg.values[0][:, 610:].any()
    assert (metres[:, :30] > 0).any()


def test_raw_depth_downscaled(scene):
    rec = load_7scenes(scene, sequences=["seq-02"], register_depth=False)["stairs-seq-02"]
    depth = rec.stream("depth")
    assert depth.meta["registered"] is False and depth.shape == (3, 120, 160)
    np.testing.assert_allclose(depth.meta["K"], [[146.25, 0, 79.625], [0, 146.25, 59.625], [0, 0, 1]])
    _, metres = raw_metres(scene / "seq-02" / "frame-000001.depth.png")
    block = metres[40:44, 80:84]
    got = depth.values[1][10, 20]
    valid = block[block > 0]
    assert len(valid) >= 8 and got == pytest.approx(np.median(valid.astype(np.float64)), rel=1e-6)
    colour = np.asarray(Image.open(scene / "seq-02" / "frame-000001.color.jpg").convert("RGB"), dtype=np.float64)
    expect = np.floor(colour[40:44, 80:84].mean(axis=(0, 1)) + 0.5)
    np.testing.assert_array_equal(rec.stream("rgb").values[1][10, 20], expect)


def test_splits_without_split_files_and_folder_of_scenes(scene, tmp_path):
    copy = copy_scene(scene, tmp_path / "a", seqs=("seq-01", "seq-02"))
    ds = import_7scenes(copy, test_fraction=0.5, seed=0, **FAST)
    assert sorted(ds.splits) == ["test", "train"] and ds.provenance["split"]["test_fraction"] == 0.5
    with pytest.raises(DataError, match="only one sequence"):
        import_7scenes(copy_scene(scene, tmp_path / "b"), test_fraction=0.1, **FAST)
    ds = import_7scenes(tmp_path / "a", use_split_files=False, test_fraction=0.5, **FAST)  # a folder of scenes
    assert ds.name == "7scenes-stairs" and list(ds.recordings) == ["stairs-seq-01", "stairs-seq-02"]
    # split files: a sequence listed but missing is an error; one present but listed nowhere stays out
    copy = copy_scene(scene, tmp_path / "c", seqs=("seq-01", "seq-02", "seq-03"), split_files=True)
    (copy / "TestSplit.txt").write_text("sequence1\n")
    shutil.rmtree(copy / "seq-02")
    with pytest.raises(DataError, match="lists sequence2, but .* has no seq-02") as e:
        import_7scenes(copy, **FAST)
    assert e.value.file == str(copy / "TrainSplit.txt") and e.value.field == "sequence"
    (copy / "TrainSplit.txt").write_text("sequence3\n")
    shutil.copytree(scene / "seq-02", copy / "seq-02")
    ds = import_7scenes(copy, **FAST)
    assert ds.splits == {"train": ["stairs-seq-03"], "test": ["stairs-seq-01"]}
    assert ds.provenance["split"]["unsplit"] == ["stairs-seq-02"]
    (copy / "TrainSplit.txt").unlink()
    assert import_7scenes(copy, **FAST).splits == {
        "train": ["stairs-seq-02", "stairs-seq-03"],
        "test": ["stairs-seq-01"],
    }
    (copy / "TestSplit.txt").write_text("seq 1\n")
    with pytest.raises(DataError, match="line 1 holds 'seq 1'; expected 'sequenceN'") as e:
        import_7scenes(copy, **FAST)
    assert e.value.file == str(copy / "TestSplit.txt")
    with pytest.raises(ConfigError, match="unknown 7-Scenes sequences"):
        load_7scenes(scene, sequences=["seq-09"])
    with pytest.raises(ConfigError, match="size 100x100 does not divide"):
        load_7scenes(scene, sequences=["seq-01"], size=(100, 100))


def test_command_line_import(scene, tmp_path):
    out = tmp_path / "d"
    res = CliRunner().invoke(app, ["import", "7scenes", str(scene), "--out", str(out)])
    assert res.exit_code == 0, res.output
    ds = load_dataset(out)
    assert list(ds.recordings) == NAMES and ds.splits["test"] == ["stairs-seq-01", "stairs-seq-04"]
    assert ds["stairs-seq-03"].stream("depth").meta["registered"] is True


# ---------------------------------------------------------------------------------------- bad inputs
@pytest.fixture
def seq(scene, tmp_path):
    return copy_scene(scene, tmp_path) / "seq-01"


def test_missing_pose_or_depth_file(seq):
    (seq / "frame-000001.pose.txt").unlink()
    with pytest.raises(DataError, match="frame 1 has .* but no pose file") as e:
        load_7scenes(seq.parent)
    assert e.value.file == str(seq / "frame-000001.pose.txt") and e.value.field == "pose"
    (seq / "frame-000002.depth.png").unlink()
    with pytest.raises(DataError, match="frame 1 has .* but no pose file"):
        load_7scenes(seq.parent)
    shutil.copyfile(seq / "frame-000000.pose.txt", seq / "frame-000001.pose.txt")
    with pytest.raises(DataError, match="frame 2 has .* but no depth file") as e:
        load_7scenes(seq.parent)
    assert e.value.file == str(seq / "frame-000002.depth.png") and e.value.field == "depth"


def test_pose_that_is_not_a_rotation_or_not_a_matrix(seq):
    path = seq / "frame-000001.pose.txt"
    T = np.loadtxt(path)
    np.savetxt(path, np.r_[np.c_[2.0 * T[:3, :3], T[:3, 3]], T[3:]])
    with pytest.raises(DataError, match=r"is not a rotation: max \|R\^T R - I\| = 3") as e:
        load_7scenes(seq.parent)
    assert e.value.file == str(path) and e.value.field == "pose"
    R = T.copy()
    R[:3, 0] *= -1  # a reflection
    np.savetxt(path, R)
    with pytest.raises(DataError, match=r"det\(R\) = -0\.9998"):
        load_7scenes(seq.parent)
    path.write_text(" ".join(str(v) for v in T.ravel()[:15]))
    with pytest.raises(DataError, match="holds 15 numbers; expected 16") as e:
        load_7scenes(seq.parent)
    assert e.value.file == str(path)
    bad = T.copy()
    bad[3, 0] = 0.5
    np.savetxt(path, bad)
    with pytest.raises(DataError, match="last row is .*; expected 0 0 0 1"):
        load_7scenes(seq.parent)
    path.write_text("1 0 0 0 0 1 0 0 0 0 1 zero 0 0 0 1")
    with pytest.raises(DataError, match="holds 'zero'; expected 16 numbers"):
        load_7scenes(seq.parent)


def test_truncated_images(seq):
    for name, fld in (("frame-000002.depth.png", "depth"), ("frame-000000.color.jpg", "color")):
        path = seq / name
        good = path.read_bytes()
        path.write_bytes(good[: len(good) // 2])
        with pytest.raises(DataError, match="unreadable or truncated image") as e:
            load_7scenes(seq.parent)
        assert e.value.file == str(path) and e.value.field == fld
        path.write_bytes(good)


def test_not_a_scene(tmp_path):
    with pytest.raises(DataError, match="no 7-Scenes sequence here"):
        load_7scenes(tmp_path)
    (tmp_path / "seq-01").mkdir()
    with pytest.raises(DataError, match="no frames; expected frame-NNNNNN") as e:
        load_7scenes(tmp_path)
    assert e.value.file == str(tmp_path / "seq-01")
