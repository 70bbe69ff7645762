"""The entity labels of CMeEE, upper-case, in the order of the CMeEE guideline."""

from collections.abc import Iterable

LABELS = ("DIS", "SYM", "PRO", "EQU", "DRU", "ITE", "BOD", "DEP", "MIC")


def ordered(labels: Iterable[str]) -> list[str]:
    """The labels, each once: CMeEE labels in guideline order, then any other alphabetically.
    Every table, legend and label list of the project is in this order."""
    labels = set(labels)
    return [x for x in LABELS if x in labels] + sorted(labels - set(LABELS))
