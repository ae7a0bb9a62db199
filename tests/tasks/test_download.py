"""The downloader against a local HTTP server on 127.0.0.1 (no test touches the network)."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from lampbench.tasks import download as dl
from lampbench.tasks.data import load_users, split_files
from lampbench.tasks.download import (
    BASE_URL,
    download,
    ensure_split,
    file_record,
    files_record,
    read_checksums,
    url_for,
)
from lampbench.tasks.specs import TASKS, DataError

LAMP3 = TASKS["lamp3"]
QUESTIONS = [{"id": "q1", "input": "review: good", "profile": [{"id": "p1", "text": "ok", "score": "4"}]}]
OUTPUTS = {"task": "LaMP_3", "golds": [{"id": "q1", "output": "5"}]}


class _Handler(SimpleHTTPRequestHandler):
    """Serves a folder, plus misbehaving routes: `/truncated/...`, `/htmltype/...`, and `/flaky/...` (the first
    two requests for a path get a 503 and a body cut short, the third the file)."""

    hits: Counter = Counter()

    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        type(self).hits[self.path] += 1
        if self.path.startswith("/flaky/"):
            hit = type(self).hits[self.path]
            if hit == 1:
                self.send_error(503, "Service Unavailable")
                return
            if hit == 2:
                self.path = "/truncated/" + self.path.removeprefix("/flaky/")
            else:
                self.path = "/" + self.path.removeprefix("/flaky/")
        if self.path.startswith("/truncated/"):
            # Promise 100 kB, send a few bytes, hang up: what a dropped connection looks like to the client.
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b'[{"id": "q1", "input": "rev')
            self.close_connection = True
            return
        if self.path.startswith("/htmltype/"):
            body = json.dumps(QUESTIONS).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    """Retries without the waits between them."""
    monkeypatch.setattr(dl, "BACKOFF_S", 0.0)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(base URL, served folder) of a server running in a thread."""
    _Handler.hits = Counter()
    served = tmp_path / "served"
    served.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(served)))
    # A short poll interval: shutdown() waits for one, and the default 0.5 s per test adds up.
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", served
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def _publish(served: Path, split: str = "dev", questions: object = QUESTIONS, outputs: object = OUTPUTS) -> None:
    """Put a split's files on the server where the official layout has them."""
    folder = served / "LaMP_3" / split
    folder.mkdir(parents=True, exist_ok=True)
    for kind, data in (("questions", questions), ("outputs", outputs)):
        if data is not None:
            text = data if isinstance(data, str) else json.dumps(data)
            (folder / f"{split}_{kind}.json").write_text(text, encoding="utf-8")


def _no_leftovers(root: Path) -> bool:
    return not list(root.rglob("*.part"))


def test_url_for():
    assert url_for(LAMP3, "dev", "questions") == f"{BASE_URL}/LaMP_3/dev/dev_questions.json"
    assert url_for(TASKS["lamp2"], "train", "outputs", time_split=True, base_url="http://x/") == (
        "http://x/time/LaMP_2/new/train/train_outputs.json"
    )
    with pytest.raises(ValueError, match="golds back"):
        url_for(LAMP3, "test", "outputs")
    with pytest.raises(ValueError, match="questions, outputs"):
        url_for(LAMP3, "dev", "golds")


def test_good_download_lands_at_the_official_path(server, tmp_path):
    base, served = server
    _publish(served)
    root = tmp_path / "data"
    paths = download(LAMP3, "dev", root, base_url=base, progress=False)
    assert paths == list(split_files(LAMP3, "dev", root))
    assert json.loads(paths[0].read_text()) == QUESTIONS
    assert _no_leftovers(root)
    assert load_users(LAMP3, *paths)[0].queries[0].gold == "5"


def test_test_split_has_only_questions(server, tmp_path):
    base, served = server
    _publish(served, "test", outputs=None)
    paths = download(LAMP3, "test", tmp_path / "data", base_url=base, progress=True)
    assert [p.name for p in paths] == ["test_questions.json"]


@pytest.mark.parametrize(
    "questions, expected",
    [
        ("\n  <html><body>Not found</body></html>", "HTML page"),
        (json.dumps(OUTPUTS), "does not start with '['"),
        ('[{"id": 1}, oops]', "not valid JSON"),
        ('[{"id": "q1", "input": "cut short', "does not end with ']': truncated?"),
    ],
)
def test_bad_body_is_rejected_and_nothing_is_left(server, tmp_path, questions, expected):
    base, served = server
    _publish(served, questions=questions)
    root = tmp_path / "data"
    with pytest.raises(DataError) as err:
        download(LAMP3, "dev", root, base_url=base, progress=False)
    assert expected in str(err.value)
    assert f"{base}/LaMP_3/dev/dev_questions.json" in str(err.value)
    assert not split_files(LAMP3, "dev", root)[0].exists()
    assert _no_leftovers(root)


def test_outputs_of_another_task_are_rejected(server, tmp_path):
    base, served = server
    _publish(served, outputs={"task": "LaMP_4", "golds": []})
    with pytest.raises(DataError, match="'LaMP_4', not 'LaMP_3'"):
        download(LAMP3, "dev", tmp_path / "data", base_url=base, progress=False)


def test_big_files_only_get_their_edges_checked(server, tmp_path, monkeypatch):
    base, served = server
    _publish(served, "test", questions="[1, 2, not json]", outputs=None)
    monkeypatch.setattr(dl, "FULL_CHECK_BYTES", 4)  # the loader, not the downloader, parses big files
    (path,) = download(LAMP3, "test", tmp_path / "data", base_url=base, progress=False)
    assert path.read_text() == "[1, 2, not json]"


def test_html_content_type_is_rejected(server, tmp_path):
    base, _ = server
    with pytest.raises(DataError, match="HTML page"):
        download(LAMP3, "test", tmp_path / "data", base_url=f"{base}/htmltype", progress=False)
    assert not list((tmp_path / "data").rglob("*.json*"))


def test_404_is_a_clear_error(server, tmp_path):
    base, _ = server
    with pytest.raises(DataError, match=r"/LaMP_3/dev/dev_questions\.json: HTTP 404") as err:
        download(LAMP3, "dev", tmp_path / "data", base_url=base, progress=False)
    assert "\n" not in str(err.value)


def test_connection_refused_is_a_clear_error(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DataError, match="cannot connect"):
        download(LAMP3, "dev", tmp_path / "data", base_url=f"http://127.0.0.1:{port}", progress=False)


def test_connection_dying_mid_stream_leaves_no_file(server, tmp_path):
    base, _ = server
    root = tmp_path / "data"
    with pytest.raises(DataError, match="closed after 27 of 100000 bytes"):
        download(LAMP3, "test", root, base_url=f"{base}/truncated", progress=False)
    assert not split_files(LAMP3, "test", root)[0].exists()
    assert _no_leftovers(root)


def test_present_files_are_skipped_unless_forced(server, tmp_path):
    base, served = server
    _publish(served)
    root = tmp_path / "data"
    questions, outputs = split_files(LAMP3, "dev", root)
    questions.parent.mkdir(parents=True)
    questions.write_text("kept")
    download(LAMP3, "dev", root, base_url=base, progress=False)
    assert questions.read_text() == "kept"  # skipped
    assert outputs is not None and json.loads(outputs.read_text()) == OUTPUTS  # the missing one was fetched
    download(LAMP3, "dev", root, base_url=base, progress=False, force=True)
    assert json.loads(questions.read_text()) == QUESTIONS


def test_ensure_split_without_download_says_how_to_get_the_data(tmp_path):
    root = tmp_path / "data"
    questions, outputs = split_files(LAMP3, "dev", root)
    with pytest.raises(DataError) as err:
        ensure_split(LAMP3, "dev", root, download_missing=False)
    message = str(err.value)
    assert "\n" not in message
    assert f"{BASE_URL}/LaMP_3/dev/dev_questions.json -> {questions}" in message
    assert f"{BASE_URL}/LaMP_3/dev/dev_outputs.json -> {outputs}" in message
    assert f"`bench data download lamp3 --split dev --data-dir {root}`" in message


def test_ensure_split_downloads_what_is_missing(server, tmp_path):
    base, served = server
    _publish(served)
    root = tmp_path / "data"
    paths = ensure_split(LAMP3, "dev", root, base_url=base, progress=False)
    assert paths == split_files(LAMP3, "dev", root)
    assert all(p is not None and p.exists() for p in paths)
    assert ensure_split(LAMP3, "dev", root, download_missing=False) == paths  # present: no download


def test_ensure_split_failed_download_says_how_to_get_the_data(server, tmp_path):
    base, _ = server
    with pytest.raises(DataError, match="HTTP 404.*bench data download lamp3 --split test"):
        ensure_split(LAMP3, "test", tmp_path / "data", base_url=base, progress=False)


def test_transient_errors_are_retried_and_the_file_lands_whole(server, tmp_path):
    base, served = server
    _publish(served)
    root = tmp_path / "data"
    questions, outputs = download(LAMP3, "dev", root, base_url=f"{base}/flaky", progress=False)
    assert json.loads(questions.read_text()) == QUESTIONS and _no_leftovers(root)
    assert _Handler.hits["/flaky/LaMP_3/dev/dev_questions.json"] == 3  # 503, cut short, then whole
    sums = read_checksums(root)
    body = (served / "LaMP_3" / "dev" / "dev_questions.json").read_bytes()
    assert sums["LaMP_3/dev/dev_questions.json"]["sha256"] == hashlib.sha256(body).hexdigest()
    assert sums["LaMP_3/dev/dev_questions.json"]["bytes"] == len(body)
    assert sums["LaMP_3/dev/dev_outputs.json"]["url"] == f"{base}/flaky/LaMP_3/dev/dev_outputs.json"


def test_retries_give_up_with_one_line(server, tmp_path, monkeypatch):
    base, _ = server
    monkeypatch.setattr(dl, "ATTEMPTS", 2)
    with pytest.raises(DataError, match="closed after 27 of 100000 bytes \\(gave up after 2 attempts\\)"):
        download(LAMP3, "test", tmp_path / "data", base_url=f"{base}/truncated", progress=False)
    assert _Handler.hits["/truncated/LaMP_3/test/test_questions.json"] == 2
    assert not (tmp_path / "data" / "checksums.json").exists()


def test_a_404_is_not_retried(server, tmp_path):
    base, _ = server
    with pytest.raises(DataError, match="HTTP 404"):
        download(LAMP3, "test", tmp_path / "data", base_url=base, progress=False)
    assert _Handler.hits["/LaMP_3/test/test_questions.json"] == 1


def test_an_interrupted_download_restarts_cleanly(server, tmp_path):
    base, served = server
    _publish(served)
    root = tmp_path / "data"
    questions, _ = split_files(LAMP3, "dev", root)
    questions.parent.mkdir(parents=True)
    questions.with_name(questions.name + ".part").write_text('[{"id": "q1", "inp')  # left by a killed run
    download(LAMP3, "dev", root, base_url=base, progress=False)
    assert json.loads(questions.read_text()) == QUESTIONS and _no_leftovers(root)


def test_file_record_says_whether_the_file_is_as_downloaded(server, tmp_path):
    base, served = server
    _publish(served)
    root = tmp_path / "data"
    questions, _ = download(LAMP3, "dev", root, base_url=base, progress=False)
    record = file_record(questions, root)
    assert record == {
        "path": str(questions), "bytes": questions.stat().st_size,
        "sha256": hashlib.sha256(questions.read_bytes()).hexdigest(), "as_downloaded": True,
    }  # fmt: skip
    questions.write_text(json.dumps(QUESTIONS * 2))
    assert file_record(questions, root)["as_downloaded"] is False
    other = tmp_path / "by-hand.json"
    other.write_text("[]")
    assert file_record(other, root)["as_downloaded"] is None and file_record(other)["bytes"] == 2
    records = files_record(LAMP3, ["dev", "train", "dev"], root)  # train is absent; dev counted once
    assert [Path(r["path"]).name for r in records] == ["dev_questions.json", "dev_outputs.json"]


def test_bench_data_info_shows_each_files_size_and_sha256(server, tmp_path):
    from typer.testing import CliRunner

    from lampbench.harness.entrypoints.cli import app

    base, served = server
    _publish(served)
    root = tmp_path / "data"
    questions, outputs = download(LAMP3, "dev", root, base_url=base, progress=False)
    result = CliRunner().invoke(app, ["data", "info", "lamp3", "--data-dir", str(root)])
    assert result.exit_code == 0, result.output
    for path in (questions, outputs):
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        assert f"{path.name}  {path.stat().st_size} B  sha256 {sha}  as downloaded" in result.output
    outputs.write_text(json.dumps({**OUTPUTS, "extra": 1}))
    changed = CliRunner().invoke(app, ["data", "info", "lamp3", "--data-dir", str(root)])
    assert "changed since download" in changed.output


def test_an_unchanged_download_is_not_read_again(server, tmp_path, monkeypatch):
    base, served = server
    _publish(served)
    root = tmp_path / "data"
    questions, _ = download(LAMP3, "dev", root, base_url=base, progress=False)
    expected = hashlib.sha256(questions.read_bytes()).hexdigest()
    monkeypatch.setattr(dl, "sha256_of", lambda path: pytest.fail("an unchanged file was hashed again"))
    assert file_record(questions, root)["sha256"] == expected
    monkeypatch.undo()
    os.utime(questions, ns=(1, 1))  # same size, touched: read again
    assert file_record(questions, root) | {"sha256": expected} == file_record(questions, root)


def test_each_run_records_the_data_files_it_read(server, tmp_path, cache):
    from typer.testing import CliRunner

    from lampbench.harness.entrypoints.cli import app

    base, served = server
    _publish(served)
    root = tmp_path / "data"
    questions, outputs = download(LAMP3, "dev", root, base_url=base, progress=False)
    out = tmp_path / "runs"
    result = CliRunner().invoke(app, [
        "run", "--method", "base", "--task", "lamp3", "--budget", "1m", "--data", "lamp", "--data-dir", str(root),
        "--model", "tiny-random", "--out", str(out), "--quiet",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    (record,) = [json.loads(p.read_text()) for p in out.glob("*/run.json")]
    sums = read_checksums(root)
    assert record["data_files"] == [
        {"path": str(p), "bytes": p.stat().st_size, "sha256": sums[f"LaMP_3/dev/{p.name}"]["sha256"],
         "as_downloaded": True}
        for p in (questions, outputs)
    ]  # fmt: skip
    synthetic = CliRunner().invoke(app, [
        "run", "--method", "base", "--task", "lamp3", "--budget", "1m", "--data", "synthetic", "--users", "2",
        "--model", "tiny-random", "--out", str(tmp_path / "syn"), "--quiet",
    ])  # fmt: skip
    assert synthetic.exit_code == 0, synthetic.output
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "syn").glob("*/run.json")]
    assert [Path(f["path"]).name for f in record["data_files"]] == ["dev_questions.json", "dev_outputs.json"]
    assert all(len(f["sha256"]) == 64 and f["as_downloaded"] is None for f in record["data_files"])


def test_concurrent_first_downloads_wait_for_one_another(server, tmp_path):
    """Issue 18: the split is fetched under a file lock, so runs started together share one download."""
    base, served = server
    _publish(served)
    root = tmp_path / "data"
    results: list[object] = []
    threads = [
        threading.Thread(target=lambda: results.append(download(LAMP3, "dev", root, base_url=base, progress=False)))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 3 and _Handler.hits["/LaMP_3/dev/dev_questions.json"] == 1
    assert _no_leftovers(root) and load_users(LAMP3, *split_files(LAMP3, "dev", root))
