"""The one reward model on either backbone: the course GPT and its Hugging Face export give the same
reward for the same text (same weights -> same last hidden state -> same head output); it trains on
week 8's plain-text (prompt, chosen, rejected, lang) tuples as well as week 5's PreferencePairs."""

import pytest
import torch

from llmcourse.alignment import (PreferencePair, RewardModel, encode_pairs, language_preference_pairs, lm_hidden,
                                 reward_accuracy, train_reward_model)
from llmcourse.models.gpt import GPT, GPTConfig
from llmcourse.tokenization.bpe_regex import RegexTokenizer
from llmcourse.tokenization.course_tokenizer import with_course_specials

PROMPTS = ["Thai:", "English:", "Vietnamese:", "Tamil:"]
RESPONSES = [" สวัสดีครับ", " the cat sat on the mat, and then it slept", " Xin chào", " வணக்கம்"]


@pytest.fixture(scope="module")
def tok():
    text = "".join(p + r for p, r in zip(PROMPTS, RESPONSES)) * 3
    return with_course_specials(RegexTokenizer().train(text, 300, progress=False))


@pytest.fixture(scope="module")
def gpt(tok):
    torch.manual_seed(0)
    model = GPT(GPTConfig.llama_style(vocab_size=len(tok.vocab), block_size=128, n_layer=2, n_head=2, n_kv_head=1,
                                      n_embd=16))
    return model.eval()


def test_course_gpt_and_its_hf_export_give_the_same_reward(gpt, tok):
    from llmcourse.tokenization import course_tokenizer_to_hf

    ours = RewardModel(gpt).eval()
    hf_lm = gpt.to_hf().eval()
    theirs = RewardModel(hf_lm).eval()
    assert (ours.kind, theirs.kind) == ("gpt", "hf")
    theirs.score.load_state_dict(ours.score.state_dict())
    # the same hidden state, read two ways: after the course GPT's norm_f and HF's hidden_states[-1]
    ids = torch.tensor([tok.encode_ordinary(PROMPTS[1] + RESPONSES[1])])
    h_ours, h_hf = lm_hidden(gpt, "gpt", ids), lm_hidden(hf_lm, "hf", ids)
    assert torch.allclose(h_ours, h_hf, atol=1e-5)
    # texts of different lengths in one batch: right padding and last-token pooling must agree too
    r_ours = ours.score_texts(PROMPTS, RESPONSES, tok)
    r_hf = theirs.score_texts(PROMPTS, RESPONSES, course_tokenizer_to_hf(tok))
    assert r_ours == pytest.approx(r_hf, abs=1e-5)
    one_by_one = [ours(torch.tensor([tok.encode_ordinary(p + r)])).item() for p, r in zip(PROMPTS, RESPONSES)]
    assert r_ours == pytest.approx(one_by_one, abs=1e-5)
    assert max(r_ours) - min(r_ours) > 1e-3  # a real signal, not a constant
    # and it is the backbone that decides: perturb the HF copy and the rewards part ways
    with torch.no_grad():
        hf_lm.get_input_embeddings().weight.add_(0.5)
    assert theirs.score_texts(PROMPTS, RESPONSES, tok) != pytest.approx(r_ours, abs=1e-3)


def test_hf_backbone_save_load(gpt, tmp_path):
    rm = RewardModel(gpt.to_hf()).eval()
    rm.save(tmp_path)
    back = RewardModel.load(tmp_path)
    ids = torch.randint(len(gpt.tok_emb.weight), (2, 6))
    assert back.kind == "hf" and torch.allclose(back(ids), rm(ids), atol=1e-6)


def test_trains_on_language_tuples_and_preference_pairs(gpt, tok):
    import copy

    tuples = [("Thai:", " สวัสดีครับ", " hello there", "th"), ("English:", " hello there", " สวัสดีครับ", "en"),
              ("Vietnamese:", " Xin chào bạn", " வணக்கம்", "vi"), ("Tamil:", " வணக்கம்", " Xin chào bạn", "ta")]
    torch.manual_seed(0)
    rm = RewardModel(copy.deepcopy(gpt))
    _, acc = train_reward_model(rm, tok, tuples, steps=40, lr=3e-3, batch_size=4, val_pairs=tuples, progress=False)
    assert acc == 1.0 and acc == reward_accuracy(rm, tok, tuples)
    # a tuple is encoded exactly as score_texts reads it
    enc = encode_pairs(tuples[:1], tok, rm.context_length)[0]
    assert enc == (tok.encode_ordinary("Thai: สวัสดีครับ"), tok.encode_ordinary("Thai: hello there"))
    r = rm.score_texts(["Thai:", "Thai:"], [" สวัสดีครับ", " hello there"], tok)
    assert r[0] > r[1]
    # both kinds of pair go through the same door
    mixed = encode_pairs([PreferencePair("What is 2 plus 3?", "5", "6"), tuples[0]], tok, 64)
    assert len(mixed) == 2 and all(len(c) <= 64 and len(r) <= 64 for c, r in mixed)


def test_bad_input_is_a_clear_error(gpt, tok):
    rm = RewardModel(gpt)
    with pytest.raises(ValueError, match="one prompt per response"):
        rm.score_texts(["a", "b"], ["x"], tok)
    with pytest.raises(ValueError, match="empty text"):
        rm.score_texts([""], [""], tok)
    with pytest.raises(TypeError, match="PreferencePair or a"):
        encode_pairs([("only", "two")], tok, 16)
    with pytest.raises(ValueError, match="no preference pairs"):
        train_reward_model(rm, tok, [], steps=1)
    with pytest.raises(TypeError, match="neither the course GPT"):
        RewardModel(torch.nn.Linear(3, 3))
    with pytest.raises(FileNotFoundError, match="RewardModel"):
        RewardModel.load("/nonexistent-reward-model")


def test_language_preference_pairs_go_through_encode_pairs(tok):
    pairs = language_preference_pairs(6, seed=0)
    enc = encode_pairs(pairs, tok, 32)
    assert [c for c, _ in enc] == [tok.encode_ordinary(p + c)[-32:] for p, c, _, _ in pairs]
    assert [r for _, r in enc] == [tok.encode_ordinary(p + r)[-32:] for p, _, r, _ in pairs]
