"""LongLaMP's files on the Hugging Face hub: which parquet files hold a split, and how they become LaMP's files.

Where the files are (an assumption, stated): the dataset ``LongLaMP/LongLaMP`` keeps each config's parquet in a
folder named after it on ``main``, one or more shards per split, as `datasets`' ``push_to_hub`` lays them out
(``product_review_user/train-00000-of-00001.parquet``); shards under a split folder
(``<config>/<split>/0000.parquet``, the dataset viewer's conversion layout) are accepted too. The folder is listed
with the hub's tree API (``/api/datasets/<repo>/tree/main/<config>?recursive=true``), which gives each file's size
and, for files kept in LFS, its sha256: each shard is checked against both. `tasks/download.py` fetches the
listing and the shards (retries, ``.part`` files, checksums) and calls `convert`; this module only reads what it
was given.

`convert` writes LaMP's ``<split>_questions.json`` and ``<split>_outputs.json`` (`tasks/longlamp.py` says how ids
are made), streaming the rows shard by shard and row group by row group, so a split's profiles are never all in
memory at once.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lampbench.tasks.errors import DataError
from lampbench.tasks.files import replacing
from lampbench.tasks.longlamp import HUB_SPLITS, REPO, LongLaMPSpec

HUB_URL = "https://huggingface.co"
_PARQUET_MAGIC = b"PAR1"


def listing_url(task: LongLaMPSpec, time_split: bool, base_url: str = HUB_URL) -> str:
    """The hub's tree API URL listing the files of the task's config folder."""
    return f"{base_url.rstrip('/')}/api/datasets/{REPO}/tree/main/{task.hub_config(time_split)}?recursive=true"


def file_url(path: str, base_url: str = HUB_URL) -> str:
    """The download URL of a file of the dataset (`path` as the listing gives it)."""
    return f"{base_url.rstrip('/')}/datasets/{REPO}/resolve/main/{path}"


def page_url(task: LongLaMPSpec, time_split: bool, base_url: str = HUB_URL) -> str:
    """The page of the config's files, for a person."""
    return f"{base_url.rstrip('/')}/datasets/{REPO}/tree/main/{task.hub_config(time_split)}"


def check_listing(path: Path) -> None:
    """Raise `ValueError` unless `path` holds the tree API's answer: a JSON list of entries with a "path"."""
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"the file listing is not valid JSON ({e})") from None
    if not isinstance(entries, list) or not all(isinstance(e, dict) and "path" in e for e in entries):
        raise ValueError('the file listing is not a JSON list of entries with a "path"')


def shards(task: LongLaMPSpec, split: str, time_split: bool, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The listing's entries holding `split` (ours: `dev` is the hub's `val`), in shard order.

    Raises:
        DataError: no parquet file of that split in the listing (the line names what the folder holds).
    """
    config, hub_split = task.hub_config(time_split), HUB_SPLITS[split]
    pattern = re.compile(rf"^{re.escape(config)}/{re.escape(hub_split)}(?:-\d+-of-\d+|/[^/]+)\.parquet$")
    found = sorted((e for e in entries if pattern.match(str(e["path"]))), key=lambda e: str(e["path"]))
    if not found:
        names = ", ".join(sorted(str(e["path"]).rsplit("/", 1)[-1] for e in entries)[:8]) or "nothing"
        raise DataError(f"{REPO}: no parquet file of split {hub_split!r} in {config}/ (it holds: {names})")
    return found


def expected(entry: dict[str, Any]) -> tuple[int | None, str | None]:
    """(size, sha256) the listing promises for a file; None where it does not say (sha256: LFS files only)."""
    lfs = entry.get("lfs") if isinstance(entry.get("lfs"), dict) else {}
    size = lfs.get("size", entry.get("size"))
    return (size if isinstance(size, int) else None), (lfs.get("oid") if isinstance(lfs.get("oid"), str) else None)


def check_parquet(path: Path) -> None:
    """Raise `ValueError` unless `path` starts and ends with parquet's magic bytes (not a page, not cut short)."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(4)
        f.seek(max(0, size - 4))
        tail = f.read(4)
    if head != _PARQUET_MAGIC:
        raise ValueError("the body is not a parquet file (it does not start with PAR1)")
    if tail != _PARQUET_MAGIC:
        raise ValueError("the body does not end as a parquet file does: truncated?")


def _rows(paths: list[Path], task: LongLaMPSpec) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, row) of every row of the shards, in order, read a row group at a time."""
    import pyarrow.parquet as pq  # imported here: only a LongLaMP download reads parquet

    needed = ("input", "output", "profile", task.user_field)
    for path in paths:
        try:
            file = pq.ParquetFile(path)
        except Exception as e:  # pyarrow's errors have no common base: one line naming the file
            raise DataError(f"{path}: not a readable parquet file ({e})") from None
        missing = [c for c in needed if c not in file.schema_arrow.names]
        if missing:
            raise DataError(f"{path}: no column {', '.join(map(repr, missing))} ({task.name} needs "
                            f"{', '.join(needed)}; the file has {', '.join(file.schema_arrow.names)})")  # fmt: skip
        row = 0
        for batch in file.iter_batches(batch_size=256, columns=list(needed)):
            for values in batch.to_pylist():
                yield f"{path}: row {row}", values
                row += 1


def _item_id(item: dict[str, Any]) -> str:
    """A profile item's id: its own, else one made from its content (the same item, the same id)."""
    if item.get("id") not in (None, ""):
        return str(item["id"])
    blob = json.dumps(item, sort_keys=True, ensure_ascii=False, default=str)
    return "h" + hashlib.sha256(blob.encode()).hexdigest()[:16]


def convert(task: LongLaMPSpec, paths: list[Path], questions: Path, outputs: Path) -> int:
    """Write the rows of a split's shards as LaMP's questions and outputs files; returns the number of rows.

    A question's id is its row number in the split (shards in order), its ``user_id`` the row's user column,
    its profile the row's items, each with an ``id`` (`_item_id`). Both files appear only once complete.

    Raises:
        DataError: a shard that is not parquet, lacks a column, or has a row of the wrong shape (one line naming
            the file and the row).
    """
    golds = []
    with replacing(questions) as tmp, tmp.open("w", encoding="utf-8") as out:
        out.write("[")
        for n, (where, row) in enumerate(_rows(paths, task)):
            if not isinstance(row["input"], str) or not isinstance(row["output"], str):
                raise DataError(f"{where}: 'input' and 'output' must be strings")
            if not isinstance(row["profile"], list) or not all(isinstance(i, dict) for i in row["profile"]):
                raise DataError(f"{where}: 'profile' must be a list of items")
            if row[task.user_field] is None:
                raise DataError(f"{where}: no user id in column {task.user_field!r}")
            profile = [{"id": _item_id(it), **{k: v for k, v in it.items() if k != "id"}} for it in row["profile"]]
            user = str(row[task.user_field])
            question = {"id": str(n), "input": row["input"], "profile": profile, "user_id": user}
            out.write(("," if n else "") + json.dumps(question, ensure_ascii=False, default=str))
            golds.append({"id": str(n), "output": row["output"]})
        out.write("]\n")
    if not golds:
        questions.unlink()
        raise DataError(f"{paths[0]}: the split has no rows")
    with replacing(outputs) as tmp:
        tmp.write_text(json.dumps({"task": task.lamp, "golds": golds}, ensure_ascii=False) + "\n", encoding="utf-8")
    return len(golds)
