"""One interface to every model the course evaluates: the course GPT, Hugging Face models, llama.cpp.

An evaluator needs two things from a language model, the same two lm-evaluation-harness
asks for:

    loglikelihood([(context, continuation), ...]) -> [(log P(continuation | context), is_greedy), ...]
    generate([prompt, ...], max_new_tokens, stop) -> [text, ...]        (greedy)

Multiple-choice items use the first (which choice does the model find most likely?),
math and code use the second (what does the model write?).

Tokenising a pair the way lm-evaluation-harness does matters for agreeing with it: encode
`context + continuation` as a whole and the context alone, and take the tokens past the
context's length as the continuation (a space that ends the context is moved to the start
of the continuation first). Models that expect a beginning-of-sequence token (Gemma) get it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F

__all__ = ["EvalLM", "CourseGPTLM", "HFLM", "LlamaCppLM", "load_eval_lm"]


class EvalLM:
    """Base class: tokenisation of pairs, batched scoring, stop strings. Subclasses give encode/logits."""

    name: str = "model"
    max_length: int = 2048
    batch_size: int = 16

    # -- what a subclass provides
    def encode(self, text: str) -> list[int]:
        raise NotImplementedError

    def prefix(self) -> list[int]:
        """Token(s) put before every sequence (a BOS), or []."""
        return []

    def logits(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, T) right-padded ids and their 0/1 mask -> (B, T, V) next-token logits."""
        raise NotImplementedError

    def logits_at(self, ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """(B, P, V) logits at the sequence positions `positions` only (big vocabularies: Gemma has 262k)."""
        return self.logits(ids, mask)[:, positions]

    # -- shared
    def encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        n_spaces = len(context) - len(context.rstrip())
        if n_spaces:
            context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
        whole = self.prefix() + self.encode(context + continuation)
        ctx = self.prefix() + self.encode(context)
        return ctx, whole[len(ctx):]

    @torch.no_grad()
    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[tuple[float, bool]]:
        """Sum of log-probabilities of each continuation given its context, and whether greedy decoding gives it."""
        pairs = [self.encode_pair(c, x) for c, x in requests]
        out: list[tuple[float, bool] | None] = [None] * len(pairs)
        order = sorted(range(len(pairs)), key=lambda i: -len(pairs[i][0]) - len(pairs[i][1]))
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            seqs = []
            for i in idx:
                ctx, cont = pairs[i]
                if not cont:
                    raise ValueError(f"continuation {requests[i][1]!r} is empty after tokenisation")
                seqs.append((ctx + cont)[-(self.max_length + 1):])
            T = max(len(s) for s in seqs) - 1
            ids = torch.zeros(len(seqs), T, dtype=torch.long)
            mask = torch.zeros(len(seqs), T, dtype=torch.long)
            for row, s in enumerate(seqs):
                ids[row, :len(s) - 1] = torch.tensor(s[:-1])
                mask[row, :len(s) - 1] = 1
            wanted = {row: range(len(s) - 1 - len(pairs[i][1]), len(s) - 1) for row, (i, s) in enumerate(zip(idx, seqs))}
            keep = sorted({p for r in wanted.values() for p in r})  # positions whose next token is scored
            column = {p: k for k, p in enumerate(keep)}
            logp = F.log_softmax(self.logits_at(ids, mask, torch.tensor(keep)).float(), dim=-1)  # (B, P, V)
            for row, (i, s) in enumerate(zip(idx, seqs)):
                n = len(pairs[i][1])
                target = torch.tensor(s[-n:])
                lp = logp[row, [column[p] for p in wanted[row]]]  # (n, V)
                out[i] = (float(lp.gather(1, target[:, None]).sum()), bool((lp.argmax(-1) == target).all()))
        return out  # type: ignore[return-value]

    def generate(self, prompts: Sequence[str], max_new_tokens: int = 64, stop: Sequence[str] = ()) -> list[str]:
        return [_cut(self._generate_one(p, max_new_tokens), stop) for p in prompts]

    def _generate_one(self, prompt: str, max_new_tokens: int) -> str:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name})"


def _cut(text: str, stop: Sequence[str]) -> str:
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=len(text))
    return text[:cut]


class CourseGPTLM(EvalLM):
    """The course GPT (`llmcourse.models.GPT`) with the course tokenizer."""

    def __init__(self, model, tokenizer, name: str = "course-gpt", batch_size: int = 32):
        self.model, self.tok, self.name, self.batch_size = model.eval(), tokenizer, name, batch_size
        self.max_length = model.config.block_size

    def encode(self, text: str) -> list[int]:
        return self.tok.encode_ordinary(text) if hasattr(self.tok, "encode_ordinary") else self.tok.encode(text)

    def logits(self, ids, mask):
        return self.model(ids)[0]  # causal: right padding never influences the real positions

    @torch.no_grad()
    def _generate_one(self, prompt: str, max_new_tokens: int) -> str:
        ids = torch.tensor([self.encode(prompt)[-self.max_length:]])
        out = self.model.generate(ids, max_new_tokens, temperature=0.0)
        return self.tok.decode(out[0, ids.shape[1]:].tolist())


class HFLM(EvalLM):
    """A Hugging Face causal LM (Gemma 3 270M offline) with its tokenizer."""

    def __init__(self, model, tokenizer, name: str | None = None, batch_size: int = 8, add_bos: bool | None = None):
        self.model, self.tok, self.batch_size = model.eval(), tokenizer, batch_size
        self.name = name or getattr(model.config, "_name_or_path", "hf-model")
        self.max_length = min(getattr(model.config, "max_position_embeddings", 2048), 2048)
        self.add_bos = (tokenizer.bos_token_id is not None) if add_bos is None else add_bos

    def encode(self, text: str) -> list[int]:
        return self.tok(text, add_special_tokens=False).input_ids

    def prefix(self) -> list[int]:
        return [self.tok.bos_token_id] if self.add_bos else []

    def logits(self, ids, mask):
        return self.model(input_ids=ids.to(self.model.device), attention_mask=mask.to(self.model.device)).logits.cpu()

    def logits_at(self, ids, mask, positions):
        # transformers computes the output layer only where asked (logits_to_keep): 262k-wide rows are costly
        out = self.model(input_ids=ids.to(self.model.device), attention_mask=mask.to(self.model.device),
                         logits_to_keep=positions.to(self.model.device))
        return out.logits.cpu()

    @torch.no_grad()
    def _generate_one(self, prompt: str, max_new_tokens: int) -> str:
        ids = torch.tensor([self.prefix() + self.encode(prompt)], device=self.model.device)
        out = self.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                                  do_sample=False, pad_token_id=self.tok.pad_token_id or self.tok.eos_token_id)
        return self.tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)


class LlamaCppLM(EvalLM):
    """A GGUF model run by llama.cpp in-process (llama-cpp-python): quantised weights as they are.

    Generation uses `self.llm`; scoring needs the logits of every position (`logits_all`,
    n_ctx x vocabulary floats: 0.5 GB for Gemma at 512 tokens), so a second instance is made
    for it on first use, with a short context.
    """

    def __init__(self, gguf: str | Path, name: str | None = None, n_ctx: int = 2048, score_ctx: int = 512):
        from llmcourse.inference.llamacpp import load_llama

        self.gguf = Path(gguf)
        self.llm = load_llama(self.gguf, n_ctx=n_ctx)
        self.name, self.score_ctx, self.max_length = name or self.gguf.stem, score_ctx, score_ctx - 1
        self._scorer = None

    @property
    def scorer(self):
        if self._scorer is None:
            from llmcourse.inference.llamacpp import load_llama

            self._scorer = load_llama(self.gguf, n_ctx=self.score_ctx, logits_all=True)
        return self._scorer

    def encode(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)

    def prefix(self) -> list[int]:
        bos = self.llm.token_bos()
        return [bos] if bos is not None and bos >= 0 and self.llm.metadata.get("tokenizer.ggml.add_bos_token",
                                                                                 "true") != "false" else []

    def logits(self, ids, mask):
        import numpy as np

        rows = []
        for r in range(ids.shape[0]):
            n = int(mask[r].sum())
            self.scorer.reset()
            self.scorer.eval(ids[r, :n].tolist())
            scores = np.asarray(self.scorer.scores[:n], dtype=np.float32)
            pad = np.zeros((ids.shape[1] - n, scores.shape[1]), dtype=np.float32)
            rows.append(torch.from_numpy(np.concatenate([scores, pad])))
        return torch.stack(rows)

    def logits_at(self, ids, mask, positions):
        return self.logits(ids, mask)[:, positions]

    def _generate_one(self, prompt: str, max_new_tokens: int) -> str:
        out = self.llm.create_completion(prompt, max_tokens=max_new_tokens, temperature=0.0)
        return out["choices"][0]["text"]


def load_eval_lm(name: str, profile: str | None = None) -> EvalLM:
    """The model `llmcourse eval --model NAME` means: gemma-3-270m, gemma-3-270m-gguf, or an artifact name."""
    if name == "gemma-3-270m":
        from llmcourse.assets import load_lm

        model, tok = load_lm("gemma-3-270m", device="cpu")
        return HFLM(model, tok, name="gemma-3-270m")
    if name == "gemma-3-270m-gguf":
        from llmcourse.assets import gemma_gguf_path

        return LlamaCppLM(gemma_gguf_path(), name="gemma-3-270m-q4_k_m")
    from llmcourse.assets.artifacts import load_artifact

    art = load_artifact(name, profile=profile)  # no fallback: a missing artifact is an error naming its notebook
    if isinstance(art, Path) and art.suffix == ".gguf":
        return LlamaCppLM(art, name=name)
    if isinstance(art, dict):
        gguf = [v for v in art.values() if isinstance(v, Path) and v.suffix == ".gguf"]
        if "model" in art and "tokenizer" in art:
            return CourseGPTLM(art["model"], art["tokenizer"], name=name)
        if gguf:
            return LlamaCppLM(gguf[0], name=name)
    raise ValueError(f"artifact {name!r} holds no model this evaluator can run (expected a course GPT bundle "
                     "{'model', 'tokenizer'} or a .gguf file)")
