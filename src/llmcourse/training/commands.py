"""`llmcourse pretrain` and `llmcourse pretrain-data`: the pre-training commands.

    llmcourse pretrain --model gpt|bert --preset smoke|laptop|colab|cluster --out DIR
                       [--max-steps N] [--resume] [--ckpt-every N] [--data SHARDS] ...
    llmcourse pretrain-data --source course|fineweb|fineweb-edu --tokenizer course|gpt2 --out DIR

The same run on several processes: `torchrun --nproc_per_node=N -m llmcourse.training.pretrain
--preset ... --out DIR` (see docs/pretraining.md for the cluster recipe).
"""

from __future__ import annotations

import argparse


def cmd_pretrain(args: argparse.Namespace) -> int:
    import sys

    from llmcourse.training.pretrain import run_from_args

    try:
        return run_from_args(args)
    except RuntimeError as err:  # a damaged shard folder, no checkpoint to resume: the message says what to do
        print(f"llmcourse pretrain: {err}", file=sys.stderr)
        return 2


def cmd_pretrain_data(args: argparse.Namespace) -> int:
    from llmcourse.training.data_prep import prepare_pretraining_data

    manifest = prepare_pretraining_data(args.source, args.tokenizer, args.out, max_docs=args.max_docs,
                                        shard_tokens=args.shard_tokens)
    print(f"wrote {len(manifest['shards'])} shards to {args.out}: {manifest['tokens']['train']:,} train and "
          f"{manifest['tokens']['val']:,} val tokens ({manifest['tokenizer']})")
    return 0


def add_commands(subparsers) -> None:
    from llmcourse.training.pretrain import add_arguments

    p = subparsers.add_parser("pretrain", help="pre-train the course GPT (causal LM) or a BERT (masked LM) on shards")
    add_arguments(p)
    p.set_defaults(fn=cmd_pretrain)
    d = subparsers.add_parser("pretrain-data", help="filter, deduplicate and tokenise a corpus into token shards")
    d.add_argument("--source", choices=["course", "fineweb", "fineweb-edu"], default="course")
    d.add_argument("--tokenizer", choices=["course", "gpt2"], default="course")
    d.add_argument("--out", required=True)
    d.add_argument("--max-docs", type=int, default=None, help="documents to read (default: all / 600 offline)")
    d.add_argument("--shard-tokens", type=int, default=100_000_000)
    d.set_defaults(fn=cmd_pretrain_data)
