"""Forward passes that stop where what is needed has been computed.

Methods that read activations (StyleVector's layer output) or act through hooks on the way (Per-Pcs choosing its
pieces) need the model only up to some module: running the remaining layers and the LM head computes logits over
the whole vocabulary for every position (1.2 GB at 8 x 600 tokens with a 128k vocabulary) that nobody reads.
`forward_until` stops the pass by raising from the hook of the last module it needs, and catches that.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


class _Done(Exception):
    """Raised by a hook once every needed module has run: the rest of the forward pass is skipped."""


def forward_until(backbone, names: Sequence[str], *, keep: bool = False, **inputs) -> dict[str, torch.Tensor]:
    """Run the model on `inputs` (`input_ids=`, `attention_mask=`, ...) only until every module in `names` has run.

    Hooks already installed on those modules (`Backbone.hooks` blocks around this call) run first, so what they
    compute or change is as in a full pass. With `keep`, returns each named module's output (the first element of
    a tuple), else nothing is held. No KV cache is built.

    Raises:
        ValueError: the pass ended with a named module not run (it is not on the model's forward path).
    """
    pending, out = set(names), {}

    def hook_for(name: str):
        def hook(module, args, output):
            if keep:
                out[name] = output[0] if isinstance(output, tuple) else output
            pending.discard(name)
            if not pending:
                raise _Done

        return hook

    try:
        with backbone.hooks({name: hook_for(name) for name in names}):
            backbone.model(**inputs, use_cache=False)
    except _Done:
        return out
    raise ValueError(f"modules {sorted(pending)} did not run in a forward pass of {backbone.name}")
