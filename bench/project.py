"""Everything the bench takes from the project, in one place.

The bench drives public entry points only, so that the same code measures the engine before and
after it is restructured: the Lambda functions and the local pipeline between them as
``sidecar-enforcer invoke`` runs them, the sample events in ``events/``, the demo fleet's seeding,
and the ``sidecar-enforcer local-env`` set-up (status topic, state table, work queue). When a
module moves, this is the only file to update: no other bench module imports ``sidecar_enforcer``
or knows the repository's layout.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path
from typing import Any

import boto3
from sidecar_enforcer.config import Settings
from sidecar_enforcer.profiles import builtin_profiles
from sidecar_enforcer_dev import cli, fleet, local
from sidecar_enforcer_dev.backfill import cores as backfill_cores

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"


FUNCTIONS = ROOT / "functions"

# The sample events the bench sends (``events/``), changed where it says so.
UPDATE_SERVICE = "cloudtrail-updateservice.json"
TAG_RESOURCE = "cloudtrail-tagresource-service.json"
DEPLOYMENT_IN_PROGRESS = "ecs-deployment-in-progress.json"
# The event that warms the container, about a service no measured event names.
PRIME = "cloudtrail-updateservice-codedeploy.json"
PRIME_ABOUT = "UpdateService of payments-legacy, a CODE_DEPLOY service"

# The demo fleet's services the events name (see ``sidecar_enforcer.fleet``).
COMPLIANT_SERVICE = "search-gateway"  # tagged, already runs the Jaeger sidecar as the profile says
UNTAGGED_SERVICE = "billing-worker"  # no opt-in tag (nor on its cluster)
MISSING_SERVICE = "nexus-ai-api-prod"  # tagged jaeger, runs a revision without the sidecar

# What ``cli.load_handler`` sets for a terminal (no X-Ray daemon, no metrics on stdout): the
# import-time bench gives each of its subprocesses the same.
POWERTOOLS_ENV = {
    "POWERTOOLS_SERVICE_NAME": "sidecar-enforcer",
    "POWERTOOLS_METRICS_NAMESPACE": "SidecarEnforcer",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}


def cores() -> int:
    """The cores this process and the tools it runs may use (as the command line counts them)."""
    return backfill_cores()


def handler_files() -> list[Path]:
    """Every Lambda function's handler module, ``functions/<name>/app.py``."""
    return sorted(FUNCTIONS.glob("*/app.py"))


def pipeline(queue_endpoint: str) -> local.Pipeline:
    """The router and the worker (functions/<name>/app.py), imported as ``sidecar-enforcer invoke``
    does (fresh modules: new execution environments with cold caches), with the local pipeline
    between them. Its own queue calls (ReceiveMessage, DeleteMessage, ChangeMessageVisibility: the
    Lambda service's, not the functions') go straight to ``queue_endpoint``, not through the proxy."""
    sqs = boto3.session.Session().client("sqs", endpoint_url=queue_endpoint)
    return local.Pipeline(local.load_function("router"), local.load_function("worker"), sqs)


def lambda_context() -> Any:
    """A Lambda context with a fresh request id."""
    return local.lambda_context()


def local_env() -> dict[str, str]:
    """``sidecar-enforcer local-env`` against AWS_ENDPOINT_URL: the status topic, the state table and
    the work queue; returns the variables it exports (STATUS_TOPIC_ARN, WORK_QUEUE_URL, ...)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(["local-env"])
    if code != 0:
        raise RuntimeError(f"sidecar-enforcer local-env exited {code}")
    exports: dict[str, str] = {}
    for line in out.getvalue().splitlines():
        name, sep, value = line.removeprefix("export ").partition("=")
        if line.startswith("export ") and sep:
            exports[name.strip()] = value.strip().strip("'\"")
    return exports


def seed_fleet(ecs: Any, ec2: Any, account: str) -> tuple[str, list[str]]:
    """The demo fleet (``sidecar_enforcer.fleet``): its cluster's name and its services' names."""
    seeded = fleet.seed(ecs, ec2, account, builtin_profiles()["jaeger"].container)
    return seeded.cluster, sorted(seeded.services)


def event(name: str) -> dict[str, Any]:
    """A sample event from ``events/``, a fresh copy."""
    data: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return data


# -- the backfill bench -------------------------------------------------------------------------------


def opt_in_tag_key() -> str:
    """The tag that opts a service or a cluster in (Settings' default, as the CLI runs without one)."""
    return Settings().opt_in_tag_key


def default_profile_container() -> dict[str, Any]:
    """The container the default profile adds (Jaeger's): what a compliant revision runs."""
    name = Settings().default_profile
    return dict(builtin_profiles()[name].container)


def cli_script() -> Path:
    """The ``sidecar-enforcer`` console script of the venv running the bench."""
    return Path(sys.executable).parent / "sidecar-enforcer"
