"""Loading the pipeline a `zh-medner` command names: refused in a second, before it loads.

MODEL is an installed package name (zh_medner_trf) or a pipeline folder; a transformer pipeline
takes seconds to load, so every command checks MODEL (and everything else it can) first.
"""

from pathlib import Path

from wasabi import msg


def check_model(model: str) -> None:
    import spacy.util

    path = Path(model)
    if path.exists():
        if not (path / "config.cfg").is_file():
            msg.fail(
                f"{model}: not a pipeline folder (no config.cfg in it)",
                "pass the folder that `spacy assemble` or `nlp.to_disk` wrote",
                exits=1,
            )
    elif not spacy.util.is_package(model):
        msg.fail(
            f"{model}: no pipeline folder or installed package of that name",
            "pass a folder (pipelines/medner_trf) or install the wheel "
            "(pip install packages/zh_medner_trf-*/dist/*.whl)",
            exits=1,
        )


PRECISION_KEY = "components.transformer.model.precision"


def check_precision(model: str, precision: str | None) -> dict:
    """The config override that runs MODEL's encoder in `precision` (None: as its config says),
    refused before loading when the value or the pipeline cannot take it."""
    if precision is None:
        return {}
    import spacy.util

    from ..components.precision import PRECISIONS

    if precision not in PRECISIONS:
        msg.fail(f"--precision {precision}: use one of {', '.join(PRECISIONS)}", exits=1)
    path = Path(model) if Path(model).exists() else spacy.util.get_package_path(model)
    config = spacy.util.load_config(path / "config.cfg", interpolate=False)
    encoder = config.get("components", {}).get("transformer", {}).get("model", {})
    if "precision" not in encoder:
        msg.fail(
            f"--precision {precision}: {model} has no encoder with a precision setting",
            "its transformer must use zh_medner.TransformerModel.v1; leave --precision out",
            exits=1,
        )
    return {PRECISION_KEY: precision}


def load_model(model: str, threads: int = 0, precision: str | None = None):
    """The pipeline, after `check_model`; `threads` > 0 sets torch's thread count, and
    `precision` overrides its encoder's (check_precision)."""
    import spacy

    overrides = check_precision(model, precision)
    if threads:
        import torch

        torch.set_num_threads(threads)
    return spacy.load(model, config=overrides)


def pipeline_meta(model: str) -> dict:
    """meta.json of a pipeline folder or installed package, read without loading the pipeline."""
    import spacy.util
    import srsly

    path = Path(model) if Path(model).exists() else spacy.util.get_package_path(model)
    meta = path / "meta.json"
    return srsly.read_json(meta) if meta.is_file() else {}
