"""Nordland loader: the real archive (read by slices), our protocol's split, and corrupted copies in tmp_path."""

import numpy as np
import pytest

from omniloc import DataError
from omniloc.data.loaders import load_nordland
from omniloc.data.loaders.nordland import FILE_NAME, TOLERANCE, NordlandSplit, nordland_split


@pytest.fixture(scope="module")
def archive(data_root):
    path = data_root / "nordland-vpr" / FILE_NAME
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path


def test_real_archive_first_rows(archive):
    nl = load_nordland(archive, stop=20)
    assert nl.summer.shape == nl.winter.shape == (20, 32, 64, 3)
    assert nl.summer.dtype == nl.winter.dtype == np.uint8
    np.testing.assert_array_equal(nl.frame_index, np.arange(10, 210, 10))
    assert len(nl) == 20 and nl.n_total == 3576 and nl.rows == range(0, 20)
    assert nl.summer.flags.writeable and nl.provenance["n_total"] == 3576
    assert (nl.summer[..., 0] == nl.summer[..., 2]).all()  # the staged thumbnails are grey
    with np.load(archive) as z:  # the same pixels numpy reads
        np.testing.assert_array_equal(nl.winter, z["winter"][:20])


def test_slices_folders_and_the_data_root(archive):
    part = load_nordland(archive.parent, start=5, stop=12)
    first = load_nordland(archive.parent.parent, stop=12)
    np.testing.assert_array_equal(part.summer, first.summer[5:])
    np.testing.assert_array_equal(part.frame_index, [60, 70, 80, 90, 100, 110, 120])
    assert part.rows == range(5, 12) and part.file == archive
    with pytest.raises(ValueError, match="start <= stop"):
        load_nordland(archive, start=3, stop=2)
    with pytest.raises(ValueError, match="<= 3576"):
        load_nordland(archive, stop=4000)


def test_our_protocol_split():
    assert nordland_split(3576) == NordlandSplit(range(0, 2146), range(2146, 3576))  # 1,430 test places
    assert nordland_split(10, 0.65) == NordlandSplit(range(0, 7), range(7, 10))  # 6.5 rounds up
    assert nordland_split(0).test == range(0, 0) and TOLERANCE == 2
    with pytest.raises(ValueError, match="train_fraction"):
        nordland_split(10, 1.5)
    with pytest.raises(ValueError, match="number of rows"):
        nordland_split(-1)


def write(path, compressed=True, **arrays):
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    return path


def good(n=6, h=4, w=8):
    rng = np.random.default_rng(0)
    return {
        "summer": rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8),
        "winter": rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8),
        "frame_index": np.arange(1, n + 1) * 10,
    }


@pytest.mark.parametrize("compressed", [True, False])
def test_small_valid_archive_and_its_split(tmp_path, compressed):
    arrays = good()
    nl = load_nordland(write(tmp_path / "nl.npz", compressed, **arrays), start=1, stop=4)
    np.testing.assert_array_equal(nl.winter, arrays["winter"][1:4])
    assert nl.frame_index.dtype == np.int64 and nl.split() == NordlandSplit(range(0, 2), range(2, 3))
    fortran = {**arrays, "summer": np.asfortranarray(arrays["summer"])}  # read whole, still right
    np.testing.assert_array_equal(
        load_nordland(write(tmp_path / "f.npz", compressed, **fortran)).summer, arrays["summer"]
    )


def corrupt(name):
    arrays = good()
    if name == "missing key":
        del arrays["winter"]
        return arrays, "'winter'", "missing"
    if name == "dtype":
        arrays["summer"] = arrays["summer"].astype(np.float32)
        return arrays, "'summer'", "expected uint8"
    if name == "shape":
        arrays["winter"] = arrays["winter"][..., 0]
        return arrays, "'winter'", r"\(N, H, W, 3\)"
    if name == "lengths":
        arrays["winter"] = arrays["winter"][:-1]
        return arrays, "'winter'", "differs from summer"
    if name == "frame_index length":
        arrays["frame_index"] = arrays["frame_index"][:-1]
        return arrays, "'frame_index'", r"shape \(6,\)"
    if name == "frame_index dtype":
        arrays["frame_index"] = arrays["frame_index"].astype(np.float64)
        return arrays, "'frame_index'", "integer"
    if name == "frame_index order":
        arrays["frame_index"][3] = arrays["frame_index"][2]
        return arrays, "'frame_index'", "rows 2 and 3.*strictly increasing"
    raise AssertionError(name)


@pytest.mark.parametrize(
    "name",
    ["missing key", "dtype", "shape", "lengths", "frame_index length", "frame_index dtype", "frame_index order"],
)
def test_corrupted_archives_name_the_file_and_the_field(tmp_path, name):
    arrays, field, message = corrupt(name)
    path = write(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=message) as err:
        load_nordland(path)
    assert str(path) in str(err.value) and f"field {field}" in str(err.value)
    assert err.value.field == field.strip("'")


def test_unreadable_and_missing_files(tmp_path):
    text = tmp_path / "not-a-zip.npz"
    text.write_text("hello")
    with pytest.raises(DataError, match="unreadable.*npz") as err:
        load_nordland(text)
    assert str(text) in str(err.value)
    full = write(tmp_path / "whole.npz", **good(n=40, h=16, w=32)).read_bytes()
    cut = tmp_path / "truncated.npz"
    cut.write_bytes(full[: len(full) // 2])
    with pytest.raises(DataError, match="unreadable") as err:
        load_nordland(cut)
    assert str(cut) in str(err.value)
    with pytest.raises(DataError, match="not found"):
        load_nordland(tmp_path / "nothing.npz")
    with pytest.raises(DataError, match=f"no {FILE_NAME}"):
        load_nordland(tmp_path)
