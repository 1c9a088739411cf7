"""llmcourse: the library the course's notebooks build, one topic at a time.

Notebooks start with `from llmcourse import setup, check; cfg = setup("1.1")`.
"""

from llmcourse.config import Config, setup
from llmcourse.exercises.registry import check

__all__ = ["Config", "check", "setup"]
__version__ = "0.1.0"
