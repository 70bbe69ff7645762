"""The character vocabulary shared by every encoder this project builds.

One token per character: BERT's basic tokenizer splits CJK characters apart and
lower-cases, so Hanzi, punctuation and symbols are single tokens and Latin words
and numbers become `x ##y ##z` pieces ("hba1c" -> h ##b ##a ##1 ##c).
"""

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PAD, UNK, CLS, SEP, MASK = range(len(SPECIAL_TOKENS))
# Full-width and Chinese punctuation, units and symbols common in clinical text.
CJK_SYMBOLS = "，。、；：？！“”‘’（）【】《》〈〉「」『』—…～·℃°±×÷≤≥＜＞％＋－／＝μ↑↓→←"
LATIN_PIECES = ["##" + c for c in "abcdefghijklmnopqrstuvwxyz0123456789"]


def _ascii() -> list[str]:
    # the tokenizer lower-cases, so upper-case letters are never looked up
    return [chr(c) for c in range(33, 127) if not chr(c).isupper()]


def char_vocab() -> list[str]:
    """Every CJK Unified Ideograph: the stand-in encoder's vocabulary (no text needed)."""
    hanzi = [chr(c) for c in range(0x4E00, 0xA000)]
    return SPECIAL_TOKENS + _ascii() + LATIN_PIECES + list(CJK_SYMBOLS) + hanzi


def vocab_from_counts(counts: Counter, min_count: int) -> list[str]:
    """The characters a text uses at least `min_count` times (the rest become [UNK]).

    ASCII, the Latin pieces and the common CJK symbols are always kept, so numbers,
    units and punctuation never fall to [UNK] whatever the pretraining text held.
    """
    fixed = SPECIAL_TOKENS + _ascii() + LATIN_PIECES + list(CJK_SYMBOLS)
    seen = set(fixed)
    frequent = sorted(
        (
            c
            for c, n in counts.items()
            if n >= min_count and c not in seen and not c.isspace() and len(c) == 1
        ),
        key=lambda c: (-counts[c], c),
    )
    return fixed + frequent


def count_chars(lines: Iterable[str]) -> Counter:
    counts: Counter = Counter()
    for line in lines:
        counts.update(line.lower())
    return counts


def input_names(config) -> list[str]:
    """What the tokenizer should give a model of this config: BERT-like models take token type
    ids, ModernBERT's forward has no such argument."""
    if getattr(config, "type_vocab_size", 0):
        return ["input_ids", "token_type_ids", "attention_mask"]
    return ["input_ids", "attention_mask"]


def save_tokenizer(vocab: list[str], output_dir: Path, config=None):
    """Write vocab.txt and the fast tokenizer files, for a model of `config` (None: BERT-like);
    return the tokenizer."""
    from transformers import BertTokenizerFast

    names = {} if config is None else {"model_input_names": input_names(config)}
    output_dir.mkdir(parents=True, exist_ok=True)
    vocab_file = output_dir / "vocab.txt"
    vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf8")
    tokenizer = BertTokenizerFast(
        vocab_file=str(vocab_file), do_lower_case=True, tokenize_chinese_chars=True, **names
    )
    tokenizer.save_pretrained(str(output_dir))
    return tokenizer
