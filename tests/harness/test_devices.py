"""One GPU per run, picked before CUDA starts: `--device cuda:N` as CUDA_VISIBLE_DEVICES, several GPUs refused.

No GPU here: the logic is pinned with torch.cuda's answers and the environment replaced, the way a machine with
GPUs would answer them once CUDA_VISIBLE_DEVICES is set.
"""

from __future__ import annotations

import json

import pytest
import torch

from lampbench.harness.services import devices
from lampbench.tasks.errors import ConfigError


class FakeCuda:
    """torch.cuda as the driver would answer: the GPUs CUDA_VISIBLE_DEVICES leaves of `machine` (read once, when
    the driver starts: `started` fixes the count, as a real driver does)."""

    def __init__(self, machine: int, environ: dict, started: bool = False):
        self.machine, self.environ, self.count = machine, environ, None
        if started:
            self.device_count()

    def device_count(self) -> int:
        if self.count is None:
            listed = self.environ.get("CUDA_VISIBLE_DEVICES")
            self.count = self.machine if listed is None else len([p for p in listed.split(",") if p.strip()])
        return self.count


@pytest.fixture
def gpus(monkeypatch, tmp_path):
    """`gpus(n, env, started)`: a machine with n GPUs (its /proc listing too); returns the environment."""
    monkeypatch.setattr(devices, "_taken", {})

    def machine(n: int, environ: dict | None = None, started: bool = False) -> dict:
        environ = {} if environ is None else environ
        proc = tmp_path / f"gpus{n}"
        proc.mkdir(exist_ok=True)
        for i in range(n):
            (proc / f"0000:{i:02x}:00.0").mkdir(exist_ok=True)
        monkeypatch.setattr(devices, "PROC_GPUS", proc)
        fake = FakeCuda(n, environ, started)
        monkeypatch.setattr(torch.cuda, "is_available", lambda: fake.device_count() > 0)
        monkeypatch.setattr(torch.cuda, "device_count", fake.device_count)
        return environ

    return machine


def test_cuda_n_becomes_the_only_visible_gpu(gpus):
    env = gpus(4)
    found = devices.claim("cuda:2", env)
    assert env["CUDA_VISIBLE_DEVICES"] == "2"
    assert (found.device, found.gpu, found.asked, found.note) == ("cuda:0", "2", "cuda:2", None)
    assert torch.cuda.device_count() == 1  # so the Trainer never wraps the model in DataParallel


def test_ordinals_count_the_gpus_already_visible(gpus):
    env = gpus(8, {"CUDA_VISIBLE_DEVICES": "5,7"})
    assert devices.claim("cuda:1", env).gpu == "7" and env["CUDA_VISIBLE_DEVICES"] == "7"


def test_under_ray_only_cuda_0_exists(gpus):
    env = gpus(8, {"CUDA_VISIBLE_DEVICES": "3"})
    with pytest.raises(ConfigError, match=r"cuda:1: only 1 GPU\(s\) visible .*CUDA_VISIBLE_DEVICES=3"):
        devices.claim("cuda:1", env)
    assert devices.claim("cuda", env).gpu == "3"


def test_several_gpus_are_narrowed_to_the_first_and_it_says_so(gpus):
    env = gpus(2)
    found = devices.claim(None, env)
    assert found.device == "cuda:0" and env["CUDA_VISIBLE_DEVICES"] == "0"
    assert "2 GPUs visible: this run uses GPU 0 only" in found.note


def test_a_driver_started_with_several_gpus_is_refused(gpus):
    env = gpus(2, started=True)
    with pytest.raises(ConfigError, match="2 GPUs are visible and CUDA started before"):
        devices.claim("cuda:1", env)


def test_one_process_keeps_its_gpu(gpus):
    env = gpus(4)
    assert devices.claim("cuda:1", env).gpu == "1"
    assert devices.claim("cuda:1", env).gpu == "1"  # the same run's second look, or the next run on that GPU
    with pytest.raises(ConfigError, match="already computes on GPU 1; GPU 3 needs its own process"):
        devices.claim("cuda:3", env)


def test_no_gpu(gpus):
    env = gpus(0)
    assert devices.claim(None, env).device == "cpu"
    with pytest.raises(ConfigError, match="no GPU is visible"):
        devices.claim("cuda", env)
    assert devices.claim("cpu", env).describe() == {"asked": "cpu", "used": "cpu"}


@pytest.mark.parametrize("bad", ["gpu", "cuda1", "cuda:x", "cpu:0", "CUDA", ""])
def test_a_device_that_names_nothing_is_refused_without_torch(bad):
    with pytest.raises(ConfigError, match="expected cpu, cuda, cuda:N or mps"):
        devices.check_device(bad)


def test_peak_memory_is_none_off_cuda():
    devices.reset_peak_memory()
    assert devices.peak_memory("cpu") is None


def test_bad_device_and_missing_model_are_one_line_without_a_run_folder(cache, tmp_path):
    from typer.testing import CliRunner

    from lampbench.harness.entrypoints.cli import app

    base = ["run", "--method", "base", "--task", "lamp3", "--data", "synthetic", "--users", "2", "--quiet"]
    cases = [
        (["--model", "tiny-random", "--device", "cuda:x"], "--device 'cuda:x': expected cpu, cuda, cuda:N or mps"),
        (["--model", "tiny-random", "--device", "cuda:3"], "--device cuda:3:"),
        (["--model", str(tmp_path / "no-such-model")], "no such folder"),
        (["--model", "random:llama-2-8b"], "no such random shape; did you mean random:llama-3-8b or random:llama-2-7b"),
        (["--model", "tiny-random", "--quantize", "4bit", "--device", "cpu"], "--quantize 4bit needs a CUDA device"),
        (["--model", "tiny-random", "--set", "load_in_4bit=true", "--method", "lora-c"], "--quantize 4bit"),
    ]
    for i, (args, message) in enumerate(cases):
        out = tmp_path / f"runs{i}"
        result = CliRunner().invoke(app, [*base, *args, "--out", str(out)])
        assert result.exit_code == 2, (args, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], (args, lines)
        assert not out.exists() or not any(out.iterdir()), args


def test_run_json_records_the_device_and_the_batch1_check(cache, tmp_path):
    from typer.testing import CliRunner

    from lampbench.harness.entrypoints.cli import app

    out = tmp_path / "runs"
    args = [
        "run",
        "--method",
        "base",
        "--task",
        "lamp3",
        "--data",
        "synthetic",
        "--users",
        "3",
        "--quiet",
        "--model",
        "tiny-random",
        "--device",
        "cpu",
        "--dtype",
        "bfloat16",
        "--batch-size",
        "4",
        "--out",
        str(out),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (record,) = [json.loads(p.read_text()) for p in out.glob("*/run.json")]
    assert record["device"] == {"asked": "cpu", "used": "cpu"} and "peak_gpu_memory_bytes" not in record
    assert record["dtype"] == "bfloat16" and record["batch1"]["sample"] == 3 and record["batch1"]["batch_size"] == 3
    assert 0 <= record["batch1"]["agreed"] <= 3


def test_without_a_gpu_listing_torch_counts(gpus, monkeypatch, tmp_path):
    env = gpus(1)
    monkeypatch.setattr(devices, "PROC_GPUS", tmp_path / "absent")  # no /proc listing (WSL, some containers)
    with pytest.raises(ConfigError, match="cuda:1: only 1 GPU"):
        devices.claim("cuda:1", env)
    assert devices.claim("cuda:0", env).device == "cuda:0" and "CUDA_VISIBLE_DEVICES" not in env
