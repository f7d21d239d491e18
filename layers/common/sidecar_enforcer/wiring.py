"""The composition root: settings + clients -> an Enforcer. Used by the Lambda handler and the CLI."""

from __future__ import annotations

from functools import cache

from .adapters.aws import Clients
from .adapters.ecs import EcsGateway
from .adapters.identity import Identity, caller_identity
from .adapters.sns import StatusPublisher
from .config import Settings
from .profiles import builtin_profiles
from .service import Enforcer


def build_enforcer(settings: Settings, clients: Clients | None = None) -> Enforcer:
    clients = clients or Clients()

    @cache
    def ecs_for(region: str) -> EcsGateway:
        return EcsGateway(clients.client("ecs", region))

    @cache
    def identity() -> Identity:
        return caller_identity(clients.client("sts"))

    publisher = None
    if settings.status_topic_arn:
        topic_region = settings.status_topic_arn.split(":")[3]
        publisher = StatusPublisher(clients.client("sns", topic_region), settings.status_topic_arn)
    return Enforcer(settings, builtin_profiles(), ecs_for, identity, publisher)
