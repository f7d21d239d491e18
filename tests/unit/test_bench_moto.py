"""The backfill bench's moto: its patches change no answer, and its own process serves the seeded
fleet (bench.moto_patches, bench.moto_process)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from moto import mock_aws
from werkzeug.test import Client

from bench import backfill, fleet, moto_patches
from bench.moto_process import MotoProcessError

SIDECAR = {"name": "jaeger", "image": "cr.jaegertracing.io/jaegertracing/jaeger:2.21.0", "essential": False}
KEY = "tracing-sidecar"
ACCOUNT = "123456789012"
AUTH = (
    "AWS4-HMAC-SHA256 Credential=bench/20260101/us-east-1/ecs/aws4_request, SignedHeaders=host, Signature=0"
)


def _wsgi_ecs() -> Callable[[str, dict[str, Any]], tuple[int, bytes]]:
    """ECS requests straight into moto's server application, in this process."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    client = Client(DomainDispatcherApplication(create_backend_app))

    def call(action: str, body: dict[str, Any]) -> tuple[int, bytes]:
        answer = client.post(
            "/",
            data=json.dumps(body),
            headers={
                "X-Amz-Target": f"AmazonEC2ContainerServiceV20141113.{action}",
                "Content-Type": "application/x-amz-json-1.1",
                "Authorization": AUTH,
                "Host": "127.0.0.1:5000",
            },
        )
        return answer.status_code, answer.get_data()

    return call


def _bench_requests(plan: fleet.Plan, call: Callable[[str, dict[str, Any]], tuple[int, bytes]]) -> list[Any]:
    """Every kind of request both tools send, over the whole fleet, and a few that fail."""
    out: list[Any] = [call("ListClusters", {})]
    names = [c.name for c in plan.clusters]
    out.append(call("DescribeClusters", {"clusters": names, "include": ["TAGS"]}))
    out.append(call("DescribeClusters", {"clusters": [*names, "nowhere"]}))
    for cluster in names:
        status, body = call("ListServices", {"cluster": cluster, "maxResults": 100})
        out.append((status, body))
        arns = json.loads(body)["serviceArns"]
        for start in range(0, len(arns), 10):
            out.append(call("DescribeServices", {"cluster": cluster, "services": arns[start : start + 10]}))
            out.append(
                call(
                    "DescribeServices",
                    {"cluster": cluster, "services": arns[start : start + 10], "include": ["TAGS"]},
                )
            )
    for family in plan.families:
        for revision in range(1, len(family.sidecar) + 1):
            name = f"{family.name}:{revision}"
            out.append(call("DescribeTaskDefinition", {"taskDefinition": name}))
            out.append(call("DescribeTaskDefinition", {"taskDefinition": name, "include": ["TAGS"]}))
    out.append(call("DescribeTaskDefinition", {"taskDefinition": "nowhere:1"}))
    out.append(call("DescribeServices", {"cluster": "nowhere", "services": ["svc"]}))
    return out


# A network no VPC has: moto's CreateService refuses it (InvalidParameterException).
NOWHERE = {
    "awsvpcConfiguration": {
        "subnets": ["subnet-nowhere"],
        "securityGroups": ["sg-nowhere"],
        "assignPublicIp": "DISABLED",
    }
}


@mock_aws
def test_the_patches_change_no_answer_to_any_request_of_the_bench() -> None:
    from moto.ecs.models import ecs_backends

    plan = fleet.plan(fleet.Spec(60, 3, 12))
    net = fleet.network(boto3.client("ec2", region_name="us-east-1"))
    fleet.seed_backend(plan, ecs_backends[ACCOUNT]["us-east-1"], ACCOUNT, KEY, SIDECAR, net)
    call = _wsgi_ecs()

    before = _bench_requests(plan, call)
    with moto_patches.applied() as names:
        patched = _bench_requests(plan, call)
        again = _bench_requests(plan, call)  # from the memo this time
    after = _bench_requests(plan, call)

    assert len(names) == 3
    assert {status for status, _ in before} == {200, 400}
    assert patched == before
    assert again == before
    assert after == before


def test_the_patches_are_undone_after_the_block() -> None:
    from moto import backends
    from moto.core import serialize

    originals = (
        backends.list_of_moto_modules,
        serialize.AttributePicker.get_possible_keys,
        serialize.XFormedAttributePicker.get_possible_keys,
    )
    with moto_patches.applied() as names:
        assert backends.list_of_moto_modules is not originals[0]
        assert tuple(backends.list_of_moto_modules()) == tuple(originals[0]())
    assert names == [
        "moto.backends.list_of_moto_modules",
        "moto.core.serialize.AttributePicker.get_possible_keys",
        "moto.core.serialize.XFormedAttributePicker.get_possible_keys",
    ]
    assert (
        backends.list_of_moto_modules,
        serialize.AttributePicker.get_possible_keys,
        serialize.XFormedAttributePicker.get_possible_keys,
    ) == originals


def test_a_picker_with_an_alias_provider_of_its_own_is_asked_every_time() -> None:
    from moto.core import serialize

    class Counting(serialize.NoAlias):
        asked = 0

        def has_alias(self, key: str) -> bool:
            Counting.asked += 1
            return True

    picker = serialize.AttributePicker(alias_providers=[Counting])
    context = serialize.AttributePickerContext(obj={"a": 1}, key="a", shape=None)  # type: ignore[arg-type]
    with moto_patches.applied():
        assert [picker(context), picker(context)] == [1, 1]
    assert Counting.asked == 2


def test_moto_in_its_own_process_serves_the_fleet_seeded_through_the_pipe() -> None:
    plan = fleet.plan(fleet.Spec(12, 2, 4))
    with backfill.moto_server() as moto:
        assert moto.pid is not None
        # a failure in the child comes back with its traceback, and the child goes on
        with pytest.raises(MotoProcessError, match="InvalidParameterException"):
            moto.seed(plan, ACCOUNT, KEY, SIDECAR, NOWHERE)
        world, seconds = backfill.prepare(moto, plan)
        ecs = backfill._client("ecs", moto.url)
        listed = {c.name: ecs.list_services(cluster=c.name)["serviceArns"] for c in plan.clusters}
        tagged = ecs.describe_services(cluster=plan.clusters[0].name, services=listed[plan.clusters[0].name])

    assert seconds > 0
    assert world.upstream == moto.address
    assert len(moto.patches) == 3
    assert {c: len(arns) for c, arns in listed.items()} == plan.per_cluster()
    assert {s["serviceName"] for s in tagged["services"]} == {
        s.name for s in plan.services if s.cluster == plan.clusters[0].name
    }


def test_replayed_answers_are_byte_equal_to_moto_s_live_ones_per_account_and_region() -> None:
    """The proxy records moto's answers to ECS's reads in a warm-up pass and replays them (moto's CPU
    out of the timed runs): each replayed answer is the one moto gives live, byte for byte, and
    each is kept apart by the account (a member role's keys, as AssumeRole handed them out) and the
    Region that asked. Buckets are per account and Region too."""
    from bench.proxy import CountingProxy
    from bench.throttle import Throttle

    plan = fleet.plan(fleet.Spec(24, 2, 6))
    member, member_region = "111111111111", "eu-west-1"
    with backfill.moto_server() as moto:
        world, _ = backfill.prepare(moto, plan)
        net = fleet.network(backfill.member_client("ec2", moto.url, member, member_region))
        moto.seed(plan, member, KEY, SIDECAR, net, member_region)
        with CountingProxy(moto.address, latency=0.0) as proxy:
            proxy.account = world.account
            hub = backfill._client("ecs", proxy.url)
            keys = backfill._client("sts", proxy.url).assume_role(
                RoleArn=f"arn:aws:iam::{member}:role/sidecar-enforcer-member", RoleSessionName="bench"
            )["Credentials"]
            there = boto3.session.Session().client(
                "ecs",
                endpoint_url=proxy.url,
                region_name=member_region,
                aws_access_key_id=keys["AccessKeyId"],
                aws_secret_access_key=keys["SecretAccessKey"],
                aws_session_token=keys["SessionToken"],
            )

            def reads(ecs: Any) -> list[Any]:
                cluster = ecs.list_clusters()["clusterArns"][0]
                arns = ecs.list_services(cluster=cluster, maxResults=5)["serviceArns"]
                services = ecs.describe_services(cluster=cluster, services=arns, include=["TAGS"])["services"]
                revision = ecs.describe_task_definition(taskDefinition=services[0]["taskDefinition"])
                return [arns, services, revision["taskDefinition"]]

            proxy.replay.recording = True
            recorded = [reads(hub), reads(there)]
            proxy.replay.recording = False
            proxy.counts.take()
            proxy.replay.replaying = True
            replayed = [reads(hub), reads(there)]
            records = proxy.counts.take()
            checked, differ = proxy.replay.check(moto.address)
            proxy.throttle = Throttle()
            for _ in range(100):  # the hub's service-read bucket, emptied
                proxy.throttle.admit("ecs", "ListServices", (world.account, fleet.REGION))
            reads(there)  # the member's, full

    assert replayed == recorded
    assert recorded[0][1][0]["serviceArn"].split(":")[3:5] == [fleet.REGION, world.account]
    assert recorded[1][1][0]["serviceArn"].split(":")[3:5] == [member_region, member]
    ecs_records = [r for r in records if r.call.service == "ecs"]
    assert len(ecs_records) == 8
    assert all(r.replayed and r.upstream_ms is None for r in ecs_records)
    assert {r.place for r in ecs_records} == {(world.account, fleet.REGION), (member, member_region)}
    assert (checked, differ) == (8, [])
