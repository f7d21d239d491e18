"""A fleet run's pace against ECS's request token buckets (domain.ecs_quotas), per client (one
account and Region).

Unpaced at first: a run uses the bucket's burst like any caller. Once ECS answers one of a
category's requests with ThrottlingException, that bucket is known empty: from then on the
category's requests leave no faster than its documented refill rate (a token bucket of our own,
starting empty, holding at most ``HELD`` tokens), so the run keeps to what ECS allows instead of
backing off further and further (botocore's standard retries redo the few throttled requests).
Other callers share the account's buckets: the pace is the whole refill rate, and a throttle seen
again while paced (after ``GRACE_SECONDS``: the requests in flight when pacing began are throttled
too) halves it, never below a tenth, as a caller that shares must.

IAM actions used: none (``PERMISSIONS``): it only times the client's own requests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from ..domain.ecs_quotas import ECS_BUCKET_OF, Category

PERMISSIONS: tuple[str, ...] = ()

HELD = 2.0  # tokens a paced category may save up: no burst after the bucket was found empty
# Requests already in flight when a bucket was found empty are throttled too: throttles within
# this long after pacing began say nothing of the pace.
GRACE_SECONDS = 2.0


class _Pace:
    def __init__(self, category: Category, clock: Callable[[], float]) -> None:
        self.rate = float(category.refill)
        self.floor = category.refill / 10
        self._tokens = 0.0
        self._at = self.since = clock()
        self._clock = clock

    def wait(self) -> float:
        """Spend a token, or say how long until there is one."""
        now = self._clock()
        self._tokens = min(HELD, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0 - 1e-9:  # a token, give or take the float error of the refill
            self._tokens = max(0.0, self._tokens - 1.0)
            return 0.0
        return max((1.0 - self._tokens) / self.rate, 0.001)


class Pacer:
    def __init__(
        self, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._paced: dict[str, _Pace] = {}
        self.throttled = 0  # ThrottlingException answers seen

    def watch(self, client: Any) -> Any:
        """Pace ``client`` (an ECS client): before each attempt, and on each throttled answer."""
        events = client.meta.events
        events.register("before-send.ecs", self._before_send, unique_id=f"pacer-send-{id(self)}")
        events.register("needs-retry.ecs", self._needs_retry, unique_id=f"pacer-retry-{id(self)}")
        return client

    def paced(self, action: str) -> float | None:
        """The rate a category is held to now (requests a second), None while unpaced."""
        category = ECS_BUCKET_OF.get(action)
        with self._lock:
            pace = self._paced.get(category.name) if category else None
            return pace.rate if pace else None

    def _before_send(self, event_name: str = "", **kwargs: Any) -> None:  # None: the request goes on
        category = ECS_BUCKET_OF.get(event_name.rsplit(".", 1)[-1])
        if category is None:
            return
        while True:
            with self._lock:
                pace = self._paced.get(category.name)
                delay = pace.wait() if pace else 0.0
            if delay <= 0:
                return
            self._sleep(delay)

    def _needs_retry(self, event_name: str = "", response: Any = None, **kwargs: Any) -> None:
        parsed = response[1] if isinstance(response, tuple) and len(response) > 1 else None
        code = (parsed or {}).get("Error", {}).get("Code") if isinstance(parsed, dict) else None
        category = ECS_BUCKET_OF.get(event_name.rsplit(".", 1)[-1])
        if code != "ThrottlingException" or category is None:
            return
        with self._lock:
            self.throttled += 1
            pace = self._paced.get(category.name)
            if pace is None:
                self._paced[category.name] = _Pace(category, self._clock)
            elif self._clock() - pace.since >= GRACE_SECONDS:
                pace.rate = max(pace.floor, pace.rate / 2)
                pace.since = self._clock()
