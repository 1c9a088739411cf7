"""Exercises of notebook 5.3 (preferences). Oracles: torch's binary cross-entropy with logits (a
Bradley-Terry preference is a binary label "chosen beats rejected"), and the DPO paper's formula
through it."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from llmcourse.exercises.registry import Case, exercise


def _bce(x):
    return F.binary_cross_entropy_with_logits(x, torch.ones_like(x))


def _bt_no_log(rc, rr):
    return -torch.sigmoid(rc - rr).mean()


def _bt_swapped(rc, rr):
    return -F.logsigmoid(rr - rc).mean()


def _bt_sum(rc, rr):
    return -F.logsigmoid(rc - rr).sum()


@exercise("alignment.bradley_terry", difficulty=1, minutes=10, reference="llmcourse.alignment.reward:bradley_terry_loss",
          wrong={"sigmoid without the log": _bt_no_log, "chosen and rejected swapped": _bt_swapped,
                 "sum, not mean": _bt_sum},
          hint="-F.logsigmoid(r_chosen - r_rejected).mean()")
def _bt():
    g = torch.Generator().manual_seed(2)
    for n in (1, 4, 32):
        rc, rr = torch.randn(n, generator=g) * 2, torch.randn(n, generator=g) * 2
        yield Case(f"{n} pairs", args=(rc, rr), expected=_bce(rc - rr))
    big = torch.tensor([60.0, -60.0])
    yield Case("large margins stay finite", args=(big, -big), expected=_bce(2 * big))


def _dpo_oracle(pc, pr, rc, rr, beta):
    z = beta * ((pc - rc) - (pr - rr))
    return _bce(z), beta * (pc - rc), beta * (pr - rr)


def _dpo_no_reference(pc, pr, rc, rr, beta=0.1):
    return -F.logsigmoid(beta * (pc - pr)).mean(), beta * pc, beta * pr


def _dpo_beta_outside(pc, pr, rc, rr, beta=0.1):
    z = (pc - rc) - (pr - rr)
    return -beta * F.logsigmoid(z).mean(), beta * (pc - rc), beta * (pr - rr)


def _dpo_rewards_unscaled(pc, pr, rc, rr, beta=0.1):
    z = beta * ((pc - rc) - (pr - rr))
    return -F.logsigmoid(z).mean(), pc - rc, pr - rr


@exercise("alignment.dpo_loss", difficulty=2, minutes=15, reference="llmcourse.alignment.dpo:dpo_loss",
          wrong={"no reference model": _dpo_no_reference, "beta outside the sigmoid": _dpo_beta_outside,
                 "rewards not scaled by beta": _dpo_rewards_unscaled},
          hint="chosen = policy_chosen - ref_chosen, rejected = policy_rejected - ref_rejected (log-ratios); "
               "loss = -logsigmoid(beta * (chosen - rejected)).mean(); rewards = beta * each log-ratio, detached")
def _dpo():
    g = torch.Generator().manual_seed(4)
    for n, beta in ((3, 0.1), (8, 0.5), (1, 2.0)):
        pc, pr, rc, rr = (torch.randn(n, generator=g) * 5 - 20 for _ in range(4))
        yield Case(f"{n} pairs, beta={beta}", args=(pc, pr, rc, rr, beta), expected=_dpo_oracle(pc, pr, rc, rr, beta))
