"""Two more parameter-efficient methods: bottleneck adapters and prompt tuning.

**Adapters** (Houlsby et al., 2019): after each attention and each MLP sublayer, a small
bottleneck with a skip connection,

    h  <-  h + W_up · act(W_down · h)        W_down: (m, C), W_up: (C, m), m << C

W_up starts at zero, so the adapted model starts as the pre-trained one. Only the
adapters (and nothing else) train: 2·m·C + m + C numbers per sublayer. Unlike LoRA they
sit *in series* with the layer, so they cannot be merged away: inference pays for them.

**Prompt tuning** (Lester et al., 2021): the model is untouched; n "virtual tokens" —
free embedding vectors, not words — are put in front of every input, and only they
train: n·C numbers for the whole model. It is what peft's `PromptTuningConfig` does:
`prompt_tuned_forward` equals peft's forward given the same prompt vectors.
"""

from __future__ import annotations

import torch
from torch import nn

from llmcourse.models.gpt import GPT, next_token_loss

__all__ = ["Adapter", "AdaptedSublayer", "PromptTunedGPT", "SoftPrompt", "apply_adapters", "prompt_tuned_forward"]


class Adapter(nn.Module):
    """Houlsby bottleneck: x + up(gelu(down(x))), up initialised to zero (starts as the identity)."""

    def __init__(self, d_model: int, bottleneck: int) -> None:
        super().__init__()
        if not 1 <= bottleneck <= d_model:
            raise ValueError(f"adapter bottleneck must be in [1, {d_model}] (the model width), got {bottleneck}")
        self.down = nn.Linear(d_model, bottleneck)
        self.up = nn.Linear(bottleneck, d_model)
        nn.init.normal_(self.down.weight, std=0.02)
        nn.init.zeros_(self.down.bias)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.up(nn.functional.gelu(self.down(h)))  # (..., C)


class AdaptedSublayer(nn.Module):
    """A sublayer (attention or MLP) followed by an adapter on its output, before the residual add."""

    def __init__(self, sublayer: nn.Module, d_model: int, bottleneck: int) -> None:
        super().__init__()
        self.sublayer = sublayer
        self.adapter = Adapter(d_model, bottleneck)

    def forward(self, *args, **kwargs) -> torch.Tensor:
        return self.adapter(self.sublayer(*args, **kwargs))


def apply_adapters(model: GPT, bottleneck: int) -> GPT:
    """Put an adapter after every attention and MLP sublayer of the course GPT; train only the adapters."""
    if not isinstance(model, GPT):
        raise TypeError(f"apply_adapters works on the course GPT, got {type(model).__name__}")
    for p in model.parameters():
        p.requires_grad_(False)
    C = model.config.n_embd
    for block in model.blocks:
        block.attn = AdaptedSublayer(block.attn, C, bottleneck)
        block.mlp = AdaptedSublayer(block.mlp, C, bottleneck)
    return model


class SoftPrompt(nn.Module):
    """n trainable virtual-token embeddings (n, C), put in front of every sequence."""

    def __init__(self, n_virtual: int, d_model: int, init: torch.Tensor | None = None) -> None:
        super().__init__()
        if n_virtual < 1:
            raise ValueError(f"prompt tuning needs at least one virtual token, got {n_virtual}")
        weight = torch.randn(n_virtual, d_model) if init is None else init.detach().clone().float()
        if weight.shape != (n_virtual, d_model):
            raise ValueError(f"init must be ({n_virtual}, {d_model}), got {tuple(weight.shape)}")
        self.weight = nn.Parameter(weight)  # (n, C)

    @property
    def n_virtual(self) -> int:
        return self.weight.shape[0]

    def prepend(self, embeds: torch.Tensor) -> torch.Tensor:
        """(B, T, C) -> (B, n + T, C): the virtual tokens first."""
        prompt = self.weight.to(embeds.dtype).unsqueeze(0).expand(embeds.shape[0], -1, -1)
        return torch.cat([prompt, embeds], dim=1)


def prompt_tuned_forward(model: nn.Module, prompt: SoftPrompt, input_ids: torch.Tensor,
                         attention_mask: torch.Tensor | None = None, labels: torch.Tensor | None = None):
    """A Hugging Face causal LM run with the soft prompt in front, as peft's prompt tuning does.

    The attention mask gains n ones in front; labels gain n ignored positions (-100). Returns
    the model's output: logits (B, n + T, V) and the loss over the real tokens.
    """
    embeds = model.get_input_embeddings()(input_ids)  # (B, T, C), scaled as the model scales them
    B, n = input_ids.shape[0], prompt.n_virtual
    if attention_mask is not None:
        attention_mask = torch.cat([attention_mask.new_ones(B, n), attention_mask], dim=1)
    if labels is not None:
        labels = torch.cat([labels.new_full((B, n), -100), labels], dim=1)
    return model(inputs_embeds=prompt.prepend(embeds), attention_mask=attention_mask, labels=labels)


class PromptTunedGPT(nn.Module):
    """The course GPT, frozen, with a trainable soft prompt: `forward(idx, targets) -> (logits, loss)`.

    Logits are returned for the real tokens only (B, T, V), so it trains and evaluates like
    the plain model. The virtual tokens count against the context: T + n <= block_size.
    """

    def __init__(self, model: GPT, n_virtual: int, init_from_vocab: bool = True, seed: int = 0) -> None:
        super().__init__()
        self.model = model
        for p in model.parameters():
            p.requires_grad_(False)
        init = None
        if init_from_vocab:  # start from embeddings of random real tokens (a common, stable init)
            g = torch.Generator().manual_seed(seed)
            ids = torch.randint(model.config.vocab_size, (n_virtual,), generator=g)
            init = model.tok_emb.weight[ids.to(model.tok_emb.weight.device)]
        self.prompt = SoftPrompt(n_virtual, model.config.n_embd, init)
        self.config = model.config

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        from llmcourse.finetuning.gpt_forward import gpt_logits

        n = self.prompt.n_virtual
        if idx.shape[1] + n > self.model.config.block_size:
            raise ValueError(f"{idx.shape[1]} tokens + {n} virtual tokens exceed block_size "
                             f"{self.model.config.block_size}; use shorter inputs")
        embeds = self.prompt.prepend(self.model.tok_emb(idx))  # (B, n + T, C)
        logits = gpt_logits(self.model, embeds=embeds)[:, n:]  # (B, T, V) real positions only
        loss = next_token_loss(logits, targets) if targets is not None else None
        return logits, loss
