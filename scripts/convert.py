"""Convert annotations (Label Studio, BRAT, JSONL, CMeEE, CoNLL, doccano) to spaCy DocBin."""

from pathlib import Path
from typing import NamedTuple

import spacy
import typer
from spacy.tokens import Doc
from wasabi import msg

from zh_medner.annotations import READERS, ConversionError
from zh_medner.annotations.label_map import read_label_map
from zh_medner.corpus.docbin import (
    Report,
    check_dev_ratio,
    check_input_path,
    check_paths,
    convert,
    input_files,
    report_path,
    split_docs,
    write_outputs,
)
from zh_medner.io import EncodingError, PathError, check_encoding


class Split(NamedTuple):
    """Where and how the dev records are held out (output None: no dev split)."""

    output: Path | None
    ratio: float
    block: int
    seed: int

    def check(self) -> None:
        if (self.output is None) != (self.ratio == 0):
            raise ValueError("--dev-output and --dev-ratio go together")
        if self.output is None and self.block != 1:
            raise ValueError("--dev-block needs --dev-output and --dev-ratio")
        if self.output is not None:
            check_dev_ratio(self.ratio)


def read_corpus(
    input_path: Path,
    output: Path,
    fmt: str,
    label_map: Path | None,
    split: Split,
    encoding: str,
    allow_empty: bool,
) -> tuple[list[Doc], list[Doc], Report]:
    """(train, dev, report): the paths are checked first, then the input is read and split."""
    mapping = read_label_map(label_map)
    outputs = [output, report_path(output)] + ([split.output] if split.output else [])
    inputs = input_files(input_path, fmt) + ([label_map] if label_map else [])
    check_paths(outputs, inputs)
    docs, report = convert(
        spacy.blank("zh"),
        input_path,
        fmt,
        label_map=mapping,
        encoding=encoding,
        allow_empty=allow_empty,
    )
    train, dev = split_docs(docs, split.ratio, split.seed, split.block)
    if not allow_empty and (not train or (split.output is not None and not dev)):
        raise ConversionError(
            input_path,
            None,
            f"{len(docs)} record(s) cannot fill both train and dev; add records, drop "
            "--dev-output, or pass --allow-empty",
        )
    return train, dev, report


def encoding_hint(error: EncodingError, encoding: str, label_map: Path | None) -> str:
    """The --encoding hint for an input file read as UTF-8 by default (never the label map)."""
    in_map = label_map is not None and error.path == str(label_map)
    return (
        "; or name its encoding, e.g. --encoding gbk" if encoding == "utf-8" and not in_map else ""
    )


def write_corpus(
    train: list[Doc], dev: list[Doc], summary: dict, output: Path, dev_output: Path | None
) -> None:
    """Train, dev and report together or none of them; exit 1 if one cannot be written."""
    summary.update(train_docs=len(train), dev_docs=len(dev))
    try:
        write_outputs(train, output, summary, dev, dev_output)
    except OSError as e:
        msg.fail(f"{e.filename or output}: cannot write ({e.strerror}); no output changed", exits=1)


def show_report(report: Report, output: Path) -> None:
    """What was kept, skipped and dropped (the first ten drops)."""
    header, *rows = report.table()
    msg.table(rows, header=header, divider=True)
    msg.info(
        f"{report.records} records, {report.entities_in} entities: {report.kept} kept "
        f"({sum(report.in_ents.values())} in ents, {sum(report.spans_only.values())} only in "
        "spans), "
        f"{len(report.drops)} dropped"
    )
    for reason, n in report.skipped_records.items():
        msg.warn(f"{n} records skipped: {reason}")
    for drop in report.drops[:10]:
        msg.warn(
            f"{drop.path}:{drop.line}: {drop.reason}: {drop.label} [{drop.start}:{drop.end}] "
            f"{drop.text or ''}"
        )
    if len(report.drops) > 10:
        msg.warn(f"... {len(report.drops) - 10} more drops in {report_path(output)}")


def main(
    input_path: Path = typer.Argument(
        ..., help="Annotation file, or a folder of BRAT .txt/.ann pairs"
    ),
    output: Path = typer.Argument(..., help="Output .spacy file (the train part when splitting)"),
    fmt: str = typer.Option(..., "--format", "-f", help=f"One of: {', '.join(READERS)}"),
    label_map: Path | None = typer.Option(
        None, "--label-map", help="JSON object (UTF-8): label -> CMeEE label or null (drop)"
    ),
    dev_output: Path | None = typer.Option(
        None, "--dev-output", help="Write a seeded dev split here"
    ),
    dev_ratio: float = typer.Option(0.0, "--dev-ratio", help="Share of records for --dev-output"),
    dev_block: int = typer.Option(
        1,
        "--dev-block",
        min=1,
        help="Hold out runs of this many consecutive records (whole passages), not single ones",
    ),
    seed: int = typer.Option(0, "--seed"),
    encoding: str = typer.Option(
        "utf-8", "--encoding", help="Encoding of the annotation files, e.g. gbk (default UTF-8)"
    ),
    allow_empty: bool = typer.Option(
        False, "--allow-empty", help="Write empty outputs when the input has no records"
    ),
):
    """Convert INPUT_PATH to OUTPUT and write a report (OUTPUT stem + .report.json).

    Every input entity is kept in doc.ents, kept only in doc.spans["sc"] (nested
    or overlapping), or dropped with its reason, file and line in the report. Train,
    dev and report are written together or not at all.
    """
    # every argument and path is checked before any reading or writing
    split = Split(dev_output, dev_ratio, dev_block, seed)
    try:
        split.check()
        encoding = check_encoding(encoding)
        input_path = check_input_path(input_path, fmt)
        train, dev, report = read_corpus(
            input_path, output, fmt, label_map, split, encoding, allow_empty
        )
    except EncodingError as e:
        msg.fail(f"{e}{encoding_hint(e, encoding, label_map)}", exits=1)
    except (ConversionError, PathError, ValueError) as e:
        msg.fail(str(e), exits=1)
    summary = report.to_dict()
    summary.update(input=str(input_path), format=fmt, encoding=encoding, dev_block=dev_block)
    write_corpus(train, dev, summary, output, dev_output)
    show_report(report, output)
    msg.good(
        f"{len(train)} docs -> {output}"
        + (f", {len(dev)} docs -> {dev_output}" if dev_output else "")
    )


if __name__ == "__main__":
    typer.run(main)
