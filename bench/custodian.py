"""Cloud Custodian (``c7n``, its own venv: ``.venv-c7n``, requirements-c7n.txt) with the policy
equivalent to the enforcer's audit, and what it found.

The policy (``aws.ecs-service``):

- the opt-in tag: ``tag:<key>: present`` on the service, or the service's ``clusterArn`` among the
  clusters that carry the tag. c7n's ``ecs-service`` resource holds the service's own tags only and
  has no filter that follows its cluster's tags, so the tagged clusters are listed by ARN, as a user
  would have to keep them by hand (the bench writes the list from the fleet it seeded). With that the
  comparison is fair: both tools look for the same services. c7n reads no tag value either, so the
  fleet uses no opt-out value;
- the sidecar: not (``task-definition`` ``containerDefinitions[].name`` contains the sidecar's name).
  Filters run in order: c7n describes the revisions of the opted-in services only.

c7n's clients are boto3's, created from a boto3 session (c7n.credentials.SessionFactory): botocore
reads ``AWS_ENDPOINT_URL`` itself (the "service-specific endpoints" configuration of the AWS SDKs,
botocore >= 1.31), so c7n reaches the bench's proxy with no option of its own; the bench checks it
by the proxy's counts (a c7n run the proxy did not see is an error). ``--cache-period 0``: no cached
resources from an earlier run.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .timed import Timed

POLICY_NAME = "ecs-service-missing-tracing-sidecar"
TIMEOUT = 900  # seconds: a c7n run on the large fleet takes about a minute


def policy(tag_key: str, tagged_cluster_arns: Iterable[str], sidecar_name: str) -> dict[str, Any]:
    opted_in: list[dict[str, Any]] = [{f"tag:{tag_key}": "present"}]
    clusters = sorted(tagged_cluster_arns)
    if clusters:
        opted_in.append({"type": "value", "key": "clusterArn", "op": "in", "value": clusters})
    return {
        "policies": [
            {
                "name": POLICY_NAME,
                "resource": "aws.ecs-service",
                "filters": [
                    {"or": opted_in},
                    {
                        "not": [
                            {
                                "type": "task-definition",
                                "key": "containerDefinitions[].name",
                                "op": "contains",
                                "value": sidecar_name,
                            }
                        ]
                    },
                ],
            }
        ]
    }


@dataclass(frozen=True)
class Result:
    seconds: float
    exit_code: int
    found: set[tuple[str, str, str, str]] | None  # (account, region, cluster, service); None: no output
    log_tail: str
    cpu_seconds: float = 0.0  # c7n's process and its children's (c7n-org's workers), user + system
    stand_in_cpu_seconds: float = 0.0  # the stand-in AWS's meanwhile (bench.timed)


def found(resources: list[Mapping[str, Any]]) -> set[tuple[str, str, str, str]]:
    """(account, region, cluster name, service name) of c7n's resources.json entries (the account
    and Region from the service's ARN)."""
    out = set()
    for r in resources:
        cluster = str(r.get("clusterArn", "")).rsplit("/", 1)[-1]
        arn = str(r.get("serviceArn", "")).split(":")
        region, account = (arn[3], arn[4]) if len(arn) > 5 else ("", "")
        out.add((account, region, cluster, str(r["serviceName"])))
    return out


def _timed(
    command: list[str], workdir: Path, env: Mapping[str, str]
) -> tuple[subprocess.CompletedProcess[str], Timed]:
    """The command's run, and its times (:class:`bench.timed.Timed`)."""
    with Timed() as timed:
        done = subprocess.run(  # noqa: S603 - c7n from the bench's own venv, fixed arguments
            command, cwd=workdir, env=dict(env), capture_output=True, text=True, check=False, timeout=TIMEOUT
        )
    return done, timed


def run(
    custodian: Path, workdir: Path, policy_data: dict[str, Any], env: Mapping[str, str], region: str
) -> Result:
    workdir.mkdir(parents=True, exist_ok=True)
    policy_file = workdir / "policy.json"
    policy_file.write_text(json.dumps(policy_data, indent=2), encoding="utf-8")
    output = workdir / "output"
    command = [
        str(custodian.absolute()),
        "run",
        "--cache-period",
        "0",
        "-s",
        str(output),
        "--region",
        region,
        str(policy_file),
    ]
    done, timed = _timed(command, workdir, env)
    resources_file = output / POLICY_NAME / "resources.json"
    resources = json.loads(resources_file.read_text(encoding="utf-8")) if resources_file.exists() else None
    tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-8:])
    found_ = None if resources is None else found(resources)
    return Result(timed.seconds, done.returncode, found_, tail, timed.cpu, timed.stand_in_cpu)


def run_org(
    c7n_org: Path,
    workdir: Path,
    policy_data: dict[str, Any],
    env: Mapping[str, str],
    accounts: list[tuple[str, list[str]]],
    roles: Mapping[str, str],
) -> Result:
    """``c7n-org run``: the policy in each account (its role assumed) and Region, the accounts and
    Regions in parallel (c7n-org's worker processes); what all of them found."""
    workdir.mkdir(parents=True, exist_ok=True)
    policy_file = workdir / "policy.yml"  # JSON is YAML
    policy_file.write_text(json.dumps(policy_data, indent=2), encoding="utf-8")
    config = {
        "accounts": [
            {"account_id": a, "name": f"member-{a}", "regions": regions, "role": roles[a]}
            for a, regions in accounts
        ]
    }
    config_file = workdir / "accounts.yml"
    config_file.write_text(json.dumps(config, indent=2), encoding="utf-8")
    output = workdir / "output"
    command = [
        str(c7n_org.absolute()),
        "run",
        "-c",
        str(config_file),
        "-u",
        str(policy_file),
        "-s",
        str(output),
        "--cache-period",
        "0",
    ]
    done, timed = _timed(command, workdir, env)
    files = sorted(output.glob(f"*/*/{POLICY_NAME}/resources.json"))
    expected = sum(len(regions) for _, regions in accounts)
    resources = [r for f in files for r in json.loads(f.read_text(encoding="utf-8"))]
    tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-8:])
    complete = len(files) == expected
    if not complete:
        tail = f"{len(files)} of {expected} account-Regions wrote resources.json\n{tail}"
    found_ = found(resources) if complete else None
    return Result(timed.seconds, done.returncode, found_, tail, timed.cpu, timed.stand_in_cpu)
