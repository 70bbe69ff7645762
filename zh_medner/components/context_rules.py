"""The rules of `zh_context` as data: the JSON resource, checked, as `Rule` objects.

A rules document is a JSON object:
- `rules`: a list of rules. Each names its cue words (`literal`) and says
  - its `category`: NEGATED, UNCERTAIN, FAMILY, HISTORICAL, HYPOTHETICAL (or a list of
    these), TERMINATE (ends the scope of the categories in `terminates`) or PSEUDO (looks
    like a cue and is not: 无明显诱因, 不排除, 吃不下; it hides the cues it overlaps);
  - its `direction`: forward, backward, bidirectional, or nearest (forward if a finding
    follows within scope, else backward if the cue ends its clause: 没有发烧 / 发烧没有);
  - its `scope`: the clause (，；：) or the sentence (the pipeline's `doc.sents`), at most
    `max_scope` characters, and `max_gap`: at most that many characters between cue and
    finding (没 negates the verb right after it: 水没喝几口就吐了 leaves 吐 alone);
  - `types` (entity labels, or "*"), `register` (chart, speech or any), `unless`
    (categories that block it: 否认高血压病史 is no history), `inside`: the cue also counts
    in a finding, where it opens it ("start": 不烧, 没有痰) or "anywhere" (体重无明显变化),
    unless a longer cue there makes it part of a lexicalised finding (不适, 不舒服, 未闭);
    `soft`: a NEGATED cue of a finding that is over or barely there (烧退了, 不怎么咳嗽), or
    an UNCERTAIN cue of the speaker's own impression or of a question about severity (好像,
    大概, 要紧吗), which counts only where the pipeline's `soft_negation` or `soft_uncertainty`
    is on (the defaults).
- `defaults`: direction, scope, max_scope and types of a rule that does not say.
- `boundaries`: `clause` characters, `speech_markers` (a sentence holding one reads as
  patient speech), and the words of an `enumeration` (、, 和, 或者: a cue with `max_gap`
  reaches every item of a list that starts within its gap), and `particles`: characters
  that may follow a `nearest` cue that looks back, particles (发烧没有了) and verbs of
  appearing or the finding's own verb (皮疹也没出, 吐也没吐).
- `normalise`: characters matched as another (traditional 沒 as 没), so one cue serves both.
- `dialogue`: how a dialogue comes in (`speakers` and `separators` of the prefix that opens
  each line: 医生：, 患者：), what makes the last sentence of a turn a question (`questions`:
  ？, 吗, 有没有), and the answers at the start of the next turn that settle it
  (`negative_replies`: 没有, 不是; `positive_replies`: 有, 是的) when the next turn is by
  one of the `answerers` (the patient's side: a doctor's 嗯 does not settle a patient's
  question; every speaker when the list is empty).

This file is shipped in the wheel: it imports nothing from `zh_medner`.
"""

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

# category -> the Span extension it sets (one name for negation: `negated`)
EXTENSIONS = {
    "NEGATED": "negated",
    "UNCERTAIN": "uncertain",
    "FAMILY": "family",
    "HISTORICAL": "historical",
    "HYPOTHETICAL": "hypothetical",
}
ALIASES = {"negex": "negated"}  # negspacy's name, for code written for negspacy
TERMINATE, PSEUDO = "TERMINATE", "PSEUDO"
CATEGORIES = tuple(EXTENSIONS) + (TERMINATE, PSEUDO)
DIRECTIONS = ("forward", "backward", "bidirectional", "nearest")
SCOPES = ("clause", "sentence")
REGISTERS = ("any", "chart", "speech")
INSIDE = (None, "start", "anywhere")
SOFT = ("NEGATED", "UNCERTAIN")  # what `soft_negation` and `soft_uncertainty` turn off
RULE_KEYS = {
    "literal", "category", "direction", "scope", "max_scope", "max_gap", "types", "register",
    "terminates", "unless", "inside", "soft", "comment",
}  # fmt: skip
TOP_KEYS = {"description", "defaults", "boundaries", "normalise", "dialogue", "rules"}
DIALOGUE_KEYS = {
    "speakers", "separators", "answerers", "questions", "negative_replies", "positive_replies",
}  # fmt: skip


class RulesError(ValueError):
    pass


@dataclass(frozen=True)
class Rule:
    """One rule of the resource, checked and with its defaults filled in."""

    literals: tuple[str, ...]
    categories: tuple[str, ...]
    direction: str = "forward"
    scope: str = "clause"
    max_scope: int = 30
    max_gap: int | None = None
    types: frozenset | None = None  # None: every label
    register: str = "any"
    terminates: frozenset = frozenset(EXTENSIONS)
    unless: frozenset = frozenset()
    inside: str | None = None  # "start" or "anywhere": the cue counts inside a finding
    soft: bool = False  # counts only with soft_negation / soft_uncertainty (好了; 好像)

    @property
    def kind(self) -> str:
        """TERMINATE, PSEUDO, or MODIFIER (a rule that sets categories)."""
        return self.categories[0] if self.categories[0] in (TERMINATE, PSEUDO) else "MODIFIER"

    def applies_to(self, label: str) -> bool:
        return self.types is None or label in self.types


def _fail(where: str, rule: dict, problem: str) -> RulesError:
    literal = rule.get("literal")
    name = literal if isinstance(literal, str) else (literal or ["?"])[0]
    return RulesError(f"{where} ({name}): {problem}")


def _list(value) -> list:
    return [value] if isinstance(value, str) else list(value or [])


def _shape(rule, where: str) -> tuple[list[str], list[str]]:
    """The literals and categories of a rule object, checked."""
    if not isinstance(rule, dict):
        raise RulesError(f"{where}: expected an object")
    extra = set(rule) - RULE_KEYS
    if extra:
        raise _fail(where, rule, f"unknown key(s) {sorted(extra)}; allowed: {sorted(RULE_KEYS)}")
    literals = _list(rule.get("literal"))
    if not literals or not all(isinstance(x, str) and x.strip() for x in literals):
        raise _fail(where, rule, "'literal' must be a non-empty string or list of strings")
    cats = _list(rule.get("category"))
    several = len(cats) > 1 and set(cats) - set(EXTENSIONS)
    if not cats or not set(cats) <= set(CATEGORIES) or several:
        raise _fail(
            where, rule, f"category must be one of {list(CATEGORIES)} (or a list of the first "
            f"five), got {rule.get('category')!r}",
        )  # fmt: skip
    return literals, cats


def _check(rule: dict, where: str, values: dict) -> None:
    """Each setting of a rule (its defaults filled in) within what it may be."""
    for key, allowed in (("direction", DIRECTIONS), ("scope", SCOPES), ("register", REGISTERS)):
        if values[key] not in allowed:
            raise _fail(where, rule, f"{key} must be one of {list(allowed)}, got {values[key]!r}")
    for key, least in (("max_scope", 1), ("max_gap", 0)):
        value = values[key]
        if value is not None and (type(value) is not int or value < least):
            raise _fail(where, rule, f"{key} must be an integer >= {least}, got {value!r}")
    types = values["types"]
    if types != "*" and not (isinstance(types, list) and all(isinstance(t, str) for t in types)):
        raise _fail(where, rule, 'types must be a list of labels or "*"')
    for key in ("terminates", "unless"):
        if not set(_list(values[key])) <= set(EXTENSIONS):
            raise _fail(where, rule, f"{key} must list categories of {list(EXTENSIONS)}")
    if not isinstance(values["soft"], bool):
        raise _fail(where, rule, "soft must be true or false")
    if values["soft"] and _list(rule.get("category")) not in ([c] for c in SOFT):
        raise _fail(where, rule, f"a soft rule has one category, one of {list(SOFT)}")
    if values["inside"] not in INSIDE:
        raise _fail(where, rule, f"inside must be one of {list(INSIDE)} (or left out)")


def make_rule(rule: dict, defaults: dict, where: str) -> Rule:
    """A Rule from one JSON object; RulesError names `where` and how to fix it."""
    literals, cats = _shape(rule, where)
    values = {
        key: rule.get(key, defaults.get(key, default))
        for key, default in (
            ("direction", "forward"), ("scope", "clause"), ("max_scope", 30),
            ("types", ["DIS", "SYM", "ITE"]),
        )
    }  # fmt: skip
    values |= {
        "register": rule.get("register", "any"),
        "max_gap": rule.get("max_gap"),
        "terminates": rule.get("terminates", list(EXTENSIONS)),
        "unless": rule.get("unless", []),
        "soft": rule.get("soft", False),
        "inside": rule.get("inside"),
    }
    _check(rule, where, values)
    types = values.pop("types")
    return Rule(
        literals=tuple(literals),
        categories=tuple(cats),
        types=None if types == "*" else frozenset(types),
        **{k: frozenset(v) if k in ("terminates", "unless") else v for k, v in values.items()},
    )


def _strings(value, where: str, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(x, str) and x for x in value):
        raise RulesError(f"{where}: '{key}' must be a list of non-empty strings")
    return value


def _sections(data: dict, source: str) -> dict:
    """The document's settings besides its rules, checked, with defaults."""
    extra = set(data) - TOP_KEYS
    if extra:
        hint = (
            " (sentence ends come from the pipeline's sentencizer)"
            if "sentence" in str(extra)
            else ""
        )
        raise RulesError(
            f"{source}: unknown key(s) {sorted(extra)}; allowed: {sorted(TOP_KEYS)}{hint}"
        )
    bounds = dict(data.get("boundaries", {}))
    if bounds.pop("sentence", None) is not None:  # rules saved inside an older pipeline
        warnings.warn(
            f"{source}: boundaries.sentence is not read: sentence ends come from the pipeline's "
            "sentencizer (its punct_chars); remove it from the rules",
            stacklevel=2,
        )
    allowed = {"clause", "speech_markers", "enumeration", "particles"}
    if set(bounds) - allowed:
        raise RulesError(f"{source}: boundaries allows only {sorted(allowed)}")
    dialogue = dict(data.get("dialogue", {}))
    if set(dialogue) - DIALOGUE_KEYS:
        raise RulesError(f"{source}: dialogue allows only {sorted(DIALOGUE_KEYS)}")
    normalise = data.get("normalise", {})
    if not isinstance(normalise, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and len(k) == len(v) == 1
        for k, v in normalise.items()
    ):
        raise RulesError(f"{source}: 'normalise' must map single characters to single characters")
    return {
        "clause": _strings(bounds.get("clause", list("，,；;：:")), source, "boundaries.clause"),
        "speech_markers": _strings(bounds.get("speech_markers", ["我"]), source, "speech_markers"),
        "enumeration": _strings(bounds.get("enumeration", ["、"]), source, "enumeration"),
        "particles": _strings(bounds.get("particles", ["了"]), source, "particles"),
        "normalise": normalise,
        **{
            key: _strings(dialogue.get(key, []), source, f"dialogue.{key}") for key in DIALOGUE_KEYS
        },
    }


def validate_rules(data: dict, source: str = "rules", lines: list[int] | None = None) -> dict:
    """Check a rules document: {"rules": [Rule, ...], and its settings}. Errors name `source`
    and, where `lines` gives them (read_rules), the line of the rule."""
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise RulesError(f"{source}: expected a JSON object with a 'rules' list")
    defaults = data.get("defaults", {})
    rules = []
    for i, rule in enumerate(data["rules"]):
        where = f"{source}:{lines[i]}" if lines and i < len(lines) else f"{source}: rule {i + 1}"
        rules.append(make_rule(rule, defaults, where))
    return {"rules": rules, **_sections(data, source)}


def rule_lines(text: str) -> list[int]:
    """The line on which each element of the document's "rules" list starts."""
    decoder, at = json.JSONDecoder(), text.find("[", text.find('"rules"'))
    lines, pos = [], at + 1
    while 0 < pos < len(text):
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            break
        lines.append(text.count("\n", 0, pos) + 1)
        _, pos = decoder.raw_decode(text, pos)
    return lines


def read_rules(path: str | Path) -> dict:
    """A rules file as written, after checking it (errors name the file and the rule's line)."""
    text = Path(path).read_text(encoding="utf8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise RulesError(f"{path}:{err.lineno}: invalid JSON ({err.msg})") from None
    validate_rules(data, str(path), rule_lines(text))
    return data
