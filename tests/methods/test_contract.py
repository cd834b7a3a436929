"""Contract test: every registered method goes through fit / predict / save / load / predict-again-equal."""

import numpy as np
import pytest

from omniloc import methods
from omniloc.data import Estimate


@pytest.fixture(scope="module")
def sim_office():
    from omniloc.sim import simulate

    return simulate("office", seed=0, preset="quick")


@pytest.mark.parametrize("name", methods.available())
def test_method_contract(name, sim_office, tmp_path):
    cls = methods.get_class(name)
    assert cls.name == name
    assert methods.create(name).conf == cls.default_conf and methods.create(name).conf is not cls.default_conf
    loc = methods.create(name, preset="quick" if "quick" in cls.presets else None)   # seconds-long training
    assert not loc.is_fitted
    with pytest.raises(RuntimeError, match="not fitted"):
        loc.predict(sim_office.split("test"))
    assert loc.fit(sim_office.split("train"), sim_office.split("val")) is loc
    est = loc.predict(sim_office.split("test"))
    assert isinstance(est, Estimate) and len(est) > 0
    assert set(est.recording) <= set(sim_office.splits["test"])
    assert np.isfinite(est.position).all(axis=1).mean() > 0.5
    loc.save(tmp_path / "model")
    with pytest.raises(FileExistsError):
        loc.save(tmp_path / "model")
    again = methods.load(tmp_path / "model").predict(sim_office.split("test"))
    np.testing.assert_allclose(again.position, est.position, equal_nan=True)
    np.testing.assert_array_equal(again.t, est.t)
    for preset in cls.presets:
        methods.create(name, preset=preset)  # every preset is a valid configuration


def test_unknown_names_and_keys_are_rejected():
    from omniloc import ConfigError

    with pytest.raises(ConfigError, match="unknown method"):
        methods.create("nope")
    with pytest.raises(ConfigError, match="unknown .* key"):
        methods.create(methods.available()[0], {"no_such_key": 1})
