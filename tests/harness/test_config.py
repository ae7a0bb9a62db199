from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

import pytest

from lampbench.harness.run.method_config import (
    ConfigError,
    build_config,
    config_help,
    config_keys,
    flatten_config,
    parse_sets,
    read_yaml,
)


@dataclass(frozen=True)
class Cfg:
    k: int = field(default=1, metadata={"help": "items"})
    mode: Literal["user", "group"] = "user"
    scale: float = 1.0
    unseen: bool = False
    layers: int | None = None
    name: str = "x"


def test_layers_override_in_order(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("k: 2\nmode: group\nscale: 3\n")
    cfg = build_config(Cfg, read_yaml(path), parse_sets(["k=4", "unseen=true", "layers=3", "name=abc"]))
    assert cfg == Cfg(k=4, mode="group", scale=3.0, unseen=True, layers=3, name="abc")


def test_unknown_key_suggests():
    with pytest.raises(ConfigError, match="unknown config key 'kk'; did you mean k"):
        build_config(Cfg, {"kk": 2})


@pytest.mark.parametrize(
    "sets, message",
    [
        (["k=two"], "must be an integer"),
        (["mode=both"], "must be one of user, group"),
        (["unseen=2"], "true or false"),
        (["k"], "not key=value"),
    ],
)
def test_bad_values(sets, message):
    with pytest.raises(ConfigError, match=message):
        build_config(Cfg, parse_sets(sets))


def test_yaml_errors(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        read_yaml(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        read_yaml(bad)


@dataclass(frozen=True)
class Train:
    learning_rate: float = field(default=1e-4, metadata={"help": "step size"})
    steps: int = 10
    layers: tuple[int, ...] = (0,)
    scales: tuple[float, ...] = ()
    merge: bool = False
    dropout: float | None = None


@pytest.mark.parametrize(
    "text, key, expected",
    [
        ("learning_rate=1e-3", "learning_rate", 1e-3),  # YAML 1.1 reads this as the string "1e-3"
        ("learning_rate=5e-5", "learning_rate", 5e-5),
        ("learning_rate=.5", "learning_rate", 0.5),
        ("learning_rate=2", "learning_rate", 2.0),
        ("learning_rate=-2E-4", "learning_rate", -2e-4),
        ("dropout=1e-1", "dropout", 0.1),
        ("steps=1e3", "steps", 1000),
        ("steps=1_000", "steps", 1000),
        ("layers=[0,1]", "layers", (0, 1)),
        ("layers=3", "layers", (3,)),
        ("scales=[1e-3, .5]", "scales", (1e-3, 0.5)),
        ("merge=true", "merge", True),
        ("merge=false", "merge", False),
    ],
)
def test_values_parse_as_researchers_write_them(text, key, expected):
    assert getattr(build_config(Train, parse_sets([text])), key) == expected


def test_yaml_file_numbers_in_e_notation(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("learning_rate: 3e-4\nsteps: 2e2\n")
    assert build_config(Train, read_yaml(path)) == Train(learning_rate=3e-4, steps=200)


@pytest.mark.parametrize("text, message", [("steps=1.5", "must be an integer"), ("learning_rate=fast", "a number")])
def test_numbers_that_are_not(text, message):
    with pytest.raises(ConfigError, match=message):
        build_config(Train, parse_sets([text]))


def test_config_help_has_name_type_default_help():
    rows = {row[0]: row for row in config_help(Train)}
    assert rows["learning_rate"] == ("learning_rate", "float", "0.0001", "step size")
    assert rows["layers"][1] == "tuple[int, ...]" and rows["dropout"][1] == "float | None"
    assert config_help(Cfg)[1][1] == "user | group"


@dataclass(frozen=True)
class Inner:
    learning_rate: float = field(default=1e-4, metadata={"help": "step size"})
    epochs: float = 2.0

    def __post_init__(self) -> None:
        if self.epochs < 0:
            raise ConfigError(f"epochs must be >= 0, got {self.epochs}")


@dataclass(frozen=True)
class Outer:
    train: Inner = field(default=Inner(epochs=3.0), metadata={"help": "training"})
    k: int = 1


def test_a_nested_config_takes_yaml_mappings_and_dotted_sets(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train: {learning_rate: 1e-3}\nk: 2\n")
    cfg = build_config(Outer, read_yaml(path), parse_sets(["train.learning_rate=5e-5"]))
    assert cfg == Outer(train=Inner(learning_rate=5e-5, epochs=3.0), k=2)  # the outer default's epochs kept
    assert build_config(Outer, {"train": {"epochs": 1}}, {"train": {"learning_rate": 1}}).train == Inner(1.0, 1.0)
    resolved = build_config(Outer, {"train.epochs": 4})
    assert build_config(Outer, dataclasses.asdict(resolved)) == resolved  # a run's config.json round-trips


def test_a_nested_key_is_checked_and_suggested():
    with pytest.raises(ConfigError, match="unknown config key 'train.learnig_rate'; did you mean train.learning_rate"):
        build_config(Outer, parse_sets(["train.learnig_rate=1e-3"]))
    with pytest.raises(ConfigError, match="did you mean train.learning_rate"):
        build_config(Outer, {"learning_rate": 1e-3})
    with pytest.raises(ConfigError, match=r"^train.epochs='x': must be a number$"):
        build_config(Outer, {"train": {"epochs": "x"}})
    with pytest.raises(ConfigError, match=r"^oppu config: train.epochs must be >= 0, got -1.0$"):
        build_config(Outer, {"train.epochs": -1}, where="oppu config")


def test_config_help_lists_nested_fields_dotted_with_the_outer_defaults():
    rows = {row[0]: row for row in config_help(Outer)}
    assert list(rows) == ["train.learning_rate", "train.epochs", "k"]
    assert rows["train.epochs"] == ("train.epochs", "float", "3.0", "")
    assert rows["train.learning_rate"][3] == "step size"
    assert config_keys(Outer) == {"train.learning_rate": float, "train.epochs": float, "k": int}
    assert flatten_config({"train": {"epochs": 1}, "k": 2}) == {"train.epochs": 1, "k": 2}
