"""Tests run offline, in the smoke profile, with the course cache shared across runs."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["LLMCOURSE_ONLINE"] = "0"
os.environ.setdefault("LLMCOURSE_PROFILE", "smoke")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# notebooks run by the tests save their artifacts apart from a learner's own
os.environ.setdefault("LLMCOURSE_ARTIFACTS", os.path.join(
    os.environ.get("LLMCOURSE_CACHE") or os.path.expanduser("~/.cache/llmcourse"), "artifacts-test"))
# `make test` runs two pytest workers on two cores: one thread each (and in the notebook
# kernels they start) avoids oversubscription, which slows small torch ops a hundredfold.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_lm():
    """A random-init Gemma 3 with Gemma's tokenizer: (model, tokenizer)."""
    from llmcourse.assets import load_lm

    return load_lm("tiny", device="cpu")


@pytest.fixture(scope="session")
def gemma():
    """Gemma 3 270M from the offline GGUF package: (model, tokenizer)."""
    from llmcourse.assets import load_lm

    return load_lm("gemma-3-270m", device="cpu")
