"""What a method's state costs: bytes to store it and the number of parameters in it.

A user state is whatever `personalize` returns. Its size is measured, not declared: tensors and arrays count
their buffer, strings their UTF-8 bytes, numbers 8 bytes, and containers (dicts, lists, tuples, dataclasses)
the sum of their contents. Parameters are the elements of floating-point tensors and arrays in it.
"""

from __future__ import annotations

import dataclasses
from typing import Any


def _walk(obj: Any, seen: set[int]):
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            yield from _walk(getattr(obj, f.name), seen)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from _walk(key, seen)
            yield from _walk(value, seen)
    elif isinstance(obj, list | tuple | set | frozenset):
        for item in obj:
            yield from _walk(item, seen)
    else:
        yield obj


def state_bytes(state: Any) -> int:
    """Bytes needed to store `state`."""
    total = 0
    for leaf in _walk(state, set()):
        if hasattr(leaf, "element_size") and hasattr(leaf, "numel"):  # torch.Tensor
            total += leaf.element_size() * leaf.numel()
        elif hasattr(leaf, "nbytes"):  # numpy array
            total += int(leaf.nbytes)
        elif isinstance(leaf, str):
            total += len(leaf.encode("utf-8"))
        elif isinstance(leaf, bytes):
            total += len(leaf)
        elif isinstance(leaf, bool | int | float):
            total += 8
    return total


def state_parameters(state: Any) -> int:
    """Floating-point tensor/array elements in `state` (its learnt parameters)."""
    total = 0
    for leaf in _walk(state, set()):
        if hasattr(leaf, "is_floating_point") and leaf.is_floating_point():
            total += leaf.numel()
        elif hasattr(leaf, "dtype") and hasattr(leaf, "size") and getattr(leaf.dtype, "kind", "") == "f":
            total += int(leaf.size)
    return total
