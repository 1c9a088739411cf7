"""Speech meets text: spoken number words from espeak-ng, an audio encoder fused with a text encoder,
and Whisper base as the reference speech recogniser.

* `spoken_words`: the words for 0-9 in English, Indonesian, Thai and Vietnamese, spoken by
  espeak-ng with several voice variants and speeds, resampled to 16 kHz and turned into
  log-mel features (80 x 100 frames: one second) by `llmcourse.multimodal.audio`.
* `SpeechTextMatcher`: late fusion of a small CNN over the log-mel (the audio encoder) and
  the character bag of 8.1's fusion section (the text encoder): does this spoken word mean
  the same number as this written word, whatever the two languages? Trained on some voices,
  tested on a voice it never heard.
* `transcribe`: faster-whisper with Whisper base (offline from PyPI) on the same clips;
  `word_error_rate` is jiwer's WER (and CER, for Thai, written without spaces).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from llmcourse.multimodal.audio import check_audio, log_mel
from llmcourse.multimodal.fusion import FUSION_LANGS, CharBag, number_words

__all__ = ["SpeechTextMatcher", "SpokenWords", "load_whisper", "match_accuracy", "spoken_words", "train_matcher",
           "transcribe", "word_error_rate"]

SR = 16000
FRAMES = 100  # 1 s at hop 160


@dataclass
class SpokenWords:
    """Log-mel features (N, 80, FRAMES) of spoken number words, with their waves and labels."""

    features: np.ndarray
    waves: list[np.ndarray]
    words: list[str]
    digits: np.ndarray
    langs: list[str]
    variants: list[str]
    speeds: list[int]
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.words)

    def where(self, mask) -> "SpokenWords":
        idx = np.flatnonzero(np.asarray(mask))
        return SpokenWords(self.features[idx], [self.waves[i] for i in idx], [self.words[i] for i in idx],
                           self.digits[idx], [self.langs[i] for i in idx], [self.variants[i] for i in idx],
                           [self.speeds[i] for i in idx])


def _fixed_frames(feat: np.ndarray, frames: int = FRAMES) -> np.ndarray:
    """Crop or pad (with the clip's quietest value) to `frames` columns, the word centred."""
    if feat.shape[1] >= frames:
        start = (feat.shape[1] - frames) // 2
        return feat[:, start : start + frames]
    pad = frames - feat.shape[1]
    return np.pad(feat, ((0, 0), (pad // 2, pad - pad // 2)), constant_values=feat.min())


def spoken_words(langs=FUSION_LANGS, variants=("m1", "f2"), speeds=(130, 170), digits=range(10),
                 progress: bool = False) -> SpokenWords:
    """Every (language, digit, voice variant, speed) spoken by espeak-ng: waves at 16 kHz and log-mels."""
    from tqdm.auto import tqdm

    from llmcourse.assets.registry import require
    from llmcourse.assets.speech import speak

    librosa = require("librosa", "librosa")
    rows = [(l, d, v, s) for l in langs for d in digits for v in variants for s in speeds]
    feats, waves, words, ds, ls, vs, ss = [], [], [], [], [], [], []
    for lang, d, variant, speed in tqdm(rows, desc="espeak-ng", disable=not progress, mininterval=1.0):
        word = number_words(lang)[d]
        wave, rate = speak(word, lang, variant=variant, speed=speed)
        wave = librosa.resample(wave, orig_sr=rate, target_sr=SR).astype(np.float32)
        feat = log_mel(wave, SR)  # (80, frames) in dB
        feats.append(_fixed_frames((feat - feat.max()) / 40.0 + 1.0))  # peak at 1, 80 dB below at -1
        waves.append(wave)
        words.append(word)
        ds.append(d)
        ls.append(lang)
        vs.append(variant)
        ss.append(speed)
    return SpokenWords(np.stack(feats).astype(np.float32), waves, words, np.array(ds), ls, vs, ss)


class SpeechTextMatcher(nn.Module):
    """Audio encoder (1-D CNN over time, mel bands as channels) and text character bag into one space.

    Late fusion: each side is encoded on its own; they meet only at the end, in a scaled
    cosine (the logit of "same number").
    """

    def __init__(self, dim: int = 32, width: int = 48, text_dim: int = 16, n_mels: int = 80):
        super().__init__()
        self.audio = nn.Sequential(
            nn.Conv1d(n_mels, width, 5, stride=2, padding=2), nn.ReLU(),  # (B, w, 50)
            nn.Conv1d(width, width, 5, stride=2, padding=2), nn.ReLU(),  # (B, w, 25)
            nn.AdaptiveMaxPool1d(4), nn.Flatten(), nn.Linear(width * 4, dim),
        )
        self.chars = CharBag(text_dim)
        self.text = nn.Sequential(nn.Linear(text_dim, 64), nn.ReLU(), nn.Linear(64, dim))
        self.scale = nn.Parameter(torch.tensor(10.0))

    def encode_audio(self, features: torch.Tensor) -> torch.Tensor:
        if features.ndim != 3:
            raise ValueError(f"features must be (B, n_mels, frames), got {tuple(features.shape)}")
        return F.normalize(self.audio(features), dim=-1)  # (B, dim)

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        return F.normalize(self.text(self.chars(texts)), dim=-1)  # (B, dim)

    def forward(self, features: torch.Tensor, texts: list[str]) -> torch.Tensor:
        """Logits (B_audio, B_text): scaled cosine of every clip with every written word."""
        return self.scale * self.encode_audio(features) @ self.encode_text(texts).T


def train_matcher(model: SpeechTextMatcher, data: SpokenWords, steps: int, batch: int = 64, lr: float = 3e-3,
                  text_langs=FUSION_LANGS, seed: int = 0, progress: bool = False) -> list[float]:
    """Contrastive training (CLIP's symmetric InfoNCE): clips against written words in random languages;
    clips and words of the same number are all positives. Returns the losses."""
    from tqdm.auto import tqdm

    from llmcourse.multimodal.clip import clip_loss

    words = {l: number_words(l) for l in text_langs}
    x = torch.as_tensor(data.features)
    rng = np.random.default_rng(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    losses = []
    model.train()
    for _ in tqdm(range(steps), desc="speech-text matcher", disable=not progress, mininterval=1.0):
        clips = rng.integers(len(data), size=batch)
        digits = data.digits[clips]
        texts = [words[text_langs[rng.integers(len(text_langs))]][d] for d in digits]
        loss = clip_loss(model.encode_audio(x[clips]), model.encode_text(texts), 1 / model.scale.clamp(1, 100),
                         caption_ids=torch.as_tensor(digits))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    return losses


@torch.no_grad()
def match_accuracy(model: SpeechTextMatcher, data: SpokenWords, text_lang: str) -> float:
    """Share of clips whose most similar written word (among 0-9 in `text_lang`) names their number."""
    sims = model(torch.as_tensor(data.features), number_words(text_lang))  # (N, 10)
    return float((sims.argmax(1).numpy() == data.digits).mean())


def load_whisper(threads: int = 1):
    """Whisper base in faster-whisper (CTranslate2, int8 on CPU), from the offline packages."""
    from llmcourse.assets.registry import require
    from llmcourse.assets.speech import whisper_base_dir

    fw = require("faster_whisper", "faster-whisper")
    return fw.WhisperModel(str(whisper_base_dir()), device="cpu", compute_type="int8", cpu_threads=threads)


def transcribe(model, wave: np.ndarray, lang: str | None = None) -> str:
    """Greedy transcription of a 16 kHz clip (no temperature fallback, no timestamps)."""
    wave = check_audio(wave, SR)
    segments, _ = model.transcribe(wave, language=lang, beam_size=1, temperature=0.0, without_timestamps=True,
                                   condition_on_previous_text=False, vad_filter=False)
    return " ".join(s.text.strip() for s in segments).strip()


def word_error_rate(references: list[str], hypotheses: list[str], chars: bool = False,
                    digit_words: Sequence[str] | None = None) -> float:
    """jiwer's WER (or CER with chars=True) after lower-casing and stripping punctuation.

    `digit_words`: the language's words for 0..9. Recognisers often write numbers as digits
    ("0-1-2" for "zero one two"): with the words given, every digit on either side is spelled
    out first, so a right number written the other way is not an error.
    """
    from llmcourse.assets.registry import require

    jiwer = require("jiwer", "jiwer")
    if digit_words is not None and len(digit_words) != 10:
        raise ValueError(f"digit_words needs the 10 words for 0..9, got {len(digit_words)}")

    def clean(s: str) -> str:
        if digit_words is not None:
            s = "".join(f" {digit_words[int(c)]} " if c in "0123456789" else c for c in s)
        return " ".join("".join(c for c in s.lower() if c.isalnum() or c.isspace()).split()) or "-"

    refs, hyps = [clean(r) for r in references], [clean(h) for h in hypotheses]
    return float(jiwer.cer(refs, hyps) if chars else jiwer.wer(refs, hyps))
