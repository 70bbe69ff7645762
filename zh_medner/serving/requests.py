"""Reading the service's request bodies: bad input is a 4xx with a message, never a 500.

400 invalid JSON, 422 wrong types, 413 over a limit (body bytes, number of texts, characters of
one text). The body is read in chunks and refused as soon as it passes the limit. The routes
read their bodies here rather than through FastAPI's validation, for these messages and
limits; `openapi_body` documents the body each takes (schema.py) in /openapi.json.
"""

import json

from fastapi import HTTPException, Request
from pydantic import BaseModel

from ..jsonl import JSON_ERRORS, decode_error
from .limits import Limits


def openapi_body(model: type[BaseModel]) -> dict:
    """A route's `openapi_extra`: its JSON body is `model` (api.py adds the model's schema)."""
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


def json_type(value) -> str:
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
    try:
        return json.loads(b"".join(chunks).decode("utf8"))
    except UnicodeDecodeError as e:
        raise HTTPException(400, f"request body is not UTF-8: byte {e.start}") from None
    except JSON_ERRORS as e:  # past Python's limits too (zh_medner/jsonl.py)
        raise HTTPException(400, decode_error(e, with_line=True)) from None


def check_text(text, where: str, limits: Limits) -> str:
    if not isinstance(text, str):
        raise HTTPException(422, f"{where} must be a string, got {json_type(text)}")
    if len(text) > limits.max_chars:
        raise HTTPException(
            413, f"{where} has {len(text)} characters, over the limit of {limits.max_chars}"
        )
    return text


def check_texts(payload, limits: Limits) -> list[str]:
    """The texts of an `AnnotateRequest` body, within the limits."""
    if not isinstance(payload, dict) or "texts" not in payload:
        raise HTTPException(422, 'expected a JSON object {"texts": [string, ...]}')
    texts = payload["texts"]
    if not isinstance(texts, list):
        raise HTTPException(422, f"'texts' must be an array of strings, got {json_type(texts)}")
    if len(texts) > limits.max_texts:
        raise HTTPException(
            413, f"{len(texts)} texts in one request, over the limit of {limits.max_texts}"
        )
    return [check_text(t, f"texts[{i}]", limits) for i, t in enumerate(texts)]


async def read_texts(request: Request, limits: Limits) -> list[str]:
    """The texts of a request whose body is an `AnnotateRequest`."""
    return check_texts(await read_json(request, limits.max_body_bytes), limits)
