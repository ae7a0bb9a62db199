"""Collective stages saved once and reused: every run that asks for the same `fit` under `--fit-budget` loads it.

A collective stage (OPPU's task LoRA, PerFit's stage 1, Per-Pcs's pool, CHAMELEON's group directions...) is a
one-off cost paid once for all users, as the papers count it. Under `--fit-budget` the runner looks it up here
before running `fit`, by what decides its result:

    method and its config, task, data (kind, time split, repairs), the training users (ids, history sizes,
    queries), model (name, revision, dtype, attention, chat template), prompt budget, batch size, embedder,
    the fit budget, and the hardware label

and not by the per-user budget, the seed, the evaluation users or the shards: a per-user budget sweep, a seed
sweep and the shards of a run all reuse one fit. (Seeds vary the per-user stages and the user selection; a fit
is made with the seed of the run that made it, which each reuse records.) Entries live under the results store:

    runs/fits/<task>-<method>-<fit budget>-<hash>/
      fit.json          the key, the run that made it, its seed, what it cost (seconds, budget used), the
                        method's report of the stage, when it was made
      ...               what the method's `save_collective` wrote

An entry is written to a temporary folder and renamed into place, so a reader never sees half of one; when two
runs make the same fit at once, the first rename wins and the other run keeps (and records) its own.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lampbench.harness.run.options import RunSpec
from lampbench.harness.services.budget import format_seconds
from lampbench.tasks.files import write_json
from lampbench.tasks.specs import User

META = "fit.json"


def users_digest(users: Sequence[User]) -> str:
    """A hash of which users, with which history items and which queries (cheap even for LaMP's 10,000s of users).

    History items count by id, so a run whose histories were changed (`--profiles shuffled`, `--max-profile`) never
    reuses a fit made on other histories.
    """
    h = hashlib.sha256()
    for u in users:
        items = [item.get("id", i) for i, item in enumerate(u.profile)]
        h.update(json.dumps([u.id, len(u.profile), items, [q.id for q in u.queries]], default=str).encode())
    return h.hexdigest()


def fit_key(spec: RunSpec, train: Sequence[User], hardware: str) -> dict[str, Any]:
    """What decides a collective stage's result (see the module docstring); `hardware` is the machine's label."""
    return {
        "method": spec.method, "method_config": spec.method_config, "task": spec.task, "data": spec.data,
        "time_split": spec.time_split, "patch_known_defects": spec.patch_known_defects,
        "train_users": users_digest(train), "n_train_users": len(train), "model": spec.model,
        "revision": spec.revision, "dtype": spec.dtype, "attn": spec.attn, "chat_template": spec.chat_template,
        "max_prompt_tokens": spec.max_prompt_tokens, "batch_size": spec.batch_size, "embedder": spec.embedder,
        "fit_budget": spec.fit_budget, "hardware": hardware, "profiles": spec.profiles, "quantize": spec.quantize,
        "decoding": [spec.decoding, spec.temperature, spec.top_k, spec.top_p] if spec.decoding != "greedy" else None,
    }  # fmt: skip


@dataclass(frozen=True)
class FitEntry:
    """A saved collective stage: its folder and `fit.json`."""

    folder: Path
    meta: dict[str, Any]


class FitStore:
    """The saved collective stages of a results store (`<root>/fits/`)."""

    def __init__(self, root: Path | str):
        self.root = Path(root) / "fits"

    def folder(self, key: dict[str, Any]) -> Path:
        digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:12]
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", key["method"]).strip("-")
        return self.root / f"{key['task']}-{slug}-{format_seconds(key['fit_budget'] or 0)}-{digest}"

    def find(self, key: dict[str, Any]) -> FitEntry | None:
        """The entry saved for `key`, or None (none yet, or unreadable)."""
        folder = self.folder(key)
        try:
            meta = json.loads((folder / META).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return FitEntry(folder, meta) if isinstance(meta, dict) and meta.get("key") == _plain(key) else None

    def save(self, key: dict[str, Any], meta: dict[str, Any], write) -> FitEntry | None:
        """Save an entry: `write(folder)` puts the method's files in (False: it saves nothing, no entry is made).

        Returns the entry in place (this one, or the one another run renamed in first), or None.
        """
        final = self.folder(key)
        tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            if not write(tmp):
                return None
            made = datetime.now(UTC).isoformat(timespec="seconds")
            write_json(tmp / META, {"key": _plain(key), "made": made, **meta})
            try:
                os.rename(tmp, final)
            except OSError:  # another run saved the same fit first: theirs stays
                pass
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return self.find(key)


def _plain(key: dict[str, Any]) -> dict[str, Any]:
    """The key as it reads back from JSON (tuples as lists), so a saved key compares equal to a fresh one."""
    return json.loads(json.dumps(key, sort_keys=True, default=str))
