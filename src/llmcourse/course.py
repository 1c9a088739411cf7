"""The course catalogue: the 24 notebooks, their titles and where their sources live."""

from __future__ import annotations

import os
from pathlib import Path

TITLES: dict[str, str] = {
    "1.1": "LLM tools and libraries",
    "1.2": "Tokenizers",
    "1.3": "Embeddings workshop",
    "2.1": "Attention",
    "2.2": "Simple transformer",
    "2.3": "Makemore",
    "2.4": "Micrograd",
    "3.1": "Transformer block",
    "3.2": "KV cache",
    "3.3": "Architecture comparisons",
    "4.1": "Data pipeline",
    "4.2": "Training infrastructure",
    "4.3": "Pre-training methodologies",
    "5.1": "Full fine-tuning",
    "5.2": "Parameter-efficient methods",
    "5.3": "Domain adaptation",
    "6.1": "Inference engines",
    "6.2": "Quantisation",
    "6.3": "Production optimisations",
    "7.1": "Benchmark development",
    "7.2": "Evaluation methods",
    "7.3": "Lite-eval",
    "8.1": "Multimodal integration",
    "8.2": "RLHF fundamentals",
    "8.3": "RAG",
}


# Where Colab installs the course from: the one place this address is written. `llmcourse sync`
# copies it into the first cell of every notebook (a test fails when a notebook drifts).
REPOSITORY = "https://github.com/llmcourse/llmcourse"
PIP_TARGET = f"llmcourse[course] @ git+{REPOSITORY}"


def first_cell(nb_id: str) -> str:
    """The first code cell of notebook `nb_id`: install the course on Colab when missing, then setup()."""
    return (
        "# On Colab, install the course package the first time (on your machine `make setup` did it).\n"
        "import importlib.util, subprocess, sys\n"
        "if importlib.util.find_spec(\"llmcourse\") is None:\n"
        f"    subprocess.run([sys.executable, \"-m\", \"pip\", \"install\", \"-q\", \"{PIP_TARGET}\"], check=True)\n"
        "\n"
        "from llmcourse import check, setup\n"
        "\n"
        f"cfg = setup(\"{nb_id}\")"
    )


def notebook_ids() -> list[str]:
    """Every notebook id of the syllabus, in course order."""
    return list(TITLES)


def repo_root() -> Path:
    """The checkout that holds notebooks/ (LLMCOURSE_ROOT, else found from this file or the cwd)."""
    if os.environ.get("LLMCOURSE_ROOT"):
        return Path(os.environ["LLMCOURSE_ROOT"]).resolve()
    for start in (Path(__file__).resolve(), Path.cwd().resolve()):
        for parent in [start, *start.parents]:
            if (parent / "notebooks").is_dir() and (parent / "pyproject.toml").is_file():
                return parent
    raise FileNotFoundError(
        "cannot find the course checkout (a folder with notebooks/ and pyproject.toml); "
        "run from inside it or set LLMCOURSE_ROOT"
    )


def notebook_source(nb_id: str) -> Path:
    """The jupytext source `notebooks/weekN/N_M_topic.py` of a notebook id like "1.1"."""
    if nb_id not in TITLES:
        raise ValueError(f"unknown notebook id {nb_id!r}; known: {', '.join(TITLES)}")
    week, num = nb_id.split(".")
    found = sorted((repo_root() / "notebooks" / f"week{week}").glob(f"{week}_{num}_*.py"))
    if not found:
        raise FileNotFoundError(f"notebook {nb_id} ({TITLES[nb_id]}) is not written yet")
    return found[0]


def available_notebooks() -> list[str]:
    """Ids of the notebooks that exist in this checkout, in course order."""
    out = []
    for nb_id in TITLES:
        try:
            notebook_source(nb_id)
            out.append(nb_id)
        except FileNotFoundError:
            pass
    return out


def notebook_id_of(path: Path) -> str:
    """The id ("1.2") of a notebook file named like 1_2_tokenizers.py / .ipynb."""
    parts = Path(path).name.split("_")
    nb_id = f"{parts[0]}.{parts[1]}" if len(parts) > 2 else ""
    if nb_id not in TITLES:
        raise ValueError(f"{path} is not named like a course notebook (N_M_topic.py)")
    return nb_id
