"""What several commands share: their options (a subcommand, a service, the state table, the
policy), reading input files, the settings and the policy a command line asks for, and a profile by
name or document."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sidecar_enforcer.adapters import aws
from sidecar_enforcer.config import Settings
from sidecar_enforcer.domain.planning.policy import Policy
from sidecar_enforcer.domain.planning.profile import Profile
from sidecar_enforcer.errors import InputError
from sidecar_enforcer.profiles import Catalog, parse_profile

from .local import UsageError


def _read_bytes(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror}") from None


def _read_json(path: str) -> Any:
    raw = _read_bytes(path)
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not JSON ({exc})") from None


def _catalog(settings: Settings) -> Catalog:
    from sidecar_enforcer.wiring import profile_source

    return profile_source(settings, aws.Clients())()


def _profile(name: str | None, settings: Settings, catalog: Catalog | None = None) -> Profile:
    """A profile by name (shipped or custom, ``team-a/jaeger`` for a deeper document), or a profile
    document's path (a ``.json`` file, or an existing file)."""
    name = name or settings.default_profile
    if name.endswith(".json") or (os.sep in name and os.path.isfile(name)):
        return parse_profile(_read_bytes(name).decode("utf-8-sig"), name)
    catalog = catalog or _catalog(settings)
    profile = catalog.get(name)
    if profile is None:
        known = ", ".join(sorted(catalog.profiles))
        raise UsageError(catalog.errors.get(name) or f"unknown profile {name!r} (known: {known})")
    return profile


def _policy(
    args: argparse.Namespace, settings: Settings, chosen: Sequence[Profile], catalog: Catalog | None = None
) -> Policy:
    """The environment's policy (or --policy FILE), with the command line's switches on top.
    A --param names a profile (the ``chosen`` ones or the catalog's) and one of its parameters."""
    policy = settings.policy
    if args.policy:
        try:
            policy = Policy.model_validate(_read_json(args.policy))
        except ValidationError as exc:
            err = exc.errors()[0]
            raise InputError(f"{args.policy}: {'.'.join(map(str, err['loc']))}: {err['msg']}") from None
    updates: dict[str, Any] = {}
    for flag in ("grow_task_size", "upgrade_drifted", "accept_equivalents", "rename_on_conflict"):
        if getattr(args, flag) is not None:
            updates[flag] = getattr(args, flag)
    if args.param:
        parameters = {k: dict(v) for k, v in policy.parameters.items()}
        for item in args.param:
            key, sep, value = item.partition("=")
            profile, dot, name = key.partition(".")
            if not sep or not dot or not profile or not name:
                raise UsageError(f"--param {item.split('=', 1)[0]}: expected PROFILE.NAME=VALUE")
            catalog = _check_param(key, profile, name, settings, chosen, catalog)
            parameters.setdefault(profile, {})[name] = value
        updates["parameters"] = parameters
    return policy.model_copy(update=updates)


def _check_param(
    key: str, profile: str, name: str, settings: Settings, chosen: Sequence[Profile], catalog: Catalog | None
) -> Catalog | None:
    """Refuse a --param that names no known profile or none of its parameters: left alone, it would
    be ignored (another profile) or only show up as a refusal reason of the plan. The catalog is
    read only when a --param names a profile other than the chosen ones; returned for reuse."""
    found = next((p for p in chosen if p.name == profile), None)
    if found is None:
        catalog = catalog or _catalog(settings)
        found = catalog.get(profile)
        if found is None:
            known = ", ".join(sorted({*catalog.profiles, *(p.name for p in chosen)}))
            why = catalog.errors.get(profile) or f"unknown profile {profile!r} (known: {known})"
            raise UsageError(f"--param {key}: {why}")
    names = [p.name for p in found.parameters]
    if name not in names:
        known = f"known: {', '.join(names)}" if names else "it has none"
        raise UsageError(f"--param {key}: {profile} has no parameter {name!r} ({known})")
    return catalog


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    if getattr(args, "state_table", None):
        settings = settings.model_copy(update={"state_table_name": args.state_table})
    if getattr(args, "role_name", None):
        settings = settings.model_copy(update={"member_role_name": args.role_name})
    return settings


def _command(
    sub: Any, name: str, summary: str, run: Callable[[argparse.Namespace], int]
) -> argparse.ArgumentParser:
    """A subcommand whose one-line summary is both its entry in the list and its --help description."""
    p: argparse.ArgumentParser = sub.add_parser(
        name, help=summary, description=summary[:1].upper() + summary[1:] + "."
    )
    p.set_defaults(run=run)
    return p


def _service_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cluster", required=True, help="the cluster's name or ARN")
    p.add_argument("--service", required=True, help="the service's name or ARN")
    p.add_argument("--region", help="the service's region (default: AWS_REGION or AWS_DEFAULT_REGION)")
    p.add_argument(
        "--account",
        metavar="ID",
        help="a member account's service, reached through its member role (default: the caller's own)",
    )
    p.add_argument("--role-name", metavar="NAME", help="the member role in other accounts (MEMBER_ROLE_NAME)")


def _account(args: argparse.Namespace) -> str | None:
    """The member account a command names (--account), checked: 12 digits."""
    from sidecar_enforcer.domain.ecs.arns import ACCOUNT_ID

    if args.account is None:
        return None
    if not ACCOUNT_ID.fullmatch(args.account):
        raise UsageError(f"--account {args.account!r}: an account id is 12 digits")
    return str(args.account)


def _state_table_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--state-table",
        metavar="TABLE",
        help="the stack's DynamoDB state table (default: STATE_TABLE_NAME; output StateTableName)",
    )


def _policy_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--policy", metavar="FILE", help="a policy JSON file (default: from the environment)")
    p.add_argument(
        "--param",
        action="append",
        metavar="PROFILE.NAME=VALUE",
        help="a value for one of a profile's parameters (repeatable)",
    )
    for flag, what in (
        ("grow-task-size", "grow Fargate tasks too small for the sidecar"),
        ("upgrade-drifted", "replace sidecars that differ from their profile"),
        ("accept-equivalents", "count an OpenTelemetry/X-Ray/ADOT/Jaeger collector as compliant"),
        ("rename-on-conflict", "add the sidecar under a free name when its name is taken"),
    ):
        p.add_argument(f"--{flag}", action=argparse.BooleanOptionalAction, default=None, help=what)
