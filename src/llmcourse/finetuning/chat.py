"""Chat formatting, loss masking and packing: how a conversation becomes a training row.

A chat model is trained on conversations rendered with a *chat template* (role markers
and an end-of-turn token around each message). The model should learn to write the
assistant's turns, not to predict the user's questions, so only assistant tokens count:

    tokens   <user> What is 2+3? <end> <assistant> 5 <end>
    labels    -100  -100 ...     -100   -100      5 <end>      (-100: not in the loss)

We find the assistant spans by rendering the conversation one message at a time: the
tokens between "everything before, plus the assistant header" and "everything up to the
end of this assistant message" are the assistant's. This works for any template whose
renderings are prefixes of each other; trl marks the same span with `{% generation %}`
tags in its training templates, and our labels equal trl's (tests).

**Packing** concatenates short examples into full rows (no padding wasted). Attention
must not cross example boundaries: `packed_attention_mask` is block-diagonal and causal,
and with rotary positions (relative) a packed row gives exactly the logits each example
gets alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import torch

__all__ = ["COURSE_CHAT_TEMPLATE", "ChatExample", "IGNORE_INDEX", "gemma_chat_template", "pack_examples",
           "packed_attention_mask", "pad_examples", "render_chat", "tokenize_chat", "validate_chat"]

IGNORE_INDEX = -100
ROLES = ("system", "user", "assistant")

# The course GPT's template: plain-text role markers (its tokenizer has no chat tokens) and
# <|endoftext|> to end an assistant turn, so the model learns when to stop.
COURSE_CHAT_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m['role'] == 'system' %}System: {{ m['content'] }}\n"
    "{% elif m['role'] == 'user' %}User: {{ m['content'] }}\n"
    "{% else %}Assistant: {{ m['content'] }}<|endoftext|>\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)


def gemma_chat_template() -> str:
    """Gemma 3's chat template (the offline GGUF copy of the tokenizer has none), as shipped in trl."""
    import trl

    path = Path(trl.__file__).parent / "chat_templates" / "gemma3.jinja"
    if not path.is_file():
        raise FileNotFoundError(f"trl does not ship {path.name} here; pass chat_template= yourself")
    return path.read_text()


def validate_chat(messages: Sequence[dict]) -> None:
    """A conversation is a list of {"role", "content"} with at least one assistant turn."""
    if not isinstance(messages, (list, tuple)) or not messages:
        raise ValueError("a conversation is a non-empty list of {'role': ..., 'content': ...} messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise ValueError(f"message {i} must be {{'role': one of {ROLES}, 'content': str}}, got {m!r}")
    if not any(m["role"] == "assistant" for m in messages):
        raise ValueError("this conversation has no assistant turn: with loss masking there is nothing to learn from "
                         "it (every label would be ignored). Add the assistant's answer or drop the example")


def _is_hf(tokenizer) -> bool:
    return hasattr(tokenizer, "apply_chat_template")


def render_chat(messages: Sequence[dict], tokenizer=None, add_generation_prompt: bool = False,
                chat_template: str | None = None) -> str:
    """The conversation as text: with the tokenizer's chat template (Hugging Face) or the course template."""
    if _is_hf(tokenizer) and chat_template is None and tokenizer.chat_template is not None:
        return tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=add_generation_prompt)
    if _is_hf(tokenizer):
        return tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=add_generation_prompt,
                                             chat_template=chat_template or COURSE_CHAT_TEMPLATE)
    return _compiled(chat_template or COURSE_CHAT_TEMPLATE).render(messages=list(messages),
                                                                   add_generation_prompt=add_generation_prompt)


@lru_cache(maxsize=16)
def _compiled(template: str):
    """A Jinja template compiled once (compiling takes milliseconds; rendering microseconds)."""
    from jinja2 import Template

    return Template(template)


def _encode(tokenizer, text: str) -> list[int]:
    if _is_hf(tokenizer):
        return tokenizer(text, add_special_tokens=False)["input_ids"]
    return tokenizer.encode(text, allowed_special="all")


@dataclass
class ChatExample:
    """One tokenised conversation: ids and labels (-100 outside assistant turns)."""

    input_ids: list[int]
    labels: list[int]

    @property
    def n_trained(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE_INDEX)


def tokenize_chat(messages: Sequence[dict], tokenizer, chat_template: str | None = None,
                  max_length: int | None = None) -> ChatExample:
    """Token ids of the rendered conversation and labels that keep only the assistant's tokens.

    Labels are aligned with the ids (label i is token i; the model's loss shifts them). Raises
    ValueError for a conversation without an assistant turn, or a template whose renderings
    are not prefixes of each other (the spans could not be found).
    """
    validate_chat(messages)
    full = render_chat(messages, tokenizer, chat_template=chat_template)
    ids = _encode(tokenizer, full)
    labels = [IGNORE_INDEX] * len(ids)
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        before = _encode(tokenizer, render_chat(messages[:i], tokenizer, add_generation_prompt=True,
                                                chat_template=chat_template)) if i else []
        if i == 0:  # an assistant first: its header alone
            before = _encode(tokenizer, render_chat([], tokenizer, add_generation_prompt=True,
                                                    chat_template=chat_template))
        upto = _encode(tokenizer, render_chat(messages[: i + 1], tokenizer, chat_template=chat_template))
        if ids[: len(upto)] != upto or upto[: len(before)] != before:
            raise ValueError("the chat template does not render conversations as prefixes of each other, so the "
                             "assistant tokens cannot be located; use a prefix-preserving template (trl's "
                             "get_training_chat_template gives one for common models)")
        labels[len(before):len(upto)] = ids[len(before):len(upto)]
    if max_length is not None:
        ids, labels = ids[:max_length], labels[:max_length]
    return ChatExample(ids, labels)


def pad_examples(examples: Sequence[ChatExample], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-pad to the longest: (input_ids (B, T), labels (B, T) with -100 on padding, attention_mask (B, T))."""
    T = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), T), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), T), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(examples), T), dtype=torch.long)
    for b, e in enumerate(examples):
        n = len(e.input_ids)
        ids[b, :n] = torch.tensor(e.input_ids)
        labels[b, :n] = torch.tensor(e.labels)
        mask[b, :n] = 1
    return ids, labels, mask


def pack_examples(examples: Sequence[ChatExample], block_size: int, pad_id: int
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Greedily pack examples into rows of `block_size` tokens (first fit, in order).

    Returns input_ids (R, block_size), labels (R, block_size) and doc_ids (R, block_size):
    which example each position holds (-1 on padding). Examples longer than block_size are
    cut. Turn doc_ids into an attention mask with `packed_attention_mask`.
    """
    rows: list[list[tuple[int, ChatExample]]] = []
    room: list[int] = []
    for k, e in enumerate(examples):
        n = min(len(e.input_ids), block_size)
        for r, free in enumerate(room):
            if n <= free:
                rows[r].append((k, e))
                room[r] -= n
                break
        else:
            rows.append([(k, e)])
            room.append(block_size - n)
    ids = torch.full((len(rows), block_size), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), block_size), IGNORE_INDEX, dtype=torch.long)
    docs = torch.full((len(rows), block_size), -1, dtype=torch.long)
    for r, row in enumerate(rows):
        pos = 0
        for k, e in row:
            n = min(len(e.input_ids), block_size)
            ids[r, pos:pos + n] = torch.tensor(e.input_ids[:n])
            labels[r, pos:pos + n] = torch.tensor(e.labels[:n])
            docs[r, pos:pos + n] = k
            pos += n
    return ids, labels, docs


def packed_attention_mask(doc_ids: torch.Tensor) -> torch.Tensor:
    """(R, T) document ids -> (R, 1, T, T) bool: query i may attend key j iff j <= i and same document.

    Padding positions (-1) attend only to themselves, so no row of the softmax is empty.
    """
    T = doc_ids.shape[1]
    same = doc_ids[:, :, None] == doc_ids[:, None, :]  # (R, T, T)
    causal = torch.ones(T, T, dtype=torch.bool, device=doc_ids.device).tril()
    mask = same & causal
    mask |= torch.eye(T, dtype=torch.bool, device=doc_ids.device)  # padding: itself
    return mask[:, None]
