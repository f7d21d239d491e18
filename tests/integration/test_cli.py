"""The ``sidecar-enforcer`` console script, run as a user runs it: a subprocess talking HTTP to moto's
server on 127.0.0.1 through the standard ``AWS_ENDPOINT_URL``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from sidecar_enforcer.profiles import builtin_profiles
from sidecar_enforcer_dev import fleet

from ..conftest import CORPUS, ROOT

pytestmark = pytest.mark.server
SCRIPT = Path(sys.executable).with_name("sidecar-enforcer")


@pytest.fixture
def env(endpoint: str) -> dict[str, str]:
    """A clean account on the server for each test, and the environment a user would export."""
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))  # noqa: S310
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STATUS_", "ENFORCEMENT_"))}
    return keep | {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own console script
        [str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=120, check=False, cwd=ROOT
    )


def clients(env: dict[str, str]) -> dict[str, Any]:
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    return {
        s: session.client(s, endpoint_url=env["AWS_ENDPOINT_URL"])
        for s in ("ecs", "ec2", "sns", "sts", "dynamodb")
    }


def seed(env: dict[str, str]) -> dict[str, Any]:
    aws = clients(env)
    account = aws["sts"].get_caller_identity()["Account"]
    fleet.seed(aws["ecs"], aws["ec2"], account, builtin_profiles()["jaeger"].container)
    return aws


def task_definition_of(aws: dict[str, Any], name: str) -> str:
    svc = aws["ecs"].describe_services(cluster=fleet.CLUSTER, services=[name])["services"][0]
    return str(svc["taskDefinition"])


# -- plan (offline) -------------------------------------------------------------------------------


def test_plan_prints_the_decision_and_the_request(tmp_path: Path) -> None:
    file = tmp_path / "td.json"
    file.write_text(
        json.dumps(
            {
                "taskDefinition": {
                    "family": "web",
                    "revision": 4,
                    "status": "ACTIVE",
                    "networkMode": "awsvpc",
                    "containerDefinitions": [{"name": "web", "image": "nginx:1.27", "memory": 256}],
                },
                "tags": [{"key": "team", "value": "web"}],
            }
        )
    )

    result = run("plan", str(file))

    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["decision"] == "MISSING"
    assert out["profile"].startswith("jaeger@")
    request = out["registerTaskDefinitionInput"]
    assert "revision" not in request
    assert "status" not in request
    assert [c["name"] for c in request["containerDefinitions"]] == ["web", "jaeger"]
    assert {"key": "team", "value": "web"} in request["tags"]


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"shared corpus not found at {CORPUS} (present in CI only)")
def test_plan_refuses_a_windows_task_definition_with_exit_0() -> None:
    result = run("plan", str(CORPUS / "taskdefs" / "fargate-windows-2019-core.json"), "--profile", "jaeger")

    assert result.returncode == 0
    out = json.loads(result.stdout)
    assert out["decision"] == "REFUSED"
    assert out["registerTaskDefinitionInput"] is None
    assert "Windows" in out["reasons"][0]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "not JSON"),
        ('["a list"]', "not a task definition"),
        ('{"family": "x"}', "containerDefinitions"),
    ],
)
def test_plan_rejects_unreadable_input_with_one_line_and_exit_2(
    tmp_path: Path, content: str, expected: str
) -> None:
    file = tmp_path / "bad.json"
    file.write_text(content)

    result = run("plan", str(file))

    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert expected in result.stderr


def test_plan_of_a_missing_file_and_an_unknown_profile_exit_2(tmp_path: Path) -> None:
    assert run("plan", str(tmp_path / "nope.json")).returncode == 2
    file = tmp_path / "td.json"
    file.write_text(json.dumps({"family": "x", "containerDefinitions": [{"name": "a", "image": "a:1"}]}))
    unknown = run("plan", str(file), "--profile", "zipkin")
    assert unknown.returncode == 2
    assert "zipkin" in unknown.stderr


def test_profiles_lists_every_profile_with_its_version_image_and_origin() -> None:
    result = run("profiles")

    assert result.returncode == 0
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:]}
    assert set(rows) == set(builtin_profiles())
    for name, profile in builtin_profiles().items():
        assert rows[name][1:4] == [profile.version, ",".join(profile.architectures), profile.image]
        assert rows[name][-1] == f"{name}.json"


def test_profiles_lists_a_custom_folder_s_profile_and_reports_a_broken_one(tmp_path: Path) -> None:
    custom = builtin_profiles()["jaeger"].model_dump(mode="json", by_alias=True)
    custom |= {"name": "jaeger-team", "version": "7"}
    (tmp_path / "jaeger-team.json").write_text(json.dumps(custom))
    (tmp_path / "broken.json").write_text('{"name": "broken"}')

    result = run("profiles", env=os.environ | {"PROFILES_DIR": str(tmp_path)})

    assert result.returncode == 2
    assert any(line.startswith("jaeger-team ") and " 7 " in line for line in result.stdout.splitlines())
    assert "invalid broken: profile" in result.stderr
    assert "version" in result.stderr


def test_profiles_flags_a_profile_that_needs_an_allowance_and_says_which(tmp_path: Path) -> None:
    agent = builtin_profiles()["jaeger"].model_dump(mode="json", by_alias=True)
    agent["name"] = "node-agent"
    agent["container"] |= {"privileged": True, "user": "0"}
    (tmp_path / "node-agent.json").write_text(json.dumps(agent))
    allowed = json.dumps({"node-agent": ["container.user"], "fluent-bit": ["container.user"]})

    result = run(
        "profiles", env=os.environ | {"PROFILES_DIR": str(tmp_path), "ALLOWED_PROFILE_MEMBERS": allowed}
    )

    assert result.returncode == 0, result.stderr
    header, *lines = result.stdout.splitlines()
    assert "ALLOWANCE" in header
    rows = {line.split()[0]: line for line in lines}
    assert "container.privileged (not allowed)" in rows["node-agent"]
    assert "container.user (allowed)" in rows["node-agent"]
    assert "container.user (allowed)" in rows["fluent-bit"]
    assert "container." not in rows["jaeger"]
    # and one line says what the policy lacks, and that its services are refused until then
    (flag,) = [line for line in result.stderr.splitlines() if "node-agent" in line]
    assert "container.privileged" in flag
    assert "REFUSED" in flag
    assert json.dumps({"node-agent": ["container.privileged", "container.user"]}) in flag


# -- against moto's server over HTTP ----------------------------------------------------------------


def test_local_env_creates_the_topic_the_state_table_and_the_work_queue_and_prints_exports(
    env: dict[str, str],
) -> None:
    result = run("local-env", env=env)
    again = run("local-env", env=env)  # runs twice: the table exists already

    assert result.returncode == again.returncode == 0, result.stderr + again.stderr
    exports = dict(line.removeprefix("export ").split("=", 1) for line in result.stdout.splitlines())
    assert set(exports) == {
        "STATUS_TOPIC_ARN",
        "STATE_TABLE_NAME",
        "WORK_QUEUE_URL",
        "OPT_IN_TAG_KEY",
        "DEFAULT_PROFILE",
        "ENFORCEMENT_MODE",
    }
    topics = [t["TopicArn"] for t in clients(env)["sns"].list_topics()["Topics"]]
    assert exports["STATUS_TOPIC_ARN"] in topics
    table = clients(env)["dynamodb"].describe_table(TableName=exports["STATE_TABLE_NAME"])["Table"]
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["pk", "sk"]
    sqs = boto3.client("sqs", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1")
    queue = sqs.get_queue_attributes(QueueUrl=exports["WORK_QUEUE_URL"], AttributeNames=["All"])["Attributes"]
    assert queue["FifoQueue"] == "true"
    dead = json.loads(queue["RedrivePolicy"])["deadLetterTargetArn"]
    assert dead.endswith(".fifo")


def test_invoke_runs_the_router_and_the_worker_against_the_endpoint(env: dict[str, str]) -> None:
    aws = seed(env)
    exports = run("local-env", env=env).stdout.splitlines()
    env |= dict(line.removeprefix("export ").split("=", 1) for line in exports)
    before = task_definition_of(aws, "nexus-ai-api-prod")

    result = run("invoke", "events/cloudtrail-updateservice.json", env=env)

    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    (finding,) = printed["findings"]
    assert finding["status"] == "REMEDIATED"
    assert (printed["queued"], printed["delivered"]) == (1, 1)
    after = task_definition_of(aws, "nexus-ai-api-prod")
    assert after == finding["newTaskDefinitionArn"] != before
    assert fleet.CANARY not in result.stdout + result.stderr


def test_invoke_of_an_event_whose_item_the_queue_drops_as_a_duplicate_says_so(env: dict[str, str]) -> None:
    """A duplicate EventBridge delivery while the first one's item is still queued or being worked on:
    SQS answers the router's send like any other (the router cannot tell) and delivers nothing."""
    from sidecar_enforcer.models.events import parse_trigger
    from sidecar_enforcer.models.work import items_of

    aws = seed(env)
    exports = run("local-env", env=env).stdout.splitlines()
    env |= dict(line.removeprefix("export ").split("=", 1) for line in exports)
    sample = "events/cloudtrail-updateservice.json"
    data = json.loads((ROOT / sample).read_text(encoding="utf-8"))
    (item,) = items_of(parse_trigger(data))
    sqs = boto3.client("sqs", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1")
    # the first delivery's item, taken by a worker that is still on it (invisible, its group held)
    sqs.send_message(
        QueueUrl=env["WORK_QUEUE_URL"],
        MessageBody=item.to_body(),
        MessageGroupId=item.group,
        MessageDeduplicationId=item.dedup_id,
    )
    assert sqs.receive_message(QueueUrl=env["WORK_QUEUE_URL"])["Messages"]
    before = task_definition_of(aws, "nexus-ai-api-prod")

    again = run("invoke", sample, env=env)

    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout)
    assert (result["queued"], result["delivered"], result["findings"]) == (1, 0, [])
    told = [line for line in again.stderr.splitlines() if line.startswith("sidecar-enforcer invoke:")]
    assert told == [
        f"sidecar-enforcer invoke: the router queued 1 item(s) for event {data['id']} and the queue "
        "delivered none: an item whose deduplication id the queue saw within the last 5 minutes (this "
        "event, queued before) is dropped; give the event a new id to run it again"
    ]
    assert task_definition_of(aws, "nexus-ai-api-prod") == before


def test_invoke_of_a_malformed_event_exits_2_with_one_line(env: dict[str, str]) -> None:
    result = run("invoke", "events/malformed-updateservice-without-service.json", env=env)

    assert result.returncode == 2
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("MalformedEventError")]
    assert errors == ["MalformedEventError: UpdateService requestParameters: service: Field required"]


def test_enforce_dry_run_reports_and_changes_nothing_then_enforce_remediates(env: dict[str, str]) -> None:
    aws = seed(env)
    before = task_definition_of(aws, "nexus-ai-api-prod")
    target = ["--cluster", fleet.CLUSTER, "--service", "nexus-ai-api-prod"]

    dry = run("enforce", *target, "--dry-run", env=env)

    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["status"] == "NONCOMPLIANT"
    assert task_definition_of(aws, "nexus-ai-api-prod") == before

    real = run("enforce", *target, env=env)

    assert real.returncode == 0, real.stderr
    assert json.loads(real.stdout)["status"] == "REMEDIATED"
    assert task_definition_of(aws, "nexus-ai-api-prod") != before


def test_enforce_account_acts_in_the_member_account_through_the_named_role(env: dict[str, str]) -> None:
    member = "222222222222"
    hub = seed(env)
    hub_before = task_definition_of(hub, "nexus-ai-api-prod")
    setup = hub["sts"].assume_role(RoleArn=f"arn:aws:iam::{member}:role/setup", RoleSessionName="setup")
    keys = setup["Credentials"]
    session = boto3.session.Session(
        aws_access_key_id=keys["AccessKeyId"],
        aws_secret_access_key=keys["SecretAccessKey"],
        aws_session_token=keys["SessionToken"],
        region_name="us-east-1",
    )
    ecs = session.client("ecs", endpoint_url=env["AWS_ENDPOINT_URL"])
    fleet.seed(
        ecs,
        session.client("ec2", endpoint_url=env["AWS_ENDPOINT_URL"]),
        member,
        builtin_profiles()["jaeger"].container,
    )
    target = ["--cluster", fleet.CLUSTER, "--service", "nexus-ai-api-prod"]

    done = run("enforce", *target, "--account", member, "--role-name", "platform/tracing-enforcer", env=env)

    assert done.returncode == 0, done.stderr
    finding = json.loads(done.stdout)
    assert (finding["status"], finding["account"]) == ("REMEDIATED", member)
    now = ecs.describe_services(cluster=fleet.CLUSTER, services=["nexus-ai-api-prod"])["services"][0]
    assert now["taskDefinition"] == finding["newTaskDefinitionArn"]
    assert f":{member}:task-definition/" in now["taskDefinition"]
    assert task_definition_of(hub, "nexus-ai-api-prod") == hub_before  # the hub's is untouched


def test_enforce_account_that_is_no_account_id_exits_2_with_one_line(env: dict[str, str]) -> None:
    done = run("enforce", "--cluster", "c", "--service", "s", "--account", "12345", env=env)

    assert done.returncode == 2
    assert done.stderr == "sidecar-enforcer enforce: --account '12345': an account id is 12 digits\n"


# -- an endpoint that does not answer, credentials that are missing ---------------------------------


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 that refuses connections: bound (so nothing else takes it), not listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def user_env(**values: str) -> dict[str, str]:
    """The user's environment without any AWS or enforcer setting, plus ``values``."""
    drop = ("AWS_", "STATUS_", "ENFORCEMENT_", "STATE_TABLE_", "PROFILES_")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)} | values


UNREACHABLE = {
    "enforce": ["enforce", "--cluster", "c", "--service", "s", "--region", "us-east-1"],
    "invoke": ["invoke", "events/cloudtrail-updateservice.json"],
    "local-env": ["local-env"],
    "profiles": ["profiles"],
    "backfill": ["backfill", "--regions", "us-east-1", "--no-plans"],
}


@pytest.mark.parametrize("command", list(UNREACHABLE))
def test_an_unreachable_endpoint_fails_within_seconds_with_one_line_and_a_hint(
    closed_port: int, command: str
) -> None:
    endpoint = f"http://127.0.0.1:{closed_port}"
    env = user_env(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        PROFILES_SSM_PATH="/sidecar-enforcer/profiles",  # profiles reads SSM; the others ignore it
    )

    started = time.monotonic()
    result = run(*UNREACHABLE[command], env=env)
    seconds = time.monotonic() - started

    print(f"{command} against a closed port: exit {result.returncode} after {seconds:.1f} s")
    assert result.returncode == 1
    assert seconds < 20  # a generous bound: the Lambda's retries took 30 s and more
    # invoke shows the functions' own log lines (one JSON object each: the router logs the FAILED
    # it publishes, as Lambda would); the command's error is one line beside them.
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith('{"level":')]
    assert len(lines) == 1, result.stderr
    assert f"cannot reach {endpoint} (check AWS_ENDPOINT_URL, the region, or the network)" in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["enforce", "backfill"])
def test_missing_credentials_fail_with_one_line_that_says_where_to_set_them(
    endpoint: str, tmp_path: Path, command: str
) -> None:
    env = user_env(
        AWS_ENDPOINT_URL=endpoint,
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_EC2_METADATA_DISABLED="true",
    )

    args = {
        "enforce": ["enforce", "--cluster", "c", "--service", "s", "--region", "us-east-1"],
        "backfill": ["backfill", "--regions", "us-east-1", "--no-plans"],
    }[command]
    result = run(*args, env=env)

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"sidecar-enforcer {command}: GetCallerIdentity: no AWS credentials found"
        " (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
    ]


def test_enforce_s_region_serves_the_calls_that_name_none_when_the_environment_sets_none(
    env: dict[str, str],
) -> None:
    seed(env)
    env = {k: v for k, v in env.items() if k not in ("AWS_DEFAULT_REGION", "AWS_REGION")}
    target = ["--cluster", fleet.CLUSTER, "--service", "nexus-ai-api-prod", "--region", "us-east-1"]

    result = run("enforce", *target, "--dry-run", env=env)

    assert result.returncode == 0, result.stderr  # STS too, not only ECS, in us-east-1
    assert json.loads(result.stdout)["status"] == "NONCOMPLIANT"


def test_demo_moves_the_tagged_service_and_passes_its_own_checks() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}

    result = run("demo", env=env)

    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "nexus-ai-api:1 512/1024 [api]" in result.stdout
    assert "nexus-ai-api:2 512/1024 [api, jaeger]" in result.stdout
    assert "checkout-web:2 512/1024 [web, jaeger]" in result.stdout
    assert "task size 256 CPU units / 512 MiB -> 512 CPU units / 1024 MiB" in result.stdout
    assert "upgrade container 'jaeger'" in result.stdout
    assert "DEPLOYMENT_FAILED: the deployment failed: ECS deployment circuit breaker" in result.stdout
    assert "RELEASED: released by" in result.stdout
    assert "FLAPPING: the sidecar was taken away 2 times" in result.stdout
    assert '        # and to the object of app container "api", add (append to its lists):' in result.stdout
    assert "REMEDIATED: new revision arn:aws:ecs:eu-west-1:222222222222:task-definition/nexus-ai-api:2" in (
        result.stdout
    )
    assert "[FAILED]" not in result.stdout
    assert result.stdout.count("[ok]") == 17
    # the rollout's act: an OU switched from audit to enforce, the stop switch thrown mid-run
    assert (
        "NONCOMPLIANT (audit): rollout: the rollout policy sets its organisational unit ou-" in result.stdout
    )
    assert "NONCOMPLIANT (audit): stopped: the stop switch is on" in result.stdout
    assert "the tick holds wave 2: deploying now nothing" in result.stdout


def test_backfill_audits_a_fleet_over_http_exactly_as_the_readme_says(
    env: dict[str, str], tmp_path: Path
) -> None:
    seed(env)
    names = ["nexus-ai-api-prod", "checkout-web", "catalog-search", "search-gateway"]
    before = {name: task_definition_of(clients(env), name) for name in names}
    env = env | {"XDG_CACHE_HOME": str(tmp_path / "cache")}

    done = run(
        "backfill", "--mode", "audit", "--regions", "us-east-1", "--report", str(tmp_path / "r.json"), env=env
    )

    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["services"] == 6
    assert report["totals"]["NONCOMPLIANT"] == 2
    # one read per distinct revision, but payments-legacy's deployment controller (CODE_DEPLOY)
    # answers before its revision is read
    assert report["calls"]["ecs:DescribeTaskDefinition"] == 4
    assert {name: task_definition_of(clients(env), name) for name in before} == before
    assert done.stdout.startswith(f"backfill {report['runId']} (audit): 6 services")
    assert "\r" not in done.stderr  # not a terminal: plain progress lines
