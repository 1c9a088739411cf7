"""Direct Preference Optimisation (Rafailov et al., 2023): RLHF without a reward model or RL.

The KL-regularised RL objective has a closed-form optimum, π*(y|x) ∝ π_ref(y|x) ·
exp(r(x, y) / β). Turned around, every policy defines an *implicit reward*

    r(x, y) = β · (log π(y|x) - log π_ref(y|x))

and putting it into the Bradley–Terry likelihood gives a plain classification loss on
preference pairs, with no sampling during training:

    loss = -log sigmoid( β · [(log π(y_c) - log π_ref(y_c)) - (log π(y_r) - log π_ref(y_r))] )

`dpo_loss` is trl's DPO loss ("sigmoid", the default) on the same sequence log-probs; the
log-probs are sums over the answer's tokens (`sequence_logps`). β sets how far the policy
may move from the reference: the effect is measured as a win rate (a verifier judges the
answers) and as the KL divergence to the reference.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

__all__ = ["dpo_loss", "dpo_loss_fn", "encode_dpo_pairs", "sequence_kl", "sequence_logps", "train_dpo",
           "verifier_win_rate"]


def dpo_loss(policy_chosen_logps: torch.Tensor, policy_rejected_logps: torch.Tensor,
             ref_chosen_logps: torch.Tensor, ref_rejected_logps: torch.Tensor, beta: float = 0.1
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(mean loss, chosen rewards, rejected rewards); rewards are β·(log π - log π_ref), detached, per pair."""
    if beta <= 0:
        raise ValueError(f"beta must be positive (it scales the implicit reward), got {beta}")
    chosen_logratios = policy_chosen_logps - ref_chosen_logps  # (B,) how much more likely than the reference
    rejected_logratios = policy_rejected_logps - ref_rejected_logps
    loss = -F.logsigmoid(beta * (chosen_logratios - rejected_logratios)).mean()
    return loss, beta * chosen_logratios.detach(), beta * rejected_logratios.detach()


def sequence_logps(model, ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Σ log p(token) over the positions whose label is not -100 (the answer), per row (B,)."""
    out = model(ids)
    logits = out[0] if isinstance(out, tuple) else out.logits  # (B, T, V)
    logp = logits[:, :-1].float().log_softmax(-1)  # position t predicts token t + 1
    targets = labels[:, 1:]
    keep = targets != -100
    picked = logp.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)  # (B, T-1)
    return (picked * keep).sum(-1)


def encode_dpo_pairs(pairs: Sequence, tokenizer, max_length: int):
    """Each pair as two ChatExamples (chosen, rejected) whose labels cover only the answer."""
    from llmcourse.finetuning.chat import tokenize_chat

    return [(tokenize_chat(p.messages("chosen"), tokenizer, max_length=max_length),
             tokenize_chat(p.messages("rejected"), tokenizer, max_length=max_length)) for p in pairs]


def dpo_batches(encoded, batch_size: int, pad_id: int, generator: torch.Generator, device="cpu"):
    """Random batches: (ids, labels) with the chosen rows first, then the rejected ones (trl's layout)."""
    from llmcourse.finetuning.chat import pad_examples

    def make() -> tuple:
        picks = torch.randint(len(encoded), (batch_size,), generator=generator).tolist()
        rows = [encoded[i][0] for i in picks] + [encoded[i][1] for i in picks]
        ids, labels, _ = pad_examples(rows, pad_id)
        return ids.to(device), labels.to(device)
    return make


def dpo_loss_fn(reference, beta: float = 0.1, log: dict | None = None, loss=None):
    """A loss function for `llmcourse.training.train`: DPO of the trained model against a frozen `reference`.

    `loss` has `dpo_loss`'s signature (a learner's version can be passed)."""
    loss_of = loss or dpo_loss

    def loss_fn(model, batch):
        ids, labels = batch
        logps = sequence_logps(model, ids, labels)
        with torch.no_grad():
            ref = sequence_logps(reference, ids, labels)
        B = ids.shape[0] // 2
        value, rc, rr = loss_of(logps[:B], logps[B:], ref[:B], ref[B:], beta)
        if log is not None and torch.is_grad_enabled():
            log.setdefault("reward_margin", []).append((rc - rr).mean().item())
            log.setdefault("reward_accuracy", []).append((rc > rr).float().mean().item())
        return value
    return loss_fn


def train_dpo(policy, reference, tokenizer, pairs: Sequence, steps: int, beta: float = 0.1, lr: float = 1e-4,
              batch_size: int = 8, seed: int = 0, progress: bool = True, loss=None):
    """DPO through the course's training loop; returns (History, per-step log of reward margin and accuracy)."""
    from llmcourse.finetuning.sft import _pad_id
    from llmcourse.training import train

    reference.eval()
    for p in reference.parameters():
        p.requires_grad_(False)
    T = policy.config.block_size
    encoded = encode_dpo_pairs(pairs, tokenizer, T)
    g = torch.Generator().manual_seed(seed)
    log: dict = {}
    history = train(policy, dpo_batches(encoded, batch_size, _pad_id(tokenizer), g), steps=steps, lr=lr,
                    eval_every=max(1, steps // 4), eval_batches=2, warmup=max(1, steps // 10), weight_decay=0.0,
                    loss_fn=dpo_loss_fn(reference, beta, log, loss), progress=progress, desc="DPO")
    return history, log


@torch.no_grad()
def sequence_kl(policy, reference, tokenizer, prompts: Sequence[str], max_new_tokens: int = 16,
                seed: int = 0) -> float:
    """KL(π || π_ref) per answer, estimated on answers sampled from the policy (temperature 1):
    mean over prompts of log π(y|x) - log π_ref(y|x)."""
    from llmcourse.finetuning.chat import render_chat

    total = 0.0
    device = next(policy.parameters()).device
    eos = tokenizer.special_tokens.get("<|endoftext|>")
    for i, prompt in enumerate(prompts):
        text = render_chat([{"role": "user", "content": prompt}], tokenizer, add_generation_prompt=True)
        ids = tokenizer.encode(text, allowed_special="all")[-(policy.config.block_size - max_new_tokens):]
        x = torch.tensor([ids], device=device)
        full = policy.generate(x, max_new_tokens, temperature=1.0, seed=seed + i, eos_token_id=eos)
        labels = full.clone()
        labels[:, :len(ids)] = -100
        total += (sequence_logps(policy, full, labels) - sequence_logps(reference, full, labels)).item()
    return total / max(1, len(prompts))


def verifier_win_rate(items: Sequence, policy_answers: Sequence[str], reference_answers: Sequence[str]
                      ) -> dict[str, float]:
    """Head-to-head by the verifier: win (policy right, reference wrong), loss, tie; win rate = (wins + ties/2) / n."""
    from llmcourse.assets.instructions import verify

    if not items or len(items) != len(policy_answers) or len(items) != len(reference_answers):
        raise ValueError(f"need one policy and one reference answer per item, got {len(items)} items, "
                         f"{len(policy_answers)} and {len(reference_answers)} answers")
    wins = losses = 0
    for item, a, b in zip(items, policy_answers, reference_answers):
        pa, rb = verify(item, a), verify(item, b)
        wins += pa and not rb
        losses += rb and not pa
    n = len(items)
    ties = n - wins - losses
    return {"win_rate": (wins + ties / 2) / n, "wins": wins, "losses": losses, "ties": ties,
            "policy_accuracy": sum(verify(i, a) for i, a in zip(items, policy_answers)) / n,
            "reference_accuracy": sum(verify(i, b) for i, b in zip(items, reference_answers)) / n}
