"""Method config resolution: dataclass defaults, then `--config file.yaml`, then `--set key=value`.

Dicts appear only here, where YAML and `--set` are read; what comes out is the method's frozen dataclass. An
unknown key is an error with a "did you mean", and a value of the wrong type is an error naming the field. Values
are coerced by the field's type, so `1e-3` is a number for a float field although YAML 1.1 reads it as text.
A field that is a config of its own (the training settings `train` of the fine-tuning methods) is set by its
dotted keys, `--set train.learning_rate=1e-4`, or nested in YAML, `train: {learning_rate: 1e-4}`.
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


#: Method config keys that became run options: the hint a config that still sets one gets.
MOVED = {"load_in_4bit": "4-bit loading is a run option now, the same for every method: --quantize 4bit"}


def build_config(cls: type, *layers: dict[str, Any], where: str = "config") -> Any:
    """An instance of the dataclass `cls` from its defaults overlaid by `layers` (later layers win).

    A field that is itself a config dataclass (a method's `train`) takes its keys nested (`train: {epochs: 2}`) or
    dotted (`train.epochs=2`), each overlaid on that field's default. A config's own validation error (its
    `__post_init__`) comes back as one line starting with `where` and the dotted name of what it rejects.
    """
    values: dict[str, Any] = {}
    for layer in layers:
        values.update(flatten_config(layer))
    known = config_keys(cls)
    for key in values:
        if key in MOVED and key not in known:
            raise ConfigError(f"{where} key {key!r}: {MOVED[key]}")
        if key not in known:
            close = difflib.get_close_matches(key, list(known), n=3)
            hint = f"; did you mean {' or '.join(close)}?" if close else f"; known keys: {', '.join(known) or 'none'}"
            raise ConfigError(f"unknown {where} key {key!r}{hint}")
    return _build(cls, None, values, "", where)


def flatten_config(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"train": {"epochs": 2}, "k": 1}` -> `{"train.epochs": 2, "k": 1}`; dotted keys pass as they are.

    A nested config given as a dataclass instance is flattened too. What the leaderboard shows of a run's config
    and what `bench sweep --set` matches are these dotted keys.
    """
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = dataclasses.asdict(value)
        if isinstance(value, dict):
            out.update(flatten_config(value, f"{name}."))
        else:
            out[name] = value
    return out


def config_keys(cls: type) -> dict[str, Any]:
    """Every settable key of a config dataclass and its type, a nested config's fields dotted (`train.epochs`)."""
    hints = typing.get_type_hints(cls)
    keys: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if _is_config(hints[f.name]):
            keys.update({f"{f.name}.{k}": hint for k, hint in config_keys(hints[f.name]).items()})
        else:
            keys[f.name] = hints[f.name]
    return keys


def _is_config(hint: Any) -> bool:
    return isinstance(hint, type) and dataclasses.is_dataclass(hint)


def _default(f: dataclasses.Field) -> Any:
    return f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]


def _build(cls: type, base: Any, values: dict[str, Any], prefix: str, where: str) -> Any:
    """`cls` from `base` (None: its defaults) with the dotted `values` under `prefix` set, coerced by type."""
    hints = typing.get_type_hints(cls)
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        key, hint = prefix + f.name, hints[f.name]
        if _is_config(hint):
            if any(k.startswith(f"{key}.") for k in values):
                start = getattr(base, f.name) if base is not None else _default(f)
                changes[f.name] = _build(hint, start, values, f"{key}.", where)
        elif key in values:
            changes[f.name] = _coerce(key, values[key], hint)
    try:
        return cls(**changes) if base is None else dataclasses.replace(base, **changes)
    except ConfigError as e:  # the config's own check: it names its field, we name the config it sits in
        raise ConfigError(f"{where}: {prefix}{e}") from None


def config_help(cls: type) -> list[tuple[str, str, str, str]]:
    """(name, type, default, help) for every field of a config dataclass, as `bench methods NAME` shows them.

    A nested config's fields are listed dotted (`train.learning_rate`), as `--set` takes them.
    """
    return _help_rows(cls, None, "")


def _help_rows(cls: type, base: Any, prefix: str) -> list[tuple[str, str, str, str]]:
    """A nested config's fields come right after it, dotted, with the defaults the outer config gives them."""
    hints = typing.get_type_hints(cls)
    rows = []
    for f in dataclasses.fields(cls):
        default = getattr(base, f.name) if base is not None else _default(f)
        if _is_config(hints[f.name]):
            rows += _help_rows(hints[f.name], default, f"{prefix}{f.name}.")
        else:
            rows.append((prefix + f.name, type_name(hints[f.name]), repr(default), f.metadata.get("help", "")))
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
