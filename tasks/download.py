"""The official LaMP downloader: stream each file to `<name>.part`, check it, then rename it into place.

The data is CC BY-NC-SA 4.0, so it is never shipped: it is fetched on the user's machine from the URLs in
``shared/LAMP.md`` into a folder laid out like those URLs (see `tasks.data.split_files`).
"""

from __future__ import annotations

import http.client
import json
import os
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from lampbench.tasks.data import SPLITS, resolve_data_dir, split_files
from lampbench.tasks.specs import DataError, TaskSpec

BASE_URL = "https://ciir.cs.umass.edu/downloads/LaMP"
KINDS = ("questions", "outputs")

#: Files up to this size are parsed in full after download; bigger ones get their edge bytes checked only.
FULL_CHECK_BYTES = 50 * 1024 * 1024
_CHUNK = 1024 * 1024
_TIMEOUT_S = 60


def url_for(
    task: TaskSpec, split: str, kind: str, *, time_split: bool = False, base_url: str = BASE_URL
) -> str:
    """The official URL of one file: `{base}/[time/]{task.path}/{split}/{split}_{kind}.json`.

    Raises:
        ValueError: unknown split or kind, or `outputs` of the test split (its golds are held back).
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
    if split == "test" and kind == "outputs":
        raise ValueError("the test split has no outputs file: LaMP holds its golds back")
    prefix = "time/" if time_split else ""
    return f"{base_url.rstrip('/')}/{prefix}{task.path}/{split}/{split}_{kind}.json"


def _edges(path: Path) -> tuple[bytes, bytes]:
    """The first and last non-whitespace bytes of a file (b"" when it is blank)."""
    with path.open("rb") as f:
        head = f.read(4096).lstrip()[:1]
        f.seek(0, os.SEEK_END)
        end = f.tell()
        f.seek(max(0, end - 4096))
        tail = f.read().rstrip()[-1:]
    return head, tail


def _check_body(task: TaskSpec, kind: str, path: Path) -> None:
    """Raise `ValueError` (with the reason) unless `path` holds a JSON file of the right kind."""
    head, tail = _edges(path)
    if head == b"<":
        raise ValueError(
            "the body looks like an HTML page, not JSON (a wrong URL answers 200 with an error page)"
        )
    opener, closer = (b"[", b"]") if kind == "questions" else (b"{", b"}")
    if head != opener:
        raise ValueError(f"the body does not start with {opener.decode()!r} as a {kind} file must")
    if tail != closer:
        raise ValueError(f"the body does not end with {closer.decode()!r}: truncated?")
    # Parsing a 400 MB file here would cost seconds and gigabytes of memory only to be redone by the loader,
    # which validates every entry anyway; for big files the edges catch HTML pages and truncation.
    if path.stat().st_size > FULL_CHECK_BYTES:
        return
    with path.open("rb") as f:
        try:
            data = json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"the body is not valid JSON ({e})") from None
    if kind == "questions" and not isinstance(data, list):
        raise ValueError("a questions file must be a JSON list")
    if kind == "outputs":
        if not isinstance(data, dict) or not isinstance(data.get("golds"), list):
            raise ValueError('an outputs file must be an object with a "golds" list')
        if data.get("task", task.lamp) != task.lamp:
            raise ValueError(f"the outputs are for task {data.get('task')!r}, not {task.lamp!r}")


def _fetch(url: str, final: Path, task: TaskSpec, kind: str, *, progress: bool, desc: str) -> None:
    """Stream `url` to `final.part`, check it, and rename it to `final`; on any failure remove the `.part`."""
    final.parent.mkdir(parents=True, exist_ok=True)
    part = final.with_name(final.name + ".part")
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "lampbench"})
        with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:
            if "text/html" in (response.headers.get("Content-Type") or "").lower():
                raise ValueError("the server sent an HTML page, not JSON (a wrong URL answers 200 with one)")
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            got = 0
            with (
                part.open("wb") as out,
                tqdm(
                    total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc, disable=not progress
                ) as bar,
            ):
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    got += len(chunk)
                    bar.update(len(chunk))
        # http.client returns b"" (no error) when the peer closes early, so the length is checked here.
        if total is not None and got != total:
            raise ValueError(f"the connection closed after {got} of {total} bytes")
        _check_body(task, kind, part)
        os.replace(part, final)
    except BaseException as e:
        part.unlink(missing_ok=True)
        if isinstance(e, urllib.error.HTTPError):
            raise DataError(f"{url}: HTTP {e.code} {e.reason}") from None
        if isinstance(e, urllib.error.URLError):
            raise DataError(f"{url}: cannot connect ({e.reason})") from None
        if isinstance(e, ValueError | OSError | http.client.HTTPException):
            raise DataError(f"{url}: {str(e) or type(e).__name__}") from None
        raise  # KeyboardInterrupt and friends: the .part is gone, let them through


def download(
    task: TaskSpec,
    split: str,
    root: Path,
    *,
    time_split: bool = False,
    force: bool = False,
    progress: bool = True,
    base_url: str = BASE_URL,
) -> list[Path]:
    """Download a split's official files (questions, and outputs except for `test`) under `root`.

    Files already present are kept unless `force`. A file lands under its final name only once it is complete
    and looks like JSON of the right kind; a failed download leaves nothing behind.

    Args:
        task: the task.
        split: train, dev or test.
        root: the data folder (see `tasks.data.resolve_data_dir`).
        time_split: fetch LaMP's time-based split (`.../LaMP/time/...`).
        force: download again even when the file exists.
        progress: show a progress bar on stderr.
        base_url: the server (tests point it at a local one).

    Returns:
        The paths of the split's files, downloaded or already there.

    Raises:
        DataError: one line with the URL and what went wrong.
    """
    questions, outputs = split_files(task, split, root, time_split=time_split)
    paths = [questions] if outputs is None else [questions, outputs]
    for kind, path in zip(KINDS, paths, strict=False):
        if path.exists() and not force:
            continue
        url = url_for(task, split, kind, time_split=time_split, base_url=base_url)
        _fetch(url, path, task, kind, progress=progress, desc=f"{task.name} {split} {kind}")
    return paths


def _how_to_get(
    task: TaskSpec, split: str, root: Path, missing: list[tuple[str, Path]], time_split: bool, base_url: str
) -> str:
    """One line telling the user exactly how to get the missing files."""
    fetch = "; ".join(
        f"{url_for(task, split, kind, time_split=time_split, base_url=base_url)} -> {path}"
        for kind, path in missing
    )
    command = f"bench data download {task.name} --split {split}"
    if time_split:
        command += " --time-split"
    if Path(root).expanduser().resolve() != resolve_data_dir(None).resolve():
        command += f" --data-dir {root}"
    return f"download {fetch}, or run `{command}`"


def ensure_split(
    task: TaskSpec,
    split: str,
    root: Path,
    *,
    time_split: bool = False,
    download_missing: bool = True,
    progress: bool = True,
    base_url: str = BASE_URL,
) -> tuple[Path, Path | None]:
    """The split's files (as `tasks.data.split_files`), downloading the missing ones first.

    Args:
        task: the task.
        split: train, dev or test.
        root: the data folder.
        time_split: LaMP's time-based split.
        download_missing: fetch missing files; when False a missing file is an error.
        progress: show a progress bar on stderr.
        base_url: the server (an extra over the brief's signature: tests and mirrors use it).

    Returns:
        `(questions, outputs)`; outputs is None for `test`.

    Raises:
        DataError: a file is missing and `download_missing` is False or the download failed; the one line
            gives the URLs, the paths to put them at and the `bench data download` command.
    """
    questions, outputs = split_files(task, split, root, time_split=time_split)
    missing = [
        (k, p) for k, p in zip(KINDS, (questions, outputs), strict=True) if p is not None and not p.exists()
    ]
    if not missing:
        return questions, outputs
    how = _how_to_get(task, split, root, missing, time_split, base_url)
    if not download_missing:
        raise DataError(f"{task.name} {split} data is missing: {how}")
    try:
        download(task, split, root, time_split=time_split, progress=progress, base_url=base_url)
    except DataError as e:
        raise DataError(f"{task.name} {split} data could not be downloaded ({e}): {how}") from None
    return questions, outputs
