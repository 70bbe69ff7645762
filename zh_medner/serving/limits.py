"""The service's limits: the one place for their defaults (`zh-medner serve` reads them)."""

import math
from dataclasses import asdict, dataclass

from ..io import OptionError


@dataclass(frozen=True)
class Limits:
    max_texts: int = 64  # texts in one request
    max_chars: int = 10_000  # characters in one text
    max_body_bytes: int = 1_048_576  # bytes in one request body
    max_queue: int = 16  # requests waiting behind the running one; more get 503
    time_limit: float = 120.0  # seconds of pipeline time for one request

    def __post_init__(self):
        for key, value in asdict(self).items():
            if key == "time_limit":
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise OptionError(f"{key} must be a number of seconds, got {value!r}")
                if not (0 < value < math.inf):
                    raise OptionError(f"{key} must be a positive number of seconds, got {value!r}")
            elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
                if not (key == "max_queue" and value == 0):
                    raise OptionError(f"{key} must be a positive integer, got {value!r}")
