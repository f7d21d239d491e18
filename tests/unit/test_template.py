"""template.yaml and the code agree on the settings: every variable each function is given (the
Globals' and its own) is one ``Settings`` reads, and every setting can be given from the template;
and the work queue is the FIFO queue the router and worker are written for."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from sidecar_enforcer.config import ENV_VARS

from ._factories import ROOT


def template() -> dict[str, Any]:
    from .test_permissions import _CloudFormation

    text = (ROOT / "template.yaml").read_text(encoding="utf-8")
    loaded: dict[str, Any] = yaml.load(text, Loader=_CloudFormation)  # noqa: S506 - a SafeLoader
    return loaded


def function_variables(resource: str) -> set[str]:
    loaded = template()
    variables = dict(loaded["Globals"]["Function"]["Environment"]["Variables"])
    own = loaded["Resources"][resource]["Properties"].get("Environment", {}).get("Variables", {})
    variables.update(own)
    return {name for name in variables if not name.startswith("POWERTOOLS_")}


@pytest.mark.parametrize("resource", ["RouterFunction", "WorkerFunction"])
def test_each_function_gets_exactly_the_settings_the_code_reads(resource: str) -> None:
    assert function_variables(resource) == set(ENV_VARS)


def test_the_work_queue_is_fifo_with_a_fifo_dead_letter_queue_and_room_for_the_worker() -> None:
    resources = template()["Resources"]
    queue = resources["WorkQueue"]["Properties"]
    dead = resources["WorkDeadLetterQueue"]["Properties"]
    worker = resources["WorkerFunction"]["Properties"]
    source = worker["Events"]["WorkItems"]["Properties"]

    assert queue["FifoQueue"] is True
    assert dead["FifoQueue"] is True  # a FIFO queue's dead-letter queue must be FIFO
    assert queue["ContentBasedDeduplication"] is False  # the router sets each item's dedup id
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == "WorkDeadLetterQueue.Arn"
    assert queue["VisibilityTimeout"] >= 6 * worker["Timeout"]  # Lambda's guidance for SQS sources
    assert source["BatchSize"] <= 10  # the most a FIFO event source takes
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "ReservedConcurrentExecutions" not in worker


def test_each_policy_switch_is_a_template_parameter_with_the_code_s_default() -> None:
    from sidecar_enforcer.domain.policy import Policy

    text = (ROOT / "template.yaml").read_text(encoding="utf-8")
    defaults = Policy()
    for parameter, field in {
        "GrowTaskSize": "grow_task_size",
        "UpgradeDrifted": "upgrade_drifted",
        "AcceptEquivalents": "accept_equivalents",
        "RenameOnConflict": "rename_on_conflict",
    }.items():
        section = text[text.index(f"  {parameter}:\n") :]
        default = re.search(r'Default: "(true|false)"', section)
        assert default is not None, parameter
        assert default.group(1) == str(getattr(defaults, field)).lower(), parameter


def test_the_profile_member_allowance_is_a_template_parameter_allowing_none_by_default() -> None:
    text = (ROOT / "template.yaml").read_text(encoding="utf-8")
    section = text[text.index("  AllowedProfileMembers:\n") :]
    section = section[: section.index("\n  ProfilesSsmPath:")]

    assert "Type: String" in section
    assert 'Default: "{}"' in section
    assert "ALLOWED_PROFILE_MEMBERS: !Ref AllowedProfileMembers" in text
