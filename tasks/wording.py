"""Small pieces of the one-line messages that `tasks/` writes: a value shortened, a count with its noun and verb."""

from __future__ import annotations

from typing import Any


def short(value: Any, width: int = 60) -> str:
    """A repr for messages: one line, at most `width` characters."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def counted(count: int, noun: str) -> tuple[str, str]:
    """("1 prediction", "is") or ("3 predictions", "are"): subject and verb for a note."""
    return (f"1 {noun}", "is") if count == 1 else (f"{count} {noun}s", "are")
