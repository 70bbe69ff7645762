"""What a model is, by its content: the resume fingerprint of `zh-medner annotate`.

A pipeline's name and version do not tell two models apart (every assembled folder is
`zh_pipeline-0.0.0` until it is packaged), so the fingerprint adds a SHA-256 of the files
the pipeline loads from: its config, weights, patterns and context rules for a folder, and
every file of the installed package (the component modules it carries too) for a package.
`model_fingerprint(MODEL)` reads the files without loading the pipeline; `nlp_fingerprint`
gives the same value for the pipeline loaded from them.
"""

import hashlib
from pathlib import Path

from spacy.language import Language

from .schema import model_id

_BLOCK = 1 << 20
_SKIPPED = ("__pycache__",)


def model_root(model: str | Path) -> Path:
    """The folder MODEL loads from: the pipeline folder, or the installed package's folder."""
    import spacy.util

    path = Path(model)
    return path if path.exists() else Path(spacy.util.get_package_path(str(model)))


def content_digest(root: Path) -> str:
    """SHA-256 of every file under `root`: relative paths, sizes and contents, in sorted order
    (compiled bytecode left out: Python writes it as it pleases)."""
    sha = hashlib.sha256()
    files = sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and p.suffix != ".pyc" and not set(_SKIPPED) & set(p.parts)
    )
    for path in files:
        rel = path.relative_to(root).as_posix()
        sha.update(f"{rel}\x00{path.stat().st_size}\x00".encode())
        with path.open("rb") as f:
            while block := f.read(_BLOCK):
                sha.update(block)
    return sha.hexdigest()


def _fingerprint(meta: dict, digest: str) -> str:
    return f"{model_id(meta)} (sha256 {digest[:16]})"


def model_fingerprint(model: str | Path, meta: dict) -> str:
    """`lang_name-version (sha256 ...)` of MODEL's files, `meta` being its meta.json."""
    return _fingerprint(meta, content_digest(model_root(model)))


def _package_root(path: Path, meta: dict) -> Path:
    """A package loads from a data folder inside it: the package's folder holds its code."""
    parent = path.parent
    if path.name == model_id(meta) and (parent / "__init__.py").is_file():
        return parent
    return path


def nlp_fingerprint(nlp: Language) -> str:
    """The fingerprint of the files `nlp` was loaded from; for a pipeline built in memory, a
    hash of its serialized config, weights and rules (its vocabulary, which grows as it runs,
    left out)."""
    if nlp.path is not None and Path(nlp.path).is_dir():
        return _fingerprint(nlp.meta, content_digest(_package_root(Path(nlp.path), nlp.meta)))
    digest = hashlib.sha256(nlp.to_bytes(exclude=["vocab"])).hexdigest()
    return _fingerprint(nlp.meta, digest)
