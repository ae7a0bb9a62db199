"""`chameleon`: personalization by editing MLP outputs along directions found in self-generated preference data.

CHAMELEON (Zhang et al. 2025, papers/chameleon-2503.01048.txt), as Sections 3-4 and Appendix A.3-A.5 describe it:

1. History selection: the user's history items are embedded with the sentence embedder and the `history_k`
   items with the longest projections onto the top principal components are kept (Eq. 1-2).
2. Insights: from that history the backbone writes a personalized insight c^P and a neutral one c^N.
3. Preference pairs: for each of the user's queries (the task input, never its gold) the backbone answers
   once guided by c^P (y^P) and once by c^N (y^N), with Appendix A.3's prompts. Pairs whose two answers are
   identical are dropped; the counts kept and dropped are recorded.
4. Embeddings: the output of every decoder layer's MLP at the last token of history + query + answer, for
   both answers of each kept pair.
5. Directions, per layer: theta^P, the top right singular vector of the personalized embeddings (SVD);
   theta^N, the direction of an unsupervised CCS probe (several restarts, lowest loss kept). The `n_layers`
   layers with the lowest CCS loss are edited.
6. Answering: the selected history and the query, without insight (Section 4.1's shared prompt format), with
   x += proj(x, theta^P) and x -= proj(x, theta^N) on the chosen layers' MLP outputs (`editing.py`).

Modes (`mode`, `unseen`): `user` finds directions from each evaluation user's own pairs in `personalize`;
`group` pools the pairs of up to `group_size` training users, sampled at random, into one set of directions in
`fit` (Section 3.3); with `unseen=true` evaluation users are answered with those directions and the task input
alone, and `personalize` never reads their history (Section 4.3, Table 2).

The control (`edit=none`): the same history selection and answer prompt, no insights, pairs, directions or
edits, so `edit=both` against `edit=none` measures the editing alone (`base` sees no history at all).

Anytime: in `user` mode each user's stage runs until their fair share of the time left (`ctx.user_deadline`),
so the first users cannot eat the budget, and the CCS probes stop at it too (keeping the probes so far). A user
whose share cannot pay for the stage at the mean cost measured on the users before them (insights to directions)
is not started: their history is selected and their share goes to the users after them, so a budget a little
short of the stage's cost personalizes most users instead of cutting every one after its costly part. A user
whose stage is cut keeps what is finished: with their history selected but no directions (out of time, or all
pairs identical) they are answered with the history prompt and no edit, as the control answers, and counted in
`history_only_users`; with nothing finished, exactly as `base`. In `group` mode the group stage stops at
`fit_share` of the budget and uses the users finished by then; with none finished, every user is answered as
`base`. Every prompt keeps the run's prompt budget (`tasks/prompts.py`): the `[QUERY]` is the task input cut
as every method cuts it, the history gets what the longest prompt leaves, and a user whose query leaves no room
for any history (`prompt_budget`) is answered as `base`. `ctx.report` records the fraction of users
personalized, each user's insights and pairs, the chosen layers with their CCS losses and every layer's loss,
and the time of each phase (history, insights, pairs, embeddings, directions) read from the budget clock.

The per-user state is the chosen layers' theta^P and theta^N (2 x n_layers x hidden floats) and the selected
history the answer prompt shows. In `group` mode the directions are the collective state, not a user's.
The method always declares `uses_train_users`, so the runner loads the train split (outside the budget) even
in `user` mode, where `fit` ignores it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lampbench.methods.chameleon.config import ChameleonConfig
from lampbench.methods.chameleon.directions import Directions, find_directions, mlp_outputs
from lampbench.methods.chameleon.editing import row_edited
from lampbench.methods.chameleon.prompts import (
    Templates,
    answer_prompt,
    clean_insight,
    insight_prompt,
    pair_prompt,
    query_text,
    templates,
)
from lampbench.methods.chameleon.selfdata import (
    SelfData,
    history_budget,
    insights,
    preference_answers,
    selected_history,
)
from lampbench.methods.contract import Context, Method
from lampbench.methods.lib.prompt_budget import fit_query, fit_with
from lampbench.methods.lib.rows import answer_rows
from lampbench.methods.lib.saved import load_tensors, save_tensors
from lampbench.tasks.specs import Query, User

PHASES = ("history", "insights", "pairs", "embeddings", "directions")


@dataclass
class _Stage:
    """How far one user's self-data stage got; what is finished is kept.

    `stopped` is "" (finished), "budget" (out of time) or "prompt_budget" (its prompts do not fit the run's
    prompt budget). `data` is set once the pairs exist, `p`/`n` (the kept pairs' MLP outputs) once embedded.
    """

    history: str = ""
    ids: tuple[str, ...] = ()
    insight: str = ""  # c^P, once written
    data: SelfData | None = None
    p: torch.Tensor | None = None
    n: torch.Tensor | None = None
    stopped: str = ""

    def stop(self, reason: str) -> _Stage:
        self.stopped = reason
        return self


@dataclass(frozen=True)
class ChameleonState:
    """What CHAMELEON keeps per user.

    Attributes:
        directions: the user's own directions (`user` mode); None in `group` mode, whose are shared.
        history: the selected history shown in the answer prompt; "" answers from the task input alone.
        insight: the personalized insight the answer prompt shows (`answer_prompt=insight`); "" shows none.
    """

    directions: Directions | None
    history: str
    insight: str = ""


class _Phases:
    """Budget seconds per phase, read from the clock (`spent` differences), for one user or the group stage."""

    def __init__(self, clock) -> None:
        self.clock = clock
        self.seconds = dict.fromkeys(PHASES, 0.0)

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = self.clock.spent
        try:
            yield
        finally:
            self.seconds[name] += self.clock.spent - start


class Chameleon(Method):
    """CHAMELEON: self-generated preference pairs, SVD/CCS directions, MLP-output edits while answering."""

    Config = ChameleonConfig
    config: ChameleonConfig
    uses_train_users = True

    def __init__(self, config: ChameleonConfig | None = None):
        super().__init__(config)
        self._group: Directions | None = None  # what `fit` learnt in group mode: shared by every user
        self._stage_s: list[float] = []  # `user` mode: seconds of each user's stage from insights on, as measured

    def collective_state(self) -> Directions | None:
        return self._group

    def save_collective(self, ctx: Context, path: Path) -> bool:
        """The group directions (or that there are none), so another run or a shard can skip `fit`."""
        d = self._group
        tensors = {} if d is None else {"theta_p": d.theta_p, "theta_n": d.theta_n}
        header = None if d is None else {"layers": list(d.layers), "ccs_loss": list(d.ccs_loss), "epochs": d.ccs_epochs}
        save_tensors(path, "chameleon-group", tensors, {"directions": header})
        return True

    def load_collective(self, ctx: Context, path: Path) -> bool:
        got = load_tensors(path, "chameleon-group")
        if got is None:
            return False
        tensors, header = got
        h = header.get("directions")
        self._group = None if h is None else Directions(
            tuple(h["layers"]), tensors["theta_p"], tensors["theta_n"], tuple(h["ccs_loss"]), h["epochs"]
        )  # fmt: skip
        return True

    # -- the group stage ------------------------------------------------------------------------------------

    def fit(self, ctx: Context, train: Sequence[User]) -> None:
        cfg = self.config
        if cfg.mode != "group" or cfg.edit == "none":  # the control needs no directions
            return
        t = templates(ctx.task)
        deadline = ctx.clock.fit_deadline(cfg.fit_share)
        sample = random.Random(ctx.seed).sample(list(train), min(cfg.group_size, len(train)))
        phases = _Phases(ctx.clock)
        record: dict[str, Any] = {"users_planned": len(sample), "users": {}}
        ps, ns = [], []
        out_of_time = lambda: ctx.clock.expired_by(deadline)  # noqa: E731
        for user in sample:
            stage = _Stage(stopped="budget") if out_of_time() else self._self_data(ctx, t, user, out_of_time, phases)
            if stage.stopped == "budget":
                break  # out of time: the users finished so far make the group
            if stage.data is None or stage.p is None:  # their prompts do not fit the budget: the next user
                record["users_skipped"] = record.get("users_skipped", 0) + 1
                continue
            record["users"][user.id] = stage.data.record()
            ps.append(stage.p)
            ns.append(stage.n)
        record["users_used"] = len(record["users"])
        record["pairs_kept"] = sum(len(p) for p in ps)
        record["pairs_dropped"] = sum(u["pairs_dropped"] for u in record["users"].values())
        if record["pairs_kept"]:
            with phases("directions"):
                self._group, losses = self._directions(ctx, torch.cat(ps), torch.cat(ns), out_of_time)
            record.update(self._layer_record(self._group, losses))
        else:
            ctx.log.warning("chameleon: no group directions (no training user finished); users get base answers")
        record["phase_s"] = phases.seconds
        ctx.report["group"] = record

    # -- the per-user stage ---------------------------------------------------------------------------------

    def personalize(self, ctx: Context, user: User) -> ChameleonState | None:
        cfg = self.config
        t = templates(ctx.task)
        phases = _Phases(ctx.clock)
        if cfg.mode == "group":
            if self._group is None and cfg.edit != "none":
                return self._count(ctx, user, None, "no_group_directions", phases, {})
            if cfg.unseen or cfg.answer_prompt == "input":
                return self._count(ctx, user, ChameleonState(None, ""), "", phases, {})  # the profile is not read
            if ctx.clock.expired:  # no time left to select their history: the group directions on the bare input
                return self._count(ctx, user, ChameleonState(None, ""), "budget_no_history", phases, {})
            with phases("history"):
                budget = history_budget(ctx, t, self._longest(ctx, t, user.queries), cfg.insight_max_tokens)
                if budget <= 0:
                    return self._count(ctx, user, ChameleonState(None, ""), "prompt_budget", phases, {})
                history, ids = selected_history(ctx, t, user.profile, cfg.history_k, budget)
            insight = self._insight(ctx, t, history, phases) if cfg.answer_prompt == "insight" else ""
            state = ChameleonState(None, history, insight)
            return self._count(ctx, user, state, "", phases, {"history_ids": list(ids)})

        deadline = ctx.user_deadline(user)
        out_of_time = lambda: ctx.clock.expired_by(deadline)  # noqa: E731
        if out_of_time():
            return self._count(ctx, user, None, "budget", phases, {})
        cost = sum(self._stage_s) / len(self._stage_s) if self._stage_s else 0.0
        wont_finish = lambda: out_of_time() or ctx.clock.spent + cost > deadline  # noqa: E731
        stage = self._self_data(ctx, t, user, out_of_time, phases, wont_finish)
        if stage.data is not None:  # it ran past its pairs: what the stage costs (at least), for the users after
            self._stage_s.append(sum(phases.seconds[name] for name in ("insights", "pairs", "embeddings")))
        entry = stage.data.record() if stage.data is not None else {"history_ids": list(stage.ids)}
        history = stage.history if cfg.answer_prompt != "input" else ""
        insight = stage.insight if cfg.answer_prompt == "insight" and history else ""
        if cfg.edit == "none":  # the control: the history prompt, no edits
            return self._count(ctx, user, ChameleonState(None, history, insight), stage.stopped, phases, entry)
        reason = stage.stopped or ("no_pairs" if stage.p is None or not len(stage.p) else "")
        if not reason and out_of_time():
            reason = "budget"
        if reason:  # what is finished is kept: a selected history answers with the history prompt, unedited
            state = ChameleonState(None, history, insight) if history else None
            return self._count(ctx, user, state, reason, phases, entry, personalized=False)
        with phases("directions"):
            directions, losses = self._directions(ctx, stage.p, stage.n, out_of_time)
        self._stage_s[-1] += phases.seconds["directions"]  # the CCS probes stop at the deadline
        entry.update(self._layer_record(directions, losses))
        return self._count(ctx, user, ChameleonState(directions, history, insight), "", phases, entry)

    def predict(self, ctx: Context, state: ChameleonState | None, queries: Sequence[Query]) -> list[str]:
        return self.predict_batch(ctx, [(state, queries)])[0]

    def predict_batch(
        self, ctx: Context, items: Sequence[tuple[ChameleonState | None, Sequence[Query]]]
    ) -> list[list[str]]:
        """Users share batches; each row is edited with its own user's directions (the group's in `group` mode)."""
        cfg = self.config
        prompts = [self._answer_prompts(ctx, state, queries) for state, queries in items]
        directions = [
            None if state is None else state.directions if cfg.mode == "user" else self._group for state, _ in items
        ]

        def install(chunk, rows):
            return row_edited(ctx.backbone, chunk, rows, edit=cfg.edit, scaling=cfg.scaling, positions=cfg.positions)

        return answer_rows(ctx, prompts, directions, install)

    def _answer_prompts(self, ctx: Context, state: ChameleonState | None, queries: Sequence[Query]) -> list[str]:
        """The answer prompts: the task input alone when not personalized (exactly what `base` answers).

        Else the history prompt (with the personalized insight when the state has one: Appendix A.3's personal
        prompt) within the run's prompt budget: the history gives way first, and a query left with no history is
        answered from the cut input alone (counted in `personalization_cut`).
        """
        if state is None or not state.history:
            return [fit_query(ctx, q.input) for q in queries]
        t = templates(ctx.task)
        count, truncate = ctx.backbone.count_tokens, ctx.backbone.truncate
        history, insight = state.history, state.insight

        def frame(shown: str, text: str) -> str:
            return pair_prompt(t, shown, text, insight, personal=True) if insight else answer_prompt(t, shown, text)

        def build(inp: str, room: int) -> str | None:
            text = query_text(ctx.task, t, inp)
            cut = truncate(history, room + count(inp) - count(frame("", text)))
            return frame(cut, text) if cut.strip() else None

        return [fit_with(ctx, q.input, build) for q in queries]

    # -- helpers --------------------------------------------------------------------------------------------

    def _self_data(
        self, ctx: Context, t: Templates, user: User, out_of_time: Callable[[], bool], phases: _Phases,
        wont_finish: Callable[[], bool] | None = None,
    ) -> _Stage:  # fmt: skip
        """Steps 1-4 for one user, as far as time and the prompt budget allow (see `_Stage`).

        `wont_finish` (default `out_of_time`) says, once the history is selected, that the rest cannot finish in
        time: the stage is not started.
        """
        cfg = self.config
        texts = self._query_texts(ctx, t, user.queries)
        with phases("history"):
            budget = history_budget(ctx, t, self._longest(ctx, t, user.queries), cfg.insight_max_tokens)
            if budget <= 0:
                return _Stage(stopped="prompt_budget")
            history, ids = selected_history(ctx, t, user.profile, cfg.history_k, budget)
        stage = _Stage(history, ids)
        if cfg.edit == "none" and cfg.answer_prompt != "insight":
            return stage
        fits = lambda prompts: all(ctx.backbone.count_tokens(p) <= ctx.max_prompt_tokens for p in prompts)  # noqa: E731
        if (wont_finish or out_of_time)():
            return stage.stop("budget")
        if not fits(insight_prompt(t, history, personal=p) for p in (True, False)):
            return stage.stop("prompt_budget")
        with phases("insights"):
            insight_p, insight_n = insights(ctx, t, history, cfg.insight_max_tokens)
        stage.insight = insight_p
        if cfg.edit == "none":  # the control answering with the insight prompt needs c^P, not the pairs
            return stage
        if out_of_time():
            return stage.stop("budget")
        pair_prompts = [pair_prompt(t, history, q, i, personal=p) for q in texts for i, p in
                        ((insight_p, True), (insight_n, False))]  # fmt: skip
        if not fits(pair_prompts):
            return stage.stop("prompt_budget")
        with phases("pairs"):
            personal, neutral = preference_answers(ctx, t, history, texts, insight_p, insight_n)
        stage.data = SelfData(
            history, ids, insight_p, insight_n, tuple(q.id for q in user.queries), tuple(texts), tuple(personal),
            tuple(neutral),
        )  # fmt: skip
        if out_of_time():
            return stage.stop("budget")
        kept = stage.data.kept
        hidden = ctx.backbone.model.config.hidden_size
        stage.p = stage.n = torch.empty(0, ctx.backbone.num_layers, hidden)
        if not kept:
            return stage
        with phases("embeddings"):
            prompts = [answer_prompt(t, history, texts[i]) for i in kept]
            answers = [personal[i] for i in kept] + [neutral[i] for i in kept]
            emb = mlp_outputs(ctx.backbone, prompts + prompts, answers, batch_size=ctx.batch_size)
        stage.p, stage.n = emb[: len(kept)], emb[len(kept) :]
        return stage

    def _insight(self, ctx: Context, t: Templates, history: str, phases: _Phases) -> str:
        """c^P alone, for a group-mode user's insight prompt (their pairs are never generated); "" out of time."""
        cfg, backbone = self.config, ctx.backbone
        prompt = insight_prompt(t, history, personal=True)
        if ctx.clock.expired or backbone.count_tokens(prompt) > ctx.max_prompt_tokens:
            return ""
        with phases("insights"):
            (raw,) = backbone.generate([prompt], max_new_tokens=cfg.insight_max_tokens, batch_size=1)
        return backbone.truncate(clean_insight(raw, personal=True), cfg.insight_max_tokens)

    def _directions(
        self, ctx: Context, p: torch.Tensor, n: torch.Tensor, out_of_time: Callable[[], bool] | None = None
    ) -> tuple[Directions, list[float]]:
        """Directions from the pairs' embeddings; the CCS probes train on the backbone's device until the deadline."""
        cfg = self.config
        return find_directions(
            p, n, n_layers=min(cfg.n_layers, p.shape[1]), restarts=cfg.ccs_restarts, epochs=cfg.ccs_epochs,
            lr=cfg.ccs_lr, weight_decay=cfg.ccs_weight_decay, seed=ctx.seed, device=ctx.backbone.device,
            stop=out_of_time, identification=cfg.directions,
        )  # fmt: skip

    @staticmethod
    def _layer_record(directions: Directions, losses: list[float]) -> dict[str, Any]:
        return {
            "layers": list(directions.layers),
            "layers_ccs_loss": [round(x, 6) for x in directions.ccs_loss],
            "ccs_loss_per_layer": [round(x, 6) for x in losses],
            "ccs_epochs": directions.ccs_epochs,
        }

    def _query_texts(self, ctx: Context, t: Templates, queries: Sequence[Query]) -> list[str]:
        """Each query's `[QUERY]`, taken from the task input cut as every method's is (the history gives way)."""
        return [query_text(ctx.task, t, fit_query(ctx, q.input)) for q in queries]

    def _longest(self, ctx: Context, t: Templates, queries: Sequence[Query]) -> int:
        count = ctx.backbone.count_tokens
        return max((count(q) for q in self._query_texts(ctx, t, queries)), default=0)

    def _count(
        self, ctx: Context, user: User, state: ChameleonState | None, reason: str, phases: _Phases, entry: dict,
        personalized: bool | None = None,
    ) -> ChameleonState | None:  # fmt: skip
        """Record the user in `ctx.report` (coverage, data, phase times) and hand back their state.

        `personalized` defaults to having a state; a user cut short with only their history is not personalized
        (no edit) but answers with the history prompt, and counts in `history_only_users`.
        """
        report = ctx.report
        personalized = state is not None if personalized is None else personalized
        if state is not None and not personalized:
            report["history_only_users"] = report.get("history_only_users", 0) + 1
        report.setdefault("mode", self.config.mode + ("-unseen" if self.config.unseen else ""))
        report.setdefault("answer_prompt", self.config.answer_prompt)  # the paper is ambiguous: say which one
        report.setdefault("directions", self.config.directions)
        shown = "input" if state is None or not state.history else "insight" if state.insight else "history"
        report.setdefault("answered_with", {}).setdefault(shown, 0)
        report["answered_with"][shown] += 1
        ctx.personalized(user, personalized, reason)
        totals = report.setdefault("phase_s", dict.fromkeys(PHASES, 0.0))
        for name, seconds in phases.seconds.items():
            totals[name] += seconds
        for key in ("pairs_kept", "pairs_dropped"):
            report[key] = report.get(key, 0) + entry.get(key, 0)
        entry = {**entry, "personalized": personalized, "phase_s": phases.seconds, "answered_with": shown}
        if reason:
            entry["fallback"] = reason
        report.setdefault("users", {})[user.id] = entry
        return state
