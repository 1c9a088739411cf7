"""Data pipeline (week 4): cleaning OCR-ed text, quality filters, language ID, deduplication,
language sampling, token shards and a memory-mapped DataLoader."""

from llmcourse.data.cleaning import (CLEANING_STEPS, clean_ocr, dehyphenate, fix_whitespace, normalize_unicode,
                                     strip_page_furniture, unwrap_lines)
from llmcourse.data.io import DocumentError, decode_bytes, read_document

__all__ = ["CLEANING_STEPS", "DocumentError", "clean_ocr", "decode_bytes", "dehyphenate", "fix_whitespace",
           "normalize_unicode", "read_document", "strip_page_furniture", "unwrap_lines"]
