"""Log-mel spectrogram: ours (NumPy, from scratch) against librosa on the same audio, in one run.

Ten seconds of speech-like audio at 16 kHz, n_fft=400, hop 160, 80 mels (Whisper's front end):
the mel spectrogram and the log (dB) of each, equality and speed. Also espeak-ng synthesis
speed, for the notebook's data.
"""

from __future__ import annotations

import numpy as np

from llmcourse.bench import Bench, benchmark


@benchmark("audio")
def run(b: Bench) -> None:
    import librosa

    from llmcourse.assets.speech import speak
    from llmcourse.multimodal.audio import log_mel, mel_spectrogram

    wave22, rate = speak("Selamat pagi. Ibu kota Indonesia adalah Jakarta. " * 4, "id", speed=160)
    wave = librosa.resample(wave22, orig_sr=rate, target_sr=16000).astype(np.float32)
    wave = np.resize(wave, 16000 * 10)  # 10 s
    ours, theirs = mel_spectrogram(wave, 16000), librosa.feature.melspectrogram(y=wave, sr=16000, n_fft=400,
                                                                                 hop_length=160, n_mels=80)
    b.record("max relative difference ours vs librosa", float(np.abs(ours - theirs).max() / theirs.max()), unit="ratio")
    b.measure("ours mel spectrogram (10 s)", lambda: mel_spectrogram(wave, 16000), repeats=10)
    b.measure("librosa melspectrogram (10 s)",
              lambda: librosa.feature.melspectrogram(y=wave, sr=16000, n_fft=400, hop_length=160, n_mels=80), repeats=10)
    b.ratio("mel time ours / librosa", "ours mel spectrogram (10 s)", "librosa melspectrogram (10 s)")
    b.measure("ours log-mel (10 s)", lambda: log_mel(wave, 16000), repeats=10)
    b.measure("librosa log-mel (10 s)", lambda: librosa.power_to_db(
        librosa.feature.melspectrogram(y=wave, sr=16000, n_fft=400, hop_length=160, n_mels=80)), repeats=10)
    b.ratio("log-mel time ours / librosa", "ours log-mel (10 s)", "librosa log-mel (10 s)")
    b.measure("espeak-ng: one sentence", lambda: speak("The capital of Thailand is Bangkok.", "en"), repeats=5,
              work=1, unit="sentences/s")
