"""Use the installed pipeline the way a user would, with every network connection refused.

Run by scripts/check_wheel.py inside a fresh virtual environment that holds only
the wheel and its requirements (not this project).
"""

import socket
import sys


def _refuse(*args, **kwargs):
    raise RuntimeError(f"network access attempted: {args[:2]}")


# Before spaCy or transformers are imported, so nothing can connect unnoticed.
socket.socket.connect = _refuse
socket.create_connection = _refuse
socket.getaddrinfo = _refuse

import importlib.util  # noqa: E402

import spacy  # noqa: E402

TEXT = "患者否认高血压病史，3天前出现发热、咳嗽，口服阿莫西林胶囊后好转。我爸有糖尿病。"


def main(package: str = "zh_medner_trf") -> None:
    assert importlib.util.find_spec("zh_medner") is None, (
        "the project package leaked into the wheel check"
    )
    nlp = spacy.load(package)
    # The one copy of the pipeline's order outside configs/assemble.cfg: this script runs in a
    # venv that holds only the wheel, so it cannot read the project's config.
    expected = ["transformer", "span_head", "entity_ruler", "sentencizer", "context"]
    assert nlp.pipe_names == expected, nlp.pipe_names
    doc = nlp(TEXT)
    print("pipeline:", nlp.pipe_names)
    for ent in doc.ents:
        print(
            "  "
            f"{ent.text}\t{ent.label_}\tnegex={ent._.negex}\tuncertain={ent._.uncertain}\tid={ent.ent_id_}"
        )
    print("  nested spans:", [(s.text, s.label_) for s in doc.spans.get("sc", [])])
    # The shipped dictionary and termsets, whatever this (possibly few-step) model predicts:
    # findings given, everything after the ner runs.
    gold = nlp.make_doc(TEXT)
    gold.ents = [
        gold.char_span(4, 7, label="DIS"),
        gold.char_span(15, 17, label="SYM"),
        gold.char_span(36, 39, label="DIS"),
    ]
    for _, proc in nlp.pipeline[nlp.pipe_names.index("span_head") + 1 :]:
        gold = proc(gold)
    found = [(e.text, e.label_, e._.negex, e._.family, e.ent_id_) for e in gold.ents]
    assert found == [
        ("高血压", "DIS", True, False, ""),
        ("发热", "SYM", False, False, ""),
        ("阿莫西林胶囊", "DRU", False, False, "阿莫西林"),
        ("糖尿病", "DIS", False, True, ""),
    ], found
    print("wheel OK: loads offline, entities, nested spans, ent._.negex, ._.uncertain, ._.family")


if __name__ == "__main__":
    main(*sys.argv[1:])
