"""How well does our math grader agree with `math-verify`? Answer variants and an agreement table.

For each gold answer we write the ways a model might give it, right and wrong: "1,234",
"$1,234.00", "\\boxed{1234}", "#### 1234", "The answer is 1234 apples.", a fraction as
"\\frac{3}{2}" or "1.5" or "1 1/2", and near misses (off by one, times ten, the fraction
upside down). Each variant carries what it *means* (equal or not), so a disagreement
between the two graders can be settled: who was right?
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from llmcourse.assets.registry import require
from llmcourse.evaluation.math_grader import extract_answer, is_equivalent

__all__ = ["BEYOND_MATH_VERIFY", "Variant", "answer_variants", "grade_with_math_verify", "agreement_with_math_verify"]

BEYOND_MATH_VERIFY = ("Thai digits", "mixed number", "Indonesian thousands")
_THAI = str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙")


@dataclass(frozen=True)
class Variant:
    text: str  # what the model wrote
    gold: str
    equal: bool  # what the text means: the gold value or not
    kind: str
    lang: str = "en"


def answer_variants(gold: str, lang: str = "en") -> list[Variant]:
    """Right and wrong ways of writing `gold` (an integer or a fraction "a/b")."""
    value = Fraction(gold)
    out: list[tuple[str, bool, str]] = []
    if value.denominator == 1:
        n = value.numerator
        dotted = f"{n:,}".replace(",", ".")
        out += [(f"{n}", True, "plain"), (f"\\boxed{{{n}}}", True, "boxed"),
                (f"#### {n}", True, "GSM8K ####"), (f"The answer is {n}.", True, "answer cue"),
                (f"So the total is {n} apples.", True, "unit after"), (f"\\boxed{{{n + 1}}}", False, "off by one (boxed)"),
                (f"The answer is {n - 1}.", False, "off by one"), (f"{n * 10}", False, "times ten"),
                (f"First {n}, then the answer is {n + 2}.", False, "last answer wins"),
                ("I do not know.", False, "no answer")]
        if lang == "id":  # Indonesian writing: dots group thousands, a comma marks decimals
            out += [(f"{n},0", True, "decimal zero"), (f"Rp{dotted},00", True, "Indonesian thousands")]
            if abs(n) >= 1000:
                out.append((dotted, True, "Indonesian thousands"))
        else:
            out += [(f"{n}.0", True, "decimal zero"), (f"${n:,}.00", True, "currency"), (f"{n:,}", True, "thousands comma")]
        if abs(n) >= 1000:
            out.append((f"{n:,}".replace(",", " "), True, "thousands space"))
        if lang == "th":
            out.append((f"คำตอบคือ {str(n).translate(_THAI)}", True, "Thai digits"))
        if lang == "id" and abs(n) >= 1000:
            out.append((f"Jawabannya adalah Rp{dotted}.", True, "Indonesian thousands"))
    else:
        a, b = value.numerator, value.denominator
        out += [(f"{a}/{b}", True, "slash fraction"), (f"\\frac{{{a}}}{{{b}}}", True, "LaTeX fraction"),
                (f"\\boxed{{\\frac{{{a}}}{{{b}}}}}", True, "boxed fraction"), (f"{2 * a}/{2 * b}", True, "unreduced"),
                (f"{b}/{a}", False, "upside down"), (f"{a}/{b + 1}", False, "wrong denominator"),
                (f"The answer is {float(value) + 1:g}.", False, "off by one")]
        if float(value) == round(float(value), 6):
            out.append((f"The answer is {float(value):g}.", True, "decimal"))
        if a > b:
            out.append((f"{a // b} {a % b}/{b}", True, "mixed number"))
    return [Variant(t, gold, eq, kind, lang) for t, eq, kind in out]


def grade_with_math_verify(text: str, gold: str) -> bool:
    """math-verify's verdict: parse both, then verify(gold, prediction)."""
    mv = require("math_verify", "math-verify")
    return bool(mv.verify(mv.parse(gold), mv.parse(text)))


def agreement_with_math_verify(variants: list[Variant]) -> dict:
    """Grade every variant with ours (told its language) and with math-verify: agreement, accuracy, disagreements.

    `agreement_shared` leaves out the kinds of writing math-verify does not read (Thai digits,
    mixed numbers, dots as thousands separators): the agreement where both graders claim to work.
    """
    if not variants:
        raise ValueError("no variants to grade")
    rows = []
    for v in variants:
        ours = is_equivalent(extract_answer(v.text), v.gold, lang=v.lang)
        theirs = grade_with_math_verify(v.text, v.gold)
        rows.append({"text": v.text, "gold": v.gold, "kind": v.kind, "means": v.equal, "ours": ours,
                     "math_verify": theirs})
    n = len(rows)
    disagree = [r for r in rows if r["ours"] != r["math_verify"]]
    shared = [r for r in rows if r["kind"] not in BEYOND_MATH_VERIFY]
    return {"n": n, "agreement": 1 - len(disagree) / n,
            "agreement_shared": sum(r["ours"] == r["math_verify"] for r in shared) / max(1, len(shared)),
            "ours_correct": sum(r["ours"] == r["means"] for r in rows) / n,
            "math_verify_correct": sum(r["math_verify"] == r["means"] for r in rows) / n,
            "disagreements": disagree, "rows": rows}
