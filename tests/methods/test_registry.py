from __future__ import annotations

import pytest

from lampbench.methods.baseline.method import Base
from lampbench.methods.contract import Method
from lampbench.methods.registry import Registry, UnknownMethod


def test_builtins_come_from_entry_points_of_lampbench():
    entries = Registry().entries()
    assert entries["base"].origin == "lampbench" and entries["rag"].target == "lampbench.methods.rag:Rag"
    assert Registry().get("base") is Base


def test_typo_says_did_you_mean():
    with pytest.raises(UnknownMethod, match="did you mean rag"):
        Registry().get("rga")


def test_module_class_path_for_uninstalled_methods():
    assert Registry().get("lampbench.methods.baseline:Base") is Base
    with pytest.raises(UnknownMethod, match="cannot import module"):
        Registry().get("no_such_pkg.mod:Thing")
    with pytest.raises(UnknownMethod, match="has no attribute"):
        Registry().get("lampbench.methods.baseline:Nope")
    with pytest.raises(UnknownMethod, match="not a lampbench Method"):
        Registry().get("lampbench.methods.baseline.method:BaseConfig")


def test_decorator_refuses_duplicates_and_non_methods():
    registry = Registry(group="lampbench.no-such-group")

    @registry.register("mine")
    class Mine(Base):
        pass

    registry.register("mine")(Mine)  # the same class again is harmless
    assert registry.get("mine") is Mine and registry.entries()["mine"].origin == "(registered in code)"
    with pytest.raises(ValueError, match="already registered"):
        registry.register("mine")(type("Other", (Base,), {}))
    with pytest.raises(TypeError, match="not a lampbench Method"):
        registry.register("thing")(dict)
    assert issubclass(Mine, Method)
