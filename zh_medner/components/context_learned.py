"""`zh_context_learned`: a learned verdict on chosen context attributes, after `zh_context`.

For each finding, a window of the text (up to `left` characters before it, but not before the
line ahead of its own: in a dialogue, the previous turn; up to `right` after it, to the end of
its line) goes through a frozen character encoder. The mean last-layer states of the finding,
of its left and right context and of the whole window, with zh_context's own verdicts
(negated, uncertain, hypothetical), feed a linear softmax over affirmed / negated / uncertain.
The component sets the attributes named in `attributes` from it (by default `uncertain` only:
that is where it beat the rules, docs/results.md) and keeps `context_cues` true to them: an
attribute it sets gets the cue `<learned>` over the finding, one it clears loses its cues.

The encoder and the layer are data of the pipeline: `initialize(path=...)` reads the folder
that scripts/context_classifier.py writes (`encoder/` in Hugging Face form, `head.safetensors`,
`head.json`), and the pipeline saves them; safetensors and JSON only, nothing unpickled. It is
an option, not the default: every finding costs an encoder pass over its window.

This file is shipped in the wheel (`spacy package --code`): it imports nothing from `zh_medner`.
"""

import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import srsly
import torch
from safetensors.torch import load_file, save_file
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import minibatch, registry
from transformers import AutoModel, AutoTokenizer

CLASSES = ("affirmed", "negated", "uncertain")
RULE_FEATURES = ("negated", "uncertain", "hypothetical")  # zh_context's, in this order
CUES = "context_cues"
LEARNED_CUE = "<learned>"
ENCODER_DIR, HEAD_FILE, HEAD_META = "encoder", "head.safetensors", "head.json"


def window(text: str, start: int, end: int, left: int, right: int) -> tuple[int, int]:
    """(lo, hi) of the text a finding at [start, end) is read in."""
    line = max(text.rfind("\n", 0, start), 0)
    lo = max(text.rfind("\n", 0, line) + 1, start - left)
    stop = text.find("\n", end)
    return lo, min(len(text) if stop < 0 else stop, end + right)


class WindowEncoder:
    """A frozen Hugging Face encoder from a local folder (safetensors weights only)."""

    def __init__(self, folder: str | Path):
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModel.from_pretrained(folder, use_safetensors=True).eval()

    def save(self, folder: str | Path) -> None:
        self.model.save_pretrained(folder, safe_serialization=True)
        self.tokenizer.save_pretrained(folder)

    @torch.no_grad()
    def __call__(self, items: Sequence[tuple[str, int, int]], batch_size: int = 64):
        """[finding, left, right, window] mean states for each (window text, start, end),
        in `items`' order; windows are batched by length, so that little is padded."""
        order = sorted(range(len(items)), key=lambda i: len(items[i][0]))
        rows: list = [None] * len(items)
        for group in minibatch(order, batch_size):
            enc = self.tokenizer([items[i][0] for i in group], return_offsets_mapping=True,
                                 padding=True, truncation=True, max_length=256,
                                 return_tensors="pt")  # fmt: skip
            offsets = enc.pop("offset_mapping")
            hidden = self.model(**enc).last_hidden_state
            for j, i in enumerate(group):
                _, a, b = items[i]
                starts, ends = offsets[j, :, 0], offsets[j, :, 1]
                real = (ends > starts) & enc["attention_mask"][j].bool()
                parts = (
                    real & (starts >= a) & (ends <= b),
                    real & (ends <= a),
                    real & (starts >= b),
                )
                rows[i] = torch.cat([_mean(hidden[j], m) for m in (*parts, real)])
        width = 4 * self.model.config.hidden_size
        return torch.stack(rows) if rows else torch.zeros((0, width))


def _mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return hidden[mask].mean(0) if mask.any() else torch.zeros(hidden.shape[-1])


def write_classifier(path: Path, encoder: WindowEncoder, head: dict, meta: dict) -> None:
    """The folder `initialize(path=...)` reads: head = {weight, bias, mean, std} tensors;
    meta holds at least `left` and `right`, the window the layer was trained on."""
    path.mkdir(parents=True, exist_ok=True)
    encoder.save(path / ENCODER_DIR)
    save_file({k: v.contiguous() for k, v in head.items()}, str(path / HEAD_FILE))
    srsly.write_json(
        path / HEAD_META, {"classes": list(CLASSES), "rules": list(RULE_FEATURES), **meta}
    )


def _registered(name: str):
    """Keep the first registration (the library and a packaged pipeline both ship this file)."""
    return (lambda func: func) if name in registry.factories else None


@(
    _registered("zh_context_learned")
    or Language.factory(
        "zh_context_learned",
        requires=["doc.ents", "span._.negated", "span._.uncertain"],
        assigns=["span._.uncertain", f"span._.{CUES}"],
        default_config={"attributes": ["uncertain"], "span_key": "sc", "batch_size": 64},
    )
)
def make_zh_context_learned(
    nlp: Language, name: str, attributes: list[str], span_key: str | None, batch_size: int
):
    """attributes: which of `negated` / `uncertain` the classifier decides (the rest stays
    the rules'); span_key: the span group whose findings are read besides doc.ents."""
    return LearnedContext(name, attributes=attributes, span_key=span_key, batch_size=batch_size)


class LearnedContext:
    def __init__(self, name: str, *, attributes: Sequence[str], span_key: str | None,
                 batch_size: int = 64):  # fmt: skip
        unknown = [a for a in attributes if a not in CLASSES[1:]]
        if unknown or not attributes:
            raise ValueError(f"[{name}] attributes must be among {list(CLASSES[1:])}, "
                             f"got {list(attributes)}")  # fmt: skip
        self.name, self.attributes = name, list(attributes)
        self.span_key, self.batch_size = span_key, batch_size
        self.encoder: WindowEncoder | None = None

    def initialize(self, get_examples: Callable[[], Iterable] | None = None, *, nlp=None,
                   path: str | None = None):  # fmt: skip
        if path is None:
            raise ValueError(f"[{self.name}] no classifier given: set "
                             f"[initialize.components.{self.name}] path = <folder written by "
                             "scripts/context_classifier.py>")  # fmt: skip
        self.from_disk(path)

    def __call__(self, doc: Doc) -> Doc:
        return next(self.pipe([doc]))

    def pipe(self, stream: Iterable[Doc], batch_size: int = 128):
        if self.encoder is None:
            raise ValueError(f"[{self.name}] has no classifier: initialize it with a path")
        for docs in minibatch(stream, batch_size):
            found = [(doc, span) for doc in docs for span in self._findings(doc)]
            if found:
                self._decide([span for _, span in found], self._features(found))
            yield from docs

    def _findings(self, doc: Doc) -> list[Span]:
        """doc.ents, and the group's spans that are not entities (those share their values)."""
        spans = list(doc.ents)
        if self.span_key and self.span_key in doc.spans:
            seen = {(e.start, e.end, e.label) for e in spans}
            spans += [s for s in doc.spans[self.span_key] if (s.start, s.end, s.label) not in seen]
        return spans

    def _features(self, found: list[tuple[Doc, Span]]) -> torch.Tensor:
        items, rules = [], []
        for doc, span in found:
            lo, hi = window(doc.text, span.start_char, span.end_char, self.left, self.right)
            items.append((doc.text[lo:hi], span.start_char - lo, span.end_char - lo))
            rules.append([float(bool(span._.get(r))) for r in RULE_FEATURES])
        x = torch.cat([self.encoder(items, self.batch_size), torch.tensor(rules)], 1)
        return (x - self.head["mean"]) / self.head["std"]

    @torch.no_grad()
    def _decide(self, spans: list[Span], x: torch.Tensor) -> None:
        verdicts = (x @ self.head["weight"].T + self.head["bias"]).argmax(1).tolist()
        for span, verdict in zip(spans, verdicts):
            cues = [c for c in (span._.get(CUES) or []) if c["attribute"] not in self.attributes]
            for attribute in self.attributes:
                value = CLASSES[verdict] == attribute
                if value and span._.get(attribute):
                    cues += [c for c in span._.get(CUES) or [] if c["attribute"] == attribute]
                elif value:
                    cues.append({"attribute": attribute, "cue": LEARNED_CUE,
                                 "start": span.start_char, "end": span.end_char})  # fmt: skip
                span._.set(attribute, value)
            span._.set(CUES, cues)

    # --------------------------------------------------------- serialisation

    def to_disk(self, path: str | Path, *, exclude=tuple()) -> None:
        write_classifier(Path(path), self.encoder, self.head, self.meta)

    def from_disk(self, path: str | Path, *, exclude=tuple()) -> "LearnedContext":
        path = Path(path)
        if not (path / HEAD_FILE).exists():
            raise ValueError(f"[{self.name}] {path} has no {HEAD_FILE}: give the folder that "
                             "scripts/context_classifier.py writes")  # fmt: skip
        meta = srsly.read_json(path / HEAD_META)
        self.meta = {k: v for k, v in meta.items() if k not in ("classes", "rules")}
        self.left, self.right = meta["left"], meta["right"]
        self.head = load_file(str(path / HEAD_FILE))
        self.encoder = WindowEncoder(path / ENCODER_DIR)
        return self

    def to_bytes(self, *, exclude=tuple()) -> bytes:
        with tempfile.TemporaryDirectory() as tmp:
            self.to_disk(tmp)
            files = {p.relative_to(tmp).as_posix(): p.read_bytes()
                     for p in Path(tmp).rglob("*") if p.is_file()}  # fmt: skip
        return srsly.msgpack_dumps(files)

    def from_bytes(self, data: bytes, *, exclude=tuple()) -> "LearnedContext":
        with tempfile.TemporaryDirectory() as tmp:
            for name, content in srsly.msgpack_loads(data).items():
                (Path(tmp) / name).parent.mkdir(parents=True, exist_ok=True)
                (Path(tmp) / name).write_bytes(content)
            return self.from_disk(tmp)
