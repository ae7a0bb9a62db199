"""The machine in every record: `harness.hardware.describe()` says what a budget was spent on."""

from __future__ import annotations

import json
import time

from lampbench.harness.services import hardware


def test_describe_names_the_machine_and_software():
    found = hardware.describe()
    json.dumps(found)  # goes into run.json as is
    assert found["cores"] >= 1 and found["torch_threads"] >= 1
    assert found["label"].endswith("no gpu") or found["gpus"]
    assert f"{found['cores']} cores" in found["label"]
    for name in ("python", "torch", "transformers", "numpy", "scipy", "scikit-learn", "rouge-score", "rank-bm25"):
        assert name in found["versions"], name
    assert found["git"] is None or len(found["git"]["commit"]) == 40


def test_describe_is_cached_and_fast():
    hardware.describe()
    t = time.perf_counter()
    for _ in range(10):
        found = hardware.describe()
    assert time.perf_counter() - t < 0.05
    found["versions"]["torch"] = "changed"
    assert hardware.describe()["versions"]["torch"] != "changed"  # callers get a copy


def test_labels_are_short_and_count_devices():
    assert hardware.short_cpu("Intel(R) Xeon(R) Platinum 8480+ CPU @ 2.00GHz") == "Intel Xeon Platinum 8480+"
    assert hardware.short_cpu("AMD EPYC 7763 64-Core Processor") == "AMD EPYC 7763"
    gpus = [{"name": "NVIDIA H100 80GB HBM3", "memory_gb": 79.1}] * 2
    assert hardware.label("Intel(R) Xeon(R) Platinum 8480+", 2, 112, gpus) == (
        "Intel Xeon Platinum 8480+ x2, 112 cores, 2x NVIDIA H100 80GB HBM3"
    )
    assert hardware.label("Apple M2", 1, 8, []) == "Apple M2, 8 cores, no gpu"


def test_git_state_outside_a_checkout(tmp_path):
    assert hardware.git_state(tmp_path) is None
    (tmp_path / ".git" / "refs" / "heads").mkdir(parents=True)
    (tmp_path / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (tmp_path / ".git" / "packed-refs").write_text("# pack-refs\n" + "a" * 40 + " refs/heads/main\n")
    assert hardware.git_state(tmp_path)["commit"] == "a" * 40
