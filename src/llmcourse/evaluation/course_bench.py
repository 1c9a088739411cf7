"""The course's own benchmark: SEA languages, the Python domain, arithmetic, HumanEval.

Built offline from what the course ships, every answer computed, never typed:

| category     | grader | what it probes                                               | languages          |
| ------------ | ------ | ------------------------------------------------------------ | ------------------ |
| language     | choice | continue a sentence in its own language (vs other languages) | en id ms th vi tl ta |
| shakespeare  | choice | the next word of a held-out line of Shakespeare              | en                 |
| translation  | choice | the Indonesian for an English phrase (CLDR / num2words)       | en→id              |
| python       | choice | what a small Python snippet prints (the week-5 code domain)  | code               |
| pydocs       | choice | the next word of a sentence of Python's documentation        | en                 |
| math-choice  | choice | the answer of a word problem, among near misses              | en id th           |
| math         | math   | solve a word problem (generate, extract, compare)            | en id th           |
| code         | code   | HumanEval: complete a function, its tests run in the sandbox | code               |

A "choice" item is scored as lm-evaluation-harness scores multiple choice: the model's
log-likelihood of each choice after the prompt; the most likely one is its answer. Tiny
models get signal from it long before they can write a correct answer themselves.

Held-out on purpose: the sentences use a seed the course GPT never trained on, the
Shakespeare lines come from the end of the works (pre-training reads the beginning), the
Python docs topics are those the hash puts in the test half (the other half is the
week-5 domain text; `training_texts()` returns both halves' owners for the contamination check).
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter

from llmcourse.evaluation.benchmark import Item

__all__ = ["course_benchmark", "evaluation_texts", "training_texts", "pydocs_split", "CATEGORY_SIZES"]

CATEGORY_SIZES = {  # items per category, per profile
    "smoke": dict(language=70, shakespeare=40, translation=40, python=40, pydocs=40, math_choice=30, math=9, code=4),
    "laptop": dict(language=280, shakespeare=200, translation=200, python=160, pydocs=200, math_choice=150,
                   math=60, code=164),
}
LANGS = ("en", "id", "ms", "th", "vi", "tl", "ta")
SIBLING = {"id": "ms", "ms": "id", "en": "tl", "tl": "en"}  # near neighbours make the hard distractors
HELD_OUT_SEED = 7  # the multilingual sample seed the course GPT never trains on (it trains on seed 0)


def _stable(text: str) -> int:
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:12], 16)


def _sentences(lang: str, n_chars: int) -> list[str]:
    from llmcourse.assets.multilingual import multilingual_sample

    text = multilingual_sample(lang, n_chars, seed=HELD_OUT_SEED)
    if lang == "th":  # Thai sentences are separated by spaces or newlines
        return [s for s in re.split(r"[ \n]+", text) if len(s) >= 12]
    return [s.strip() for s in re.split(r"(?<=[.?!])\s+", text) if len(s.split()) >= 6]


def _language_items(n: int, rng: random.Random) -> list[Item]:
    pool = {lang: _sentences(lang, 40 * max(n // len(LANGS), 4) * 12) for lang in LANGS}
    items = []
    for i in range(n):
        lang = LANGS[i % len(LANGS)]
        s = pool[lang][i // len(LANGS)]
        if lang == "th":
            cut = len(s) // 2
            prompt, right = s[:cut], s[cut:cut + 12]
        else:
            words = s.split()
            cut = len(words) // 2
            prompt, right = " ".join(words[:cut]), " " + " ".join(words[cut:cut + 3])
        others = [x for x in LANGS if x != lang]
        difficulty = 1
        if lang in SIBLING and rng.random() < 0.5:
            chosen = [SIBLING[lang]] + rng.sample([x for x in others if x != SIBLING[lang]], 2)
            difficulty = 3
        else:
            chosen = rng.sample(others, 3)
            difficulty = 2 if all(x not in ("th", "ta") for x in chosen + [lang]) else 1
        choices = [right]
        for other in chosen:
            t = rng.choice(pool[other])
            piece = t[len(t) // 2:len(t) // 2 + 12] if other == "th" else " " + " ".join(t.split()[3:6])
            choices.append(piece)
        if len(set(choices)) < len(choices):
            continue
        rng.shuffle(choices)
        items.append(Item(f"language-{lang}-{i:04d}", lang, "language", difficulty, prompt, right, "choice", choices))
    return items


def _cloze_items(text_lines: list[str], n: int, rng: random.Random, category: str, lang: str) -> list[Item]:
    """Next-word items: the prompt is a line cut before a word; distractors have similar frequency."""
    counts = Counter(w for line in text_lines for w in re.findall(r"[A-Za-z']+", line))
    vocab = [w for w, _ in counts.most_common()]
    rank = {w: r for r, w in enumerate(vocab)}
    items, i = [], 0
    for line in text_lines:
        words = line.split()
        if len(words) < 7 or len(items) >= n:
            continue
        k = rng.randint(4, len(words) - 2)
        target = re.sub(r"[^A-Za-z']", "", words[k])
        if len(target) < 3 or target not in rank:
            continue
        r = rank[target]
        width = rng.choice([20, 200, 2000])  # close in frequency = harder to tell apart
        near = [w for w in vocab[max(0, r - width):r + width] if w.lower() != target.lower() and len(w) >= 3]
        if len(near) < 3:
            continue
        distract = rng.sample(near, 3)
        choices = [" " + target] + [" " + w for w in distract]
        rng.shuffle(choices)
        difficulty = {20: 3, 200: 2, 2000: 1}[width]
        items.append(Item(f"{category}-{i:04d}", lang, category, difficulty, " ".join(words[:k]), " " + target,
                          "choice", choices))
        i += 1
    return items


def _shakespeare_items(n: int, rng: random.Random) -> list[Item]:
    from llmcourse.assets.shakespeare import load_shakespeare

    text = load_shakespeare()
    tail = text[-1_500_000:]  # pre-training reads the beginning; the end is held out
    lines = [ln.strip() for ln in tail.splitlines() if len(ln.split()) >= 7 and not ln.isupper()]
    rng.shuffle(lines)
    return _cloze_items(lines, n, rng, "shakespeare", "en")


def pydocs_split() -> dict[str, list[str]]:
    """Python documentation topics (pydoc_data) split in two by a hash: train (week-5 domain text) and test."""
    import pydoc_data.topics as topics

    out: dict[str, list[str]] = {"train": [], "test": []}
    for name in sorted(topics.topics):
        out["test" if _stable(name) % 4 == 0 else "train"].append(name)
    return out


def _pydocs_items(n: int, rng: random.Random) -> list[Item]:
    import pydoc_data.topics as topics

    text = "\n".join(topics.topics[t] for t in pydocs_split()["test"])
    lines = [ln.strip() for ln in text.splitlines() if len(ln.split()) >= 8 and not ln.strip().startswith(("*", "|", ">>>"))]
    rng.shuffle(lines)
    return _cloze_items(lines, n, rng, "pydocs", "en")


def _translation_items(n: int, rng: random.Random) -> list[Item]:
    from llmcourse.assets.translation import translation_pairs

    pairs = translation_pairs("test")
    by_kind: dict[str, list] = {}
    for p in pairs:
        by_kind.setdefault(p.kind, []).append(p)
    level = {"country": 1, "language": 1, "locale": 1, "date": 2, "quantity": 2, "number": 3, "ordinal": 3}
    items = []
    order = sorted(pairs, key=lambda p: _stable(p.source))
    for i, p in enumerate(order):
        if len(items) >= n:
            break
        same = [q.target for q in by_kind[p.kind] if q.target != p.target]
        if len(set(same)) < 3:
            continue
        choices = [" " + p.target] + [" " + t for t in rng.sample(sorted(set(same)), 3)]
        rng.shuffle(choices)
        items.append(Item(f"translation-{i:04d}", "id", "translation", level.get(p.kind, 2),
                          f"English: {p.source}\nIndonesian:", " " + p.target, "choice", choices))
    return items


_SNIPPETS = [  # (difficulty, template, a function of the drawn values that gives the source)
    (1, lambda r: f"print(len({r.choice(['hello', 'python', 'jakarta', 'bangkok', 'data'])!r}))"),
    (1, lambda r: f"print({r.randint(2, 40)} + {r.randint(2, 40)})"),
    (1, lambda r: f"print({r.choice(['hello', 'sawasdee', 'selamat'])!r}.upper())"),
    (2, lambda r: f"print({r.randint(10, 99)} // {r.randint(2, 9)}, {r.randint(10, 99)} % {r.randint(2, 9)})"),
    (2, lambda r: f"print({r.choice(['abcdef', 'python', 'mangosteen'])!r}[{r.randint(1, 3)}:{r.randint(4, 6)}])"),
    (2, lambda r: f"print(sorted({r.sample(range(1, 20), 4)}))"),
    (2, lambda r: f"print({r.choice(['a-b-c', 'x,y', 'nasi goreng enak'])!r}.split({r.choice(['-', ',', ' '])!r}))"),
    (3, lambda r: f"print(sum(x * x for x in range({r.randint(2, 6)})))"),
    (3, lambda r: f"d = {{'a': {r.randint(1, 9)}, 'b': {r.randint(1, 9)}}}\nprint(d.get('c', {r.randint(0, 5)}) + d['a'])"),
    (3, lambda r: f"xs = {r.sample(range(1, 10), 5)}\nprint([x for x in xs if x % 2 == {r.randint(0, 1)}])"),
]


def _run_snippet(src: str) -> str:
    """The output of one of our own generated snippets (trusted code, not a model's)."""
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(compile(src, "<snippet>", "exec"), {})  # noqa: S102 - our generated snippets only
    return buf.getvalue().strip()


def _python_items(n: int, rng: random.Random) -> list[Item]:
    items = []
    for i in range(n):
        difficulty, make = _SNIPPETS[i % len(_SNIPPETS)]
        src = make(rng)
        right = _run_snippet(src)
        wrong = {_run_snippet(make(rng)) for _ in range(8)} - {right}
        if len(wrong) < 3:
            wrong |= {right + "0", "None", "Error"} - {right}
        choices = [" " + right] + [" " + w for w in sorted(wrong)[:3]]
        rng.shuffle(choices)
        items.append(Item(f"python-{i:04d}", "code", "python", difficulty,
                          f"What does this Python code print?\n{src}\nOutput:", " " + right, "choice", choices))
    return items


def _math_items(n_choice: int, n_gen: int) -> list[Item]:
    from llmcourse.evaluation.math_problems import math_problems

    items = []
    for i, p in enumerate(math_problems(n=n_choice + n_gen, seed=11)):
        if i < n_choice:
            right = p.answer
            rng = random.Random(_stable(p.question))
            value = int(right.split("/")[0]) if "/" not in right else int(right.split("/")[0])
            wrong = {str(value + 1), str(max(0, value - 1)), str(value * 10), str(value + rng.randint(2, 9))} - {right}
            choices = [" " + right] + [" " + w for w in sorted(wrong)[:3]]
            rng.shuffle(choices)
            cue = {"en": "Answer:", "id": "Jawaban:", "th": "คำตอบ:"}[p.language]
            items.append(Item(f"math-choice-{p.language}-{i:04d}", p.language, "math-choice", p.difficulty,
                              f"{p.question}\n{cue}", " " + right, "choice", choices))
        else:
            items.append(Item(f"math-{p.language}-{i:04d}", p.language, "math", p.difficulty, p.question, p.answer,
                              "math", meta={"template": p.template, "solution": p.solution}))
    return items


def _code_items(n: int) -> list[Item]:
    from llmcourse.assets.eval_data import humaneval_problems

    items = []
    for k, p in enumerate(humaneval_problems()[:n]):
        difficulty = 1 if len(p["canonical_solution"]) < 200 else (2 if len(p["canonical_solution"]) < 500 else 3)
        items.append(Item(f"code-{p['task_id'].replace('/', '-')}", "code", "code", difficulty, p["prompt"],
                          p["canonical_solution"], "code",
                          meta={"task_id": p["task_id"], "test": p["test"], "entry_point": p["entry_point"]}))
    return items


def course_benchmark(profile: str = "smoke", sizes: dict | None = None, seed: int = 0) -> list[Item]:
    """Every item of the course benchmark for a profile's sizes (deterministic)."""
    if profile not in CATEGORY_SIZES and sizes is None:
        profile = "laptop"
    n = dict(CATEGORY_SIZES.get(profile, CATEGORY_SIZES["laptop"]), **(sizes or {}))
    rng = random.Random(f"course-bench:{seed}")
    items = (_language_items(n["language"], rng) + _shakespeare_items(n["shakespeare"], rng)
             + _translation_items(n["translation"], rng) + _python_items(n["python"], rng)
             + _pydocs_items(n["pydocs"], rng) + _math_items(n["math_choice"], n["math"]) + _code_items(n["code"]))
    return items


def evaluation_texts(profiles: tuple[str, ...] = ("smoke", "laptop")) -> dict[str, list[str]]:
    """The texts the course benchmark tests a model on, by category: `{"course-bench/math": [...], ...}`.

    Each text is an item's prompt followed by its reference answer (what a model could
    memorise). Week 5 drops instruction data sharing an n-gram with any of them
    (`llmcourse.finetuning.evaluation_sets`). Every profile's benchmark is included: their
    items differ, and training data must be clean of all of them.
    """
    from llmcourse.evaluation.contamination import item_text

    texts: dict[str, list[str]] = {}
    for profile in profiles:
        for item in course_benchmark(profile):
            bucket = texts.setdefault(f"course-bench/{item.category}", [])
            text = item_text(item)
            if text not in bucket:
                bucket.append(text)
    return texts


def training_texts(pretrain_chars: int = 600_000) -> dict[str, str]:
    """The text weeks 4-5 train on, by source, for the contamination check.

    Week 4's pre-training text is the course text (Shakespeare from the beginning plus
    the multilingual sample with seed 0); week 5's domain text is the train half of the
    Python documentation topics.
    """
    import pydoc_data.topics as topics

    from llmcourse.models.course import course_text

    texts = {f"week 4: {k}": v for k, v in course_text(pretrain_chars).items()}
    texts["week 5: python docs (train topics)"] = "\n".join(topics.topics[t] for t in pydocs_split()["train"])
    return texts
