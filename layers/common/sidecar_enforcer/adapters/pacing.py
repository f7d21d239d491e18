"""A fleet run's pace against ECS's request token buckets (domain.ecs.ecs_quotas), per client (one
account and Region: the wiring makes one ECS client, so one pacer, per place).

ECS keeps a token bucket per account, Region and category of actions ("Request throttling for the
Amazon ECS API": a request takes a token, a bucket holds at most its burst and refills at its
sustained rate; an empty bucket answers ThrottlingException). The pacer keeps a bucket of its own
per category, seeded from the documented figures: full at first, less a reserve (a tenth of the
burst) that absorbs the spread of the network's latency between a request leaving here and reaching
ECS, and refilled at the documented rate. A request waits for its token before it is sent, so a run
alone in its account drains each of ECS's buckets at their full rate and is never throttled; the
waits are reservations (each request is given the time its token will be there), so the categories
proceed side by side and none waits on another's.

Other callers share the account's buckets. A ThrottlingException says our share is smaller than we
thought: the category's rate halves (once per ``GRACE_SECONDS``: the requests already in flight are
throttled too; never below a tenth of the documented rate) and its tokens are spent; after
``RECOVER_SECONDS`` without a throttle the rate climbs back by a tenth of the documented rate, up to
it (additive increase, multiplicative decrease). botocore's standard retries redo the few throttled
requests, and each retry waits for a token as well.

IAM actions used: none (``PERMISSIONS``): it only times the client's own requests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from ..domain.ecs.ecs_quotas import ECS_BUCKET_OF, Category

PERMISSIONS: tuple[str, ...] = ()

RESERVE_SHARE = 0.1  # of a bucket's burst left to ECS's side: latency spread, not ours to spend
LOWEST_SHARE = 0.1  # a throttled category never slows below this share of its documented rate
GRACE_SECONDS = 1.0  # throttles within this long after a cut were sent before it: no second cut
RECOVER_SECONDS = 5.0  # this long without a throttle: the rate climbs back by a tenth


class _Bucket:
    """One category's tokens, as this client spends them."""

    def __init__(self, category: Category, now: float) -> None:
        self.refill = float(category.refill)
        self.rate = self.refill
        self.capacity = max(1.0, category.capacity * (1 - RESERVE_SHARE))
        self.tokens = self.capacity
        self.at = now
        self.cut_at = self.raised_at = float("-inf")

    def _refresh(self, now: float) -> None:
        if self.rate < self.refill and now - max(self.cut_at, self.raised_at) >= RECOVER_SECONDS:
            self.rate = min(self.refill, self.rate + self.refill * LOWEST_SHARE)
            self.raised_at = now
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now

    def reserve(self, now: float) -> float:
        """Take a token (perhaps one not there yet): the seconds until it is."""
        self._refresh(now)
        self.tokens -= 1.0
        return 0.0 if self.tokens >= -1e-9 else -self.tokens / self.rate

    def throttled(self, now: float) -> bool:
        """ECS found its bucket empty: slow down (True) unless a cut was just made."""
        self._refresh(now)
        if now - self.cut_at < GRACE_SECONDS:
            return False
        self.rate = max(self.refill * LOWEST_SHARE, self.rate / 2)
        self.tokens = min(self.tokens, 0.0)
        self.cut_at = now
        return True


class Pacer:
    def __init__(
        self, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}
        self.throttled = 0  # ThrottlingException answers seen
        self.waited = 0.0  # seconds requests waited for their tokens, added up

    def watch(self, client: Any) -> Any:
        """Pace ``client`` (an ECS client): before each attempt, and on each throttled answer."""
        events = client.meta.events
        events.register("before-send.ecs", self._before_send, unique_id=f"pacer-send-{id(self)}")
        events.register("needs-retry.ecs", self._needs_retry, unique_id=f"pacer-retry-{id(self)}")
        return client

    def rate(self, action: str) -> float | None:
        """The rate an action's category is held to now (requests a second); None: not paced."""
        category = ECS_BUCKET_OF.get(action)
        if category is None:
            return None
        with self._lock:
            return self._bucket(category).rate

    def _bucket(self, category: Category) -> _Bucket:
        bucket = self._buckets.get(category.name)
        if bucket is None:
            bucket = self._buckets[category.name] = _Bucket(category, self._clock())
        return bucket

    def _before_send(self, event_name: str = "", **kwargs: Any) -> None:  # None: the request goes on
        category = ECS_BUCKET_OF.get(event_name.rsplit(".", 1)[-1])
        if category is None:
            return
        with self._lock:
            delay = self._bucket(category).reserve(self._clock())
            self.waited += delay
        if delay > 0:
            self._sleep(delay)

    def _needs_retry(self, event_name: str = "", response: Any = None, **kwargs: Any) -> None:
        parsed = response[1] if isinstance(response, tuple) and len(response) > 1 else None
        code = (parsed or {}).get("Error", {}).get("Code") if isinstance(parsed, dict) else None
        category = ECS_BUCKET_OF.get(event_name.rsplit(".", 1)[-1])
        if code != "ThrottlingException" or category is None:
            return
        with self._lock:
            self.throttled += 1
            self._bucket(category).throttled(self._clock())
