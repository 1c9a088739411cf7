"""A human-evaluation web app: two anonymous outputs side by side, raters vote, a leaderboard.

    store = VoteStore("votes.sqlite"); store.add_pairs(rows)
    with AnnotationServer(store) as server:          # http://127.0.0.1:<port>/
        ...                                          # people vote in a browser; scripts use /api/*

What a rater sees: the prompt and "Output A" / "Output B" (which model wrote which, and
on which side it landed, stays on the server), buttons A / B / tie / both bad and an
optional comment. Outputs are shown in read-only text boxes, so HTML or a `<script>` in a
model's output is displayed as characters, never run.

The same server has a small JSON API for scripts and tests: `GET /api/next?rater=R`,
`POST /api/vote {"rater", "pair_id", "choice", "comment"}`, `GET /api/leaderboard`.

Safety: it binds to 127.0.0.1 (this machine only) by default. Exposed on any other address
it refuses to start without a password; with one, the page asks for it (the rater name is
the login name) and the API wants it as HTTP Basic authentication.
"""

# (no `from __future__ import annotations`: FastAPI and gradio read the handlers' annotations at runtime)

import base64
import ipaddress
import secrets
import threading
import time
from pathlib import Path

from llmcourse.evaluation.votes import VoteError, VoteStore

__all__ = ["AnnotationServer", "build_app", "is_loopback"]

CHOICES = {"A is better": "a", "B is better": "b", "Tie": "tie", "Both bad": "both_bad"}


def is_loopback(host: str) -> bool:
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _basic_user(header: str | None, password: str) -> str | None:
    """The user name of a valid `Authorization: Basic` header, else None (constant-time password check)."""
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        user, _, given = base64.b64decode(header[6:]).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return user if user and secrets.compare_digest(given.encode(), password.encode()) else None


def build_app(store: VoteStore, password: str | None = None, title: str = "Which answer is better?"):
    """The FastAPI app: the gradio page at / and the JSON API under /api."""
    import gradio as gr
    from fastapi import Body, FastAPI, HTTPException, Request

    from llmcourse.evaluation.ratings import leaderboard

    api = FastAPI()

    def api_rater(request: Request, claimed: str) -> str:
        if password is None:
            return claimed
        user = _basic_user(request.headers.get("authorization"), password)
        if user is None:
            raise HTTPException(401, "password required (HTTP Basic: your rater name and the app's password)",
                                headers={"WWW-Authenticate": "Basic"})
        return user

    @api.get("/api/next")
    def api_next(request: Request, rater: str = ""):
        rater = api_rater(request, rater)
        return {"pair": store.next_pair(rater)}

    @api.post("/api/vote")
    def api_vote(request: Request, body: dict = Body(...)):
        rater = api_rater(request, str(body.get("rater", "")))
        try:
            vote_id = store.vote(rater, str(body.get("pair_id", "")), str(body.get("choice", "")),
                                 str(body.get("comment", "")))
        except VoteError as err:
            raise HTTPException(409 if "already voted" in str(err) else 400, str(err)) from None
        return {"vote_id": vote_id}

    @api.get("/api/leaderboard")
    def api_leaderboard(request: Request):
        api_rater(request, "viewer")
        votes = store.model_votes()
        return {"rows": leaderboard(votes, n_boot=100) if votes else [], **store.counts()}

    def rater_of(name: str, request: gr.Request | None) -> str:
        user = getattr(request, "username", None) if request is not None else None
        return (user or name or "").strip()

    def show_next(name: str, request: gr.Request):
        rater = rater_of(name, request)
        if not rater:
            return None, "", "", "", "Type your name first, then press “Next pair”."
        pair = store.next_pair(rater)
        if pair is None:
            return None, "", "", "", "No pairs left for you. Thank you!"
        return pair["pair_id"], pair["prompt"], pair["output_a"], pair["output_b"], "Which output is better?"

    def make_vote(choice: str):
        def vote(name: str, pair_id: str | None, comment: str, request: gr.Request):
            rater = rater_of(name, request)
            if not pair_id:
                return (pair_id, gr.skip(), gr.skip(), gr.skip(), "Load a pair first (“Next pair”).", comment)
            try:
                store.vote(rater, pair_id, choice, comment)
                done = "Thanks, vote saved."
            except VoteError as err:
                done = f"Not saved: {err}"
            nxt = show_next(name, request)
            return (*nxt[:4], f"{done} {nxt[4]}", "")
        return vote

    def board():
        votes = store.model_votes()
        rows = leaderboard(votes, n_boot=100) if votes else []
        return [[r["model"], r["bt"], f"{r['ci_low']}–{r['ci_high']}", r["elo"], r["wins"], r["losses"], r["ties"]]
                for r in rows]

    with gr.Blocks(title=title) as demo:
        gr.Markdown(f"## {title}\nRead the prompt and both outputs, then vote. Model names are hidden.")
        pair_state = gr.State(None)
        with gr.Tab("Vote"):
            rater = gr.Textbox(label="Your name", elem_id="rater", visible=password is None)
            prompt = gr.Textbox(label="Prompt", interactive=False, lines=3, elem_id="prompt")
            with gr.Row():
                out_a = gr.Textbox(label="Output A", interactive=False, lines=8, elem_id="output-a")
                out_b = gr.Textbox(label="Output B", interactive=False, lines=8, elem_id="output-b")
            comment = gr.Textbox(label="Comment (optional)", elem_id="comment")
            with gr.Row():
                buttons = {label: gr.Button(label, elem_id=f"vote-{code.replace('_', '-')}")
                           for label, code in CHOICES.items()}
            nxt = gr.Button("Next pair", elem_id="next")
            status = gr.Textbox(label="Status", interactive=False, elem_id="status")
        with gr.Tab("Leaderboard"):
            table = gr.Dataframe(headers=["model", "Bradley–Terry", "95% CI", "Elo", "wins", "losses", "ties"],
                                 datatype="str", interactive=False, elem_id="leaderboard")
            refresh = gr.Button("Refresh", elem_id="refresh")
        shown = [pair_state, prompt, out_a, out_b, status]
        nxt.click(show_next, [rater], shown, api_name=False)
        rater.submit(show_next, [rater], shown, api_name=False)
        for label, code in CHOICES.items():
            buttons[label].click(make_vote(code), [rater, pair_state, comment], [*shown, comment], api_name=False)
        refresh.click(board, None, table, api_name=False)
        demo.load(board, None, table, api_name=False)

    auth = (lambda user, given: bool(user) and secrets.compare_digest(given.encode(), password.encode())) \
        if password else None
    return gr.mount_gradio_app(api, demo, path="/", auth=auth, footer_links=[])


class AnnotationServer:
    """Run the app with uvicorn in a background thread (a notebook, a test); stop() or `with` ends it."""

    def __init__(self, store: VoteStore | str | Path, host: str = "127.0.0.1", port: int | None = None,
                 password: str | None = None):
        if not is_loopback(host) and not password:
            raise ValueError(f"refusing to serve votes on {host} without a password: anyone who can reach it could "
                             "vote; set a password (--password or LLMCOURSE_ANNOTATE_PASSWORD; password=... in Python) or bind "
                             "to 127.0.0.1")
        from llmcourse.inference.llamacpp import free_port

        self.store = store if isinstance(store, VoteStore) else VoteStore(store)
        self.host, self.port, self.password = host, port or free_port(host if is_loopback(host) else "127.0.0.1"), \
            password
        self.server = None
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{'127.0.0.1' if self.host in ('0.0.0.0', 'localhost') else self.host}:{self.port}"

    def start(self, timeout: float = 60.0) -> "AnnotationServer":
        import uvicorn

        app = build_app(self.store, self.password)
        config = uvicorn.Config(app, host=self.host, port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the annotation app did not start on {self.url}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
            self.thread.join(10)
            self.server = None

    def __enter__(self) -> "AnnotationServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
