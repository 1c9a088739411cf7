"""Multimodal models: images, sound and text (weeks 1 and 8).

    clip     CLIP-style contrastive learning from scratch (1.3)
    fusion   early against late fusion on digit-word matching, matched parameter counts (8.1)
    audio    the log-mel spectrogram from scratch (STFT, Hann, Slaney mel bank), equal to librosa (8.1)
    speech   spoken words from espeak-ng, an audio encoder fused with text, Whisper base and WER (8.1)
    vlm      a LLaVA-style vision-language model: CLIP tower, projector, the course GPT with LoRA (8.1)
"""

from llmcourse.multimodal.audio import (
    check_audio, hann_window, hz_to_mel, log_mel, mel_filter_bank, mel_spectrogram, mel_to_hz, power_to_db, stft_power,
)
from llmcourse.multimodal.fusion import (
    EarlyFusion, FusionData, ImageOnly, LateFusion, TextOnly, count_params, digit_match_data, fusion_accuracy,
    make_fusion_model, number_words, train_fusion, width_for_params,
)
from llmcourse.multimodal.speech import (
    SpeechTextMatcher, SpokenWords, load_whisper, match_accuracy, spoken_words, train_matcher, transcribe,
    word_error_rate,
)
from llmcourse.multimodal.vlm import (
    Projector, TinyVLM, VisionTower, answer_matches, caption_attribute_accuracy, train_vlm_stage,
)

__all__ = [
    "EarlyFusion", "FusionData", "ImageOnly", "LateFusion", "Projector", "SpeechTextMatcher", "SpokenWords", "TextOnly",
    "TinyVLM", "VisionTower", "answer_matches", "caption_attribute_accuracy", "check_audio", "count_params",
    "digit_match_data", "fusion_accuracy", "hann_window", "hz_to_mel", "load_whisper", "log_mel", "make_fusion_model",
    "match_accuracy", "mel_filter_bank", "mel_spectrogram", "mel_to_hz", "number_words", "power_to_db", "spoken_words",
    "stft_power", "train_fusion", "train_matcher", "train_vlm_stage", "transcribe", "width_for_params",
    "word_error_rate",
]
