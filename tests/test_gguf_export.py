"""GGUF from scratch against gguf-py and llama.cpp: Q8_0/Q4_0 blocks byte-equal to
`gguf.quants.quantize`, the exported file read back by gguf's reader, loaded by llama.cpp,
which tokenises text to our ids and computes our logits within the quantisation error."""

import numpy as np
import pytest
import torch

from llmcourse.quantization import export_gguf, gguf_dequantize, gguf_quantize
from week6_models import TEXT, tiny_target, tiny_tokenizer

gguf = pytest.importorskip("gguf")


def _arrays():
    rng = np.random.default_rng(0)
    yield rng.standard_normal((64, 256)).astype(np.float32)
    yield (rng.standard_normal((8, 64)) * 1e-3).astype(np.float32)
    yield np.zeros((2, 32), np.float32)
    yield np.float32([[0.5, -0.5, 1.5, 2.5, -2.5, 127.0, -8.0, 0.25] * 4])  # rounding ties, exact extremes
    yield rng.standard_normal((3, 4, 96)).astype(np.float16)
    yield (rng.standard_cauchy((16, 128)) * 10).astype(np.float32)  # heavy tails: outliers per block


@pytest.mark.parametrize("qtype", ["Q8_0", "Q4_0", "F16", "F32"])
def test_block_quantisers_are_byte_equal_to_gguf_py(qtype):
    for x in _arrays():
        ours = gguf_quantize(x, qtype)
        theirs = gguf.quants.quantize(x, gguf.GGMLQuantizationType[qtype])
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        assert ours.tobytes() == theirs.tobytes()
        if qtype in ("Q8_0", "Q4_0"):
            back = gguf.quants.dequantize(theirs, gguf.GGMLQuantizationType[qtype])
            assert np.array_equal(gguf_dequantize(ours, qtype), back)


def test_block_layout_by_hand():
    x = np.float32([np.arange(32) - 16.0])  # max |x| = 16 at index 0 (value -16)
    q8 = gguf_quantize(x, "Q8_0")
    assert q8.shape == (1, 34) and q8[0, :2].view("<f2")[0] == np.float16(16 / 127)
    assert q8[0, 2:].view(np.int8)[0] == -127
    q4 = gguf_quantize(x, "Q4_0")
    assert q4.shape == (1, 18) and q4[0, :2].view("<f2")[0] == np.float16(-16 / -8)  # d = max / -8 = 2
    assert q4[0, 2] & 0x0F == 0  # -16 / 2 + 8 = 0: the largest value gets code 0 exactly


def test_bad_arrays_are_refused():
    with pytest.raises(ValueError, match="multiple of 32"):
        gguf_quantize(np.zeros((2, 40), np.float32), "Q8_0")
    with pytest.raises(ValueError, match="NaN"):
        gguf_quantize(np.float32([[np.nan] * 32]), "Q4_0")
    with pytest.raises(ValueError, match="inf"):
        gguf_quantize(np.float32([[np.inf] * 32]), "Q8_0")
    with pytest.raises(ValueError, match="unknown GGUF type"):
        gguf_quantize(np.zeros((1, 32), np.float32), "Q5_K")
    with pytest.raises(TypeError):
        gguf_quantize(np.zeros((1, 32), np.int32), "Q8_0")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gguf")
    return {q: export_gguf(tiny_target(), tiny_tokenizer(), folder / f"course-{q}.gguf", q) for q in
            ("F16", "Q8_0", "Q4_0")}


def test_gguf_reader_sees_our_metadata_and_tensors(exported):
    model, tok = tiny_target(), tiny_tokenizer()
    reader = gguf.GGUFReader(exported["Q8_0"])
    fields = reader.fields

    def value(key):
        f = fields[key]
        return f.contents() if hasattr(f, "contents") else f.parts[f.data[0]]

    assert value("general.architecture") == "llama"
    assert value("llama.block_count") == model.config.n_layer
    assert value("llama.attention.head_count_kv") == model.config.n_kv_head
    assert value("tokenizer.ggml.model") == "gpt2" and value("tokenizer.ggml.pre") == "llama-bpe"
    assert len(value("tokenizer.ggml.tokens")) == tok.vocab_size
    assert len(value("tokenizer.ggml.merges")) == len(tok.merges)
    tensors = {t.name: t for t in reader.tensors}
    assert tensors["token_embd.weight"].tensor_type == gguf.GGMLQuantizationType.Q8_0
    assert tensors["blk.0.attn_norm.weight"].tensor_type == gguf.GGMLQuantizationType.F32
    assert tensors["blk.0.ffn_down.weight"].tensor_type == gguf.GGMLQuantizationType.F16  # 171 columns: no blocks
    emb = gguf.quants.dequantize(tensors["token_embd.weight"].data, gguf.GGMLQuantizationType.Q8_0)
    want = model.tok_emb.weight.detach().numpy()
    assert emb.shape == want.shape and np.abs(emb - want).max() <= np.abs(want).max() / 127


def _llama(path):
    from llmcourse.inference.llamacpp import load_llama

    pytest.importorskip("llama_cpp")
    return load_llama(path, n_ctx=128, logits_all=True, n_threads=1)


def test_llamacpp_tokenises_with_our_tokenizer(exported):
    tok = tiny_tokenizer()
    llm = _llama(exported["F16"])
    for text in (TEXT, "Hello world!\n\n  spaces   and\ttabs", "Selamat pagi, apa kabar?", "สวัสดีครับ 2024"):
        assert llm.tokenize(text.encode(), add_bos=False, special=False) == tok.encode_ordinary(text)
    assert llm.token_eos() == tok.special_tokens["<|endoftext|>"]


@pytest.mark.parametrize("qtype,tolerance", [("F16", 0.02), ("Q8_0", 0.08), ("Q4_0", 0.6)])
def test_llamacpp_logits_match_ours_within_quantisation_error(exported, qtype, tolerance):
    from llmcourse.inference.llamacpp import llamacpp_logits

    model, tok = tiny_target(), tiny_tokenizer()
    ids = tok.encode_ordinary(TEXT)[:60]
    ours = model(torch.tensor([ids]))[0][0].detach().numpy()  # (T, V)
    theirs = llamacpp_logits(_llama(exported[qtype]), ids)
    rel = np.abs(ours - theirs).mean() / np.abs(ours).mean()
    assert rel < tolerance, f"{qtype}: mean |difference| is {rel:.3f} of the mean |logit|"
    if qtype == "F16":
        assert (ours.argmax(-1) == theirs.argmax(-1)).mean() > 0.95


def test_export_refuses_non_llama_models_and_keeps_the_old_file(tmp_path):
    from llmcourse.models import GPT, GPTConfig

    path = export_gguf(tiny_target(), tiny_tokenizer(), tmp_path / "m.gguf", "Q8_0")
    before = path.read_bytes()
    gpt2_style = GPT(GPTConfig(vocab_size=tiny_tokenizer().vocab_size, n_layer=1, n_embd=32, n_head=2))
    with pytest.raises(ValueError, match="Llama-style"):
        export_gguf(gpt2_style, tiny_tokenizer(), path, "Q8_0")
    with pytest.raises(ValueError, match="qtype"):
        export_gguf(tiny_target(), tiny_tokenizer(), path, "Q3_K")
    assert path.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name != "m.gguf"]  # no temp files left behind
