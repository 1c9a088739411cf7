"""What `llmcourse serve --model NAME` serves: a course artifact or a Hugging Face model, with its tokenizer.

    served_model("gemma-3-270m")          Gemma 3 270M (offline copy), Gemma's tokenizer and turn markers
    served_model("course-gpt-sft")        a learner's artifact (week 5's fine-tuned course GPT...)
    served_from(model, tokenizer, name)   objects a notebook already holds
    learner_gpt()                         the course GPT week 6 serves, quantises and deploys
"""

from __future__ import annotations

from llmcourse.serving.engine import Engine
from llmcourse.serving.server import ServedModel

__all__ = ["HF_MODELS", "learner_gpt", "served_from", "served_model"]

HF_MODELS = ("gemma-3-270m", "tiny")

# artifacts a learner may not have made yet, and the reference that stands in for each
_FALLBACKS = {
    "course-gpt": "llmcourse.models.course:reference_course_gpt",
    "course-gpt-pretrained": "llmcourse.models.course:reference_pretrained_gpt",
    "course-gpt-sft": "llmcourse.finetuning:reference_sft_gpt",
}


def _fallback(name: str):
    """The reference builder that stands in for artifact `name`, or None when it has none."""
    if name not in _FALLBACKS:
        return None
    import importlib

    module, _, attr = _FALLBACKS[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def learner_gpt(name: str = "course-gpt-sft"):
    """(model, tokenizer): the learner's course GPT ready to serve — eval mode, SDPA attention.

    Week 5's instruction-tuned model by default; the small reference model stands in (and
    says so) when the learner has not made it.
    """
    from llmcourse.assets.artifacts import load_artifact

    bundle = load_artifact(name, fallback=_fallback(name))
    model = bundle["model"].eval()
    model.set_attn_impl("sdpa")  # torch's fused attention: the fastest path for serving
    return model, bundle["tokenizer"]


def served_from(model, tokenizer, name: str, **engine_kw) -> ServedModel:
    """Wrap a model and its tokenizer (a course tokenizer or a Hugging Face one) for the server."""
    if hasattr(tokenizer, "encode_ordinary"):  # the course's byte-level BPE
        eos = tokenizer.special_tokens.get("<|endoftext|>")
        engine = Engine(model, eos_token_id=eos, **engine_kw)
        return ServedModel(name, engine, tokenizer.encode_ordinary, tokenizer.decode, "plain")
    engine = Engine(model, eos_token_id=tokenizer.eos_token_id, **engine_kw)
    gemma = "<start_of_turn>" in tokenizer.get_vocab()
    return ServedModel(name, engine, lambda text: tokenizer(text).input_ids,
                       lambda ids: tokenizer.decode(ids, skip_special_tokens=True), "gemma" if gemma else "plain")


def served_model(name: str, **engine_kw) -> ServedModel:
    """Load model `name` (an HF model of the course, or an artifact) and wrap it for serving."""
    if name in HF_MODELS:
        from llmcourse.assets import load_lm

        model, tok = load_lm(name, device="cpu")
        return served_from(model, tok, name, **engine_kw)
    from llmcourse.assets.artifacts import ArtifactError, load_artifact

    try:
        bundle = load_artifact(name, fallback=_fallback(name))
    except ArtifactError as err:
        raise ValueError(f"cannot serve {name!r}: {err}. Serve one of {', '.join(HF_MODELS)} or an artifact "
                         "listed by `llmcourse artifacts`") from None
    if not isinstance(bundle, dict) or "model" not in bundle or "tokenizer" not in bundle:
        raise ValueError(f"artifact {name!r} is not a model bundle ({{'model', 'tokenizer'}}); a GGUF file is served "
                         "by llama.cpp (llmcourse.inference.llamacpp.LlamaServer)")
    return served_from(bundle["model"].eval(), bundle["tokenizer"], name, **engine_kw)
