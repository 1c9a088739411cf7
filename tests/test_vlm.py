"""Scenes and the tiny VLM: rendering, bad images, label masking, a training step that lowers the loss."""

import numpy as np
import pytest
import torch

from llmcourse.assets.scenes import image_to_tensor, make_scenes, render_scene, scene_caption, scene_questions
from llmcourse.multimodal.clip import ImageEncoder
from llmcourse.multimodal.vlm import TinyVLM, answer_matches, caption_attribute_accuracy, train_vlm_stage


def test_scenes_render_and_caption_in_three_languages():
    img = render_scene("red", "circle", 2, "left", seed=1)
    x = image_to_tensor(img)
    assert x.shape == (3, 32, 32) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    red = x[0] > 0.5
    assert red[:, :16].sum() > 10 and red[:, 16:].sum() == 0  # the shapes are on the left
    assert scene_caption("red", "circle", 2, "left", "en") == "two red circles on the left"
    assert scene_caption("red", "circle", 2, "left", "id") == "dua lingkaran merah di kiri"
    assert "แดง" in scene_caption("red", "circle", 2, "left", "th")
    assert [a for _, _, a in scene_questions("blue", "square", 3, "right", "id")] == ["biru", "persegi", "tiga", "kanan"]


def test_held_out_combinations_are_held_out():
    held = (("green", "triangle"),)
    train = make_scenes(200, exclude=held)
    assert not any((a["colour"], a["shape"]) in held for a in train.attrs)
    assert all((a["colour"], a["shape"]) in held for a in make_scenes(20, only=held).attrs)


def test_bad_images_are_clear_errors():
    from PIL import Image

    img = render_scene("blue", "square", 1, "right")
    with pytest.raises(ValueError, match="resize"):
        image_to_tensor(img.resize((40, 40)))
    with pytest.raises(ValueError, match="convert"):
        image_to_tensor(img.convert("L"))
    with pytest.raises(ValueError, match="RGB"):
        image_to_tensor(np.zeros((32, 32, 4), np.uint8))
    with pytest.raises(ValueError, match="unknown scene"):
        render_scene("purple", "circle", 1, "left")
    assert isinstance(img, Image.Image)


class CharTok:
    """A character tokenizer with an end-of-text id, enough for a tiny LM."""

    special_tokens = {"<|endoftext|>": 0}

    def encode_ordinary(self, text):
        return [1 + (ord(c) % 60) for c in text]

    def decode(self, ids):
        return "".join(chr(96 + (i % 27)) for i in ids)


def tiny_llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=128)
    return LlamaForCausalLM(cfg)


def test_vlm_masks_everything_but_the_answer_and_learns():
    scenes = make_scenes(16)
    vlm = TinyVLM.build(ImageEncoder(), tiny_llama(), CharTok())
    images = torch.as_tensor(scenes.images[:2])
    embeds, mask, labels = vlm.batch(images, ["Q:", "Caption:"], ["red", "two"])
    assert embeds.shape[:2] == mask.shape == labels.shape
    # 16 visual tokens + the prompt are never learned; the answer and its <eos> are
    assert (labels[0, : 16 + 2] == -100).all() and labels[0, 18 : 18 + 5].tolist() == CharTok().encode_ordinary(" red") + [0]
    assert mask[0].sum() == 16 + 2 + 5 and mask[1].sum() == 16 + 8 + 5
    assert all(not p.requires_grad for p in vlm.tower.parameters())
    for p in vlm.lm.parameters():  # stage 1: the projector only
        p.requires_grad_(False)
    examples = [(i, "Caption:", c) for i, c in enumerate(scenes.captions("en"))]
    losses = train_vlm_stage(vlm, examples, scenes.images, steps=30, batch=8, lr=3e-3)
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    assert isinstance(vlm.generate(images[0], "Caption:", max_new_tokens=4), str)


def test_answer_and_caption_scoring():
    assert answer_matches(" Merah. ", "merah") and not answer_matches("merah muda", "merah")
    attrs = {"colour": "red", "shape": "circle", "count": 2, "side": "left"}
    assert all(caption_attribute_accuracy("two red circles on the left", attrs, "en").values())
    got = caption_attribute_accuracy("dua persegi merah di kanan", attrs, "id")
    assert got == {"colour": True, "shape": False, "count": True, "side": False}
