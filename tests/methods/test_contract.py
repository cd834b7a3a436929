"""Contract test, scikit-learn style, over every registered method.

Each method: no learned state after ``__init__``; ``fit`` returns self and leaves its conf and the
training data unchanged; two fits with one seed predict the same; ``predict(dataset)`` is the
concatenation of ``predict(recording)``; save / load / predict-again is equal and the conf
survives it; a recording without the streams it needs gets a ``DataError`` naming the stream;
every preset constructs; every ``default_conf`` key is documented in the class docstring.
"""

import copy
import hashlib
import re

import numpy as np
import pytest

from omniloc import ConfigError, DataError, methods
from omniloc.data import Estimate, Recording

#: seconds-long confs of each method (its quick preset where it has one)
FAST = {
    "mtloc": {"preset": "quick"},
    "otisomap": {"preset": "quick"},
    **{name: {"preset": "quick"} for name in ("mvloc", "mvloc-v", "mvloc-c", "mvloc-p", "genmap", "vpr")},
}


@pytest.fixture(scope="module")
def sim_office():
    from omniloc.sim import simulate

    return simulate("office", seed=0, preset="quick")


def _create(name):
    return methods.create(name, **FAST.get(name, {}))


def _digest(ds) -> str:
    """A hash of every array of every recording (ground truth and stream values)."""
    h = hashlib.sha256()
    for rec in ds:
        for key in ("t", "position", "orientation", "floor", "building", "zone"):
            v = getattr(rec, key)
            if v is not None:
                h.update(key.encode() + np.ascontiguousarray(v).tobytes())
        for name, s in sorted(rec.streams.items()):
            h.update(
                name.encode()
                + np.ascontiguousarray(s.t).tobytes()
                + np.ascontiguousarray(np.asarray(s.load())).tobytes()
            )
    return h.hexdigest()


def _same_estimates(a: Estimate, b: Estimate):
    np.testing.assert_array_equal(a.recording, b.recording)
    np.testing.assert_array_equal(a.t, b.t)
    np.testing.assert_allclose(a.position, b.position, equal_nan=True, rtol=0, atol=1e-9)
    for key in ("floor", "building", "orientation"):
        va, vb = getattr(a, key), getattr(b, key)
        assert (va is None) == (vb is None), key
        if va is not None:
            np.testing.assert_allclose(va, vb, equal_nan=True, atol=1e-9)


@pytest.fixture(scope="module")
def fitted(sim_office):
    """Every method fitted twice on the same data with the same seed."""
    out = {}
    train, val = sim_office.split("train"), sim_office.split("val")
    for name in methods.available():
        before = _digest(train)
        a = _create(name)
        assert not [k for k in vars(a) if k.endswith("_") and not k.startswith("_")], f"{name}: state before fit"
        conf0 = copy.deepcopy(a.conf)
        assert a.fit(train, val) is a
        assert a.conf == conf0, f"{name}: fit changed the conf"
        assert _digest(train) == before, f"{name}: fit changed the training data"
        b = _create(name).fit(train, val)
        out[name] = (a, b)
    return out


@pytest.mark.parametrize("name", methods.available())
def test_fit_is_deterministic_and_predict_stacks(name, fitted, sim_office):
    a, b = fitted[name]
    test = sim_office.split("test")
    est = a.predict(test)
    assert isinstance(est, Estimate) and len(est) > 0
    assert np.isfinite(est.position).all(axis=1).mean() > 0.5
    _same_estimates(est, b.predict(test))  # same seed, same predictions
    _same_estimates(est, Estimate.concat([a.predict(r) for r in test]))


@pytest.mark.parametrize("name", methods.available())
def test_save_load_predict_again(name, fitted, sim_office, tmp_path):
    a, _ = fitted[name]
    test = sim_office.split("test")
    conf0 = copy.deepcopy(a.conf)
    a.save(tmp_path / "model")
    assert a.conf == conf0, f"{name}: save changed the conf"
    with pytest.raises(FileExistsError):
        a.save(tmp_path / "model")
    back = methods.load(tmp_path / "model")
    assert type(back) is type(a) and back.conf == a.conf and back.preset == a.preset
    _same_estimates(back.predict(test), a.predict(test))


@pytest.mark.parametrize("name", methods.available())
def test_missing_stream_is_a_data_error_naming_it(name, fitted, sim_office):
    a, _ = fitted[name]
    rec = sim_office.split("test")[sim_office.splits["test"][0]]
    bare = Recording(rec.name, rec.t, rec.position, rec.orientation, rec.floor, rec.building, rec.zone, streams={})
    with pytest.raises(DataError, match=r"stream"):
        a.predict(bare)


@pytest.mark.parametrize("name", methods.available())
def test_presets_construct_and_conf_keys_are_documented(name):
    cls = methods.get_class(name)
    assert cls.name == name
    loc = methods.create(name)
    assert loc.conf == cls.default_conf and loc.conf is not cls.default_conf
    assert not loc.is_fitted
    with pytest.raises(RuntimeError, match="not fitted"):
        loc.predict(Recording("r", np.zeros(1)))
    for preset in cls.presets:
        methods.create(name, preset=preset)  # every preset is a valid configuration
    doc = cls.__doc__ or ""

    def keys(conf, prefix=""):
        for k, v in conf.items():
            yield prefix + k
            if isinstance(v, dict) and v:
                yield from keys(v, prefix + k + ".")

    missing = [k for k in keys(cls.default_conf) if not re.search(rf"\b{re.escape(k.split('.')[-1])}\b", doc)]
    assert not missing, f"{name}: conf keys not documented in the class docstring: {missing}"


def test_unknown_names_keys_and_types_are_rejected():
    with pytest.raises(ConfigError, match="unknown method"):
        methods.create("nope")
    with pytest.raises(ConfigError, match="unknown .* key"):
        methods.create("knn", {"no_such_key": 1})
    with pytest.raises(ConfigError, match="'k'"):
        methods.create("knn", {"k": "abc"})
    with pytest.raises(ConfigError, match="preset"):
        methods.create("knn", preset="nope")
