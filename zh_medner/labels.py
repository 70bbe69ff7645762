"""The entity labels of CMeEE, upper-case, in the order of the CMeEE guideline."""

LABELS = ("DIS", "SYM", "PRO", "EQU", "DRU", "ITE", "BOD", "DEP", "MIC")
