"""Speed, memory and accuracy per precision, side by side: the same records, one run.

The records are a gold DocBin's texts (CMeEE v1 dev, else the embedded dev split), whole and in
their own order, as a user's `nlp.pipe` gets them: no cutting, no sorting (the pipeline buckets
windows by length itself). Every row runs in its own process, so its peak RSS and cold load time
are its own:

  pipeline  the assembled or packaged pipeline through nlp.pipe at each precision, scored on
            the same gold docs (official CMeEE metric, nested included, and flat F1)
  workers   the default precision with nlp.pipe(n_process=N), one torch thread each
  hf        transformers' pipeline("token-classification") over the same fp32 encoder weights
            with a token-classification head, windows of 128 tokens every 112 like the pipeline
  components (`--components`) the seconds of each component at each precision: make_doc,
            then each component over all the records in turn, batches of nlp.batch_size
            (after an untimed pass with `--warm`)

With `--warm` each pipeline row passes over the records once before the timed pass: the steady
state of a long-running process (`zh-medner serve`, a batch over millions of notes), where the
first pass's one-off costs are spent (bf16's weight copy and its CPU kernels made per input shape).
Without it a row is the first pass of a fresh process, as a one-off command sees it.

With `--repeats N` each pipeline row runs N times, the precisions taking turns (fp32, int8,
auto, fp32, ...), and keeps its fastest run (`runs_chars_per_s` lists them all): a busy spell
of a shared machine then slows one run of a row, not the row.
"""

import json
import multiprocessing as mp
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import typer
from wasabi import msg

WINDOW, STRIDE = 128, 112  # the pipeline's strided_spans
EXIT_WAIT_S = 30  # how long a child may take to exit after sending its result


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _gold(nlp, data: str, limit: int):
    from spacy.tokens import DocBin

    docs = list(DocBin().from_disk(data).get_docs(nlp.vocab))
    return docs[:limit] if limit else docs


def _load(model: str, precision: str | None):
    """The pipeline with its encoder at `precision` (None: the pipeline's own setting)."""
    import spacy

    config = {"components.transformer.model.precision": precision} if precision else {}
    return spacy.load(model, config=config)


def run_pipeline(
    model: str, data: str, limit: int, threads: int, precision: str, procs: int, warm: bool = False
):
    import torch

    from zh_medner.evaluation.ner import evaluate_ner

    torch.set_num_threads(1 if procs > 1 else threads)
    if procs > 1 and sys.platform.startswith("linux"):
        # this child was spawned, and its workers would be too: fork them, as nlp.pipe does
        # for a user on Linux (Python 3.11-3.13's default there)
        mp.set_start_method("fork", force=True)
    t0 = time.perf_counter()
    nlp = _load(model, precision)
    load = time.perf_counter() - t0
    shim = _encoder_shim(nlp)
    gold = _gold(nlp, data, limit)
    if warm:  # the same records through nlp.pipe, unscored
        for _ in nlp.pipe((d.text for d in gold), n_process=procs):
            pass
    scores = evaluate_ner(nlp, gold, n_process=procs)
    return {
        "load_s": load,
        "seconds": scores["seconds"],
        "chars": sum(len(d.text) for d in gold),
        "docs": len(gold),
        "precision": shim.run_precision(),
        "official_f": scores["official"]["f"],
        "flat_f": scores["flat"]["f"],
    }


def export_encoder(model: str, out_dir: str, *_) -> dict:
    """The pipeline's encoder weights and tokenizer as a Hugging Face folder."""
    import spacy

    trf = spacy.load(model).get_pipe("transformer").model
    trf.transformer.save_pretrained(out_dir)
    trf.tokenizer.save_pretrained(out_dir)
    return {}


def run_hf(hf_dir: str, data: str, limit: int, threads: int, *_):
    import spacy
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline

    torch.set_num_threads(threads)
    texts = [d.text for d in _gold(spacy.blank("zh"), data, limit)]
    t0 = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(hf_dir)
    tokenizer.model_max_length = WINDOW
    # the encoder's weights with a fresh head: O + B-/I- for the nine CMeEE labels
    head = AutoModelForTokenClassification.from_pretrained(hf_dir, num_labels=1 + 2 * 9).eval()
    tagger = pipeline(
        "token-classification",
        model=head,
        tokenizer=tokenizer,
        aggregation_strategy="simple",
        stride=WINDOW - STRIDE,
        device="cpu",
    )
    load = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in tagger(texts, batch_size=64):
        pass
    seconds = time.perf_counter() - t0
    chars = sum(len(t) for t in texts)
    return {"load_s": load, "seconds": seconds, "chars": chars, "docs": len(texts)}


def run_components(
    model: str, data: str, limit: int, threads: int, precision: str, warm: bool = False
):
    """Seconds in each component over the records in order, one component at a time; `warm`:
    after one untimed pass of the whole pipeline (bf16's first pass makes its kernels)."""
    import torch

    torch.set_num_threads(threads)
    nlp = _load(model, precision)
    texts = [d.text for d in _gold(nlp, data, limit)]
    if warm:
        for _ in nlp.pipe(texts):
            pass
    encoder = _time_encoder_forward(nlp)
    t0 = time.perf_counter()
    docs = [nlp.make_doc(text) for text in texts]
    seconds = {"make_doc": time.perf_counter() - t0}
    for name, proc in nlp.pipeline:
        t0 = time.perf_counter()
        if hasattr(proc, "pipe"):
            docs = list(proc.pipe(docs, batch_size=nlp.batch_size))
        else:
            docs = [proc(doc) for doc in docs]
        seconds[name] = time.perf_counter() - t0
    return {"components": seconds, "encoder_forward": encoder["seconds"]}


def _encoder_shim(nlp):
    """The transformer component's encoder shim (ZhHFShim): its precision and its forward."""
    return nlp.get_pipe("transformer").model.layers[0].shims[0]


def _time_encoder_forward(nlp) -> dict:
    """Count the seconds spent in the encoder's forward (the shim's `_forward`: the part of the
    transformer component that the precision changes; the rest is tokenising and aligning).
    Wraps this process's pipeline only."""
    spent = {"seconds": 0.0}
    shim = _encoder_shim(nlp)
    forward = shim._forward

    def timed(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return forward(*args, **kwargs)
        finally:
            spent["seconds"] += time.perf_counter() - t0

    shim._forward = timed
    return spent


def measure_components(
    pipeline_path: str, data: str, limit: int, threads: int, precisions, warm: bool = False
):
    """({precision: {component: seconds}}, {precision: seconds in the encoder's forward}),
    each precision in its own process; printed."""
    found, encoder = {}, {}
    for precision in precisions:
        result = in_child("components", pipeline_path, data, limit, threads, precision, warm)
        if "error" in result:
            msg.warn(f"components at {precision}: {result['error']}")
        found[precision] = result.get("components") or {}
        encoder[precision] = result.get("encoder_forward")
    if found and all(found.values()):
        rows = component_table(found, encoder)
        msg.table(rows, header=("seconds in", *found), divider=True)
    return found, encoder


def component_table(found: dict[str, dict], encoder: dict | None = None) -> list[tuple]:
    """One row per component, one column per precision, then the encoder's forward (a part of
    the transformer component, so not summed again) and the total."""
    names = list(next(iter(found.values())))
    rows = [(n, *(f"{found[p][n]:.2f}" for p in found)) for n in names]
    if encoder and all(encoder.get(p) is not None for p in found):
        rows.append(("of which the encoder forward", *(f"{encoder[p]:.2f}" for p in found)))
    return rows + [("total", *(f"{sum(found[p].values()):.2f}" for p in found))]


RUNNERS = {
    "pipeline": run_pipeline,
    "export": export_encoder,
    "hf": run_hf,
    "components": run_components,
}


def _child(name, args, queue):
    try:
        result = RUNNERS[name](*args)
        result["peak_rss_mb"] = _peak_rss_mb()
        queue.put(result)
    except Exception as e:  # reported in the table, the other rows still run
        queue.put({"error": f"{type(e).__name__}: {e}"})


def in_child(name: str, *args) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(name, args, queue))
    proc.start()
    result = queue.get()
    # a child whose nlp.pipe(n_process=N) failed can hang at exit, flushing its queues to
    # workers that never started: its result (the error) is in, so it is stopped
    proc.join(timeout=EXIT_WAIT_S)
    if proc.is_alive():
        proc.terminate()
        proc.join()
    if "seconds" in result:
        result["chars_per_s"] = result["chars"] / result["seconds"]
        result["docs_per_s"] = result["docs"] / result["seconds"]
    return result


def fastest(best: dict | None, row: dict) -> dict:
    """The faster of two runs of a row, with every run's chars/s in `runs_chars_per_s`."""
    runs = (best or {}).get("runs_chars_per_s", []) + [row.get("chars_per_s")]
    if best is None or "chars_per_s" not in best:
        keep = row
    elif "chars_per_s" not in row:
        keep = best
    else:
        keep = max(best, row, key=lambda r: r["chars_per_s"])
    return {**keep, "runs_chars_per_s": runs}


def table(rows: dict) -> list[tuple]:
    out = []
    for name, r in rows.items():
        if "error" in r:
            out.append((name, "-", "-", "-", "-", "-", "-", "-", r["error"][:70]))
            continue
        f1 = [f"{100 * r[k]:.2f}" if k in r else "-" for k in ("official_f", "flat_f")]
        out.append(
            (name, r.get("precision", "fp32"), f"{r['chars_per_s']:.0f}",
             f"{r['docs_per_s']:.1f}", f"{r['peak_rss_mb']:.0f}", f"{r['load_s']:.1f}", *f1, "")
        )  # fmt: skip
    return out


def speed_ratios(rows: dict) -> dict[str, float]:
    """Each row's chars/s over the fp32 pipeline's, and the default's over transformers'."""
    ratios = {}
    base = rows.get("pipeline fp32", {}).get("chars_per_s")
    for name, r in rows.items():
        if base and "chars_per_s" in r:
            ratios[f"{name} / pipeline fp32"] = r["chars_per_s"] / base
    hf_speed = rows.get("hf token-classification", {}).get("chars_per_s")
    if hf_speed and "chars_per_s" in rows.get("pipeline auto", {}):
        ratios["pipeline auto / hf"] = rows["pipeline auto"]["chars_per_s"] / hf_speed
    return ratios


def main(
    pipeline_path: str = typer.Option("pipelines/medner_trf", "--pipeline"),
    data: Path = typer.Option(Path("corpus/cmeee/dev.spacy"), "--data", help="gold DocBin"),
    fallback: Path = typer.Option(Path("corpus/dev.spacy"), "--fallback-data"),
    limit: int = typer.Option(0, "--limit", help="first N records (0: all)"),
    threads: int = typer.Option(2, "--threads"),
    precisions: str = typer.Option("fp32,bf16,int8,auto", "--precisions"),
    processes: int = typer.Option(2, "--processes", help="the workers row (0: skip it)"),
    repeats: int = typer.Option(1, "--repeats", help="runs of each pipeline row: the fastest"),
    hf: bool = typer.Option(True, "--hf/--no-hf"),
    wheel: Path | None = typer.Option(None, "--wheel", help="report its size"),
    components: bool = typer.Option(False, "--components", help="seconds per component"),
    warm: bool = typer.Option(False, "--warm", help="time a second pass (steady state)"),
    output: Path = typer.Option(Path("metrics/speed.json"), "--output"),
):
    data = data if data.exists() else fallback
    msg.info(f"{pipeline_path} on {data} ({limit or 'all'} records, in order), {threads} threads")
    rows = {}
    for _ in range(max(1, repeats)):
        for precision in precisions.split(","):
            row = in_child("pipeline", pipeline_path, str(data), limit, threads, precision, 1, warm)
            msg.info(f"{precision}: {row}")
            rows[f"pipeline {precision}"] = fastest(rows.get(f"pipeline {precision}"), row)
    if processes > 1:
        name = f"pipeline auto, {processes} processes x 1 thread"
        rows[name] = in_child("pipeline", pipeline_path, str(data), limit, 1, "auto", processes)
    if hf:
        hf_dir = tempfile.mkdtemp(prefix="bench-encoder-")
        exported = in_child("export", pipeline_path, hf_dir)
        rows["hf token-classification"] = exported if "error" in exported else in_child(
            "hf", hf_dir, str(data), limit, threads
        )  # fmt: skip
        shutil.rmtree(hf_dir, ignore_errors=True)
    header = ("run", "precision", "chars/s", "docs/s", "peak RSS MB", "load s", "official F1",
              "flat F1", "note")  # fmt: skip
    msg.table(table(rows), header=header, divider=True)
    ratios = speed_ratios(rows)
    for key, value in ratios.items():
        msg.text(f"{key}: {value:.2f}")
    found, encoder = {}, {}
    if components:
        found, encoder = measure_components(
            pipeline_path, str(data), limit, threads, precisions.split(","), warm
        )
    sizes = {"wheel_mb": wheel.stat().st_size / 1e6} if wheel and wheel.exists() else {}
    if sizes:
        msg.text(f"wheel {wheel.name}: {sizes['wheel_mb']:.1f} MB")
    output.parent.mkdir(parents=True, exist_ok=True)
    report = {"data": str(data), "threads": threads, "warm": warm, "rows": rows, "ratios": ratios,
              **sizes}  # fmt: skip
    if found:
        report["components_seconds"] = found
        report["encoder_forward_seconds"] = encoder
    output.write_text(json.dumps(report, indent=2), encoding="utf8")


if __name__ == "__main__":
    typer.run(main)
