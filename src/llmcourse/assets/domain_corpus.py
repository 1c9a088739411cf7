"""A domain corpus for fine-tuning: the Python standard library's own source code.

Every Python installation ships its standard library as plain `.py` files under the
Python Software Foundation License (permissive, redistributable): ~170 top-level modules,
~4.7 MB of real, idiomatic code with docstrings and comments. For a model pre-trained on
Shakespeare and SEA-language text it is a new *domain* — different vocabulary (`self`,
`def`, `return`), layout (indentation) and statistics — so fine-tuning has work to do.

Documents are modules. The split is by document (never by window of one long stream),
80 / 10 / 10 by a hash of the module name, so no module is in two splits, the split does
not move when the corpus grows, and `DomainCorpus` refuses splits that share a document.

The held-out **task** (besides perplexity) is a keyword cloze on the test modules:
a line of real code with one Python keyword blanked out, and ten candidates; the model
chooses the one under which the line is most likely (chance: 10%).
"""

from __future__ import annotations

import hashlib
import random
import re
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

from llmcourse.assets.registry import Asset, AssetError, register

__all__ = ["CLOZE_KEYWORDS", "ClozeItem", "DomainCorpus", "DomainOverlapError", "cloze_items", "domain_corpus",
           "stdlib_documents"]

SPLITS = ("train", "val", "test")
CLOZE_KEYWORDS = ("def", "return", "if", "for", "in", "import", "self", "None", "not", "else")


class DomainOverlapError(ValueError):
    """Training text that also appears in the test split: refused (the test would measure memory)."""


def stdlib_documents() -> dict[str, str]:
    """{module name: source} for every top-level module of the running Python's standard library."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(root.glob("*.py"))
    if not files:
        raise AssetError(f"no standard-library sources under {root}: this Python ships without them "
                         "(some minimal images strip .py files); install the full Python (python3.x-dev)")
    docs = {}
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if text.strip():
            docs[path.stem] = text.replace("\t", "    ")
    return docs


def split_of(name: str) -> str:
    """train / val / test for a module name: 80 / 10 / 10 by a stable hash."""
    bucket = int.from_bytes(hashlib.sha1(f"stdlib:{name}".encode()).digest()[:4], "big") % 10
    return "test" if bucket == 0 else "val" if bucket == 1 else "train"


@dataclass
class DomainCorpus:
    """Documents per split ({name: text}); construction refuses a train or val split that overlaps test."""

    train: dict[str, str]
    val: dict[str, str]
    test: dict[str, str]
    about: str = "Python standard library source (PSF License)"
    sizes: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for other in ("train", "val"):
            docs = getattr(self, other)
            shared = sorted(set(docs) & set(self.test))
            if shared:
                raise DomainOverlapError(f"documents {shared[:5]} are in both the {other} and the test split; "
                                         "split by document so none is in two splits")
            test_hashes = {hashlib.sha1(t.encode()).hexdigest(): n for n, t in self.test.items()}
            for name, text in docs.items():
                twin = test_hashes.get(hashlib.sha1(text.encode()).hexdigest())
                if twin:
                    raise DomainOverlapError(f"{other} document {name!r} has the same text as test document {twin!r}: "
                                             "remove the duplicate before training")
                for tname, ttext in self.test.items():
                    if len(ttext) > 200 and ttext in text:
                        raise DomainOverlapError(f"{other} document {name!r} contains the whole test document "
                                                 f"{tname!r}: the test would measure memorisation; remove it")
        self.sizes = {s: sum(len(t) for t in getattr(self, s).values()) for s in SPLITS}

    def text(self, split: str) -> str:
        """All documents of a split joined by blank lines (each starts with a '# module: name' line)."""
        docs = getattr(self, split)
        return "\n\n".join(f"# module: {name}\n{text}" for name, text in docs.items())


def domain_corpus(max_chars: int | None = None, seed: int = 0) -> DomainCorpus:
    """The stdlib corpus split by module; `max_chars` caps each split (train gets 8/10 of it, val and test 1/10)."""
    docs = stdlib_documents()
    splits: dict[str, dict[str, str]] = {s: {} for s in SPLITS}
    names = sorted(docs)
    random.Random(seed).shuffle(names)  # which modules fill a capped split: a fixed, mixed selection
    budget = {s: None if max_chars is None else int(max_chars * (0.8 if s == "train" else 0.1)) for s in SPLITS}
    used = dict.fromkeys(SPLITS, 0)
    for name in names:
        s = split_of(name)
        if budget[s] is not None and used[s] >= budget[s]:
            continue
        # a capped split takes a slice of many modules (at most an eighth of its budget each) rather than one whole one
        text = docs[name] if budget[s] is None else docs[name][: max(2000, min(budget[s] - used[s], budget[s] // 8))]
        splits[s][name] = text
        used[s] += len(text)
    return DomainCorpus(splits["train"], splits["val"], splits["test"])


@dataclass(frozen=True)
class ClozeItem:
    """A line of code with one keyword blanked: context (earlier lines), the line split at the blank, the answer."""

    context: str
    before: str
    after: str
    answer: str

    def filled(self, word: str) -> str:
        return f"{self.context}{self.before}{word}{self.after}"


def cloze_items(docs: dict[str, str], n: int, seed: int = 0, context_chars: int = 160) -> list[ClozeItem]:
    """`n` keyword-cloze items from `docs` (the test split): lines holding exactly one of CLOZE_KEYWORDS
    as a whole word, with up to `context_chars` characters of the lines before."""
    pattern = re.compile(r"\b(" + "|".join(CLOZE_KEYWORDS) + r")\b")
    candidates = []
    for name in sorted(docs):
        lines = docs[name].splitlines(keepends=True)
        for i, line in enumerate(lines):
            hits = pattern.findall(line)
            stripped = line.strip()
            if i < 2 or len(hits) != 1 or len(stripped) < 12 or stripped.startswith("#") or '"' in line or "'" in line:
                continue
            candidates.append((name, i, line))
    rng = random.Random(seed)
    rng.shuffle(candidates)
    items = []
    for name, i, line in candidates[:n]:
        lines = docs[name].splitlines(keepends=True)
        context = "".join(lines[max(0, i - 8):i])[-context_chars:]
        m = pattern.search(line)
        items.append(ClozeItem(context, line[: m.start()], line[m.end():].rstrip("\n"), m.group(1)))
    if len(items) < n:
        raise AssetError(f"only {len(items)} cloze items found in {len(docs)} documents; ask for fewer")
    return items


register(Asset("python-stdlib-corpus", "text", "-", "the Python standard library (PSF License)",
               cached=lambda: True, note="domain corpus of week 5, split by module"))
