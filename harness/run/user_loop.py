"""The run's user loop: personalize users one at a time (charged), answer them in batches across users (timed).

LaMP users mostly have one query each, so answering user by user would decode at batch 1 whatever `--batch-size`
says. The loop personalizes users until their pending queries fill a batch of `ctx.batch_size`, then calls the
method's `predict_batch` on all of them at once. At most `batch_size` users' states are held at a time. Each
batch's answers go to `generations.jsonl` as soon as it finishes (a crash loses at most the batch in flight), and
then to the run's progress files, so a killed run resumes after the last answered batch.

A batch's predict time is shared among its users by query count; the batch sizes used are counted.
"""

from __future__ import annotations

import json
import time
from typing import IO, Any

from lampbench.harness.run.record import UserRow
from lampbench.harness.run.resume import Progress
from lampbench.harness.services.accounting import state_bytes, state_parameters
from lampbench.methods.contract import Context, Method
from lampbench.tasks.specs import TaskSpec, User


class UserLoop:
    """Feeds users to a method; `add` each user in order, then `flush` once at the end.

    Answered users' rows (`per_user`) and generations.jsonl lines (`lines`) accumulate on the loop.
    """

    def __init__(
        self, ctx: Context, method: Method, task: TaskSpec, golds: dict[str, str | None], out: IO[str],
        progress: Progress,
    ) -> None:  # fmt: skip
        self.ctx, self.method, self.task, self.golds, self.out, self.progress = ctx, method, task, golds, out, progress
        self.pending: list[tuple[User, Any, float]] = []  # (user, state, personalize seconds)
        self.per_user: list[UserRow] = []
        self.lines: list[dict[str, Any]] = []

    def add(self, user: User) -> None:
        """Personalize `user` under the clock; answer the pending users once they fill a batch."""
        t = time.perf_counter()
        try:
            with self.ctx.clock.charging():
                state = self.method.personalize(self.ctx, user)
        except Exception:
            self.flush()  # the users before this one are answered: a failing user loses nothing already made
            raise
        self.pending.append((user, state, time.perf_counter() - t))
        self.progress.mark(self.ctx.clock.spent)  # charged time is never given back, even if the run dies now
        size = max(1, self.ctx.batch_size)
        if sum(len(u.queries) for u, _, _ in self.pending) >= size or len(self.pending) >= size:
            self.flush()

    def flush(self) -> None:
        """Answer the pending users in one `predict_batch` and write their generations."""
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        t = time.perf_counter()
        n_queries = sum(len(user.queries) for user, _, _ in batch)
        with self.ctx.answering(n_queries):  # `--answer choice`: final answers read by likelihood
            answers = self.method.predict_batch(self.ctx, [(state, user.queries) for user, state, _ in batch])
        predict_s = time.perf_counter() - t
        name = type(self.method).__name__
        if len(answers) != len(batch):
            raise RuntimeError(f"{name}.predict_batch returned answers for {len(answers)} users of {len(batch)}")
        rows, lines = [], []
        for (user, state, personalize_s), raw in zip(batch, answers, strict=True):
            if len(raw) != len(user.queries):
                raise RuntimeError(f"{name}.predict returned {len(raw)} answers for {len(user.queries)} queries")
            lines += [self._line(user, query, text) for query, text in zip(user.queries, raw, strict=True)]
            rows.append(UserRow(
                user=user.id, queries=len(user.queries), profile=len(user.profile), personalize_s=personalize_s,
                predict_s=predict_s * len(user.queries) / max(n_queries, 1), state_bytes=state_bytes(state),
                state_parameters=state_parameters(state),
            ))  # fmt: skip
        self.out.writelines(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
        self.out.flush()
        self.per_user += rows
        self.lines += lines
        self.progress.commit(rows, self.ctx.report, batch=n_queries, spent=self.ctx.clock.spent)

    def _line(self, user: User, query, text: str) -> dict[str, Any]:
        parsed = self.task.parse(text)
        return {
            "id": query.id, "user": user.id, "raw": text, "answer": parsed.answer, "read": parsed.how,
            "parsed": parsed.ok, "gold": self.golds.get(query.id),
        }  # fmt: skip
