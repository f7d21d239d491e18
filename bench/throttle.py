"""ECS's request token buckets, for the bench's proxy to enforce and for the lower bound they put on
a run's time.

Source: "Request throttling for the Amazon ECS API", section "Request Token Bucket Sizes and Refill
Rates" (Amazon ECS API Reference and Developer Guide,
https://docs.aws.amazon.com/AmazonECS/latest/APIReference/request-throttling.html): per account and
Region, the actions of a category share one bucket; each request takes a token; a bucket of
``capacity`` tokens (the burst rate) refills at ``refill`` tokens a second (the sustained rate). A
request that finds the bucket empty fails with ``ThrottlingException`` ("Rate exceeded", HTTP 400).

The page says a set number of tokens comes back every second; the bench's bucket refills
continuously at the same rate (the same sustained rate, a smoother burst edge).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Mapping

from sidecar_enforcer.domain.ecs.ecs_quotas import ECS_CATEGORIES, Category

THROTTLED_STATUS = 400
# ECS speaks awsJson1.1: the error's code in __type, its message in "message" (the error the guide quotes:
# "Status Code: 400; Error Code: ThrottlingException", "Rate exceeded"). ECS's model does not declare
# ThrottlingException (aws/aws-sdk#821); botocore's retry handler knows the code as throttling.
THROTTLED_BODY = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
THROTTLED_CONTENT_TYPE = "application/x-amz-json-1.1"


class TokenBucket:
    """Starts full; ``take`` spends a token when there is one."""

    def __init__(self, capacity: int, refill: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = capacity
        self.refill = refill
        self._clock = clock
        self._tokens = float(capacity)
        self._at = clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(float(self.capacity), self._tokens + (now - self._at) * self.refill)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


Place = tuple[str, str]  # (account, region): ECS keeps a set of buckets for each


class Throttle:
    """One bucket per category, shared by its actions, per account and Region (``place``)."""

    def __init__(
        self,
        categories: tuple[Category, ...] = ECS_CATEGORIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.Lock()
        self._categories = categories
        self._clock = clock
        self._places: dict[Place, dict[str, TokenBucket]] = {}
        self._of = {action: c.name for c in categories for action in c.actions}

    def _buckets(self, place: Place) -> dict[str, TokenBucket]:
        buckets = self._places.get(place)
        if buckets is None:  # a place's buckets are full when it is first asked
            buckets = {c.name: TokenBucket(c.capacity, c.refill, self._clock) for c in self._categories}
            self._places[place] = buckets
        return buckets

    def admit(self, service: str, action: str, place: Place = ("", "")) -> bool:
        """False: answer ThrottlingException. Calls to other services, or to an ECS action no bucket
        lists, always pass."""
        name = self._of.get(action) if service == "ecs" else None
        if name is None:
            return True
        with self._lock:
            return self._buckets(place)[name].take()


class Competitor:
    """Another client of the same account and Region (a deploy pipeline, say): it asks ECS's
    buckets for ``share`` of each named action's refill rate, all the time, from when it starts;
    what it gets no run can have. ``with Competitor(throttle, place, actions):``."""

    def __init__(
        self,
        throttle: Throttle,
        place: Place,
        actions: tuple[str, ...] = ("DescribeServices", "DescribeTaskDefinition"),
        share: float = 0.5,
    ) -> None:
        self._throttle, self._place, self._actions, self._share = throttle, place, actions, share
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-competitor", daemon=True)
        self.taken: dict[str, int] = {}

    def _run(self) -> None:
        of = {a: c for c in ECS_CATEGORIES for a in c.actions}
        due = {a: time.monotonic() for a in self._actions}
        while not self._stop.is_set():
            now = time.monotonic()
            action = min(due, key=due.__getitem__)
            if due[action] > now:
                self._stop.wait(due[action] - now)
                continue
            if self._throttle.admit("ecs", action, self._place):
                self.taken[action] = self.taken.get(action, 0) + 1
            due[action] += 1 / (of[action].refill * self._share)

    def __enter__(self) -> Competitor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def lower_bound(requests: Mapping[str, int], categories: tuple[Category, ...] = ECS_CATEGORIES) -> float:
    """The fewest seconds in which the buckets let these ECS requests (action -> count, the ones that
    succeeded) through from full buckets: the slowest category's (n - capacity) / refill."""
    of = {action: c for c in categories for action in c.actions}
    per: dict[str, int] = {}
    for action, n in requests.items():
        category = of.get(action)
        if category is not None:
            per[category.name] = per.get(category.name, 0) + n
    seconds = 0.0
    for c in categories:
        over = per.get(c.name, 0) - c.capacity
        if over > 0:
            seconds = max(seconds, over / c.refill)
    return seconds


def category_counts(
    requests: Mapping[str, int], categories: tuple[Category, ...] = ECS_CATEGORIES
) -> dict[str, int]:
    """ECS requests per bucket (categories with none left out)."""
    of = {action: c.name for c in categories for action in c.actions}
    out: dict[str, int] = {}
    for action, n in requests.items():
        name = of.get(action)
        if name is not None and n:
            out[name] = out.get(name, 0) + n
    return out


def ceil_div(n: int, d: int) -> int:
    return math.ceil(n / d) if n > 0 else 0


def floor_seconds(
    requests: Mapping[str, int],
    steps: int,
    latency: float,
    share: float = 1.0,
    categories: tuple[Category, ...] = ECS_CATEGORIES,
) -> float:
    """The fewest seconds a run making these ECS requests can take: the slowest bucket's
    (n - burst) / refill (the refill times ``share``, the part another client leaves), plus one
    latency per dependent step (a request that needs an earlier one's answer)."""
    scaled = tuple(Category(c.name, c.capacity, c.refill * share, c.actions) for c in categories)
    return lower_bound(requests, scaled) + steps * latency
