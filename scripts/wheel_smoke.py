"""Use the installed pipeline the way a user would, with every network connection refused.

Run by scripts/check_wheel.py inside a fresh virtual environment that holds the wheel and
its requirements, and not this project:

    python wheel_smoke.py PACKAGE                      # load, annotate, check the clinical layer
    python wheel_smoke.py PACKAGE DEV.spacy OUT.json   # ... and score it on a DocBin
    python wheel_smoke.py PACKAGE --with-library       # the zh-medner library is installed too

It must stay self-contained (it cannot import zh_medner), so it repeats two facts of the
project on purpose: the pipeline's order and the official CMeEE metric.
"""

import json
import socket
import sys
import time


def _refuse(*args, **kwargs):
    raise RuntimeError(f"network access attempted: {args[:2]}")


# Before spaCy or transformers are imported, so nothing can connect unnoticed.
socket.socket.connect = _refuse
socket.create_connection = _refuse
socket.getaddrinfo = _refuse

import importlib.util  # noqa: E402

import spacy  # noqa: E402

TEXT = "患者否认高血压病史，3天前出现发热、咳嗽，口服阿莫西林胶囊后好转。我爸有糖尿病。"
PIPELINE = ["transformer", "span_head", "entity_ruler", "sentencizer", "context"]
PRECISIONS = ["fp32", "bf16", "int8", "auto"]


def load(package: str, precision: str | None = None):
    config = {"components.transformer.model.precision": precision} if precision else {}
    return spacy.load(package, config=config)


def check_precisions(package: str, texts: list[str]) -> None:
    """Every precision loads offline from the wheel; spans compared with fp32's."""

    def spans(nlp):
        return {
            (i, s.start_char, s.end_char, s.label_)
            for i, d in enumerate(nlp.pipe(texts))
            for s in d.spans.get("sc", [])
        }

    reference = spans(load(package, "fp32"))
    for precision in PRECISIONS:
        found = spans(load(package, precision))
        same = len(found & reference) / max(1, len(found | reference))
        print(f"  precision {precision}: {len(found)} spans, {same:.1%} the same as fp32")


def check(package: str, with_library: bool) -> None:
    if with_library:
        import zh_medner.components.context  # noqa: F401  (the library registers its factories first)
    else:
        assert importlib.util.find_spec("zh_medner") is None, (
            "the project package leaked into the check"
        )
    nlp = load(package)
    assert nlp.pipe_names == PIPELINE, nlp.pipe_names
    check_precisions(package, [TEXT, TEXT[:20], ""])
    doc = nlp(TEXT)
    print("pipeline:", nlp.pipe_names)
    for ent in doc.ents:
        flags = f"negated={ent._.negated}\tuncertain={ent._.uncertain}\tfamily={ent._.family}"
        print(f"  {ent.text}\t{ent.label_}\t{flags}\tid={ent.ent_id_}")
    print("  nested spans:", [(s.text, s.label_) for s in doc.spans.get("sc", [])])
    # The shipped dictionary and rules, whatever this (possibly few-step) model predicts:
    # findings given, everything after the span head runs.
    gold = nlp.make_doc(TEXT)
    gold.ents = [
        gold.char_span(4, 7, label="DIS"),
        gold.char_span(15, 17, label="SYM"),
        gold.char_span(36, 39, label="DIS"),
    ]
    for _, proc in nlp.pipeline[nlp.pipe_names.index("span_head") + 1 :]:
        gold = proc(gold)
    found = [(e.text, e.label_, e._.negated, e._.family, e.ent_id_) for e in gold.ents]
    assert [e._.negex for e in gold.ents] == [e._.negated for e in gold.ents]  # negspacy's name
    # why 高血压 is negated: the cue and its character offsets
    cues = gold.ents[0]._.context_cues
    assert cues == [{"attribute": "negated", "cue": "否认", "start": 2, "end": 4}], cues
    assert found == [
        ("高血压", "DIS", True, False, ""),
        ("发热", "SYM", False, False, ""),
        ("阿莫西林胶囊", "DRU", False, False, "阿莫西林"),
        ("糖尿病", "DIS", False, True, ""),
    ], found
    where = " beside the zh-medner library" if with_library else ""
    print(
        f"wheel OK{where}: loads offline, entities, nested spans, "
        "ent._.negated (negex), ._.uncertain, ._.family, ._.context_cues"
    )


def score(package: str, data: str, output: str) -> None:
    """Official CMeEE micro P/R/F1 at the wheel's own precision, and at fp32 for the delta."""
    result = score_at(package, data, None)
    result["fp32"] = score_at(package, data, "fp32")
    result["f_minus_fp32"] = result["f"] - result["fp32"]["f"]
    with open(output, "w", encoding="utf8") as fh:
        json.dump(result, fh, indent=2)
    print(
        f"installed {package} on {data}: official CMeEE P {result['p']:.3f} R {result['r']:.3f} "
        f"F1 {result['f']:.3f} ({result['precision']}; fp32 {result['fp32']['f']:.3f}) -> {output}"
    )


def score_at(package: str, data: str, precision: str | None) -> dict:
    """Official CMeEE micro P/R/F1: exact (start, end, type) of every entity, nested included."""
    from spacy.tokens import DocBin

    nlp = load(package, precision)
    shim = nlp.get_pipe("transformer").model.layers[0].shims[0]
    gold = list(DocBin().from_disk(data).get_docs(nlp.vocab))
    start = time.perf_counter()
    predicted = list(nlp.pipe((d.text for d in gold), batch_size=64))
    seconds = time.perf_counter() - start

    def triples(doc):
        spans = doc.spans["sc"] if "sc" in doc.spans else doc.ents
        return {(s.start_char, s.end_char, s.label_) for s in spans}

    tp = fp = fn = 0
    for p, g in zip(predicted, gold):
        p, g = triples(p), triples(g)
        tp, fp, fn = tp + len(p & g), fp + len(p - g), fn + len(g - p)
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {
        "package": package,
        "data": data,
        "docs": len(gold),
        "precision": shim.run_precision(),
        "p": prec,
        "r": rec,
        "f": f,
        "chars_per_second": sum(len(d.text) for d in gold) / seconds,
    }


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--with-library"]
    package = args[0] if args else "zh_medner_trf"
    check(package, with_library="--with-library" in sys.argv)
    if len(args) == 3:
        score(package, args[1], args[2])
