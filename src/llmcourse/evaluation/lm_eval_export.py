"""The course benchmark as a local task of lm-evaluation-harness (`lm-eval`), the tool practitioners use.

lm-evaluation-harness describes a task in YAML: where the data is (`dataset_path: json`
with local `data_files` works offline), how a document becomes a prompt (`doc_to_text`),
its choices and target, the output type and the metrics. We write one task per kind:

    <dir>/llmcourse_choice.yaml + choice.jsonl   multiple choice, scored by log-likelihood
                                                 (metrics acc and acc_norm: exactly our "choice" grader)
    <dir>/llmcourse_math.yaml   + math.jsonl     generate until a blank line; a regex keeps
                                                 the last number; exact match (stricter than
                                                 our grader, which reads 1,234 = 1234.0)

Then `lm_eval --model hf --model_args pretrained=DIR --include_path <dir> --tasks
llmcourse_choice` scores any Hugging Face model on our items, and `run_lm_eval(...)` does the
same from Python — with their model backend, or with ours wrapped as an `lm_eval` LM.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from llmcourse.assets.registry import require
from llmcourse.evaluation.benchmark import Item

__all__ = ["export_lm_eval_tasks", "run_lm_eval", "as_lm_eval_model", "CHOICE_TASK", "MATH_TASK"]

CHOICE_TASK, MATH_TASK = "llmcourse_choice", "llmcourse_math"


def _yaml(task: dict) -> str:
    """A tiny YAML writer for our flat task configs (JSON is valid YAML for the values)."""
    lines = []
    for key, value in task.items():
        lines.append(f"{key}: {json.dumps(value, ensure_ascii=False)}")
    return "\n".join(lines) + "\n"


def export_lm_eval_tasks(items: Sequence[Item], out_dir: str | Path, version: str = "1.0") -> dict[str, Path]:
    """Write the choice and math items as lm-eval tasks in `out_dir`; returns {task name: yaml path}."""
    from llmcourse.evaluation.math_problems import MathProblem, few_shot_prompt
    from llmcourse.evaluation.runner import MATH_STOPS, _shots

    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    choice = [it for it in items if it.grader == "choice"]
    if choice:
        data = out / "choice.jsonl"
        data.write_text("".join(json.dumps({"id": it.id, "prompt": it.prompt, "choices": it.choices,
                                            "answer_index": it.answer_index, "category": it.category,
                                            "language": it.language}, ensure_ascii=False) + "\n"
                                for it in choice), encoding="utf-8")
        task = {"task": CHOICE_TASK, "dataset_path": "json", "dataset_kwargs": {"data_files": {"test": str(data)}},
                "test_split": "test", "output_type": "multiple_choice", "doc_to_text": "prompt",
                "doc_to_choice": "choices", "doc_to_target": "answer_index", "target_delimiter": "",
                "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True},
                                {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True}],
                "metadata": {"version": float(version)}}
        written[CHOICE_TASK] = out / f"{CHOICE_TASK}.yaml"
        written[CHOICE_TASK].write_text(_yaml(task), encoding="utf-8")
    math = [it for it in items if it.grader == "math"]
    if math:
        shots = _shots()
        data = out / "math.jsonl"
        data.write_text("".join(json.dumps({"id": it.id, "prompt": few_shot_prompt(
            MathProblem(it.language, it.difficulty, "", it.prompt, it.reference, ""), shots.get(it.language, [])),
            "reference": it.reference, "language": it.language}, ensure_ascii=False) + "\n" for it in math),
            encoding="utf-8")
        task = {"task": MATH_TASK, "dataset_path": "json", "dataset_kwargs": {"data_files": {"test": str(data)}},
                "test_split": "test", "output_type": "generate_until", "doc_to_text": "prompt",
                "doc_to_target": "reference",
                "generation_kwargs": {"until": list(MATH_STOPS), "do_sample": False, "max_gen_toks": 96},
                "filter_list": [{"name": "last-number", "filter": [
                    {"function": "regex", "regex_pattern": r"(-?\d+(?:/\d+)?)", "group_select": -1},
                    {"function": "take_first"}]}],
                "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True}],
                "metadata": {"version": float(version)}}
        written[MATH_TASK] = out / f"{MATH_TASK}.yaml"
        written[MATH_TASK].write_text(_yaml(task), encoding="utf-8")
    if not written:
        raise ValueError("no choice or math items to export")
    return written


def as_lm_eval_model(lm):
    """Wrap one of our `EvalLM`s as an lm-evaluation-harness LM (loglikelihood and generate_until)."""
    api = require("lm_eval.api.model", "lm-eval")

    class Wrapped(api.LM):
        def loglikelihood(self, requests, disable_tqdm: bool = False):
            return lm.loglikelihood([r.args for r in requests])

        def generate_until(self, requests, disable_tqdm: bool = False):
            out = []
            for r in requests:
                context, kwargs = r.args
                out.append(lm.generate([context], kwargs.get("max_gen_toks", 96), kwargs.get("until", ()))[0])
            return out

        def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
            raise NotImplementedError("the course tasks do not use rolling log-likelihood")

    return Wrapped()


def run_lm_eval(model, task_dir: str | Path, tasks: Sequence[str] = (CHOICE_TASK,), model_args: str | None = None,
                limit: int | None = None) -> dict:
    """lm-eval's scores of `model` on our exported tasks: {task: {metric: value}} plus its per-sample logs.

    model: "hf" (lm-eval's own Hugging Face backend; give model_args="pretrained=DIR") or one
    of our EvalLMs (wrapped with `as_lm_eval_model`).
    """
    lm_eval = require("lm_eval", "lm-eval")
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_path=str(Path(task_dir).resolve()))
    if not isinstance(model, str):
        model = as_lm_eval_model(model)
    res = lm_eval.simple_evaluate(model=model, model_args=model_args, tasks=list(tasks), task_manager=manager,
                                  limit=limit, batch_size=8, device="cpu", log_samples=True, bootstrap_iters=0)
    scores = {t: {k.split(",")[0]: v for k, v in res["results"][t].items() if "stderr" not in k and k != "alias"}
              for t in tasks}
    return {"scores": scores, "samples": res.get("samples", {})}
