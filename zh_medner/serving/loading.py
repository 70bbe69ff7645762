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


def load_model(model: str, threads: int = 0):
    """The pipeline, after `check_model`; `threads` > 0 sets torch's thread count."""
    import spacy

    if threads:
        import torch

        torch.set_num_threads(threads)
    return spacy.load(model)


def pipeline_meta(model: str) -> dict:
    """meta.json of a pipeline folder or installed package, read without loading the pipeline."""
    import spacy.util
    import srsly

    path = Path(model) if Path(model).exists() else spacy.util.get_package_path(model)
    meta = path / "meta.json"
    return srsly.read_json(meta) if meta.is_file() else {}
