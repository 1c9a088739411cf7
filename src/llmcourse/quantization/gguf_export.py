"""Export the course GPT to GGUF, the file llama.cpp (and Ollama) runs, tokenizer included.

A GGUF file is a header of key-value metadata (architecture, shapes, the tokenizer) and
then the tensors, each in its own type (F32, F16, Q8_0, Q4_0...). The course GPT is
Llama-shaped (RMSNorm, RoPE, SwiGLU, no biases), so it is written as llama.cpp's `llama`
architecture, through the same weight layout `GPT.to_hf()` produces for transformers:

    HF name (LlamaForCausalLM)                  GGUF name
    model.embed_tokens.weight                   token_embd.weight
    model.layers.i.input_layernorm.weight       blk.i.attn_norm.weight
    model.layers.i.self_attn.{q,k,v,o}_proj     blk.i.attn_{q,k,v,output}.weight
    model.layers.i.post_attention_layernorm     blk.i.ffn_norm.weight
    model.layers.i.mlp.{gate,up,down}_proj      blk.i.ffn_{gate,up,down}.weight
    model.norm.weight                           output_norm.weight
    lm_head.weight (only if not tied)           output.weight

One subtlety: transformers rotates the two *halves* of each head's query/key vector
(rotate_half), llama.cpp rotates *adjacent pairs*. Both are RoPE; they differ by a fixed
permutation of each head's rows in W_q and W_k, which we apply (llama.cpp's own
converter does the same).

The tokenizer travels in the file as a GPT-2-style byte-level BPE: every token as the
GPT-2 "printable bytes" string of its bytes, the merges in rank order, the special tokens
marked as control tokens, and `tokenizer.ggml.pre = "llama-bpe"`, llama.cpp's name for
the GPT-4 split pattern our tokenizer uses. llama.cpp then tokenises text to our ids.

Norm weights stay F32; a matrix whose rows are not a multiple of 32 long cannot be cut
into Q8_0/Q4_0 blocks and stays F16 (the converter's rule too).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from llmcourse.quantization.gguf_blocks import BLOCK, QTYPES, gguf_quantize

__all__ = ["FILE_TYPES", "byte_to_unicode", "export_gguf", "gguf_tokenizer_metadata", "permute_rope_rows"]

FILE_TYPES = {"F32": 0, "F16": 1, "Q4_0": 2, "Q8_0": 7}  # llama_ftype: general.file_type


def byte_to_unicode() -> dict[int, str]:
    """GPT-2's map from each byte to a printable character (so a token is a readable string).

    Printable Latin-1 bytes stand for themselves; the other 68 (controls, space...) are
    moved to the characters from U+0100 on, in order: the space becomes 'Ġ', newline 'Ċ'.
    """
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    table, shift = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + shift)
            shift += 1
    return table


def gguf_tokenizer_metadata(tokenizer, vocab_size: int | None = None) -> dict:
    """tokens, token types, merges and special ids of a course tokenizer, as GGUF stores them.

    `vocab_size` (the model's) may exceed the tokenizer's: the extra ids become unused
    placeholder tokens, as llama.cpp's converter writes them.
    """
    import gguf

    for attr in ("vocab", "merges", "special_tokens"):
        if not hasattr(tokenizer, attr):
            raise TypeError(f"export_gguf needs a course byte-level BPE tokenizer (RegexTokenizer), got "
                            f"{type(tokenizer).__name__} without .{attr}")
    enc = byte_to_unicode()
    vocab: dict[int, bytes] = tokenizer.vocab
    n = vocab_size or (max(vocab) + 1)
    if max(vocab) >= n:
        raise ValueError(f"the tokenizer has ids up to {max(vocab)} but the model's vocabulary is {n}")
    specials = {idx: text for text, idx in tokenizer.special_tokens.items()}
    tokens, types = [], []
    for idx in range(n):
        if idx in specials:
            tokens.append(specials[idx])
            types.append(gguf.TokenType.CONTROL)
        elif idx in vocab:
            tokens.append("".join(enc[b] for b in vocab[idx]))
            types.append(gguf.TokenType.NORMAL)
        else:
            tokens.append(f"[PAD{idx}]")
            types.append(gguf.TokenType.UNUSED)
    if len(set(tokens)) != len(tokens):
        raise ValueError("two ids of this tokenizer have the same bytes; llama.cpp needs every token string unique")
    as_text = lambda i: "".join(enc[b] for b in vocab[i])  # noqa: E731
    merges = [f"{as_text(a)} {as_text(b)}" for (a, b), _ in sorted(tokenizer.merges.items(), key=lambda kv: kv[1])]
    eos = tokenizer.special_tokens.get("<|endoftext|>")
    pad = tokenizer.special_tokens.get("<|pad|>", eos)
    return {"tokens": tokens, "types": types, "merges": merges, "eos": eos, "pad": pad}


def permute_rope_rows(w: np.ndarray, n_head: int) -> np.ndarray:
    """Reorder each head's rows from rotate-half RoPE (transformers) to adjacent pairs (llama.cpp).

    Head rows [x_0 .. x_{d/2-1} | y_0 .. y_{d/2-1}] become [x_0 y_0 x_1 y_1 ...].
    """
    rows = w.shape[0]
    return w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _tensor_type(name: str, array: np.ndarray, qtype: str) -> str:
    if array.ndim == 1 or name.endswith("_norm.weight"):
        return "F32"
    if qtype in QTYPES and array.shape[-1] % BLOCK:
        return "F16"
    return qtype


def export_gguf(model: torch.nn.Module, tokenizer, path: str | os.PathLike, qtype: str = "F16",
                name: str = "course-gpt") -> Path:
    """Write a Llama-style course GPT and its tokenizer to `path` as GGUF (F16, Q8_0 or Q4_0 matrices).

    Returns the path. The file is written beside the target and renamed into place when
    complete, so an interrupted export never leaves a truncated GGUF behind.
    """
    import gguf

    if qtype not in FILE_TYPES:
        raise ValueError(f"qtype must be one of {', '.join(FILE_TYPES)}, got {qtype!r}")
    c = model.config
    try:
        hf = model.to_hf()
    except ValueError as err:
        raise ValueError(f"GGUF export writes llama.cpp's 'llama' architecture, so the model must be Llama-style: "
                         f"{err}") from None
    vocab = gguf_tokenizer_metadata(tokenizer, c.vocab_size)
    state = {k: v.detach().float().cpu().numpy() for k, v in hf.state_dict().items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        w = gguf.GGUFWriter(tmp, "llama")
        w.add_name(name)
        w.add_context_length(c.block_size)
        w.add_embedding_length(c.n_embd)
        w.add_block_count(c.n_layer)
        w.add_feed_forward_length(c.ffn_hidden)
        w.add_head_count(c.n_head)
        w.add_head_count_kv(c.n_kv_head)
        w.add_layer_norm_rms_eps(c.norm_eps)
        w.add_rope_freq_base(c.rope_theta)
        w.add_rope_dimension_count(c.head_dim)
        w.add_vocab_size(c.vocab_size)
        w.add_file_type(FILE_TYPES[qtype])
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre("llama-bpe")
        w.add_token_list(vocab["tokens"])
        w.add_token_types(vocab["types"])
        w.add_token_merges(vocab["merges"])
        if vocab["eos"] is not None:
            w.add_bos_token_id(vocab["eos"])
            w.add_eos_token_id(vocab["eos"])
        if vocab["pad"] is not None:
            w.add_pad_token_id(vocab["pad"])
        w.add_add_bos_token(False)
        for gguf_name, array in _gguf_tensors(state, c):
            kind = _tensor_type(gguf_name, array, qtype)
            data = gguf_quantize(array, kind)
            raw = None if kind in ("F16", "F32") else gguf.GGMLQuantizationType[kind]
            w.add_tensor(gguf_name, data, raw_dtype=raw)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def _gguf_tensors(state: dict[str, np.ndarray], c) -> list[tuple[str, np.ndarray]]:
    """(GGUF name, array) for every tensor of the HF Llama state dict."""
    out = [("token_embd.weight", state["model.embed_tokens.weight"])]
    for i in range(c.n_layer):
        p = f"model.layers.{i}."
        out += [
            (f"blk.{i}.attn_norm.weight", state[p + "input_layernorm.weight"]),
            (f"blk.{i}.attn_q.weight", permute_rope_rows(state[p + "self_attn.q_proj.weight"], c.n_head)),
            (f"blk.{i}.attn_k.weight", permute_rope_rows(state[p + "self_attn.k_proj.weight"], c.n_kv_head)),
            (f"blk.{i}.attn_v.weight", state[p + "self_attn.v_proj.weight"]),
            (f"blk.{i}.attn_output.weight", state[p + "self_attn.o_proj.weight"]),
            (f"blk.{i}.ffn_norm.weight", state[p + "post_attention_layernorm.weight"]),
            (f"blk.{i}.ffn_gate.weight", state[p + "mlp.gate_proj.weight"]),
            (f"blk.{i}.ffn_up.weight", state[p + "mlp.up_proj.weight"]),
            (f"blk.{i}.ffn_down.weight", state[p + "mlp.down_proj.weight"]),
        ]
    out.append(("output_norm.weight", state["model.norm.weight"]))
    if not c.tie_weights:
        out.append(("output.weight", state["lm_head.weight"]))
    return out
