"""Early and late fusion: data, parameter matching, learning a task neither modality solves alone;
the speech-text matcher on espeak-ng clips."""

import numpy as np
import pytest
import torch

from llmcourse.multimodal.fusion import (
    CharBag, count_params, digit_match_data, fusion_accuracy, make_fusion_model, number_words, train_fusion,
)


def test_data_is_balanced_and_needs_both_modalities():
    d = digit_match_data(2000, "train")
    assert 0.45 < float(d.labels.mean()) < 0.55
    assert ((d.image_digit == d.text_digit) == d.labels.numpy().astype(bool)).all()
    assert d.texts[0] in sum((number_words(l) for l in ("en", "id", "th", "vi")), [])
    test = digit_match_data(10, "test")
    assert test.images.shape == (10, 64)


def test_parameter_counts_are_matched():
    counts = [count_params(make_fusion_model(k, 20_000)) for k in ("text-only", "image-only", "early", "late")]
    assert max(counts) / min(counts) < 1.05, counts


def test_fusion_learns_what_a_single_modality_cannot():
    torch.manual_seed(0)
    train, test = digit_match_data(3000, "train"), digit_match_data(600, "test")
    accs = {}
    for kind in ("text-only", "late"):
        m = make_fusion_model(kind, 20_000)
        train_fusion(m, train, steps=300)
        accs[kind] = fusion_accuracy(m, test)["accuracy"]
    assert accs["text-only"] < 0.6 < 0.8 < accs["late"], accs


def test_charbag_is_stable_across_processes_and_rejects_empty_text():
    bag = CharBag(8)
    flat, _ = bag.ids(["tujuh"])
    assert flat.tolist() == CharBag(8).ids(["tujuh"])[0].tolist()
    with pytest.raises(ValueError, match="empty"):
        bag(["ok", ""])


def test_speech_text_matcher_generalises_to_a_new_voice():
    from llmcourse.multimodal.speech import SpeechTextMatcher, match_accuracy, spoken_words, train_matcher

    data = spoken_words(langs=("en", "id"), variants=("m1", "f2", "m3"), speeds=(150,))
    voices = np.array(data.variants)
    torch.manual_seed(0)
    m = SpeechTextMatcher()
    train_matcher(m, data.where(voices != "m3"), steps=120, batch=32)
    assert match_accuracy(m, data.where(voices == "m3"), "id") > 0.5  # chance: 0.1
