from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from lampbench.harness.run.method_config import ConfigError, build_config, config_help, parse_sets, read_yaml


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
