"""Configuration: type checks against the defaults, the _check_conf hook, preset lists, save/load of conf and preset."""

import copy

import numpy as np
import pytest

from omniloc import ConfigError, Dataset, Estimate, Recording, methods
from omniloc._conf import check_types, merge_conf
from omniloc.methods import Localizer

DEFAULT = {
    "n": 3,
    "rate": 1.5,
    "flag": True,
    "name": "a",
    "sizes": [1, 2],
    "opt": None,
    "maybe_int": 5,
    "nested": {"k": 1, "devices": 1, "deeper": {"x": 0.5}},
}


def _msg(conf, types=None):
    with pytest.raises(ConfigError) as e:
        check_types(merge_conf(DEFAULT, conf), DEFAULT, where="demo conf", types=types)
    return str(e.value)


def test_values_of_the_default_types_pass():
    check_types(
        merge_conf(
            DEFAULT,
            {
                "n": np.int64(4),
                "rate": 2,
                "flag": np.bool_(False),
                "name": "b",
                "sizes": (3,),
                "opt": {"any": "thing"},
                "maybe_int": None,
                "nested": {"deeper": {"x": 1}},
            },
        ),
        DEFAULT,
        where="demo conf",
    )


def test_each_type_rule_with_its_message():
    assert _msg({"n": "abc"}) == "demo conf 'n' must be an int, got 'abc' (str)"
    assert _msg({"n": True}) == "demo conf 'n' must be an int, got True (bool)"  # a bool is not an int
    assert _msg({"n": 3.0}) == "demo conf 'n' must be an int, got 3.0 (float)"
    assert _msg({"rate": "fast"}) == "demo conf 'rate' must be a number, got 'fast' (str)"
    assert _msg({"rate": False}) == "demo conf 'rate' must be a number, got False (bool)"
    assert _msg({"flag": 1}) == "demo conf 'flag' must be a bool (true or false), got 1 (int)"
    assert _msg({"name": 7}) == "demo conf 'name' must be a string, got 7 (int)"
    assert _msg({"sizes": "1,2"}) == "demo conf 'sizes' must be a list, got '1,2' (str)"
    assert _msg({"nested": 4}) == "demo conf 'nested' must be a dict, got 4 (int)"
    assert _msg({"nested": {"deeper": {"x": "y"}}}) == "demo conf 'nested.deeper.x' must be a number, got 'y' (str)"


def test_declared_types_by_dotted_key():
    types = {"maybe_int": (str, int), "nested.devices": (int, str)}
    check_types(merge_conf(DEFAULT, {"maybe_int": "auto", "nested": {"devices": "auto"}}), DEFAULT, types=types)
    assert (
        _msg({"nested": {"devices": 1.5}}, types)
        == "demo conf 'nested.devices' must be an int or a string, got 1.5 (float)"
    )
    # a declaration replaces the default's type: without it a string is refused
    assert _msg({"nested": {"devices": "auto"}}) == "demo conf 'nested.devices' must be an int, got 'auto' (str)"
    assert _msg({"maybe_int": True}, types) == "demo conf 'maybe_int' must be a string or an int, got True (bool)"


class _Toy(Localizer):
    """A toy method: predicts the training mean position at every pose time.

    * ``scale``: positive factor on the mean (float).
    * ``mode``: ``"mean"`` or ``"zero"``.
    * ``width``: an int or ``"auto"`` (declared in ``conf_types``).
    """

    name = "toy"
    default_conf = {"scale": 1.0, "mode": "mean", "width": 4, "inner": {"steps": 2}}
    conf_types = {"width": (int, str)}
    presets = {"double": {"scale": 2.0}, "zero": {"mode": "zero", "inner": {"steps": 5}}, "triple": {"scale": 3.0}}
    checked = 0

    def _check_conf(self) -> None:
        type(self).checked += 1
        if not self.conf["scale"] > 0:
            raise ConfigError(f"toy conf 'scale' must be > 0, got {self.conf['scale']!r}")
        if self.conf["mode"] not in ("mean", "zero"):
            raise ConfigError(f"toy conf 'mode' must be 'mean' or 'zero', got {self.conf['mode']!r}")

    def fit(self, train, val=None):
        self.mean_ = np.mean(np.concatenate([r.position for r in train]), axis=0)
        return self

    def predict_recording(self, rec):
        p = self.mean_ * self.conf["scale"] * (self.conf["mode"] == "mean")
        return Estimate(np.full(len(rec.t), rec.name), rec.t, np.repeat(p[None], len(rec.t), axis=0))


@pytest.fixture
def toy_registered(monkeypatch):
    monkeypatch.setitem(methods._REGISTRY, "toy", f"{__name__}:_Toy")
    rec = Recording("r", np.arange(4.0), position=np.c_[np.arange(4.0), np.zeros(4), np.ones(4)])
    return Dataset("d", {"r": rec})


def test_check_conf_hook_runs_at_construction_after_the_type_check():
    before = _Toy.checked
    _Toy()
    assert _Toy.checked == before + 1
    with pytest.raises(ConfigError, match="toy conf 'scale' must be > 0, got -1"):
        _Toy({"scale": -1})
    with pytest.raises(ConfigError, match=r"toy conf 'scale' must be a number, got 'big' \(str\)"):
        _Toy({"scale": "big"})  # the type check comes first: _check_conf never sees a string
    assert _Toy({"width": "auto"}).conf["width"] == "auto"
    with pytest.raises(ConfigError, match="no preset 'nope'"):
        _Toy(preset=["double", "nope"])


def test_presets_apply_in_order_and_are_recorded():
    loc = _Toy({"scale": 5.0}, preset=["zero", "double"])
    assert loc.preset == ["zero", "double"]
    assert loc.conf == {"scale": 5.0, "mode": "zero", "width": 4, "inner": {"steps": 5}}  # user conf last
    assert _Toy(preset=["double", "triple"]).conf["scale"] == 3.0
    assert _Toy(preset=["triple", "double"]).conf["scale"] == 2.0
    assert _Toy(preset="double").preset == "double" and _Toy().preset is None
    assert _Toy.default_conf["scale"] == 1.0 and _Toy.presets["zero"]["inner"] == {"steps": 5}  # nothing mutated


def test_save_load_keeps_conf_and_preset_without_merging_presets_again(toy_registered, tmp_path):
    loc = _Toy({"scale": 0.5}, preset=["double", "zero"]).fit(toy_registered)
    conf_before = copy.deepcopy(loc.conf)
    loc.save(tmp_path / "m")
    assert loc.conf == conf_before  # save does not touch the conf
    again = methods.load(tmp_path / "m")
    assert again.preset == ["double", "zero"]
    assert again.conf == conf_before and again.conf["scale"] == 0.5  # the user's value, not the preset's 2.0
    np.testing.assert_array_equal(again.predict(toy_registered).position, loc.predict(toy_registered).position)


def test_every_registered_method_takes_a_preset_list_and_declares_its_polymorphic_keys():
    for name in methods.available():
        cls = methods.get_class(name)
        for key in cls.conf_types:
            node = cls.default_conf
            for part in key.split("."):
                assert part in node, f"{name}.conf_types names {key!r}, which is not in its default_conf"
                node = node[part]
        presets = sorted(cls.presets)
        if len(presets) >= 2:
            loc = methods.create(name, preset=presets[:2])
            assert loc.preset == presets[:2]
            merged = merge_conf(merge_conf(cls.default_conf, cls.presets[presets[0]]), cls.presets[presets[1]])
            assert loc.conf == merged


def test_suitable_methods_by_stream_kinds():
    from omniloc.data import Stream

    def rec(name, kinds):
        streams = {k: Stream(k, [0.0, 1.0], np.zeros((2, 6 if k == "imu" else 3), np.float32)) for k in kinds}
        return Recording(name, [0.0, 1.0], position=np.zeros((2, 3)), streams=streams)

    imu_only = Dataset("a", {"r": rec("r", ["imu"])})
    assert methods.suitable_methods(imu_only) == ["pdr"]
    assert methods.suitable_methods(Dataset("b", {"r": rec("r", ["magnetometer"])})) == []
    mixed = Dataset("c", {"r": rec("r", ["imu"]), "s": rec("s", ["magnetometer"])})
    assert methods.suitable_methods(mixed) == []  # every recording must have the streams


def test_simulator_conf_is_checked_before_anything_is_simulated():
    from omniloc.sim import simulate

    cases = {
        "n_recordings": (-1, "office conf 'n_recordings' must be an int >= 1, got -1"),
        "duration_s": (0, "office conf 'duration_s' must be > 0, got 0"),
        "splits": ({"train": -1.0}, "office conf 'splits' must map split names to fractions >= 0"),
        "walk": ({"speed_mps": [0.0, 1.0]}, "office conf 'walk.speed_mps' must be > 0, got [0.0, 1.0]"),
        "camera": ({"width": "wide"}, "office conf 'camera.width' must be an int, got 'wide' (str)"),
    }
    for key, (value, message) in cases.items():
        with pytest.raises(ConfigError) as e:
            simulate("office", preset="quick", conf={key: value})
        assert str(e.value).startswith(message), (key, str(e.value))
    with pytest.raises(ConfigError, match=r"maze conf 'maze.size_px' must be > 0, got 0"):
        simulate("maze", preset="quick", conf={"maze": {"size_px": 0}})
