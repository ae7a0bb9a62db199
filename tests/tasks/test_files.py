"""One helper for atomic writes and one for the cache folder, used by every layer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lampbench.tasks.data import resolve_data_dir
from lampbench.tasks.files import cache_dir, replacing, write_json


def test_write_json_replaces_whole_and_leaves_no_temp(tmp_path):
    path = tmp_path / "a" / "run.json"
    write_json(path, {"x": 1})
    write_json(path, {"x": 2, "é": "ü"})
    assert json.loads(path.read_text(encoding="utf-8")) == {"x": 2, "é": "ü"}
    assert [p.name for p in path.parent.iterdir()] == ["run.json"]


def test_a_failed_write_keeps_the_old_file_and_removes_the_temp(tmp_path):
    path = tmp_path / "metrics.json"
    write_json(path, {"kept": True})
    with pytest.raises(RuntimeError), replacing(path) as tmp:
        tmp.write_text('{"half": ')
        raise RuntimeError("killed mid-write")
    assert json.loads(path.read_text()) == {"kept": True}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_a_folder_lands_whole_and_a_finished_one_is_kept(tmp_path):
    target = tmp_path / "model"
    with replacing(target) as tmp:
        tmp.mkdir()
        (tmp / "config.json").write_text("{}")
    assert (target / "config.json").exists()
    with replacing(target) as tmp:  # another process got there first: its folder stays
        tmp.mkdir()
        (tmp / "other.json").write_text("{}")
    assert sorted(p.name for p in target.iterdir()) == ["config.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_cache_folder_follows_lampbench_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LAMPBENCH_CACHE", str(tmp_path / "c"))
    monkeypatch.delenv("LAMPBENCH_DATA", raising=False)
    assert cache_dir() == tmp_path / "c"
    assert resolve_data_dir(None) == tmp_path / "c" / "data"  # LaMP files too, not only models
    monkeypatch.setenv("LAMPBENCH_DATA", str(tmp_path / "d"))
    assert resolve_data_dir(None) == tmp_path / "d"
    assert resolve_data_dir(Path("x")) == Path("x")
    monkeypatch.delenv("LAMPBENCH_CACHE")
    assert cache_dir().name == "lampbench"
