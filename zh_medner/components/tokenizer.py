"""`zh_medner.char_tokenizer.v1`: spaCy's Chinese character tokenizer, safe on any Python string.

A lone surrogate ("\\ud800", valid JSON) or a control character reaches the Hugging Face
tokenizer as text it cannot encode, and one bad record would crash a whole batch. Each such
character becomes U+FFFD before tokenizing: one character for one, so every offset stays where
the user's text has it.

This file is shipped in the wheel (`spacy package --code`): it imports nothing from `zh_medner`.
"""

import re

from spacy.lang.zh import ChineseTokenizer, Segmenter
from spacy.tokens import Doc
from spacy.util import registry

# lone surrogates, and control characters other than tab / newline / carriage return
UNSAFE = re.compile("[\ud800-\udfff\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
REPLACEMENT = "\ufffd"


class SafeChineseTokenizer(ChineseTokenizer):
    def __call__(self, text: str) -> Doc:
        if UNSAFE.search(text):
            text = UNSAFE.sub(REPLACEMENT, text)
        return super().__call__(text)


@registry.tokenizers("zh_medner.char_tokenizer.v1")
def create_char_tokenizer():
    def make(nlp):
        return SafeChineseTokenizer(nlp.vocab, segmenter=Segmenter.char)

    return make
