"""The GPU check runs end to end in its CPU smoke mode: every stage, its table and its JSON."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "cuda_check.py"


def test_cuda_check_smoke_mode(cache, tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("cuda_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "check"
    report = module.main(["--device", "cpu", "--dtype", "float32", "--methods", "base,no-such.module:Thing",
                          "--users", "1", "--big", "tiny-random", "--batches", "1,2", "--tokens", "4",
                          "--out", str(out)])  # fmt: skip
    assert json.loads((out / "cuda_check.json").read_text()) == json.loads(json.dumps(report, default=str))
    (base,) = report["methods"]
    assert base["status"] == "ok" and base["agreed_with_batch1"] == base["answers"] == 1  # fp32: equal answers
    assert base["peak_gpu_memory_bytes"] is None and report["device"] == {"asked": "cpu", "used": "cpu"}
    assert "no-such.module:Thing" in report["skipped"]
    assert [(r["batch"], r["tokens"]) for r in report["throughput"]] == [(1, 32), (2, 32)]  # 8 prompts x 4 tokens
    assert "base" in capsys.readouterr().out
