"""Which users a run sees: official LaMP files (downloaded on demand) or the synthetic data, then selection.

The caller loads a run's data (`load_eval_and_train`) and hands it to the runner, so that bad data ends with its
one-line `DataError` before a run folder exists and a 400 MB file is read once.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import NamedTuple

from lampbench.harness.run.profiles import with_profiles
from lampbench.tasks.data import load_users, resolve_data_dir, select_users, split_files
from lampbench.tasks.download import ensure_split, file_record
from lampbench.tasks.files import cache_dir, replacing
from lampbench.tasks.specs import TaskSpec, User
from lampbench.tasks.synthetic import SYNTHETIC_VERSION, write_synthetic

#: Users written per split of the synthetic data (more when a run asks for more).
SYNTHETIC_USERS = {"train": 200, "dev": 100, "test": 100}


def synthetic_files(
    task: TaskSpec, split: str, *, n_users: int, seed: int = 0, real_quirks: bool = False
) -> tuple[Path, Path | None]:
    """The synthetic split's files in the cache, generated on first use (deterministic, so cached by its inputs).

    `real_quirks` writes what real LaMP files have (dates in LaMP's spellings, `user_id`, non-ASCII text, one
    defective entry); `--time-split` asks for it, as LaMP's time split is where real files carry them.
    """
    kind = "-time" if real_quirks else ""
    root = cache_dir() / "synthetic" / f"v{SYNTHETIC_VERSION}-seed{seed}-n{n_users}{kind}"
    questions, outputs = split_files(task, split, root)
    if not questions.exists():
        # Written beside the split's folder and moved in, so a concurrent or interrupted run never reads half a
        # split (when another process wrote it first, its folder is kept).
        root.mkdir(parents=True, exist_ok=True)
        with replacing(questions.parent) as tmp, tempfile.TemporaryDirectory(dir=root) as scratch:
            write_synthetic(task, Path(scratch), split=split, n_users=n_users, seed=seed, real_quirks=real_quirks)
            os.replace(split_files(task, split, Path(scratch))[0].parent, tmp)
    return questions, outputs


def split_users(spec, task: TaskSpec, split: str, n: int | None) -> list[User]:
    """The selected users of one split, as `spec` (a RunSpec) asks."""
    questions, outputs = _split_paths(spec, task, split, n)
    users = load_users(task, questions, outputs, patch_known_defects=spec.patch_known_defects)
    return select_users(users, n, select=spec.select, seed=spec.seed, max_profile=spec.max_profile)


def _split_paths(spec, task: TaskSpec, split: str, n: int | None) -> tuple[Path, Path | None]:
    """A split's files, made (synthetic) or downloaded (lamp) when missing."""
    if spec.data == "synthetic":
        size = max(SYNTHETIC_USERS.get(split, 100), n or 0)
        # One fixed data seed: --seed varies methods, not data.
        return synthetic_files(task, split, n_users=size, real_quirks=spec.time_split)
    if spec.data == "lamp":
        return ensure_split(task, split, _lamp_root(spec), time_split=spec.time_split)
    raise ValueError(f"--data must be lamp or synthetic, not {spec.data!r}")


def _lamp_root(spec) -> Path:
    return resolve_data_dir(Path(spec.data_dir) if spec.data_dir else None)


def data_files(spec, task: TaskSpec, *, with_train: bool) -> list[dict]:
    """Path, size and sha256 of each file a run reads, for its record: which data a result was computed on.

    LaMP files also say whether they are still as downloaded (`tasks.download.file_record`).
    """
    splits = [(spec.split, spec.users)]
    if with_train and spec.split != "train":
        splits.append(("train", spec.train_users))
    root = _lamp_root(spec) if spec.data == "lamp" else None
    return [
        file_record(path, root)
        for split, n in splits
        for path in _split_paths(spec, task, split, n)
        if path is not None and path.exists()
    ]


class RunInputs(NamedTuple):
    """A run's data, loaded: its evaluation users (with their golds) and, for a method that trains collectively,
    the users of the train split (else none)."""

    users: list[User]
    train: list[User]


def load_eval_and_train(spec, task: TaskSpec, *, with_train: bool) -> RunInputs:
    """Evaluation users of `spec.split` and, when the method trains collectively, users of the train split, with
    the histories `spec.profiles` gives them (`harness/run/profiles.py`).

    Raises:
        DataError: bad data, or `--profiles shuffled` with a single user.
    """
    users = split_users(spec, task, spec.split, spec.users)
    train = split_users(spec, task, "train", spec.train_users) if with_train and spec.split != "train" else []
    return RunInputs(
        with_profiles(users, spec.profiles, spec.seed), with_profiles(train, spec.profiles, spec.seed, training=True)
    )
