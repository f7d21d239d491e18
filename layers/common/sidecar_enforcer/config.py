"""One settings model, read once from the environment (``Settings.from_env``)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .domain.planning.policy import Policy
from .errors import ConfigurationError


class Mode(StrEnum):
    ENFORCE = "enforce"  # register the compliant revision and redeploy
    AUDIT = "audit"  # report what would change, change nothing


# The characters IAM allows in a role's name and in each segment of its path (ASCII only).
_IAM_NAME = r"[A-Za-z0-9_+=,.@-]"
# The session name of every AssumeRole into a member account: CloudTrail records the enforcer's
# calls there as arn:<partition>:sts::<member>:assumed-role/<role name>/<this> (the assumed-role
# ARN carries the role's name, never its path), which is how the loop guard knows them.
MEMBER_SESSION_NAME = "sidecar-enforcer"
# An SSM parameter's name: a name, or a path of names (letters, digits and _.-), up to 1011 characters.
_SSM_NAME = r"^/?[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*$"


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    status_topic_arn: str | None = Field(default=None, description="SNS topic for status messages")
    # At most 120 characters: the release tag's key is this one plus "-release" (tag keys: 128).
    opt_in_tag_key: str = Field(default="tracing-sidecar", min_length=1, max_length=120)
    default_profile: str = Field(default="jaeger", min_length=1)
    enforcement_mode: Mode = Mode.ENFORCE
    policy: Policy = Field(default_factory=Policy)
    # Custom profiles beside the shipped ones: a folder of JSON documents (in a layer: /opt/...)
    # and an SSM Parameter Store path whose parameters each hold one document.
    profiles_dir: str | None = None
    profiles_ssm_path: str | None = Field(default=None, pattern=r"^/([A-Za-z0-9_.\-/]*)$")
    # The DynamoDB state table: exactly-once remediation, verification, quarantine, the status
    # outbox. Without one (local runs) each event is handled on its own.
    state_table_name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.\-]{3,255}$")
    # Statuses SNS refuses for good (after a few attempts from the outbox) go to this SQS queue
    # (the stack's dead-letter queue). Without one they stay in the outbox until it expires them.
    dead_letter_queue_url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+/\S+$")
    # The SQS FIFO work queue (its name ends in .fifo): the router queues one item per target, the
    # worker queues a cluster's services. The router needs it; without it, it refuses to run.
    work_queue_url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+/\S+\.fifo$")
    # Its visibility timeout (seconds): a backfill run whose items were lost is told by it.
    work_queue_visibility_timeout: int = Field(default=720, ge=0, le=12 * 3600)
    # The S3 bucket a backfill run's report is written to (the stack's ReportBucket).
    report_bucket: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
    # Publish COMPLIANT and NOT_OPTED_IN too (by default: logged and counted, not published).
    publish_routine: bool = False
    # More than max_reverts reverts within revert_window_seconds: FLAPPING, quarantined.
    max_reverts: int = Field(default=3, ge=0, le=100)
    revert_window_seconds: int = Field(default=3600, ge=60, le=30 * 24 * 3600)
    # The role the enforcer assumes in another account (an event from a member account is enforced
    # there): its name (IAM: up to 64 of A-Z a-z 0-9 _+=,.@-), after its IAM path when it has one
    # ("/platform/sidecar-enforcer-member"; a path begins and ends with "/", up to 512 characters).
    member_role_name: str = Field(
        default="sidecar-enforcer-member",
        max_length=512 + 64,
        pattern=rf"^(/({_IAM_NAME}+/)+)?{_IAM_NAME}{{1,64}}$",
    )

    # The operators' switches (usecases.rollout): SSM parameters, read at most every 30 s. The rollout
    # policy document (JSON: organisation id -> audit or enforce; unset: no rollout policy, the
    # stack's mode alone) and the stop switch ("on": every change stopped, decisions in audit mode).
    rollout_parameter_name: str | None = Field(default=None, pattern=_SSM_NAME)
    stop_switch_parameter_name: str | None = Field(default=None, pattern=_SSM_NAME)
    # A reconciliation run (the scheduled backfill): the accounts ("ORGANIZATION" or a comma list;
    # empty: the enforcer's own) and the regions (a comma list; empty: the function's).
    reconcile_accounts: str | None = Field(default=None, pattern=r"^(ORGANIZATION|[0-9]{12}(,[0-9]{12})*)$")
    reconcile_regions: str | None = Field(default=None, pattern=r"^[a-z0-9-]+(,[a-z0-9-]+)*$")

    @property
    def release_tag_key(self) -> str:
        """Tag a quarantined service with this key and its quarantine's token to release it."""
        return f"{self.opt_in_tag_key}-release"

    @property
    def member_role(self) -> str:
        """The member role's name without its path (what an assumed-role ARN carries)."""
        return self.member_role_name.rsplit("/", 1)[-1]

    def member_role_arn(self, partition: str, account: str) -> str:
        """The member role of ``account``: arn:<partition>:iam::<account>:role/<path/><name>."""
        return f"arn:{partition}:iam::{account}:role/{self.member_role_name.lstrip('/')}"

    @field_validator("status_topic_arn")
    @classmethod
    def _topic_is_an_arn(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith("arn:") or ":sns:" not in value:
            raise ValueError("must be an SNS topic ARN (arn:<partition>:sns:<region>:<account>:<name>)")
        return value

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        return _from_env(cls, ENV_VARS, JSON_VARS, environ)


# Environment variable -> field (dotted for the policy's fields).
ENV_VARS: dict[str, str] = {
    "STATUS_TOPIC_ARN": "status_topic_arn",
    "OPT_IN_TAG_KEY": "opt_in_tag_key",
    "DEFAULT_PROFILE": "default_profile",
    "ENFORCEMENT_MODE": "enforcement_mode",
    "GROW_TASK_SIZE": "policy.grow_task_size",
    "UPGRADE_DRIFTED": "policy.upgrade_drifted",
    "ACCEPT_EQUIVALENTS": "policy.accept_equivalents",
    "RENAME_ON_CONFLICT": "policy.rename_on_conflict",
    "PROFILE_PARAMETERS": "policy.parameters",
    "ALLOWED_PROFILE_MEMBERS": "policy.allow_profile_members",
    "PUBLISHED_PROFILE_PORTS": "policy.publish_ports",
    "PROFILES_DIR": "profiles_dir",
    "PROFILES_SSM_PATH": "profiles_ssm_path",
    "STATE_TABLE_NAME": "state_table_name",
    "MAX_REVERTS": "max_reverts",
    "PUBLISH_ROUTINE": "publish_routine",
    "REVERT_WINDOW_SECONDS": "revert_window_seconds",
    "DEAD_LETTER_QUEUE_URL": "dead_letter_queue_url",
    "WORK_QUEUE_URL": "work_queue_url",
    "WORK_QUEUE_VISIBILITY_TIMEOUT": "work_queue_visibility_timeout",
    "REPORT_BUCKET": "report_bucket",
    "MEMBER_ROLE_NAME": "member_role_name",
    "ROLLOUT_PARAMETER": "rollout_parameter_name",
    "STOP_SWITCH_PARAMETER": "stop_switch_parameter_name",
    "RECONCILE_ACCOUNTS": "reconcile_accounts",
    "RECONCILE_REGIONS": "reconcile_regions",
}
JSON_VARS = frozenset({"PROFILE_PARAMETERS", "ALLOWED_PROFILE_MEMBERS", "PUBLISHED_PROFILE_PORTS"})


_SECRET_ARN = r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$"  # noqa: S105 - a pattern
_QUEUE_ARN = r"^arn:aws[a-z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,80}$"
_TOPIC_ARN = r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$"


class NotifierSettings(BaseModel):
    """The notifier's settings (functions/notifier), read once from the environment. Secrets are
    named by ARN here; their values are read from Secrets Manager, never from the environment."""

    model_config = ConfigDict(frozen=True)

    # The Slack incoming webhook of the first route (every record but the second route's).
    slack_webhook_secret_arn: str | None = Field(default=None, pattern=_SECRET_ARN)
    # A second channel: the records of this queue (its own subscription and filter policy) go to
    # this webhook, and only there.
    slack_second_webhook_secret_arn: str | None = Field(default=None, pattern=_SECRET_ARN)
    slack_second_queue_arn: str | None = Field(default=None, pattern=_QUEUE_ARN)
    # Amazon Q Developer in chat applications: the topic its channels subscribe to.
    chat_topic_arn: str | None = Field(default=None, pattern=_TOPIC_ARN)
    # Where a record that holds no status goes at once, intact (the notifier's dead-letter queue).
    notifier_dead_letter_queue_url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+/\S+$")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> NotifierSettings:
        return _from_env(cls, NOTIFIER_ENV_VARS, frozenset(), environ)


NOTIFIER_ENV_VARS: dict[str, str] = {
    "SLACK_WEBHOOK_SECRET_ARN": "slack_webhook_secret_arn",
    "SLACK_SECOND_WEBHOOK_SECRET_ARN": "slack_second_webhook_secret_arn",
    "SLACK_SECOND_QUEUE_ARN": "slack_second_queue_arn",
    "CHAT_TOPIC_ARN": "chat_topic_arn",
    "NOTIFIER_DEAD_LETTER_QUEUE_URL": "notifier_dead_letter_queue_url",
}


M = TypeVar("M", bound=BaseModel)


def _from_env(
    cls: type[M], env_vars: Mapping[str, str], json_vars: frozenset[str], environ: Mapping[str, str] | None
) -> M:
    """The model from the environment: each variable of ``env_vars`` that is set (not empty) goes to
    its field (a dotted path for a nested one), ``json_vars`` read as JSON. A value the model refuses
    is a ConfigurationError naming the variable, in one line."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for name, path in env_vars.items():
        raw = env.get(name, "")
        if raw == "":
            continue
        value: Any = raw
        if name in json_vars:
            try:
                value = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ConfigurationError(f"{name}: not JSON ({exc.msg} at column {exc.colno})") from None
        *parents, leaf = path.split(".")
        target = values
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = value
    try:
        return cls.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [str(part) for part in first["loc"]]
        name = next(
            (n for n, p in env_vars.items() if loc[: len(p.split("."))] == p.split(".")),
            ".".join(loc),
        )
        raise ConfigurationError(f"{name}: {first['msg']}") from None
