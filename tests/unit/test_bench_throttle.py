"""The bench's ECS token buckets: the developer guide's table, a bucket's burst and refill, buckets
shared per category, and the lower bound they put on a run's time."""

from __future__ import annotations

import time

import pytest
from sidecar_enforcer.domain.ecs.ecs_quotas import ECS_BUCKET_OF, ECS_CATEGORIES

from bench.throttle import Throttle, TokenBucket, category_counts, lower_bound


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_the_table_names_each_action_once_with_the_guides_figures_for_the_backfills_reads() -> None:
    actions = [a for c in ECS_CATEGORIES for a in c.actions]
    assert len(actions) == len(set(actions))
    # "Request throttling for the Amazon ECS API": the buckets a backfill audit draws on
    assert (ECS_BUCKET_OF["ListClusters"].capacity, ECS_BUCKET_OF["ListClusters"].refill) == (50, 20)
    assert ECS_BUCKET_OF["DescribeClusters"] is ECS_BUCKET_OF["ListClusters"]
    assert (ECS_BUCKET_OF["DescribeServices"].capacity, ECS_BUCKET_OF["DescribeServices"].refill) == (100, 20)
    assert ECS_BUCKET_OF["ListServices"] is ECS_BUCKET_OF["DescribeServices"]
    assert (
        ECS_BUCKET_OF["DescribeTaskDefinition"].capacity,
        ECS_BUCKET_OF["DescribeTaskDefinition"].refill,
    ) == (
        50,
        20,
    )
    assert (ECS_BUCKET_OF["UpdateService"].capacity, ECS_BUCKET_OF["UpdateService"].refill) == (50, 5)


def test_a_full_bucket_lets_its_burst_through_then_refills_at_its_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(50, 20, clock)

    assert all(bucket.take() for _ in range(50))
    assert not bucket.take()
    clock.now += 0.5  # 10 tokens back
    assert sum(bucket.take() for _ in range(20)) == 10
    clock.now += 60  # never more than its capacity
    assert sum(bucket.take() for _ in range(80)) == 50


def test_the_actions_of_a_category_share_one_bucket_and_other_calls_pass() -> None:
    clock = Clock()
    throttle = Throttle(clock=clock)

    assert sum(throttle.admit("ecs", "ListClusters") for _ in range(30)) == 30
    assert sum(throttle.admit("ecs", "DescribeClusters") for _ in range(30)) == 20  # 50 shared
    assert throttle.admit("ecs", "DescribeServices")  # another bucket, still full
    assert all(throttle.admit("sts", "GetCallerIdentity") for _ in range(500))
    assert all(throttle.admit("ecs", "SomeFutureAction") for _ in range(500))


def test_the_lower_bound_is_the_slowest_buckets_excess_over_its_burst_at_its_refill_rate() -> None:
    # 1,000 services in 10 clusters, 125 revisions: task-definition reads are the slowest bucket
    requests = {"ListClusters": 1, "DescribeClusters": 1, "ListServices": 10, "DescribeServices": 100}
    assert lower_bound(requests) == pytest.approx((110 - 100) / 20)
    assert lower_bound({**requests, "DescribeTaskDefinition": 125}) == pytest.approx((125 - 50) / 20)
    assert lower_bound({"DescribeTaskDefinition": 50, "GetCallerIdentity": 9}) == 0.0
    assert category_counts({**requests, "GetItem": 3}) == {
        "Cluster read actions": 2,
        "Service read actions": 110,
    }


def test_our_pacer_never_finds_the_benchs_bucket_empty_whatever_the_latencys_spread() -> None:
    """The client's bucket (adapters.pacing) against the server's (the bench's), each on its own
    clock: each request reaches the server 20 to 200 ms after it left, so they arrive out of order
    and bunched; none is throttled (without the pacer's reserve, about half of these runs would
    be), and the run takes the bucket's floor, (n - burst) / refill, give or take the reserve."""
    import random

    from sidecar_enforcer.adapters.pacing import Pacer

    floor = lower_bound({"DescribeTaskDefinition": 300})
    assert floor == pytest.approx((300 - 50) / 20)
    for seed in range(20):
        clock, server_clock = Clock(), Clock()  # the same time, read on each side
        server = Throttle(clock=server_clock)
        pacer = Pacer(clock, clock.advance)
        spread = random.Random(seed)  # noqa: S311 - latencies, not secrets
        arrivals: list[float] = []
        for _ in range(300):
            pacer._before_send("before-send.ecs.DescribeTaskDefinition")
            arrivals.append(clock.now + spread.uniform(0.02, 0.2))
        admitted = []
        for at in sorted(arrivals):
            server_clock.now = at
            admitted.append(server.admit("ecs", "DescribeTaskDefinition"))
        assert all(admitted), seed
        assert floor <= clock.now - 1000.0 <= floor + 5 / 20 + 1e-6


def test_each_account_and_region_has_buckets_of_its_own() -> None:
    clock = Clock()
    throttle = Throttle(clock=clock)
    hub, member, elsewhere = ("1", "us-east-1"), ("2", "us-east-1"), ("1", "eu-west-1")

    assert sum(throttle.admit("ecs", "DescribeTaskDefinition", hub) for _ in range(60)) == 50
    assert sum(throttle.admit("ecs", "DescribeTaskDefinition", member) for _ in range(60)) == 50
    assert sum(throttle.admit("ecs", "DescribeTaskDefinition", elsewhere) for _ in range(60)) == 50
    clock.now += 1.0
    assert sum(throttle.admit("ecs", "DescribeTaskDefinition", hub) for _ in range(60)) == 20


def test_another_client_takes_its_share_of_the_refill_from_the_same_bucket() -> None:
    from bench.throttle import Competitor

    throttle = Throttle()
    place = ("1", "us-east-1")
    with Competitor(throttle, place, ("DescribeTaskDefinition",), share=0.5) as other:
        time.sleep(0.55)
    # 10 a second asked for a little over half a second, from the start (fewer on a busy machine)
    assert 1 <= other.taken["DescribeTaskDefinition"] <= 7
    left = sum(throttle.admit("ecs", "DescribeTaskDefinition", place) for _ in range(60))
    assert (
        50 - other.taken["DescribeTaskDefinition"] <= left <= 50 - other.taken["DescribeTaskDefinition"] + 12
    )
    assert throttle.admit("ecs", "DescribeServices", place)  # a bucket it was not asked to share


def test_the_floor_in_seconds_adds_a_latency_a_step_and_slows_with_the_share_left() -> None:
    from bench.throttle import floor_seconds

    requests = {"DescribeServices": 1_000, "ListServices": 100, "DescribeTaskDefinition": 1_250}
    assert floor_seconds(requests, 4, 0.03) == pytest.approx((1_250 - 50) / 20 + 0.12)
    assert floor_seconds(requests, 4, 0.03, share=0.5) == pytest.approx((1_250 - 50) / 10 + 0.12)
    assert floor_seconds({"DescribeServices": 1_000, "ListServices": 100}, 3, 0.03) == pytest.approx(
        (1_100 - 100) / 20 + 0.09
    )
