"""The service's web page: GET / (GET /?text=... renders on the server, without JavaScript)
and POST /render, which the page's script calls for pasted or uploaded texts."""

import json
import urllib.parse
from importlib import resources

import jinja2
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse

from ..display import ENTITY_CSS, ents_html, label_color
from .requests import check_text, openapi_body, read_texts
from .schema import AnnotateRequest, RenderResponse

TEMPLATES = resources.files("zh_medner.serving") / "templates"


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
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.globals["label_color"] = label_color
    return env


def _download(docs: list[dict]) -> str:
    """The page's "Download JSON" link: the records, as /annotate answers them."""
    if not docs:
        return ""
    records = json.dumps({"docs": [d["record"] for d in docs]}, ensure_ascii=False)
    return "data:application/json;charset=utf-8," + urllib.parse.quote(records)


def page_router(annotator) -> APIRouter:
    """The page's routes over the service's `Annotator` (api.py)."""
    router = APIRouter()
    templates = _templates()
    limits = annotator.limits

    async def records(request: Request, texts: list[str]) -> list[dict]:
        found = await annotator.run(request, annotator.records, texts)
        return [r.model_dump() for r in found]

    @router.get("/", response_class=HTMLResponse)
    async def page(request: Request, text: str = ""):
        """The page; with `text`, the page with that text annotated."""
        docs, error, status = [], "", 200
        if text.strip():
            try:
                check_text(text, "the text", limits)
                docs = [doc_markup(r) for r in await records(request, [text])]
            except HTTPException as e:
                error, status = e.detail, e.status_code
        html = templates.get_template("index.html").render(
            version=annotator.version,
            labels=annotator.labels,
            limits=limits,
            text=text,
            error=error,
            docs=docs,
            entity_css=ENTITY_CSS,
            download=_download(docs),
        )
        return HTMLResponse(html, status_code=status)

    @router.post(
        "/render", response_model=RenderResponse, openapi_extra=openapi_body(AnnotateRequest)
    )
    async def render(request: Request):
        """The docs and the page's markup of them."""
        found = await records(request, await read_texts(request, limits))
        docs = [doc_markup(r) for r in found]
        html = templates.get_template("docs.html").render(docs=docs)
        return {"docs": found, "html": html}

    return router
