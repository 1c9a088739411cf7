"""An OpenAI-compatible HTTP server on top of the engine: what `llmcourse serve` runs.

    GET  /v1/models
    POST /v1/completions        {"model", "prompt": text or token ids, "max_tokens", "temperature",
                                 "top_p", "top_k", "seed", "stream", "ignore_eos"}
    POST /v1/chat/completions   {"model", "messages": [{"role", "content"}], ...the same}

Any OpenAI client works against it (`openai.OpenAI(base_url="http://127.0.0.1:PORT/v1")`).
With `"stream": true` the answer comes as server-sent events, one chunk per token, then
`data: [DONE]`.

One thread runs the engine: while requests are in flight it calls `engine.step()` and
hands each new token to the request's queue; the HTTP side (asyncio) only adds requests
and reads queues. A client that disconnects mid-stream has its request aborted, which
frees its KV blocks at once. Bad requests get an HTTP 4xx with an OpenAI-style error
body, and the engine keeps serving everyone else.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from fastapi import Request  # at module level: FastAPI reads the handlers' annotations from here

from llmcourse.inference.sampling import SamplingParams
from llmcourse.serving.engine import Engine

__all__ = ["EngineLoop", "ServedModel", "ServerThread", "build_app", "chat_prompt"]


@dataclass
class ServedModel:
    """A model behind the API: its engine, how to turn text into ids and back, its name."""

    name: str
    engine: Engine
    encode: Callable[[str], list[int]]
    decode: Callable[[list[int]], str]
    chat_format: str = "plain"  # plain | gemma
    aliases: list[str] = field(default_factory=list)


def chat_prompt(messages: list[dict], chat_format: str) -> str:
    """Messages as one prompt: Gemma's turn markers, or a plain 'User:/Assistant:' transcript."""
    if not isinstance(messages, list) or not messages:
        raise ValueError("'messages' must be a non-empty list of {role, content}")
    parts = []
    for m in messages:
        if not isinstance(m, dict) or not isinstance(m.get("content"), str) or m.get("role") not in (
                "system", "user", "assistant"):
            raise ValueError("each message needs a role (system, user or assistant) and a string content")
        if chat_format == "gemma":
            role = "model" if m["role"] == "assistant" else "user"
            parts.append(f"<start_of_turn>{role}\n{m['content']}<end_of_turn>\n")
        else:
            parts.append(f"{m['role'].capitalize()}: {m['content']}\n")
    parts.append("<start_of_turn>model\n" if chat_format == "gemma" else "Assistant:")
    return "".join(parts)


class EngineLoop:
    """Runs `engine.step()` in a background thread and delivers tokens to asyncio queues."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.queues: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Queue]] = {}
        self.wake = threading.Event()
        self.stopped = False
        self.thread = threading.Thread(target=self._run, name="engine-loop", daemon=True)
        self.thread.start()

    def submit(self, prompt: list[int], max_tokens: int, sampling: SamplingParams,
               ignore_eos: bool) -> tuple[str, asyncio.Queue]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        rid = f"cmpl-{uuid.uuid4().hex[:16]}"
        self.queues[rid] = (loop, queue)
        try:
            self.engine.add_request(prompt, max_tokens, sampling, request_id=rid, ignore_eos=ignore_eos)
        except Exception:
            self.queues.pop(rid, None)
            raise
        self.wake.set()
        return rid, queue

    def abort(self, rid: str) -> None:
        """Stop a request (or forget a finished one): its blocks are freed, its record dropped."""
        with self.engine.lock:
            self.engine.abort(rid)
            self.engine.requests.pop(rid, None)
        self.queues.pop(rid, None)

    def _run(self) -> None:
        while not self.stopped:
            if not self.engine.has_work():
                self.wake.wait(0.05)
                self.wake.clear()
                continue
            try:
                outputs = self.engine.step()
            except Exception as err:  # a broken step must not kill the server: fail the running requests
                for rid in list(self.queues):
                    self._deliver(rid, err)
                    self.engine.abort(rid)
                continue
            for out in outputs:
                self._deliver(out.request_id, out)

    def _deliver(self, rid: str, item: Any) -> None:
        target = self.queues.get(rid)
        if target is not None:
            loop, queue = target
            loop.call_soon_threadsafe(queue.put_nowait, item)

    def stop(self) -> None:
        self.stopped = True
        self.wake.set()
        self.thread.join(timeout=5)


def _error(status: int, message: str, kind: str = "invalid_request_error"):
    from fastapi.responses import JSONResponse

    return JSONResponse({"error": {"message": message, "type": kind, "code": status}}, status_code=status)


def _sampling(body: dict) -> SamplingParams:
    temperature = body.get("temperature", 1.0)
    top_p = body.get("top_p")
    return SamplingParams(temperature=float(1.0 if temperature is None else temperature),
                          top_p=None if top_p in (None, 1, 1.0) else float(top_p), top_k=body.get("top_k"),
                          seed=body.get("seed"))


class _Detokenizer:
    """Incremental decoding: the text of the tokens so far minus what was already sent (no half characters)."""

    def __init__(self, decode: Callable[[list[int]], str]) -> None:
        self.decode, self.ids, self.sent = decode, [], 0

    def add(self, token: int, last: bool = False) -> str:
        self.ids.append(token)
        text = self.decode(self.ids)
        if text.endswith("\ufffd") and not last:  # an incomplete UTF-8 character: wait for its other bytes
            return ""
        new, self.sent = text[self.sent:], len(text)
        return new

    def flush(self) -> str:
        """What was held back (at the end of the text)."""
        text = self.decode(self.ids) if self.ids else ""
        new, self.sent = text[self.sent:], len(text)
        return new


def build_app(served: ServedModel):
    """The FastAPI application serving `served` (the engine loop starts with it)."""
    from fastapi import FastAPI
    from fastapi.responses import StreamingResponse

    app = FastAPI(title="llmcourse serve")
    loop = EngineLoop(served.engine)
    app.state.engine_loop = loop
    names = {served.name, *served.aliases}

    @app.on_event("shutdown")
    def _shutdown() -> None:
        loop.stop()

    @app.get("/v1/models")
    def models():
        return {"object": "list", "data": [{"id": served.name, "object": "model", "owned_by": "llmcourse"}]}

    @app.get("/health")
    def health():
        e = served.engine
        return {"status": "ok", "running": len(e.running), "waiting": len(e.waiting),
                "free_blocks": e.cache.allocator.num_free, "num_blocks": e.cache.num_blocks}

    async def handle(request: Request, chat: bool):
        try:
            body = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError) as err:
            return _error(400, f"the request body is not valid JSON: {err}")
        if not isinstance(body, dict):
            return _error(400, "the request body must be a JSON object")
        model = body.get("model")
        if model not in names:
            return _error(404, f"model {model!r} is not served here; this server has {served.name!r} "
                               "(GET /v1/models)", "model_not_found")
        try:
            if chat:
                prompt = served.encode(chat_prompt(body.get("messages"), served.chat_format))
            else:
                raw = body.get("prompt")
                if isinstance(raw, list) and raw and all(isinstance(t, int) for t in raw):
                    prompt = raw
                elif isinstance(raw, str) and raw:
                    prompt = served.encode(raw)
                else:
                    raise ValueError("'prompt' must be a non-empty string or a list of token ids")
            max_tokens = body.get("max_tokens", body.get("max_completion_tokens", 16))
            sampling = _sampling(body)
            rid, queue = loop.submit(prompt, max_tokens, sampling, bool(body.get("ignore_eos", False)))
        except (ValueError, TypeError) as err:
            return _error(400, str(err))
        created = int(time.time())
        kind = "chat.completion" if chat else "text_completion"
        if body.get("stream"):
            return StreamingResponse(_stream(rid, queue, created, kind, len(prompt)), media_type="text/event-stream")
        return await _complete(rid, queue, created, kind, len(prompt))

    def _chunk(rid, created, kind, text, finish):
        if kind == "chat.completion":
            choice = {"index": 0, "delta": {"content": text} if text else {}, "finish_reason": finish}
            return {"id": rid, "object": "chat.completion.chunk", "created": created, "model": served.name,
                    "choices": [choice]}
        return {"id": rid, "object": "text_completion", "created": created, "model": served.name,
                "choices": [{"index": 0, "text": text, "finish_reason": finish, "logprobs": None}]}

    async def _stream(rid, queue, created, kind, n_prompt):
        detok = _Detokenizer(served.decode)
        try:
            if kind == "chat.completion":
                first = _chunk(rid, created, kind, "", None)
                first["choices"][0]["delta"] = {"role": "assistant"}
                yield f"data: {json.dumps(first)}\n\n"
            while True:
                item = await queue.get()
                if isinstance(item, Exception):
                    yield f"data: {json.dumps({'error': {'message': str(item), 'type': 'server_error'}})}\n\n"
                    break
                eos = item.finish_reason == "stop"  # the end-of-text token is not part of the text
                text = detok.flush() if eos else detok.add(item.token, item.finished)
                yield f"data: {json.dumps(_chunk(rid, created, kind, text, item.finish_reason))}\n\n"
                if item.finished:
                    break
            yield "data: [DONE]\n\n"
        finally:  # the client went away (or we are done): free its blocks now
            loop.abort(rid)

    async def _complete(rid, queue, created, kind, n_prompt):
        tokens, reason = [], None
        try:
            while True:
                item = await queue.get()
                if isinstance(item, Exception):
                    return _error(500, f"generation failed: {item}", "server_error")
                tokens.append(item.token)
                if item.finished:
                    reason = item.finish_reason
                    break
        finally:
            loop.abort(rid)
        text = served.decode(tokens[:-1] if reason == "stop" else tokens)  # without the end-of-text token
        usage = {"prompt_tokens": n_prompt, "completion_tokens": len(tokens), "total_tokens": n_prompt + len(tokens)}
        if kind == "chat.completion":
            choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": reason}
        else:
            choice = {"index": 0, "text": text, "finish_reason": reason, "logprobs": None}
        return {"id": rid, "object": kind, "created": created, "model": served.name, "choices": [choice],
                "usage": usage}

    @app.post("/v1/completions")
    async def completions(request: Request):
        return await handle(request, chat=False)

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        return await handle(request, chat=True)

    return app


class ServerThread:
    """Serve in this process (a background thread) on 127.0.0.1; `with ServerThread(served) as s: s.base_url`."""

    def __init__(self, served: ServedModel, port: int | None = None) -> None:
        from llmcourse.inference.llamacpp import free_port

        self.served, self.port = served, port or free_port()
        self.server = None
        self.thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> "ServerThread":
        import uvicorn

        self.app = build_app(self.served)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="llmcourse-serve", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"the server did not start on port {self.port}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
            self.thread.join(timeout=10)
            self.app.state.engine_loop.stop()
            self.server = None

    def __enter__(self) -> "ServerThread":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
