"""The LongLaMP tasks: registered like LaMP's, their synthetic users, every method on them, and their downloads.

Downloads run against a local HTTP server (127.0.0.1) that answers like the hub: the tree API's JSON listing of a
config folder and parquet shards made here with pyarrow. No test touches the network.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lampbench.harness.entrypoints.cli import app
from lampbench.methods.registry import METHODS
from lampbench.tasks import download as dl
from lampbench.tasks import meteor
from lampbench.tasks.data import load_users, split_files
from lampbench.tasks.download import download, ensure_split, read_checksums
from lampbench.tasks.errors import ConfigError
from lampbench.tasks.longlamp import LONGLAMP_TASKS, REPO
from lampbench.tasks.specs import TASKS, DataError
from lampbench.tasks.synthetic import write_synthetic
from lampbench.tests.methods.fast import FAST

REVIEW = TASKS["longlamp-review"]
NAMES = ["longlamp-abstract", "longlamp-review", "longlamp-topic"]


def bench(*args: str):
    return CliRunner().invoke(app, list(args))


# ---------------------------------------------------------------- the tasks


def test_bench_tasks_lists_the_longlamp_tasks():
    out = bench("tasks").output
    assert all(name in out for name in NAMES) and "rouge-1, rouge-L, meteor" in out
    detail = bench("tasks", "longlamp-review").output
    assert "generation: at most 512 new tokens" in detail and "reviewText" in detail
    assert [t.name for t in LONGLAMP_TASKS] == NAMES and all(t.kind == "generation" for t in LONGLAMP_TASKS)


def test_prompts_are_longlamps_own():
    from lampbench.tasks.prompts import rag_prompt

    def count(text: str) -> int:
        return len(text.split())

    def truncate(text: str, n: int) -> str:
        return " ".join(text.split()[:n])

    item = {"id": "1", "overall": 5.0, "summary": "Great", "description": "A mug", "reviewText": "Loved it a lot"}
    prompt = rag_prompt(REVIEW, "Generate the review text.", [item], 200, count, truncate)
    assert prompt == (
        'Below are a list of review texts by the reviewer:, and "Loved it a lot". Use the above list of review texts '
        "by the reviewer as context to understand the writing style and language of the reviewer and, Generate the "
        "review text."
    )
    abstract = TASKS["longlamp-abstract"]
    assert abstract.query('Generate an abstract for the title "T" using the following items: 1. a 2. b') == "1. a 2. b"
    paper = {"id": "p", "title": "T", "abstract": "We do x."}
    assert rag_prompt(abstract, "Q", [paper], 200, count, truncate) == (
        '"We do x." is the abstract for the title "T". Use the above abstracts as context to understand the style '
        "and language of the user and, Q"
    )


@pytest.mark.parametrize(
    "raw, answer, how",
    [
        ("We study X.\n\nWe find Y.", "We study X.\n\nWe find Y.", "exact"),  # every paragraph is kept
        (
            "Sure! Here is the abstract:\n\n**Abstract:** We study X.\nWe find Y.",
            "We study X.\nWe find Y.",
            "extracted",
        ),
        ('The review text is: "Loved it. Would buy', "Loved it. Would buy", "extracted"),  # cut at the length limit
        ('"A great mug."', "A great mug.", "extracted"),
        ('He said "wow" twice.', 'He said "wow" twice.', "exact"),
        ("  \n ", "", "unparsed"),
    ],
)
def test_long_answers_are_read_whole(raw, answer, how):
    parsed = REVIEW.parse(raw)
    assert (parsed.answer, parsed.how, parsed.ok) == (answer, how, how != "unparsed")


@pytest.mark.parametrize("name", NAMES)
def test_synthetic_users_carry_their_style_in_history_and_gold(name, tmp_path):
    task = TASKS[name]
    questions, outputs = write_synthetic(task, tmp_path, split="test", n_users=20)
    assert outputs is not None and split_files(task, "test", tmp_path) == (questions, outputs)  # public test golds
    users = load_users(task, questions, outputs)
    hits = 0
    for user in users:
        texts = [str(item[task.profile_target]) for item in user.profile]
        opener = Counter(" ".join(t.split()[:2]) for t in texts).most_common(1)[0][0]
        hits += user.queries[0].gold.startswith(opener)  # the user's habitual opening, read off the history
        assert len(user.queries[0].gold.split()) >= 15  # long-form
    assert hits >= 14  # in character 90% of the time, so nearly every gold opens the user's way


@pytest.fixture
def tiny_longlamp(monkeypatch):
    """Short generations for tiny-random: the tasks as registered, with 8 new tokens."""
    import dataclasses

    for task in LONGLAMP_TASKS:
        monkeypatch.setitem(TASKS, task.name, dataclasses.replace(task, max_new_tokens=8))


@pytest.mark.parametrize("method", sorted(METHODS.entries()))
def test_every_method_runs_on_a_longlamp_task(method, cache, tmp_path, tiny_longlamp):
    task = NAMES[sorted(METHODS.entries()).index(method) % 3]  # each task taken by a third of the methods
    config = tmp_path / "fast.json"
    config.write_text(json.dumps(FAST.get(method, {})))
    result = bench(
        "run", "--method", method, "--task", task, "--budget", "10s", "--data", "synthetic", "--users", "2",
        "--train-users", "3", "--model", "tiny-random", "--max-prompt-tokens", "256", "--config", str(config),
        "--out", str(tmp_path / "runs"), "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*/run.json")]
    assert record["status"] in ("ok", "over_budget") and record["task"] == task
    assert {"rouge-1", "rouge-L", "meteor", "meteor_ci_low"} <= set(record["metrics"])


def test_max_new_tokens_caps_every_answer(cache, tmp_path, tiny_backbone):
    result = bench(
        "run", "--method", "base", "--task", "longlamp-topic", "--budget", "20s", "--data", "synthetic", "--users",
        "2", "--model", "tiny-random", "--max-new-tokens", "3", "--out", str(tmp_path / "runs"), "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (lines,) = [p.read_text().splitlines() for p in (tmp_path / "runs").glob("*/generations.jsonl")]
    tokens = [len(tiny_backbone.tokenizer(json.loads(line)["raw"], add_special_tokens=False)["input_ids"])
              for line in lines]  # fmt: skip
    assert tokens and max(tokens) <= 4  # 3 generated tokens (a byte-level decode can re-split one)


def test_a_run_without_wordnet_stops_before_its_folder_in_one_line(cache, tmp_path, monkeypatch):
    def missing() -> None:
        raise ConfigError("METEOR needs WordNet 3.0 and found none: run `apt-get install wordnet-base`")

    monkeypatch.setattr(meteor, "wordnet", missing)
    result = bench(
        "run", "--method", "base", "--task", "longlamp-review", "--budget", "20s", "--data", "synthetic",
        "--users", "2", "--model", "tiny-random", "--out", str(tmp_path / "runs"), "--quiet",
    )  # fmt: skip
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert "apt-get install wordnet-base" in result.output
    assert not list((tmp_path / "runs").glob("*/"))


# ---------------------------------------------------------------- downloads from a hub-like server


def _rows(n: int, user: str = "u") -> list[dict]:
    return [
        {"reviewerId": f"{user}{i % 2}", "input": f"Write review {i}", "output": f"Review number {i}.",
         "profile": [{"overall": 5.0, "summary": "Nice", "description": "A mug", "reviewText": f"Old review {i}"},
                     {"overall": 2.0, "summary": "Meh", "description": "A pan", "reviewText": "Too heavy"}]}
        for i in range(n)
    ]  # fmt: skip


def _parquet(path: Path, rows: list[dict]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)


class _Hub(SimpleHTTPRequestHandler):
    """Serves a folder as the hub does: `/api/datasets/<repo>/tree/main/<config>` lists the config folder (size
    and LFS sha256 of each file, or the `lie` sha256 when set), `/datasets/<repo>/resolve/main/<path>` the file."""

    hits: Counter = Counter()
    lie: str | None = None

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        type(self).hits[self.path] += 1
        tree, resolve = f"/api/datasets/{REPO}/tree/main/", f"/datasets/{REPO}/resolve/main/"
        root = Path(self.directory)
        if self.path.startswith(tree):
            config = self.path.removeprefix(tree).split("?")[0]
            entries = [
                {"type": "file", "path": f"{config}/{p.name}", "size": p.stat().st_size,
                 "lfs": {"oid": type(self).lie or hashlib.sha256(p.read_bytes()).hexdigest(),
                         "size": p.stat().st_size}}
                for p in sorted((root / config).glob("*"))
            ]  # fmt: skip
            body = json.dumps(entries).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if self.path.startswith(resolve):
            self.path = "/" + self.path.removeprefix(resolve)
        super().do_GET()


@pytest.fixture
def hub(tmp_path: Path, monkeypatch) -> Iterator[tuple[str, Path]]:
    """(base URL, served folder) of a hub-like server in a thread."""
    monkeypatch.setattr(dl, "BACKOFF_S", 0.0)
    _Hub.hits, _Hub.lie = Counter(), None
    served = tmp_path / "served"
    served.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Hub, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", served
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def test_a_split_downloads_as_lamp_files_with_ids_users_and_checksums(hub, tmp_path):
    base, served = hub
    _parquet(served / "product_review_user" / "val-00000-of-00002.parquet", _rows(3))
    _parquet(served / "product_review_user" / "val-00001-of-00002.parquet", _rows(2, user="w"))
    _parquet(served / "product_review_user" / "train-00000-of-00001.parquet", _rows(1))
    root = tmp_path / "data"
    questions, outputs = download(REVIEW, "dev", root, base_url=base, progress=False)
    assert (questions, outputs) == split_files(REVIEW, "dev", root)  # the hub's val is our dev
    users = load_users(REVIEW, questions, outputs)
    assert [u.id for u in users] == ["u0", "u1", "w0", "w1"]  # grouped by reviewerId
    assert [q.id for u in users for q in u.queries] == ["0", "2", "1", "3", "4"]  # row numbers across shards
    assert users[0].queries[1].gold == "Review number 2." and users[2].queries[0].input == "Write review 0"
    first, second = ([item["id"] for item in u.profile] for u in users[:2])
    assert first[1] == second[1] and first[0] != second[0]  # the same item has the same id, others differ
    sums = read_checksums(root)
    shard = "LongLaMP/product_review/dev/val-00000-of-00002.parquet"
    assert sums[shard]["sha256"] == hashlib.sha256((questions.parent / Path(shard).name).read_bytes()).hexdigest()
    assert sums["LongLaMP/product_review/dev/dev_questions.json"]["from"][0] == shard
    assert not list(root.rglob("*.part")) and not (questions.parent / ".listing.json").exists()


def test_the_temporal_split_and_public_test_golds(hub, tmp_path):
    base, served = hub
    _parquet(served / "product_review_temporal" / "test-00000-of-00001.parquet", _rows(2))
    root = tmp_path / "data"
    questions, outputs = ensure_split(REVIEW, "test", root, time_split=True, base_url=base, progress=False)
    assert questions == root / "time" / "LongLaMP" / "product_review" / "test" / "test_questions.json"
    assert outputs is not None and [q.gold for u in load_users(REVIEW, questions, outputs) for q in u.queries]


@pytest.mark.parametrize(
    "layout, expected",
    [
        ({"train-00000-of-00001.parquet": _rows(1)}, "no parquet file of split 'val' in product_review_user/"),
        ({"val-00000-of-00001.parquet": [{"input": "x", "output": "y", "profile": []}]}, "no column 'reviewerId'"),
    ],
)
def test_bad_hub_contents_are_one_line_errors(hub, tmp_path, layout, expected):
    base, served = hub
    for name, rows in layout.items():
        _parquet(served / "product_review_user" / name, rows)
    root = tmp_path / "data"
    with pytest.raises(DataError, match=expected) as err:
        download(REVIEW, "dev", root, base_url=base, progress=False)
    assert "\n" not in str(err.value) and not split_files(REVIEW, "dev", root)[0].exists()


def test_a_shard_that_differs_from_the_listed_sha256_is_refused(hub, tmp_path):
    base, served = hub
    _parquet(served / "product_review_user" / "val-00000-of-00001.parquet", _rows(2))
    _Hub.lie = "0" * 64
    root = tmp_path / "data"
    with pytest.raises(DataError, match="differs from the 000000000000... the hub lists"):
        download(REVIEW, "dev", root, base_url=base, progress=False)
    assert not list(root.rglob("*.parquet*")) and not split_files(REVIEW, "dev", root)[0].exists()


def test_missing_files_say_where_to_get_them(tmp_path):
    with pytest.raises(DataError) as err:
        ensure_split(REVIEW, "dev", tmp_path / "data", download_missing=False)
    message = str(err.value)
    assert f"https://huggingface.co/datasets/{REPO}/tree/main/product_review_user" in message
    assert "bench data download longlamp-review --split dev" in message and "\n" not in message


def test_concurrent_first_downloads_fetch_each_file_once(hub, tmp_path):
    base, served = hub
    _parquet(served / "product_review_user" / "val-00000-of-00001.parquet", _rows(40))
    root = tmp_path / "data"
    errors: list[BaseException] = []

    def fetch() -> None:
        try:
            download(REVIEW, "dev", root, base_url=base, progress=False)
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=fetch) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    shard = f"/datasets/{REPO}/resolve/main/product_review_user/val-00000-of-00001.parquet"
    assert _Hub.hits[shard] == 1  # the others waited on the lock, then found the files
    assert len(load_users(REVIEW, *split_files(REVIEW, "dev", root))) == 2


def test_the_findings_sweep_runs_and_its_leaderboard_shows_meteor(cache, tmp_path):
    """configs/longlamp-findings.yaml on the tiny model (1 user, 8 new tokens): every run ends, the table reads it."""
    from lampbench.harness.run.sweep import read_sweep

    config = Path(__file__).resolve().parents[2] / "configs" / "longlamp-findings.yaml"
    plan = read_sweep(config)
    assert plan["tasks"] == ["longlamp-review"] and plan["run"]["data"] == "synthetic"
    out = tmp_path / "runs"
    swept = bench("sweep", "--config", str(config), "--out", str(out), "--model", "tiny-random", "--users", "2",
                  "--train-users", "2", "--max-new-tokens", "8", "--budgets", "10s")  # fmt: skip
    assert swept.exit_code == 0, swept.output
    records = [json.loads(p.read_text()) for p in out.glob("*/run.json")]
    assert sorted(r["method"] for r in records) == ["base", "lora-p", "pag", "rag"]
    assert all(r["status"] in ("ok", "over_budget") and r["metrics"]["meteor"] is not None for r in records)
    table = bench("leaderboard", "--out", str(out), "--task", "longlamp-review")
    assert table.exit_code == 0 and "meteor" in table.output, table.output
