"""The course GPT against Hugging Face GPT-2 and Llama, plus training and generation properties."""

import pytest
import torch

from llmcourse.models.gpt import GPT, GPTConfig


V = 61


def _hf_gpt2(seed=0, **kw):
    import transformers

    torch.manual_seed(seed)
    cfg = transformers.GPT2Config(vocab_size=V, n_positions=32, n_embd=48, n_layer=2, n_head=4,
                                  bos_token_id=0, eos_token_id=0, **kw)
    return transformers.GPT2LMHeadModel(cfg).eval()


@pytest.mark.parametrize("impl", ["ours", "sdpa"])
@pytest.mark.parametrize("activation", ["gelu_new", "relu"])
def test_from_hf_gpt2_gives_equal_logits(impl, activation):
    hf = _hf_gpt2(activation_function=activation)
    ours = GPT.from_hf(hf, attn_impl=impl).eval()
    idx = torch.randint(0, V, (3, 32), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(ours(idx)[0], hf(idx).logits, atol=1e-5, rtol=1e-4)
        # and the loss: HF shifts inside, we take explicit targets
        loss_hf = hf(idx, labels=idx).loss
        loss_ours = ours(idx[:, :-1], idx[:, 1:])[1]
    torch.testing.assert_close(loss_ours, loss_hf, atol=1e-5, rtol=1e-5)


def test_from_hf_rejects_other_models():
    llama = GPT(GPTConfig.llama_style(vocab_size=V, n_embd=16, n_head=2, n_layer=1)).to_hf()
    with pytest.raises(ValueError, match="GPT-2"):
        GPT.from_hf(llama)


@pytest.mark.parametrize("n_kv_head, tie", [(4, True), (2, False), (1, True)])
def test_to_hf_llama_gives_equal_logits(n_kv_head, tie):
    torch.manual_seed(0)
    cfg = GPTConfig.llama_style(vocab_size=V, block_size=24, n_layer=2, n_head=4, n_kv_head=n_kv_head,
                                n_embd=32, tie_weights=tie, rope_theta=500000.0)
    ours = GPT(cfg).eval()
    with torch.no_grad():  # non-trivial norm weights, so a wrong mapping would show
        for name, p in ours.named_parameters():
            if "norm" in name:
                p.normal_(1.0, 0.2)
    hf = ours.to_hf()
    idx = torch.randint(0, V, (2, 24), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(ours(idx)[0], hf(idx).logits, atol=1e-5, rtol=1e-4)
    assert hf.config.num_key_value_heads == n_kv_head


def test_to_hf_refuses_a_gpt2_style_config():
    with pytest.raises(ValueError, match="Llama-style"):
        GPT(GPTConfig(vocab_size=V, n_embd=32, n_head=4, n_layer=1)).to_hf()


@pytest.mark.parametrize("positions", ["learned", "sinusoidal", "rope", "alibi", "none"])
def test_both_attention_implementations_agree(positions):
    torch.manual_seed(0)
    m = GPT(GPTConfig(vocab_size=V, block_size=16, n_layer=2, n_head=4, n_kv_head=2, n_embd=32,
                      positions=positions)).eval()
    idx = torch.randint(0, V, (2, 16))
    with torch.no_grad():
        a = m(idx)[0]
        b = m.set_attn_impl("sdpa")(idx)[0]
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


class ConcatCache:
    """The smallest KV cache: per layer, concatenate new keys/values to the old ones."""

    def __init__(self):
        self.kv = {}

    def update(self, layer_idx, k, v):
        if layer_idx in self.kv:
            k = torch.cat([self.kv[layer_idx][0], k], dim=2)
            v = torch.cat([self.kv[layer_idx][1], v], dim=2)
        self.kv[layer_idx] = (k, v)
        return k, v


@pytest.mark.parametrize("positions", ["learned", "sinusoidal", "rope", "alibi"])
def test_cache_hook_gives_the_same_logits_as_a_full_forward(positions):
    torch.manual_seed(0)
    m = GPT(GPTConfig(vocab_size=V, block_size=16, n_layer=2, n_head=4, n_kv_head=2, n_embd=32,
                      positions=positions)).eval()
    idx = torch.randint(0, V, (2, 12))
    with torch.no_grad():
        full = m(idx)[0]
        cache = ConcatCache()
        parts = [m(idx[:, :5], cache=cache, start_pos=0)[0]]  # prefill
        for t in range(5, 12):  # then one token at a time
            parts.append(m(idx[:, t:t + 1], cache=cache, start_pos=t)[0])
    torch.testing.assert_close(torch.cat(parts, dim=1), full, atol=1e-5, rtol=1e-4)


def test_right_padding_does_not_change_real_tokens():
    torch.manual_seed(0)
    m = GPT(GPTConfig(vocab_size=V, block_size=16, n_layer=2, n_head=4, n_embd=32, positions="alibi")).eval()
    a = torch.randint(1, V, (1, 6))
    padded = torch.cat([a, torch.zeros(1, 4, dtype=torch.long)], dim=1)
    am = torch.tensor([[1] * 6 + [0] * 4])
    with torch.no_grad():
        torch.testing.assert_close(m(padded, attention_mask=am)[0][:, :6], m(a)[0], atol=1e-5, rtol=1e-4)


def test_overfits_a_tiny_batch():
    torch.manual_seed(0)
    m = GPT(GPTConfig(vocab_size=V, block_size=16, n_layer=2, n_head=2, n_embd=32))
    data = torch.randint(0, V, (4, 17))
    x, y = data[:, :-1], data[:, 1:]
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    first = None
    for _ in range(150):
        _, loss = m(x, y)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert first > 3.5  # about ln(61) = 4.1 at the start
    assert loss.item() < 0.1, f"a tiny batch should be memorised, loss is {loss.item():.3f}"


def test_generate_length_and_reproducibility():
    torch.manual_seed(0)
    m = GPT(GPTConfig(vocab_size=V, block_size=8, n_layer=1, n_head=2, n_embd=16))
    prompt = torch.randint(0, V, (2, 3))
    out = m.generate(prompt, 20, seed=7)  # 23 tokens > block_size 8: the context is cropped
    assert out.shape == (2, 23) and torch.equal(out[:, :3], prompt)
    assert torch.equal(out, m.generate(prompt, 20, seed=7))
    assert not torch.equal(out, m.generate(prompt, 20, seed=8))
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(m.generate(prompt, 5, generator=g1), m.generate(prompt, 5, generator=g2))
    greedy = m.generate(prompt, 6, temperature=0)
    assert torch.equal(greedy, m.generate(prompt, 6, temperature=0, seed=1))
    # greedy token = argmax of the logits over the cropped context
    ctx = greedy[:, -1 - m.config.block_size:-1]
    assert torch.equal(greedy[:, -1], m(ctx)[0][:, -1].argmax(-1))
    assert m.training  # mode restored
    assert m.generate(prompt, 0).shape == (2, 3)


def test_generate_stops_at_eos_and_pads_finished_rows():
    torch.manual_seed(0)
    m = GPT(GPTConfig(vocab_size=V, block_size=8, n_layer=1, n_head=2, n_embd=16))
    with torch.no_grad():
        m.lm_head.weight.zero_()
        m.tok_emb.weight[5, 0] = 0.0
    # make token 5 overwhelmingly likely: bias the final norm output through the head
    with torch.no_grad():
        m.lm_head.weight[5] = 50.0
        m.norm_f.weight.fill_(0.0)
        m.norm_f.bias.fill_(1.0)
    out = m.generate(torch.zeros(2, 2, dtype=torch.long), 10, seed=0, eos_token_id=5)
    assert out.shape == (2, 3) and (out[:, -1] == 5).all()


def test_bad_inputs_raise_clear_errors():
    m = GPT(GPTConfig(vocab_size=V, block_size=8, n_layer=1, n_head=2, n_embd=16))
    with pytest.raises(ValueError, match="longer than block_size"):
        m(torch.zeros(1, 9, dtype=torch.long))
    with pytest.raises(ValueError, match="batch, length"):
        m(torch.zeros(8, dtype=torch.long))
    with pytest.raises(ValueError, match="token ids"):
        m(torch.full((1, 4), V, dtype=torch.long))
    with pytest.raises(ValueError, match="empty"):
        m(torch.zeros(1, 0, dtype=torch.long))
    with pytest.raises(ValueError, match="learned positions"):
        m.extend_context(16)
    with pytest.raises(ValueError, match="must divide n_head"):
        GPTConfig(n_head=6, n_kv_head=4, n_embd=48)
    with pytest.raises(ValueError, match="positions"):
        GPTConfig(positions="relative")
    with pytest.raises(ValueError, match="batch, length"):
        m.generate(torch.zeros(3, dtype=torch.long), 2)
    rope = GPT(GPTConfig(vocab_size=V, block_size=8, n_layer=1, n_head=2, n_embd=16, positions="rope"))
    assert rope.extend_context(32)(torch.zeros(1, 32, dtype=torch.long))[0].shape == (1, 32, V)


def test_llama_style_is_one_config_away():
    c = GPTConfig.llama_style(n_kv_head=2)
    assert (c.norm, c.positions, c.activation, c.bias) == ("rmsnorm", "rope", "swiglu", False)
    m = GPT(c)
    assert m.pos_emb is None and m.blocks[0].mlp.gate is not None
    assert m.lm_head.weight is m.tok_emb.weight


def test_next_token_loss_equals_cross_entropy_with_ignore_index():
    from llmcourse.models.gpt import next_token_loss

    g = torch.Generator().manual_seed(0)
    logits, targets = torch.randn(3, 7, 11, generator=g) * 4, torch.randint(11, (3, 7), generator=g)
    targets[0, :3] = -100
    ref = torch.nn.functional.cross_entropy(logits.reshape(21, 11), targets.reshape(21), ignore_index=-100)
    torch.testing.assert_close(next_token_loss(logits, targets), ref)


def test_save_and_load_round_trip(tmp_path):
    m = GPT(GPTConfig.llama_style(vocab_size=V, block_size=8, n_layer=1, n_head=2, n_kv_head=1, n_embd=16))
    m.save(tmp_path / "gpt")
    m2 = GPT.load(tmp_path / "gpt")
    x = torch.randint(0, V, (2, 8))
    assert torch.equal(m(x)[0], m2(x)[0]) and m2.config == m.config
    with pytest.raises(FileNotFoundError, match="saved GPT"):
        GPT.load(tmp_path)
    assert sorted(p.name for p in (tmp_path / "gpt").iterdir()) == ["config.json", "model.safetensors"]  # no temp files


def test_load_of_a_truncated_weights_file_names_it_and_says_what_to_do(tmp_path):
    m = GPT(GPTConfig.llama_style(vocab_size=V, block_size=8, n_layer=1, n_head=2, n_embd=16))
    folder = m.save(tmp_path / "gpt")
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"model\.safetensors cannot be read.*damaged or incomplete.*re-run the notebook"):
        GPT.load(folder)
    weights.write_bytes(b"")
    with pytest.raises(ValueError, match="model.safetensors"):
        GPT.load(folder)


def test_load_of_a_foreign_config_lists_the_unknown_fields(tmp_path):
    import json

    m = GPT(GPTConfig(vocab_size=V, block_size=8, n_layer=1, n_head=2, n_embd=16))
    folder = m.save(tmp_path / "gpt")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "hidden_size": 16, "model_type": "llama"}))
    with pytest.raises(ValueError, match="fields a GPTConfig does not have: hidden_size, model_type"):
        GPT.load(folder)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        GPT.load(folder)
    (folder / "config.json").write_text(json.dumps({**config, "n_embd": 32}))  # weights of another width
    with pytest.raises(ValueError, match="does not fit the model"):
        GPT.load(folder)
    (folder / "config.json").write_text(json.dumps({**config, "n_head": 3}))
    with pytest.raises(ValueError, match="describes no valid GPT.*divisible"):
        GPT.load(folder)


def test_save_keeps_the_old_checkpoint_when_writing_fails(tmp_path, monkeypatch):
    import safetensors.torch

    m = GPT(GPTConfig(vocab_size=V, block_size=8, n_layer=1, n_head=2, n_embd=16))
    folder = m.save(tmp_path / "gpt")
    before = (folder / "model.safetensors").read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(safetensors.torch, "save_file", disk_full)
    with pytest.raises(OSError, match="No space"):
        GPT(GPTConfig(vocab_size=V, block_size=8, n_layer=1, n_head=2, n_embd=16)).save(folder)
    assert (folder / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    GPT.load(folder)


def test_an_empty_batch_is_a_clear_error():
    m = GPT(GPTConfig(vocab_size=V, block_size=8, n_layer=1, n_head=2, n_embd=16))
    with pytest.raises(ValueError, match=r"idx is empty \(shape \(0, 4\)\)"):
        m(torch.zeros(0, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="batch >= 1"):
        m.generate(torch.zeros(0, 4, dtype=torch.long), 3)


# ---------------------------------------------------------------- exercises of 2.2: the library passes them
def _csa_ref(x, w_qkv, b_qkv, w_proj, b_proj, n_head):
    from llmcourse.nn import MultiHeadAttention

    mha = MultiHeadAttention(x.shape[-1], n_head).eval()
    with torch.no_grad():
        mha.qkv.weight.copy_(w_qkv), mha.qkv.bias.copy_(b_qkv)
        mha.proj.weight.copy_(w_proj), mha.proj.bias.copy_(b_proj)
        return mha(x, is_causal=True)


def _exercise_refs():
    from llmcourse.models.gpt import next_token_loss, sample_next
    from llmcourse.training import get_batch

    return [("gpt.get_batch", get_batch), ("gpt.lm_loss", next_token_loss),
            ("gpt.causal_self_attention", _csa_ref), ("gpt.sample_next", sample_next)]


@pytest.mark.parametrize("name, ref", _exercise_refs(), ids=lambda v: v if isinstance(v, str) else "")
def test_reference_passes_exercise(name, ref):
    from llmcourse.exercises.registry import run_exercise

    res = run_exercise(name, ref)
    assert res.ok, res.failures


def test_wrong_answers_fail_gpt_exercises():
    from llmcourse.exercises.registry import run_exercise
    from llmcourse.models.gpt import sample_next

    def no_shift(data, block_size, batch_size, generator=None):
        s = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
        x = torch.stack([data[i:i + block_size] for i in s])
        return x, x

    assert not run_exercise("gpt.get_batch", no_shift).ok
    # temperature applied after the softmax (a common slip) samples the wrong distribution
    def late_temperature(logits, temperature, top_k=None, generator=None):
        if temperature == 0:
            return logits.argmax(-1, keepdim=True)
        p = torch.softmax(logits, -1) / temperature
        return torch.multinomial(p / p.sum(-1, keepdim=True), 1, generator=generator)

    assert not run_exercise("gpt.sample_next", late_temperature).ok
    assert run_exercise("gpt.sample_next", sample_next).ok
