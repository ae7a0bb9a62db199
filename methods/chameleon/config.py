"""CHAMELEON's settings. Paper values where the paper gives them; where it is silent, the source is named.

- `history_k=10`: Section 4.1 selects "up to 10 user history entries per profile"; Fig. 5 sweeps 5..25.
- `group_size=100`: Section 4.1, "we randomly select 100 users from the training split".
- `n_layers=5`: the paper edits "the layers that have lowest average CCS loss" without saying how many. Its
  editing is "inspired by ALIGNEZ", whose released code edits `--n-layers 5` MLP layers by default; 5 of
  Mistral-7B's 32 layers is about the same share as 5 of SmolLM2's 30.
- CCS (`ccs_*`): the reference implementation of Burns et al. (2023): 10 random restarts, 1000 full-batch
  epochs of AdamW at lr 1e-3 with weight decay 0.01; the probe with the lowest loss is kept.
- `insight_max_tokens=32`: the paper gives no length; ALIGNEZ generates its insights with 50 new tokens. An
  insight is one sentence that fills "The user prefers [INSIGHT]." (SmolLM2's run to about 20 tokens), and each
  user costs two of them, so the default is a modest 32 for CPU runs; set 50 for ALIGNEZ's length.
- `positions="last"`: the paper edits "the output of the MLP" without naming positions. The directions are
  estimated at the last token, and ALIGNEZ's code edits the last position of every forward pass (the last
  prompt token, then each generated token); `all` edits every position.
- `answer_prompt="history"`: Section 4.1 answers with "the same prompt format and ... the same pre-selected user
  history profile, excluding any insights"; `input` answers from the task input alone, isolating the edit.
  `insight` answers with the personalized insight in the prompt too (Appendix A.3's personalized pair prompt:
  history, query and "The user prefers c^P."): the paper says its baselines see no insight but not whether
  CHAMELEON's own answers do, so which one a run used is an option, recorded in the report (`answer_prompt`).
  A user whose insight was not written (out of time) answers with the history prompt. Either way the pair
  embeddings are taken on history + query + answer, as Section 3.1 builds the pairs.
- `directions="hybrid"`: Appendix A.4's best, theta^P by SVD of the personalized embeddings and theta^N by CCS.
  `svd` takes both by SVD (theta^N the top right singular vector of the neutral embeddings, "defined similarly");
  `ccs` takes both from the one CCS hyperplane (theta^N its normal toward the neutral side, theta^P = -theta^N).
  The paper's projection edit does not depend on a direction's sign, so under `ccs` adding theta^P and then
  removing theta^N leaves x minus its component along the normal (the neutral-only edit's effect): the paper
  gives no other CCS-only construction. The layers are those with the lowest CCS loss in all three (the
  paper's rule), so the three differ only in their directions.
- `edit="none"`: our control, not in the paper. CHAMELEON answers with its selected history in the prompt, which
  `base` does not see, so its gain over `base` mixes "history in the prompt" with "representation editing".
  `edit=none` answers with the same history prompt (the same selection, the same token budget) and skips the
  insights, pairs and directions: the gain of `edit=both` over `edit=none` is the editing's own.
- `scaling="projection"`: the paper's edit (Section 3.2). `tanh` and `relu` are ALIGNEZ-style scalings of the
  projection onto the unit direction, an option, not the paper's method.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from lampbench.methods.contract import MethodConfig
from lampbench.methods.lib.checks import at_least, fraction
from lampbench.tasks.errors import ConfigError


@dataclass(frozen=True)
class ChameleonConfig(MethodConfig):
    mode: Literal["user", "group"] = field(
        default="user",
        metadata={"help": "user: directions from each user's own pairs; group: one set pooled over training users"},
    )
    group_size: int = field(
        default=100, metadata={"help": "group mode: how many training users (sampled at random) pool their pairs"}
    )
    unseen: bool = field(
        default=False,
        metadata={"help": "group mode: answer evaluation users with the group directions, never reading their history"},
    )
    history_k: int = field(
        default=10, metadata={"help": "history items kept by the PCA selection (k of Eq. 2; the paper sweeps 5..25)"}
    )
    edit: Literal["both", "personal-only", "neutral-only", "none"] = field(
        default="both",
        metadata={
            "help": "which edits to apply: add theta^P, remove theta^N, or both (the Table 3 ablation); none: the "
            "control, the same history prompt without self-generated data or edits"
        },
    )
    n_layers: int = field(
        default=5, metadata={"help": "how many decoder layers to edit: those with the lowest CCS loss (ALIGNEZ: 5)"}
    )
    scaling: Literal["projection", "tanh", "relu"] = field(
        default="projection",
        metadata={"help": "projection: the paper's edit; tanh/relu: ALIGNEZ-style scaled projection (an option)"},
    )
    positions: Literal["last", "all"] = field(
        default="last", metadata={"help": "which positions' MLP outputs are edited in each forward pass"}
    )
    answer_prompt: Literal["history", "input", "insight"] = field(
        default="history",
        metadata={
            "help": "history: the selected history + query, no insight (Section 4.1); input: the task input alone; "
            "insight: the history, query and the user's personalized insight (Appendix A.3's personal prompt)"
        },
    )
    directions: Literal["hybrid", "svd", "ccs"] = field(
        default="hybrid",
        metadata={
            "help": "how theta^P / theta^N are found (Appendix A.4): hybrid = SVD / CCS (the paper's best); svd: "
            "both by SVD; ccs: both from the CCS hyperplane"
        },
    )
    insight_max_tokens: int = field(
        default=32, metadata={"help": "new tokens for each personalized / neutral insight (two per user)"}
    )
    ccs_restarts: int = field(default=10, metadata={"help": "random restarts of the CCS probe; lowest loss is kept"})
    ccs_epochs: int = field(default=1000, metadata={"help": "full-batch AdamW steps per CCS probe"})
    ccs_lr: float = field(default=1e-3, metadata={"help": "CCS learning rate"})
    ccs_weight_decay: float = field(default=0.01, metadata={"help": "CCS AdamW weight decay"})
    fit_share: float = field(
        default=0.9,
        metadata={
            "help": "group mode: share of the budget the group stage may use (the rest is for test users; "
            "with --fit-budget the group stage has all of its own)"
        },
    )

    def __post_init__(self) -> None:
        if self.unseen and self.mode != "group":
            raise ConfigError("unseen=true needs mode=group: unseen users are answered with group directions")
        if self.unseen and self.answer_prompt == "insight":
            raise ConfigError("answer_prompt=insight needs the user's history, which unseen=true never reads")
        at_least(self, 1, "group_size", "history_k", "n_layers", "ccs_restarts", "ccs_epochs", "insight_max_tokens")
        if self.ccs_lr <= 0 or self.ccs_weight_decay < 0:
            raise ConfigError(f"ccs_lr > 0, ccs_weight_decay >= 0 needed; got {self.ccs_lr}, {self.ccs_weight_decay}")
        fraction(self, "fit_share", closed=True)
