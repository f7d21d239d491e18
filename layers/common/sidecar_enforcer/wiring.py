"""The composition root: settings + clients -> the Router (the router function's) and the Enforcer (the
worker's and the CLI's), and the work queue.

The router imports this module on every cold start and runs only the Router: the Enforcer's modules
(planning, the profiles, the ECS and IAM adapters, the use cases that change things) are imported
inside the functions that build them, so the router never pays for them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from typing import TYPE_CHECKING, Any

from .adapters.aws import AccountClients, Clients
from .adapters.dynamodb import StateTable
from .adapters.identity import Identity, caller_identity
from .adapters.memory import MemoryTable
from .adapters.sns import StatusPublisher, Unpublished
from .adapters.sqs import DeadLetterQueue, WorkQueue
from .config import MEMBER_SESSION_NAME, NotifierSettings, Settings
from .errors import ConfigurationError
from .ledger import Ledger, Table
from .router import Router
from .usecases.outbox import DrainOutbox
from .usecases.ports import Publisher
from .usecases.rollout import Rollout
from .usecases.scope import Reporter
from .usecases.triage import Triage

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from .adapters.ecs import EcsGateway
    from .adapters.iam import TaskRoleChecker
    from .adapters.survey import EcsSurvey
    from .enforcer import Enforcer
    from .profiles import Catalog
    from .usecases.notify import NotifyBatch
    from .usecases.run_waves import RunKeeper
    from .usecases.runs import FinishRun, StartRun


def profile_source(settings: Settings, clients: Clients) -> Callable[[], Catalog]:
    """The shipped profiles, replaced by PROFILES_DIR's and PROFILES_SSM_PATH's documents of the same
    name (SSM's cached by Powertools for five minutes); a folder document and an SSM document of one
    name are both refused (``Catalog.with_documents``)."""
    from .adapters.profiles import SsmProfiles, folder_documents
    from .profiles import builtin_catalog

    shipped = builtin_catalog()
    folder = tuple(folder_documents(settings.profiles_dir)) if settings.profiles_dir else ()
    local = shipped.with_documents(folder)
    if not settings.profiles_ssm_path:
        return lambda: local
    ssm = SsmProfiles(clients.client("ssm"), settings.profiles_ssm_path)
    last: dict[tuple[tuple[str, str, str], ...], Catalog] = {}

    def catalog() -> Catalog:
        # Asked once per service: validate the documents again only when SSM returned others.
        documents = tuple(ssm.documents())
        if documents not in last:
            last.clear()
            last[documents] = shipped.with_documents((*folder, *documents))
        return last[documents]

    return catalog


@dataclass(frozen=True)
class Shared:
    """What the Router and the Enforcer of one container share."""

    identity: Callable[[], Identity]
    ledger: Ledger
    drain: DrainOutbox
    report: Reporter
    publisher: Publisher
    rollout: Rollout


def build_shared(settings: Settings, clients: Clients, caller: Identity | None = None) -> Shared:
    """The identity, the ledger, the outbox drain, the reporter, the publisher and the rollout of one
    container. ``caller``: who the caller is, when it was already asked (the command line asks
    first), so it is not asked again."""

    @cache
    def identity() -> Identity:
        if caller is not None:
            return replace(caller, member_role=settings.member_role_name, member_session=MEMBER_SESSION_NAME)
        return caller_identity(clients.client("sts"), settings.member_role_name, MEMBER_SESSION_NAME)

    publisher: Publisher = Unpublished()
    if settings.status_topic_arn:
        topic_region = settings.status_topic_arn.split(":")[3]
        publisher = StatusPublisher(clients.client("sns", topic_region), settings.status_topic_arn)
    table: Table = MemoryTable()
    if settings.state_table_name:
        table = StateTable(clients.client("dynamodb"), settings.state_table_name)
    ledger = Ledger(table)
    dead_letters = None
    if settings.dead_letter_queue_url:  # the stack's own queue, in the function's region
        dead_letters = DeadLetterQueue(clients.client("sqs"), settings.dead_letter_queue_url)
    drain = DrainOutbox(ledger, publisher, dead_letters)
    report = Reporter(publisher, ledger, drain, publish_routine=settings.publish_routine)
    return Shared(identity, ledger, drain, report, publisher, build_rollout(settings, clients))


def build_rollout(settings: Settings, clients: Clients) -> Rollout:
    """The stop switch and the rollout policy (SSM, in the function's region), and the organisation's
    tree (Organizations) to place an account in its OUs."""
    from .adapters.org_units import OrgUnits
    from .adapters.switches import Switches

    return Rollout(
        lambda: Switches(clients.client("ssm")),
        lambda: OrgUnits(clients.client("organizations")),
        policy_name=settings.rollout_parameter_name,
        stop_name=settings.stop_switch_parameter_name,
    )


def account_clients(settings: Settings, clients: Clients, identity: Callable[[], Identity]) -> AccountClients:
    """Clients per (account, region, service): the enforcer's own account with the function's own
    credentials; any other through its member role (MEMBER_ROLE_NAME), assumed with the hub's STS
    client. The state table, the status topic and the queues are always the hub's (``clients``)."""
    from .adapters.member import MemberSessions

    member = MemberSessions(
        clients.client("sts"),
        lambda account: settings.member_role_arn(identity().partition, account),
        MEMBER_SESSION_NAME,
        clients.region,
        lambda: clients.session.get_component("data_loader"),
    )
    return AccountClients(clients, lambda: identity().account, member)


def build_router(settings: Settings, clients: Clients | None = None) -> Router:
    clients = clients or Clients()
    shared = build_shared(settings, clients)
    triage = Triage(settings, shared.identity, shared.ledger)
    return Router(
        settings, triage, shared.drain, shared.report, shared.ledger, _run_keeper(settings, clients, shared)
    )


def build_enforcer(settings: Settings, clients: Clients | None = None) -> Enforcer:
    from .adapters.ecs import EcsGateway
    from .adapters.iam import TaskRoleChecker
    from .enforcer import Enforcer
    from .usecases.enforce_service import EnforceService
    from .usecases.enforce_task_definition import EnforceTaskDefinition
    from .usecases.fan_out import FanOutCluster
    from .usecases.release import Release
    from .usecases.revisions import Revisions
    from .usecases.verify_deployment import VerifyDeployment

    clients = clients or Clients()
    shared = build_shared(settings, clients)
    accounts = account_clients(settings, clients, shared.identity)

    @cache  # not kept when it raises (a member role that cannot be assumed): the next item tries again
    def ecs_for(account: str, region: str) -> EcsGateway:
        return EcsGateway(accounts(account).client("ecs", region))

    @cache  # the task roles are the account's own: IAM in that account
    def task_roles(account: str) -> TaskRoleChecker:
        return TaskRoleChecker(accounts(account).client("iam"))

    catalog = profile_source(settings, clients)
    revisions = Revisions(shared.ledger, task_roles)
    return Enforcer(
        settings,
        ecs_for,
        shared.identity,
        enforce_service=EnforceService(settings, catalog, revisions, shared.ledger, shared.report),
        enforce_task_definition=EnforceTaskDefinition(settings, catalog, revisions),
        verify_deployment=VerifyDeployment(settings, shared.ledger),
        release=Release(shared.ledger),
        fan_out=FanOutCluster(lambda: _work_queue(settings, clients)),
        report=shared.report,
        runs=_run_keeper(settings, clients, shared),
        rollout=shared.rollout,
    )


def build_work_queue(settings: Settings, clients: Clients | None = None) -> WorkQueue | None:
    """The SQS FIFO work queue named in WORK_QUEUE_URL (the stack's own, in the function's region),
    or None when the setting is empty."""
    if not settings.work_queue_url:
        return None
    return WorkQueue((clients or Clients()).client("sqs"), settings.work_queue_url)


def _work_queue(settings: Settings, clients: Clients) -> WorkQueue:
    queue = build_work_queue(settings, clients)
    if queue is None:
        raise ConfigurationError("WORK_QUEUE_URL: not set: a cluster's services cannot be queued")
    return queue


def _reports(settings: Settings, clients: Clients) -> Any:
    from .adapters.s3 import ReportStore

    return ReportStore(clients.client("s3"), settings.report_bucket) if settings.report_bucket else None


def _run_keeper(settings: Settings, clients: Clients, shared: Shared) -> Callable[[], RunKeeper]:
    """The worker's and the scheduled tick's side of a backfill run (usecases.run_waves), built (and
    its modules imported) when a run's item comes, or a tick finds a run open."""

    @cache
    def keeper() -> RunKeeper:
        from .usecases.run_waves import RunKeeper

        return RunKeeper(
            shared.ledger,
            _finish_run(settings, clients, shared),
            lambda: _work_queue(settings, clients),
            visibility_seconds=settings.work_queue_visibility_timeout,
            stopped=lambda: shared.rollout.stopped() is not None,
        )

    return keeper


def _finish_run(settings: Settings, clients: Clients, shared: Shared) -> FinishRun:
    """A run's report and digest; after a reconciliation run, its changes in the enforce scope are
    queued to the event path and its digest is published only when its findings changed."""
    from .config import Mode
    from .usecases.reconcile import Reconcile
    from .usecases.runs import FinishRun

    def enforces(account: str) -> bool:
        return settings.enforcement_mode is Mode.ENFORCE and shared.rollout.mode(account).mode == "enforce"

    reconcile = Reconcile(shared.ledger, lambda: _work_queue(settings, clients), enforces)
    return FinishRun(shared.ledger, _reports(settings, clients), shared.publisher, reconcile)


def build_run_starter(
    settings: Settings, clients: Clients | None = None
) -> tuple[StartRun, Callable[[], list[str]]]:
    """The backfill function's: start a run; and the organisation's active accounts."""
    from .adapters.organizations import Organization
    from .adapters.survey import EcsSurvey
    from .usecases.runs import StartRun

    clients = clients or Clients()
    shared = build_shared(settings, clients)
    accounts = account_clients(settings, clients, shared.identity)

    @cache
    def survey_for(account: str, region: str) -> EcsSurvey:
        return EcsSurvey(accounts(account).client("ecs", region))

    finish = _finish_run(settings, clients, shared)
    start = StartRun(
        survey_for,
        shared.ledger,
        lambda: _work_queue(settings, clients),
        finish,
        lambda: shared.identity().partition,
        settings.enforcement_mode,
    )
    return start, lambda: sorted(Organization(clients.client("organizations")).active_accounts())


def build_notifier(settings: NotifierSettings, clients: Clients | None = None) -> NotifyBatch:
    """Routes from the settings: the first (Slack webhook and/or chat topic) for every queue but
    the second Slack channel's, which goes to its own webhook. Each webhook's URL is read from its
    secret on first use, then kept by Powertools' cache (adapters.secretsmanager). The notifier's
    own queues (a throttled record's return, a record put back for the sinks that lack it) and its
    dead-letter queue (None without NOTIFIER_DEAD_LETTER_QUEUE_URL) settle the batch."""
    from .adapters.notifier_queues import NotifierQueues
    from .adapters.secretsmanager import WebhookSecret
    from .adapters.slack import TIMEOUT_SECONDS, SlackWebhook
    from .adapters.sns import ChatPublisher
    from .usecases.notify import Notify, NotifyBatch, Route

    clients = clients or Clients()

    def webhook(secret_arn: str) -> Callable[[], SlackWebhook]:
        secret = WebhookSecret(clients.client("secretsmanager", secret_arn.split(":")[3]), secret_arn)
        return lambda: SlackWebhook(secret.url())

    chat = None
    if settings.chat_topic_arn:
        topic = settings.chat_topic_arn
        chat = ChatPublisher(clients.client("sns", topic.split(":")[3]), topic)
    first = settings.slack_webhook_secret_arn
    routes: dict[str | None, Route] = {None: Route(webhook(first) if first else None, chat)}
    second = settings.slack_second_webhook_secret_arn
    if second and settings.slack_second_queue_arn:
        routes[settings.slack_second_queue_arn] = Route(webhook(second), None)
    dead_letters = None
    if settings.notifier_dead_letter_queue_url:
        dead_letters = DeadLetterQueue(clients.client("sqs"), settings.notifier_dead_letter_queue_url)
    queues = NotifierQueues(clients.client("sqs"))
    return NotifyBatch(Notify(routes, float(TIMEOUT_SECONDS)), queues, dead_letters)
