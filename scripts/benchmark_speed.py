"""Speed and memory, side by side: the same texts, the same machine, one run.

The texts (CMeEE v1 dev notes, and long records made of consecutive notes) are cut into pieces of
at most 126 characters (with [CLS] and [SEP], one 128-token encoder window each), sorted by
length, and every run takes them in batches of 64:

  (a) encoder     the pipeline's own encoder weights: tokenizer + forward pass, the ceiling
  (b) pipeline    the assembled / packaged spaCy pipeline through nlp.pipe
  (c) hf          transformers' pipeline("token-classification") over the same encoder weights
                  with a token-classification head
  (d) cnn         spaCy's CNN tok2vec + ner pipeline

Each runs in its own process, so peak RSS and cold load time are its own. Ratios hold on noisy
machines; absolute times do not.
"""

import json
import multiprocessing as mp
import resource
import shutil
import tempfile
import time
from pathlib import Path

import typer
from wasabi import msg

PIECE = 126  # characters: with [CLS] and [SEP], one 128-token window


def bench_texts(
    cmeee_dev: Path | None, fallback: Path, n_short: int, n_long: int, long_parts: int
) -> list[str]:
    """Short notes, plus long records made of `long_parts` consecutive notes each."""
    if cmeee_dev and cmeee_dev.exists():
        with cmeee_dev.open(encoding="utf8") as f:
            notes = [json.loads(line)["text"] for line in f]
    else:
        notes = [task["data"]["text"] for task in json.loads(fallback.read_text(encoding="utf8"))]
    short = [notes[i % len(notes)] for i in range(n_short)]
    start = n_short
    long = [
        "".join(notes[(start + j * long_parts + k) % len(notes)] for k in range(long_parts))
        for j in range(n_long)
    ]
    return short + long


def pieces(texts: list[str], size: int = PIECE) -> list[str]:
    """Every text cut into pieces of at most `size` characters, shortest first."""
    cut = [t[i : i + size] for t in texts for i in range(0, len(t), size)]
    return sorted((p for p in cut if p.strip()), key=len)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _torch_setup(threads: int):
    import torch

    torch.set_num_threads(threads)
    return torch


def export_encoder(model: str, out_dir: str, *_) -> dict:
    """Save the pipeline's encoder weights and tokenizer as a Hugging Face folder."""
    import spacy

    trf = spacy.load(model).get_pipe("transformer").model
    trf.transformer.save_pretrained(out_dir)
    trf.tokenizer.save_pretrained(out_dir)
    return {}


def run_encoder(
    hf_dir: str, texts: list[str], threads: int, batch: int, device: str, bf16: bool
) -> dict:
    torch = _torch_setup(threads)
    from transformers import AutoModel, AutoTokenizer

    t0 = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(hf_dir)
    encoder = AutoModel.from_pretrained(hf_dir).to(device).eval()
    load = time.perf_counter() - t0
    spans = texts
    t0 = time.perf_counter()
    with (
        torch.inference_mode(),
        torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16, enabled=bf16),
    ):
        for i in range(0, len(spans), batch):
            enc = tokenizer(spans[i : i + batch], padding="longest", return_tensors="pt").to(device)
            encoder(**enc)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
    return {"load_s": load, "seconds": time.perf_counter() - t0}


def run_pipeline(
    model: str, texts: list[str], threads: int, batch: int, device: str, bf16: bool
) -> dict:
    _torch_setup(threads)
    import spacy

    if device.startswith("cuda"):
        spacy.require_gpu()
    t0 = time.perf_counter()
    nlp = spacy.load(model)
    load = time.perf_counter() - t0
    t0 = time.perf_counter()
    n_ents = sum(len(doc.ents) for doc in nlp.pipe(texts, batch_size=batch))
    return {"load_s": load, "seconds": time.perf_counter() - t0, "ents": n_ents}


def run_hf(
    hf_dir: str, texts: list[str], threads: int, batch: int, device: str, bf16: bool
) -> dict:
    torch = _torch_setup(threads)
    from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline

    t0 = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(hf_dir)
    # the encoder's weights with a fresh head: O + B-/I- for the nine CMeEE labels
    head = AutoModelForTokenClassification.from_pretrained(hf_dir, num_labels=1 + 2 * 9)
    tokenizer.model_max_length = PIECE + 2
    head = head.to(device, dtype=torch.bfloat16 if bf16 else torch.float32).eval()
    tagger = pipeline(
        "token-classification",
        model=head,
        tokenizer=tokenizer,
        aggregation_strategy="simple",
        device=device,
    )
    load = time.perf_counter() - t0
    t0 = time.perf_counter()
    n_ents = sum(len(r) for r in tagger(texts, batch_size=batch))
    return {"load_s": load, "seconds": time.perf_counter() - t0, "ents": n_ents}


RUNNERS = {
    "export": export_encoder,
    "encoder": run_encoder,
    "pipeline": run_pipeline,
    "hf": run_hf,
    "cnn": run_pipeline,
}


def _child(name, model, texts, threads, batch, device, bf16, queue):
    try:
        result = RUNNERS[name](model, texts, threads, batch, device, bf16)
        result["peak_rss_mb"] = _peak_rss_mb()
        queue.put(result)
    except Exception as e:  # reported in the table, the other rows still run
        queue.put({"error": f"{type(e).__name__}: {e}"})


def main(
    pipeline_path: str = typer.Option(
        "pipelines/medner_trf", "--pipeline", help="Assembled pipeline folder or installed package"
    ),
    cnn: str = typer.Option(
        "training/cmeee_cnn/model-best", "--cnn", help="CNN tok2vec + ner pipeline"
    ),
    cmeee_dev: Path = typer.Option(
        Path("../shared/data/cmeee/derived/cmeee_v1_dev.jsonl"), "--cmeee-dev"
    ),
    fallback: Path = typer.Option(
        Path("assets/default_corpus.label_studio.json"), "--fallback-texts"
    ),
    n_short: int = typer.Option(1000, "--short"),
    n_long: int = typer.Option(20, "--long"),
    long_parts: int = typer.Option(
        40, "--long-parts", help="Notes concatenated into one long record"
    ),
    threads: int = typer.Option(2, "--threads"),
    batch: int = typer.Option(64, "--batch"),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda"),
    bf16: bool = typer.Option(False, "--bf16"),
    only: str = typer.Option("encoder,pipeline,hf,cnn", "--only"),
    output: Path = typer.Option(Path("metrics/speed.json"), "--output"),
):
    texts = pieces(bench_texts(cmeee_dev, fallback, n_short, n_long, long_parts))
    chars = sum(len(t) for t in texts)
    msg.info(
        f"{len(texts)} pieces of at most {PIECE} characters ({n_short} notes, {n_long} records of "
        f"{long_parts} notes), {chars} characters, batches of {batch}, {threads} threads, "
        f"{device}{' bf16' if bf16 else ''}"
    )
    ctx = mp.get_context("spawn")

    def in_child(name, model, payload):
        queue = ctx.Queue()
        proc = ctx.Process(
            target=_child, args=(name, model, payload, threads, batch, device, bf16, queue)
        )
        proc.start()
        result = queue.get()
        proc.join()
        return result

    hf_dir = tempfile.mkdtemp(prefix="bench-encoder-")
    exported = in_child("export", pipeline_path, hf_dir)
    results = {}
    for name in only.split(","):
        model = {"cnn": cnn, "pipeline": pipeline_path}.get(name, hf_dir)
        if name == "cnn" and not Path(cnn).exists():
            results[name] = {"error": f"{cnn} not found (spacy project run train-cmeee-cnn)"}
            continue
        if name in ("encoder", "hf") and "error" in exported:
            results[name] = exported
            continue
        result = in_child(name, model, texts)
        if "seconds" in result:
            result.update(
                chars_per_s=chars / result["seconds"], docs_per_s=len(texts) / result["seconds"]
            )
        results[name] = result
        msg.info(f"{name}: {result}")
    rows = []
    for name, r in results.items():
        if "error" in r:
            rows.append((name, "-", "-", "-", "-", r["error"][:60]))
        else:
            rows.append(
                (
                    name,
                    f"{r['chars_per_s']:.0f}",
                    f"{r['docs_per_s']:.1f}",
                    f"{r['peak_rss_mb']:.0f}",
                    f"{r['load_s']:.1f}",
                    "",
                )
            )
    msg.table(
        rows, header=("run", "chars/s", "docs/s", "peak RSS MB", "load s", "note"), divider=True
    )
    ratios = {}
    for num, den in (("pipeline", "encoder"), ("pipeline", "hf"), ("pipeline", "cnn")):
        if "chars_per_s" in results.get(num, {}) and "chars_per_s" in results.get(den, {}):
            ratios[f"{num}/{den}"] = results[num]["chars_per_s"] / results[den]["chars_per_s"]
            msg.text(f"{num}/{den}: {ratios[f'{num}/{den}']:.2f}")
    shutil.rmtree(hf_dir, ignore_errors=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(
        json.dumps(
            {
                "texts": len(texts),
                "chars": chars,
                "threads": threads,
                "device": device,
                "bf16": bf16,
                "results": results,
                "ratios": ratios,
            },
            indent=2,
        ),
        encoding="utf8",
    )


if __name__ == "__main__":
    typer.run(main)
