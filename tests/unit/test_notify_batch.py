"""usecases.notify.NotifyBatch with fakes: which record is done, retried, put back or dead-lettered,
and that no wait is taken that the invocation's time cannot hold. (tests/integration/test_notifier.py
runs the same through the handler against a real HTTP server and moto's SQS.)"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from sidecar_enforcer.errors import AwsError, NotDeliveredError, RefusedDeliveryError, ThrottledError
from sidecar_enforcer.usecases import notify
from sidecar_enforcer.usecases.notify import CHAT, SLACK, Notify, NotifyBatch, Record, Route

QUEUE = "arn:aws:sqs:us-east-1:123456789012:notifier"


def body(service: str = "api") -> str:
    return json.dumps({"schemaVersion": "1.1", "status": "FLAPPING", "cluster": "prod", "service": service})


@dataclass
class Clock:
    """The invocation's time: ``left`` seconds, spent by the waits."""

    left: float = 60.0
    waits: list[float] = field(default_factory=list)

    def remaining(self) -> float:
        return self.left

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.left -= seconds


@dataclass
class Slack:
    """Answers in turn: None (delivered) or the error to raise; delivered after the last."""

    answers: list[Exception | None] = field(default_factory=list)
    posted: list[dict[str, Any]] = field(default_factory=list)
    tries: int = 0

    def post(self, payload: dict[str, Any]) -> None:
        self.tries += 1
        answer = self.answers.pop(0) if self.answers else None
        if answer is not None:
            raise answer
        self.posted.append(payload)


@dataclass
class Chat:
    answers: list[Exception | None] = field(default_factory=list)
    published: list[dict[str, Any]] = field(default_factory=list)

    def publish(self, notification: dict[str, Any], attributes: dict[str, str]) -> str:
        answer = self.answers.pop(0) if self.answers else None
        if answer is not None:
            raise answer
        self.published.append(notification)
        return "id"


@dataclass
class Queues:
    visibility: dict[str, float] = field(default_factory=dict)
    requeued: list[tuple[str, frozenset[str]]] = field(default_factory=list)
    fail: bool = False

    def retry_after(self, queue_arn: str, receipt_handle: str, seconds: float) -> None:
        self.visibility[receipt_handle] = seconds

    def requeue(self, queue_arn: str, body: str, delivered: frozenset[str]) -> None:
        if self.fail:
            raise AwsError("SendMessage: AccessDenied")
        self.requeued.append((body, delivered))


@dataclass
class DeadLetters:
    kept: list[tuple[str, str, str, dict[str, str] | None]] = field(default_factory=list)

    def send_body(self, body: str, reason: str, kind: str, attributes: dict[str, str] | None = None) -> None:
        self.kept.append((body, reason, kind, attributes))


def batch(slack: Slack | None, chat: Chat | None = None) -> tuple[NotifyBatch, Queues, DeadLetters]:
    queues, dead = Queues(), DeadLetters()
    route = Route((lambda: slack) if slack is not None else None, chat)
    return NotifyBatch(Notify({None: route}, post_seconds=10), queues, dead), queues, dead


def records(n: int, delivered: frozenset[str] = frozenset()) -> list[Record]:
    return [Record(f"m{i}", body(f"svc{i}"), QUEUE, f"r{i}", delivered) for i in range(1, n + 1)]


def test_a_retry_after_that_fits_is_waited_and_one_that_does_not_fails_the_rest_untried() -> None:
    slack = Slack([ThrottledError("429", 3), None, ThrottledError("429", 50)])
    run, queues, _ = batch(slack)
    clock = Clock(60)

    result = run(records(3), clock)

    assert clock.waits == [3]  # 3 + 10 + 5 <= 60; then 50 + 10 + 5 > 57
    assert len(slack.posted) == 1  # m1, after its wait
    assert slack.tries == 3  # m1 twice, m2 once, m3 not at all
    assert list(result.failures) == ["m2", "m3"]
    assert queues.visibility == {"r2": 50, "r3": 50}


def test_when_a_record_throttles_the_later_ones_are_failed_untried_with_its_retry_after() -> None:
    slack = Slack([None, ThrottledError("429", 120)])
    run, queues, _ = batch(slack)

    result = run(records(3), Clock(60))

    assert slack.tries == 2
    assert len(slack.posted) == 1
    assert list(result.failures) == ["m2", "m3"]
    assert result.failures["m3"].startswith("not tried")
    assert queues.visibility == {"r2": 120, "r3": 120}
    assert len(result.outcomes) == 1


def test_with_too_little_time_left_nothing_is_tried() -> None:
    slack = Slack()
    run, queues, _ = batch(slack)

    result = run(records(2), Clock(14))  # a post (10 s) and the margin (5 s) do not fit

    assert slack.tries == 0
    assert list(result.failures) == ["m1", "m2"]
    assert queues.visibility == {}  # the queue's visibility timeout brings them back


def test_a_temporary_failure_is_retried_with_backoff_within_the_time_left(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(notify, "BACKOFF_SECONDS", (1.0, 2.0))
    slack = Slack([NotDeliveredError("500")] * 5)
    run, _, _ = batch(slack)
    clock = Clock(60)

    result = run(records(1), clock)

    assert clock.waits == [1.0, 2.0]
    assert slack.tries == 3
    assert list(result.failures) == ["m1"]

    slack = Slack([NotDeliveredError("500")] * 5)
    run, _, _ = batch(slack)
    clock = Clock(16.5)  # 1 + 10 + 5 fits; 2 + 10 + 5 does not
    assert list(run(records(1), clock).failures) == ["m1"]
    assert clock.waits == [1.0]


def test_a_refusal_is_dead_lettered_at_once_and_the_chat_topic_still_served() -> None:
    slack, chat = Slack([RefusedDeliveryError("Slack webhook: HTTP 410 channel_is_archived")]), Chat()
    run, _, dead = batch(slack, chat)

    result = run(records(1), Clock())

    assert result.failures == {}
    assert result.refused == {"m1": "Slack webhook: HTTP 410 channel_is_archived"}
    assert slack.tries == 1
    assert len(chat.published) == 1
    [(kept_body, reason, kind, attributes)] = dead.kept
    assert kept_body == body("svc1")
    assert (reason, kind) == ("Slack webhook: HTTP 410 channel_is_archived", notify.REFUSED)
    assert attributes == {"delivered": CHAT}  # a redrive does not publish it again


def test_a_chat_topic_that_refuses_for_good_after_the_post_is_dead_lettered_saying_slack_has_it() -> None:
    slack, chat = Slack(), Chat([AwsError("Publish: NotFound: Topic does not exist")])
    chat.answers[0].retryable = False  # type: ignore[union-attr]
    run, queues, dead = batch(slack, chat)

    result = run(records(1), Clock())

    assert list(result.refused) == ["m1"]
    assert dead.kept[0][3] == {"delivered": SLACK}
    assert queues.requeued == []


def test_a_chat_topic_that_fails_for_now_after_the_post_puts_the_record_back_for_the_chat_only() -> None:
    slack, chat = Slack(), Chat([AwsError("Publish: Throttling")])
    run, queues, _ = batch(slack, chat)

    result = run(records(1), Clock())

    assert result.failures == {}
    assert result.requeued == ["m1"]
    assert queues.requeued == [(body("svc1"), frozenset({SLACK}))]

    again = run(records(1, frozenset({SLACK})), Clock())  # the message put back
    assert again.failures == {}
    assert len(slack.posted) == 1  # not posted again
    assert len(chat.published) == 1


def test_a_record_that_cannot_be_put_back_fails_whole() -> None:
    slack, chat = Slack(), Chat([AwsError("Publish: Throttling")])
    run, queues, _ = batch(slack, chat)
    queues.fail = True

    result = run(records(1), Clock())

    assert list(result.failures) == ["m1"]
    assert "not put back" in result.failures["m1"]


def test_a_post_that_ran_out_of_time_before_the_chat_topic_is_put_back_for_the_chat_only() -> None:
    class Slow(Slack):
        def post(self, payload: dict[str, Any]) -> None:
            super().post(payload)
            clock.left = 12  # the post took the time

    slack, chat = Slow(), Chat()
    run, queues, _ = batch(slack, chat)
    clock = Clock(60)

    result = run(records(2), clock)

    assert result.requeued == ["m1"]
    assert queues.requeued == [(body("svc1"), frozenset({SLACK}))]
    assert list(result.failures) == ["m2"]  # not tried
    assert chat.published == []


def test_the_time_spent_reading_the_webhook_s_secret_is_counted_before_the_post() -> None:
    # Building the poster reads the webhook's URL from Secrets Manager (a call that may take its
    # retries): the post after it must still fit in what is left, or it is not tried.
    slack, clock = Slack(), Clock(16)

    def read_secret_then_poster() -> Slack:
        clock.sleep(4)  # 12 s left: a post (10 s) and the margin (5 s) no longer fit
        return slack

    run = NotifyBatch(Notify({None: Route(read_secret_then_poster, None)}, post_seconds=10), Queues(), None)

    result = run(records(2), clock)

    assert slack.tries == 0
    assert list(result.failures) == ["m1", "m2"]


def test_one_aws_call_of_the_notifier_fits_in_the_time_kept_for_one_post() -> None:
    # The chat topic's publish is tried only with the time of one post (and the margin) left: its
    # worst case with the notifier's own configuration must fit in it, or the invocation times out
    # and the whole batch, the records already posted included, comes back. The worst case: every
    # attempt waits out its connect and read timeouts, and before retry n standard mode waits up to
    # 2**(n-1) s, raised by an x-amz-retry-after header by up to 5 s more
    # (botocore.retries.standard.ExponentialBackoff).
    from sidecar_enforcer.adapters.slack import TIMEOUT_SECONDS
    from sidecar_enforcer_dev.local import load_function

    config = load_function("notifier").AWS_CONFIG
    retries = config.retries
    attempts = (
        retries.get("total_max_attempts") or retries.get("max_attempts", 4) + 1
    )  # max_attempts: retries
    waits = sum(2 ** (n - 1) + 5 for n in range(1, attempts))
    worst = attempts * (config.connect_timeout + config.read_timeout) + waits

    assert worst <= TIMEOUT_SECONDS


def test_a_refusal_by_one_sink_does_not_drop_the_other_sink_s_failure_for_now() -> None:
    # Slack refuses for good while the chat topic fails for now: the refusal is dead-lettered at
    # once, and the chat topic still gets the record when a retry cures it (put back for it alone);
    # the dead-lettered copy names both other sinks, so a redrive posts to Slack only.
    throttled = AwsError("Publish: Throttling")
    slack, chat = Slack([RefusedDeliveryError("Slack webhook: HTTP 404 no_service")]), Chat([throttled])
    run, queues, dead = batch(slack, chat)

    result = run(records(1), Clock())

    assert result.refused == {"m1": "Slack webhook: HTTP 404 no_service"}
    assert result.failures == {}
    assert queues.requeued == [(body("svc1"), frozenset({SLACK}))]  # for the chat topic only
    [(_, _, _, attributes)] = dead.kept
    assert attributes == {"delivered": CHAT}  # a redrive goes to Slack only

    # The other way round: Slack fails for now, the chat topic refuses for good.
    gone = AwsError("Publish: NotFound: Topic does not exist")
    gone.retryable = False
    slack, chat = Slack([NotDeliveredError("Slack webhook: HTTP 503")] * 5), Chat([gone])
    run, queues, dead = batch(slack, chat)

    result = run(records(1), Clock())

    assert list(result.refused) == ["m1"]
    assert queues.requeued == [(body("svc1"), frozenset({CHAT}))]  # for Slack only
    assert dead.kept[0][3] == {"delivered": SLACK}


def test_when_the_other_sink_cannot_be_put_back_the_dead_lettered_copy_keeps_it() -> None:
    slack, chat = (
        Slack([RefusedDeliveryError("Slack webhook: HTTP 410")]),
        Chat([AwsError("Publish: Throttling")]),
    )
    run, queues, dead = batch(slack, chat)
    queues.fail = True

    result = run(records(1), Clock())

    assert list(result.refused) == ["m1"]
    assert dead.kept[0][3] is None  # no sink has it: a redrive delivers to both
