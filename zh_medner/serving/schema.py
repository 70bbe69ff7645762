"""The one output schema of every serving command, as pydantic models.

- `Entity`, `SpanRecord`, `DocRecord`: what the HTTP API answers (`/annotate`, `/render`) and
  what `zh-medner annotate` writes per entity (there, a context key or `context_cues` is left
  out where the pipeline does not set it, and `id` where no dictionary entry names the entity).
- `AnnotateRequest`, `PredictRequest`: the bodies the API takes; the API checks them itself,
  against its limits, with a 4xx that names the field (api.py).
- `Region`, `Prediction`: one Label Studio prediction, from `/predict` and `zh-medner
  pre-annotate`; `LabelConfig`: where a labelling config puts them.
- `model_id`: the `lang_name-version` of a pipeline, its version in every answer.

`/openapi.json` documents the API with these models.
"""

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field
from spacy.language import Language
from spacy.tokens import Doc

from ..components.context import CUES_EXTENSION, EXTENSIONS
from ..components.span_choice import SPANS_KEY

CONTEXT_KEYS = tuple(EXTENSIONS.values())  # the Span extensions of the clinical context


class ContextCue(BaseModel):
    """Why a context key is true: the cue and where it is in the text."""

    attribute: str = Field(description="the context key it sets, e.g. negated")
    cue: str = Field(description="the cue's text, e.g. 否认")
    start: int
    end: int


class Entity(BaseModel):
    """One entity of `doc.ents`, with its clinical context (null without zh_context)."""

    start: int = Field(description="character offset of the first character")
    end: int = Field(description="character offset after the last character")
    label: str
    text: str
    negated: bool | None = None
    uncertain: bool | None = None
    family: bool | None = None
    historical: bool | None = None
    hypothetical: bool | None = None
    context_cues: list[ContextCue] | None = Field(
        None, description="the cue behind each context key that is true"
    )
    id: str | None = Field(None, description="the dictionary's id, e.g. a drug's generic name")


class SpanRecord(BaseModel):
    """One span of `doc.spans["sc"]`: every entity, nested ones included."""

    start: int
    end: int
    label: str
    text: str


class DocRecord(BaseModel):
    text: str
    ents: list[Entity]
    spans: list[SpanRecord] = Field(description='doc.spans["sc"] where the pipeline writes it')


class AnnotateRequest(BaseModel):
    texts: list[str] = Field(description="the texts to annotate (limits: GET /meta)")


class AnnotateResponse(BaseModel):
    docs: list[DocRecord]


class RenderResponse(AnnotateResponse):
    html: str = Field(description="the page's markup of the docs")


class RegionValue(BaseModel):
    start: int
    end: int
    text: str
    labels: list[str]


class Region(BaseModel):
    """One labelled region of a Label Studio prediction."""

    from_name: str = Field(description="the name of the <Labels> tag")
    to_name: str = Field(description="the name of the <Text> tag")
    type: str = "labels"
    value: RegionValue
    score: float | None = Field(None, description="the span head's probability, if it found it")


class Prediction(BaseModel):
    """One Label Studio prediction: regions over the text, and the text's confidence."""

    model_version: str
    result: list[Region]
    score: float | None = Field(None, description="confidence of the least certain decision")


@dataclass(frozen=True)
class LabelConfig:
    """What a Label Studio labelling config says about where the predictions go."""

    from_name: str = "label"
    to_name: str = "text"
    value_key: str = "text"
    labels: tuple[str, ...] = ()  # empty: keep every label


def parse_label_config(xml: str) -> LabelConfig:
    """The `<Labels>` tag over a `<Text>` tag of a Label Studio labelling config."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as e:
        raise ValueError(f"label config is not valid XML: {e}") from e
    texts = {el.get("name"): el for el in root.iter("Text") if el.get("name")}
    for el in root.iter("Labels"):
        target = el.get("toName")
        if el.get("name") and target in texts:
            value = texts[target].get("value", "$text")
            labels = tuple(x.get("value") for x in el.iter("Label") if x.get("value"))
            return LabelConfig(el.get("name"), target, value.lstrip("$"), labels)
    raise ValueError(
        'label config has no <Labels name=".." toName=".."> over a <Text name=".." '
        'value="$text"/>: zh-medner predicts entity labels on text'
    )


class Task(BaseModel):
    data: dict[str, Any] = Field(description="the task's data; the text under the <Text> value")


class PredictRequest(BaseModel):
    tasks: list[Task]
    label_config: str | None = Field(None, description="the project's labelling config (XML)")


class PredictResponse(BaseModel):
    results: list[Prediction]
    model_version: str


class Health(BaseModel):
    """Label Studio's ML backend expects status UP."""

    status: str = "UP"
    model_version: str
    v2: bool = True
    requests: int = Field(description="requests running and waiting")
    max_queue: int


class Meta(BaseModel):
    name: str
    version: str | None
    model_version: str
    spacy_version: str | None
    labels: list[str]
    components: list[str]
    context: list[str] = Field(description="the context keys the pipeline sets")
    performance: dict[str, Any] = Field(description="the scores in the pipeline's meta.json")
    limits: dict[str, Any]


def package_name(meta: dict) -> str:
    """`lang_name` of a pipeline's meta.json: the package `spacy package` makes of it."""
    return f"{meta.get('lang', 'xx')}_{meta.get('name', 'pipeline')}"


def model_id(meta: dict) -> str:
    """`lang_name-version`: the package and its version, every answer's model version."""
    return f"{package_name(meta)}-{meta.get('version', '0')}"


def record_error(value, text_key: str) -> str | None:
    """Why a JSON value of an input file is not a record with a text (None: it is one)."""
    if not isinstance(value, dict):
        return "a record must be a JSON object"
    if not isinstance(value.get(text_key), str):
        return f"missing or non-string '{text_key}'"
    return None


def context_keys(nlp: Language) -> list[str]:
    """The context keys that the pipeline's components declare they set."""
    assigned = {attr for name in nlp.pipe_names for attr in nlp.get_pipe_meta(name).assigns}
    return [key for key in CONTEXT_KEYS if f"span._.{key}" in assigned]


def entities(doc: Doc, keys: list[str]) -> list[Entity]:
    """The doc's entities with only what the pipeline sets: `model_dump(exclude_unset=True)`
    leaves out the context keys it does not set (all of them, and `context_cues`, without
    zh_context) and `id` where no dictionary entry names the entity."""
    out = []
    for ent in doc.ents:
        item = {"start": ent.start_char, "end": ent.end_char, "label": ent.label_, "text": ent.text}
        for key in keys:
            item[key] = bool(getattr(ent._, key))
        if keys:
            item["context_cues"] = ent._.get(CUES_EXTENSION) or []
        if ent.ent_id_:
            item["id"] = ent.ent_id_
        out.append(Entity(**item))
    return out


def entity_dicts(doc: Doc, keys: list[str]) -> list[dict]:
    """The entities as `zh-medner annotate` writes them (only what the pipeline sets)."""
    return [ent.model_dump(exclude_unset=True) for ent in entities(doc, keys)]


def doc_record(doc: Doc, keys: list[str]) -> DocRecord:
    """One doc as the API answers it: every key present, null where the pipeline sets none."""
    spans = [
        SpanRecord(start=s.start_char, end=s.end_char, label=s.label_, text=s.text)
        for s in doc.spans.get(SPANS_KEY, [])
    ]
    return DocRecord(text=doc.text, ents=entities(doc, keys), spans=spans)
