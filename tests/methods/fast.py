"""The config overrides that keep each method quick on `tiny-random` (a method not listed runs its defaults).

Shared by the contract test, the batching tests and any test that runs every method through the runner.
"""

from __future__ import annotations

FAST: dict[str, dict] = {
    "pag": {"k": 1, "profile_max_new_tokens": 8},
    "llm-rec": {"n_history": 2, "summary_max_new_tokens": 8},
    "chameleon": {"history_k": 3, "insight_max_tokens": 8, "ccs_epochs": 50, "ccs_restarts": 2},
    "lora-c": {"train": {"max_steps": 1, "batch_size": 4}},
    "lora-p": {"train": {"max_steps": 1, "batch_size": 4}},
    "oppu": {"train": {"max_steps": 1, "batch_size": 4}},
    "aloe": {"train": {"max_steps": 1, "batch_size": 4, "grad_accum": 1}, "history_per_user": 4},
    "dpo": {"train": {"max_steps": 1, "batch_size": 4, "r": 8, "alpha": 8}, "max_pairs": 4, "history_per_user": 4},
    "perfit": {"epochs1": 0.1, "epochs2": 0.1, "batch_size": 4, "max_target_tokens": 8},
    "stylevector": {"max_items": 2},
    "peft-retrieval": {"sharers": 2, "train": {"max_steps": 1, "batch_size": 4}},
    "per-pcs": {
        "sharers": 2,
        "train": {"max_steps": 1, "batch_size": 4},
        "gate_steps": 2,
        "gate_batch_size": 2,
        "max_history": 4,
    },  # fmt: skip
}
