"""How far an evaluation set's entities lie from the training set's, per label.

Each gold entity of an evaluation set is one of: unseen (its text is no entity in training),
same (the label training gives that text most often is its own), or other (training labels
that text mostly as another type). A held-out split of the training records and an
independent evaluation set side by side show how much of a score gap is vocabulary: CMeEE
dev's ITE entities are unseen in training twice as often as the held-out records' are.
"""

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

KINDS = ("unseen", "same", "other")


def train_labels(entities: Iterable[tuple[str, str]]) -> dict[str, Counter]:
    """text -> Counter of its labels, over training's (text, label) entities."""
    labels: dict[str, Counter] = defaultdict(Counter)
    for text, label in entities:
        labels[text][label] += 1
    return dict(labels)


def kind(text: str, label: str, train: dict[str, Counter]) -> str:
    counts = train.get(text)
    if not counts:
        return "unseen"
    top = max(counts.values())
    # a tie counts as same: training gives the text this label as often as any other
    return "same" if counts.get(label, 0) == top else "other"


def shift(
    train: dict[str, Counter],
    entities: Iterable[tuple[str, str]],
    labels: Sequence[str],
    lexicon: dict[str, Sequence[str]] | None = None,
) -> dict[str, dict[str, float]]:
    """{label: {"n", "unseen", "same", "other"}}: shares of the label's gold entities; with a
    lexicon ({label: terms}), "unseen_in_lexicon": the share of the unseen ones it lists."""
    counts: dict[str, Counter] = {label: Counter() for label in labels}
    listed: Counter = Counter()  # unseen texts the lexicon lists under their label
    terms = {label: set((lexicon or {}).get(label, ())) for label in labels}
    for text, label in entities:
        if label not in counts:
            continue
        found = kind(text, label, train)
        counts[label][found] += 1
        listed[label] += found == "unseen" and text in terms[label]
    out = {}
    for label, c in counts.items():
        n = sum(c.values())
        out[label] = {"n": n, **{k: _share(c[k], n) for k in KINDS}}
        if lexicon is not None:
            out[label]["unseen_in_lexicon"] = _share(listed[label], c["unseen"])
    return out


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0
