"""Files every layer writes: atomic replacement (temp path beside the target, then rename) and the cache folder.

Standard library and `platformdirs` only, so `tasks/` can use it without pulling in the rest of the harness.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def cache_dir() -> Path:
    """`$LAMPBENCH_CACHE`, else the user cache directory of lampbench (models, synthetic data, LaMP files)."""
    env = os.environ.get("LAMPBENCH_CACHE", "").strip()
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("lampbench"))


@contextmanager
def replacing(target: Path, *, suffix: str = ".tmp") -> Iterator[Path]:
    """A fresh temp path beside `target` (same file system), renamed onto `target` when the block succeeds.

    Whatever the block writes there (a file or a folder) appears under the final name all at once, so a crash,
    a kill or a concurrent reader never sees half of it. On an error the temp path is removed. A folder whose
    target already exists (another process finished first) is kept as it is and the temp one dropped.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=suffix)
    os.close(fd)
    tmp = Path(name)
    tmp.unlink()  # the block decides whether it is a file or a folder
    try:
        yield tmp
        try:
            os.replace(tmp, target)
        except OSError:
            if not (tmp.is_dir() and target.is_dir()):
                raise
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    """Write a text file atomically (UTF-8)."""
    with replacing(Path(path)) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: Path, data: Any, *, indent: int | None = 2, ensure_ascii: bool = False) -> None:
    """Write JSON atomically, so a reader never sees half a file."""
    write_text(path, json.dumps(data, indent=indent, ensure_ascii=ensure_ascii, default=str) + "\n")
