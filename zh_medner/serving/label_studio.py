"""Label Studio's ML backend protocol: POST /setup, POST /predict, POST /webhook, GET /versions.

Label Studio calls /setup when the backend is connected (with the project's labelling config),
/predict for pre-annotations (schema.py's `Prediction`, one per task), and /webhook for every
project event.
"""

from fastapi import APIRouter, HTTPException, Request

from .limits import Limits
from .requests import check_text, openapi_body, read_json
from .schema import LabelConfig, PredictRequest, PredictResponse, parse_label_config


def _label_config(payload: dict) -> LabelConfig:
    if not payload.get("label_config"):
        return LabelConfig()
    if not isinstance(payload["label_config"], str):
        raise HTTPException(422, "'label_config' must be a string of XML")
    try:
        return parse_label_config(payload["label_config"])
    except ValueError as e:
        raise HTTPException(422, str(e)) from None


def check_tasks(payload, limits: Limits) -> tuple[list[str], LabelConfig]:
    """The texts of a `PredictRequest` body, and where their predictions go."""
    if not isinstance(payload, dict) or not isinstance(payload.get("tasks"), list):
        raise HTTPException(422, 'expected a JSON object {"tasks": [{"data": {...}}, ...]}')
    config = _label_config(payload)
    tasks = payload["tasks"]
    if len(tasks) > limits.max_texts:
        raise HTTPException(
            413, f"{len(tasks)} tasks in one request, over the limit of {limits.max_texts}"
        )
    texts = []
    for i, task in enumerate(tasks):
        data = task.get("data") if isinstance(task, dict) else None
        if not isinstance(data, dict) or config.value_key not in data:
            raise HTTPException(
                422, f"tasks[{i}] has no data.{config.value_key} (the <Text> tag's value)"
            )
        where = f"tasks[{i}].data.{config.value_key}"
        texts.append(check_text(data[config.value_key], where, limits))
    return texts, config


def _check_schema(schema, labels: list[str]) -> None:
    """A labelling config sent to /setup: refused when none of its labels is the model's."""
    if not (isinstance(schema, str) and schema):
        return
    try:
        config = parse_label_config(schema)
    except ValueError as e:
        raise HTTPException(422, str(e)) from None
    if config.labels and not set(config.labels) & set(labels):
        raise HTTPException(
            422,
            f"none of the config's labels {list(config.labels)} is a label of this "
            f"model {labels}: use the model's labels in <Labels>",
        )


def label_studio_router(annotator) -> APIRouter:
    """The ML backend's routes over the service's `Annotator` (api.py)."""
    router = APIRouter(tags=["Label Studio ML backend"])
    limits = annotator.limits

    @router.post("/setup")
    async def setup(request: Request):
        """Connect: checks the project's labelling config against the model's labels."""
        payload = await read_json(request, limits.max_body_bytes)
        schema = payload.get("schema") if isinstance(payload, dict) else None
        _check_schema(schema, annotator.labels)
        return {"model_version": annotator.version}

    @router.post(
        "/predict",
        response_model=PredictResponse,
        response_model_exclude_none=True,
        openapi_extra=openapi_body(PredictRequest),
    )
    async def predict(request: Request):
        """A prediction per task, in order."""
        texts, config = check_tasks(await read_json(request, limits.max_body_bytes), limits)
        results = await annotator.run(request, annotator.predictions, texts, config)
        return PredictResponse(results=results, model_version=annotator.version)

    @router.post("/webhook")
    async def webhook(request: Request):
        """Project events: acknowledged (the model trains with `spacy project run`, not from
        Label Studio)."""
        await read_json(request, limits.max_body_bytes)
        return {"status": "ignored", "reason": "zh-medner trains with spacy project run"}

    @router.get("/versions")
    async def versions():
        return {"versions": [annotator.version], "model_dir": None, "v2": True}

    return router
