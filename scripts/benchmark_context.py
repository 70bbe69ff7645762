"""Time the clinical context component (zh_context) alone on long records; print a table.

Records of 10,000 to 100,000 characters are built from three kinds of text: chart sentences,
a dialogue (speaker-prefixed lines, so replies are read), and the dialogue in traditional
characters (so the normalised text is matched). Findings are given as entities (about one
every 25 characters), the sentencizer runs, and only the context component is timed: the best
of `--repeats` runs. The target of issue 19: a 100,000-character record in under 2 s.
`--learned FOLDER` times the learned option (zh_context_learned) after the rules as well.

    python scripts/benchmark_context.py [--sizes 10000,50000,100000] [--repeats 3] [--learned F]
"""

import time
from pathlib import Path

import typer

from zh_medner.evaluation.gold import rules_pipeline

CHART = "否认高血压病史，三天前出现发热、咳嗽，体重无明显变化，我妈有糖尿病，如有腹痛及时就诊。"
DIALOGUE = "医生：宝宝有没有发烧？\n患者：没有，就是不烧了还咳嗽，会不会是肺炎啊？\n"
KINDS = {
    "chart": (CHART, ["高血压", "发热", "咳嗽", "体重", "糖尿病", "腹痛"]),
    "dialogue": (DIALOGUE, ["发烧", "不烧", "咳嗽", "肺炎"]),
    "dialogue, traditional": (
        DIALOGUE.replace("没", "沒").replace("烧", "燒").replace("发", "發"),
        ["發燒", "不燒", "咳嗽", "肺炎"],
    ),
}


def record(nlp, unit: str, findings: list[str], size: int):
    """A doc of `size` characters of `unit` repeated, its findings set as entities."""
    text = (unit * (size // len(unit) + 1))[:size]
    doc = nlp.make_doc(text)
    spans, at = [], 0
    while True:
        hits = [(text.find(f, at), f) for f in findings if text.find(f, at) >= 0]
        if not hits:
            break
        start, found = min(hits)
        spans.append(doc.char_span(start, start + len(found), label="SYM"))
        at = start + len(found)
    doc.ents = [s for s in spans if s is not None]
    return nlp.get_pipe("sentencizer")(doc)


def main(
    sizes: str = typer.Option("10000,50000,100000", help="record sizes in characters"),
    repeats: int = typer.Option(3, help="runs per record; the best is shown"),
    config: Path = typer.Option(Path("configs/assemble.cfg")),
    rules: Path = typer.Option(Path("zh_medner/resources/context_rules_zh.json")),
    learned: Path = typer.Option(None, help="time zh_context_learned (this folder) after it too"),
):
    nlp = rules_pipeline(config, {"paths.context_rules": str(rules)}, exclude=["entity_ruler"])
    timed = [nlp.get_pipe("context")]
    if learned is not None:
        timed.append(nlp.add_pipe("zh_context_learned"))
        timed[-1].initialize(path=str(learned))
    rows = []
    for kind, (unit, findings) in KINDS.items():
        for size in (int(s) for s in sizes.split(",")):
            best = float("inf")
            for _ in range(repeats):
                doc = record(nlp, unit, findings, size)
                start = time.perf_counter()
                for component in timed:
                    doc = component(doc)
                best = min(best, time.perf_counter() - start)
            negated = sum(e._.negated for e in doc.ents)
            rows.append((kind, f"{size:,}", f"{len(doc.ents):,}", f"{negated:,}", f"{best:.3f}"))
    header = ("text", "characters", "findings", "negated", "seconds (best)")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    for row in [header, ["-" * w for w in widths]] + rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))


if __name__ == "__main__":
    typer.run(main)
