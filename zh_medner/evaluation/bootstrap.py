"""How far a micro F1 could move on another sample like this one: a percentile bootstrap.

An evaluation set of a few hundred records (a user's own dev split, the 97 uncertain mentions of
CMDD's held-out part) gives an F1 that another sample of the same kind would move by several
points. Resampling whole records with replacement (a dialogue or a text is the unit, as the
errors inside one record go together) and scoring each resample gives that spread: the central
`level` share of the resampled F1s is the interval (Efron & Tibshirani, An Introduction to the
Bootstrap, 1993, ch. 13). Two systems whose intervals overlap widely are not told apart by the
set. Written here in numpy (a dozen lines) rather than with scipy's `bootstrap`: scipy is not
a dependency of the project, and would be one for this alone.
"""

import numpy

RESAMPLES = 1000
LEVEL = 0.95
SEED = 0
CHUNK = 200  # resamples drawn at a time: a [CHUNK, records] table stays small


def f1_interval(
    counts, resamples: int = RESAMPLES, level: float = LEVEL, seed: int = SEED
) -> tuple[float, float] | None:
    """(low, high) of micro F1 for `counts`, one (tp, fp, fn) row a record; None for no records.

    F1 is 2tp / (2tp + fp + fn), 0 where nothing is predicted or gold (as `ner.prf`). The same
    seed gives the same interval."""
    (scores,) = _resampled_f1([counts], resamples, level, seed)
    return None if scores is None else _central(scores, level)


def f1_difference(
    counts_a, counts_b, resamples: int = RESAMPLES, level: float = LEVEL, seed: int = SEED
) -> dict | None:
    """How much better system B scores than system A on the same records (rows in the same
    order), paired: each resample draws the same records for both. {"interval": (low, high)
    of F1(B) - F1(A), "b_better": the share of resamples where B scores higher}; None for no
    records. An interval that holds 0 says the set does not tell the two apart."""
    if len(counts_a) != len(counts_b):
        raise ValueError(f"{len(counts_a)} records for A and {len(counts_b)} for B: pair them")
    a, b = _resampled_f1([counts_a, counts_b], resamples, level, seed)
    if a is None:
        return None
    return {"interval": _central(b - a, level), "b_better": float(numpy.mean(b > a))}


def _resampled_f1(tables, resamples: int, level: float, seed: int) -> list:
    """Micro F1 of each table (records x (tp, fp, fn)) in each resample, the same records drawn
    for every table; [None, ...] for no records."""
    if not 0 < level < 1 or not isinstance(resamples, int) or resamples < 1:
        raise ValueError(f"level must be in (0, 1) and resamples >= 1, not {level}, {resamples}")
    tables = [_table(t) for t in tables]
    n = len(tables[0])
    if n == 0:
        return [None] * len(tables)
    rng = numpy.random.default_rng(seed)
    scores = [[] for _ in tables]
    for start in range(0, resamples, CHUNK):
        size = min(CHUNK, resamples - start)
        # how often each record is drawn in each resample: n draws with replacement
        weights = rng.multinomial(n, numpy.full(n, 1.0 / n), size=size)
        for table, out in zip(tables, scores):
            tp, fp, fn = (weights @ table).T
            denominator = 2 * tp + fp + fn
            out.append(
                numpy.divide(2 * tp, denominator, out=numpy.zeros(size), where=denominator > 0)
            )
    return [numpy.concatenate(s) for s in scores]


def _table(counts):
    table = numpy.asarray(counts, dtype=numpy.float64)
    if table.size == 0:
        return table.reshape(0, 3)
    if table.ndim != 2 or table.shape[1] != 3:
        raise ValueError(f"counts of shape {table.shape}: give one (tp, fp, fn) row a record")
    return table


def _central(values, level: float) -> tuple[float, float]:
    tail = (1 - level) / 2
    low, high = numpy.quantile(values, [tail, 1 - tail])
    return float(low), float(high)
