"""When to retry a registry request, and how long to wait.

Connection errors and the statuses a busy or restarting registry sends (429, 500, 502, 503,
504) are retried with exponential backoff and full jitter; a ``Retry-After`` on 429/503 is
honoured as the wait (when it is no longer than ``max_retry_after``, else the error is given to
the caller at once). Other 4xx are final. Only requests whose body can be sent again are retried.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """``retries`` more attempts after the first; delays ``base_delay * 2**n``, capped."""

    retries: int = 4
    base_delay: float = 0.5
    max_delay: float = 10.0
    max_retry_after: float = 60.0

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Full jitter: uniform in [0, min(max_delay, base_delay * 2**attempt)]."""
        ceiling = min(self.max_delay, self.base_delay * (2**attempt))
        return (rng or random).uniform(0.0, ceiling)

    def delay_for(self, status: int, retry_after: str | None, attempt: int) -> float | None:
        """Seconds to wait before retrying a response with ``status``; None: do not retry."""
        if status not in RETRY_STATUSES or attempt >= self.retries:
            return None
        wait = parse_retry_after(retry_after) if status in (429, 503) else None
        if wait is None:
            return self.backoff(attempt)
        return wait if wait <= self.max_retry_after else None


DEFAULT_RETRY = RetryPolicy()


def as_policy(retries: int | RetryPolicy) -> RetryPolicy:
    return retries if isinstance(retries, RetryPolicy) else RetryPolicy(retries=max(0, retries))


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP-date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
