"""Convert annotations (Label Studio, BRAT, JSONL, CMeEE, CoNLL, doccano) to spaCy DocBin."""

from pathlib import Path

import spacy
import srsly
import typer
from wasabi import msg

from zh_medner.annotations import READERS, ConversionError
from zh_medner.annotations.label_map import read_label_map
from zh_medner.corpus.docbin import convert, report_path, split_docs, write_docbin
from zh_medner.io import write_atomic


def main(
    input_path: Path = typer.Argument(
        ..., help="Annotation file, or a folder of BRAT .txt/.ann pairs"
    ),
    output: Path = typer.Argument(..., help="Output .spacy file (the train part when splitting)"),
    fmt: str = typer.Option(..., "--format", "-f", help=f"One of: {', '.join(READERS)}"),
    label_map: Path | None = typer.Option(
        None, "--label-map", help="JSON object: label -> CMeEE label or null (drop)"
    ),
    dev_output: Path | None = typer.Option(
        None, "--dev-output", help="Write a seeded dev split here"
    ),
    dev_ratio: float = typer.Option(0.0, "--dev-ratio", help="Share of records for --dev-output"),
    seed: int = typer.Option(0, "--seed"),
):
    """Convert INPUT_PATH to OUTPUT and write a report (OUTPUT stem + .report.json).

    Every input entity is kept in doc.ents, kept only in doc.spans["sc"] (nested
    or overlapping), or dropped with its reason, file and line in the report.
    """
    if (dev_output is None) != (dev_ratio == 0):
        msg.fail("--dev-output and --dev-ratio go together", exits=1)
    nlp = spacy.blank("zh")
    try:
        docs, report = convert(nlp, input_path, fmt, label_map=read_label_map(label_map))
    except (ConversionError, ValueError) as e:
        msg.fail(str(e), exits=1)
    train, dev = split_docs(docs, dev_ratio, seed)
    summary = report.to_dict()
    summary.update(input=str(input_path), format=fmt, train_docs=len(train), dev_docs=len(dev))
    write_docbin(train, output)
    if dev_output is not None:
        write_docbin(dev, dev_output)
    write_atomic(report_path(output), lambda tmp: srsly.write_json(tmp, summary))
    header, *rows = report.table()
    msg.table(rows, header=header, divider=True)
    msg.info(
        f"{report.records} records, {report.entities_in} entities: {report.kept} kept "
        f"({sum(report.in_ents.values())} in ents, {sum(report.spans_only.values())} only in "
        "spans), "
        f"{len(report.drops)} dropped"
    )
    for drop in report.drops[:10]:
        msg.warn(
            f"{drop.path}:{drop.line}: {drop.reason}: {drop.label} [{drop.start}:{drop.end}] "
            f"{drop.text or ''}"
        )
    if len(report.drops) > 10:
        msg.warn(f"... {len(report.drops) - 10} more drops in {report_path(output)}")
    msg.good(
        f"{len(train)} docs -> {output}"
        + (f", {len(dev)} docs -> {dev_output}" if dev_output else "")
    )


if __name__ == "__main__":
    typer.run(main)
