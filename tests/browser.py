"""Headless Chromium for the page tests: Debian's `chromium` driven by Python `playwright`.

Playwright's own browser download (`playwright install`) is never used: the tests launch
/usr/bin/chromium. Without it, or without the playwright package, they skip and say why.
"""

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from .conftest import ROOT

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = ROOT / "metrics" / "screenshots"


@contextlib.contextmanager
def chromium():
    """A headless Chromium browser, or a skip naming what is missing."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: apt-get install -y chromium (see .ci/run)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the playwright package is absent: pip install -e .[dev]"
    )
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def zh_medner_command() -> list[str]:
    """The installed console script, else the same app through `python -m`."""
    script = Path(sys.executable).with_name("zh-medner")
    return [str(script)] if script.exists() else [sys.executable, "-m", "zh_medner.serving.cli"]


@contextlib.contextmanager
def running_server(model: Path, *options: str, timeout: float = 120.0):
    """`zh-medner serve MODEL` on 127.0.0.1 and a free port; yields its base URL; stops it."""
    port = free_port()
    cmd = zh_medner_command() + ["serve", str(model), "--port", str(port), *options]
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false")
    # a file, not a pipe: the access log of many requests would fill a pipe and block the server
    log = tempfile.TemporaryFile(mode="w+", encoding="utf8")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"

    def output() -> str:
        log.seek(0)
        return log.read()[-4000:]

    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"server exited {proc.returncode}: {output()}")
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"server not up after {timeout} s: {output()}")
            time.sleep(0.25)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
