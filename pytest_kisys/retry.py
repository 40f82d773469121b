"""The one retry-delay rule: exponential backoff, optionally capped, optionally jittered.

Stage retries, index look-ups, pip's network retries and span export all wait
``base * 2 ** retry`` seconds before retry number ``retry`` (0 for the first retry).
"""

from __future__ import annotations

import random


__all__ = ["backoff_delay"]


def backoff_delay(retry: int, base: float, *, cap: float | None = None, jitter: float = 0.0) -> float:
    """Seconds to wait before retry number ``retry`` (0-based): ``base * 2 ** retry``.

    :param cap: the longest wait, before jitter (None: no cap).
    :param jitter: up to this many seconds are added at random, so parallel clients do not
        retry in lockstep (not a security use of randomness).
    """
    delay = base * 2 ** max(retry, 0)
    if cap is not None:
        delay = min(cap, delay)
    if jitter > 0:
        delay += random.uniform(0, jitter)  # noqa: S311  # nosec B311 - retry jitter
    return float(delay)
