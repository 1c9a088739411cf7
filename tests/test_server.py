"""`llmcourse serve` through the real `openai` client: completions and chat, streaming, many
clients at once (each equal to its own greedy generate), bad requests as HTTP 4xx, a client
that disconnects mid-stream, and the load generator."""

import json
import subprocess
import sys
import time

import httpx
import pytest
import torch

from llmcourse.inference.kv_cache import generate_cached
from llmcourse.serving import ServerThread, mixed_workload, run_load, served_from
from week6_models import tiny_target, tiny_tokenizer

openai = pytest.importorskip("openai")


@pytest.fixture(scope="module")
def server():
    served = served_from(tiny_target(), tiny_tokenizer(), "course-gpt", block_size=8, num_blocks=48, max_batch=8)
    with ServerThread(served) as s:
        yield s


def _greedy_text(prompt: str, n: int) -> str:
    tok = tiny_tokenizer()
    ids = tok.encode_ordinary(prompt)
    return tok.decode(generate_cached(tiny_target(), torch.tensor([ids]), n, temperature=0)[0, len(ids):].tolist())


def test_models_and_completion_equal_greedy_generate(server):
    client = openai.OpenAI(base_url=server.base_url, api_key="none")
    assert [m.id for m in client.models.list().data] == ["course-gpt"]
    r = client.completions.create(model="course-gpt", prompt="To be, or not", max_tokens=12, temperature=0,
                                  extra_body={"ignore_eos": True})
    assert r.choices[0].text == _greedy_text("To be, or not", 12)
    assert r.usage.completion_tokens == 12 and r.choices[0].finish_reason == "length"


def test_streaming_gives_the_same_text_chunk_by_chunk(server):
    client = openai.OpenAI(base_url=server.base_url, api_key="none")
    chunks = list(client.completions.create(model="course-gpt", prompt="Selamat pagi", max_tokens=10, temperature=0,
                                            stream=True, extra_body={"ignore_eos": True}))
    assert len(chunks) == 10  # one chunk per token
    assert "".join(c.choices[0].text for c in chunks) == _greedy_text("Selamat pagi", 10)


def test_chat_completions_plain_and_streamed(server):
    client = openai.OpenAI(base_url=server.base_url, api_key="none")
    msgs = [{"role": "user", "content": "Apa kabar?"}]
    full = client.chat.completions.create(model="course-gpt", messages=msgs, max_tokens=6, temperature=0,
                                          extra_body={"ignore_eos": True})
    assert full.choices[0].message.role == "assistant"
    assert full.choices[0].message.content == _greedy_text("User: Apa kabar?\nAssistant:", 6)
    streamed = client.chat.completions.create(model="course-gpt", messages=msgs, max_tokens=6, temperature=0,
                                              stream=True, extra_body={"ignore_eos": True})
    assert "".join(c.choices[0].delta.content or "" for c in streamed) == full.choices[0].message.content


def test_concurrent_clients_each_get_their_own_greedy_answer(server):
    import concurrent.futures

    client = openai.OpenAI(base_url=server.base_url, api_key="none")
    prompts = ["To be", "whether 'tis nobler", "Xin chào", "the slings and arrows", "Saya suka", "1234567"]

    def ask(p):
        return client.completions.create(model="course-gpt", prompt=p, max_tokens=15, temperature=0,
                                         extra_body={"ignore_eos": True}).choices[0].text

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(ask, prompts))
    assert answers == [_greedy_text(p, 15) for p in prompts]


def test_bad_requests_get_4xx_with_a_message_and_the_server_keeps_serving(server):
    url = server.base_url + "/completions"
    r = httpx.post(url, content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "JSON" in r.json()["error"]["message"]
    r = httpx.post(url, json={"model": "gpt-4", "prompt": "hi"})
    assert r.status_code == 404 and "course-gpt" in r.json()["error"]["message"]
    r = httpx.post(url, json={"model": "course-gpt", "prompt": "x" * 500, "max_tokens": 4})
    assert r.status_code == 400 and "context" in r.json()["error"]["message"]
    r = httpx.post(url, json={"model": "course-gpt", "prompt": "hi", "max_tokens": 1000})
    assert r.status_code == 400 and "at most" in r.json()["error"]["message"]
    r = httpx.post(url, json={"model": "course-gpt", "prompt": "hi", "temperature": -1})
    assert r.status_code == 400
    r = httpx.post(server.base_url + "/chat/completions", json={"model": "course-gpt", "messages": "hello"})
    assert r.status_code == 400 and "messages" in r.json()["error"]["message"]
    client = openai.OpenAI(base_url=server.base_url, api_key="none")
    assert client.completions.create(model="course-gpt", prompt="To be", max_tokens=3, temperature=0).choices[0].text


def test_a_client_disconnecting_mid_stream_frees_its_blocks(server):
    url = server.base_url + "/completions"
    body = {"model": "course-gpt", "prompt": "To be, or not to be", "max_tokens": 100, "stream": True,
            "ignore_eos": True}
    with httpx.stream("POST", url, json=body) as r:
        for i, _ in enumerate(r.iter_lines()):
            if i >= 3:
                break  # hang up after a few tokens
    health = server.base_url.removesuffix("/v1") + "/health"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        h = httpx.get(health).json()
        if h["running"] == 0 and h["free_blocks"] == h["num_blocks"]:
            break
        time.sleep(0.1)
    assert h["running"] == 0 and h["free_blocks"] == h["num_blocks"]


def test_load_generator_measures_and_only_targets_loopback(server):
    workload = mixed_workload(["To be, or not", "Selamat pagi", "the question"], 8, 4, 20)
    one, four = (run_load(server.base_url, "course-gpt", workload, c, extra={"ignore_eos": True}).summary()
                 for c in (1, 4))
    for s in (one, four):
        assert s["errors"] == 0 and s["requests"] == 8 and s["tokens"] > 0
        assert s["ttft_p50_ms"] > 0 and s["itl_p50_ms"] > 0 and s["ttft_p99_ms"] >= s["ttft_p50_ms"]
    assert one["tokens"] == four["tokens"] == sum(n for _, n in workload)
    with pytest.raises(ValueError, match="only targets"):
        run_load("http://10.1.2.3:8000/v1", "x", workload, 1)


@pytest.mark.slow
def test_the_serve_command_in_its_own_process():
    from llmcourse.inference.llamacpp import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "llmcourse.cli", "serve", "--model", "tiny", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v1/models").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        r = httpx.post(f"http://127.0.0.1:{port}/v1/completions",
                       json={"model": "tiny", "prompt": "Hello", "max_tokens": 4, "temperature": 0})
        assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] <= 4
        assert json.loads(httpx.get(f"http://127.0.0.1:{port}/v1/models").text)["data"][0]["id"] == "tiny"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_learner_gpt_and_served_model_load_the_learners_artifact(tmp_path, monkeypatch):
    from llmcourse.assets.artifacts import save_artifact
    from llmcourse.serving import learner_gpt, served_model

    monkeypatch.setenv("LLMCOURSE_ARTIFACTS", str(tmp_path))
    model, tok = tiny_target(), tiny_tokenizer()
    save_artifact("course-gpt-sft", {"model": model.train(), "tokenizer": tok}, notebook="5.3", profile="smoke")
    monkeypatch.setenv("LLMCOURSE_PROFILE", "smoke")
    got, got_tok = learner_gpt()
    assert not got.training and got.config.attn_impl == "sdpa"  # ready to serve
    ids = torch.tensor([tok.encode_ordinary("hello world")])
    assert torch.equal(got(ids)[0], model.eval()(ids)[0])  # the learner's weights, not a reference model
    served = served_model("course-gpt-sft")
    assert served.name == "course-gpt-sft" and served.decode(served.encode("hello")) == "hello"
    with pytest.raises(ValueError, match="cannot serve 'no-such-model'"):
        served_model("no-such-model")
