"""Where a type's recall goes: its gold entities by what became of them, and by length.

Each gold entity of a label ends as one of: found (exact), wrong label, wrong boundary, wrong
label and boundary, or missed (error_analysis.classify pairs them, so the kinds add up). A gold
entity is `nested` when it contains, or lies inside, another gold entity: the span head can
predict both, but a flat decoder or a mistaken boundary loses one of them.
"""

from collections import Counter, defaultdict
from collections.abc import Sequence

from .error_analysis import classify
from .ner import Triple

LENGTHS = ((1, 2), (3, 4), (5, 8), (9, 16), (17, 10_000))


def length_bucket(n: int) -> str:
    lo, hi = next((lo, hi) for lo, hi in LENGTHS if lo <= n <= hi)
    return f"{lo}+" if hi >= 10_000 else f"{lo}-{hi}"


def is_nested(entity: Triple, gold: set[Triple]) -> bool:
    start, end, _ = entity
    return any(
        (o[0] <= start and end <= o[1]) or (start <= o[0] and o[1] <= end)
        for o in gold
        if o[:2] != entity[:2]
    )


def fates(pred: set[Triple], gold: set[Triple]) -> dict[Triple, str]:
    """What became of each gold entity of one doc."""
    out = {g: "found" for g in gold & pred}
    for error in classify(pred, gold):
        if error.gold is not None:
            out[error.gold] = error.kind
    return out


def breakdown(pred: Sequence[set[Triple]], gold: Sequence[set[Triple]], labels) -> dict:
    """{label: {"kinds": Counter, "by_length": {bucket: [found, total]}, "nested": [found,
    total], "flat": [found, total]}} over the gold entities of `labels`."""
    out = {
        label: {"kinds": Counter(), "by_length": defaultdict(lambda: [0, 0]), "nested": [0, 0],
                "flat": [0, 0]}
        for label in labels
    }  # fmt: skip
    for p, g in zip(pred, gold):
        for entity, fate in fates(p, g).items():
            row = out.get(entity[2])
            if row is None:
                continue
            found = int(fate == "found")
            row["kinds"][fate] += 1
            bucket = row["by_length"][length_bucket(entity[1] - entity[0])]
            shape = row["nested"] if is_nested(entity, g) else row["flat"]
            for counts in (bucket, shape):
                counts[0] += found
                counts[1] += 1
    return out


def markdown(result: dict) -> str:
    lines = []
    for label, row in result.items():
        total = sum(row["kinds"].values())
        kinds = ", ".join(f"{k} {v} ({v / total:.0%})" for k, v in row["kinds"].most_common())
        lines.append(f"### {label} ({total} gold entities)\n\n{kinds}\n")
        lines.append("| gold length | recall | entities |\n|---|---|---|")
        for bucket in sorted(row["by_length"], key=lambda b: int(b.split("-")[0].rstrip("+"))):
            found, n = row["by_length"][bucket]
            lines.append(f"| {bucket} | {found / n:.0%} | {n} |")
        for name in ("nested", "flat"):
            found, n = row[name]
            if n:
                lines.append(f"| {name} | {found / n:.0%} | {n} |")
        lines.append("")
    return "\n".join(lines)
