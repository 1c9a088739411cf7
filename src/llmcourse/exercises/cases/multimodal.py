"""Exercises of 8.1 Multimodal integration. Expected values come from librosa (STFT, power_to_db,
the Slaney mel filter bank)."""

from __future__ import annotations

import numpy as np

from llmcourse.exercises.registry import Case, exercise


def _waves():
    rng = np.random.default_rng(0)
    t = np.arange(3200) / 16000
    yield "a 440 Hz tone (0.2 s)", (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    yield "noise, length not a multiple of the hop", (0.1 * rng.standard_normal(1234)).astype(np.float32)


def _stft_no_centre(wave, n_fft, hop_length):
    frames = np.lib.stride_tricks.sliding_window_view(np.asarray(wave, np.float64), n_fft)[::hop_length]
    spec = np.fft.rfft(frames * (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)), axis=1)
    return (np.abs(spec) ** 2).T


def _stft_symmetric_window(wave, n_fft, hop_length):
    frames = np.lib.stride_tricks.sliding_window_view(np.pad(np.asarray(wave, np.float64), n_fft // 2), n_fft)[::hop_length]
    return (np.abs(np.fft.rfft(frames * np.hanning(n_fft), axis=1)) ** 2).T


def _stft_magnitude(wave, n_fft, hop_length):
    frames = np.lib.stride_tricks.sliding_window_view(np.pad(np.asarray(wave, np.float64), n_fft // 2), n_fft)[::hop_length]
    win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    return np.abs(np.fft.rfft(frames * win, axis=1)).T


@exercise("multimodal.stft_power", difficulty=2, minutes=20,
          reference="llmcourse.multimodal.audio:stft_power",
          wrong={"no centring (frames start at sample 0)": _stft_no_centre,
                 "symmetric Hann window (np.hanning)": _stft_symmetric_window,
                 "magnitude instead of power": _stft_magnitude},
          hint="pad n_fft//2 zeros on both sides, frames of n_fft every hop_length (sliding_window_view), "
               "periodic Hann 0.5 - 0.5 cos(2 pi n / n_fft), np.fft.rfft, |X|^2, transpose to (freq, frames)")
def _stft_power():
    librosa = __import__("librosa")
    for name, wave in _waves():
        expected = np.abs(librosa.stft(wave, n_fft=400, hop_length=160, center=True, pad_mode="constant")) ** 2
        scale = float(expected.max())
        yield Case(name, args=(wave, 400, 160), expected=expected.astype(np.float64),
                   compare=lambda g, e, s=scale: None if np.asarray(g).shape == e.shape and
                   np.allclose(np.asarray(g), e, rtol=1e-3, atol=1e-6 * s) else
                   f"shape {np.asarray(g).shape} (expected {e.shape}) or values differ from librosa.stft")


def _db_no_floor(power, ref=1.0, amin=1e-10, top_db=80.0):
    with np.errstate(divide="ignore"):
        db = 10 * np.log10(power) - 10 * np.log10(ref)
    return db if top_db is None else np.maximum(db, db.max() - top_db)


def _db_no_top(power, ref=1.0, amin=1e-10, top_db=80.0):
    return 10 * np.log10(np.maximum(amin, power)) - 10 * np.log10(max(amin, ref))


def _db_natural_log(power, ref=1.0, amin=1e-10, top_db=80.0):
    db = 10 * np.log(np.maximum(amin, power)) - 10 * np.log(max(amin, ref))
    return db if top_db is None else np.maximum(db, db.max() - top_db)


@exercise("multimodal.power_to_db", difficulty=1, minutes=10,
          reference="llmcourse.multimodal.audio:power_to_db",
          wrong={"no floor at amin (log of 0)": _db_no_floor, "no top_db clipping": _db_no_top,
                 "natural log instead of log10": _db_natural_log},
          hint="10 * log10(max(amin, power)) - 10 * log10(max(amin, ref)), then max(db, db.max() - top_db)")
def _power_to_db():
    librosa = __import__("librosa")
    rng = np.random.default_rng(1)
    power = rng.gamma(0.5, 1.0, size=(20, 30)) * 10.0 ** rng.integers(-12, 2, size=(20, 30))
    power[0, :5] = 0.0  # silence
    yield Case("a spectrogram with silent cells", args=(power,), expected=librosa.power_to_db(power), atol=1e-6)
    yield Case("ref=10, top_db=40", args=(power,), kwargs={"ref": 10.0, "top_db": 40.0},
               expected=librosa.power_to_db(power, ref=10.0, top_db=40.0), atol=1e-6)
    yield Case("no clipping (top_db=None): silence floors at -100 dB", args=(power,), kwargs={"top_db": None},
               expected=librosa.power_to_db(power, top_db=None), atol=1e-6)


def _mel_htk(sample_rate, n_fft, n_mels):
    librosa = __import__("librosa")
    return librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, htk=True).astype(np.float64)


def _mel_unnormalised(sample_rate, n_fft, n_mels):
    librosa = __import__("librosa")
    return librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, norm=None).astype(np.float64)


def _mel_linear(sample_rate, n_fft, n_mels):
    freqs = np.linspace(0, sample_rate / 2, 1 + n_fft // 2)
    edges = np.linspace(0, sample_rate / 2, n_mels + 2)  # evenly spaced in Hz, not in mels
    w = np.maximum(0, np.minimum((freqs - edges[:-2, None]) / np.diff(edges)[:-1, None],
                                 (edges[2:, None] - freqs) / np.diff(edges)[1:, None]))
    return w * (2.0 / (edges[2:] - edges[:-2]))[:, None]


@exercise("multimodal.mel_filter_bank", difficulty=3, minutes=35, stretch=True,
          reference="llmcourse.multimodal.audio:mel_filter_bank",
          wrong={"HTK mel scale (2595 log10(1 + f/700))": _mel_htk, "no Slaney normalisation": _mel_unnormalised,
                 "edges evenly spaced in Hz": _mel_linear},
          hint="Slaney mel: f / (200/3) below 1 kHz, 15 + ln(f / 1000) / (ln 6.4 / 27) above; n_mels + 2 edges "
               "evenly spaced in mels, converted back to Hz; triangles min(rising, falling) clipped at 0 over the "
               "rfft bin frequencies; multiply each by 2 / (right edge - left edge)")
def _mel_filter_bank():
    librosa = __import__("librosa")
    for sr, n_fft, n_mels in [(16000, 400, 80), (22050, 512, 40), (8000, 256, 24)]:
        expected = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels).astype(np.float64)
        yield Case(f"sr={sr}, n_fft={n_fft}, n_mels={n_mels}", args=(sr, n_fft, n_mels), expected=expected,
                   atol=1e-7, rtol=1e-4)
