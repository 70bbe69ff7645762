"""Error report: one self-contained HTML file that shows where a pipeline goes wrong on a dev set.

The numbers are the official CMeEE metric of zh_medner/evaluation/ner.py (exact
(start, end, label) triples, nested entities included); flat F1 is shown beside it. Every
gold entity and every prediction that is not an exact match is one error of one kind
(missed, spurious, wrong label, wrong boundary, wrong label and boundary), paired so that
the errors add up: zh_medner/evaluation/error_analysis.py makes the pairs and the counts,
this module renders them.

The page holds a per-label P/R/F1 bar chart (inline SVG), the label confusion table
(gold rows, predicted columns; off the diagonal: label swaps), the errors grouped by kind,
and gold and predicted entities side by side (displaCy). Nothing is loaded from elsewhere.
"""

import html
from collections import Counter
from collections.abc import Sequence

from spacy.language import Language
from spacy.tokens import Doc

from ..display import ENTITY_CSS, ents_html, label_color
from ..labels import ordered
from .error_analysis import KINDS, NONE, Analysis, Error, analyse, classify
from .ner import Triple

__all__ = [
    "KINDS",
    "NONE",
    "Analysis",
    "Error",
    "analyse",
    "bar_chart",
    "classify",
    "confusion_table",
    "error_report",
    "errors_by_kind",
    "render_report",
    "side_by_side",
]

CSS = """
body { font-family: "Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", sans-serif;
  margin: 0 auto; max-width: 84em; padding: 1em 2em 3em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
.summary td, .summary th { padding: 0.2em 1em 0.2em 0; text-align: left; }
table.grid { border-collapse: collapse; font-size: 0.92em; }
table.grid th, table.grid td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: right; }
table.grid th { background: #f1f4f8; }
table.grid td.diag { background: #eef5ee; color: #555; }
table.grid td.zero { color: #ccc; }
table.errors td, table.errors th { text-align: left; vertical-align: top; }
.snippet b { background: #ffe08a; }
.chip { display: inline-block; padding: 0 0.4em; border-radius: 0.3em; font-weight: bold;
  font-size: 0.85em; }
table.side { border-collapse: collapse; width: 100%; table-layout: fixed; }
table.side td, table.side th { border-top: 1px solid #ddd; vertical-align: top; padding: 0.4em; }
table.side th { text-align: left; background: #f1f4f8; }
table.side .n { width: 6em; color: #666; font-size: 0.85em; }
.more { color: #666; font-style: italic; }
"""
BAR_COLORS = {"P": "#5b8def", "R": "#f0a35b", "F1": "#43a047"}


def _chip(label: str) -> str:
    color = label_color(label)
    return f'<span class="chip" style="background: {color}">{html.escape(label)}</span>'


def bar_chart(section: dict) -> str:
    """Grouped horizontal bars, P / R / F1 per label (0-100), as inline SVG."""
    per_type = section["per_type"]
    labels = ordered(per_type)
    bar, gap, left, width = 11, 12, 150, 420
    row = 3 * bar + gap
    height = row * len(labels) + 40
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 80}" '
        f'height="{height}" role="img" aria-label="P, R and F1 per label">'
    ]
    for x in range(0, 101, 20):
        gx = left + width * x / 100
        parts.append(
            f'<line x1="{gx}" y1="0" x2="{gx}" y2="{height - 30}" stroke="#e3e3e3"/>'
            f'<text x="{gx}" y="{height - 16}" font-size="11" text-anchor="middle" '
            f'fill="#666">{x}</text>'
        )
    for i, label in enumerate(labels):
        y = i * row
        scores = per_type[label]
        parts.append(
            f'<text x="{left - 8}" y="{y + 1.5 * bar + 4}" font-size="13" text-anchor="end">'
            f"{html.escape(label)} (n={scores['support']})</text>"
        )
        for j, (name, key) in enumerate((("P", "p"), ("R", "r"), ("F1", "f"))):
            value = scores[key] * 100
            parts.append(
                f'<rect x="{left}" y="{y + j * bar}" width="{width * value / 100:.1f}" '
                f'height="{bar - 1}" fill="{BAR_COLORS[name]}"><title>{html.escape(label)} '
                f"{name} {value:.1f}</title></rect>"
                f'<text x="{left + width * value / 100 + 4:.1f}" y="{y + j * bar + bar - 2}" '
                f'font-size="10" fill="#333">{name} {value:.1f}</text>'
            )
    parts.append("</svg>")
    legend = " ".join(
        f'<span class="chip" style="background: {c}; color: #fff">{n}</span>'
        for n, c in BAR_COLORS.items()
    )
    return f"<div>{legend}</div>" + "".join(parts)


def confusion_table(confusion: Counter) -> str:
    gold_labels = ordered(g for g, _ in confusion if g != NONE) + [NONE]
    pred_labels = ordered(p for _, p in confusion if p != NONE) + [NONE]
    head = "".join(f"<th>{html.escape(p)}</th>" for p in pred_labels)
    swaps = [n for (g, p), n in confusion.items() if g != p]
    top = max(swaps, default=1)
    rows = []
    for g in gold_labels:
        cells = []
        for p in pred_labels:
            n = confusion.get((g, p), 0)
            if g == NONE and p == NONE:
                cells.append('<td class="zero">·</td>')
            elif g == p:
                cells.append(f'<td class="diag" title="same label">{n}</td>')
            elif n:
                shade = 0.15 + 0.6 * n / top
                cells.append(
                    f'<td style="background: rgba(198, 40, 40, {shade:.2f})" '
                    f'title="gold {html.escape(g)}, predicted {html.escape(p)}">{n}</td>'
                )
            else:
                cells.append('<td class="zero">0</td>')
        rows.append(f"<tr><th>{html.escape(g)}</th>{''.join(cells)}</tr>")
    return (
        '<table class="grid"><tr><th>gold ↓ / predicted →</th>'
        + head
        + "</tr>"
        + "".join(rows)
        + "</table>"
    )


def _snippet(text: str, error: Error, width: int = 18) -> str:
    spans = [t for t in (error.gold, error.pred) if t]
    start, end = min(t[0] for t in spans), max(t[1] for t in spans)
    a, b = max(0, start - width), min(len(text), end + width)
    return (
        ("…" if a else "")
        + html.escape(text[a:start])
        + f"<b>{html.escape(text[start:end])}</b>"
        + html.escape(text[end:b])
        + ("…" if b < len(text) else "")
    )


def _entity(text: str, t: Triple | None) -> str:
    if not t:
        return "—"
    return f"{html.escape(text[t[0] : t[1]])} {_chip(t[2])} <small>[{t[0]}, {t[1]})</small>"


def errors_by_kind(analysis: Analysis, max_examples: int) -> str:
    out = []
    for kind in KINDS:
        errors = [e for e in analysis.errors if e.kind == kind]
        out.append(f'<h3 id="{kind.replace(" ", "-")}">{kind} ({len(errors)})</h3>')
        if not errors:
            continue
        rows = [
            f"<tr><td>#{e.doc}</td><td class='snippet'>{_snippet(analysis.texts[e.doc], e)}</td>"
            f"<td>{_entity(analysis.texts[e.doc], e.gold)}</td>"
            f"<td>{_entity(analysis.texts[e.doc], e.pred)}</td></tr>"
            for e in errors[:max_examples]
        ]
        out.append(
            '<table class="grid errors"><tr><th>doc</th><th>context</th><th>gold</th>'
            "<th>predicted</th></tr>" + "".join(rows) + "</table>"
        )
        if len(errors) > max_examples:
            out.append(f'<p class="more">{len(errors) - max_examples} more not shown.</p>')
    return "".join(out)


def side_by_side(analysis: Analysis, max_docs: int) -> str:
    per_doc = Counter(e.doc for e in analysis.errors)
    docs = sorted(per_doc, key=lambda i: (-per_doc[i], i))[:max_docs]
    rows = []
    for i in docs:
        text = analysis.texts[i]
        gold_err = {e.gold: e.kind for e in analysis.errors if e.doc == i and e.gold}
        pred_err = {e.pred: e.kind for e in analysis.errors if e.doc == i and e.pred}

        def spans(triples, errs):
            return [
                {"start": s, "end": e, "label": label, "error": errs.get((s, e, label))}
                for s, e, label in sorted(triples)
            ]

        rows.append(
            f'<tr><td class="n">#{i}<br>{per_doc[i]} error(s)</td>'
            f"<td>{ents_html(text, spans(analysis.gold[i], gold_err))}</td>"
            f"<td>{ents_html(text, spans(analysis.pred[i], pred_err))}</td></tr>"
        )
    note = (
        f'<p class="more">{len(per_doc) - len(docs)} more docs with errors not shown.</p>'
        if len(per_doc) > len(docs)
        else ""
    )
    return (
        '<table class="side"><tr><th class="n">doc</th><th>gold</th><th>predicted</th></tr>'
        + "".join(rows)
        + "</table>"
        + note
    )


def render_report(analysis: Analysis, title: str, max_docs: int = 100, max_examples: int = 50):
    o, f = analysis.official, analysis.flat
    kinds = Counter(e.kind for e in analysis.errors)
    kind_rows = "".join(
        f'<tr><th><a href="#{k.replace(" ", "-")}">{k}</a></th><td>{kinds.get(k, 0)}</td></tr>'
        for k in KINDS
    )
    summary = (
        '<table class="summary">'
        f"<tr><th>documents</th><td>{len(analysis.texts)}</td></tr>"
        f"<tr><th>gold entities (nested included)</th><td>{sum(map(len, analysis.gold))}</td></tr>"
        f"<tr><th>predicted entities</th><td>{sum(map(len, analysis.pred))}</td></tr>"
        f"<tr><th>official CMeEE metric</th><td>P {o['p'] * 100:.1f} · R {o['r'] * 100:.1f} · "
        f"<b>F1 {o['f'] * 100:.1f}</b></td></tr>"
        f"<tr><th>flat (doc.ents)</th><td>F1 {f['f'] * 100:.1f}</td></tr>"
        "</table>"
    )
    return (
        "<!DOCTYPE html>\n<html lang='zh'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{CSS}{ENTITY_CSS}</style></head><body>"
        f"<h1>Error report</h1><p>{html.escape(title)}</p>{summary}"
        "<h2>Per label: P / R / F1 (official metric)</h2>"
        + bar_chart(o)
        + "<h2>Label confusion</h2><p>Rows: gold label, columns: predicted label, over the "
        "exact matches and the paired errors; (none): missed or spurious. Off the diagonal: "
        "label swaps.</p>"
        + confusion_table(analysis.confusion)
        + "<h2>Errors by kind</h2>"
        + f'<table class="grid">{kind_rows}</table>'
        + errors_by_kind(analysis, max_examples)
        + "<h2>Gold and predicted, side by side</h2><p>Docs with the most errors first. "
        "Outlined in red: the entities in error (the tooltip names the kind).</p>"
        + side_by_side(analysis, max_docs)
        + "</body></html>\n"
    )


def error_report(
    nlp: Language,
    gold_docs: Sequence[Doc],
    title: str,
    max_docs: int = 100,
    max_examples: int = 50,
    batch_size: int = 64,
) -> tuple[str, Analysis]:
    """(the HTML page, the analysis) for `nlp` on gold docs."""
    gold_docs = list(gold_docs)
    predicted = list(nlp.pipe((d.text for d in gold_docs), batch_size=batch_size))
    analysis = analyse(predicted, gold_docs)
    return render_report(analysis, title, max_docs, max_examples), analysis
