"""The HTTP service: a REST API, a web page and a Label Studio ML backend, on one FastAPI app.

`create_app(nlp_or_model, limits)` loads the pipeline once (or takes one already loaded)
and answers:
- GET /health: {"status": "UP", ...}, the value Label Studio's ML backend protocol expects
- GET /meta: labels, components, version and performance (meta.json), and the limits
- POST /annotate {"texts": [...]}: entities with clinical context, and every span
- GET /: the page; GET /?text=... renders the text on the server (works without JavaScript)
- POST /render: the page's script asks for the same markup for pasted or uploaded texts
- POST /setup, POST /predict, POST /webhook, GET /versions: Label Studio's ML backend

Bad input gets a 4xx with a message, never a 500: 400 invalid JSON, 422 wrong types, 413
over a limit (body bytes, number of texts, characters of one text). The body is read in
chunks and refused as soon as it passes the limit.

Concurrency: the pipeline runs on one worker thread. spaCy pipelines and torch modules are
not documented as thread-safe (nlp.pipe adds to the shared StringStore), so requests queue
for that thread while the event loop keeps answering /health and reading bodies; one worker
also keeps torch's own threads from being oversubscribed. The queue is bounded (503 with
Retry-After beyond `max_queue` waiting requests), the work of a client that has gone is
dropped, and a request has `time_limit` seconds (worker.py). A text the pipeline fails on is
a 422 naming it.
"""

import json
import logging
import math
import urllib.parse
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

import jinja2
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from spacy.language import Language
from spacy.pipeline import EntityRecognizer, EntityRuler

from ..components.span_head import SpanHead
from ..json_limits import NESTED_TOO_DEEPLY, json_value_error
from .batch import context_attrs, doc_to_record, pipe_items
from .preannotate import LabelConfig, model_version, parse_label_config, predict_items, prediction
from .render import ENTITY_CSS, ents_html, label_color, ordered_labels
from .worker import Job, Worker

logger = logging.getLogger("zh_medner.serving")
PACKAGE = resources.files("zh_medner.serving")


@dataclass(frozen=True)
class Limits:
    max_texts: int = 64  # texts in one request
    max_chars: int = 10_000  # characters in one text
    max_body_bytes: int = 1_048_576  # bytes in one request body
    max_queue: int = 16  # requests waiting behind the running one; more get 503
    time_limit: float = 120.0  # seconds of pipeline time for one request

    def __post_init__(self):
        for key, value in asdict(self).items():
            if key == "time_limit":
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ValueError(f"{key} must be a number of seconds, got {value!r}")
                if not (0 < value < math.inf):
                    raise ValueError(f"{key} must be a positive number of seconds, got {value!r}")
            elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
                if not (key == "max_queue" and value == 0):
                    raise ValueError(f"{key} must be a positive integer, got {value!r}")


def entity_labels(nlp: Language) -> list[str]:
    """The labels of the components that write entities, CMeEE order first."""
    labels: set[str] = set()
    for name, proc in nlp.pipeline:
        assigns = nlp.get_pipe_meta(name).assigns
        if isinstance(proc, SpanHead | EntityRuler | EntityRecognizer) or "doc.ents" in assigns:
            labels.update(getattr(proc, "labels", ()))
    return ordered_labels(labels)


def _json_type(value) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


async def read_json(request: Request, limit: int):
    """The request body as JSON, refused past `limit` bytes without reading the rest."""
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise HTTPException(400, f"Content-Length {length!r} is not a number")
        if int(length) > limit:
            raise HTTPException(
                413, f"request body of {length} bytes is over the limit of {limit} bytes"
            )
    size, chunks = 0, []
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"request body is over the limit of {limit} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    try:
        return json.loads(body.decode("utf8"))
    except UnicodeDecodeError as e:
        raise HTTPException(400, f"request body is not UTF-8: byte {e.start}") from None
    except json.JSONDecodeError as e:
        raise HTTPException(
            400, f"invalid JSON: {e.msg} (line {e.lineno}, column {e.colno})"
        ) from None
    except RecursionError:
        raise HTTPException(400, f"invalid JSON: {NESTED_TOO_DEEPLY}") from None
    except ValueError as e:  # an integer over Python's digit limit
        raise HTTPException(400, f"invalid JSON: {json_value_error(e)}") from None


def check_text(text, where: str, limits: Limits) -> str:
    if not isinstance(text, str):
        raise HTTPException(422, f"{where} must be a string, got {_json_type(text)}")
    if len(text) > limits.max_chars:
        raise HTTPException(
            413, f"{where} has {len(text)} characters, over the limit of {limits.max_chars}"
        )
    return text


def check_texts(payload, limits: Limits) -> list[str]:
    if not isinstance(payload, dict) or "texts" not in payload:
        raise HTTPException(422, 'expected a JSON object {"texts": [string, ...]}')
    texts = payload["texts"]
    if not isinstance(texts, list):
        raise HTTPException(422, f"'texts' must be an array of strings, got {_json_type(texts)}")
    if len(texts) > limits.max_texts:
        raise HTTPException(
            413, f"{len(texts)} texts in one request, over the limit of {limits.max_texts}"
        )
    return [check_text(t, f"texts[{i}]", limits) for i, t in enumerate(texts)]


def check_tasks(payload, limits: Limits) -> tuple[list[dict], LabelConfig]:
    """Label Studio's /predict body: the tasks, and where their predictions go."""
    if not isinstance(payload, dict) or not isinstance(payload.get("tasks"), list):
        raise HTTPException(422, 'expected a JSON object {"tasks": [{"data": {...}}, ...]}')
    config = LabelConfig()
    if payload.get("label_config"):
        if not isinstance(payload["label_config"], str):
            raise HTTPException(422, "'label_config' must be a string of XML")
        try:
            config = parse_label_config(payload["label_config"])
        except ValueError as e:
            raise HTTPException(422, str(e)) from None
    tasks = payload["tasks"]
    if len(tasks) > limits.max_texts:
        raise HTTPException(
            413, f"{len(tasks)} tasks in one request, over the limit of {limits.max_texts}"
        )
    for i, task in enumerate(tasks):
        data = task.get("data") if isinstance(task, dict) else None
        if not isinstance(data, dict) or config.value_key not in data:
            raise HTTPException(
                422, f"tasks[{i}] has no data.{config.value_key} (the <Text> tag's value)"
            )
        check_text(data[config.value_key], f"tasks[{i}].data.{config.value_key}", limits)
    return tasks, config


class Annotator:
    """The pipeline behind one worker thread (worker.py): each method runs there, a chunk of
    texts at a time, and raises a 422 for a text the pipeline fails on."""

    def __init__(self, nlp: Language, limits: Limits):
        self.nlp, self.limits = nlp, limits
        self.attrs = context_attrs(nlp)
        self.version = model_version(nlp)
        self.labels = entity_labels(nlp)
        self.worker = Worker(limits.max_queue, limits.time_limit)

    async def run(self, request: Request, func: Callable, *args):
        return await self.worker.run(request, func, *args)

    def records(self, job: Job, texts: list[str], where: str = "texts") -> list[dict]:
        out = []
        for start, chunk in job.chunks(texts):
            items = ((start + i, text, None) for i, text in enumerate(chunk))
            for i, doc, error in pipe_items(self.nlp, items):
                if error is not None:
                    raise HTTPException(422, f"{where}[{i}]: {error}")
                out.append(doc_to_record(doc, self.attrs))
        return out

    def predictions(self, job: Job, texts: list[str], config: LabelConfig) -> list[dict]:
        out = []
        for start, chunk in job.chunks(texts):
            for i, (doc, score, probs, error) in enumerate(predict_items(self.nlp, chunk), start):
                if error is not None:
                    raise HTTPException(422, f"tasks[{i}]: {error}")
                out.append(prediction(doc, score, probs, self.version, config))
        return out


def doc_markup(record: dict) -> dict:
    """What the page shows for one doc: entities, and every span when some nest or differ."""
    ents = {(e["start"], e["end"], e["label"]) for e in record["ents"]}
    spans = {(s["start"], s["end"], s["label"]) for s in record["spans"]}
    return {
        "record": record,
        "ents_html": ents_html(record["text"], record["ents"]),
        "spans_html": ents_html(record["text"], record["spans"]) if spans - ents else "",
    }


def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(PACKAGE / "templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.globals["label_color"] = label_color
    return env


def create_app(nlp_or_model: Language | str | Path, limits: Limits = Limits()) -> FastAPI:
    """The service for a loaded pipeline, or for an installed package name or folder."""
    if isinstance(nlp_or_model, Language):
        nlp = nlp_or_model
    else:
        import spacy

        nlp = spacy.load(nlp_or_model)
    annotator = Annotator(nlp, limits)
    templates = _templates()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        annotator.worker.shutdown()

    app = FastAPI(
        title="zh-medner",
        version=annotator.version,
        lifespan=lifespan,
        docs_url=None,  # Swagger UI pulls its assets from a CDN; the page works offline
        redoc_url=None,
    )
    app.state.annotator = annotator
    app.mount("/static", StaticFiles(directory=str(PACKAGE / "static")), name="static")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        path, status = request.url.path, exc.status_code
        logger.info("%s %s -> %d: %s", request.method, path, status, exc.detail)
        return JSONResponse({"detail": exc.detail}, status_code=status, headers=exc.headers)

    @app.get("/health")
    async def health():
        return {
            "status": "UP",
            "model_version": annotator.version,
            "v2": True,
            "requests": annotator.worker.pending,  # running and waiting
            "max_queue": limits.max_queue,
        }

    @app.get("/meta")
    async def meta():
        m = nlp.meta
        return {
            "name": f"{m.get('lang', 'xx')}_{m.get('name', 'pipeline')}",
            "version": m.get("version"),
            "model_version": annotator.version,
            "spacy_version": m.get("spacy_version"),
            "labels": annotator.labels,
            "components": list(nlp.pipe_names),
            "context": [key for _, key in annotator.attrs],
            "performance": m.get("performance", {}),
            "limits": asdict(limits),
        }

    @app.post("/annotate")
    async def annotate(request: Request):
        texts = check_texts(await read_json(request, limits.max_body_bytes), limits)
        return {"docs": await annotator.run(request, annotator.records, texts)}

    def page_context(docs: list[dict], text: str = "", error: str = "") -> dict:
        return {
            "version": annotator.version,
            "labels": annotator.labels,
            "limits": limits,
            "text": text,
            "error": error,
            "docs": docs,
            "entity_css": ENTITY_CSS,
            "download": (
                "data:application/json;charset=utf-8,"
                + urllib.parse.quote(
                    json.dumps({"docs": [d["record"] for d in docs]}, ensure_ascii=False)
                )
                if docs
                else ""
            ),
        }

    @app.get("/", response_class=HTMLResponse)
    async def page(request: Request, text: str = ""):
        docs, error, status = [], "", 200
        if text.strip():
            try:
                check_text(text, "the text", limits)
                records = await annotator.run(request, annotator.records, [text])
                docs = [doc_markup(r) for r in records]
            except HTTPException as e:
                error, status = e.detail, e.status_code
        html = templates.get_template("index.html").render(**page_context(docs, text, error))
        return HTMLResponse(html, status_code=status)

    @app.post("/render")
    async def render(request: Request):
        texts = check_texts(await read_json(request, limits.max_body_bytes), limits)
        records = await annotator.run(request, annotator.records, texts)
        docs = [doc_markup(r) for r in records]
        html = templates.get_template("docs.html").render(docs=docs)
        return {"docs": records, "html": html}

    # ------------------------------------------------- Label Studio ML backend

    @app.post("/setup")
    async def setup(request: Request):
        payload = await read_json(request, limits.max_body_bytes)
        schema = payload.get("schema") if isinstance(payload, dict) else None
        if isinstance(schema, str) and schema:
            try:
                config = parse_label_config(schema)
            except ValueError as e:
                raise HTTPException(422, str(e)) from None
            if config.labels and not set(config.labels) & set(annotator.labels):
                raise HTTPException(
                    422,
                    f"none of the config's labels {list(config.labels)} is a label of this "
                    f"model {annotator.labels}: use the model's labels in <Labels>",
                )
        return {"model_version": annotator.version}

    @app.post("/predict")
    async def predict(request: Request):
        tasks, config = check_tasks(await read_json(request, limits.max_body_bytes), limits)
        texts = [task["data"][config.value_key] for task in tasks]
        results = await annotator.run(request, annotator.predictions, texts, config)
        return {"results": results, "model_version": annotator.version}

    @app.post("/webhook")
    async def webhook(request: Request):
        # Label Studio registers <backend>/webhook for every project event; this model is
        # trained with `spacy project run`, not from Label Studio, so events are acknowledged.
        await read_json(request, limits.max_body_bytes)
        return {"status": "ignored", "reason": "zh-medner trains with spacy project run"}

    @app.get("/versions")
    async def versions():
        return {"versions": [annotator.version], "model_dir": None, "v2": True}

    return app
