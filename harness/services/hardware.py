"""The machine and software a run used, for its record: a wall-clock budget means something only on known hardware.

`describe()` is what the runner writes to `run.json` under `hardware` (and the leaderboard keys rows by its
`label`): the CPU model, the cores this process may use and the torch threads it runs with, memory, GPU names,
count and memory, the CUDA version, the OS, lampbench's git commit (and whether the tree had changes) and the
versions of every package that moves a score. Everything but the torch thread count is read once per process
and cached: reading files under /proc and .git costs well under a millisecond; the one subprocess (`git status`,
for `dirty`) is bounded by a short timeout.
"""

from __future__ import annotations

import copy
import functools
import os
import platform
import re
import subprocess
from pathlib import Path
from typing import Any

#: Distributions whose version can move a score: the ML stack, retrieval, scoring, numerics.
PACKAGES = (
    "lampbench", "torch", "transformers", "tokenizers", "accelerate", "peft", "sentence-transformers", "nltk",
    "rank-bm25", "rouge-score", "pyarrow", "numpy", "scipy", "scikit-learn", "pandas", "safetensors", "bitsandbytes",
    "flash-attn",
)  # fmt: skip

#: Where lampbench's source tree is (the checkout when installed editable; a wheel has no .git above it).
SOURCE = Path(__file__).resolve().parents[1]


def describe() -> dict[str, Any]:
    """The run's machine and software: `label`, cpu, cores, torch_threads, memory_gb, gpus, cuda, os, git, versions."""
    found = copy.deepcopy(_static())
    found["torch_threads"] = _torch_threads()
    return found


@functools.lru_cache(maxsize=1)
def _static() -> dict[str, Any]:
    cpu, sockets = cpu_model()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 0)
    gpus, cuda = _gpus()
    found = {
        "cpu": cpu, "sockets": sockets, "cores": cores, "memory_gb": memory_gb(), "gpus": gpus, "cuda": cuda,
        "os": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "git": git_state(SOURCE), "versions": versions(),
    }  # fmt: skip
    found["label"] = label(cpu, sockets, cores, gpus)
    return found


def label(cpu: str, sockets: int, cores: int, gpus: list[dict[str, Any]]) -> str:
    """A short human name for the machine, e.g. 'Intel Xeon Platinum 8480+ x2, 112 cores, 1x NVIDIA H100 80GB'.

    The core count is part of it: the same CPU model with 2 cores or 112 is not the same machine for a budget.
    """
    head = f"{short_cpu(cpu)}{f' x{sockets}' if sockets > 1 else ''}, {cores} cores"
    if not gpus:
        return f"{head}, no gpu"
    names: dict[str, int] = {}
    for gpu in gpus:
        names[gpu["name"]] = names.get(gpu["name"], 0) + 1
    return head + ", " + " + ".join(f"{n}x {name}" for name, n in names.items())


def short_cpu(model: str) -> str:
    """'Intel(R) Xeon(R) Platinum 8480+ CPU @ 2.00GHz' -> 'Intel Xeon Platinum 8480+'."""
    text = re.sub(r"\((R|TM|tm|r)\)", "", model)
    text = re.sub(r"\s+(CPU\s+)?@.*$", "", text)
    text = re.sub(r"\s+(\d+-Core\s+)?(CPU|Processor)$", "", text) or text
    return " ".join(text.split()) or "unknown cpu"


def cpu_model() -> tuple[str, int]:
    """The CPU's model name and its socket count (1 where the OS does not say)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return platform.processor() or platform.machine() or "unknown cpu", 1
    models = re.findall(r"^model name\s*:\s*(.+)$", text, flags=re.M)
    sockets = set(re.findall(r"^physical id\s*:\s*(\d+)$", text, flags=re.M))
    return (models[0].strip() if models else platform.processor() or platform.machine()), max(1, len(sockets))


def memory_gb() -> float | None:
    """Physical memory in GiB (None where the OS does not say)."""
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def _gpus() -> tuple[list[dict[str, Any]], str | None]:
    try:
        import torch
    except ImportError:
        return [], None
    if not torch.cuda.is_available():
        return [], torch.version.cuda
    gpus = []
    for i in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(i)
        gpus.append({"name": props.name, "memory_gb": round(props.total_memory / 2**30, 1)})
    return gpus, torch.version.cuda


def _torch_threads() -> int | None:
    try:
        import torch
    except ImportError:
        return None
    return torch.get_num_threads()


def git_state(root: Path) -> dict[str, Any] | None:
    """{commit, dirty} of the git checkout at `root`; None when it is not one (an installed wheel).

    The commit is read from .git's files (no subprocess); `dirty` asks `git status` for tracked changes, and is
    None when git is missing or slow.
    """
    git = root / ".git"
    if git.is_file():  # a worktree or submodule: ".git" names the real directory
        line = git.read_text(encoding="utf-8").strip()
        git = (root / line.removeprefix("gitdir:").strip()).resolve()
    if not (git / "HEAD").is_file():
        return None
    commit = _head_commit(git)
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=2, check=False,
        )  # fmt: skip
        dirty = bool(done.stdout.strip()) if done.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        dirty = None
    return {"commit": commit, "dirty": dirty}


def _head_commit(git: Path) -> str | None:
    head = (git / "HEAD").read_text(encoding="utf-8").strip()
    if not head.startswith("ref:"):
        return head or None
    ref = head.removeprefix("ref:").strip()
    common = git
    if (git / "commondir").is_file():  # worktrees keep refs in the main repository
        common = (git / (git / "commondir").read_text(encoding="utf-8").strip()).resolve()
    for base in (git, common):
        if (base / ref).is_file():
            return (base / ref).read_text(encoding="utf-8").strip()
    packed = common / "packed-refs"
    if packed.is_file():
        for line in packed.read_text(encoding="utf-8").splitlines():
            if line.endswith(" " + ref):
                return line.split()[0]
    return None


def versions() -> dict[str, str]:
    """Python, the platform and every installed distribution of `PACKAGES`, by name."""
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version(), "platform": platform.platform()}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found
