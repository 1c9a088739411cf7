"""Exercises: `check()` in notebooks, the registry of cases, student versions and grading."""

from llmcourse.exercises.registry import Case, Result, all_exercises, check, exercise, get_exercise, run_exercise

__all__ = ["Case", "Result", "all_exercises", "check", "exercise", "get_exercise", "run_exercise"]
