"""`zh_context`: clinical context of each finding, from ConText-style rules, in linear time.

It sets five Span extensions on `doc.ents` (and on the spans of `doc.spans["sc"]`):
`negex` (negated; negspacy's name, so code written for negspacy keeps working),
`uncertain`, `family`, `historical` and `hypothetical`.

The rules are data of the pipeline: a JSON resource given at `initialize` and saved
with the pipeline, so the wheel carries them. Like medspaCy's ConText rules, each rule
names its cue words and says
- its category (NEGATED, UNCERTAIN, FAMILY, HISTORICAL, HYPOTHETICAL), or that it is a
  TERMINATE cue (ends the scope of the categories it lists) or a PSEUDO cue (a phrase
  that looks like a cue and is not: 无明显诱因, 不排除, 吃不下);
- its direction: forward, backward, bidirectional, or nearest (forward if a finding
  follows within scope, else backward: 没有发烧 / 发烧没有);
- its scope: up to the end of the clause (，；：) or of the sentence, and at most
  `max_scope` characters;
- the entity types it applies to, and the register it belongs to (chart, speech or any);
- `unless`: categories that block it (高血压病史 is history, 否认高血压病史 is not;
  for NEGATED only a denial before the finding blocks, not a later 已治愈).

Two negation cues next to one finding cancel out (没有一天不头疼, 说不痒是假的).

Why not negspacy or medspaCy: negspacy's NegEx has one scope rule for all cues and
rebuilds `doc[a:b].ents` per clause (quadratic in the text length: a 40,000-character
record took 108 s); medspaCy 1.3 pins spaCy < 3.8 on Python 3.11 and pairs every
modifier with every target in a doc. Here cues are found with spaCy's PhraseMatcher,
and each cue finds its targets by binary search within its scope, so a record's cost
grows with its length, not its square.

Text is matched character by character, so cues overlap: a cue that overlaps a longer
cue is dropped (不 in 不过 'but', 无 in 无明显诱因, 吗 in 要紧吗), and a cue inside a
finding is part of the finding (未 in 动脉导管未闭).

This file is shipped in the wheel (`spacy package --code`): it imports nothing
from `zh_medner`.
"""

import bisect
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy
import srsly
from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc, Span
from spacy.util import registry

# category -> the Span extension it sets
EXTENSIONS = {
    "NEGATED": "negex",
    "UNCERTAIN": "uncertain",
    "FAMILY": "family",
    "HISTORICAL": "historical",
    "HYPOTHETICAL": "hypothetical",
}
TERMINATE, PSEUDO = "TERMINATE", "PSEUDO"
CATEGORIES = tuple(EXTENSIONS) + (TERMINATE, PSEUDO)
DIRECTIONS = ("forward", "backward", "bidirectional", "nearest")
SCOPES = ("clause", "sentence")
REGISTERS = ("any", "chart", "speech")
RULES_FILE = "rules.json"
SPANS_KEY = "sc"

for _ext in EXTENSIONS.values():
    if not Span.has_extension(_ext):
        Span.set_extension(_ext, default=False)


class RulesError(ValueError):
    pass


def validate_rules(data: dict, source: str = "rules") -> dict:
    """Check a rules document; return it with every default filled in."""
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise RulesError(f"{source}: expected a JSON object with a 'rules' list")
    known = {
        "literal",
        "category",
        "direction",
        "scope",
        "max_scope",
        "types",
        "register",
        "terminates",
        "unless",
        "comment",
    }
    defaults = data.get("defaults", {})
    default_types = defaults.get("types", ["DIS", "SYM", "ITE"])
    out = []
    for i, rule in enumerate(data["rules"]):
        where = f"{source}: rule {i + 1}"
        if not isinstance(rule, dict):
            raise RulesError(f"{where}: expected an object")
        extra = set(rule) - known
        if extra:
            raise RulesError(f"{where}: unknown key(s) {sorted(extra)}; allowed: {sorted(known)}")
        literals = rule.get("literal")
        literals = [literals] if isinstance(literals, str) else literals
        if not literals or not all(isinstance(x, str) and x.strip() for x in literals):
            raise RulesError(f"{where}: 'literal' must be a non-empty string or list of strings")
        category = rule.get("category")
        categories = [category] if isinstance(category, str) else category
        if (
            not categories
            or not all(c in CATEGORIES for c in categories)
            or (len(categories) > 1 and not set(categories) <= set(EXTENSIONS))
        ):
            raise RulesError(
                f"{where} ({literals[0]}): category must be one of {list(CATEGORIES)} "
                f"(or a list of the first five), got {category!r}"
            )
        r = {
            "literal": list(literals),
            "categories": list(categories),
            "direction": rule.get("direction", defaults.get("direction", "forward")),
            "scope": rule.get("scope", defaults.get("scope", "clause")),
            "max_scope": rule.get("max_scope", defaults.get("max_scope", 30)),
            "types": rule.get("types", default_types),
            "register": rule.get("register", "any"),
            "terminates": rule.get("terminates", list(EXTENSIONS)),
            "unless": rule.get("unless", []),
        }
        if r["direction"] not in DIRECTIONS:
            raise RulesError(
                f"{where} ({literals[0]}): direction must be one of {list(DIRECTIONS)}"
            )
        if r["scope"] not in SCOPES:
            raise RulesError(f"{where} ({literals[0]}): scope must be one of {list(SCOPES)}")
        if r["register"] not in REGISTERS:
            raise RulesError(f"{where} ({literals[0]}): register must be one of {list(REGISTERS)}")
        if not isinstance(r["max_scope"], int) or r["max_scope"] < 1:
            raise RulesError(f"{where} ({literals[0]}): max_scope must be a positive integer")
        if r["types"] != "*" and not (
            isinstance(r["types"], list) and all(isinstance(t, str) for t in r["types"])
        ):
            raise RulesError(f'{where} ({literals[0]}): types must be a list of labels or "*"')
        if not set(r["unless"]) <= set(EXTENSIONS):
            raise RulesError(
                f"{where} ({literals[0]}): unless must list categories of {list(EXTENSIONS)}"
            )
        if not set(r["terminates"]) <= set(EXTENSIONS):
            raise RulesError(
                f"{where} ({literals[0]}): terminates must list categories of {list(EXTENSIONS)}"
            )
        out.append(r)
    boundaries = data.get("boundaries", {})
    return {
        "defaults": defaults,
        "boundaries": {
            "clause": boundaries.get("clause", list("，,；;：:")),
            "sentence": boundaries.get("sentence", list("。！？!?\n")),
            "speech_markers": boundaries.get("speech_markers", []),
        },
        "rules": out,
    }


class _Cue:
    __slots__ = ("start", "end", "rule")

    def __init__(self, start: int, end: int, rule: dict):
        self.start, self.end, self.rule = start, end, rule


def _registered(name: str):
    """A decorator that keeps the first registration: the zh-medner library and a packaged
    pipeline both ship this module, and spaCy refuses a second, different factory (E004)."""
    return (lambda func: func) if name in registry.factories else None


@(
    _registered("zh_context")
    or Language.factory(
        "zh_context",
        requires=["doc.ents", "doc.sents"],
        assigns=[f"span._.{ext}" for ext in EXTENSIONS.values()],
        default_config={"register": "auto", "span_key": SPANS_KEY},
    )
)
def make_zh_context(nlp: Language, name: str, register: str, span_key: str | None):
    return ClinicalContext(nlp, name, register=register, span_key=span_key)


class ClinicalContext:
    """Sets negex / uncertain / family / historical / hypothetical on each finding."""

    def __init__(
        self,
        nlp: Language,
        name: str = "context",
        *,
        register: str = "auto",
        span_key: str | None = SPANS_KEY,
    ):
        if register not in ("auto",) + REGISTERS:
            raise ValueError(
                f"[{name}] register must be 'auto', 'any', 'chart' or 'speech', got {register!r}"
            )
        self.nlp, self.name, self.register, self.span_key = nlp, name, register, span_key
        self.rules: dict | None = None
        self.matcher: PhraseMatcher | None = None

    # ----------------------------------------------------------------- rules

    def set_rules(self, data: dict, source: str = "rules") -> None:
        self.rules = validate_rules(data, source)
        self._raw = data
        self.matcher = PhraseMatcher(self.nlp.vocab, attr="ORTH")
        self._by_key: dict[int, list[dict]] = {}
        literals: dict[str, list[dict]] = {}
        for rule in self.rules["rules"]:
            for lit in rule["literal"]:
                literals.setdefault(lit, []).append(rule)
        for lit, rules in literals.items():
            key = f"{self.name}:{lit}"
            self._by_key[self.nlp.vocab.strings.add(key)] = rules
            self.matcher.add(key, [self.nlp.make_doc(lit)])
        b = self.rules["boundaries"]
        self._clause = set(b["clause"])
        self._sentence = set(b["sentence"])
        self._speech = b["speech_markers"]

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
        targets = list(doc.ents)
        if self.span_key and self.span_key in doc.spans:
            seen = {(e.start, e.end, e.label) for e in targets}
            targets += [
                s for s in doc.spans[self.span_key] if (s.start, s.end, s.label) not in seen
            ]
        if not targets or not len(doc):
            return doc
        targets.sort(key=lambda s: (s.start, s.end))
        starts = [t.start for t in targets]
        ends = sorted((t.end, i) for i, t in enumerate(targets))
        end_keys = [e for e, _ in ends]
        inside = numpy.zeros(len(doc) + 1, dtype=numpy.int32)  # tokens covered by a finding
        for t in targets:
            inside[t.start] += 1
            inside[t.end] -= 1
        covered = numpy.cumsum(inside)[: len(doc)] > 0
        clause_end, clause_start, sent_end, sent_start, speech = self._segments(doc)
        cues = self._cues(doc, covered, speech)
        terminations = [c for c in cues if c.rule["categories"][0] == TERMINATE]
        term_pos = [c.start for c in terminations]
        flags = [dict.fromkeys(EXTENSIONS, False) for _ in targets]
        negators: list[set] = [set() for _ in targets]  # negation cues next to each finding
        denied = [False] * len(targets)  # negated by a cue before it (否认, 没有), not a later 好了
        deferred = []
        for cue in cues:
            rule = cue.rule
            categories = rule["categories"]
            if categories[0] in (TERMINATE, PSEUDO):
                continue
            types = rule["types"]
            direction = rule["direction"]
            hits: list[int] = []
            nearest = []
            if direction in ("forward", "bidirectional", "nearest"):
                hi = self._forward_limit(cue, clause_end, sent_end, terminations, term_pos)
                a, b = bisect.bisect_left(starts, cue.end), bisect.bisect_left(starts, hi)
                found = [i for i in range(a, b) if _allowed(targets[i], types)]
                hits += found
                nearest += found[:1]
                forward = set(found)
            else:
                forward = set()
            if direction in ("backward", "bidirectional") or (direction == "nearest" and not hits):
                lo = self._backward_limit(cue, clause_start, sent_start, terminations, term_pos)
                a, b = bisect.bisect_right(end_keys, lo), bisect.bisect_right(end_keys, cue.start)
                found = [ends[j][1] for j in range(a, b) if _allowed(targets[ends[j][1]], types)]
                hits += found
                nearest += found[-1:]
            if rule["unless"]:
                deferred.append((categories, hits, rule["unless"]))
                continue
            for i in hits:
                for category in categories:
                    flags[i][category] = True
            if "NEGATED" in categories:
                for i in nearest:
                    negators[i].add(cue.start)
                for i in forward:
                    denied[i] = True
        for i, cues_next_to in enumerate(negators):
            if len(cues_next_to) >= 2:  # double negation: 没有一天不头疼, 说不痒是假的
                flags[i]["NEGATED"] = denied[i] = False
        for categories, hits, unless in deferred:
            for i in hits:
                # `unless: NEGATED` means denied: 否认高血压病史 (a later 已治愈 keeps the history)
                if not any(denied[i] if u == "NEGATED" else flags[i][u] for u in unless):
                    for category in categories:
                        flags[i][category] = True
        for target, flag in zip(targets, flags):
            for category, ext in EXTENSIONS.items():
                target._.set(ext, flag[category])
        return doc

    def _segments(self, doc: Doc):
        """Clause and sentence bounds per token, and whether each sentence is patient speech."""
        n = len(doc)
        texts = [t.text for t in doc]
        sent_break = numpy.zeros(n, dtype=bool)
        if doc.has_annotation("SENT_START"):
            for sent in doc.sents:
                if sent.start:
                    sent_break[sent.start] = True
        for i, text in enumerate(texts):
            if text in self._sentence and i + 1 < n:
                sent_break[i + 1] = True
        clause_break = sent_break.copy()
        for i, text in enumerate(texts):
            if text in self._clause and i + 1 < n:
                clause_break[i + 1] = True
        clause_start, clause_end = _segment_bounds(clause_break)
        sent_start, sent_end = _segment_bounds(sent_break)
        return (
            clause_end,
            clause_start,
            sent_end,
            sent_start,
            self._speech_tokens(texts, sent_break),
        )

    def _speech_tokens(self, texts, sent_break):
        """Per token: does its sentence read as patient speech (register 'auto')?"""
        n = len(texts)
        if self.register != "auto":
            return numpy.full(n, self.register == "speech")
        out = numpy.zeros(n, dtype=bool)
        bounds = [0] + numpy.flatnonzero(sent_break).tolist() + [n]
        for a, b in zip(bounds[:-1], bounds[1:]):
            sentence = "".join(texts[a:b])
            out[a:b] = any(m in sentence for m in self._speech)
        return out

    def _cues(self, doc: Doc, covered, speech) -> list[_Cue]:
        """Matched cues, minus those in a longer cue, inside a finding, or of another register."""
        found: list[_Cue] = []
        for key, start, end in self.matcher(doc):
            if covered[start:end].any():
                continue
            for rule in self._by_key[key]:
                reg = rule["register"]
                if reg == "any" or (reg == "speech") == bool(speech[start]):
                    found.append(_Cue(start, end, rule))
        # Longest first: a cue that overlaps a longer one is part of it (不 in 不过,
        # 也不 in 不确定); the rules of one literal share its match.
        found.sort(key=lambda c: (c.start - c.end, c.start))
        taken = numpy.zeros(len(doc), dtype=bool)
        kept: list[_Cue] = []
        last = None
        for cue in found:
            span = (cue.start, cue.end)
            if span != last and taken[cue.start : cue.end].any():
                continue
            taken[cue.start : cue.end] = True
            last = span
            kept.append(cue)
        kept.sort(key=lambda c: c.start)
        return kept

    @staticmethod
    def _forward_limit(cue, clause_end, sent_end, terminations, term_pos) -> int:
        rule = cue.rule
        categories = set(rule["categories"])
        bound = clause_end if rule["scope"] == "clause" else sent_end
        limit = min(int(bound[cue.end - 1]), cue.end + rule["max_scope"])
        i = bisect.bisect_left(term_pos, cue.end)
        while i < len(terminations) and terminations[i].start < limit:
            if categories & set(terminations[i].rule["terminates"]):
                return terminations[i].start
            i += 1
        return limit

    @staticmethod
    def _backward_limit(cue, clause_start, sent_start, terminations, term_pos) -> int:
        rule = cue.rule
        categories = set(rule["categories"])
        bound = clause_start if rule["scope"] == "clause" else sent_start
        limit = max(int(bound[cue.start]), cue.start - rule["max_scope"])
        i = bisect.bisect_left(term_pos, cue.start) - 1
        while i >= 0 and terminations[i].end > limit:
            if terminations[i].end <= cue.start and categories & set(
                terminations[i].rule["terminates"]
            ):
                return terminations[i].end
            i -= 1
        return limit

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


def _allowed(span: Span, types) -> bool:
    return types == "*" or span.label_ in types


def _segment_bounds(breaks) -> tuple[numpy.ndarray, numpy.ndarray]:
    """Per token: where its segment starts and where it ends (a break starts a segment)."""
    breaks = numpy.asarray(breaks, dtype=bool).copy()
    breaks[:1] = False  # token 0 always starts the first segment
    bounds = numpy.concatenate([[0], numpy.flatnonzero(breaks), [len(breaks)]])
    segment = numpy.cumsum(breaks)
    return bounds[segment], bounds[segment + 1]


def read_rules(path: str | Path) -> dict:
    """A rules file as written, after checking it (errors name the file and the rule)."""
    data = srsly.read_json(path)
    validate_rules(data, str(path))
    return data
