"""`zh_context`: clinical context of each finding, from ConText-style rules, in linear time.

It sets Span extensions on `doc.ents` (and on the spans of `doc.spans["sc"]`): `negated`
(also readable as `negex`, negspacy's name, so code written for negspacy keeps working),
`uncertain`, `family`, `historical`, `hypothetical`, and `context_cues`: for each attribute
set, the cue that set it, `{"attribute", "cue", "start", "end"}` (character offsets), so a
user sees why a finding was negated.

The rules are data of the pipeline (context_rules.py describes them): a JSON resource given
at `initialize` and saved with the pipeline, so the wheel carries them. Cues are found with
spaCy's PhraseMatcher (on characters, after the resource's `normalise` table: 沒 reads as 没),
and each cue finds its findings by binary search inside its scope (context_marks.py), so a
record's cost grows with its length, not its square. Sentence ends are the pipeline's
(`doc.sents`); clauses, register and dialogue turns are in context_scope.py.

Cues overlap, since text is matched character by character: a cue that overlaps a longer cue
is part of it (不 in 不过 'but', 吗 in 要紧吗); a cue in a finding counts for it only where
its rule says `inside` (不烧, 没有痰; 体重无明显变化), and not where a longer cue makes it
part of a lexicalised finding (不适, 不舒服, 动脉导管未闭); a cue that crosses a finding's
edge is dropped. Two negation
cues next to one finding cancel (没有一天不头疼, 说不痒是假的).

`hypothetical` is a condition or a risk (要是有肠炎, 以防感染), kept apart from `uncertain`
(suspected, asked about). Corpora such as CMDD mark a condition uncertain: with
`hypothetical_as_uncertain = true` a hypothetical finding is uncertain too (and stays
hypothetical). A finding that is over or barely there (烧退了, 不怎么咳嗽) is negated by
default; CMDD scores it as present, which `soft_negation = false` follows. Likewise a finding
hedged by the speaker's own impression (好像有痰, 大概咳四五次) or asked about for its severity
(要紧吗) is uncertain by default; CMDD scores such a symptom as present: `soft_uncertainty =
false` (a diagnosis guessed at, 应该是积食, stays uncertain: its rules name DIS).

Why not negspacy or medspaCy: negspacy's NegEx has one scope rule for all cues and rebuilds
`doc[a:b].ents` per clause (quadratic: a 40,000-character record took 108 s); medspaCy 1.3
pins spaCy < 3.8 on Python 3.11 and pairs every modifier with every target of a doc.

This file is shipped in the wheel (`spacy package --code`, with its siblings context_rules.py,
context_scope.py and context_marks.py): it imports nothing else from `zh_medner`.
"""

from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path

import numpy
import srsly
from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc, Span
from spacy.util import registry

try:
    from .context_marks import CUES_EXTENSION, Cue, Marks, Targets, inside_hits, reach
    from .context_rules import (
        ALIASES,
        EXTENSIONS,
        REGISTERS,
        TERMINATE,
        RulesError,
        read_rules,
        validate_rules,
    )
    from .context_scope import REPLY_PUNCT, Scopes, joiner, limits, replies, scopes
except ImportError:  # `spacy package` imports each code file alone, outside its package
    from spacy.util import import_file

    _here = Path(__file__).parent
    _rules = import_file("context_rules", _here / "context_rules.py")
    _scope = import_file("context_scope", _here / "context_scope.py")
    _marks = import_file("context_marks", _here / "context_marks.py")
    ALIASES, EXTENSIONS, REGISTERS = _rules.ALIASES, _rules.EXTENSIONS, _rules.REGISTERS
    TERMINATE, validate_rules = _rules.TERMINATE, _rules.validate_rules
    RulesError, read_rules = _rules.RulesError, _rules.read_rules
    Scopes, scopes, joiner = _scope.Scopes, _scope.scopes, _scope.joiner
    REPLY_PUNCT = _scope.REPLY_PUNCT
    limits, replies = _scope.limits, _scope.replies
    CUES_EXTENSION, Cue, Marks = _marks.CUES_EXTENSION, _marks.Cue, _marks.Marks
    Targets, reach, inside_hits = _marks.Targets, _marks.reach, _marks.inside_hits

__all__ = ["EXTENSIONS", "ClinicalContext", "RulesError", "read_rules", "validate_rules"]
RULES_FILE = "rules.json"
SPANS_KEY = "sc"

for _ext in EXTENSIONS.values():
    if not Span.has_extension(_ext):
        Span.set_extension(_ext, default=False)


def _get_extension(span: Span, name: str):
    return span._.get(name)


for _alias, _ext in ALIASES.items():
    if not Span.has_extension(_alias):
        # a module-level function, not a lambda: nlp.pipe(n_process=2) pickles the getters
        # where processes are spawned (macOS, Windows, a spawned parent)
        Span.set_extension(_alias, getter=partial(_get_extension, name=_ext))
if not Span.has_extension(CUES_EXTENSION):
    Span.set_extension(CUES_EXTENSION, default=None)


def _registered(name: str):
    """A decorator that keeps the first registration: the zh-medner library and a packaged
    pipeline both ship this module, and spaCy refuses a second, different factory (E004)."""
    return (lambda func: func) if name in registry.factories else None


@(
    _registered("zh_context")
    or Language.factory(
        "zh_context",
        requires=["doc.ents", "doc.sents"],
        assigns=[f"span._.{ext}" for ext in EXTENSIONS.values()] + [f"span._.{CUES_EXTENSION}"],
        default_config={
            "register": "auto",
            "span_key": SPANS_KEY,
            "hypothetical_as_uncertain": False,
            "soft_negation": True,
            "soft_uncertainty": True,
        },
    )
)
def make_zh_context(
    nlp: Language,
    name: str,
    register: str,
    span_key: str | None,
    hypothetical_as_uncertain: bool,
    soft_negation: bool,
    soft_uncertainty: bool,
):
    return ClinicalContext(
        nlp,
        name,
        register=register,
        span_key=span_key,
        hypothetical_as_uncertain=hypothetical_as_uncertain,
        soft_negation=soft_negation,
        soft_uncertainty=soft_uncertainty,
    )


class ClinicalContext:
    """Sets negated / uncertain / family / historical / hypothetical, and the cues, on findings."""

    def __init__(
        self,
        nlp: Language,
        name: str = "context",
        *,
        register: str = "auto",
        span_key: str | None = SPANS_KEY,
        hypothetical_as_uncertain: bool = False,
        soft_negation: bool = True,
        soft_uncertainty: bool = True,
    ):
        if register not in ("auto",) + REGISTERS:
            raise ValueError(
                f"[{name}] register must be 'auto', 'any', 'chart' or 'speech', got {register!r}"
            )
        self.nlp, self.name, self.register, self.span_key = nlp, name, register, span_key
        self.hypothetical_as_uncertain = hypothetical_as_uncertain
        self.soft_negation = soft_negation
        self.soft_uncertainty = soft_uncertainty
        self.settings: dict | None = None
        self.matcher: PhraseMatcher | None = None

    # ----------------------------------------------------------------- rules

    def set_rules(self, data: dict, source: str = "rules") -> None:
        self.settings = validate_rules(data, source)
        self._raw = data
        self._table = str.maketrans(self.settings["normalise"])
        self.matcher = PhraseMatcher(self.nlp.vocab, attr="ORTH")
        self._by_key: dict[int, list] = {}
        literals: dict[str, list] = {}
        for rule in self.settings["rules"]:
            for literal in rule.literals:
                literals.setdefault(literal.translate(self._table), []).append(rule)
        for literal, rules in literals.items():
            key = f"{self.name}:{literal}"
            self._by_key[self.nlp.vocab.strings.add(key)] = rules
            self.matcher.add(key, [self.nlp.make_doc(literal)])
        self._enumeration = set("".join(self.settings["enumeration"]))
        self._particles = (
            set(self.settings["particles"]) | set(self.settings["clause"]) | set(REPLY_PUNCT)
        )
        negative = self.settings["negative_replies"]
        positive = self.settings["positive_replies"]
        self._replies = {**dict.fromkeys(positive, False), **dict.fromkeys(negative, True)}

    def initialize(
        self,
        get_examples: Callable[[], Iterable] | None = None,
        *,
        nlp=None,
        rules: dict | None = None,
    ):
        if rules is None:
            raise ValueError(
                f"[{self.name}] no rules given: set [initialize.components.{self.name}.rules]"
            )
        self.set_rules(rules, f"[initialize.components.{self.name}.rules]")

    # ------------------------------------------------------------ annotation

    def __call__(self, doc: Doc) -> Doc:
        if self.matcher is None:
            raise ValueError(
                f"[{self.name}] has no rules: initialize the pipeline with a rules file"
            )
        spans = self._findings(doc)
        if not spans:
            return doc
        targets = Targets(spans, len(doc))
        texts, normalised = self._texts(doc)
        scope = scopes(doc, texts, self.settings, self.register, self.name)
        matched = Doc(doc.vocab, words=texts) if normalised else doc
        self._mark(matched, texts, targets, scope).write(doc, targets.spans)
        return doc

    def _mark(self, doc: Doc, texts: list[str], targets: Targets, scope: Scopes) -> Marks:
        """Every cue's verdict on the findings it reaches, then the rules between verdicts."""
        marks = Marks(len(targets.spans))
        cues, terminations = self._cues(doc, texts, targets, scope)
        limit = limits(scope, terminations, texts, self._particles)
        joined = joiner(texts, self._enumeration)
        soft = {"NEGATED": self.soft_negation, "UNCERTAIN": self.soft_uncertainty}
        for cue in cues:
            if cue.rule.soft and not soft[cue.rule.categories[0]]:
                continue  # 烧退了: the fever was there (the cue still hides the 退 or 没 in it)
            if cue.inside:  # 不烧, 没有痰: a finding that opens with its own negation
                hits = inside_hits(cue, targets)
                marks.add(cue, hits, hits, hits)
            else:
                marks.add(cue, *reach(cue, targets, limit, joined))
        marks.resolve()
        if self.hypothetical_as_uncertain:
            marks.fold("HYPOTHETICAL", "UNCERTAIN")
        marks.last_word()
        for lo, hi, negative, cue in replies(texts, scope, self.settings, self._replies):
            for i in targets.after(lo, hi):
                marks.answer(i, negative, cue)
        return marks

    def _texts(self, doc: Doc) -> tuple[list[str], bool]:
        """Each token's text after the `normalise` table (沒 -> 没), and whether any changed.
        Read from the doc's arrays, one lookup per distinct token: no Token objects made."""
        orths, where = numpy.unique(doc.to_array("ORTH"), return_inverse=True)
        raw = [doc.vocab.strings[int(o)] for o in orths]
        texts = [t.translate(self._table) for t in raw]
        return [texts[i] for i in where.tolist()], texts != raw

    def _findings(self, doc: Doc) -> list[Span]:
        """doc.ents, and the spans of the span group that are not entities already."""
        spans = list(doc.ents)
        if self.span_key and self.span_key in doc.spans:
            seen = {(e.start, e.end, e.label) for e in spans}
            spans += [s for s in doc.spans[self.span_key] if (s.start, s.end, s.label) not in seen]
        return spans

    def _cues(self, doc: Doc, texts: list[str], targets: Targets, scope: Scopes):
        """(cues, terminations): the cues matched in `doc` (the normalised text), minus those
        in a longer cue, across a finding's edge, in a speaker prefix, or of another register;
        a cue inside a finding knows which."""
        found = []
        for key, start, end in self.matcher(doc):
            if scope.prefix[start:end].any():
                continue
            inside = ()
            if any(targets.covered[start:end]):
                inside = targets.containing(start, end)
                if not inside:
                    continue
            for rule in self._by_key[key]:
                if rule.register == "any" or (rule.register == "speech") == bool(
                    scope.speech[start]
                ):
                    found.append(Cue(start, end, rule, inside))
        # Longest first: a cue that overlaps a longer one is part of it; the rules of one
        # literal share its match.
        found.sort(key=lambda c: (c.start - c.end, c.start))
        taken, kept, last = bytearray(len(doc)), [], None
        for cue in found:
            span = (cue.start, cue.end)
            if span != last and any(taken[cue.start : cue.end]):
                continue
            taken[cue.start : cue.end] = b"\x01" * (cue.end - cue.start)
            last = span
            kept.append(cue)
        kept.sort(key=lambda c: c.start)
        terminations = [c for c in kept if c.rule.kind == TERMINATE and not c.inside]
        modifiers = [c for c in kept if c.rule.kind == "MODIFIER"]
        return [c for c in modifiers if c.rule.inside or not c.inside], terminations

    def pipe(self, stream: Iterable[Doc], batch_size: int = 128):
        for doc in stream:
            yield self(doc)

    # --------------------------------------------------------- serialisation

    def to_disk(self, path: str | Path, *, exclude=tuple()) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        srsly.write_json(path / RULES_FILE, self._raw)

    def from_disk(self, path: str | Path, *, exclude=tuple()) -> "ClinicalContext":
        path = Path(path) / RULES_FILE
        self.set_rules(srsly.read_json(path), str(path))
        return self

    def to_bytes(self, *, exclude=tuple()) -> bytes:
        return srsly.json_dumps(self._raw).encode("utf8")

    def from_bytes(self, data: bytes, *, exclude=tuple()) -> "ClinicalContext":
        self.set_rules(srsly.json_loads(data.decode("utf8")), f"[{self.name}] bytes")
        return self
