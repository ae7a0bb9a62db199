"""What a collective stage learnt, saved to a run's folder and read back, so a resumed run need not redo `fit`.

Tensors go to safetensors files (no pickle: reading one back cannot run code), with a small JSON header in the
file's metadata for what is not a tensor (sharer ids, module order, whether anything was trained). A stage that
trained nothing is saved too, as a file with no tensors: a resumed run then answers as the first one did.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

_HEADER = "lampbench"


def save_tensors(folder: Path, name: str, tensors: dict[str, torch.Tensor], header: dict[str, Any]) -> Path:
    """Write `tensors` (CPU copies, contiguous) and the JSON-able `header` to `<folder>/<name>.safetensors`."""
    from safetensors.torch import save_file

    path = Path(folder) / f"{name}.safetensors"
    tmp = path.with_suffix(".tmp")
    data = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    save_file(data, str(tmp), metadata={_HEADER: json.dumps(header)})
    tmp.replace(path)  # a run killed while saving leaves no half-written file behind
    return path


def load_tensors(folder: Path, name: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """(tensors, header) from `<folder>/<name>.safetensors`; None when there is no such file or it is unreadable."""
    from safetensors import safe_open

    path = Path(folder) / f"{name}.safetensors"
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            header = json.loads((f.metadata() or {}).get(_HEADER, "{}"))
            return {k: f.get_tensor(k) for k in f.keys()}, header  # noqa: SIM118 - safe_open has no __iter__
    except (OSError, ValueError, json.JSONDecodeError):
        return None


def save_lora(folder: Path, name: str, state: dict[str, torch.Tensor] | None) -> bool:
    """Save a LoRA's weights (`Backbone.adapter_state`), or that there is none (`state` None)."""
    save_tensors(folder, name, state or {}, {"trained": state is not None})
    return True


def load_lora(folder: Path, name: str) -> tuple[bool, dict[str, torch.Tensor] | None]:
    """(found, weights): weights None when the saved stage trained nothing."""
    got = load_tensors(folder, name)
    if got is None:
        return False, None
    tensors, header = got
    return True, (tensors if header.get("trained") else None)
