"""A small, fast pipeline with the shipped pipeline's shape, for the serving and report tests.

span_head (a CNN tok2vec beside lexicon flags, trained to learn a few docs by heart) ->
zh_entity_ruler (two drug patterns, brand -> generic id) -> sentencizer -> zh_context (the
shipped rules), the order of configs/assemble.cfg. Built once per test process.
"""

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import spacy
import srsly
from spacy.training import Example
from spacy.util import fix_random_seed
from thinc.api import Config

from zh_medner.components.span_choice import SPANS_KEY, flat_choice
from zh_medner.components.span_head import DEFAULT_MODEL

from .conftest import ROOT

RULES = ROOT / "zh_medner" / "resources" / "context_rules_zh.json"
# the shipped pipeline's sentence ends: configs/assemble.cfg is their one place
ASSEMBLE = Config().from_disk(ROOT / "configs" / "assemble.cfg", interpolate=False)
SENTENCE_ENDS = ASSEMBLE["components"]["sentencizer"]["punct_chars"]
LABELS = ["DIS", "SYM", "DRU", "ITE"]
UPDATES = 60
# (text, [(start, end, label)]): nested 胃炎 inside 慢性胃炎
GOLD = [
    ("患者否认高血压病史，近三天胃痛。", [(4, 7, "DIS"), (13, 15, "SYM")]),
    ("患者慢性胃炎伴胃痛三天。", [(2, 6, "DIS"), (4, 6, "DIS"), (7, 9, "SYM")]),
    ("无发热，考虑肺炎。", [(1, 3, "SYM"), (6, 8, "DIS")]),
    ("复查血常规。", [(2, 5, "ITE")]),
]
# The dictionary: a brand name gives its generic name as the entity id
DRUG_PATTERNS = [
    {"label": "DRU", "pattern": "阿司匹林", "id": "阿司匹林"},
    {"label": "DRU", "pattern": "拜阿司匹灵", "id": "阿司匹林"},
]

# a CNN (the span head's default, smaller) beside lexicon flags, as the cmeee pipeline has the
# encoder beside them
CNN = {**Config().from_str(DEFAULT_MODEL)["model"]["tok2vec"], "width": 64, "depth": 2}
TOK2VEC = {
    "@layers": "concatenate.v1",
    "*": {"cnn": CNN, "lexicon": {"@architectures": "zh_medner.LexiconFlags.v1", "max_length": 8}},
}
LEXICON = {"DIS": ["高血压", "肺炎"], "DRU": ["阿司匹林"], "SYM": ["发热", "胃痛", "咳嗽"]}


def blank():
    return spacy.blank(
        "zh",
        config={
            "nlp": {"tokenizer": {"@tokenizers": "spacy.zh.ChineseTokenizer", "segmenter": "char"}}
        },
    )


def gold_docs(nlp):
    docs = []
    for text, ents in GOLD:
        doc = nlp.make_doc(text)
        spans = [doc.char_span(s, e, label=label) for s, e, label in ents]
        doc.spans[SPANS_KEY] = spans
        doc.ents = flat_choice(spans, LABELS)
        docs.append(doc)
    return docs


@functools.cache
def _built() -> Path:
    """The pipeline, trained and saved once per test process (removed at exit)."""
    fix_random_seed(0)
    nlp = blank()
    nlp.add_pipe("span_head", config={"model": {"max_length": 8, "tok2vec": TOK2VEC}})
    nlp.config["initialize"]["components"]["span_head"] = {"lexicon": LEXICON}
    examples = [Example(nlp.make_doc(d.text), d) for d in gold_docs(nlp)]
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(UPDATES):
        nlp.update(examples, sgd=optimizer, drop=0.0)
    ruler = nlp.add_pipe("zh_entity_ruler", name="entity_ruler", config={"overwrite_ents": False})
    ruler.add_patterns(DRUG_PATTERNS)
    nlp.add_pipe("sentencizer", config={"punct_chars": SENTENCE_ENDS})
    context = nlp.add_pipe("zh_context", name="context")
    context.initialize(lambda: [], nlp=nlp, rules=srsly.read_json(RULES))
    nlp.meta.update(name="medner_test", version="0.0.1", performance={"spans_sc_f": 1.0})
    path = Path(tempfile.mkdtemp(prefix="zh-medner-test-")) / "medner_test"
    atexit.register(shutil.rmtree, path.parent, ignore_errors=True)
    # through disk, not bytes: spaCy's EntityRuler.from_bytes drops its phrase patterns
    nlp.to_disk(path)
    return path


def small_pipeline():
    """A fresh copy of the trained pipeline (each caller may change its own)."""
    return spacy.load(_built())


def save_small_pipeline(path: Path) -> Path:
    shutil.copytree(_built(), path)
    return path
