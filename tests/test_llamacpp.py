"""The same Gemma 3 270M GGUF in llama.cpp and in transformers: same tokens, close logits;
the OpenAI-compatible server starts, answers, stops, and refuses a port that is taken."""

import socket

import numpy as np
import pytest
import torch

pytest.importorskip("llama_cpp")

from llmcourse.assets import gemma_gguf_path  # noqa: E402
from llmcourse.inference.llamacpp import (LlamaServer, llamacpp_generate_timed, llamacpp_logits,  # noqa: E402
                                          load_llama, openai_generate_timed)

PROMPTS = ["The capital of Indonesia is", "สวัสดีครับ ผมชื่อ", "Selamat pagi, apa kabar?"]


@pytest.fixture(scope="module")
def llm():
    model = load_llama(gemma_gguf_path(), n_ctx=256, logits_all=True)
    yield model
    model.close()


@pytest.mark.slow
@pytest.mark.parametrize("prompt", PROMPTS)
def test_llamacpp_and_transformers_agree_on_next_token(llm, gemma, prompt):
    model, tok = gemma
    ids = tok(prompt).input_ids
    assert llm.tokenize(prompt.encode(), add_bos=True, special=True) == ids  # same tokenizer
    ours = llamacpp_logits(llm, ids)  # (T, V)
    with torch.no_grad():
        hf = model(torch.tensor([ids])).logits[0].float().numpy()  # (T, V)
    assert ours.shape == hf.shape
    for t in range(len(ids)):
        a, b = ours[t], hf[t]
        cosine = float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
        assert cosine > 0.99, f"position {t}: cosine {cosine:.4f}"
    assert ours[-1].argmax() == hf[-1].argmax()
    top5 = set(np.argsort(-ours[-1])[:5]) & set(np.argsort(-hf[-1])[:5])
    assert len(top5) >= 4


def test_logits_need_logits_all():
    small = load_llama(gemma_gguf_path(), n_ctx=64)
    try:
        with pytest.raises(ValueError, match="logits_all=True"):
            llamacpp_logits(small, [2, 818])
        timing = llamacpp_generate_timed(small, "Hello", 4)
        assert timing.tokens == 4 and timing.ttft_s > 0 and timing.total_s >= timing.ttft_s
    finally:
        small.close()


def test_missing_gguf_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no GGUF"):
        load_llama(tmp_path / "nope.gguf")


def test_server_answers_and_port_in_use_is_refused():
    with LlamaServer(gemma_gguf_path(), n_ctx=256) as server:
        timing = openai_generate_timed(server.base_url, server.model_name, "The capital of Indonesia is", 4)
        assert timing.tokens == 4 and "Jakarta" in timing.text
        with pytest.raises(OSError, match="already in use"):
            LlamaServer(gemma_gguf_path(), port=server.port)
        proc = server.proc
    assert proc.poll() is not None  # stopped on exit


def test_port_in_use_by_another_program():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        with pytest.raises(OSError, match="pass port=None"):
            LlamaServer(gemma_gguf_path(), port=s.getsockname()[1])
