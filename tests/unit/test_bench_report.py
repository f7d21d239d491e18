"""The bench's figures: SNS Publish and SQS SendMessageBatch shown but not counted, ratios against
the floors, and the text table printing the figures the JSON holds."""

from __future__ import annotations

from bench.calls import KINDS, PRIME_KIND, Measured, Run
from bench.imports import Timing
from bench.proxy import Call, Record
from bench.report import calls_data, imports_data, text

KIND = {k.key: k for k in KINDS}


def _records(*calls: tuple[str, str, int]) -> list[Record]:
    return [Record(Call(service, action), status) for service, action, status in calls]


def _run() -> Run:
    compliant = Measured(
        KIND["compliant"],
        "UpdateService of search-gateway",
        _records(
            ("ecs", "DescribeServices", 200),
            ("ecs", "DescribeTaskDefinition", 200),
            ("dynamodb", "PutItem", 400),
            ("sns", "Publish", 200),
            ("sqs", "SendMessageBatch", 200),
        ),
        ["COMPLIANT"],
    )
    own = Measured(
        KIND["own-call"], "the enforcer's own UpdateService", _records(("dynamodb", "PutItem", 200))
    )
    quiet = Measured(KIND["untagged"], "UpdateService of billing-worker", [], ["NOT_OPTED_IN"])
    cluster = Measured(
        KIND["cluster-tag"],
        "TagResource",
        _records(*[("ecs", "DescribeServices", 200)] * 9),
        ["COMPLIANT"] * 6,
        None,
        6,
    )
    broken = Measured(KIND["remediated"], "UpdateService", [], [], "EnforcementFailedError: boom")
    prime = Measured(PRIME_KIND, "prime", _records(("sts", "GetCallerIdentity", 200)), ["SKIPPED"])
    return Run(prime, [compliant, own, quiet, cluster, broken])


def test_publish_and_the_router_s_send_are_in_the_breakdown_but_not_in_the_calls() -> None:
    (compliant, *_) = calls_data(_run())["kinds"]

    assert compliant["calls"] == 3
    assert compliant["publishes"] == 1
    assert compliant["sends"] == 1
    assert compliant["breakdown"]["sns:Publish"] == 1
    assert compliant["breakdown"]["sqs:SendMessageBatch"] == 1
    assert compliant["failed"] == {"dynamodb:PutItem": 1}
    assert compliant["ratio"] == 1.5
    assert compliant["over_floor"] == 1


def test_a_floor_of_zero_has_no_ratio_and_the_text_says_how_far_over_it_is() -> None:
    figures = {"about": {"commit": "abc", "python": "3.13", "versions": {}}, "calls": calls_data(_run())}
    own = figures["calls"]["kinds"][1]

    assert (own["calls"], own["floor"], own["ratio"], own["over_floor"]) == (1, 0, None, 1)
    assert "inf (+1)" in text(figures)


def test_the_text_holds_every_kind_its_calls_per_service_and_errors() -> None:
    figures = {"about": {"commit": "abc", "python": "3.13", "versions": {}}, "calls": calls_data(_run())}
    printed = text(figures)

    for kind in figures["calls"]["kinds"]:
        assert kind["title"] in printed
    assert "1.50 (6 services)" in printed
    assert "ERROR EnforcementFailedError: boom" in printed
    assert "COMPLIANT x6" in printed
    assert "(no AWS call)" in printed
    assert "PutItem 1 (1 failed)" in printed
    assert "Publish 1 (not counted)" in printed
    assert "SendMessageBatch 1 (not counted)" in printed
    assert "GetCallerIdentity 1" in printed  # the priming event's breakdown


def test_import_ratios_are_against_the_best_boto3_run() -> None:
    data = imports_data(
        Timing("boto3", "boto3", [0.4, 0.2, 0.3]), [Timing("enforcer", "enforcer/app.py", [0.5, 0.3, 0.9])]
    )
    figures = {"about": {"commit": "abc", "python": "3.13", "versions": {}}, "imports": data}

    assert data["baseline"]["best_ms"] == 200.0
    (handler,) = data["handlers"]
    assert (handler["best_ms"], handler["ratio"], handler["within_target"]) == (300.0, 1.5, True)
    assert "1.50x (within target)" in text(figures)
