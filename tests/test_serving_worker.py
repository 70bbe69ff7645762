"""The service's pipeline thread (zh_medner/serving/worker.py): a bounded queue (503 with
Retry-After), the work of a client that has gone dropped, a time limit per request, and a 422
for a text the pipeline fails on. Requests go straight to the ASGI app, so a client can leave
(`http.disconnect`) while its request waits or runs, as it does on a real connection."""

import asyncio
import json
import threading
import time

import pytest
from spacy.language import Language

from zh_medner.serving.api import Limits, create_app

from .serving_pipeline import small_pipeline

LONG = "患者发热咳嗽。" * 143  # 1,001 characters: each chunk of the worker holds one or two
STATE = {"seen": [], "gate": threading.Event(), "delay": 0.0}


@Language.component("test_worker_probe")
def probe(doc):
    """Records each text; waits at the gate on WAIT, sleeps `delay`, fails on BOOM."""
    STATE["seen"].append(doc.text)
    if doc.text.startswith("WAIT"):
        assert STATE["gate"].wait(30)
    if "BOOM" in doc.text:
        raise RuntimeError("cannot handle BOOM")
    time.sleep(STATE["delay"])
    return doc


@pytest.fixture(scope="module")
def pipeline():
    nlp = small_pipeline()
    nlp.add_pipe("test_worker_probe", first=True)
    return nlp


@pytest.fixture
def app_for(pipeline):
    """create_app(pipeline, limits) with a fresh probe; the gate is opened at the end."""
    apps = []

    def make(**limits):
        STATE.update(seen=[], gate=threading.Event(), delay=0.0)
        apps.append(create_app(pipeline, Limits(**limits)))
        return apps[-1]

    yield make
    STATE["gate"].set()
    for app in apps:
        app.state.annotator.worker.shutdown()


async def call(app, path: str, payload, leave_after: float | None = None):
    """(status, headers, JSON body) of one request; the client leaves after `leave_after` s."""
    body = json.dumps(payload, ensure_ascii=False).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    gone_at = time.monotonic() + (leave_after if leave_after is not None else 3600)
    messages, sent = [], [False]

    async def receive():
        if not sent[0]:
            sent[0] = True
            return {"type": "http.request", "body": body, "more_body": False}
        while time.monotonic() < gone_at:
            await asyncio.sleep(0.01)
        return {"type": "http.disconnect"}

    async def send(message):
        messages.append(message)

    await app(scope, receive, send)
    start = next(m for m in messages if m["type"] == "http.response.start")
    data = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], headers, json.loads(data) if data else None


def test_a_request_beyond_the_queue_gets_503_with_retry_after(app_for):
    app = app_for(max_queue=1)

    async def main():
        tasks = [
            asyncio.create_task(call(app, "/annotate", {"texts": [f"WAIT{i}"]})) for i in range(4)
        ]
        done, _ = await asyncio.wait(tasks[2:], timeout=20)  # refused at once, while 0 runs
        refused = [t.result() for t in done]
        STATE["gate"].set()
        return refused, [await t for t in tasks[:2]]

    refused, served = asyncio.run(main())
    assert len(refused) == 2
    for status, headers, body in refused:
        assert status == 503 and int(headers["retry-after"]) >= 1
        assert "1 requests are waiting already (--max-queue)" in body["detail"]
    assert [(status, body["docs"][0]["text"]) for status, _, body in served] == [
        (200, "WAIT0"),
        (200, "WAIT1"),
    ]


def test_work_for_a_client_that_has_gone_is_dropped(app_for):
    """A large request whose client leaves stops at its next chunk; one whose client leaves
    while it waits never runs; the tiny request behind them does not wait for either."""
    app = app_for()
    STATE["delay"] = 0.05  # 60 long texts: 3 s of work if nothing stopped it

    async def main():
        large = asyncio.create_task(call(app, "/annotate", {"texts": [LONG] * 60}, 0.3))
        await asyncio.sleep(0.05)
        queued = asyncio.create_task(
            call(app, "/predict", {"tasks": [{"data": {"text": "走"}}]}, 0.1)
        )
        await asyncio.sleep(0.2)
        start = time.monotonic()
        tiny = await call(app, "/annotate", {"texts": ["复查血常规。"]})
        return await large, await queued, tiny, time.monotonic() - start

    large, queued, tiny, seconds = asyncio.run(main())
    assert large[0] == queued[0] == 499
    assert tiny[0] == 200 and tiny[2]["docs"][0]["text"] == "复查血常规。"
    assert seconds < 1.5, seconds  # not behind 3 s of abandoned work
    assert STATE["seen"].count(LONG) < 30 and "走" not in STATE["seen"]


def test_a_request_over_the_time_limit_gets_503_and_the_next_one_runs(app_for):
    app = app_for(time_limit=0.3)
    STATE["delay"] = 0.05

    async def main():
        slow = await call(app, "/render", {"texts": [LONG] * 40})
        return slow, await call(app, "/annotate", {"texts": ["复查血常规。"]})

    (status, _, body), (next_status, _, _) = asyncio.run(main())
    assert status == 503 and "longer than the time limit of 0.3 s (--time-limit)" in body["detail"]
    assert STATE["seen"].count(LONG) < 20 and next_status == 200


def test_a_text_the_pipeline_fails_on_is_a_422_naming_it(app_for):
    app = app_for()

    async def main():
        annotate = await call(app, "/annotate", {"texts": ["复查血常规。", "BOOM"]})
        tasks = [{"data": {"text": t}} for t in ("BOOM", "复查血常规。")]
        return annotate, await call(app, "/predict", {"tasks": tasks})

    (status, _, body), (p_status, _, p_body) = asyncio.run(main())
    assert status == 422 and body["detail"].startswith("texts[1]: the pipeline failed")
    assert "RuntimeError: cannot handle BOOM" in body["detail"]
    assert p_status == 422 and p_body["detail"].startswith("tasks[0]: the pipeline failed")


def test_health_answers_while_the_pipeline_is_busy(app_for):
    app = app_for()

    async def health():
        scope = {
            "type": "http",
            "method": "GET",
            "path": "/health",
            "headers": [],
            "query_string": b"",
            "root_path": "",
            "scheme": "http",
            "raw_path": b"/health",
            "http_version": "1.1",
            "asgi": {"version": "3.0"},
        }
        out = []

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            out.append(message)

        await app(scope, receive, send)
        return json.loads(b"".join(m.get("body", b"") for m in out))

    async def main():
        busy = asyncio.create_task(call(app, "/annotate", {"texts": ["WAIT"]}))
        for _ in range(200):  # until the request is in
            await asyncio.sleep(0.05)
            during = await health()
            if during["requests"]:
                break
        STATE["gate"].set()
        await busy
        return during, await health()

    during, after = asyncio.run(main())
    assert (during["status"], during["requests"], during["max_queue"]) == ("UP", 1, 16)
    assert after["requests"] == 0
