"""The official LaMP and LongLaMP downloader: stream each file to `<name>.part`, check it, then rename it into place.

The data is CC BY-NC-SA 4.0, so it is never shipped: it is fetched on the user's machine from the URLs in
``shared/LAMP.md`` into a folder laid out like those URLs (see `tasks.data.split_files`). Transient network
errors (a connection reset, a timeout, a body cut short, HTTP 429 and 5xx) are retried with exponential backoff
(a refused connection or an unknown host fails at once: the machine is offline), each attempt starting over
from an empty `.part`. Each downloaded file's size and sha256 are recorded in `<data-dir>/checksums.json`, so
`bench data info` and every run's record can say which data a result came from. A split is downloaded under a
file lock (`<split folder>/.download.lock`), so concurrent first runs wait for one download instead of racing on
one `.part`.

LongLaMP's splits come from the Hugging Face hub as parquet (`tasks/hub.py`: where, and how the rows become LaMP's
files): the config folder's listing, then the split's shards (checked against the sizes and sha256 the listing
gives), kept beside the LaMP-format files they are converted into.
"""

from __future__ import annotations

import functools
import hashlib
import http.client
import json
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

from lampbench.tasks import hub
from lampbench.tasks.data import SPLITS, resolve_data_dir, split_files
from lampbench.tasks.errors import DataError
from lampbench.tasks.files import write_json
from lampbench.tasks.longlamp import LongLaMPSpec
from lampbench.tasks.task import TaskSpec

log = logging.getLogger("lampbench")

BASE_URL = "https://ciir.cs.umass.edu/downloads/LaMP"
KINDS = ("questions", "outputs")
CHECKSUMS = "checksums.json"

#: Files up to this size are parsed in full after download; bigger ones get their edge bytes checked only.
FULL_CHECK_BYTES = 50 * 1024 * 1024
#: Attempts per file, and the wait before the second one (doubled after each failure: 2, 4, 8 s).
ATTEMPTS = 4
BACKOFF_S = 2.0
_CHUNK = 1024 * 1024
_TIMEOUT_S = 60


class _Transient(Exception):
    """A failure worth another attempt: the network, not the file."""


def url_for(task: TaskSpec, split: str, kind: str, *, time_split: bool = False, base_url: str = BASE_URL) -> str:
    """The official URL of one file: `{base}/[time/]{task.path}/{split}/{split}_{kind}.json`.

    Raises:
        ValueError: unknown split or kind, or `outputs` of the test split (its golds are held back).
    """
    if isinstance(task, LongLaMPSpec):
        raise ValueError(f"{task.name}'s files come from the hub's parquet, not LaMP's server (`tasks/hub.py`)")
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
        raise ValueError("the body looks like an HTML page, not JSON (a wrong URL answers 200 with an error page)")
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


def _attempt(url: str, part: Path, *, progress: bool, desc: str) -> str:
    """One try at streaming `url` into `part` (truncated first); returns the body's sha256.

    Raises:
        _Transient: a failure another attempt may not meet.
        DataError, ValueError: a failure it would (HTTP 404, an HTML page).
    """
    digest = hashlib.sha256()
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "lampbench"})
        with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:
            if "text/html" in (response.headers.get("Content-Type") or "").lower():
                raise ValueError("the server sent an HTML page, not the data (a wrong URL answers 200 with one)")
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            got = 0
            with (
                part.open("wb") as out,
                tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc, disable=not progress) as bar,
            ):
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    got += len(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as e:
        if e.code == 429 or e.code >= 500:
            raise _Transient(f"HTTP {e.code} {e.reason}") from None
        raise DataError(f"{url}: HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        # A refused connection or an unknown host is the machine being offline: said at once, not after retries.
        if isinstance(e.reason, TimeoutError | ConnectionResetError | ConnectionAbortedError):
            raise _Transient(f"cannot connect ({e.reason})") from None
        raise DataError(f"{url}: cannot connect ({e.reason})") from None
    except (TimeoutError, ConnectionResetError, ConnectionAbortedError, http.client.HTTPException) as e:
        raise _Transient(str(e) or type(e).__name__) from None
    # http.client returns b"" (no error) when the peer closes early, so the length is checked here.
    if total is not None and got != total:
        raise _Transient(f"the connection closed after {got} of {total} bytes")
    return digest.hexdigest()


def _fetch(
    url: str, final: Path, check: Callable[[Path], None], *, progress: bool, desc: str, sha256: str | None = None
) -> str:
    """Stream `url` to `final.part`, `check` it (and its sha256, when known), rename it to `final`; its sha256.

    Transient failures are retried (`ATTEMPTS`, backoff from `BACKOFF_S`); on any failure the `.part` goes.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    part = final.with_name(final.name + ".part")
    try:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                got = _attempt(url, part, progress=progress, desc=desc)
                break
            except _Transient as e:
                if attempt == ATTEMPTS:
                    raise DataError(f"{url}: {e} (gave up after {ATTEMPTS} attempts)") from None
                wait = BACKOFF_S * 2 ** (attempt - 1)
                log.warning("%s: %s; attempt %d of %d in %.0f s", url, e, attempt + 1, ATTEMPTS, wait)
                time.sleep(wait)
        check(part)
        if sha256 is not None and got != sha256:
            raise ValueError(f"sha256 {got[:12]}... differs from the {sha256[:12]}... the hub lists for it")
        os.replace(part, final)
        return got
    except BaseException as e:
        part.unlink(missing_ok=True)
        if isinstance(e, DataError):
            raise
        if isinstance(e, ValueError | OSError):
            raise DataError(f"{url}: {str(e) or type(e).__name__}") from None
        raise  # KeyboardInterrupt and friends: the .part is gone, let them through


def sha256_of(path: Path) -> str:
    """The sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _key(path: Path, root: Path) -> str:
    """A file's name in `checksums.json`: its path under the data folder, with forward slashes."""
    return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()


def read_checksums(root: Path) -> dict[str, dict[str, Any]]:
    """`<root>/checksums.json`: path under root -> {"bytes", "sha256", "url", "downloaded"}; {} when absent."""
    path = Path(root) / CHECKSUMS
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        log.warning("%s is not valid JSON; it will be rewritten", path)
        return {}
    return data if isinstance(data, dict) else {}


def _record_checksum(root: Path, path: Path, sha256: str, url: str, source: list[str] | None = None) -> None:
    """Record a file in `checksums.json`; `source`: the downloaded files it was made from (LongLaMP's parquet)."""
    from filelock import FileLock  # imported here: only a download needs it

    with FileLock(str(Path(root) / CHECKSUMS) + ".lock", timeout=60):
        sums = read_checksums(root)
        stat = path.stat()
        sums[_key(path, root)] = {
            "bytes": stat.st_size, "sha256": sha256, "url": url, "mtime_ns": stat.st_mtime_ns,
            "downloaded": datetime.now(UTC).isoformat(timespec="seconds"), **({"from": source} if source else {}),
        }  # fmt: skip
        write_json(Path(root) / CHECKSUMS, dict(sorted(sums.items())))


def file_record(path: Path, root: Path | None = None) -> dict[str, Any]:
    """What a run records about one data file: `{"path", "bytes", "sha256", "as_downloaded"}`.

    `as_downloaded` is True when the file still has the sha256 recorded at download in `root`'s
    `checksums.json`, False when it changed since, None when lampbench did not download it (synthetic data,
    files put there by hand) or `root` is not given. A file with the size and modification time recorded at
    download is not read again (real LaMP files run to gigabytes); any other is hashed.
    """
    path = Path(path)
    stat = path.stat()
    known = None
    if root is not None:
        try:
            known = read_checksums(root).get(_key(path, root))
        except ValueError:  # not under root
            known = None
    unchanged = known is not None and (known.get("bytes"), known.get("mtime_ns")) == (stat.st_size, stat.st_mtime_ns)
    sha256 = known["sha256"] if unchanged else sha256_of(path)
    return {
        "path": str(path), "bytes": stat.st_size, "sha256": sha256,
        "as_downloaded": None if known is None else known.get("sha256") == sha256,
    }  # fmt: skip


def download(
    task: TaskSpec,
    split: str,
    root: Path,
    *,
    time_split: bool = False,
    force: bool = False,
    progress: bool = True,
    base_url: str | None = None,
) -> list[Path]:
    """Download a split's official files (questions, and outputs except for LaMP's `test`) under `root`.

    Files already present are kept unless `force`. A file lands under its final name only once it is complete
    and looks like what it should be; a failed download leaves nothing behind. Transient network errors are
    retried with backoff. Each file's size and sha256 go to `<root>/checksums.json`. The split is downloaded
    under a file lock: a second process asking for it meanwhile waits, then finds the files there.

    Args:
        task: the task.
        split: train, dev or test.
        root: the data folder (see `tasks.data.resolve_data_dir`).
        time_split: LaMP's time-based split (`.../LaMP/time/...`), LongLaMP's temporal one.
        force: download again even when the file exists.
        progress: show a progress bar on stderr.
        base_url: the server (default: LaMP's, or the hub for LongLaMP; tests point it at a local one).

    Returns:
        The paths of the split's files, downloaded or already there.

    Raises:
        DataError: one line with the URL and what went wrong.
    """
    from filelock import FileLock  # imported here: only a download needs it

    questions, outputs = split_files(task, split, root, time_split=time_split)
    paths = [questions] if outputs is None else [questions, outputs]
    if all(p.exists() for p in paths) and not force:
        return paths
    questions.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(questions.parent / ".download.lock")):
        if isinstance(task, LongLaMPSpec):
            if force or not all(p.exists() for p in paths):
                _download_hub(task, split, root, paths, time_split, progress, base_url or hub.HUB_URL)
            return paths
        for kind, path in zip(KINDS, paths, strict=False):
            if path.exists() and not force:
                continue  # there already, or another process fetched it while this one waited
            url = url_for(task, split, kind, time_split=time_split, base_url=base_url or BASE_URL)
            check = functools.partial(_check_body, task, kind)
            sha256 = _fetch(url, path, check, progress=progress, desc=f"{task.name} {split} {kind}")
            _record_checksum(root, path, sha256, url)
    return paths


def _download_hub(
    task: LongLaMPSpec, split: str, root: Path, paths: list[Path], time_split: bool, progress: bool, base_url: str
) -> None:
    """A LongLaMP split: the config's listing, the split's shards (kept beside), then LaMP's files from them."""
    questions, outputs = paths
    listing_url = hub.listing_url(task, time_split, base_url)
    listing = questions.parent / ".listing.json"
    _fetch(listing_url, listing, hub.check_listing, progress=False, desc=f"{task.name} listing")
    try:
        entries = json.loads(listing.read_text(encoding="utf-8"))
    finally:
        listing.unlink(missing_ok=True)
    shards = []
    for entry in hub.shards(task, split, time_split, entries):
        name = str(entry["path"]).replace("/", "_").removeprefix(f"{task.hub_config(time_split)}_")
        path, url = questions.parent / name, hub.file_url(str(entry["path"]), base_url)
        size, sha256 = hub.expected(entry)

        def check(part: Path, size: int | None = size) -> None:
            if size is not None and part.stat().st_size != size:
                raise ValueError(f"{part.stat().st_size} bytes, not the {size} the hub lists")
            hub.check_parquet(part)

        got = _fetch(url, path, check, progress=progress, desc=f"{task.name} {split} {name}", sha256=sha256)
        _record_checksum(root, path, got, url)
        shards.append(path)
    hub.convert(task, shards, questions, outputs)
    keys = [_key(p, root) for p in shards]
    for path in paths:
        _record_checksum(root, path, sha256_of(path), hub.page_url(task, time_split, base_url), source=keys)


def files_record(task: TaskSpec, splits: list[str], root: Path, *, time_split: bool = False) -> list[dict[str, Any]]:
    """`file_record` of each file of `splits` found under `root`: what a run read, for its `run.json`."""
    records = []
    for split in dict.fromkeys(splits):
        for path in split_files(task, split, root, time_split=time_split):
            if path is not None and path.exists():
                records.append(file_record(path, root))
    return records


def _how_to_get(
    task: TaskSpec, split: str, root: Path, missing: list[tuple[str, Path]], time_split: bool, base_url: str | None
) -> str:
    """One line telling the user exactly how to get the missing files."""
    if isinstance(task, LongLaMPSpec):
        fetch = f"the parquet of split {split!r} from {hub.page_url(task, time_split, base_url or hub.HUB_URL)}"
    else:
        fetch = "; ".join(
            f"{url_for(task, split, kind, time_split=time_split, base_url=base_url or BASE_URL)} -> {path}"
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
    base_url: str | None = None,
) -> tuple[Path, Path | None]:
    """The split's files (as `tasks.data.split_files`), downloading the missing ones first.

    Args:
        task: the task.
        split: train, dev or test.
        root: the data folder.
        time_split: LaMP's time-based split.
        download_missing: fetch missing files; when False a missing file is an error.
        progress: show a progress bar on stderr.
        base_url: the server (default: the task's own; tests and mirrors set it).

    Returns:
        `(questions, outputs)`; outputs is None for LaMP's `test`.

    Raises:
        DataError: a file is missing and `download_missing` is False or the download failed; the one line
            gives the URLs, the paths to put them at and the `bench data download` command.
    """
    questions, outputs = split_files(task, split, root, time_split=time_split)
    missing = [(k, p) for k, p in zip(KINDS, (questions, outputs), strict=True) if p is not None and not p.exists()]
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
