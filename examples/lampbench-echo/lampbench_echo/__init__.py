"""`echo`: an example plugin method. It shows the user's latest history items, with their outputs, as examples.

A method is a config dataclass and a `Method` subclass with `personalize` (charged to the budget; returns the
user's state) and `predict` (returns one raw generation per query; the task's parser reads it afterwards).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from lampbench.methods.contract import Context, Method, MethodConfig
from lampbench.tasks.specs import Query, User


@dataclass(frozen=True)
class EchoConfig(MethodConfig):
    shots: int = field(default=2, metadata={"help": "how many of the user's latest history items to show"})
    item_tokens: int = field(default=64, metadata={"help": "each item is cut to this many tokens"})


class Echo(Method):
    """Few-shot prompting with the user's own latest history items."""

    Config = EchoConfig
    config: EchoConfig

    def personalize(self, ctx: Context, user: User) -> str:
        task = ctx.task
        shots = []
        for item in user.profile[-self.config.shots :]:
            text = ctx.backbone.truncate(task.corpus(item), self.config.item_tokens)
            answer = item.get(task.profile_target, "") if task.profile_target else ""
            shots.append(f"Example: {text}\nAnswer: {answer}")
        return "\n\n".join(shots)

    def predict(self, ctx: Context, state: str, queries: Sequence[Query]) -> list[str]:
        prompts = [f"{state}\n\n{q.input}" if state else q.input for q in queries]
        return ctx.backbone.generate(prompts, max_new_tokens=ctx.task.max_new_tokens, batch_size=ctx.batch_size)
