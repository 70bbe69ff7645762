"""Gold findings through the rules of a pipeline: the clinical layer scored on its own.

`rules_pipeline` builds the clinical layer from the assembly config (configs/assemble.cfg,
the one place that states the pipeline's order) without the trained components, and
`run_rules` runs every rule-based component of a pipeline on a doc whose entities are
already set: the way the context layer and the drug dictionary are evaluated and tested
independently of what a model predicts.
"""

from collections.abc import Iterable
from pathlib import Path

from spacy import util
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc


def rules_pipeline(
    config_path: Path, overrides: dict | None = None, exclude: Iterable[str] = ()
) -> Language:
    """The assembled pipeline minus its trained (sourced) components and `exclude`, initialised."""
    config = util.load_config(config_path, overrides=dict(overrides or {}), interpolate=False)
    components = config["components"]
    drop = {name for name, block in components.items() if "source" in block} | set(exclude)
    config["nlp"]["pipeline"] = [name for name in config["nlp"]["pipeline"] if name not in drop]
    for name in drop:
        components.pop(name, None)
        config["initialize"]["components"].pop(name, None)
    nlp = util.load_model_from_config(config, auto_fill=True, validate=True)
    nlp.initialize()
    return nlp


def run_rules(nlp: Language, doc: Doc) -> Doc:
    """Run every component that is not trained (rulers, sentence splitter, context) on `doc`."""
    for _, proc in nlp.pipeline:
        if not isinstance(proc, TrainablePipe):
            doc = proc(doc)
    return doc
