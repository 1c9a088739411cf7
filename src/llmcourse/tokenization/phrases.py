"""A SentencePiece tokenizer for the en→id phrase corpus of notebook 3.3.

BERT, GPT and T5 are compared on one task, so they share one tokenizer: a byte-fallback
BPE trained with SentencePiece on both sides of the training pairs
(`llmcourse.assets.translation`). It follows the course's tokenizer protocol (`encode`,
`decode`, `vocab_size`) and adds the ids the three models need: `pad_id`, `bos_id`,
`eos_id`, `mask_id` (BERT), `sep_id` (between source and target) and `special_ids`.
"""

from __future__ import annotations

import io
from typing import Iterable

from llmcourse.assets.registry import require

__all__ = ["PhraseTokenizer", "SPECIALS", "phrase_tokenizer", "train_phrase_tokenizer"]

SPECIALS = ("<pad>", "<unk>", "<s>", "</s>", "<mask>", "<sep>")


class PhraseTokenizer:
    """A SentencePiece BPE tokenizer with byte fallback, shared by English and Indonesian.

    Ids 0-5 are the specials `<pad> <unk> <s> </s> <mask> <sep>`, then the 256 byte
    pieces `<0x00>`..`<0xFF>`, then the learned pieces. *Byte fallback* means a character
    the training text never showed (Thai, Chinese, an emoji) is spelled as its UTF-8
    bytes instead of becoming `<unk>`, so `decode(encode(s)) == s` for every string.
    Normalisation is off ("identity") for the same reason.
    """

    def __init__(self, model_proto: bytes):
        spm = require("sentencepiece")
        self.proto = model_proto
        self.sp = spm.SentencePieceProcessor(model_proto=model_proto)
        self.pad_id, self.unk_id, self.bos_id, self.eos_id = 0, 1, 2, 3
        self.mask_id, self.sep_id = self.sp.piece_to_id("<mask>"), self.sp.piece_to_id("<sep>")
        assert (self.mask_id, self.sep_id) == (4, 5), "specials must sit at ids 4 and 5"
        self.special_ids = tuple(range(len(SPECIALS)))

    @property
    def vocab_size(self) -> int:
        return self.sp.get_piece_size()

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`, without specials."""
        return list(self.sp.encode(text))

    def decode(self, ids: Iterable[int]) -> str:
        """Text of `ids`; specials are dropped and decoding stops at the first `</s>`."""
        out: list[int] = []
        for i in ids:
            i = int(i)
            if i == self.eos_id:
                break
            if i not in self.special_ids:
                out.append(i)
        return self.sp.decode(out)

    def pieces(self, ids: Iterable[int]) -> list[str]:
        """The piece (sub-word string) of each id, for showing how a text was split."""
        return [self.sp.id_to_piece(int(i)) for i in ids]


def train_phrase_tokenizer(texts: Iterable[str], vocab_size: int = 800) -> PhraseTokenizer:
    """Train a byte-fallback BPE on `texts` (both languages), in memory, in well under a second.

    Deterministic: the same texts give the same model. `vocab_size` counts the 6 specials
    and 256 byte pieces, so it must be larger than 262 plus the distinct characters.
    """
    spm = require("sentencepiece")
    texts = [t for t in texts if t]
    if not texts:
        raise ValueError("no text to train a tokenizer on: pass the training pairs' sources and targets")
    proto = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(texts), model_writer=proto, vocab_size=vocab_size,
            model_type="bpe", byte_fallback=True, character_coverage=1.0,
            normalization_rule_name="identity", pad_id=0, unk_id=1, bos_id=2, eos_id=3,
            user_defined_symbols=list(SPECIALS[4:]), minloglevel=2, num_threads=1,
            hard_vocab_limit=False, remove_extra_whitespaces=False,
        )
    except RuntimeError as err:
        raise ValueError(f"SentencePiece could not train with vocab_size={vocab_size}: {err}. "
                         "Use a vocab_size above 262 + the number of distinct characters.") from None
    return PhraseTokenizer(proto.getvalue())


def phrase_tokenizer(vocab_size: int = 800) -> PhraseTokenizer:
    """The tokenizer of notebook 3.3: trained on the en→id phrase corpus' train split (both sides)."""
    from llmcourse.assets.translation import translation_pairs

    train = translation_pairs("train")
    return train_phrase_tokenizer([t for p in train for t in (p.source, p.target)], vocab_size)
