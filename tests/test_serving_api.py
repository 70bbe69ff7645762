"""The HTTP service (zh_medner/serving/api.py) through FastAPI's TestClient: every endpoint,
every kind of bad input (a 4xx with a message, never a 500), Label Studio's ML backend shape,
and one pipeline call at a time under concurrent requests."""

import asyncio
import json
import re
import threading
import urllib.parse

import httpx
import pytest
import spacy
from fastapi.testclient import TestClient
from spacy.language import Language

from zh_medner.serving import api
from zh_medner.serving.api import WARM_UP, Limits, create_app
from zh_medner.serving.schema import AnnotateResponse, PredictResponse

from .serving_pipeline import small_pipeline

LIMITS = Limits(max_texts=4, max_chars=60, max_body_bytes=4000)
TEXT = "患者慢性胃炎伴胃痛三天，否认高血压病史。"
ENT_KEYS = {"start", "end", "label", "text", "negated", "uncertain", "family", "historical"}
ENT_KEYS |= {"hypothetical", "context_cues", "id"}
LS_CONFIG = (
    '<View><Labels name="ner" toName="txt"><Label value="DIS"/><Label value="SYM"/></Labels>'
    '<Text name="txt" value="$content"/></View>'
)


@pytest.fixture(scope="module")
def nlp():
    return small_pipeline()


@pytest.fixture(scope="module")
def client(nlp):
    with TestClient(create_app(nlp, LIMITS)) as c:
        yield c


def ents_of(doc):
    return [(e["text"], e["label"]) for e in doc["ents"]]


# ------------------------------------------------------------------ endpoints


def test_health_says_up(client):
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json()["status"] == "UP" and r.json()["model_version"] == "zh_medner_test-0.0.1"


def test_meta_has_labels_components_version_performance_and_limits(client):
    meta = client.get("/meta").json()
    assert meta["labels"] == ["DIS", "SYM", "DRU", "ITE"]  # CMeEE order; DRU from the ruler
    assert meta["components"] == ["span_head", "entity_ruler", "sentencizer", "context"]
    assert meta["version"] == "0.0.1" and meta["performance"] == {"spans_sc_f": 1.0}
    assert meta["limits"] == {
        "max_texts": 4,
        "max_chars": 60,
        "max_body_bytes": 4000,
        "max_queue": 16,
        "time_limit": 120.0,
    }
    assert meta["context"] == ["negated", "uncertain", "family", "historical", "hypothetical"]


def test_annotate_entities_context_nested_spans_and_drug_id(client):
    r = client.post("/annotate", json={"texts": [TEXT, "口服拜阿司匹灵后胃痛。", ""]})
    assert r.status_code == 200
    first, drug, empty = r.json()["docs"]
    assert first["text"] == TEXT
    assert ents_of(first) == [("慢性胃炎", "DIS"), ("胃痛", "SYM"), ("高血压", "DIS")]
    assert all(set(e) == ENT_KEYS for e in first["ents"])
    assert [e["negated"] for e in first["ents"]] == [False, False, True]
    assert first["ents"][0] == {
        "start": 2,
        "end": 6,
        "label": "DIS",
        "text": "慢性胃炎",
        "negated": False,
        "uncertain": False,
        "family": False,
        "historical": False,
        "hypothetical": False,
        "context_cues": [],
        "id": None,
    }
    assert first["ents"][2]["context_cues"] == [
        {"attribute": "negated", "cue": "否认", "start": 12, "end": 14}
    ]
    # the nested 胃炎 is in spans, not in the flat entities
    assert {"start": 4, "end": 6, "label": "DIS", "text": "胃炎"} in first["spans"]
    assert len(first["spans"]) == 4
    # the brand name found by the dictionary carries its generic name
    assert drug["ents"][0]["text"] == "拜阿司匹灵" and drug["ents"][0]["id"] == "阿司匹林"
    assert empty == {"text": "", "ents": [], "spans": []}


def test_uncertain_finding(client):
    doc = client.post("/annotate", json={"texts": ["无发热，考虑肺炎。"]}).json()["docs"][0]
    assert [(e["text"], e["negated"], e["uncertain"]) for e in doc["ents"]] == [
        ("发热", True, False),
        ("肺炎", False, True),
    ]


def test_context_keys_are_null_when_the_pipeline_has_no_context_layer():
    nlp = spacy.blank("zh")
    nlp.add_pipe("entity_ruler").add_patterns([{"label": "DRU", "pattern": "阿司匹林"}])
    with TestClient(create_app(nlp)) as c:
        doc = c.post("/annotate", json={"texts": ["口服阿司匹林"]}).json()["docs"][0]
        assert c.get("/meta").json()["context"] == []
    assert doc["ents"][0]["negated"] is None and doc["ents"][0]["uncertain"] is None
    assert doc["ents"][0]["context_cues"] is None
    assert doc["spans"] == []


def test_an_empty_list_is_an_empty_answer(client):
    assert client.post("/annotate", json={"texts": []}).json() == {"docs": []}


# -------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "body,status,message",
    [
        (b'{"texts": [', 400, "invalid JSON"),
        (b"", 400, "invalid JSON"),
        (b"\xff\xfe", 400, "not UTF-8"),
        (b"[1, 2]", 422, '{"texts": [string, ...]}'),
        (b'{"text": ["x"]}', 422, '{"texts": [string, ...]}'),
        (b'{"texts": "x"}', 422, "'texts' must be an array of strings, got string"),
        (b'{"texts": null}', 422, "got null"),
        (b'{"texts": ["a", 3]}', 422, "texts[1] must be a string, got number"),
        (b'{"texts": [{"text": "a"}]}', 422, "texts[0] must be a string, got object"),
        (b'{"texts": ["a", "b", "c", "d", "e"]}', 413, "5 texts in one request, over the limit"),
        (json.dumps({"texts": ["长" * 61]}).encode(), 413, "61 characters, over the limit of 60"),
        (json.dumps({"texts": ["x" * 5000]}).encode(), 413, "over the limit of 4000 bytes"),
    ],
)
def test_bad_input_gets_a_4xx_with_a_message(client, body, status, message):
    for path in ("/annotate", "/render"):
        r = client.post(path, content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == status, (path, r.text)
        assert message in r.json()["detail"], (path, r.json())


def test_a_chunked_body_is_cut_off_at_the_limit(client):
    """No Content-Length: the body is counted while it streams in."""
    sent = []

    def chunks():
        for _ in range(100):
            sent.append(1)
            yield b" " * 1000

    r = client.post("/annotate", content=chunks())
    assert r.status_code == 413 and "over the limit of 4000 bytes" in r.json()["detail"]


def test_a_deeply_nested_body_is_a_400_not_a_500(nlp):
    with TestClient(create_app(nlp, Limits(max_body_bytes=1_000_000))) as c:
        r = c.post("/annotate", content=b"[" * 200_000)
    assert r.status_code == 400 and "invalid JSON" in r.json()["detail"]


def test_a_number_over_pythons_digit_limit_is_a_400_not_a_500(nlp):
    body = b'{"texts": ["x"], "n": ' + b"9" * 5000 + b"}"
    with TestClient(create_app(nlp, Limits(max_body_bytes=1_000_000))) as c:
        responses = {
            path: c.post(path, content=body, headers={"Content-Type": "application/json"})
            for path in ("/annotate", "/render", "/predict", "/setup", "/webhook")
        }
    for path, r in responses.items():
        assert r.status_code == 400 and "more than 4300 digits" in r.json()["detail"], path


def test_unknown_paths_and_methods_are_4xx(client):
    assert client.get("/nope").status_code == 404
    assert client.get("/annotate").status_code == 405


# ------------------------------------------------------------------------ page


def test_page_is_served_with_its_assets_and_nothing_from_elsewhere(client):
    r = client.get("/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    page = r.text
    assert '<form id="form" method="get" action="/">' in page and 'name="text"' in page
    assert 'type="file"' in page and 'accept=".txt,.jsonl"' in page
    refs = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert refs and all(ref.startswith("/") for ref in refs), refs  # no CDN
    for ref in ("/static/page.js", "/static/page.css"):
        assert ref in refs and client.get(ref).status_code == 200
    assert "/docs" not in refs and client.get("/docs").status_code == 404  # Swagger uses a CDN


def test_page_renders_a_text_on_the_server(client):
    r = client.get("/", params={"text": TEXT})
    assert r.status_code == 200
    page = r.text
    marks = re.findall(r'<mark class="entity([^"]*)" data-label="(\w+)"', page)
    # entities, then every span (nested 胃炎 on a second line)
    assert marks[:3] == [("", "DIS"), ("", "SYM"), (" negated", "DIS")]
    assert "nested, level 2" in page and "All spans, nested included (4)" in page
    assert "<td>慢性胃炎</td>" in page  # the entity table
    assert "#f4a6a6" in page and "#f9c97c" in page  # one colour per label: DIS, SYM
    download = re.search(
        r'download="zh-medner.json" href="data:application/json;[^,]*,([^"]+)"', page
    )
    data = json.loads(urllib.parse.unquote(download.group(1)))
    assert ents_of(data["docs"][0]) == [("慢性胃炎", "DIS"), ("胃痛", "SYM"), ("高血压", "DIS")]


def test_page_escapes_the_text(client):
    page = client.get("/", params={"text": "<script>alert(1)</script>胃痛"}).text
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page


def test_page_says_why_a_text_is_refused(client):
    r = client.get("/", params={"text": "长" * 61})
    assert r.status_code == 413 and "over the limit of 60" in r.text


def test_render_returns_docs_and_markup(client):
    r = client.post("/render", json={"texts": ["无发热，考虑肺炎。"]})
    assert r.status_code == 200
    assert ents_of(r.json()["docs"][0]) == [("发热", "SYM"), ("肺炎", "DIS")]
    html = r.json()["html"]
    assert '<mark class="entity negated" data-label="SYM"' in html
    assert '<mark class="entity uncertain" data-label="DIS"' in html


# ------------------------------------------------------ Label Studio ML backend


def test_setup_returns_the_model_version(client):
    r = client.post("/setup", json={"project": "1.1", "schema": LS_CONFIG, "hostname": "x"})
    assert r.status_code == 200 and r.json() == {"model_version": "zh_medner_test-0.0.1"}


@pytest.mark.parametrize(
    "schema,message",
    [
        ("<View><Text", "not valid XML"),
        ('<View><Text name="t" value="$text"/></View>', "no <Labels"),
        (
            '<View><Labels name="l" toName="t"><Label value="疾病"/></Labels>'
            '<Text name="t" value="$text"/></View>',
            "none of the config's labels",
        ),
    ],
)
def test_setup_refuses_a_config_it_cannot_serve(client, schema, message):
    r = client.post("/setup", json={"schema": schema})
    assert r.status_code == 422 and message in r.json()["detail"]


def test_predict_follows_the_ml_backend_protocol(client):
    tasks = [
        {"id": 7, "data": {"content": TEXT}, "project": 1},
        {"id": 8, "data": {"content": "复查血常规。"}, "project": 1},
    ]
    r = client.post("/predict", json={"tasks": tasks, "label_config": LS_CONFIG, "project": "1.1"})
    assert r.status_code == 200
    body = r.json()
    assert body["model_version"] == "zh_medner_test-0.0.1"
    assert len(body["results"]) == 2  # one prediction per task, in order
    first = body["results"][0]
    assert set(first) == {"model_version", "score", "result"}
    assert 0.5 <= first["score"] <= 1.0
    regions = [(x["value"]["text"], x["value"]["labels"]) for x in first["result"]]
    # nested spans included; ITE is not in this config, so 血常规 is left out
    assert regions == [
        ("慢性胃炎", ["DIS"]),
        ("胃炎", ["DIS"]),
        ("胃痛", ["SYM"]),
        ("高血压", ["DIS"]),
    ]
    for item in first["result"]:
        assert item["from_name"] == "ner" and item["to_name"] == "txt"
        assert item["type"] == "labels"
        assert TEXT[item["value"]["start"] : item["value"]["end"]] == item["value"]["text"]
        assert 0.5 < item["score"] <= 1.0
    assert body["results"][1]["result"] == []


def test_predict_without_a_config_uses_label_over_text(client):
    r = client.post("/predict", json={"tasks": [{"data": {"text": "复查血常规。"}}]})
    item = r.json()["results"][0]["result"][0]
    assert (item["from_name"], item["to_name"], item["value"]["labels"]) == (
        "label",
        "text",
        ["ITE"],
    )


@pytest.mark.parametrize(
    "payload,status,message",
    [
        ({"tasks": "x"}, 422, '{"tasks": [{"data": {...}}, ...]}'),
        ({"tasks": [{"data": {"other": "x"}}]}, 422, "tasks[0] has no data.text"),
        ({"tasks": [{"data": {"text": 5}}]}, 422, "tasks[0].data.text must be a string"),
        ({"tasks": [{"data": {"text": "a"}}] * 5}, 413, "5 tasks in one request"),
        ({"tasks": [], "label_config": 3}, 422, "'label_config' must be a string"),
    ],
)
def test_predict_bad_input(client, payload, status, message):
    r = client.post("/predict", json=payload)
    assert r.status_code == status and message in r.json()["detail"]


def test_webhook_and_versions_answer_label_studio(client):
    r = client.post("/webhook", json={"action": "ANNOTATION_CREATED", "annotation": {}})
    assert r.status_code == 200 and r.json()["status"] == "ignored"
    assert client.get("/versions").json()["versions"] == ["zh_medner_test-0.0.1"]


WARM_UP_SEEN: list = []  # (text, thread name) of each call of the probe below


@Language.component("probe_warm_up")
def probe_warm_up(doc):
    WARM_UP_SEEN.append((doc.text, threading.current_thread().name))
    if doc.text == "boom":
        raise ValueError("boom")
    return doc


def test_the_pipeline_is_warmed_up_on_its_thread_before_the_first_request(caplog, monkeypatch):
    WARM_UP_SEEN.clear()
    nlp = spacy.blank("zh")
    nlp.add_pipe("probe_warm_up")
    create_app(nlp).state.annotator.worker.shutdown()
    threads = [(text, thread.split("_")[0]) for text, thread in WARM_UP_SEEN]
    assert threads == [(WARM_UP, "zh-medner-nlp")]
    # a pipeline that fails on it still starts (its requests get a 422); the log says why
    monkeypatch.setattr(api, "WARM_UP", "boom")
    with caplog.at_level("WARNING", logger="zh_medner.serving"):
        create_app(nlp).state.annotator.worker.shutdown()
    assert "failed on its warm-up text" in caplog.text


# ------------------------------------------------------------------ concurrency


def test_concurrent_requests_run_the_pipeline_one_at_a_time(nlp):
    """Many requests in flight on one event loop: each gets its own answer, and the pipeline
    is never entered by two threads at once."""
    state = {"inside": 0, "most": 0, "threads": set()}
    lock = threading.Lock()
    name = "probe_concurrency"

    if name not in Language.factories:

        @Language.component(name)
        def probe(doc):
            with lock:
                state["inside"] += 1
                state["most"] = max(state["most"], state["inside"])
                state["threads"].add(threading.get_ident())
            threading.Event().wait(0.002)  # widen the window for an overlap
            with lock:
                state["inside"] -= 1
            return doc

    local = small_pipeline()
    local.add_pipe(name, first=True)
    app = create_app(local, Limits(max_queue=32))  # every request waits its turn
    texts = ["复查血常规。", "无发热，考虑肺炎。", TEXT, "口服拜阿司匹灵后胃痛。"]

    async def main():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            jobs = [c.post("/annotate", json={"texts": [texts[i % 4]]}) for i in range(32)]
            return await asyncio.gather(*jobs)

    responses = asyncio.run(main())
    assert all(r.status_code == 200 for r in responses)
    for i, r in enumerate(responses):
        assert r.json()["docs"][0]["text"] == texts[i % 4]
    expected = [("慢性胃炎", "DIS"), ("胃痛", "SYM"), ("高血压", "DIS")]
    assert ents_of(responses[2].json()["docs"][0]) == expected
    assert state["most"] == 1 and len(state["threads"]) == 1


# ------------------------------------------------------------------ the schema


def test_openapi_documents_every_body_and_answer(client):
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    for path, body, answer in [
        ("/annotate", "AnnotateRequest", "AnnotateResponse"),
        ("/render", "AnnotateRequest", "RenderResponse"),
        ("/predict", "PredictRequest", "PredictResponse"),
    ]:
        post = spec["paths"][path]["post"]
        assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(body)
        ok = post["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok["$ref"].endswith(answer)
    refs = set(re.findall(r'"#/components/schemas/(\w+)"', json.dumps(spec)))
    assert refs and refs <= set(schemas)  # every model it names is in it
    assert set(schemas["Entity"]["properties"]) == ENT_KEYS
    assert {"/health", "/meta", "/setup", "/webhook", "/versions", "/"} <= set(spec["paths"])


def test_answers_are_the_schema(client):
    docs = client.post("/annotate", json={"texts": [TEXT]}).json()
    assert AnnotateResponse.model_validate(docs).model_dump() == docs
    body = {"tasks": [{"data": {"text": TEXT}}]}
    predicted = client.post("/predict", json=body).json()
    assert PredictResponse.model_validate(predicted).model_dump(exclude_none=True) == predicted
