"""Configuration merging shared by every configurable part of omniloc (private).

The rule: a user dict is deep-merged over the documented defaults into a *new* dict; unknown
keys raise :class:`~omniloc.ConfigError` so that typos do not pass silently, and values of the
wrong type are refused by :func:`check_types` with one line naming the key and what it expects.
"""

from __future__ import annotations

import copy
import numbers

import numpy as np

from ._errors import ConfigError

__all__ = ["merge_conf", "deep_update", "check_types"]


def merge_conf(default: dict, conf: dict | None, *, where: str = "conf") -> dict:
    """Deep-merge ``conf`` over ``default`` into a new dict; neither input is mutated.

    Parameters
    ----------
    default : dict
        The documented defaults.
    conf : dict or None
        User values. Nested dicts merge key by key; any other value (lists included) replaces.
    where : str
        Name used in error messages.

    Raises
    ------
    ConfigError
        For a key that is not in ``default``.
    """
    out = copy.deepcopy(default)
    for key, val in (conf or {}).items():
        if key not in out:
            raise ConfigError(f"unknown {where} key {key!r}; known keys: {sorted(out)}")
        if isinstance(out[key], dict) and isinstance(val, dict):
            out[key] = merge_conf(out[key], val, where=f"{where}.{key}")
        else:
            out[key] = copy.deepcopy(val)
    return out


def deep_update(base: dict | None, *overrides: dict | None) -> dict:
    """A new dict: ``overrides`` deep-merged over ``base`` in turn, without checking keys.

    For combining partial user confs (e.g. a benchmark's budget and an ablation) before they
    meet the documented defaults in :func:`merge_conf`, which does check them.
    """
    out = copy.deepcopy(base or {})
    for over in overrides:
        for key, val in (over or {}).items():
            if isinstance(out.get(key), dict) and isinstance(val, dict):
                out[key] = deep_update(out[key], val)
            else:
                out[key] = copy.deepcopy(val)
    return out


#: how :func:`check_types` names an expected type in its messages
_TYPE_NAMES = {
    bool: "a bool (true or false)",
    int: "an int",
    float: "a number",
    str: "a string",
    list: "a list",
    tuple: "a list",
    dict: "a dict",
}


def _is_instance(value, types: tuple[type, ...]) -> bool:
    """``isinstance`` with the conf rules: a bool is not an int or a number; an int is a number."""
    if object in types:
        return True
    if isinstance(value, (bool, np.bool_)):
        return bool in types
    if isinstance(value, numbers.Integral):
        return int in types or float in types
    if isinstance(value, numbers.Real):
        return float in types
    if isinstance(value, (list, tuple)):
        return list in types or tuple in types
    other = tuple(t for t in types if t not in (bool, int, float, list, tuple))
    return bool(other) and isinstance(value, other)


def _expected(default) -> tuple[type, ...]:
    """The types a value may have where the default is ``default`` (not None)."""
    if isinstance(default, (bool, np.bool_)):
        return (bool,)
    if isinstance(default, numbers.Integral):
        return (int,)
    if isinstance(default, numbers.Real):
        return (float,)
    if isinstance(default, (list, tuple)):
        return (list, tuple)
    return (type(default),)


def _describe(types: tuple[type, ...]) -> str:
    names = list(dict.fromkeys(_TYPE_NAMES.get(t, f"a {t.__name__}") for t in types))
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def check_types(
    conf: dict, default: dict, *, where: str = "conf", types: dict[str, tuple[type, ...]] | None = None
) -> None:
    """Check every value of a merged ``conf`` against the type of its default.

    The rules: None is always accepted (the owner's own checks decide whether it means
    something); a None default accepts anything; a bool default needs a bool; an int default an
    int (not a bool); a float default an int or a float; a str default a str; a list or tuple
    default a list or tuple; a dict default a dict, checked key by key. Keys whose value may
    have several types are declared in ``types``.

    Parameters
    ----------
    conf : dict
        The merged configuration (e.g. from :func:`merge_conf`; keys not in ``default`` are
        not checked here).
    default : dict
        The documented defaults.
    where : str
        Name used in error messages, e.g. ``"mtloc conf"``.
    types : dict, optional
        Declared types by dotted key (``{"weights": (str, int, float), "trainer.devices": (int,
        str)}``); a declared key accepts exactly these (``float`` also accepts an int; ``int``
        and ``float`` never accept a bool).

    Raises
    ------
    ConfigError
        ``"mtloc conf 'epochs' must be an int, got 'abc' (str)"``.
    """
    _check_section(conf, default, where, types or {}, "")


def _check_section(conf: dict, default: dict, where: str, types: dict, prefix: str) -> None:
    for key, val in conf.items():
        if key not in default or val is None:
            continue
        dotted = f"{prefix}{key}"
        ref = default[key]
        if dotted in types:
            allowed = tuple(types[dotted])
        elif ref is None:
            continue
        else:
            allowed = _expected(ref)
        if not _is_instance(val, allowed):
            raise ConfigError(f"{where} '{dotted}' must be {_describe(allowed)}, got {val!r} ({type(val).__name__})")
        if isinstance(ref, dict) and isinstance(val, dict):
            _check_section(val, ref, where, types, f"{dotted}.")
