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
    table = numpy.asarray(counts, dtype=numpy.float64).reshape(-1, 3)
    n = len(table)
    if n == 0:
        return None
    if not 0 < level < 1 or resamples < 1:
        raise ValueError(f"level must be in (0, 1) and resamples >= 1, not {level}, {resamples}")
    rng = numpy.random.default_rng(seed)
    scores = []
    for start in range(0, resamples, CHUNK):
        size = min(CHUNK, resamples - start)
        # how often each record is drawn in each resample: n draws with replacement
        weights = rng.multinomial(n, numpy.full(n, 1.0 / n), size=size)
        tp, fp, fn = (weights @ table).T
        denominator = 2 * tp + fp + fn
        scores.append(
            numpy.divide(2 * tp, denominator, out=numpy.zeros(size), where=denominator > 0)
        )
    tail = (1 - level) / 2
    low, high = numpy.quantile(numpy.concatenate(scores), [tail, 1 - tail])
    return float(low), float(high)
