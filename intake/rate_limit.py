"""Per-clinic rate limiting of the intake endpoints: a token bucket per clinic.

Each clinic's bucket holds up to `burst` tokens and refills at `per_minute` tokens a minute;
an intake request takes one token, and a request that finds the bucket empty is refused with
429 and a `Retry-After` header (whole seconds until a token is back). One clinic's flood never
slows another's: the buckets are independent. Configured by `CONFIDE_RATE_LIMIT_PER_MINUTE`
(default 120) and `CONFIDE_RATE_LIMIT_BURST` (default: the per-minute rate); 0 turns the limit
off. The buckets live in the API process: with N API processes a clinic gets N times the rate.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import HTTPException

DEFAULT_PER_MINUTE = 120


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """Token buckets keyed by clinic id; `clock` is monotonic seconds (injectable for tests)."""

    def __init__(
        self,
        per_minute: float = DEFAULT_PER_MINUTE,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_minute < 0 or (burst is not None and burst < 1):
            raise ValueError("a rate limit needs per_minute >= 0 and burst >= 1")
        self.per_minute = per_minute
        self.burst = float(burst if burst is not None else max(per_minute, 1))
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> RateLimiter:
        """The limiter `CONFIDE_RATE_LIMIT_PER_MINUTE` / `CONFIDE_RATE_LIMIT_BURST` describe."""
        env = dict(os.environ) if env is None else env

        def number(name: str, default: float | None) -> float | None:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                value = float(raw)
            except ValueError:
                raise ValueError(f"{name} must be a number, e.g. 120") from None
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a number >= 0, e.g. 120")
            return value

        per_minute = number("CONFIDE_RATE_LIMIT_PER_MINUTE", DEFAULT_PER_MINUTE)
        assert per_minute is not None
        burst = number("CONFIDE_RATE_LIMIT_BURST", None)
        return cls(per_minute, burst if burst else None)

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0

    def take(self, key: str) -> float:
        """Take one token from `key`'s bucket: 0.0 if granted, else the seconds until one is."""
        if not self.enabled:
            return 0.0
        rate = self.per_minute / 60.0  # tokens a second
        with self._lock:
            now = self.clock()
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(self.burst, now)
            bucket.tokens = min(self.burst, bucket.tokens + max(0.0, now - bucket.at) * rate)
            bucket.at = max(bucket.at, now)
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / rate

    def check(self, key: str) -> None:
        """Take a token or raise the 429 the API answers with."""
        wait = self.take(key)
        if wait > 0:
            raise HTTPException(
                429,
                {
                    "error": "too many requests from this clinic; retry after the number of "
                    "seconds in the Retry-After header",
                },
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
