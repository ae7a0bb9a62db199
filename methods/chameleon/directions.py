"""From preference pairs to edit directions (Section 3.2, Appendix A.4).

1. `mlp_outputs`: the output of every decoder layer's MLP at the last token of each side of a pair.
2. `svd_direction`: theta^P, the top right singular vector of the stacked personalized embeddings H^P.
3. `train_ccs`: theta^N, the normal of the hyperplane a CCS probe (Burns et al. 2023) finds between the
   personalized and the neutral embeddings, trained without labels; every layer gets a loss.
4. `find_directions`: both for every layer, then the `n_layers` layers with the lowest CCS loss. `identification`
   is Appendix A.4's choice: `hybrid` (SVD for theta^P, CCS for theta^N, the paper's), `svd` (both by SVD) or
   `ccs` (both from the CCS hyperplane, theta^P = -theta^N).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from lampbench.harness.services.backbone import pad_batch


@dataclass(frozen=True)
class Directions:
    """What CHAMELEON edits with: for each chosen layer, theta^P and theta^N (float32, CPU) and its CCS loss."""

    layers: tuple[int, ...]
    theta_p: torch.Tensor  # [len(layers), hidden]
    theta_n: torch.Tensor  # [len(layers), hidden]
    ccs_loss: tuple[float, ...]
    ccs_epochs: int = 0  # epochs the probes trained: fewer than asked when the deadline stopped them


@torch.inference_mode()
def mlp_outputs(backbone, prompts: Sequence[str], answers: Sequence[str], *, batch_size: int) -> torch.Tensor:
    """MLP outputs at the last token of `prompt` (a user turn) answered with `answer` (the assistant's turn).

    Returns:
        float32 tensor [len(prompts), num_layers, hidden] on the CPU.
    """
    tokenizer = backbone.tokenizer
    encoded = [
        backbone.encode(p) + tokenizer(a, add_special_tokens=False)["input_ids"]
        for p, a in zip(prompts, answers, strict=True)
    ]
    n_layers = backbone.num_layers
    captured: dict[int, torch.Tensor] = {}

    def grab(layer: int):
        def hook(module, inputs, output):
            captured[layer] = output[:, -1, :]  # left padding: -1 is every row's last token; stays on the device

        return hook

    result: list[torch.Tensor | None] = [None] * len(encoded)
    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
    with backbone.hooks({backbone.layer_module(i, "mlp"): grab(i) for i in range(n_layers)}):
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            ids, mask = pad_batch([encoded[i] for i in idx], tokenizer.pad_token_id, left=True)
            # Positions counted from each row's first real token, as generation counts them under left padding.
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            device = backbone.device
            backbone.model(
                input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=positions.to(device),
                logits_to_keep=1,
            )  # fmt: skip
            stacked = torch.stack([captured[i] for i in range(n_layers)], dim=1).float().cpu()  # one copy per batch
            for row, i in enumerate(idx):
                result[i] = stacked[row]
    return torch.stack(result)  # type: ignore[arg-type]


def svd_direction(h: torch.Tensor) -> torch.Tensor:
    """The top right singular vector of each layer's embedding matrix (Eq. 3): [layers, K, d] -> [layers, d].

    The SVD is of H itself, not centred, as Appendix A.4 writes it. Its sign is arbitrary; we orient it so the
    embeddings project positively (the paper's projection edit does not depend on the sign).
    """
    _, _, vh = torch.linalg.svd(h.double(), full_matrices=False)
    theta = vh[:, 0, :]
    sign = torch.sign((h.double() @ theta.unsqueeze(-1)).sum(dim=(1, 2)))
    return (theta * torch.where(sign == 0, 1.0, sign).unsqueeze(-1)).float()


def ccs_loss(gp: torch.Tensor, gn: torch.Tensor) -> torch.Tensor:
    """CCS loss per probe, averaged over pairs: mean[(g(N) - (1 - g(P)))^2 + min(g(N), g(P))^2].

    Appendix A.4 prints the confidence term without its square; Burns et al. define it squared, and so do we.
    """
    return ((gn - (1 - gp)) ** 2 + torch.minimum(gp, gn) ** 2).mean(dim=-1)


#: How many CCS epochs run between two looks at the deadline (a look is cheap; an epoch is milliseconds).
CHECK_EVERY = 25


def train_ccs(
    p: torch.Tensor, n: torch.Tensor, *, restarts: int, epochs: int, lr: float, weight_decay: float, seed: int = 0,
    device: torch.device | str = "cpu", stop: Callable[[], bool] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, int]:  # fmt: skip
    """Unsupervised CCS probes g(v) = sigmoid(theta . v + b), one per layer, best of `restarts`.

    Args:
        p, n: personalized and neutral embeddings, [layers, K, d], pair i of `p` matching pair i of `n`.
        device: where the probes train (the backbone's device); the initial probes are drawn on the CPU, so a
            seed gives the same start everywhere.
        stop: asked every `CHECK_EVERY` epochs; when it says True, training ends and the probes so far are kept.

    Returns:
        (theta [layers, d], loss [layers], epochs run), on the CPU: each layer's lowest-loss probe direction, in
        the embeddings' own space, oriented to point from the personalized side to the neutral side, its CCS loss.

    Burns et al. centre each side on its own mean because their two sides differ only by a prompt token. Here the
    two sides differ by the very thing the hyperplane must separate, so both are centred on their pooled mean;
    and they are scaled by one number per layer (the pooled RMS), not per dimension, which keeps a few pairs
    well conditioned and leaves the probe's direction unchanged when mapped back. All layers and restarts train
    as one batch: their losses are independent and AdamW is elementwise, so this equals separate training.
    """
    layers, _, d = p.shape
    device = torch.device(device)
    xp, xn = _standardised(p.to(device), n.to(device))
    gen = torch.Generator().manual_seed(seed)
    bound = d**-0.5  # nn.Linear's default initialisation, as in Burns et al.'s probe
    theta = ((torch.rand(layers, restarts, d, generator=gen) * 2 - 1) * bound).to(device).requires_grad_()
    bias = ((torch.rand(layers, restarts, 1, generator=gen) * 2 - 1) * bound).to(device).requires_grad_()
    opt = _adamw([theta, bias], lr=lr, weight_decay=weight_decay)
    xp_t, xn_t = xp.transpose(1, 2), xn.transpose(1, 2)  # [layers, d, K]

    def losses() -> torch.Tensor:  # [layers, restarts]
        gp = torch.sigmoid(torch.bmm(theta, xp_t) + bias)  # [layers, restarts, K]
        gn = torch.sigmoid(torch.bmm(theta, xn_t) + bias)
        return ccs_loss(gp, gn)

    done = 0
    with torch.enable_grad(), _one_thread(device):
        for done in range(1, epochs + 1):
            opt.zero_grad(set_to_none=True)
            losses().sum().backward()
            opt.step()
            if stop is not None and done % CHECK_EVERY == 0 and done < epochs and stop():
                break
    with torch.no_grad():
        direction, loss = _best_oriented(theta.detach(), losses(), xp, xn)
        return direction, loss, done


def _standardised(p: torch.Tensor, n: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both sides centred on their pooled mean and scaled by one pooled RMS per layer (see `train_ccs`), fp32."""
    p, n = p.double(), n.double()
    pooled = torch.cat([p, n], dim=1)
    mean = pooled.mean(dim=1, keepdim=True)
    scale = (pooled - mean).pow(2).mean(dim=(1, 2), keepdim=True).sqrt().clamp_min(1e-12)
    return ((p - mean) / scale).float(), ((n - mean) / scale).float()


def _best_oriented(
    theta: torch.Tensor, final: torch.Tensor, xp: torch.Tensor, xn: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each layer's lowest-loss probe direction, pointing from the personalized side to the neutral; on the CPU."""
    best = final.argmin(dim=1)
    rows = torch.arange(theta.shape[0], device=theta.device)
    direction = theta[rows, best]
    toward_neutral = torch.sign(((xn - xp) @ direction.unsqueeze(-1)).sum(dim=(1, 2)))
    direction = direction * torch.where(toward_neutral == 0, 1.0, toward_neutral).unsqueeze(-1)
    return direction.cpu(), final[rows, best].cpu()


@contextmanager
def _one_thread(device: torch.device) -> Iterator[None]:
    """Run the probes on one CPU thread: their tensors are small, and on a busy machine a second thread costs
    more in synchronisation than it gives (measured: 3 s against 40 s for 1000 epochs on a loaded 2-core box)."""
    if device.type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _adamw(params: list[torch.Tensor], *, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """AdamW, fused when this build of torch has it for the device (same update, fewer passes over memory)."""
    try:
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, ValueError):
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


def find_directions(
    p: torch.Tensor,
    n: torch.Tensor,
    *,
    n_layers: int,
    restarts: int,
    epochs: int,
    lr: float,
    weight_decay: float,
    seed: int = 0,
    device: torch.device | str = "cpu",
    stop: Callable[[], bool] | None = None,
    identification: str = "hybrid",
) -> tuple[Directions, list[float]]:
    """theta^P and theta^N for every layer; keep the `n_layers` with the lowest CCS loss.

    Args:
        p, n: [K, layers, d] embeddings of the kept pairs (as `mlp_outputs` returns them).
        device, stop: where the CCS probes train, and when they must stop (`train_ccs`).
        identification: `hybrid` (theta^P by SVD, theta^N by CCS), `svd` (both by SVD: theta^N the top right
            singular vector of the neutral embeddings) or `ccs` (both from the CCS probe: theta^P = -theta^N).
            The CCS probes train in all three: their losses choose the layers.

    Returns:
        The chosen layers' directions, and the CCS loss of every layer (index = layer).
    """
    if p.shape[0] == 0:
        raise ValueError("no preference pairs to find directions from")
    p, n = p.transpose(0, 1), n.transpose(0, 1)  # [layers, K, d]
    theta_n, loss, done = train_ccs(
        p, n, restarts=restarts, epochs=epochs, lr=lr, weight_decay=weight_decay, seed=seed, device=device, stop=stop
    )
    if identification == "hybrid":
        theta_p = svd_direction(p)
    elif identification == "svd":
        theta_p, theta_n = svd_direction(p), svd_direction(n)
    elif identification == "ccs":
        theta_p = -theta_n
    else:
        raise ValueError(f"unknown identification {identification!r}")
    chosen = sorted(torch.argsort(loss, stable=True)[:n_layers].tolist())
    directions = Directions(
        layers=tuple(chosen),
        theta_p=theta_p[chosen].contiguous(),
        theta_n=theta_n[chosen].float().contiguous(),
        ccs_loss=tuple(float(loss[i]) for i in chosen),
        ccs_epochs=done,
    )
    return directions, [float(x) for x in loss]
