"""displaCy markup for entities: one colour per label, clinical context visible on the mark.

Used by the service's page (zh_medner/serving/page.py) and by the error report
(zh_medner/evaluation/error_report.py).
Rendering is manual (`displacy.render(..., style="ent", manual=True)`) from character
offsets, so a JSON record renders the same as a Doc, and overlapping (nested) spans are
laid out in layers: displaCy's "ent" style draws one non-overlapping line at a time.

A negated finding is struck through, an uncertain one has a dashed outline; the label
tag says which (NEG, ?, FAM, HX, HYP) and the tooltip names the cue behind each (negated
(cue: 没有 at 5)) and the drug's generic name.
The text is escaped by displaCy; everything this module adds is escaped here.
"""

import html
import zlib
from collections.abc import Iterable, Sequence

from spacy import displacy

from .labels import ordered

LABEL_COLORS = {
    "DIS": "#f4a6a6",
    "SYM": "#f9c97c",
    "PRO": "#9fd3f2",
    "EQU": "#cdb9ec",
    "DRU": "#a6e3a1",
    "ITE": "#efe08f",
    "BOD": "#f6b8d9",
    "DEP": "#bccadd",
    "MIC": "#97e0d0",
}
_EXTRA = ("#e0c3a0", "#c1e3f7", "#d9f2a9", "#f2c6b4", "#c9c9f5", "#b4e8e0")

# context key -> (CSS class, tag on the label, words in the tooltip)
CONTEXT_MARKS = {
    "negated": ("negated", "NEG", "negated"),
    "uncertain": ("uncertain", "?", "uncertain"),
    "family": ("family", "FAM", "family history"),
    "historical": ("historical", "HX", "historical"),
    "hypothetical": ("hypothetical", "HYP", "hypothetical"),
}

# displaCy's entity mark, plus a class list, a tooltip and the context tags. The label tag is
# an inline-block so that the strike-through of a negated finding does not cross it.
ENT_TEMPLATE = (
    '<mark class="entity{classes}" data-label="{label}"{title} style="background: {bg}; '
    'padding: 0.45em 0.6em; margin: 0 0.25em; line-height: 1; border-radius: 0.35em;">{text}'
    '<span class="entity-label" style="display: inline-block; font-size: 0.8em; '
    'font-weight: bold; line-height: 1; vertical-align: middle; margin-left: 0.5rem">'
    "{label}{flags}</span></mark>"
)

ENTITY_CSS = """
mark.entity { white-space: nowrap; }
mark.entity.negated { text-decoration: line-through; text-decoration-thickness: 2px; }
mark.entity.uncertain { outline: 2px dashed #333; outline-offset: 1px; }
mark.entity .flag { font-size: 0.85em; margin-left: 0.3em; padding: 0 0.2em;
  border-radius: 0.2em; background: rgba(0, 0, 0, 0.12); }
mark.entity.error { box-shadow: 0 0 0 2px #c62828; }
.layer-note { color: #666; font-size: 0.8em; }
"""


def label_color(label: str) -> str:
    if label in LABEL_COLORS:
        return LABEL_COLORS[label]
    return _EXTRA[zlib.crc32(label.encode("utf8")) % len(_EXTRA)]


def layers(spans: Sequence[dict]) -> list[list[dict]]:
    """Spans split into lines without overlaps: outer spans first, nested ones below."""
    out: list[list[dict]] = []
    for span in sorted(spans, key=lambda s: (s["start"], -(s["end"] - s["start"]), s["label"])):
        for layer in out:
            if all(span["end"] <= s["start"] or span["start"] >= s["end"] for s in layer):
                layer.append(span)
                break
        else:
            out.append([span])
    return [sorted(layer, key=lambda s: s["start"]) for layer in out]


def _cue_words(span: dict) -> dict[str, str]:
    """context key -> ' (cue: 没有 at 5)' from the span's `context_cues`, for the tooltip."""
    cues: dict[str, list[str]] = {}
    for cue in span.get("context_cues") or []:
        cues.setdefault(cue["attribute"], []).append(f"{cue['cue']} at {cue['start']}")
    return {key: f" (cue: {', '.join(found)})" for key, found in cues.items()}


def _params(span: dict) -> dict:
    classes, flags, notes = [], [], []
    cues = _cue_words(span)
    for key, (css, tag, words) in CONTEXT_MARKS.items():
        if span.get(key):
            classes.append(css)
            flags.append(f'<span class="flag">{tag}</span>')
            notes.append(words + cues.get(key, ""))
    if span.get("error"):
        classes.append("error")
        notes.append(span["error"])
    if span.get("id"):
        notes.append(f"id: {span['id']}")
    title = f' title="{html.escape("; ".join(notes))}"' if notes else ""
    return {
        "classes": "".join(" " + c for c in classes),
        "title": title,
        "flags": "".join(flags),
    }


def ents_html(text: str, spans: Sequence[dict]) -> str:
    """displaCy markup of `text` with `spans` ({start, end, label} plus optional context keys,
    `id` and `error`); one line per layer where spans overlap."""
    labels = ordered(s["label"] for s in spans)
    options = {
        "colors": {label: label_color(label) for label in labels},
        "template": ENT_TEMPLATE,
    }
    lines = []
    for i, layer in enumerate(layers(spans) or [[]]):
        parsed = {
            "text": text,
            "ents": [
                {"start": s["start"], "end": s["end"], "label": s["label"], "params": _params(s)}
                for s in layer
            ],
        }
        markup = displacy.render(parsed, style="ent", manual=True, options=options)
        if i:
            markup = f'<div class="layer-note">nested, level {i + 1}</div>' + markup
        lines.append(markup)
    return "".join(lines)


def legend_html(labels: Iterable[str]) -> str:
    chips = [
        f'<span class="chip" style="background: {label_color(label)}">{html.escape(label)}</span>'
        for label in ordered(labels)
    ]
    return "".join(chips)
