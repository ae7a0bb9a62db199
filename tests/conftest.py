"""Shared fixtures: a tiny in-memory model and a small synthetic task. No test touches the network."""

from __future__ import annotations

import os

import pytest

# Set before anything imports huggingface_hub: a test that tried to download would fail instead of hanging.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"


@pytest.fixture(scope="session")
def tiny_backbone():
    """A randomly initialised two-layer Llama with a byte-level tokenizer, built in memory."""
    from lampbench.harness.services.backbone import Backbone
    from lampbench.harness.services.models import tiny_random

    model, tokenizer = tiny_random()
    return Backbone(model, tokenizer, name="tiny-random", batch_size=4)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private cache folder for synthetic data (models are not needed under it: tiny-random is in memory)."""
    monkeypatch.setenv("LAMPBENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"
