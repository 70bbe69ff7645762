"""The HTTP service: a REST API, a web page and a Label Studio ML backend, on one FastAPI app.

`create_app(nlp_or_model, limits)` loads the pipeline once (or takes one already loaded)
and answers:
- GET /health: {"status": "UP", ...}, the value Label Studio's ML backend protocol expects
- GET /meta: labels, components, version and performance (meta.json), and the limits
- POST /annotate {"texts": [...]}: entities with clinical context, and every span
- GET / and POST /render: the page (page.py)
- POST /setup, POST /predict, POST /webhook, GET /versions: Label Studio's ML backend
  (label_studio.py)
- GET /openapi.json: the API, with its request and response models (schema.py)

Bad input gets a 4xx with a message, never a 500 (requests.py). A text the pipeline fails on
is a 422 naming it.

Concurrency: the pipeline runs on one worker thread. spaCy pipelines and torch modules are
not documented as thread-safe (nlp.pipe adds to the shared StringStore), so requests queue
for that thread while the event loop keeps answering /health and reading bodies; one worker
also keeps torch's own threads from being oversubscribed. The queue is bounded (503 with
Retry-After beyond `max_queue` waiting requests), the work of a client that has gone is
dropped, and a request has `time_limit` seconds (worker.py).
"""

import logging
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import asdict
from importlib import resources
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from spacy.language import Language
from spacy.pipeline import EntityRecognizer, EntityRuler

from ..components.span_head import SpanHead
from ..labels import ordered
from .label_studio import label_studio_router
from .limits import Limits
from .page import page_router
from .pipe import pipe_items
from .preannotate import confidence, predict_items, prediction
from .requests import openapi_body, read_texts
from .schema import (
    AnnotateRequest,
    AnnotateResponse,
    DocRecord,
    Health,
    LabelConfig,
    Meta,
    Prediction,
    PredictRequest,
    context_keys,
    doc_record,
    model_id,
    package_name,
)
from .worker import Job, Worker

logger = logging.getLogger("zh_medner.serving")
STATIC = resources.files("zh_medner.serving") / "static"
REQUEST_MODELS = (AnnotateRequest, PredictRequest)  # bodies read by requests.py
WARM_UP = "患者发热三天。"  # one short record through the pipeline before the first request


def entity_labels(nlp: Language) -> list[str]:
    """The labels of the components that write entities, CMeEE order first."""
    labels: set[str] = set()
    for name, proc in nlp.pipeline:
        assigns = nlp.get_pipe_meta(name).assigns
        if isinstance(proc, SpanHead | EntityRuler | EntityRecognizer) or "doc.ents" in assigns:
            labels.update(getattr(proc, "labels", ()))
    return ordered(labels)


class Annotator:
    """The pipeline behind one worker thread (worker.py): each method runs there, a chunk of
    texts at a time, and raises a 422 for a text the pipeline fails on."""

    def __init__(self, nlp: Language, limits: Limits):
        self.nlp, self.limits = nlp, limits
        self.keys = context_keys(nlp)
        self.version = model_id(nlp.meta)
        self.labels = entity_labels(nlp)
        self.worker = Worker(limits.max_queue, limits.time_limit)
        self.worker.executor.submit(self._warm_up).result()

    def _warm_up(self) -> None:
        """Run `WARM_UP` on the pipeline thread: a loaded transformer pipeline's first call
        does one-off work (the cmeee pipeline: ~270 ms, then ~10 ms a short record), which
        the service's first request would otherwise wait for. It runs in `create_app`, so a
        server that forks workers after making the app (gunicorn --preload) would fork a
        process that has run torch (pipe.py's `use_processes` says why not to)."""
        logger.info("warming the pipeline up")
        try:
            self.nlp(WARM_UP)
        except Exception:  # noqa: BLE001 - a request on such a pipeline gets its own 422
            logger.warning("the pipeline failed on its warm-up text", exc_info=True)

    async def run(self, request: Request, func: Callable, *args):
        return await self.worker.run(request, func, *args)

    def records(self, job: Job, texts: list[str], where: str = "texts") -> list[DocRecord]:
        out = []
        for start, chunk in job.chunks(texts):
            items = ((start + i, text, None) for i, text in enumerate(chunk))
            for i, doc, error in pipe_items(self.nlp, items):
                if error is not None:
                    raise HTTPException(422, f"{where}[{i}]: {error}")
                out.append(doc_record(doc, self.keys))
        return out

    def predictions(self, job: Job, texts: list[str], config: LabelConfig) -> list[Prediction]:
        out = []
        for start, chunk in job.chunks(texts):
            for i, (doc, scores, probs, error) in enumerate(predict_items(self.nlp, chunk), start):
                if error is not None:
                    raise HTTPException(422, f"tasks[{i}]: {error}")
                out.append(prediction(doc, confidence(scores), probs, self.version, config))
        return out


def _openapi(app: FastAPI) -> Callable[[], dict]:
    """/openapi.json, with the schemas of the request bodies the routes read themselves."""

    def openapi() -> dict:
        if app.openapi_schema is None:
            spec = get_openapi(title=app.title, version=app.version, routes=app.routes)
            schemas = spec.setdefault("components", {}).setdefault("schemas", {})
            for model in REQUEST_MODELS:
                schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                schemas.update(schema.pop("$defs", {}))
                schemas[model.__name__] = schema
            app.openapi_schema = spec
        return app.openapi_schema

    return openapi


def _service_routes(app: FastAPI, annotator: Annotator) -> None:
    nlp, limits = annotator.nlp, annotator.limits

    @app.get("/health", response_model=Health)
    async def health():
        return Health(
            model_version=annotator.version,
            requests=annotator.worker.pending,  # running and waiting
            max_queue=limits.max_queue,
        )

    @app.get("/meta", response_model=Meta)
    async def meta():
        m = nlp.meta
        return Meta(
            name=package_name(m),
            version=m.get("version"),
            model_version=annotator.version,
            spacy_version=m.get("spacy_version"),
            labels=annotator.labels,
            components=list(nlp.pipe_names),
            context=annotator.keys,
            performance=m.get("performance", {}),
            limits=asdict(limits),
        )

    @app.post(
        "/annotate", response_model=AnnotateResponse, openapi_extra=openapi_body(AnnotateRequest)
    )
    async def annotate(request: Request):
        """Entities with their clinical context, and every span, for each text."""
        texts = await read_texts(request, limits)
        return AnnotateResponse(docs=await annotator.run(request, annotator.records, texts))


def create_app(nlp_or_model: Language | str | Path, limits: Limits = Limits()) -> FastAPI:
    """The service for a loaded pipeline, or for an installed package name or folder."""
    if isinstance(nlp_or_model, Language):
        nlp = nlp_or_model
    else:
        import spacy

        nlp = spacy.load(nlp_or_model)
    annotator = Annotator(nlp, limits)

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
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        path, status = request.url.path, exc.status_code
        logger.info("%s %s -> %d: %s", request.method, path, status, exc.detail)
        return JSONResponse({"detail": exc.detail}, status_code=status, headers=exc.headers)

    _service_routes(app, annotator)
    app.include_router(page_router(annotator))
    app.include_router(label_studio_router(annotator))
    app.openapi = _openapi(app)
    return app
