"""Audio features from scratch: the log-mel spectrogram every speech model starts from.

A waveform is a long 1-D array of pressure samples (16,000 per second for Whisper). A model
wants something shorter and closer to what the ear hears. Four steps turn one into the other:

1. **Frames.** Cut the wave into overlapping windows of `n_fft` samples every `hop_length`
   samples (400 and 160 at 16 kHz: 25 ms windows every 10 ms). With `center=True` the wave
   is first padded with n_fft // 2 zeros on each side, so frame t is centred on sample
   t * hop_length and there are 1 + len(wave) // hop_length frames.
2. **STFT.** Multiply each frame by a Hann window (0.5 - 0.5 cos(2 pi n / n_fft), the
   "periodic" one: it tapers the edges so the cut does not ring) and take its real FFT:
   1 + n_fft // 2 frequency bins from 0 Hz to sample_rate / 2. Power = |FFT|^2.
3. **Mel filter bank.** The ear resolves low pitches finely and high ones coarsely. The mel
   scale follows it; Slaney's version (librosa's default) is linear below 1 kHz and
   logarithmic above. `n_mels` triangles, evenly spaced in mels, each sum the power of the
   FFT bins under them; Slaney normalisation divides each by its width in Hz, so a wide
   triangle does not get a louder band.
4. **Log.** Loudness is perceived logarithmically: 10 log10(power), floored and clipped at
   80 dB below the peak (`power_to_db`).

`mel_spectrogram` equals `librosa.feature.melspectrogram(y=wave, sr=sample_rate, n_fft=400,
hop_length=160, n_mels=80)` (shape (n_mels, frames)); `power_to_db` equals
`librosa.power_to_db`. The tests hold both.
"""

from __future__ import annotations

import numpy as np

__all__ = ["check_audio", "hann_window", "hz_to_mel", "log_mel", "mel_filter_bank", "mel_spectrogram", "mel_to_hz",
           "power_to_db", "stft_power"]

# Slaney's mel scale: linear (3 mels per 200 Hz) below 1 kHz, logarithmic above
_F_SP = 200.0 / 3
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP  # 15 mels at 1 kHz
_LOGSTEP = np.log(6.4) / 27.0  # 27 mels per factor 6.4 of frequency


def check_audio(wave, sample_rate: int | None = None, allow_silence: bool = False) -> np.ndarray:
    """`wave` as a 1-D float array, or a clear error: empty, stereo, integer PCM, NaN, or silent."""
    arr = np.asarray(wave)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise ValueError(f"audio must be mono, a 1-D array of samples; got shape {arr.shape} "
                         "(stereo? average the channels: wave.mean(axis=0 or 1))")
    if arr.size == 0:
        raise ValueError("the audio is empty: no samples (did the file load, or the synthesis fail?)")
    if arr.dtype.kind in "iu":
        raise ValueError(f"audio must be float samples in [-1, 1], got integer {arr.dtype} "
                         "(16-bit PCM? divide by 32768)")
    if arr.dtype.kind != "f":
        raise ValueError(f"audio must be float samples, got dtype {arr.dtype}")
    if not np.isfinite(arr).all():
        raise ValueError("the audio holds NaN or infinite samples")
    if sample_rate is not None and (not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0):
        raise ValueError(f"sample_rate must be a positive integer (Hz), got {sample_rate!r}")
    if not allow_silence and np.abs(arr).max() < 1e-6:
        raise ValueError("the audio is silent (every sample is ~0): there is nothing to hear; check the "
                         "recording or the synthesis (a voice that does not exist speaks nothing)")
    return arr


def hz_to_mel(hz):
    """Slaney mel of a frequency in Hz (librosa.hz_to_mel with htk=False)."""
    hz = np.asarray(hz, dtype=np.float64)
    return np.where(hz >= _MIN_LOG_HZ, _MIN_LOG_MEL + np.log(np.maximum(hz, 1e-10) / _MIN_LOG_HZ) / _LOGSTEP,
                    hz / _F_SP)


def mel_to_hz(mel):
    """Frequency in Hz of a Slaney mel (the inverse of hz_to_mel)."""
    mel = np.asarray(mel, dtype=np.float64)
    return np.where(mel >= _MIN_LOG_MEL, _MIN_LOG_HZ * np.exp(_LOGSTEP * (mel - _MIN_LOG_MEL)), _F_SP * mel)


def mel_filter_bank(sample_rate: int, n_fft: int, n_mels: int = 80, fmin: float = 0.0,
                    fmax: float | None = None) -> np.ndarray:
    """(n_mels, 1 + n_fft // 2) triangular filters, Slaney-normalised (librosa.filters.mel)."""
    fmax = sample_rate / 2 if fmax is None else fmax
    fft_freqs = np.linspace(0, sample_rate / 2, 1 + n_fft // 2)  # (F,) centre of each FFT bin
    mel_f = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))  # (n_mels + 2,) edges in Hz
    widths = np.diff(mel_f)  # (n_mels + 1,)
    ramps = mel_f[:, None] - fft_freqs[None, :]  # (n_mels + 2, F)
    rising = -ramps[:-2] / widths[:-1, None]  # left side of each triangle
    falling = ramps[2:] / widths[1:, None]  # right side
    weights = np.maximum(0, np.minimum(rising, falling))  # (n_mels, F)
    weights *= (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]  # Slaney: equal area per filter
    return weights


def hann_window(n: int) -> np.ndarray:
    """The periodic Hann window of length n: 0.5 - 0.5 cos(2 pi k / n)."""
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)


def stft_power(wave: np.ndarray, n_fft: int = 400, hop_length: int = 160) -> np.ndarray:
    """|STFT|^2 of a centred, zero-padded wave: (1 + n_fft // 2, 1 + len(wave) // hop_length)."""
    padded = np.pad(np.asarray(wave, dtype=np.float64), n_fft // 2)  # centre frame t on sample t * hop
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop_length]  # (frames, n_fft), no copy
    spectrum = np.fft.rfft(frames * hann_window(n_fft), axis=1)  # (frames, F)
    return (spectrum.real ** 2 + spectrum.imag ** 2).T  # (F, frames)


def mel_spectrogram(wave, sample_rate: int, n_fft: int = 400, hop_length: int = 160, n_mels: int = 80) -> np.ndarray:
    """Mel power spectrogram (n_mels, frames), float32: the same numbers as librosa's melspectrogram.

    Silence is allowed here (its spectrogram is all zeros); empty or non-finite input is not.
    """
    wave = check_audio(wave, sample_rate, allow_silence=True)
    if n_fft < 2 or hop_length < 1 or n_mels < 1:
        raise ValueError(f"need n_fft >= 2, hop_length >= 1, n_mels >= 1; got {n_fft}, {hop_length}, {n_mels}")
    power = stft_power(wave, n_fft, hop_length)  # (F, frames)
    return (mel_filter_bank(sample_rate, n_fft, n_mels) @ power).astype(np.float32)  # (n_mels, frames)


def power_to_db(power, ref: float = 1.0, amin: float = 1e-10, top_db: float | None = 80.0) -> np.ndarray:
    """10 log10(power / ref), floored at amin and clipped to top_db below the peak (librosa.power_to_db)."""
    power = np.asarray(power)
    db = 10.0 * np.log10(np.maximum(amin, power)) - 10.0 * np.log10(max(amin, ref))
    if top_db is not None:
        db = np.maximum(db, db.max() - top_db)
    return db


def log_mel(wave, sample_rate: int, n_fft: int = 400, hop_length: int = 160, n_mels: int = 80) -> np.ndarray:
    """Log-mel features (n_mels, frames) in dB: what the audio encoder of 8.1 reads. Silence is an error."""
    check_audio(wave, sample_rate)
    return power_to_db(mel_spectrogram(wave, sample_rate, n_fft, hop_length, n_mels)).astype(np.float32)
