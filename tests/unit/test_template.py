"""template.yaml and the code agree on the settings: every variable each function is given (the
Globals' and its own) is one ``Settings`` reads, and every setting can be given from the template;
the work queue is the FIFO queue the router and worker are written for; the alarms and the dashboard
watch the metrics the code emits; the state table outlives the stack; and the KMS key, when given,
is used wherever the resource supports one."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sidecar_enforcer.config import ENV_VARS

from ._factories import ROOT
from ._template import load


def template() -> dict[str, Any]:
    return load("template.yaml")


def function_variables(resource: str) -> set[str]:
    loaded = template()
    variables = dict(loaded["Globals"]["Function"]["Environment"]["Variables"])
    own = loaded["Resources"][resource]["Properties"].get("Environment", {}).get("Variables", {})
    variables.update(own)
    return {name for name in variables if not name.startswith("POWERTOOLS_")}


@pytest.mark.parametrize("resource", ["RouterFunction", "WorkerFunction"])
def test_each_function_gets_exactly_the_settings_the_code_reads(resource: str) -> None:
    given = function_variables(resource)

    assert given == set(ENV_VARS)


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
    assert source["BatchSize"] <= 10  # the most a FIFO event source takes
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_the_visibility_timeout_is_six_times_each_worker_timeout_the_parameter_allows() -> None:
    loaded = template()
    worker = loaded["Resources"]["WorkerFunction"]["Properties"]
    queue = loaded["Resources"]["WorkQueue"]["Properties"]
    timeouts = loaded["Mappings"]["WorkerTimeouts"]

    assert worker["Timeout"] == "WorkerTimeout"
    assert queue["VisibilityTimeout"] == ["WorkerTimeouts", "WorkerTimeout", "VisibilityTimeout"]
    allowed = loaded["Parameters"]["WorkerTimeout"]["AllowedValues"]
    assert {str(v) for v in allowed} == set(timeouts)
    for seconds, row in timeouts.items():
        assert row["VisibilityTimeout"] == 6 * int(seconds)  # Lambda's guidance for SQS sources
        assert int(seconds) <= 900  # Lambda's maximum timeout
        assert row["VisibilityTimeout"] <= 43200  # SQS's maximum visibility timeout


def test_reserved_concurrency_is_none_by_default_and_never_below_the_event_source_s_maximum() -> None:
    loaded = template()
    worker = loaded["Resources"]["WorkerFunction"]["Properties"]
    maximum = worker["Events"]["WorkItems"]["Properties"]["ScalingConfig"]["MaximumConcurrency"]
    rule = loaded["Rules"]["ReservedConcurrencyHoldsTheEventSource"]["Assertions"][0]["Assert"]

    assert loaded["Parameters"]["WorkerReservedConcurrency"]["Default"] == 0
    assert worker["ReservedConcurrentExecutions"] == [
        "HasWorkerReservedConcurrency",
        "WorkerReservedConcurrency",
        "AWS::NoValue",
    ]
    # !Not [!Contains [[...], !Ref WorkerReservedConcurrency]] (the loader keeps no tag names)
    assert rule == [[[str(n) for n in range(1, maximum)], "WorkerReservedConcurrency"]]


def test_each_policy_switch_is_a_template_parameter_with_the_code_s_default() -> None:
    from sidecar_enforcer.domain.planning.policy import Policy

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


def test_the_runs_wait_for_an_item_as_many_receives_as_the_work_queue_gives_it() -> None:
    from sidecar_enforcer.usecases.run_waves import WORK_QUEUE_RECEIVES

    redrive = template()["Resources"]["WorkQueue"]["Properties"]["RedrivePolicy"]
    assert redrive["maxReceiveCount"] == WORK_QUEUE_RECEIVES


def test_the_state_table_survives_stack_deletion_and_replacement() -> None:
    table = template()["Resources"]["StateTable"]

    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"


def metric_name(status: str) -> str:
    """The metric the functions emit for a status (domain.status.metric_name)."""
    from sidecar_enforcer.domain.status import Status
    from sidecar_enforcer.domain.status import metric_name as emitted

    return emitted(Status(status))


def emf_dimensions() -> tuple[str, str]:
    variables = template()["Globals"]["Function"]["Environment"]["Variables"]
    return variables["POWERTOOLS_METRICS_NAMESPACE"], variables["POWERTOOLS_SERVICE_NAME"]


def test_the_code_names_its_status_metrics_as_the_alarms_expect() -> None:
    assert metric_name("DEPLOYMENT_FAILED") == "DeploymentFailed"
    assert metric_name("NOT_OPTED_IN") == "NotOptedIn"
    for app in ("worker", "router"):
        source = (ROOT / "functions" / app / "app.py").read_text(encoding="utf-8")
        assert "metric_name(finding.status)" in source, app


def alarms() -> dict[str, dict[str, Any]]:
    return {
        name: resource["Properties"]
        for name, resource in template()["Resources"].items()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    }


def test_the_alarms_watch_the_dead_letter_queues_the_functions_and_the_statuses_that_need_a_person() -> None:
    from sidecar_enforcer.domain.status import Status

    namespace, service = emf_dimensions()
    watched = set()
    for properties in alarms().values():
        dimensions = {d["Name"]: d["Value"] for d in properties["Dimensions"]}
        watched.add((properties["Namespace"], properties["MetricName"], *sorted(dimensions.values())))
        assert properties["AlarmActions"] == ["AlarmTopic"]
        assert properties["ComparisonOperator"] == "GreaterThanThreshold"
        assert properties["Threshold"] == 0
        assert properties["TreatMissingData"] == "notBreaching"

    for queue in ("DeadLetterQueue", "WorkDeadLetterQueue"):
        assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible", f"{queue}.QueueName") in watched
    for function in ("RouterFunction", "WorkerFunction"):
        for metric in ("Errors", "Throttles"):
            assert ("AWS/Lambda", metric, function) in watched
    for status in (Status.FAILED, Status.FLAPPING, Status.DEPLOYMENT_FAILED):
        assert (namespace, metric_name(status.value), service) in watched


def test_the_dashboard_shows_only_metrics_the_code_emits() -> None:
    import json

    from sidecar_enforcer.domain.status import Status

    namespace, service = emf_dimensions()
    body, _ = template()["Resources"]["Dashboard"]["Properties"]["DashboardBody"]
    widgets = json.loads(body)["widgets"]
    emitted = {metric_name(s.value) for s in Status}
    shown = [m for w in widgets for m in w["properties"]["metrics"] if m[0] == namespace]

    assert {m[1] for m in shown} >= {"Remediated", "Refused", "Failed", "Quarantined"}
    for metric in shown:
        assert metric[1] in emitted
        assert metric[2:4] == ["service", service]


def test_the_dashboard_shows_remediations_refusals_failures_and_quarantines_per_account() -> None:
    import json
    import re

    from sidecar_enforcer.domain.status import PER_ACCOUNT, Status

    namespace, service = emf_dimensions()
    body, _ = template()["Resources"]["Dashboard"]["Properties"]["DashboardBody"]
    searched: dict[str, str] = {}
    for widget in json.loads(body)["widgets"]:
        for metric in widget["properties"]["metrics"]:
            if isinstance(metric[0], dict) and "expression" in metric[0]:
                searched[metric[0]["expression"]] = widget["properties"]["title"]
    per_account = set()
    for expression, title in searched.items():
        found = re.fullmatch(
            r"SEARCH\('\{(\w+),account,service\} service=\"([\w-]+)\" MetricName=\"(\w+)\"', 'Sum', 300\)",
            expression,
        )
        assert found, expression
        assert found.group(1, 2) == (namespace, service)
        assert "per account" in title
        per_account.add(found.group(3))

    # Each is emitted with an account dimension (functions/worker/app.py count), and only those.
    assert per_account == {metric_name(s.value) for s in PER_ACCOUNT}
    assert {Status.REMEDIATED, Status.REFUSED, Status.FAILED, Status.QUARANTINED} <= PER_ACCOUNT


def test_the_alarm_topic_is_not_encrypted_with_a_key_cloudwatch_cannot_use() -> None:
    topic = template()["Resources"]["AlarmTopic"]["Properties"]

    assert topic["KmsMasterKeyId"] == ["HasKmsKey", "KmsKeyArn", "AWS::NoValue"]  # never alias/aws/sns


def test_the_kms_key_when_given_encrypts_the_table_the_queues_the_topics_and_the_logs() -> None:
    resources = template()["Resources"]
    if_key = ["HasKmsKey", "KmsKeyArn", "AWS::NoValue"]

    for queue in ("DeadLetterQueue", "WorkQueue", "WorkDeadLetterQueue"):
        assert resources[queue]["Properties"]["KmsMasterKeyId"] == if_key, queue
    for group in ("RouterLogGroup", "WorkerLogGroup"):
        assert resources[group]["Properties"]["KmsKeyId"] == if_key, group
    assert resources["StatusTopic"]["Properties"]["KmsMasterKeyId"] == [
        "HasKmsKey",
        "KmsKeyArn",
        "alias/aws/sns",
    ]
    with_key, _ = resources["StateTable"]["Properties"]["SSESpecification"][1:]
    assert with_key == {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": "KmsKeyArn"}
    assert template()["Globals"]["Function"]["KmsKeyArn"] == if_key


def test_the_organisation_s_accounts_may_put_events_on_the_bus_and_nobody_else() -> None:
    policy = template()["Resources"]["OrganizationEventsPolicy"]

    assert policy["Condition"] == "HasOrganization"  # no OrganizationId: no statement, one account
    statement = policy["Properties"]["Statement"]
    assert statement["Action"] == "events:PutEvents"
    assert statement["Condition"]["StringEquals"] == {"aws:PrincipalOrgID": "OrganizationId"}
    # What it admits, read as EventBridge would: tests/unit/test_policies.py.


@pytest.mark.parametrize(("name", "index"), [("template.yaml", 0), ("member.yaml", 1)])
def test_the_readme_s_parameter_tables_list_exactly_each_template_s_parameters(name: str, index: int) -> None:
    from ._readme import README, tables
    from ._template import load

    parameter_tables = [t for t in tables(README) if t[0].startswith("| parameter |")]
    listed = {m.group(1) for row in parameter_tables[index][2:] if (m := re.match(r"\| `(\w+)` \|", row))}

    assert listed == set(load(name)["Parameters"])


def test_an_e_mail_address_can_subscribe_to_the_status_topic_and_only_when_given() -> None:
    loaded = template()
    subscription = loaded["Resources"]["StatusEmailSubscription"]

    assert subscription["Condition"] == "HasStatusEmail"
    assert subscription["Properties"]["Protocol"] == "email"
    # (the test's loader reads !Ref X as "X", and !Not [!Equals [...]] as its arguments)
    assert subscription["Properties"]["TopicArn"] == "StatusTopic"
    assert subscription["Properties"]["Endpoint"] == "StatusEmail"
    assert loaded["Parameters"]["StatusEmail"]["Default"] == ""
    assert loaded["Conditions"]["HasStatusEmail"] == [["StatusEmail", ""]]


def test_a_notification_refused_for_good_reaches_an_alarmed_queue_and_the_notifier_touches_only_its_own() -> (
    None
):
    """A refusal is sent by the notifier to the queue its environment names, which an alarm watches
    from the first message; its queue actions (a throttled record's return put off, a record put
    back for one sink) reach its own queues and nothing else."""
    resources = template()["Resources"]
    notifier = resources["NotifierFunction"]["Properties"]
    assert notifier["Environment"]["Variables"]["NOTIFIER_DEAD_LETTER_QUEUE_URL"] == "NotifierDeadLetterQueue"
    alarm = resources["NotifierDeadLetterQueueAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": "NotifierDeadLetterQueue.QueueName"}]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")

    statements = {
        s["Sid"]: s for s in notifier["Policies"][0]["Statement"] if isinstance(s, dict) and "Sid" in s
    }
    assert statements["DeadLetterMalformedRecords"]["Action"] == "sqs:SendMessage"
    assert statements["DeadLetterMalformedRecords"]["Resource"] == "NotifierDeadLetterQueue.Arn"
    settle = statements["SettleNotifierRecords"]
    assert sorted(settle["Action"]) == ["sqs:ChangeMessageVisibility", "sqs:GetQueueUrl", "sqs:SendMessage"]
    assert settle["Resource"] == [
        ["HasFirstRoute", "NotifierQueue.Arn", "AWS::NoValue"],
        ["HasSecondSlack", "NotifierSecondQueue.Arn", "AWS::NoValue"],
    ]


def rendered(**parameters: str) -> Any:
    from ._policy import Stack, load

    return Stack(load("template.yaml"), parameters)


def test_only_the_functions_that_assume_the_member_role_sit_on_the_trusted_path() -> None:
    from ._template import FUNCTIONS, assuming_functions

    resources = template()["Resources"]
    on_path = {name for name, r in resources.items() if r["Properties"].get("RolePath") == "HubRolePath"}

    assert on_path == set(assuming_functions().values())
    assert set(FUNCTIONS.values()) - on_path  # the router and the notifier are not trusted
    # No role the stack declares itself sits on the path either.
    roles = [r for r in resources.values() if r["Type"] == "AWS::IAM::Role"]
    assert not [r for r in roles if r["Properties"].get("Path") == "HubRolePath"]


def test_each_function_writes_to_a_log_group_the_stack_created_before_it() -> None:
    resources = template()["Resources"]
    functions = {n: r for n, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}
    groups = {n: r for n, r in resources.items() if r["Type"] == "AWS::Logs::LogGroup"}

    assert functions
    used = set()
    for name, function in functions.items():
        group = function["Properties"]["LoggingConfig"]["LogGroup"]  # !Ref: the function depends on it
        assert group in groups, name
        assert group not in used, f"{name} shares {group}"
        used.add(group)
        assert function.get("Condition") == groups[group].get("Condition"), name
        # The group's name must not name the function: the function would then be created first.
        assert name not in str(groups[group]["Properties"]["LogGroupName"]), group
    stack = rendered(SlackWebhookSecretArn="arn:aws:secretsmanager:us-east-1:111122223333:secret:s-AbCdEf")
    names = {stack.properties(g)["LogGroupName"] for g in groups}
    assert len(names) == len(groups)
    assert all(n.startswith("/aws/lambda/sidecar-enforcer-prod/") for n in names), names


SQS_DEFAULT_RETENTION = 345600  # 4 days, when MessageRetentionPeriod is not set (SQS developer guide)


def test_no_queue_drops_an_item_before_its_dead_letter_queue_would_keep_it() -> None:
    """An item must live long enough to be received maxReceiveCount times, and its dead-letter queue
    must keep it at least as long as its queue did: a standard queue's message keeps its first
    enqueue time in the dead-letter queue (SQS developer guide, dead-letter queues), and the work
    queue, FIFO, keeps its items exactly as long as its dead-letter queue."""
    loaded = template()
    resources = loaded["Resources"]
    longest_visibility = max(
        row["VisibilityTimeout"] for row in loaded["Mappings"]["WorkerTimeouts"].values()
    )
    checked = []
    for name, resource in resources.items():
        properties = resource["Properties"]
        redrive = properties.get("RedrivePolicy")
        if resource["Type"] != "AWS::SQS::Queue" or not redrive:
            continue
        dead = resources[redrive["deadLetterTargetArn"].removesuffix(".Arn")]["Properties"]
        retention = properties.get("MessageRetentionPeriod", SQS_DEFAULT_RETENTION)
        dead_retention = dead.get("MessageRetentionPeriod", SQS_DEFAULT_RETENTION)
        visibility = properties["VisibilityTimeout"]
        visibility = longest_visibility if isinstance(visibility, list) else visibility
        assert retention >= redrive["maxReceiveCount"] * visibility, name
        assert dead_retention >= retention, name
        if properties.get("FifoQueue"):
            assert retention == dead_retention, name
        checked.append(name)
    assert "WorkQueue" in checked
    assert resources["WorkQueue"]["Properties"]["MessageRetentionPeriod"] == 1209600


def test_the_bus_archive_keeps_every_event_the_rules_consume_for_the_days_given() -> None:
    loaded = template()
    archive = loaded["Resources"]["EventArchive"]["Properties"]
    stack = rendered()

    assert stack.properties("EventArchive")["SourceArn"] == stack.resolve(
        stack.template["Outputs"]["EventBusArn"]["Value"]
    )
    assert archive["RetentionDays"] == "ArchiveRetentionDays"
    days = loaded["Parameters"]["ArchiveRetentionDays"]
    assert days["MinValue"] == 0  # 0: indefinitely, as EventBridge defines it
    pattern = archive["EventPattern"]
    assert set(pattern) == {"source", "detail-type"}  # no filter of its own beyond these
    events = loaded["Resources"]["RouterFunction"]["Properties"]["Events"]
    rules = [e["Properties"]["Pattern"] for e in events.values() if e["Type"] == "EventBridgeRule"]
    assert rules
    for rule in rules:  # whatever a rule matches, the archive matches
        assert set(rule["source"]) <= set(pattern["source"])
        assert set(rule["detail-type"]) <= set(pattern["detail-type"])
    # A replay goes to exactly those rules.
    replay = stack.resolve(stack.template["Outputs"]["ReplayRuleArns"]["Value"]).split(",")
    assert len(replay) == len(rules)
