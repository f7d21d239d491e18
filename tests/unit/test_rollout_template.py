"""The rollout in template.yaml: the switches' parameters reach the functions, the reconciliation's
schedule is a parameter (daily by default, off when empty), and each SSM grant is on exactly the
parameters the stack is given."""

from __future__ import annotations

from typing import Any

from ._template import load, statements


def template() -> dict[str, Any]:
    return load("template.yaml")


def test_the_switches_and_the_reconciliation_s_scope_reach_every_function() -> None:
    variables = template()["Globals"]["Function"]["Environment"]["Variables"]

    assert variables["ROLLOUT_PARAMETER"] == "RolloutParameterName"
    assert variables["STOP_SWITCH_PARAMETER"] == "StopSwitchParameterName"
    assert variables["RECONCILE_ACCOUNTS"] == "ReconcileAccounts"
    assert variables["RECONCILE_REGIONS"] == "ReconcileRegions"


def test_the_reconciliation_runs_daily_by_default_and_not_at_all_when_its_schedule_is_empty() -> None:
    loaded = template()
    reconcile = loaded["Resources"]["BackfillFunction"]["Properties"]["Events"]["Reconcile"]

    assert loaded["Parameters"]["ReconcileSchedule"]["Default"] == "rate(1 day)"
    assert reconcile["Type"] == "Schedule"
    assert reconcile["Properties"]["Schedule"] == ["HasReconcile", "ReconcileSchedule", "rate(1 day)"]
    assert reconcile["Properties"]["State"] == ["HasReconcile", "ENABLED", "DISABLED"]
    assert loaded["Conditions"]["HasReconcile"] == [["ReconcileSchedule", ""]]  # !Not [!Equals [..., ""]]


def test_the_stop_switch_is_configured_by_default() -> None:
    assert template()["Parameters"]["StopSwitchParameterName"]["Default"] == "/sidecar-enforcer/stop"


def test_the_router_and_the_worker_read_exactly_the_two_switches() -> None:
    for function in ("RouterFunction", "WorkerFunction"):
        found = statements(template()["Resources"][function]["Properties"]["Policies"])["ReadSwitches"]

        assert found["Action"] == "ssm:GetParameters"
        resources = [r[1] for r in found["Resource"]]  # each an !If: [condition, arn, NoValue]
        assert [r.rsplit("}", 1)[0].rsplit("${", 1)[-1] for r in resources] == [
            "RolloutParameterName",
            "StopSwitchParameterName",
        ]


def test_the_router_and_the_worker_read_the_organisation_s_tree_only_with_a_rollout_policy() -> None:
    for function in ("RouterFunction", "WorkerFunction"):
        policies = template()["Resources"][function]["Properties"]["Policies"]
        tree = statements(policies)["ReadOrganizationTree"]

        assert set(tree["Action"]) == {
            "organizations:ListParents",
            "organizations:ListRoots",
            "organizations:DescribeOrganizationalUnit",
            "organizations:DescribeAccount",
        }
        conditional = [
            s
            for s in policies[0]["Statement"]
            if isinstance(s, list) and s[1].get("Sid") == "ReadOrganizationTree"
        ]
        assert [c[0] for c in conditional] == ["HasRolloutPolicy"]
    backfill = statements(template()["Resources"]["BackfillFunction"]["Properties"]["Policies"])
    assert "ReadOrganizationTree" not in backfill
