"""Stand-ins for the backbone where a test needs only the prompts a method writes, not a model."""

from __future__ import annotations


class RecordingBackbone:
    """Counts whitespace words as tokens and answers every prompt with `answer`, keeping the prompts.

    `answer` may hold `{i}`: the prompt's running number, so that each answer is distinct.
    """

    def __init__(self, answer: str = "PROFILE: likes five stars"):
        self.answer = answer
        self.prompts: list[str] = []

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def truncate(self, text: str, max_tokens: int) -> str:
        return " ".join(text.split()[: max(0, max_tokens)])

    def generate(self, prompts, *, max_new_tokens, batch_size=None, progress=False, on_batch=None):
        if on_batch is not None:  # one batch, in the order given
            on_batch(list(range(len(prompts))))
        start = len(self.prompts)
        self.prompts.extend(prompts)
        return [self.answer.format(i=start + i) for i in range(len(prompts))]
