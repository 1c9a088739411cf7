"""CLIP-style contrastive learning (1.3): InfoNCE by hand, the data, recall against chance, bad input."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from llmcourse.assets.image_captions import (
    COLOURS, SHAPES, all_combos, diagonal_held_out, held_out_split, make_digits, make_shapes,
)
from llmcourse.multimodal.clip import (
    CLIP, CaptionTokenizer, chance_recall_at_k, check_images, clip_loss, recall_at_k, train_clip, zero_shot_accuracy,
)


def test_info_nce_equals_a_hand_computed_value():
    img = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    txt = torch.tensor([[1.0, 0.0], [0.6, 0.8]])  # unit rows: the logits are the dot products
    # logits (T = 1): [[1, 0.6], [0, 0.8]]
    rows = [-1 + math.log(math.e**1 + math.e**0.6), -0.8 + math.log(math.e**0 + math.e**0.8)]
    cols = [-1 + math.log(math.e**1 + math.e**0), -0.8 + math.log(math.e**0.6 + math.e**0.8)]
    expected = (sum(rows) / 2 + sum(cols) / 2) / 2
    assert clip_loss(img, txt, 1.0).item() == pytest.approx(expected, abs=1e-6)
    # temperature 0.5 doubles every logit; scaling the inputs changes nothing (rows are normalised)
    rows2 = [-2 + math.log(math.e**2 + math.e**1.2), -1.6 + math.log(1 + math.e**1.6)]
    cols2 = [-2 + math.log(math.e**2 + 1), -1.6 + math.log(math.e**1.2 + math.e**1.6)]
    assert clip_loss(3 * img, 0.5 * txt, 0.5).item() == pytest.approx((sum(rows2) + sum(cols2)) / 4, abs=1e-6)


def test_shared_captions_become_shared_positives():
    g = torch.Generator().manual_seed(0)
    img, txt = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    distinct = torch.arange(6)
    assert torch.allclose(clip_loss(img, txt, 0.1, distinct), clip_loss(img, txt, 0.1))
    # all captions the same: every target is uniform, so the loss is the cross-entropy to uniform
    same = torch.zeros(6, dtype=torch.long)
    logits = torch.nn.functional.normalize(img, dim=-1) @ torch.nn.functional.normalize(txt, dim=-1).T / 0.1
    uniform = torch.full((6, 6), 1 / 6)
    want = (-(uniform * logits.log_softmax(1)).sum(1).mean() - (uniform * logits.T.log_softmax(1)).sum(1).mean()) / 2
    assert torch.allclose(clip_loss(img, txt, 0.1, same), want, atol=1e-6)


def test_temperature_is_learned_and_capped():
    model = CLIP(vocab_size=5, dim=8)
    assert model.temperature.item() == pytest.approx(0.07, rel=1e-5)
    images, tokens = torch.rand(4, 3, 32, 32), torch.tensor([[1, 2], [2, 3], [3, 4], [4, 1]])
    model(images, tokens).backward()
    assert model.logit_scale.grad is not None and model.logit_scale.grad.abs() > 0
    with torch.no_grad():
        model.logit_scale.fill_(10.0)
    assert model.temperature.item() == pytest.approx(0.01, rel=1e-5)  # 1/T capped at 100


def test_chance_recall_matches_brute_force():
    relevant = np.array([[1, 0, 1, 0, 0], [0, 0, 0, 1, 0]], dtype=bool)
    for k in (1, 2, 3):
        hits = []
        for perm in itertools.permutations(range(5)):
            hits.append([relevant[q, list(perm[:k])].any() for q in range(2)])
        assert chance_recall_at_k(relevant, k) == pytest.approx(np.mean(hits))


def test_recall_at_k():
    sims = np.array([[0.9, 0.1, 0.5], [0.1, 0.3, 0.2]])
    relevant = np.array([[0, 0, 1], [1, 0, 0]], dtype=bool)
    assert recall_at_k(sims, relevant, 1) == 0.0
    assert recall_at_k(sims, relevant, 2) == 0.5
    assert recall_at_k(sims, relevant, 3) == 1.0
    with pytest.raises(ValueError, match="shape"):
        recall_at_k(sims, relevant[:1], 1)


def test_shapes_are_drawn_where_the_caption_says():
    data = make_shapes(60, seed=3, p_drop=0.0)
    assert data.images.shape == (60, 3, 32, 32) and data.images.dtype == np.float32
    assert 0.0 <= data.images.min() and data.images.max() <= 1.0
    for i in range(len(data)):
        colour, shape, size, place = (data.attributes[k][i] for k in ("colour", "shape", "size", "place"))
        assert data.captions[i] == f"a {size} {colour} {shape} at the {place}"
        img = data.images[i]
        bright = img.max(axis=0) > 0.3  # (32, 32) the shape's pixels
        ys, xs = np.nonzero(bright)
        assert ("top" in place) == (ys.mean() < 16) and ("left" in place) == (xs.mean() < 16)
        rgb = img[:, ys, xs].mean(axis=1)  # mean colour of the shape
        nearest = min(COLOURS, key=lambda c: np.sum((np.array(COLOURS[c]) - rgb) ** 2))
        assert nearest == colour
    small = [np.sum(data.images[i].max(axis=0) > 0.3) for i in range(60) if data.attributes["size"][i] == "small"]
    large = [np.sum(data.images[i].max(axis=0) > 0.3) for i in range(60) if data.attributes["size"][i] == "large"]
    assert max(small) < min(large)


def test_held_out_combinations_never_reach_training():
    data = make_shapes(300, seed=0)
    held = diagonal_held_out(tuple(COLOURS), SHAPES)
    train, test = held_out_split(data, ("colour", "shape"), held)
    combos = data.combo(("colour", "shape"))
    assert len(train) + len(test) == 300 and len(test) > 0
    assert not {combos[i] for i in train} & set(held)
    assert {combos[i] for i in test} <= set(held)
    # every colour and every shape is still seen in training
    assert {c for c, _ in (combos[i] for i in train)} == set(COLOURS)
    assert {s for _, s in (combos[i] for i in train)} == set(SHAPES)


def test_digits_with_captions():
    data = make_digits(limit=50)
    assert data.images.shape == (50, 3, 32, 32)
    assert data.captions[0] == f"a {data.attributes['colour'][0]} zero"  # sklearn's first digit is a 0


def test_bad_images_and_captions_get_clear_errors():
    with pytest.raises(ValueError, match="channels last"):
        check_images(torch.rand(2, 32, 32, 3))
    with pytest.raises(ValueError, match="batch dimension"):
        check_images(torch.rand(3, 32, 32))
    with pytest.raises(ValueError, match=r"\(B, 3, 32, 32\)"):
        check_images(torch.rand(2, 3, 64, 64))
    with pytest.raises(ValueError, match="divide by 255"):
        check_images(torch.zeros(2, 3, 32, 32, dtype=torch.uint8))
    with pytest.raises(TypeError, match="torch.Tensor"):
        check_images(np.zeros((2, 3, 32, 32)))
    model = CLIP(vocab_size=5)
    with pytest.raises(ValueError, match="channels last"):
        model.encode_image(torch.rand(1, 32, 32, 3))
    tok = CaptionTokenizer(["a red circle"])
    with pytest.raises(ValueError, match="unknown words \\['purple'\\]"):
        tok.encode_batch(["a purple circle"])
    with pytest.raises(ValueError, match="no words"):
        tok.encode("")
    with pytest.raises(TypeError, match="encode_batch"):
        tok.encode(["a red circle"])
    with pytest.raises(ValueError, match="no words"):
        CaptionTokenizer(["", "  "])
    with pytest.raises(ValueError, match="one caption per image"):
        train_clip(np.zeros((3, 3, 32, 32), np.float32), ["a", "b"], steps=1, progress=False)
    with pytest.raises(ValueError, match="channels last"):
        train_clip(np.zeros((3, 32, 32, 3), np.float32), ["a", "b", "c"], steps=1, progress=False)
    with pytest.raises(ValueError, match="steps >= 1"):
        train_clip(np.zeros((3, 3, 32, 32), np.float32), ["a", "b", "c"], steps=0, progress=False)


@pytest.mark.parametrize("steps", [1, 3, 10])
def test_training_runs_for_any_number_of_steps(steps):
    data = make_shapes(8, seed=0)
    run = train_clip(data.images, data.captions, steps=steps, batch_size=4, progress=False)
    assert len(run.losses) == steps and all(np.isfinite(run.losses))


def test_a_short_training_run_learns_colours():
    data = make_shapes(600, seed=0)
    run = train_clip(data.images, data.captions, steps=60, batch_size=64, lr=3e-3, progress=False)
    assert np.mean(run.losses[-10:]) < np.mean(run.losses[:10])
    test = make_shapes(200, seed=1)
    acc, _ = zero_shot_accuracy(run.model, run.tokenizer, test.images, test.attributes["colour"], list(COLOURS),
                                lambda c: f"a {c} circle")
    assert acc > 0.5  # chance is 0.25
    candidates = all_combos(tuple(COLOURS), SHAPES)
    acc2, pred = zero_shot_accuracy(run.model, run.tokenizer, test.images, test.combo(("colour", "shape")),
                                    candidates, lambda c, s: f"a {c} {s}")
    assert pred.shape == (200,) and 0.0 <= acc2 <= 1.0
