"""Configuration merging shared by every configurable part of omniloc (private).

The rule: a user dict is deep-merged over the documented defaults into a *new* dict; unknown
keys raise :class:`~omniloc.ConfigError` so that typos do not pass silently.
"""

from __future__ import annotations

import copy

from ._errors import ConfigError

__all__ = ["merge_conf", "deep_update"]


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
