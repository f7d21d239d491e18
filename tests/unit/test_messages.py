"""Messages name the right fix: a tag that names no profile says to fix the tag (not the task
definition); what the statuses tell a reader is tested in test_notifications.py."""

from __future__ import annotations

import pytest
from sidecar_enforcer.config import Mode, Settings
from sidecar_enforcer.domain.messages import notice, slack_message
from sidecar_enforcer.models.findings import Finding, Status
from sidecar_enforcer.profiles import builtin_catalog
from sidecar_enforcer.usecases.choose_profile import choose_profile
from sidecar_enforcer.usecases.scope import Scope

from ._factories import ACCOUNT, REGION


@pytest.mark.parametrize(
    ("own_tags", "cluster_tags", "tag"),
    [
        ({"tracing-sidecar": "zipkin"}, None, "service tag tracing-sidecar=zipkin"),
        ({"tracing-sidecar": "Zipkin:audit"}, None, "service tag tracing-sidecar=Zipkin:audit"),
        ({}, {"tracing-sidecar": "zipkin"}, "cluster tag tracing-sidecar=zipkin"),
    ],
)
def test_a_tag_that_names_no_profile_is_refused_saying_to_fix_the_tag(
    own_tags: dict[str, str], cluster_tags: dict[str, str] | None, tag: str
) -> None:
    catalog = builtin_catalog()
    settings = Settings(opt_in_tag_key="tracing-sidecar")
    scope = Scope(ACCOUNT, REGION, "TagResource", "event-1", Mode.ENFORCE)
    found = choose_profile(
        settings,
        lambda: catalog,
        scope,
        {"cluster": "prod", "service": "api"},
        own_tags,
        cluster_tags if cluster_tags is not None else {},
        "service",
    )

    assert isinstance(found, Finding)
    assert found.status is Status.REFUSED
    [reason] = found.reasons
    assert reason.startswith(tag)
    assert "fix the tag" in reason
    for name in catalog.profiles:
        assert name in reason  # the values the tag may take
    rendered = slack_message.render(notice.read(found.to_message()))
    shown = "\n".join(str(block) for block in rendered["blocks"])
    assert "fix the tag" in shown
    assert "Fix the task definition" not in shown
