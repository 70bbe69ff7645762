"""The `zh-medner` command: serve a pipeline, pre-annotate for Label Studio, annotate files.

    zh-medner serve MODEL [--host 127.0.0.1] [--port 8000]
    zh-medner pre-annotate MODEL INPUT OUTPUT.json
    zh-medner annotate MODEL INPUT OUTPUT

MODEL is an installed package name (zh_medner_trf) or a pipeline folder. Arguments are
checked before the pipeline loads (a transformer takes seconds to load).
"""

import contextlib
import ipaddress
import socket
from pathlib import Path

import typer
from wasabi import msg

from ..training.selection import DEFAULT_STRATEGY, STRATEGIES
from .annotate_cli import ENCODING_HELP, run_annotate
from .limits import Limits
from .loading import check_model, check_precision, load_model

app = typer.Typer(
    help="Chinese medical NER with zh-medner pipelines: a web service, Label Studio "
    "pre-annotation and batch annotation.",
    no_args_is_help=True,
    add_completion=False,
)

MODEL_HELP = "Installed package name (zh_medner_trf) or pipeline folder (pipelines/medner_trf)"


def check_port(host: str, port: int) -> None:
    """Refuse a port already in use before spending seconds loading the pipeline."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        msg.fail(f"--host {host}: {e}", "pass an address such as 127.0.0.1", exits=1)
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
        except OSError as e:
            msg.fail(f"{host}:{port}: {e.strerror}", "choose another --port", exits=1)
    if not ipaddress.ip_address(address[0]).is_loopback:
        msg.warn(
            f"serving on {host}: reachable from other machines",
            "the service has no authentication; put it behind your hospital's proxy",
        )


@app.command()
def serve(
    model: str = typer.Argument(..., help=MODEL_HELP),
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port", min=1, max=65535),
    max_texts: int = typer.Option(
        Limits.max_texts, "--max-texts", min=1, help="Texts in one request"
    ),
    max_chars: int = typer.Option(
        Limits.max_chars, "--max-chars", min=1, help="Characters in one text"
    ),
    max_body_bytes: int = typer.Option(
        Limits.max_body_bytes, "--max-body-bytes", min=1, help="Bytes in one request body"
    ),
    max_queue: int = typer.Option(
        Limits.max_queue,
        "--max-queue",
        min=0,
        help="Requests waiting for the pipeline; more get 503",
    ),
    time_limit: float = typer.Option(
        Limits.time_limit,
        "--time-limit",
        min=0.001,
        help="Seconds of pipeline time for one request",
    ),
    threads: int = typer.Option(0, "--threads", help="torch threads (0: torch's default)"),
    precision: str | None = typer.Option(
        None,
        "--precision",
        help="Encoder arithmetic: auto, fp32, bf16 or int8 (default: MODEL's config)",
    ),
    log_level: str = typer.Option("info", "--log-level"),
):
    """Serve MODEL: REST API (/annotate, /meta, /health), the page (/) and Label Studio's ML
    backend (/setup, /predict)."""
    import uvicorn

    from .api import create_app

    try:
        limits = Limits(max_texts, max_chars, max_body_bytes, max_queue, time_limit)
    except ValueError as e:
        msg.fail(str(e), exits=1)
    check_model(model)
    check_precision(model, precision)
    check_port(host, port)
    nlp = load_model(model, threads, precision)
    msg.good(f"{model} loaded: {', '.join(nlp.pipe_names)}")
    uvicorn.run(
        create_app(nlp, limits),
        host=host,
        port=port,
        log_level=log_level,
        http="h11",
        # GET /?text=... carries the text in the URL: percent-encoded UTF-8 is up to 9 bytes
        # a character, and h11 refuses a request line over its buffer (16 KiB by default)
        h11_max_incomplete_event_size=max_chars * 9 + 16_384,
    )


@app.command("pre-annotate")
def pre_annotate(
    model: str = typer.Argument(..., help=MODEL_HELP),
    input_path: Path = typer.Argument(..., help=".txt (one text a line) or .jsonl"),
    output_path: Path = typer.Argument(..., help="Label Studio import file (.json)"),
    text_key: str = typer.Option("text", "--text-key", help="Text field of .jsonl records"),
    from_name: str = typer.Option("label", "--from-name", help="name of your <Labels> tag"),
    to_name: str = typer.Option("text", "--to-name", help="name of your <Text> tag"),
    batch_size: int = typer.Option(32, "--batch-size", min=1),
    threads: int = typer.Option(0, "--threads", help="torch threads (0: torch's default)"),
    precision: str | None = typer.Option(
        None,
        "--precision",
        help="Encoder arithmetic: auto, fp32, bf16 or int8 (default: MODEL's config)",
    ),
    select: int | None = typer.Option(
        None, "--select", min=1, help="Write only the N tasks to label next"
    ),
    strategy: str = typer.Option(
        DEFAULT_STRATEGY,
        "--strategy",
        help=f"What to label first: {', '.join(STRATEGIES)} (docs/results.md: active learning)",
    ),
):
    """Write Label Studio tasks with the model's predictions, the ones to label next first.

    A task's score is the confidence of the model's least certain span decision
    (zh_medner/serving/preannotate.py); the order follows --strategy.
    """
    from ..io import PathError
    from .preannotate import pre_annotate as run
    from .preannotate import write_tasks
    from .schema import LabelConfig

    if strategy not in STRATEGIES:
        msg.fail(f"--strategy {strategy}: use one of {', '.join(STRATEGIES)}", exits=1)
    config = LabelConfig(from_name=from_name, to_name=to_name, value_key=text_key)
    with contextlib.ExitStack() as held:
        records = _check_pre_annotate(held, model, input_path, output_path, text_key)
        check_precision(model, precision)
        nlp = load_model(model, threads, precision)
        tasks = run(nlp, records, text_key, config, batch_size, strategy, select)
        try:
            write_tasks(output_path, tasks)
        except (PathError, OSError) as e:
            msg.fail(f"{output_path}: cannot write it ({e})", "write to another OUTPUT", exits=1)
    _report_tasks(tasks, output_path)


def _report_tasks(tasks: list[dict], output_path: Path) -> None:
    predicted = [t["predictions"][0] for t in tasks if t["predictions"]]
    failed = [t for t in tasks if not t["predictions"]]
    if failed:
        first = failed[0]["meta"]["zh_medner_error"]
        msg.warn(
            f"{len(failed)} texts the pipeline failed on (the first: {first}): their tasks come "
            "first, without predictions, the reason under meta.zh_medner_error"
        )
    scores = [p.get("score") for p in predicted]
    if predicted and scores[0] is None:
        msg.warn("the pipeline has no span_head: no confidence, tasks keep the input order")
    elif predicted:
        msg.info(f"task scores {scores[0]:.3f} (first) .. {scores[-1]:.3f} (last)")
    regions = sum(len(p["result"]) for p in predicted)
    msg.good(f"{len(tasks)} tasks, {regions} predicted regions -> {output_path}")


def _check_pre_annotate(held, model: str, input_path: Path, output_path: Path, text_key: str):
    """The records, once everything that can be refused before the model loads has passed:
    OUTPUT (a .json file that can be written, not a folder, not the input), no other run
    writing it (its lock is then held until `held` closes), INPUT, and MODEL."""
    from ..io import PathError, check_output
    from ..locking import output_lock
    from .preannotate import read_records

    if output_path.suffix != ".json":
        msg.fail(f"{output_path}: OUTPUT must be a .json file (Label Studio's import)", exits=1)
    try:
        check_output(output_path, [input_path])
        held.enter_context(output_lock(output_path))
        records = read_records(input_path, text_key)
    except PathError as e:
        msg.fail(str(e), exits=1)
    check_model(model)
    return records


@app.command()
def annotate(
    model: str = typer.Argument(..., help=MODEL_HELP),
    input_path: Path = typer.Argument(..., help="JSONL records"),
    output_path: Path = typer.Argument(..., help="JSONL: one line per input line"),
    text_key: str = typer.Option("text", "--text-key"),
    id_key: str = typer.Option(
        "id", "--id-key", help="Copied from each input record to its output line"
    ),
    batch_size: int = typer.Option(64, "--batch-size", min=1),
    threads: int = typer.Option(0, "--threads", help="torch threads (0: torch's default)"),
    processes: int = typer.Option(
        1, "--processes", min=1, help="Worker processes, one torch thread each"
    ),
    encoding: str = typer.Option("utf-8", "--encoding", help=ENCODING_HELP),
    restart: bool = typer.Option(
        False, "--restart", help="Annotate from the start: replaces OUTPUT and its sidecar"
    ),
    precision: str | None = typer.Option(
        None,
        "--precision",
        help="Encoder arithmetic: auto, fp32, bf16 or int8 (default: MODEL's config)",
    ),
):
    """Write one output line per input line: {id, line, entities} or {line, error}.

    Rerunning after an interruption continues after the last complete output line;
    OUTPUT.resume.json records the input and options, and a resume against others is refused.
    """
    run_annotate(
        model,
        input_path,
        output_path,
        text_key,
        id_key,
        batch_size,
        threads,
        processes,
        encoding,
        restart,
        precision,
    )


@app.command()
def export(
    pipeline: Path = typer.Argument(..., help="Pipeline folder (pipelines/medner_trf)"),
):
    """Add an int8 copy of PIPELINE's encoder (ONNX Runtime dynamic quantisation) to its
    transformer file, in place. precision "auto" runs it where the CPU has VNNI or AVX2 and no
    fast bf16; "int8" always.
    """
    from ..encoder.quantize import QuantizeError, add_int8_encoder

    check_model(str(pipeline))
    try:
        stats = add_int8_encoder(pipeline)
    except QuantizeError as e:
        msg.fail(str(e), exits=1)
    msg.good(
        f"{pipeline}: int8 encoder added ({stats['int8_bytes'] / 1e6:.1f} MB; smallest cosine "
        f"to fp32 on sample texts {stats['min_cosine']})"
    )


if __name__ == "__main__":
    app()
