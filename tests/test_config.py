from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from lampbench.harness.config import ConfigError, build_config, parse_sets, read_yaml


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
