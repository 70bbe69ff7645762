"""A tiny request's latency behind large requests whose clients left (`zh-medner serve`).

Starts `zh-medner serve MODEL` on 127.0.0.1 and a free port. For each N in --abandoned, it
sends N large POST /annotate requests (--large-chars characters each, in texts of at most
--max-chars) from clients that give up after --give-up seconds and close their connection,
then times one tiny request (one short text). It also times the tiny request on an idle
server, and asks /health while the large requests are outstanding. Prints a table and writes
it as JSON. Every request goes to 127.0.0.1 only; the server is stopped whatever happens.
"""

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import typer
from wasabi import msg

from zh_medner.io import PathError, check_outputs, write_text_atomic
from zh_medner.serving.limits import Limits

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "assets/default_corpus.label_studio.json"
TINY = "患者发热三天。"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def server(model: str, options: list[str], start_timeout: float = 600.0):
    """`zh-medner serve MODEL OPTIONS` on a free loopback port; yields its URL."""
    port = free_port()
    cmd = [sys.executable, "-m", "zh_medner.serving.cli", "serve", model, "--port", str(port)]
    log = tempfile.TemporaryFile(mode="w+", encoding="utf8")  # a pipe could fill and block
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false")
    proc = subprocess.Popen(
        cmd + ["--log-level", "warning", *options], stdout=log, stderr=log, env=env
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout
        while not _healthy(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                msg.fail("the server did not start", log.read()[-3000:], exits=1)
            time.sleep(0.25)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def large_texts(chars: int, max_chars: int) -> list[str]:
    """`chars` characters of the embedded corpus, in texts of at most `max_chars`."""
    stream = "".join(t["data"]["text"] for t in json.loads(CORPUS.read_text("utf8")))
    stream = (stream * (chars // len(stream) + 1))[:chars]
    return [stream[i : i + max_chars] for i in range(0, chars, max_chars)]


def abandon(url: str, texts: list[str], give_up: float) -> str:
    """POST the texts and leave after `give_up` seconds (the connection is closed)."""
    try:
        r = httpx.post(url + "/annotate", json={"texts": texts}, timeout=give_up)
        return str(r.status_code)
    except httpx.TimeoutException:
        return "left"


def tiny(url: str, timeout: float) -> tuple[float, int]:
    start = time.perf_counter()
    r = httpx.post(url + "/annotate", json={"texts": [TINY]}, timeout=timeout)
    return time.perf_counter() - start, r.status_code


def scenario(url: str, n: int, texts: list[str], give_up: float, timeout: float) -> dict:
    with ThreadPoolExecutor(max(1, n)) as pool:
        left = [pool.submit(abandon, url, texts, give_up) for _ in range(n)]
        time.sleep(min(0.3, give_up / 2))  # the large requests are in before the tiny one
        health = httpx.get(url + "/health", timeout=timeout).json()
        outcomes = [f.result() for f in left]
    seconds, status = tiny(url, timeout)
    return {
        "abandoned": n,
        "tiny_seconds": round(seconds, 2),
        "tiny_status": status,
        "large_outcomes": outcomes,
        "health_meanwhile": health.get("status"),
    }


def main(
    model: str = typer.Argument(..., help="Installed package name or pipeline folder"),
    output: Path = typer.Argument(..., help="Results (.json)"),
    abandoned: list[int] = typer.Option([1, 3], "--abandoned", help="large requests left; repeat"),
    large_chars: int = typer.Option(48_000, "--large-chars", min=1),
    max_chars: int = typer.Option(Limits.max_chars, "--max-chars", min=1),
    give_up: float = typer.Option(1.0, "--give-up", help="seconds before a client leaves"),
    timeout: float = typer.Option(300.0, "--timeout", help="the tiny request's timeout"),
    server_option: list[str] = typer.Option([], "--server-option", help="passed to serve"),
):
    """Print the tiny request's latency on an idle server and behind abandoned requests."""
    try:
        check_outputs([output], [])
    except PathError as e:
        msg.fail(str(e), exits=1)
    texts = large_texts(large_chars, max_chars)
    options = ["--max-chars", str(max_chars), *server_option]
    with server(model, options) as url:
        tiny(url, timeout)  # warm-up
        rows = [scenario(url, 0, texts, give_up, timeout)]
        for n in abandoned:
            time.sleep(give_up)
            rows.append(scenario(url, n, texts, give_up, timeout))
            while tiny(url, timeout)[0] > 2 * rows[0]["tiny_seconds"] + 0.5:
                time.sleep(0.5)  # the next scenario starts on an idle server
    print(f"\n| large requests left after {give_up:g} s | tiny request latency (s) | status |")
    print("|---|---|---|")
    for row in rows:
        print(
            f"| {row['abandoned']} x {large_chars:,} chars | {row['tiny_seconds']} | "
            f"{row['tiny_status']} |"
        )
    result = {"model": model, "large_chars": large_chars, "give_up": give_up, "rows": rows}
    write_text_atomic(output, json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    msg.good(f"-> {output}")


if __name__ == "__main__":
    typer.run(main)
