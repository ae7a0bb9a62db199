"""What the leaderboard tests share: one results folder of fake runs per test module (`tests/fake_results.py`)."""

from __future__ import annotations

import pytest

from lampbench.tests.fake_results import write_results


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    write_results(root)
    return root
