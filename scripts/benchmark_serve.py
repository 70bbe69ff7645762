"""Load benchmark of `zh-medner serve`: bounded concurrent requests on loopback.

Starts `zh-medner serve MODEL` on 127.0.0.1 and a free port, sends --requests POST /annotate
requests (one text each by default, the embedded corpus's texts in turn), at most
--concurrency in flight, after one untimed warm-up request; then stops the server. Prints
throughput, latency percentiles and errors, and writes them as JSON.

Every request goes to 127.0.0.1 only, the number of requests is fixed, each has a timeout,
and the server is stopped whatever happens.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy
import typer
from wasabi import msg

from zh_medner.io import PathError, check_outputs, write_text_atomic
from zh_medner.serving.preannotate import read_records

DEFAULT_TEXTS = Path(__file__).resolve().parent.parent / "assets/default_corpus.label_studio.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_texts(path: Path | None) -> list[str]:
    if path is None:
        return [task["data"]["text"] for task in json.loads(DEFAULT_TEXTS.read_text("utf8"))]
    return [r["text"] for r in read_records(path)]


def wait_up(url: str, server: subprocess.Popen, log, start_timeout: float) -> float:
    """Seconds until the server answers /health; exit 1 if it exits or is too slow."""
    started = time.perf_counter()
    while True:
        if server.poll() is not None:
            log.seek(0)
            msg.fail(f"the server exited ({server.returncode})", log.read()[-3000:], exits=1)
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.perf_counter() - started > start_timeout:
            msg.fail(f"the server did not answer within {start_timeout} s", exits=1)
        time.sleep(0.25)
    return time.perf_counter() - started


@contextmanager
def served(model: str, threads: int, start_timeout: float) -> Iterator[tuple[str, float]]:
    """(its URL, its load seconds): `zh-medner serve MODEL` on loopback, stopped at the end."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "zh_medner.serving.cli", "serve", model, "--port", str(port)]
    cmd += ["--log-level", "warning", "--threads", str(threads)]
    log = tempfile.TemporaryFile(mode="w+", encoding="utf8")  # a pipe could fill and block
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false")
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        yield url, wait_up(url, server, log, start_timeout)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def send_requests(
    url: str,
    pool: list[str],
    requests: int,
    concurrency: int,
    texts_per_request: int,
    request_timeout: float,
) -> tuple[dict, list[tuple[float, int | str, int]], float]:
    """(/meta, (seconds, status, characters) per request, seconds in all) after a warm-up."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    with httpx.Client(base_url=url, timeout=request_timeout, limits=limits) as client:
        meta = client.get("/meta").json()
        client.post("/annotate", json={"texts": pool[:texts_per_request]})  # warm-up

        def one(i: int) -> tuple[float, int | str, int]:
            first = i * texts_per_request
            batch = [pool[(first + j) % len(pool)] for j in range(texts_per_request)]
            t0 = time.perf_counter()
            try:
                status = client.post("/annotate", json={"texts": batch}).status_code
            except httpx.HTTPError as e:
                status = type(e).__name__
            return time.perf_counter() - t0, status, sum(map(len, batch))

        t0 = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as executor:
            results = list(executor.map(one, range(requests)))
        seconds = time.perf_counter() - t0
    return meta, results, seconds


def measures(results: list[tuple], seconds: float, requests: int, texts_per_request: int) -> dict:
    """Throughput, latency percentiles and errors of the timed requests."""
    latency = numpy.array([r[0] for r in results]) * 1000
    statuses: dict[str, int] = {}
    for _, status, _ in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    return {
        "mean_chars_per_text": sum(r[2] for r in results) / requests / texts_per_request,
        "seconds": seconds,
        "requests_per_second": requests / seconds,
        "chars_per_second": sum(r[2] for r in results) / seconds,
        "latency_ms": {
            "p50": float(numpy.percentile(latency, 50)),
            "p95": float(numpy.percentile(latency, 95)),
            "p99": float(numpy.percentile(latency, 99)),
            "max": float(latency.max()),
        },
        "errors": sum(n for s, n in statuses.items() if s != "200"),
        "status_counts": statuses,
    }


def report(out: dict, output: Path) -> None:
    """Write the results, show them; exit 1 if a request failed."""
    write_text_atomic(output, json.dumps(out, indent=2) + "\n")
    lat, errors = out["latency_ms"], out["errors"]
    requests, concurrency = out["requests"], out["concurrency"]
    rows = [
        ("requests (concurrency)", f"{requests} ({concurrency})"),
        (
            "texts per request",
            f"{out['texts_per_request']} (~{out['mean_chars_per_text']:.0f} chars)",
        ),
        ("throughput", f"{out['requests_per_second']:.1f} req/s"),
        ("characters per second", f"{out['chars_per_second']:,.0f}"),
        ("latency p50 / p95 / p99", f"{lat['p50']:.0f} / {lat['p95']:.0f} / {lat['p99']:.0f} ms"),
        ("errors", f"{errors} {out['status_counts']}"),
    ]
    msg.table(rows, header=("load benchmark", out["model"]), divider=True)
    if errors:
        msg.fail(f"{errors} errors -> {output}", exits=1)
    msg.good(f"-> {output}")


def main(
    model: str = typer.Argument(..., help="Installed package name or pipeline folder"),
    output: Path = typer.Argument(..., help="Results (.json)"),
    requests: int = typer.Option(200, "--requests", min=1, max=100_000),
    concurrency: int = typer.Option(8, "--concurrency", min=1, max=256),
    texts_per_request: int = typer.Option(1, "--texts-per-request", min=1),
    texts: Path | None = typer.Option(None, "--texts", help=".txt or .jsonl (default: corpus)"),
    threads: int = typer.Option(0, "--threads", help="the server's torch threads (0: default)"),
    start_timeout: float = typer.Option(600.0, "--start-timeout", help="seconds to load"),
    request_timeout: float = typer.Option(120.0, "--request-timeout"),
):
    """Throughput and p50/p95 latency of POST /annotate under bounded concurrency."""
    try:
        check_outputs([output], [texts])
    except PathError as e:
        msg.fail(str(e), exits=1)
    pool = load_texts(texts)
    with served(model, threads, start_timeout) as (url, load_seconds):
        meta, results, seconds = send_requests(
            url, pool, requests, concurrency, texts_per_request, request_timeout
        )
    out = {
        "model": model,
        "components": meta["components"],
        "requests": requests,
        "concurrency": concurrency,
        "texts_per_request": texts_per_request,
        **measures(results, seconds, requests, texts_per_request),
        "server_load_seconds": load_seconds,
        "cpu_count": os.cpu_count(),
    }
    report(out, output)


if __name__ == "__main__":
    typer.run(main)
