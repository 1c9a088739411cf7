"""GSM-style word problems in English, Indonesian and Thai, generated with computed answers.

GSM8K is 8.5k grade-school word problems written by people. We cannot ship it offline,
and a benchmark the course *generates* has two virtues of its own: the answer is computed
by the same code that writes the question (never typed, never wrong), and fresh problems
can be made at will, which is the cure for contamination (a model cannot have memorised
a problem that did not exist when it was trained).

Each template is one story with slots (a name, an item, numbers) written in the three
languages, and a function that computes the answer. Difficulty 1 takes one operation,
2 takes two, 3 takes several or a fraction/percentage. Numbers are drawn so that answers
come out as integers or simple fractions; money follows the language (dollars, rupiah in
thousands written "Rp15.000", baht).

    >>> problems = math_problems(n=30, seed=0)
    >>> p = problems[0]; p.language, p.difficulty, p.question, p.answer
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

__all__ = ["LANGUAGES", "MathProblem", "few_shot_prompt", "format_money", "math_problems"]

LANGUAGES = ("en", "id", "th")

_ITEMS = {
    "en": ["apple", "book", "pencil", "mango", "ticket", "notebook", "egg", "orange"],
    "id": ["apel", "buku", "pensil", "mangga", "tiket", "kue", "telur", "jeruk"],
    "th": ["แอปเปิล", "หนังสือ", "ดินสอ", "มะม่วง", "ตั๋ว", "ขนม", "ไข่", "ส้ม"],
}
_FALLBACK_NAMES = {"en": ["Anna", "Ben", "Chloe", "David", "Ella"], "id": ["Budi", "Sari", "Dewi", "Agus", "Rina"],
                   "th": ["สมชาย", "สุดา", "มานี", "ปิติ", "ชูใจ"]}
_CUE = {"en": "The answer is", "id": "Jawabannya adalah", "th": "คำตอบคือ"}


@dataclass(frozen=True)
class MathProblem:
    language: str
    difficulty: int
    template: str
    question: str
    answer: str  # canonical: an integer, or a reduced fraction "3/2"
    solution: str  # a worked solution ending with the answer cue (for few-shot prompts)


def format_money(amount: int, lang: str) -> str:
    """Money as it is written in each language: $1,200 · Rp15.000 · 1,200 บาท."""
    if lang == "id":
        return "Rp" + f"{amount:,}".replace(",", ".")
    if lang == "th":
        return f"{amount:,} บาท"
    return f"${amount:,}"


def _canonical(x: Fraction | int) -> str:
    x = Fraction(x)
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


def _names(lang: str) -> list[str]:
    try:
        from llmcourse.assets.names import load_names

        names = load_names(lang, "test")[:200]
        return [n.capitalize() for n in names] if lang != "th" else names
    except Exception:  # the names asset needs Faker/PyThaiNLP: a short list still makes problems
        return _FALLBACK_NAMES[lang]


# ----------------------------------------------------------------------------- templates
# each returns (question, answer, worked solution) for one language and random draw
def _buy(r: random.Random, lang: str, name: str, item: str):
    n, price = r.randint(2, 12), r.choice([2, 3, 4, 5, 6, 8, 12, 15]) * (1000 if lang == "id" else 1)
    total = n * price
    q = {"en": f"{name} buys {n} {item}s at {format_money(price, lang)} each. How much does {name} pay?",
         "id": f"{name} membeli {n} {item} seharga {format_money(price, lang)} per buah. Berapa yang harus dibayar {name}?",
         "th": f"{name}ซื้อ{item} {n} ชิ้น ราคาชิ้นละ {format_money(price, lang)} {name}ต้องจ่ายเงินเท่าไร"}[lang]
    return q, total, f"{n} × {price} = {total}."


def _share(r: random.Random, lang: str, name: str, item: str):
    k, each = r.randint(2, 9), r.randint(2, 15)
    q = {"en": f"{name} has {k * each} {item}s and shares them equally among {k} friends. How many {item}s does each friend get?",
         "id": f"{name} punya {k * each} {item} dan membaginya sama rata kepada {k} teman. Berapa {item} yang didapat setiap teman?",
         "th": f"{name}มี{item} {k * each} ชิ้น แบ่งให้เพื่อน {k} คนเท่า ๆ กัน เพื่อนแต่ละคนได้กี่ชิ้น"}[lang]
    return q, each, f"{k * each} ÷ {k} = {each}."


def _change(r: random.Random, lang: str, name: str, item: str):
    unit = 1000 if lang == "id" else 1
    n, price = r.randint(2, 6), r.randint(2, 9) * unit
    note = 50 * unit if n * price < 50 * unit else 100 * unit
    left = note - n * price
    q = {"en": f"{name} buys {n} {item}s at {format_money(price, lang)} each and pays with {format_money(note, lang)}. How much change does {name} get?",
         "id": f"{name} membeli {n} {item} seharga {format_money(price, lang)} per buah dan membayar dengan {format_money(note, lang)}. Berapa kembaliannya?",
         "th": f"{name}ซื้อ{item} {n} ชิ้น ชิ้นละ {format_money(price, lang)} จ่ายเงิน {format_money(note, lang)} จะได้เงินทอนเท่าไร"}[lang]
    return q, left, f"{n} × {price} = {n * price}; {note} − {n * price} = {left}."


def _trip(r: random.Random, lang: str, name: str, item: str):
    v, t, extra = r.choice([40, 50, 60, 70, 80]), r.randint(2, 5), r.randint(5, 40)
    total = v * t + extra
    q = {"en": f"A bus drives at {v} km per hour for {t} hours, then {extra} km more. How many km does it drive in total?",
         "id": f"Sebuah bus melaju {v} km per jam selama {t} jam, lalu {extra} km lagi. Berapa km jarak totalnya?",
         "th": f"รถบัสวิ่งด้วยความเร็ว {v} กิโลเมตรต่อชั่วโมงเป็นเวลา {t} ชั่วโมง แล้ววิ่งต่ออีก {extra} กิโลเมตร รวมวิ่งไปกี่กิโลเมตร"}[lang]
    return q, total, f"{v} × {t} = {v * t}; {v * t} + {extra} = {total}."


def _discount(r: random.Random, lang: str, name: str, item: str):
    unit = 1000 if lang == "id" else 1
    price, off = r.choice([20, 40, 60, 80, 120, 200]) * unit, r.choice([10, 25, 50, 20, 5])
    sale = Fraction(price * (100 - off), 100)  # prices are multiples of 20 and off of 5: whole money
    q = {"en": f"A {item} costs {format_money(price, lang)}. In a sale it is {off}% off. What is the sale price?",
         "id": f"Harga sebuah {item} {format_money(price, lang)}. Saat diskon, harganya turun {off}%. Berapa harga setelah diskon?",
         "th": f"{item}ราคา {format_money(price, lang)} ลดราคา {off}% ราคาหลังลดเป็นเท่าไร"}[lang]
    return q, sale, f"{price} × {off}/100 = {price * off // 100}; {price} − {price * off // 100} = {_canonical(sale)}."


def _recipe(r: random.Random, lang: str, name: str, item: str):
    s, cups, t = r.choice([2, 4, 6]), r.randint(1, 5), r.choice([1, 3, 5, 9])
    ans = Fraction(cups * t, s)
    q = {"en": f"A cake for {s} people needs {cups} cups of flour. How many cups of flour are needed for {t} people?",
         "id": f"Kue untuk {s} orang membutuhkan {cups} gelas tepung. Berapa gelas tepung untuk {t} orang?",
         "th": f"เค้กสำหรับ {s} คนต้องใช้แป้ง {cups} ถ้วย ถ้าทำสำหรับ {t} คนต้องใช้แป้งกี่ถ้วย"}[lang]
    return q, ans, f"{cups} × {t} ÷ {s} = {_canonical(ans)}."


def _ages(r: random.Random, lang: str, name: str, item: str):
    child, k, years = r.randint(3, 12), r.randint(2, 4), r.randint(2, 10)
    total = child + years + k * child + years
    q = {"en": f"{name} is {k} times as old as her cousin. In {years} years their ages will add up to {total}. How old is the cousin now?",
         "id": f"Umur {name} {k} kali umur sepupunya. {years} tahun lagi jumlah umur mereka {total}. Berapa umur sepupunya sekarang?",
         "th": f"{name}อายุเป็น {k} เท่าของลูกพี่ลูกน้อง อีก {years} ปีอายุของทั้งสองคนรวมกันเป็น {total} ปี ตอนนี้ลูกพี่ลูกน้องอายุกี่ปี"}[lang]
    return q, child, f"({total} − 2 × {years}) ÷ ({k} + 1) = {child}."


def _savings(r: random.Random, lang: str, name: str, item: str):
    unit = 1000 if lang == "id" else 1
    weekly, weeks, spent = r.choice([4, 8, 12, 20]) * unit, r.choice([3, 4, 5, 8, 10]), r.choice([25, 50, 75])
    saved = weekly * weeks  # a multiple of 4: a quarter of it is whole money
    left = Fraction(saved * (100 - spent), 100)
    q = {"en": f"{name} saves {format_money(weekly, lang)} a week for {weeks} weeks, then spends {spent}% of the savings on {item}s. How much is left?",
         "id": f"{name} menabung {format_money(weekly, lang)} setiap minggu selama {weeks} minggu, lalu memakai {spent}% tabungannya untuk membeli {item}. Berapa sisanya?",
         "th": f"{name}เก็บเงินสัปดาห์ละ {format_money(weekly, lang)} เป็นเวลา {weeks} สัปดาห์ แล้วใช้ {spent}% ของเงินที่เก็บซื้อ{item} เหลือเงินเท่าไร"}[lang]
    return q, left, f"{weekly} × {weeks} = {saved}; {saved} × {100 - spent}/100 = {_canonical(left)}."


TEMPLATES: dict[str, tuple[int, Callable]] = {
    "buy": (1, _buy), "share": (1, _share), "change": (2, _change), "trip": (2, _trip),
    "discount": (2, _discount), "recipe": (3, _recipe), "ages": (3, _ages), "savings": (3, _savings),
}


def math_problems(n: int = 90, seed: int = 0, languages: tuple[str, ...] = LANGUAGES,
                  difficulties: tuple[int, ...] = (1, 2, 3)) -> list[MathProblem]:
    """`n` problems, cycling through languages and templates of the given difficulties (deterministic)."""
    for lang in languages:
        if lang not in LANGUAGES:
            raise ValueError(f"math problems are written in {', '.join(LANGUAGES)}; got {lang!r}")
    templates = [(name, d, fn) for name, (d, fn) in TEMPLATES.items() if d in difficulties]
    if not templates:
        raise ValueError(f"no template has difficulty in {difficulties}; use 1, 2 or 3")
    rng = random.Random(f"math:{seed}")
    names = {lang: _names(lang) for lang in languages}
    out = []
    for i in range(n):
        lang = languages[i % len(languages)]
        name_t, diff, fn = templates[(i // len(languages)) % len(templates)]
        q, ans, work = fn(rng, lang, rng.choice(names[lang]), rng.choice(_ITEMS[lang]))
        answer = _canonical(ans)
        out.append(MathProblem(lang, diff, name_t, q, answer, f"{work} {_CUE[lang]} {answer}."))
    return out


def few_shot_prompt(problem: MathProblem, shots: list[MathProblem]) -> str:
    """A GSM-style prompt: worked examples in the problem's language, then the question."""
    q_word = {"en": "Question", "id": "Soal", "th": "โจทย์"}[problem.language]
    a_word = {"en": "Answer", "id": "Jawaban", "th": "เฉลย"}[problem.language]
    parts = [f"{q_word}: {s.question}\n{a_word}: {s.solution}\n" for s in shots if s.language == problem.language]
    return "\n".join(parts + [f"{q_word}: {problem.question}\n{a_word}:"])
