"""Method config resolution: dataclass defaults, then `--config file.yaml`, then `--set key=value`.

Dicts appear only here, where YAML and `--set` are read; what comes out is the method's frozen dataclass. An
unknown key is an error with a "did you mean", and a value of the wrong type is an error naming the field. Values
are coerced by the field's type, so `1e-3` is a number for a float field although YAML 1.1 reads it as text.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from lampbench.tasks.errors import ConfigError  # noqa: F401 - raised here, imported from here by callers


def parse_sets(sets: list[str]) -> dict[str, Any]:
    """`["k=4", "mode=group"]` -> `{"k": 4, "mode": "group"}`; values are read as YAML scalars."""
    out: dict[str, Any] = {}
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r} is not key=value")
        out[key.strip()] = yaml.safe_load(value) if value.strip() else ""
    return out


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML mapping from `path` (an empty file is an empty mapping)."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys, got {type(data).__name__}")
    return data


def build_config(cls: type, *layers: dict[str, Any], where: str = "config") -> Any:
    """An instance of the dataclass `cls` from its defaults overlaid by `layers` (later layers win)."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if key not in fields:
                close = difflib.get_close_matches(key, list(fields), n=3)
                hint = (
                    f"; did you mean {' or '.join(close)}?" if close else f"; known keys: {', '.join(fields) or 'none'}"
                )
                raise ConfigError(f"unknown {where} key {key!r}{hint}")
            values[key] = _coerce(key, value, hints[key])
    return cls(**values)


def config_help(cls: type) -> list[tuple[str, str, str, str]]:
    """(name, type, default, help) for every field of a config dataclass, as `bench methods NAME` shows them."""
    hints = typing.get_type_hints(cls)
    rows = []
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        rows.append((f.name, type_name(hints[f.name]), repr(default), f.metadata.get("help", "")))
    return rows


def type_name(hint: Any) -> str:
    """A type as a researcher reads it: `int | None`, `user | group`, `tuple[float, ...]`."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        return " | ".join(map(str, args))
    if origin in (typing.Union, types.UnionType):
        return " | ".join("None" if a is type(None) else type_name(a) for a in args)
    if origin is not None:
        inner = ", ".join("..." if a is Ellipsis else type_name(a) for a in args)
        return f"{origin.__name__}[{inner}]" if inner else origin.__name__
    return getattr(hint, "__name__", str(hint))


def coerce_value(key: str, value: Any, hint: Any) -> Any:
    """`value` as the type `hint` asks (numbers from numeric text, one item as a one-item list).

    Raises:
        ConfigError: naming `key` when the value does not fit.
    """
    return _coerce(key, value, hint)


def _coerce(key: str, value: Any, hint: Any) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{key}={value!r}: must be one of {', '.join(map(str, args))}")
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(key, value, arg)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{key}={value!r}: bad value")
    if origin in (tuple, list):
        items = value if isinstance(value, list | tuple) else [value]
        inner = args[0] if args else Any
        return origin(_coerce(key, v, inner) for v in items)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}={value!r}: must be true or false")
    if hint is int:
        number = _number(value)
        if isinstance(number, int) or (isinstance(number, float) and number.is_integer()):
            return int(number)
        raise ConfigError(f"{key}={value!r}: must be an integer")
    if hint is float:
        number = _number(value)
        if number is not None:
            return float(number)
        raise ConfigError(f"{key}={value!r}: must be a number")
    if hint is str:
        return str(value)
    return value


def _number(value: Any) -> int | float | None:
    """`value` as a number, or None. YAML 1.1 reads `1e-3` and `5e-5` as strings, so numeric text counts too."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        text = value.strip().replace("_", "")
        for kind in (int, float):
            try:
                return kind(text)
            except ValueError:
                pass
    return None
