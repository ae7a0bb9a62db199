"""Which device a run computes on, settled before CUDA starts: one GPU per run, recorded as it was asked for.

`claim(asked)` turns `--device` into the device this process uses. A GPU is chosen through CUDA_VISIBLE_DEVICES,
set to that one GPU before the CUDA driver starts, so the process sees exactly one GPU, as `cuda:0`:

- the Trainer wraps a model in `nn.DataParallel` whenever `torch.cuda.device_count() > 1` and moves it to `cuda:0`
  at its first step, whatever `--device` said; with one GPU visible neither can happen;
- `cuda:N` counts the GPUs this process may see: those CUDA_VISIBLE_DEVICES lists when it is set (as Ray sets it
  for a task: there `cuda:0` is the GPU Ray gave the task and `cuda:1` an error), else every GPU of the machine;
- `cuda`, or no `--device`, with several GPUs visible takes the first and says so in the record's `note`.

The CUDA driver reads CUDA_VISIBLE_DEVICES once, when it starts (the first `torch.cuda` call that asks about
devices), so it is set before any of them; a process whose driver started earlier with several GPUs visible is
refused, with the variable to set. Every run of one process shares its GPU: asking for another is refused too.
The run's record keeps what was asked, what torch used and which GPU that is (`Claim.describe`), and its peak GPU
memory (`reset_peak_memory` at the start, `peak_memory` at the end).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lampbench.tasks.errors import ConfigError

__all__ = ["Claim", "check_device", "claim", "peak_memory", "reset_peak_memory"]

DEVICES = "cpu, cuda, cuda:N or mps"
_DEVICE = re.compile(r"(cpu|mps|cuda)(?::(\d+))?")
#: One folder per NVIDIA GPU of the machine, readable without starting the CUDA driver.
PROC_GPUS = Path("/proc/driver/nvidia/gpus")

#: This process's GPU once a run claimed one: {"visible": the GPUs visible before narrowing, "gpu": the one kept}.
_taken: dict[str, Any] = {}


def check_device(asked: str | None) -> None:
    """Refuse a `--device` that names no device (`cuda:x`, `gpu`, `cuda1`); nothing is imported or started.

    Raises:
        ConfigError: not cpu, cuda, cuda:N or mps.
    """
    if asked is None:
        return
    found = _DEVICE.fullmatch(asked)
    if found is None or (found.group(2) is not None and found.group(1) != "cuda"):
        raise ConfigError(f"--device {asked!r}: expected {DEVICES}")


@dataclass(frozen=True)
class Claim:
    """The device a run uses: `device` is torch's name for it in this process; `gpu` is that GPU as
    CUDA_VISIBLE_DEVICES names it (its index on the machine, or the id Ray gave); `note` says what was narrowed."""

    asked: str | None
    device: str
    gpu: str | None = None
    note: str | None = None

    def describe(self) -> dict[str, Any]:
        """What run.json's `device` says: asked, used, gpu, and the GPU's name and memory when it is one."""
        out: dict[str, Any] = {"asked": self.asked, "used": self.device}
        if self.device.startswith("cuda"):
            import torch

            props = torch.cuda.get_device_properties(self.device)
            out.update(gpu=self.gpu, name=props.name, memory_gb=round(props.total_memory / 2**30, 1))
        if self.note:
            out["note"] = self.note
        return out


def claim(asked: str | None, environ: MutableMapping[str, str] = os.environ) -> Claim:
    """The device for `--device asked` (None: a GPU when there is one, else the CPU), one GPU made visible.

    Raises:
        ConfigError: a device that does not exist here, a GPU ordinal past the visible ones, several GPUs left
            visible by a CUDA driver that started before this call, or a GPU other than the one this process uses.
    """
    check_device(asked)
    kind, _, ordinal = (asked or "").partition(":")
    if kind == "cpu":
        return Claim(asked, "cpu")
    if kind == "mps":
        import torch

        if not torch.backends.mps.is_available():
            raise ConfigError("--device mps: this machine has no Apple GPU (MPS) that torch can use")
        return Claim(asked, "mps")
    visible = _taken["visible"] if _taken else visible_gpus(environ)
    gpu, note = None, None
    if visible is not None:
        index = int(ordinal or 0)
        if index >= len(visible):
            if not visible and not kind:
                return Claim(asked, "cpu")
            raise ConfigError(f"--device {asked}: {_how_many(visible, environ)}")
        gpu = visible[index]
        if len(visible) > 1 and not ordinal:
            note = f"{len(visible)} GPUs visible: this run uses GPU {gpu} only (--device cuda:N picks another)"
        _narrow(gpu, visible, environ)
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        if kind:
            raise ConfigError(f"--device {asked}: torch sees no CUDA GPU (torch {torch.__version__})")
        return Claim(asked, "cpu")
    if visible is None and int(ordinal or 0) >= count:  # nothing said which GPUs there are: torch does
        raise ConfigError(f"--device {asked}: {_how_many([str(i) for i in range(count)], environ)}")
    if count > 1:
        raise ConfigError(
            f"{count} GPUs are visible and CUDA started before lampbench could keep one; a run uses one GPU: "
            "start it with CUDA_VISIBLE_DEVICES=<gpu>"
        )
    return Claim(asked, "cuda:0", gpu, note)


def visible_gpus(environ: MutableMapping[str, str] = os.environ) -> list[str] | None:
    """The GPUs this process may use, as CUDA_VISIBLE_DEVICES names them; None when neither it nor the driver's
    /proc listing says (then torch is asked, after the fact)."""
    listed = environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [part.strip() for part in listed.split(",") if part.strip()]
    try:
        return [str(i) for i in range(len(list(PROC_GPUS.iterdir())))]
    except OSError:
        return None


def _how_many(visible: list[str], environ: MutableMapping[str, str]) -> str:
    if not visible:
        return "no GPU is visible to this process"
    listed = environ.get("CUDA_VISIBLE_DEVICES")
    where = f" (CUDA_VISIBLE_DEVICES={listed})" if listed is not None and not _taken else ""
    return f"only {len(visible)} GPU(s) visible to this process{where}: cuda:0 to cuda:{len(visible) - 1}"


def _narrow(gpu: str, visible: list[str], environ: MutableMapping[str, str]) -> None:
    """Leave `gpu` the only visible GPU, or refuse when this process already runs on another one."""
    if _taken:
        if _taken["gpu"] != gpu:
            raise ConfigError(
                f"this process already computes on GPU {_taken['gpu']}; GPU {gpu} needs its own process "
                "(another bench run, or --executor ray)"
            )
        return
    environ["CUDA_VISIBLE_DEVICES"] = gpu
    _taken.update(visible=list(visible), gpu=gpu)


def reset_peak_memory() -> None:
    """Start counting peak GPU memory from now (a run's start); nothing when CUDA has not started."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        torch.cuda.reset_peak_memory_stats()


def peak_memory(device: str) -> int | None:
    """The most bytes torch held on `device` since `reset_peak_memory` (None off CUDA)."""
    if not device.startswith("cuda"):
        return None
    import torch

    return int(torch.cuda.max_memory_allocated(device))
