"""Log-mel from scratch against librosa; espeak-ng speech; Whisper base offline; bad audio input."""

import numpy as np
import pytest

from llmcourse.multimodal.audio import (
    check_audio, hz_to_mel, log_mel, mel_filter_bank, mel_spectrogram, mel_to_hz, power_to_db, stft_power,
)

librosa = pytest.importorskip("librosa")


@pytest.mark.parametrize("n", [16000, 1234, 401, 100])
def test_mel_spectrogram_equals_librosa(n):
    y = (0.1 * np.random.default_rng(n).standard_normal(n)).astype(np.float32)
    ours = mel_spectrogram(y, 16000, n_fft=400, hop_length=160, n_mels=80)
    ref = librosa.feature.melspectrogram(y=y, sr=16000, n_fft=400, hop_length=160, n_mels=80)
    assert ours.shape == ref.shape == (80, 1 + n // 160)
    assert np.allclose(ours, ref, rtol=1e-4, atol=1e-6 * ref.max())


def test_other_settings_equal_librosa():
    y = np.sin(2 * np.pi * 300 * np.arange(22050) / 22050).astype(np.float32)
    ours = mel_spectrogram(y, 22050, n_fft=512, hop_length=256, n_mels=40)
    ref = librosa.feature.melspectrogram(y=y, sr=22050, n_fft=512, hop_length=256, n_mels=40)
    assert np.allclose(ours, ref, rtol=1e-4, atol=1e-6 * ref.max())


def test_pieces_equal_librosa():
    assert np.allclose(mel_filter_bank(16000, 400, 80), librosa.filters.mel(sr=16000, n_fft=400, n_mels=80), atol=1e-8)
    f = np.array([0.0, 200.0, 999.0, 1000.0, 4000.0, 8000.0])
    assert np.allclose(hz_to_mel(f), librosa.hz_to_mel(f)) and np.allclose(mel_to_hz(hz_to_mel(f)), f)
    y = np.random.default_rng(0).standard_normal(800).astype(np.float32)
    ref = np.abs(librosa.stft(y, n_fft=400, hop_length=160, center=True, pad_mode="constant")) ** 2
    assert np.allclose(stft_power(y), ref, rtol=1e-3, atol=1e-6 * ref.max())
    power = np.abs(np.random.default_rng(1).standard_normal((5, 7))) ** 3
    power[0, 0] = 0
    for kw in ({}, {"ref": 3.0, "top_db": 30.0}, {"top_db": None}):
        assert np.allclose(power_to_db(power, **kw), librosa.power_to_db(power, **kw), atol=1e-5)


def test_bad_audio_is_a_clear_error():
    with pytest.raises(ValueError, match="empty"):
        mel_spectrogram(np.zeros(0, np.float32), 16000)
    with pytest.raises(ValueError, match="silent"):
        log_mel(np.zeros(1600, np.float32), 16000)
    assert mel_spectrogram(np.zeros(1600, np.float32), 16000).max() == 0  # silence has a spectrogram: zeros
    with pytest.raises(ValueError, match="mono"):
        check_audio(np.zeros((2, 100), np.float32))
    with pytest.raises(ValueError, match="PCM"):
        check_audio(np.ones(100, np.int16))
    with pytest.raises(ValueError, match="NaN"):
        check_audio(np.array([0.1, np.nan], np.float32))
    with pytest.raises(ValueError, match="sample_rate"):
        check_audio(np.ones(10, np.float32), 0)


def test_espeak_speaks_sea_languages_with_different_voices():
    from llmcourse.assets.speech import speak

    a, sr = speak("tujuh", "id", variant="m1", speed=140)
    b, _ = speak("tujuh", "id", variant="f2", speed=140)
    c, _ = speak("tujuh", "id", variant="m1", speed=300)
    th, _ = speak("เจ็ด", "th")
    assert sr == 22050 and a.dtype == np.float32 and np.abs(a).max() > 0.05 and th.size > 1000
    assert len(c) < len(a)  # faster speech is shorter
    assert a.shape != b.shape or not np.allclose(a, b)  # another timbre
    with pytest.raises(ValueError, match="no voice"):
        speak("hello", "xx-nonexistent")
    with pytest.raises(ValueError, match="empty"):
        speak("  ", "en")


def test_whisper_base_transcribes_an_english_sentence():
    pytest.importorskip("faster_whisper")
    from llmcourse.assets.speech import speak
    from llmcourse.multimodal.speech import load_whisper, transcribe, word_error_rate

    wave, sr = speak("The capital of Thailand is Bangkok.", "en", speed=150)
    wave16 = librosa.resample(wave, orig_sr=sr, target_sr=16000)
    text = transcribe(load_whisper(), wave16, "en")
    assert word_error_rate(["the capital of thailand is bangkok"], [text]) <= 0.34, text
    with pytest.raises(ValueError, match="silent"):
        transcribe(None, np.zeros(16000, np.float32))


def test_word_error_rate_is_jiwer():
    from llmcourse.multimodal.speech import word_error_rate

    assert word_error_rate(["one two three"], ["one too three"]) == pytest.approx(1 / 3)
    assert word_error_rate(["abc"], ["abd"], chars=True) == pytest.approx(1 / 3)


def test_word_error_rate_spells_digits_out_when_given_the_words():
    from llmcourse.multimodal.fusion import number_words
    from llmcourse.multimodal.speech import word_error_rate

    ref = ["zero one two three"]
    assert word_error_rate(ref, ["0-1-2-3"]) == 1.0  # digits against words: every word counted wrong...
    assert word_error_rate(ref, ["0-1-2-3"], digit_words=number_words("en")) == 0.0  # ...unless spelled out
    assert word_error_rate(ref, ["0, 1, 7, 3"], digit_words=number_words("en")) == pytest.approx(1 / 4)
    assert word_error_rate(["nol satu"], ["0 1"], digit_words=number_words("id")) == 0.0
    with pytest.raises(ValueError, match="10 words"):
        word_error_rate(ref, ["0"], digit_words=["zero"])
