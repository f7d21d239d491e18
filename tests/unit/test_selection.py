"""Which services opt in, to which profile, from their own tags and their cluster's."""

from __future__ import annotations

import pytest
from sidecar_enforcer.domain.planning.selection import select_profile, tag_dict

KEY = "tracing-sidecar"


def select(own: dict[str, str], cluster: dict[str, str] | None = None, key: str = KEY) -> str | None:
    return select_profile(key=key, default_profile="jaeger", own_tags=own, cluster_tags=cluster).profile


@pytest.mark.parametrize(
    ("value", "profile"),
    [
        ("jaeger", "jaeger"),
        ("Jaeger", "jaeger"),
        ("  jaeger ", "jaeger"),
        ("required", "jaeger"),
        ("true", "jaeger"),
        ("TRUE", "jaeger"),
        ("", "jaeger"),
        ("zipkin", "zipkin"),
        ("OFF", None),
        ("off", None),
        ("exempt", None),
        ("false", None),
        ("False", None),
    ],
)
def test_the_tag_value_names_the_profile_or_opts_out(value: str, profile: str | None) -> None:
    selection = select_profile(key=KEY, default_profile="jaeger", own_tags={KEY: value})

    assert selection.profile == profile
    assert selection.opted_in is (profile is not None)
    assert KEY in selection.reason
    assert "service" in selection.reason


def test_the_default_profile_is_the_configured_one() -> None:
    selection = select_profile(key=KEY, default_profile="otel", own_tags={KEY: "required"})

    assert selection.profile == "otel"


def test_no_tag_means_not_opted_in() -> None:
    selection = select_profile(key=KEY, default_profile="jaeger", own_tags={"team": "a"})

    assert not selection.opted_in
    assert KEY in selection.reason


def test_a_service_inherits_its_cluster_s_tag() -> None:
    selection = select_profile(key=KEY, default_profile="jaeger", own_tags={}, cluster_tags={KEY: "true"})

    assert selection.profile == "jaeger"
    assert "cluster" in selection.reason


def test_neither_service_nor_cluster_tagged_says_so() -> None:
    selection = select_profile(key=KEY, default_profile="jaeger", own_tags={}, cluster_tags={"env": "prod"})

    assert selection.profile is None
    assert "cluster" in selection.reason


@pytest.mark.parametrize(
    ("own", "cluster", "profile"),
    [
        pytest.param("off", "jaeger", None, id="service-opts-out-of-an-opted-in-cluster"),
        pytest.param("jaeger", "off", "jaeger", id="service-opts-in-inside-an-opted-out-cluster"),
        pytest.param("zipkin", "jaeger", "zipkin", id="service-picks-another-profile"),
    ],
)
def test_the_service_s_own_tag_wins_over_the_cluster_s(own: str, cluster: str, profile: str | None) -> None:
    selection = select_profile(
        key=KEY, default_profile="jaeger", own_tags={KEY: own}, cluster_tags={KEY: cluster}
    )

    assert selection.profile == profile
    assert "service" in selection.reason


def test_a_custom_key_is_the_only_one_that_counts() -> None:
    assert select({"trace-me": "jaeger"}, key="trace-me") == "jaeger"
    assert select({KEY: "jaeger"}, key="trace-me") is None
    assert select({}, {"trace-me": "off", KEY: "jaeger"}, key="trace-me") is None


def test_the_own_kind_is_named_in_the_reason() -> None:
    selection = select_profile(
        key=KEY, default_profile="jaeger", own_tags={KEY: "true"}, own_kind="task definition"
    )

    assert selection.reason.startswith("task definition")


class TestTagDict:
    def test_ecs_spelling(self) -> None:
        assert tag_dict([{"key": "a", "value": "1"}, {"key": "b", "value": ""}]) == {"a": "1", "b": ""}

    def test_cloudtrail_spelling(self) -> None:
        assert tag_dict([{"Key": "a", "Value": "1"}]) == {"a": "1"}

    def test_a_missing_or_null_value_is_empty(self) -> None:
        assert tag_dict([{"key": "a"}, {"Key": "b", "Value": None}]) == {"a": "", "b": ""}

    @pytest.mark.parametrize("tags", [None, {}, "key=value", [1, "x", None], [{"value": "orphan"}]])
    def test_anything_else_gives_no_tags(self, tags: object) -> None:
        assert tag_dict(tags) == {}


@pytest.mark.parametrize(
    ("value", "profile"),
    [("audit", "jaeger"), ("AUDIT", "jaeger"), ("adot:audit", "adot"), ("required:audit", "jaeger")],
)
def test_an_audit_value_opts_in_in_audit_mode(value: str, profile: str) -> None:
    selection = select_profile(
        key="tracing-sidecar", default_profile="jaeger", own_tags={"tracing-sidecar": value}
    )

    assert selection.profile == profile
    assert selection.audit is True
    assert "audit mode" in selection.reason


@pytest.mark.parametrize("value", ["jaeger", "required", "auditing", "audit-team"])
def test_other_values_are_not_audit(value: str) -> None:
    selection = select_profile(
        key="tracing-sidecar", default_profile="jaeger", own_tags={"tracing-sidecar": value}
    )

    assert selection.audit is False
    assert selection.profile is not None


def test_a_cluster_s_audit_value_applies_to_its_untagged_services() -> None:
    selection = select_profile(
        key="tracing-sidecar",
        default_profile="jaeger",
        own_tags={},
        cluster_tags={"tracing-sidecar": "audit"},
    )

    assert (selection.profile, selection.audit) == ("jaeger", True)
