"""The backbone: one causal LM shared by every method of a run, with what methods need from it.

- `generate`: batched greedy decoding through the chat template, left padding, length-sorted batches.
- `hidden_states`: per-layer hidden states at the last prompt token.
- `hooks`: forward hooks on named modules, always removed when the block exits (CHAMELEON, PerFit).
- LoRA adapters injected once into the base model; a user's adapter weights are swapped in and out by copying
  tensors, so the base is never reloaded (OPPU, Per-Pcs).

`harness/services/models.py` loads one (`load_backbone`). torch is imported where it is used, so that the runner
and the CLI import this module without loading it.
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

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


class Backbone:
    """A causal LM and its tokenizer.

    Args:
        model: a Hugging Face causal LM (`LlamaForCausalLM` and the like).
        tokenizer: its tokenizer; its chat template is used when it has one.
        name: how the model was asked for (recorded with results).
        max_prompt_tokens: prompts longer than this are cut from the right, as LaMP cuts its inputs.
        batch_size: default generation batch size.
        chat_template: wrap prompts in the tokenizer's chat template when it has one (False: plain text prompts).
    """

    def __init__(
        self, model, tokenizer, *, name: str = "model", max_prompt_tokens: int = 2048, batch_size: int = 8,
        chat_template: bool = True,
    ):  # fmt: skip
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.max_prompt_tokens = max_prompt_tokens
        self.batch_size = batch_size
        self.chat_template = chat_template
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self._lora_names: list[str] = []

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
        """Greedy answers to user prompts, in the order given.

        Batches are sorted by length, so rows are not in the order given: `on_batch(indices)`, called before each
        batch is generated with the given positions of its rows in row order, lets per-row edits (one user's
        adapter or steering vector per row) find whose row is whose.
        """
        import torch
        from transformers import GenerationConfig

        config = GenerationConfig(
            do_sample=False, max_new_tokens=max_new_tokens, pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=self.tokenizer.eos_token_id,
        )  # fmt: skip
        outputs: list[str] = [""] * len(prompts)
        batches = self._batches(prompts, batch_size or self.batch_size)
        if progress:
            from tqdm.auto import tqdm

            batches = tqdm(batches, total=-(-len(prompts) // (batch_size or self.batch_size)), desc="generate")
        with torch.inference_mode():
            for idx, ids, mask in batches:
                if on_batch is not None:
                    on_batch(idx)
                out = self.model.generate(input_ids=ids, attention_mask=mask, generation_config=config)
                texts = self.tokenizer.batch_decode(out[:, ids.shape[1] :], skip_special_tokens=True)
                for i, text in zip(idx, texts, strict=True):
                    outputs[i] = text.strip()
        return outputs

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
        return sum(t.numel() for t in self.adapter_state(adapter).values())

    def adapter_state(self, adapter: str = "user") -> dict[str, torch.Tensor]:
        """A detached CPU copy of the adapter's weights (what a method stores per user)."""
        return {
            name: p.detach().to("cpu", copy=True)
            for name, p in self.model.named_parameters()
            if f".{adapter}." in name and "lora_" in name
        }

    def load_adapter(self, state: Mapping[str, torch.Tensor], adapter: str = "user") -> None:
        """Copy a stored adapter state into the injected adapter (no reloading of the base model)."""
        import torch

        params = dict(self.model.named_parameters())
        with torch.no_grad():
            for name, value in state.items():
                if name not in params or f".{adapter}." not in name:
                    raise KeyError(f"adapter weight {name!r} does not belong to adapter {adapter!r}")
                params[name].copy_(value)

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
