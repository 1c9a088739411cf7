"""Translation with NLLB-200, the reference translator of notebook 3.3 (online).

Meta's NLLB-200 ("No Language Left Behind", distilled to 600M parameters) is an
encoder-decoder like the course's T5, trained on real text in 200 languages. It comes
from the Hugging Face Hub (its asset entry is `nllb-200-distilled-600m` in
`llmcourse.assets`); there is no offline copy, so offline the notebook reports its own
models alone.

    model, tok = load_nllb("cuda")
    nllb_translate(["two hundred and five"], model, tok)   # ['dua ratus lima']

NLLB writes in whichever language its first decoder token names, so the target language
is forced with `forced_bos_token_id` (`ind_Latn` for Indonesian).
"""

from __future__ import annotations

from typing import Sequence

from llmcourse.assets.registry import AssetError, require
from llmcourse.assets.translation import NLLB_ID, NLLB_SRC, NLLB_TGT
from llmcourse.config import hub_online

__all__ = ["load_nllb", "nllb_translate"]


def load_nllb(device: str | None = None):
    """NLLB-200 distilled 600M from the Hub: (model, tokenizer). Needs the Hub.

    Offline there is no fallback (no translation model of this kind ships on PyPI); the
    error says so.
    """
    if not hub_online():
        raise AssetError(f"{NLLB_ID} comes from the Hugging Face Hub, which does not answer here; "
                         "run online (e.g. on Colab) for the NLLB reference, or skip it")
    torch = require("torch")
    transformers = require("transformers")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.float16 if device == "cuda" else torch.float32
    tok = transformers.AutoTokenizer.from_pretrained(NLLB_ID, src_lang=NLLB_SRC)
    model = transformers.AutoModelForSeq2SeqLM.from_pretrained(NLLB_ID, dtype=dtype).to(device).eval()
    return model, tok


def nllb_translate(texts: Sequence[str], model, tokenizer, tgt_lang: str = NLLB_TGT,
                   batch_size: int = 32, max_new_tokens: int = 64, num_beams: int = 1) -> list[str]:
    """Translate English `texts` with an NLLB-style model, forcing `tgt_lang` as the first token."""
    torch = require("torch")
    if isinstance(texts, str):
        raise TypeError("pass a list of sentences, not a single string")
    if not texts:
        return []
    tokenizer.src_lang = NLLB_SRC
    forced = tokenizer.convert_tokens_to_ids(tgt_lang)
    device = next(model.parameters()).device
    out: list[str] = []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(list(texts[start:start + batch_size]), return_tensors="pt", padding=True).to(device)
        with torch.no_grad():
            gen = model.generate(**batch, forced_bos_token_id=forced, max_new_tokens=max_new_tokens,
                                 num_beams=num_beams, do_sample=False)
        out.extend(tokenizer.batch_decode(gen, skip_special_tokens=True))
    return out
