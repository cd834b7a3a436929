"""TUM RGB-D loader: the real fr1 sequences (counts, association, pose conversion) on small slices
copied into tmp_path, the splits, the command line, and corrupted inputs."""

import shutil

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from omniloc import ConfigError, DataError
from omniloc.cli import app
from omniloc.data import OPTICAL_FROM_DEVICE, device_from_optical, load_dataset
from omniloc.data.loaders import LOADERS, import_dataset
from omniloc.data.loaders.tum_rgbd import (
    associate,
    import_tum_rgbd,
    load_tum_rgbd,
    read_depth_png,
    read_tum_frames,
)
from omniloc.data.transforms import quat_to_matrix

RPY, XYZ = "rgbd_dataset_freiburg1_rpy", "rgbd_dataset_freiburg1_xyz"
N_SLICE = 5
K_160 = [[131.25, 0.0, 79.5], [0.0, 131.25, 59.5], [0.0, 0.0, 1.0]]


@pytest.fixture(scope="module")
def root(data_root):
    path = data_root / "tum-rgbd-fr1"
    if not (path / RPY / "frames.txt").exists() or not (path / XYZ / "frames.txt").exists():
        pytest.skip(f"{path} not found")
    return path


def data_lines(path):
    return [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]


def make_slice(seq, dst_root, n=N_SLICE, start=0, frames_txt=True):
    """A copy of ``n`` consecutive frames.txt frames of ``seq`` (images, lists, the mocap around them)."""
    dst = dst_root / seq.name
    (dst / "rgb").mkdir(parents=True)
    (dst / "depth").mkdir()
    rows = data_lines(seq / "frames.txt")[start : start + n]
    keep = set()
    for row in rows:
        f = row.split()
        for name in (f[1], f[3]):
            shutil.copyfile(seq / name, dst / name)
            keep.add(name)
    if frames_txt:
        (dst / "frames.txt").write_text(
            "# rgb_ts rgb_file depth_ts depth_file tx ty tz qx qy qz qw\n" + "\n".join(rows) + "\n"
        )
    for lst in ("rgb.txt", "depth.txt"):
        lines = [ln for ln in data_lines(seq / lst) if ln.split()[1] in keep]
        (dst / lst).write_text("# timestamp filename\n" + "\n".join(lines) + "\n")
    t0, t1 = float(rows[0].split()[0]) - 0.1, float(rows[-1].split()[0]) + 0.1
    gt = [ln for ln in data_lines(seq / "groundtruth.txt") if t0 <= float(ln.split()[0]) <= t1]
    (dst / "groundtruth.txt").write_text("# timestamp tx ty tz qx qy qz qw\n" + "\n".join(gt) + "\n")
    return dst


def tum_rotation(qx, qy, qz, qw):
    """Rotation matrix of a TUM quaternion (scalar last), written out here independently of omniloc."""
    n = np.sqrt(qx * qx + qy * qy + qz * qz + qw * qw)
    x, y, z, w = qx / n, qy / n, qz / n, qw / n
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


@pytest.fixture(scope="module")
def rpy_slice(root, tmp_path_factory):
    return make_slice(root / RPY, tmp_path_factory.mktemp("tum"))


@pytest.fixture(scope="module")
def rpy(rpy_slice):
    return load_tum_rgbd(rpy_slice).validate()


# ---------------------------------------------------------------------------------------- real data
def test_association_and_interpolation_reproduce_frames_txt(root):
    """Without frames.txt the loader's own association + mocap interpolation gives frames.txt (688 / 32)."""
    for seq, n, dropped in ((RPY, 688, (29, 6)), (XYZ, 32, (5, 0))):
        staged = read_tum_frames(root / seq)
        mine = read_tum_frames(root / seq, use_frames_txt=False)
        assert staged.pose_source == "frames.txt" and mine.pose_source == "groundtruth.txt"
        assert len(staged.rgb_t) == len(mine.rgb_t) == n
        np.testing.assert_array_equal(mine.rgb_t, staged.rgb_t)
        np.testing.assert_array_equal(mine.depth_t, staged.depth_t)
        assert mine.rgb_file == staged.rgb_file and mine.depth_file == staged.depth_file
        np.testing.assert_allclose(mine.position, staged.position, atol=1e-6)  # frames.txt: 6 decimals
        dots = np.abs(np.sum(mine.q_world_from_optical * staged.q_world_from_optical, axis=1))
        np.testing.assert_allclose(dots, 1.0, atol=1e-9)
        assert sorted(mine.dropped.values()) == sorted(d for d in dropped if d)


def test_associate_is_one_to_one_nearest():
    ia, ib = associate([0.0, 0.03, 0.06, 0.2], [0.001, 0.011, 0.052, 0.061, 0.5])
    # closest first: 0.0-0.001 and 0.06-0.061 (dt 0.001), then 0.03 takes 0.011 (dt 0.019); 0.2 has no partner
    assert ia.tolist() == [0, 1, 2] and ib.tolist() == [0, 1, 3]
    ia, ib = associate([0.0, 0.005], [0.004])  # one depth image for two rgb images: the nearer one wins
    assert ia.tolist() == [1] and ib.tolist() == [0]


def test_slice_fields_units_and_intrinsics(rpy, rpy_slice):
    rec = rpy[RPY]
    rows = [r.split() for r in data_lines(rpy_slice / "frames.txt")]
    rgb, depth = rec.stream("rgb"), rec.stream("depth")
    assert len(rec) == N_SLICE and rgb.shape == (N_SLICE, 120, 160, 3) and rgb.dtype == np.uint8
    assert depth.shape == (N_SLICE, 120, 160) and depth.dtype == np.float32
    t0 = float(rows[0][0])
    assert rec.meta["t0_unix"] == t0 and rec.t[0] == 0.0
    np.testing.assert_allclose(rec.t, [float(r[0]) - t0 for r in rows], atol=1e-9)
    np.testing.assert_array_equal(rgb.t, rec.t)
    np.testing.assert_allclose(depth.t, [float(r[2]) - t0 for r in rows], atol=1e-9)
    raw = read_depth_png(rpy_slice / rows[2][3])
    np.testing.assert_array_equal(depth.values[2], raw.astype(np.float32) / np.float32(5000))
    assert (raw == 0).any() and np.all(depth.values[2][raw == 0] == 0)
    valid = depth.values[depth.values > 0]
    assert 0.5 < np.median(valid) < 3.0 and valid.max() < 10.0  # an office at 0.5..10 m
    np.testing.assert_array_equal(rgb.values[0], np.asarray(Image.open(rpy_slice / rows[0][1]).convert("RGB")))
    for s in (rgb, depth):
        assert s.meta["K"] == K_160 and "device +x" in s.meta["frame"]
    assert depth.meta["unit"] == "m" and depth.meta["registered"] is True
    np.testing.assert_allclose(np.linalg.norm(rec.orientation, axis=1), 1.0, atol=1e-12)


def test_slice_pose_conversion(rpy, rpy_slice):
    rec = rpy[RPY]
    rows = [
        [float(v) for i, v in enumerate(r.split()) if i not in (1, 3)] for r in data_lines(rpy_slice / "frames.txt")
    ]
    first = rows[0]
    q_wo = np.array([first[8], first[5], first[6], first[7]])  # TUM qx qy qz qw -> w x y z
    p, q = device_from_optical(first[2:5], q_wo / np.linalg.norm(q_wo))
    np.testing.assert_allclose(rec.position[0], p, atol=1e-9)
    np.testing.assert_allclose(rec.orientation[0], q, atol=1e-9)
    for k, row in enumerate(rows):
        R_tum = tum_rotation(*row[5:9])
        R_wd = quat_to_matrix(rec.orientation[k])
        np.testing.assert_allclose(R_wd[:, 0], R_tum[:, 2], atol=1e-9)  # the device looks along the optical axis
        np.testing.assert_allclose(R_wd, R_tum @ OPTICAL_FROM_DEVICE, atol=1e-9)
        np.testing.assert_allclose(rec.position[k], row[2:5], atol=1e-12)


def test_slice_without_frames_txt_gives_the_same_recording(root, rpy, tmp_path):
    seq = make_slice(root / RPY, tmp_path, frames_txt=False)
    rec, ref = load_tum_rgbd(seq)[RPY], rpy[RPY]
    assert rec.meta["pose_source"] == "groundtruth.txt"
    np.testing.assert_allclose(rec.t, ref.t, atol=1e-9)
    np.testing.assert_allclose(rec.position, ref.position, atol=1e-6)
    np.testing.assert_allclose(np.abs(np.sum(rec.orientation * ref.orientation, axis=1)), 1.0, atol=1e-9)
    np.testing.assert_array_equal(rec.stream("depth").values, ref.stream("depth").values)


def test_whole_xyz_sequence_and_resize(root):
    ds = load_tum_rgbd(root / XYZ).validate()
    rec = ds[XYZ]
    assert len(rec) == 32 and rec.stream("rgb").shape == (32, 120, 160, 3)
    assert ds.provenance["licence"] == "CC BY 4.0" and ds.provenance["import_warnings"]
    small = load_tum_rgbd(root / XYZ, size=(80, 60))[XYZ]
    assert small.stream("rgb").shape == (32, 60, 80, 3) and small.stream("depth").shape == (32, 60, 80)
    np.testing.assert_allclose(small.stream("depth").meta["K"], [[65.625, 0, 39.5], [0, 65.625, 29.5], [0, 0, 1]])
    with pytest.raises(ConfigError, match="size 70x50 does not divide the 160x120 images"):
        load_tum_rgbd(root / XYZ, size=(70, 50))


# -------------------------------------------------------------------------------------------- splits
@pytest.fixture(scope="module")
def two_sequences(root, tmp_path_factory):
    base = tmp_path_factory.mktemp("fr1")
    make_slice(root / RPY, base, n=6)
    make_slice(root / XYZ, base, n=3)
    return base


def test_folder_of_sequences_and_splits(two_sequences):
    assert LOADERS["tum-rgbd"] is import_tum_rgbd
    ds = import_tum_rgbd(two_sequences, test_sequences=[XYZ]).validate()
    assert list(ds.recordings) == [RPY, XYZ] and ds.splits == {"train": [RPY], "test": [XYZ]}
    assert ds.provenance["split"]["by"] == "named sequences (test_sequences)"
    ds = import_dataset("tum-rgbd", two_sequences, test_fraction=0.5, seed=0)
    assert sorted(ds.splits) == ["test", "train"] and ds.provenance["split"]["test_fraction"] == 0.5
    with pytest.raises(ConfigError, match=r"test_sequences \['fr9'\] are not sequences"):
        import_tum_rgbd(two_sequences, test_sequences=["fr9"])
    with pytest.raises(ConfigError, match="unknown TUM sequences"):
        load_tum_rgbd(two_sequences, sequences=["fr9"])
    with pytest.raises(DataError, match="only one sequence") as e:
        import_tum_rgbd(two_sequences / RPY, test_fraction=0.1)
    assert e.value.field == "test_fraction"
    assert list(import_tum_rgbd(two_sequences / RPY, test_fraction=0).splits) == ["train"]


def test_command_line_import(two_sequences, tmp_path):
    out = tmp_path / "d"
    res = CliRunner().invoke(
        app, ["import", "tum-rgbd", str(two_sequences), "--out", str(out), "--test-fraction", "0.5"]
    )
    assert res.exit_code == 0, res.output
    ds = load_dataset(out)
    assert sorted(ds.recordings) == [RPY, XYZ] and sorted(ds.splits) == ["test", "train"]
    rec = ds[RPY]
    assert rec.stream("depth").shape == (6, 120, 160) and rec.stream("rgb").meta["K"] == K_160
    np.testing.assert_allclose(np.linalg.norm(rec.orientation, axis=1), 1.0)


# ---------------------------------------------------------------------------------------- bad inputs
@pytest.fixture
def seq(root, tmp_path):
    return make_slice(root / RPY, tmp_path, n=3)


def first_row(seq):
    return data_lines(seq / "frames.txt")[0].split()


def test_truncated_png(seq):
    row = first_row(seq)
    for name, fld in ((row[1], "rgb"), (row[3], "depth")):
        path = seq / name
        good = path.read_bytes()
        path.write_bytes(good[: len(good) // 2])
        with pytest.raises(DataError, match="unreadable or truncated image") as e:
            load_tum_rgbd(seq)
        assert e.value.file == str(path) and e.value.field == fld
        path.write_bytes(good)


def test_depth_png_must_be_16_bit_and_sizes_must_match(seq):
    row = first_row(seq)
    Image.fromarray(np.zeros((120, 160), np.uint8)).save(seq / row[3])
    with pytest.raises(DataError, match="image mode L; expected a 16-bit single-channel depth PNG") as e:
        load_tum_rgbd(seq)
    assert e.value.file == str(seq / row[3]) and e.value.field == "depth"
    Image.fromarray(np.zeros((60, 80), np.uint16)).save(seq / row[3])
    with pytest.raises(DataError, match="image is 80x60; expected 160x120") as e:
        load_tum_rgbd(seq)
    assert e.value.file == str(seq / row[3])


def test_missing_groundtruth_and_listed_files_that_do_not_exist(seq):
    (seq / "frames.txt").unlink()
    lines = (seq / "rgb.txt").read_text()
    (seq / "rgb.txt").write_text(lines + "1305031300.000000 rgb/1305031300.000000.png\n")
    with pytest.raises(DataError, match=r"lists rgb/1305031300.000000.png, which does not exist") as e:
        load_tum_rgbd(seq)
    assert e.value.file == str(seq / "rgb.txt") and e.value.field == "filename" and "line 5" in str(e.value)
    (seq / "rgb.txt").write_text(lines)
    (seq / "groundtruth.txt").unlink()
    with pytest.raises(DataError, match="not found; expected the TUM ground-truth trajectory") as e:
        load_tum_rgbd(seq)
    assert e.value.file == str(seq / "groundtruth.txt")


def test_frames_txt_row_with_wrong_columns_or_values(seq):
    path = seq / "frames.txt"
    text = path.read_text()
    lines = text.splitlines()
    lines[2] = " ".join(lines[2].split()[:-1])  # data row 2 (file line 3) loses qw
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="line 3 has 10 columns; expected 11: rgb_ts rgb_file") as e:
        load_tum_rgbd(seq)
    assert e.value.file == str(path) and e.value.field == "qw"
    lines = text.splitlines()
    f = lines[1].split()
    lines[1] = " ".join(f[:4] + ["x1.3"] + f[5:])
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="line 2 holds 'x1.3'; expected a finite number") as e:
        load_tum_rgbd(seq)
    assert e.value.field == "tx"
    lines[1] = " ".join(f[:7] + ["0", "0", "0", "0"])
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="has norm 0; expected a rotation") as e:
        load_tum_rgbd(seq)
    assert e.value.file == str(path) and e.value.field == "qx qy qz qw"


def test_groundtruth_quaternion_that_is_not_a_rotation(seq):
    (seq / "frames.txt").unlink()
    path = seq / "groundtruth.txt"
    lines = path.read_text().splitlines()
    f = lines[3].split()
    lines[3] = " ".join(f[:4] + ["1", "1", "1", "1"])
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="line 4: quaternion .* has norm 2; expected a rotation") as e:
        load_tum_rgbd(seq)
    assert e.value.file == str(path)


def test_not_a_sequence(tmp_path):
    with pytest.raises(DataError, match="not found; expected a TUM RGB-D sequence folder"):
        load_tum_rgbd(tmp_path / "missing")
    with pytest.raises(DataError, match="no TUM RGB-D sequence here") as e:
        load_tum_rgbd(tmp_path)
    assert e.value.file == str(tmp_path)
