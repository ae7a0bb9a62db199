"""The backbone: one causal LM shared by every method of a run, with what methods need from it.

- `generate`: batched decoding through the chat template, left padding, length-sorted batches: greedy unless the
  run asks for sampling (`Decoding`). Only the run's own settings decode: the generation_config.json a model ships
  (sampling, temperature, repetition penalty...) is set aside, and generation stops at any of the model's eos ids
  and the tokenizer's.
- `batch1_agreement`: whether batched answers equal one-at-a-time answers on a sample (bf16 moves them).
- `hidden_states`: per-layer hidden states at the last prompt token.
- `hooks`: forward hooks on named modules, always removed when the block exits (CHAMELEON, PerFit).
- LoRA adapters injected once into the base model; a user's adapter weights are swapped in and out by copying
  tensors, so the base is never reloaded (OPPU, Per-Pcs).

`harness/services/models.py` loads one (`load_backbone`). torch is imported where it is used, so that the runner
and the CLI import this module without loading it.
"""

from __future__ import annotations

import dataclasses
import difflib
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lampbench.harness.services.choice import Chosen, answer_by_choice, choice_tokens

if TYPE_CHECKING:
    import torch


def pad_batch(rows: Sequence[Sequence[int]], pad_id: int, *, left: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Token id lists as one padded batch: (input_ids, attention_mask), CPU LongTensors [len(rows), longest].

    Right padding keeps every row's first token at position 0 (training, scoring spans); left padding puts every
    row's last token at -1 (generation, last-token read-outs).
    """
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        span = slice(width - len(row), width) if left else slice(0, len(row))
        ids[i, span] = torch.tensor(list(row), dtype=torch.long)
        attention[i, span] = 1
    return ids, attention


@dataclass(frozen=True)
class Decoding:
    """How answers are decoded: greedy (the default), or sampled from `seed` (PerFit's settings by default).

    Sampling draws from its own random stream, seeded afresh at each `generate` call, so the same prompts in the
    same batches give the same answers, and the training that happens between answers sees the random state it
    would without sampling.
    """

    sample: bool = False
    temperature: float = 0.1
    top_k: int = 10
    top_p: float = 0.9
    seed: int = 0


def eos_ids(model, tokenizer) -> tuple[int, ...]:
    """Every id that ends an answer: the model's own eos ids (its generation config's list, its config's) and the
    tokenizer's eos, in that order, each once."""
    found: list[int] = []
    generation = getattr(model, "generation_config", None)
    own = (getattr(generation, "eos_token_id", None), getattr(model.config, "eos_token_id", None))
    for value in (*own, tokenizer.eos_token_id):
        for i in [value] if isinstance(value, int) else list(value or []):
            if i not in found:
                found.append(int(i))
    return tuple(found)


def _versions(params: Mapping[str, torch.Tensor], names) -> tuple[int, ...] | None:
    """The version counters of `params[name]` (bumped by every in-place write); None when one has none (a weight
    created under `torch.inference_mode`), so nothing can be told about it."""
    if any(params[name].is_inference() for name in names):
        return None
    return tuple(params[name]._version for name in names)


class Backbone:
    """A causal LM and its tokenizer.

    Args:
        model: a Hugging Face causal LM (`LlamaForCausalLM` and the like).
        tokenizer: its tokenizer; its chat template is used when it has one.
        name: how the model was asked for (recorded with results).
        max_prompt_tokens: prompts longer than this are cut from the right, as LaMP cuts its inputs.
        batch_size: default generation batch size.
        chat_template: wrap prompts in the tokenizer's chat template when it has one (False: plain text prompts).
        decoding: greedy (default) or sampling settings for `generate`.
    """

    def __init__(
        self, model, tokenizer, *, name: str = "model", max_prompt_tokens: int = 2048, batch_size: int = 8,
        chat_template: bool = True, decoding: Decoding | None = None,
    ):  # fmt: skip
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.max_prompt_tokens = max_prompt_tokens
        self.batch_size = batch_size
        self.chat_template = chat_template
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.decoding = decoding or Decoding()
        self.eos_ids = eos_ids(model, tokenizer)
        self._lora_names: list[str] = []
        self._chosen: Chosen | None = None  # inside `choosing`: what `generate` answers among
        # adapter -> (the state last copied in, its parameters' version counters right after): `load_adapter` skips
        # the copy while the adapter still holds exactly that state (DPO answered every batch by copying 1 GiB in).
        self._held: dict[str, tuple[Mapping[str, torch.Tensor], tuple[int, ...]]] = {}

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """The dtype the model computes in (its first floating-point weight's)."""
        import torch

        return next((p.dtype for p in self.model.parameters() if p.is_floating_point()), torch.float32)

    @property
    def num_layers(self) -> int:
        return self.model.config.num_hidden_layers

    # -- prompts ---------------------------------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def truncate(self, text: str, max_tokens: int) -> str:
        """`text` cut to at most `max_tokens` tokens (from the right)."""
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) <= max_tokens:
            return text
        return self.tokenizer.decode(ids[: max(0, max_tokens)], skip_special_tokens=True)

    def encode(self, prompt: str) -> list[int]:
        """Token ids of a user prompt wrapped in the chat template (plain text when the model has none)."""
        ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        if len(ids) > self.max_prompt_tokens:
            prompt = self.tokenizer.decode(ids[: self.max_prompt_tokens], skip_special_tokens=True)
        if self.chat_template and self.tokenizer.chat_template:
            text = self.tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=False
            )
            return self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return self.tokenizer(prompt)["input_ids"]

    def _batches(
        self, prompts: Sequence[str], batch_size: int
    ) -> Iterator[tuple[list[int], torch.Tensor, torch.Tensor]]:
        """Length-sorted, left-padded batches: (original indices, input_ids, attention_mask)."""
        encoded = [self.encode(p) for p in prompts]
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            ids, mask = pad_batch([encoded[i] for i in idx], self.tokenizer.pad_token_id, left=True)
            yield idx, ids.to(self.device), mask.to(self.device)

    # -- generation -----------------------------------------------------------------------------------------

    def generate(
        self, prompts: Sequence[str], *, max_new_tokens: int, batch_size: int | None = None, progress: bool = False,
        on_batch: Callable[[list[int]], None] | None = None,
    ) -> list[str]:  # fmt: skip
        """Answers to user prompts, in the order given: greedy, or sampled as `self.decoding` says.

        Batches are sorted by length, so rows are not in the order given: `on_batch(indices)`, called before each
        batch is generated with the given positions of its rows in row order, lets per-row edits (one user's
        adapter or steering vector per row) find whose row is whose. Inside `choosing`, the answers are chosen
        instead (`harness/services/choice.py`; `max_new_tokens` then plays no part).
        """
        if self._chosen is not None:
            batches = self._batches(prompts, batch_size or self.batch_size)
            pad = self.tokenizer.pad_token_id
            return answer_by_choice(self.model, batches, self._chosen, len(prompts), pad_id=pad, on_batch=on_batch)
        return self._generate(prompts, max_new_tokens, batch_size or self.batch_size, progress, on_batch,
                              self.decoding)  # fmt: skip

    @contextmanager
    def choosing(self, choices: Sequence[str]) -> Iterator[Chosen]:
        """Inside this block `generate` answers each prompt with the most likely of `choices` after it
        (`harness/services/choice.py`), through the same batches, hooks and `on_batch` calls; yields the `Chosen`,
        which counts the prompts answered so."""
        if self._chosen is not None:
            raise RuntimeError("already answering by choice")
        self._chosen = choice_tokens(self.tokenizer, choices)
        try:
            yield self._chosen
        finally:
            self._chosen = None

    def _generate(self, prompts, max_new_tokens, batch_size, progress, on_batch, decoding: Decoding) -> list[str]:
        import torch

        config = self.generation_config(max_new_tokens, decoding)
        outputs: list[str] = [""] * len(prompts)
        batches = self._batches(prompts, batch_size)
        if progress:
            from tqdm.auto import tqdm

            batches = tqdm(batches, total=-(-len(prompts) // batch_size), desc="generate")
        device = self.device
        streams = [device.index or 0] if device.type == "cuda" else []
        with torch.inference_mode(), self._only(config), torch.random.fork_rng(streams, enabled=decoding.sample):
            if decoding.sample:
                torch.manual_seed(decoding.seed)
            for idx, ids, mask in batches:
                if on_batch is not None:
                    on_batch(idx)
                out = self.model.generate(input_ids=ids, attention_mask=mask, generation_config=config)
                texts = self.tokenizer.batch_decode(out[:, ids.shape[1] :], skip_special_tokens=True)
                for i, text in zip(idx, texts, strict=True):
                    outputs[i] = text.strip()
        return outputs

    def generation_config(self, max_new_tokens: int, decoding: Decoding | None = None):
        """The complete `GenerationConfig` answers are made with: the decoding's settings and nothing else."""
        from transformers import GenerationConfig

        decoding = decoding or self.decoding
        sampling = (
            {"do_sample": True, "temperature": decoding.temperature, "top_k": decoding.top_k, "top_p": decoding.top_p}
            if decoding.sample else {"do_sample": False}
        )  # fmt: skip
        return GenerationConfig(
            max_new_tokens=max_new_tokens, pad_token_id=self.tokenizer.pad_token_id, eos_token_id=list(self.eos_ids),
            **sampling,
        )  # fmt: skip

    @contextmanager
    def _only(self, config) -> Iterator[None]:
        """`config` as the model's own generation config while answering.

        transformers fills every field a passed config leaves unset from `model.generation_config`, which
        `from_pretrained` reads from the model's generation_config.json (Qwen2.5-Instruct's repetition penalty
        1.05, sampling, top-k...): with the run's config in its place there is nothing else to fill from.
        """
        saved = self.model.generation_config
        self.model.generation_config = config
        try:
            yield
        finally:
            self.model.generation_config = saved

    def batch1_agreement(self, prompts: Sequence[str], *, max_new_tokens: int, batch_size: int) -> dict[str, Any]:
        """How many of `prompts` get the same greedy answer in batches of `batch_size` as one at a time.

        Padding and batch shape change the kernels' reduction order; in bf16 that moves answers (issue 12: 43 of
        48 identical on SmolLM2), so methods that group rows differently pick up noise. What a run records.
        """
        t = time.perf_counter()
        greedy = dataclasses.replace(self.decoding, sample=False)
        together = self._generate(prompts, max_new_tokens, batch_size, False, None, greedy)
        alone = [self._generate([p], max_new_tokens, 1, False, None, greedy)[0] for p in prompts]
        agreed = sum(a == b for a, b in zip(together, alone, strict=True))
        return {"sample": len(prompts), "agreed": agreed, "batch_size": batch_size,
                "seconds": round(time.perf_counter() - t, 3)}  # fmt: skip

    def hidden_states(self, prompts: Sequence[str], *, batch_size: int | None = None) -> torch.Tensor:
        """Hidden states at the last prompt token: float32 tensor [n_prompts, num_layers + 1, hidden_size].

        Index 0 is the embedding output, index i the output of decoder layer i - 1.
        """
        import torch

        result: list[torch.Tensor | None] = [None] * len(prompts)
        with torch.inference_mode():
            for idx, ids, mask in self._batches(prompts, batch_size or self.batch_size):
                out = self.model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
                stacked = torch.stack(out.hidden_states, dim=1)[:, :, -1, :].float().cpu()  # left padding: -1 last
                for row, i in enumerate(idx):
                    result[i] = stacked[row]
            return torch.stack(result) if result else torch.empty(0)  # type: ignore[arg-type]

    # -- hooks ----------------------------------------------------------------------------------------------

    def layer_module(self, layer: int, part: str = "") -> str:
        """The module name of decoder layer `layer` (or of its `part`, e.g. `mlp`), for `hooks`."""
        name = f"model.layers.{layer}"
        return f"{name}.{part}" if part else name

    @contextmanager
    def hooks(self, hooks: Mapping[str, Callable[[torch.nn.Module, Any, Any], Any]]) -> Iterator[None]:
        """Install forward hooks `{module name: hook(module, inputs, output)}`; they are removed on exit, always.

        A hook that returns a value replaces the module's output, as in `torch.nn.Module.register_forward_hook`.
        """
        modules = dict(self.model.named_modules())
        handles = []
        try:
            for name, hook in hooks.items():
                if name not in modules:
                    close = difflib.get_close_matches(name, list(modules), n=3)
                    raise KeyError(f"no module {name!r} in {self.name}; did you mean {' or '.join(close) or '?'}")
                handles.append(modules[name].register_forward_hook(hook))
            yield
        finally:
            for handle in handles:
                handle.remove()

    # -- LoRA adapters --------------------------------------------------------------------------------------

    def add_lora(self, config, adapter: str = "user") -> int:
        """Inject a LoRA adapter (a `peft.LoraConfig`) into the base model in place; returns its parameter count.

        Module names do not change, so hooks still find `model.layers.N...`. Injecting twice under one name is an
        error; swap weights with `load_adapter` instead.
        """
        from peft import inject_adapter_in_model

        if adapter in self._lora_names:
            raise ValueError(f"adapter {adapter!r} is already injected")
        inject_adapter_in_model(config, self.model, adapter_name=adapter)
        self._lora_names.append(adapter)
        self._held.pop(adapter, None)
        return sum(t.numel() for t in self.adapter_state(adapter).values())

    def adapter_state(self, adapter: str = "user") -> dict[str, torch.Tensor]:
        """A detached CPU copy of the adapter's weights (what a method stores per user)."""
        return {
            name: p.detach().to("cpu", copy=True)
            for name, p in self.model.named_parameters()
            if f".{adapter}." in name and "lora_" in name
        }

    def load_adapter(self, state: Mapping[str, torch.Tensor], adapter: str = "user") -> None:
        """Copy a stored adapter state into the injected adapter (no reloading of the base model).

        Nothing is copied when the adapter still holds this very state: the same mapping was copied in last, and no
        in-place write (an optimizer step, a re-initialisation, another copy) has touched its weights since, as
        torch's version counters tell. Answering every batch with one collective adapter then copies it once.
        """
        import torch

        params = dict(self.model.named_parameters())
        for name in state:
            if name not in params or f".{adapter}." not in name:
                raise KeyError(f"adapter weight {name!r} does not belong to adapter {adapter!r}")
        held = self._held.get(adapter)
        if held is not None and held[0] is state and held[1] == _versions(params, state):
            return
        with torch.no_grad():
            for name, value in state.items():
                params[name].copy_(value)
        versions = _versions(params, state)
        if versions is None:
            self._held.pop(adapter, None)
        else:
            self._held[adapter] = (state, versions)

    def reset_adapter(self, adapter: str = "user") -> None:
        """Re-initialise the adapter as new (LoRA B = 0, so the model behaves as the base)."""
        from peft.tuners.lora import LoraLayer

        for module in self.model.modules():
            if isinstance(module, LoraLayer) and adapter in module.lora_A:
                module.reset_lora_parameters(adapter, init_lora_weights=True)

    @property
    def adapters(self) -> tuple[str, ...]:
        """Names of the injected adapters."""
        return tuple(self._lora_names)

    def activate_lora(self, adapters: str | Sequence[str]) -> None:
        """Make exactly `adapters` active (used in the forward pass, trainable); every other adapter is switched off.

        peft leaves only the most recently injected adapter active in the layers it touches, so a method that holds
        several adapters, or shares the model with another method's, names the ones it means.
        """
        from peft.tuners.tuners_utils import set_adapter

        set_adapter(self.model, [adapters] if isinstance(adapters, str) else list(adapters))

    def remove_lora(self, adapter: str, *, merge: bool = False) -> None:
        """Take an injected adapter out of the model; with `merge`, first fold its weights into the base weights.

        Merging changes the base model for everything that uses this backbone afterwards (OPPU merges its task LoRA
        before it trains per-user adapters). Layers left with no adapter become the plain modules they were.
        """
        from peft.tuners.tuners_utils import BaseTunerLayer

        if adapter not in self._lora_names:
            raise KeyError(f"no adapter {adapter!r}; injected: {', '.join(self._lora_names) or 'none'}")
        for name, module in list(self.model.named_modules()):
            if not isinstance(module, BaseTunerLayer) or adapter not in module._all_available_adapter_names():
                continue
            if merge:
                module.merge(adapter_names=[adapter])
                # The weights now belong to the base layer: the layer must not count as merged (a merged peft layer
                # ignores its other adapters, and disabling adapters would subtract the weights again).
                module.merged_adapters.remove(adapter)
            with warnings.catch_warnings():  # "adapter X was active, now Y is": callers activate what they want
                warnings.simplefilter("ignore")
                module.delete_adapter(adapter)
            if not module._all_available_adapter_names():
                parent, _, child = name.rpartition(".")
                setattr(self.model.get_submodule(parent), child, module.get_base_layer())
        getattr(self.model, "peft_config", {}).pop(adapter, None)
        self._lora_names.remove(adapter)
        self._held.pop(adapter, None)

    @contextmanager
    def adapter_disabled(self) -> Iterator[None]:
        """Run the plain base model inside this block, whatever adapter weights are loaded."""
        from peft.tuners.tuners_utils import BaseTunerLayer

        layers = [m for m in self.model.modules() if isinstance(m, BaseTunerLayer)]
        try:
            for layer in layers:
                layer.enable_adapters(False)
            yield
        finally:
            for layer in layers:
                layer.enable_adapters(True)
