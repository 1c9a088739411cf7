"""`llmcourse serve`: the course's engine behind an OpenAI-compatible API on 127.0.0.1."""

from __future__ import annotations

import argparse


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from llmcourse.inference.llamacpp import port_free
    from llmcourse.serving.loading import served_model
    from llmcourse.serving.server import build_app

    if not port_free(args.port):
        raise ValueError(f"port {args.port} on 127.0.0.1 is already in use; pick another with --port")
    served = served_model(args.model, block_size=args.block_size, num_blocks=args.num_blocks,
                          max_batch=args.max_batch, prefix_sharing=not args.no_prefix_sharing)
    e = served.engine
    print(f"serving {served.name} on http://127.0.0.1:{args.port}/v1 — {e.cache.num_blocks} KV blocks of "
          f"{e.block_size} positions ({e.cache.nbytes / 2**20:.1f} MiB), up to {e.max_batch} sequences at once",
          flush=True)
    uvicorn.run(build_app(served), host="127.0.0.1", port=args.port, log_level=args.log_level)
    return 0


def add_commands(sub) -> None:
    s = sub.add_parser("serve", help="serve a course model with the continuous-batching engine (OpenAI API)")
    s.add_argument("--model", default="gemma-3-270m",
                   help="an artifact (course-gpt-sft, course-gpt-pretrained...) or gemma-3-270m / tiny")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--block-size", type=int, default=16, help="positions per KV-cache block")
    s.add_argument("--num-blocks", type=int, default=None, help="KV-cache blocks (default: from --max-batch)")
    s.add_argument("--max-batch", type=int, default=32, help="most sequences decoded at once")
    s.add_argument("--no-prefix-sharing", action="store_true", help="do not share cached prompt prefixes")
    s.add_argument("--log-level", default="warning")
    s.set_defaults(fn=cmd_serve)
