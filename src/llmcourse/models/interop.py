"""The course GPT and Hugging Face: the same weights, the same logits, in both directions.

* `gpt_from_hf(GPT2LMHeadModel)` copies Hugging Face GPT-2 weights into a course GPT
  (notebook 2.2 runs the real `gpt2` online). GPT-2 stores its linear layers as `Conv1D`
  with (in, out) weights; `nn.Linear` keeps (out, in), so every matrix is transposed.
* `gpt_to_hf(model)` exports a Llama-style course GPT to `LlamaForCausalLM` (notebook 3.1;
  week 6 turns it into GGUF). Our attention keeps Q, K and V in one fused matrix; Llama
  keeps three, so the fused weight is split by the layer's `split_sizes`.

Both are proven by equal logits (tests/test_gpt.py). `GPT.from_hf` and `model.to_hf()`
call these functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

if TYPE_CHECKING:
    from llmcourse.models.gpt import GPT

__all__ = ["gpt_from_hf", "gpt_to_hf"]

# Hugging Face's GPT-2 activation names -> ours
GPT2_ACTIVATIONS = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu": "gelu", "relu": "relu"}


def gpt_from_hf(hf_model: nn.Module, attn_impl: str = "ours") -> GPT:
    """A course GPT with the weights of a Hugging Face `GPT2LMHeadModel` (equal logits).

    Online: `gpt_from_hf(transformers.GPT2LMHeadModel.from_pretrained("gpt2"))`.
    """
    from llmcourse.models.gpt import GPT, GPTConfig

    hc = hf_model.config
    if getattr(hc, "model_type", None) != "gpt2":
        raise ValueError(f"from_hf loads GPT-2 models (model_type 'gpt2'), got {getattr(hc, 'model_type', None)!r}")
    if getattr(hc, "scale_attn_by_inverse_layer_idx", False) or not getattr(hc, "scale_attn_weights", True):
        raise ValueError("this GPT-2 variant scales attention differently; only standard GPT-2 is supported")
    if hc.activation_function not in GPT2_ACTIVATIONS:
        raise ValueError(f"unsupported GPT-2 activation {hc.activation_function!r}; "
                         f"supported: {', '.join(GPT2_ACTIVATIONS)}")
    config = GPTConfig(
        vocab_size=hc.vocab_size, block_size=hc.n_positions, n_layer=hc.n_layer, n_head=hc.n_head,
        n_embd=hc.n_embd, ffn_hidden=hc.n_inner or 4 * hc.n_embd, dropout=0.0, bias=True, norm="layernorm",
        norm_eps=hc.layer_norm_epsilon, positions="learned", activation=GPT2_ACTIVATIONS[hc.activation_function],
        tie_weights=bool(getattr(hc, "tie_word_embeddings", True)), attn_impl=attn_impl,
    )
    model = GPT(config)
    sd = {k.removeprefix("transformer."): v for k, v in hf_model.state_dict().items()}
    ours = {"tok_emb.weight": sd["wte.weight"], "pos_emb.table.weight": sd["wpe.weight"],
            "norm_f.weight": sd["ln_f.weight"], "norm_f.bias": sd["ln_f.bias"],
            "lm_head.weight": sd.get("lm_head.weight", sd["wte.weight"])}
    for i in range(hc.n_layer):
        h, b = f"h.{i}.", f"blocks.{i}."
        for src, dst in (("ln_1", "norm1"), ("ln_2", "norm2")):
            ours[b + dst + ".weight"], ours[b + dst + ".bias"] = sd[h + src + ".weight"], sd[h + src + ".bias"]
        for src, dst in (("attn.c_attn", "attn.qkv"), ("attn.c_proj", "attn.proj"),
                         ("mlp.c_fc", "mlp.up"), ("mlp.c_proj", "mlp.down")):
            ours[b + dst + ".weight"] = sd[h + src + ".weight"].t()  # Conv1D (in, out) -> Linear (out, in)
            ours[b + dst + ".bias"] = sd[h + src + ".bias"]
    model.load_state_dict({k: v.detach().clone() for k, v in ours.items()}, strict=True)
    return model.to(next(hf_model.parameters()).device)


def gpt_to_hf(model: GPT) -> nn.Module:
    """Export a Llama-style course GPT to a Hugging Face `LlamaForCausalLM` with equal logits.

    Needs norm="rmsnorm", positions="rope", activation="swiglu", bias=False (that is,
    `GPTConfig.llama_style(...)`).
    """
    c = model.config
    problems = [f"{name}={getattr(c, name)!r} (Llama: {want!r})" for name, want in
                (("norm", "rmsnorm"), ("positions", "rope"), ("activation", "swiglu"), ("bias", False))
                if getattr(c, name) != want]
    if problems:
        raise ValueError("to_hf exports Llama-style models only; this config has " + ", ".join(problems)
                         + ". Build it with GPTConfig.llama_style(...)")
    from llmcourse.assets.registry import require

    transformers = require("transformers")
    hf_config = transformers.LlamaConfig(
        vocab_size=c.vocab_size, hidden_size=c.n_embd, intermediate_size=c.ffn_hidden,
        num_hidden_layers=c.n_layer, num_attention_heads=c.n_head, num_key_value_heads=c.n_kv_head,
        head_dim=c.head_dim, max_position_embeddings=c.block_size, rms_norm_eps=c.norm_eps,
        rope_parameters={"rope_type": "default", "rope_theta": c.rope_theta}, attention_bias=False,
        mlp_bias=False, hidden_act="silu", tie_word_embeddings=c.tie_weights,
        bos_token_id=None, eos_token_id=None, pad_token_id=None,
    )
    hf = transformers.LlamaForCausalLM(hf_config)
    sd = {"model.embed_tokens.weight": model.tok_emb.weight, "model.norm.weight": model.norm_f.weight,
          "lm_head.weight": model.lm_head.weight}
    for i, block in enumerate(model.blocks):
        p = f"model.layers.{i}."
        q, k, v = block.attn.qkv.weight.split(block.attn.split_sizes, dim=0)  # fused (H + 2 H_kv) * hd rows
        sd.update({
            p + "self_attn.q_proj.weight": q, p + "self_attn.k_proj.weight": k, p + "self_attn.v_proj.weight": v,
            p + "self_attn.o_proj.weight": block.attn.proj.weight,
            p + "mlp.gate_proj.weight": block.mlp.gate.weight, p + "mlp.up_proj.weight": block.mlp.up.weight,
            p + "mlp.down_proj.weight": block.mlp.down.weight,
            p + "input_layernorm.weight": block.norm1.weight, p + "post_attention_layernorm.weight": block.norm2.weight,
        })
    missing, unexpected = hf.load_state_dict({k: t.detach().clone() for k, t in sd.items()}, strict=False)
    missing = [m for m in missing if not (c.tie_weights and m == "lm_head.weight")]
    if missing or unexpected:
        raise RuntimeError(f"weight export mismatch: missing {missing}, unexpected {unexpected}")
    if c.tie_weights:
        hf.tie_weights()
    return hf.to(model.tok_emb.weight.device).eval()
