"""Outputs built in a temporary folder and swapped in whole; damaged saved models are DataErrors naming the file."""

import json

import numpy as np
import pytest

from omniloc import DataError, methods
from omniloc._errors import Interrupted
from omniloc._io import OutputExistsError, check_output, output_dir, replace_dir


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# ---------------------------------------------------------------------------------------------- output_dir
def test_output_dir_swaps_a_complete_folder_in(tmp_path):
    out = tmp_path / "a" / "b" / "out"
    with output_dir(out) as tmp:
        assert tmp.parent == out.parent and tmp.name.startswith(".out.") and tmp.name.endswith(".tmp")
        (tmp / "x.txt").write_text("new")
        assert not out.exists()  # nothing visible before the block ends
    assert (out / "x.txt").read_text() == "new"
    assert _leftovers(out.parent) == []


def test_overwrite_replaces_the_whole_folder_and_refuses_without_it(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "stale.txt").write_text("old run")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        with output_dir(out):
            raise AssertionError("the block must not run")
    with output_dir(out, overwrite=True) as tmp:
        (tmp / "fresh.txt").write_text("new run")
    assert sorted(p.name for p in out.iterdir()) == ["fresh.txt"]  # no stale file of the earlier run
    assert _leftovers(tmp_path) == []
    empty = tmp_path / "empty"
    empty.mkdir()
    with output_dir(empty) as tmp:  # an empty folder needs no --overwrite
        (tmp / "y").write_text("1")
    assert (empty / "y").exists()


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt(), Interrupted(15)])
def test_a_failed_block_keeps_the_previous_output_and_leaves_nothing(tmp_path, error):
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.md").write_text("old report")
    with pytest.raises(type(error)):
        with output_dir(out, overwrite=True) as tmp:
            (tmp / "metrics.json").write_text("{}")
            raise error
    assert sorted(p.name for p in out.iterdir()) == ["report.md"] and (out / "report.md").read_text() == "old report"
    assert _leftovers(tmp_path) == []
    # a new output whose parents did not exist: the parents made for it go too
    with pytest.raises(type(error)):
        with output_dir(tmp_path / "new" / "deep" / "out"):
            raise error
    assert not (tmp_path / "new").exists()


def test_replace_dir_replaces_a_file_and_check_output_rules(tmp_path):
    target = tmp_path / "t"
    target.write_text("a file")
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("1")
    with pytest.raises(OutputExistsError):
        check_output(target)
    replace_dir(src, target, overwrite=True)
    assert (target / "f").read_text() == "1" and sorted(p.name for p in tmp_path.iterdir()) == ["t"]
    assert check_output(tmp_path / "missing") == tmp_path / "missing"


# ---------------------------------------------------------------------------------------------- damaged models
@pytest.fixture(scope="module")
def office():
    from omniloc.sim import simulate

    return simulate("office", seed=0, preset="quick", conf={"sensors": ["imu", "magnetometer", "wifi"]})


@pytest.fixture(scope="module")
def saved(office, tmp_path_factory):
    """A saved kNN and a saved MTLoc (quick preset, one epoch)."""
    root = tmp_path_factory.mktemp("models")
    train = office.split("train")
    methods.create("knn").fit(train).save(root / "knn")
    mtloc = methods.create("mtloc", {"epochs": 1, "trainer": {"progress": False}}, preset="quick")
    mtloc.fit(train).save(root / "mtloc")
    return root


def _copy(saved, name, tmp_path):
    import shutil

    return shutil.copytree(saved / name, tmp_path / name)


@pytest.mark.parametrize("name", ["knn", "mtloc"])
def test_intact_copy_loads(saved, name, tmp_path, office):
    loc = methods.load(_copy(saved, name, tmp_path))
    assert loc.name == name and len(loc.predict(office.split("test"))) > 0


@pytest.mark.parametrize("name", ["knn", "mtloc"])
def test_truncated_state_npz(saved, name, tmp_path):
    folder = _copy(saved, name, tmp_path)
    data = (folder / "state.npz").read_bytes()
    (folder / "state.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"state\.npz: damaged saved model") as e:
        methods.load(folder)
    assert e.value.file == str(folder / "state.npz")


@pytest.mark.parametrize("name", ["knn", "mtloc"])
def test_method_json_without_state(saved, name, tmp_path):
    folder = _copy(saved, name, tmp_path)
    meta = json.loads((folder / "method.json").read_text())
    del meta["state"]
    (folder / "method.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match="damaged saved model: 'state' missing") as e:
        methods.load(folder)
    assert e.value.file == str(folder / "method.json") and e.value.field == "state"


@pytest.mark.parametrize("name", ["knn", "mtloc"])
def test_state_npz_missing_an_array(saved, name, tmp_path):
    folder = _copy(saved, name, tmp_path)
    with np.load(folder / "state.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays.pop(sorted(arrays)[0])
    np.savez(folder / "state.npz", **arrays)
    with pytest.raises(DataError, match="learned state incomplete or invalid") as e:
        methods.load(folder)
    assert e.value.file == str(folder / "state.npz")


@pytest.mark.parametrize("name", ["knn", "mtloc"])
def test_saved_conf_this_version_refuses(saved, name, tmp_path):
    folder = _copy(saved, name, tmp_path)
    meta = json.loads((folder / "method.json").read_text())
    meta["conf"]["batch_size"] = "large"
    (folder / "method.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match=rf"saved conf not valid.*{name} conf 'batch_size' must be an int") as e:
        methods.load(folder)
    assert e.value.file == str(folder / "method.json") and e.value.field == "conf"


@pytest.mark.parametrize("name", ["knn", "mtloc"])
def test_method_json_garbage_or_unknown_method(saved, name, tmp_path):
    folder = _copy(saved, name, tmp_path)
    (folder / "method.json").write_text('{"method": "kn')
    with pytest.raises(DataError, match="invalid JSON"):
        methods.load(folder)
    (folder / "method.json").write_text('{"method": "nosuch", "conf": {}, "state": {}}')
    with pytest.raises(DataError, match="unknown method 'nosuch'") as e:
        methods.load(folder)
    assert e.value.field == "method"


def test_garbage_weights_pt(saved, tmp_path):
    folder = _copy(saved, "mtloc", tmp_path)
    (folder / "weights.pt").write_bytes(b"this is not a torch file" * 10)
    with pytest.raises(DataError, match="weights.pt") as e:
        methods.load(folder)
    assert e.value.file == str(folder / "weights.pt")
    (folder / "weights.pt").unlink()
    with pytest.raises(DataError, match="weights.pt"):
        methods.load(folder)
