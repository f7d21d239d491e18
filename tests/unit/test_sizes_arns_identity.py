"""Task sizes as people write them, ARNs versus names, and recognising the enforcer's own calls."""

from __future__ import annotations

import pytest
from sidecar_enforcer.adapters.identity import Identity
from sidecar_enforcer.domain.ecs import arns
from sidecar_enforcer.domain.ecs.sizes import parse_cpu, parse_memory


class TestSizes:
    @pytest.mark.parametrize(
        ("value", "units"),
        [
            ("256", 256),
            (" 512 ", 512),
            ("1 vcpu", 1024),
            ("1 vCPU", 1024),
            ("2vCPU", 2048),
            (".5 vcpu", 512),
            ("0.25 vCPU", 256),
            ("4 vcpus", 4096),
            (512, 512),
            (None, None),
            ("", None),
        ],
    )
    def test_cpu(self, value: object, units: int | None) -> None:
        assert parse_cpu(value) == units

    @pytest.mark.parametrize(
        ("value", "mib"),
        [
            ("512", 512),
            (".5 GB", 512),
            ("0.5GB", 512),
            ("2GB", 2048),
            ("2 gb", 2048),
            ("1.5 GiB", 1536),
            ("300 MiB", 300),
            ("300mb", 300),
            (512, 512),
            (None, None),
        ],
    )
    def test_memory(self, value: object, mib: int | None) -> None:
        assert parse_memory(value) == mib

    @pytest.mark.parametrize("value", ["$$$$CPUSHARE$$$$", "lots", "1 TB", "-1", "1.2.3", "1 vcpu 2", True])
    def test_garbage_cpu_raises(self, value: object) -> None:
        with pytest.raises(ValueError, match="cpu"):
            parse_cpu(value)

    @pytest.mark.parametrize("value", ["2 vcpu", "lots", "1 TB", "GB", False])
    def test_garbage_memory_raises(self, value: object) -> None:
        with pytest.raises(ValueError, match="memory"):
            parse_memory(value)

    def test_units_do_not_cross_over(self) -> None:
        with pytest.raises(ValueError, match="cpu"):
            parse_cpu("2 GB")


ECS = "arn:aws:ecs:us-east-1:123456789012"


class TestArns:
    def test_parse_arn_splits_the_six_parts(self) -> None:
        arn = arns.parse_arn(f"{ECS}:task-definition/web:3")

        assert arn is not None
        assert (arn.partition, arn.service, arn.region, arn.account) == (
            "aws",
            "ecs",
            "us-east-1",
            "123456789012",
        )
        assert arn.resource == "task-definition/web:3"
        assert arn.resource_type == "task-definition"

    @pytest.mark.parametrize("value", [None, "", "web", "arn:aws:ecs", "service/prod/web"])
    def test_parse_arn_rejects_non_arns(self, value: str | None) -> None:
        assert arns.parse_arn(value) is None

    def test_resource_types(self) -> None:
        for resource, kind in [
            ("service/prod/web", "service"),
            ("cluster/prod", "cluster"),
            ("capacity-provider/spot", "capacity-provider"),
        ]:
            arn = arns.parse_arn(f"{ECS}:{resource}")
            assert arn is not None
            assert arn.resource_type == kind

    @pytest.mark.parametrize(
        ("cluster", "name"),
        [(None, "default"), ("", "default"), ("prod", "prod"), (f"{ECS}:cluster/prod", "prod")],
    )
    def test_cluster_name(self, cluster: str | None, name: str) -> None:
        assert arns.cluster_name(cluster) == name

    @pytest.mark.parametrize(
        ("service", "cluster", "ref"),
        [
            ("web", None, ("default", "web")),
            ("web", "prod", ("prod", "web")),
            ("web", f"{ECS}:cluster/prod", ("prod", "web")),
            (f"{ECS}:service/prod/web", None, ("prod", "web")),
            (f"{ECS}:service/prod/web", "other", ("prod", "web")),
            (f"{ECS}:service/web", None, ("default", "web")),
            (f"{ECS}:service/web", "prod", ("prod", "web")),
            (f"{ECS}:service/web", f"{ECS}:cluster/prod", ("prod", "web")),
        ],
    )
    def test_service_ref(self, service: str, cluster: str | None, ref: tuple[str, str]) -> None:
        assert arns.service_ref(service, cluster) == ref

    @pytest.mark.parametrize(
        ("value", "family", "revision"),
        [
            ("web", "web", None),
            ("web:3", "web", 3),
            ("web:latest", "web", None),
            (f"{ECS}:task-definition/web:12", "web", 12),
            (f"{ECS}:task-definition/web", "web", None),
        ],
    )
    def test_task_definition_family_and_revision(self, value: str, family: str, revision: int | None) -> None:
        assert arns.task_definition_family(value) == family
        assert arns.task_definition_revision(value) == revision


ACCOUNT = "123456789012"
ME = Identity(
    arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/sidecar-enforcer-fn/sidecar-enforcer-fn", account=ACCOUNT
)


class TestIdentity:
    def test_the_role_name_comes_from_the_assumed_role_arn(self) -> None:
        assert ME.role_name == "sidecar-enforcer-fn"
        assert Identity(arn=f"arn:aws:iam::{ACCOUNT}:user/jdoe", account=ACCOUNT).role_name is None

    def test_an_exact_arn_match_is_mine(self) -> None:
        assert ME.made(ME.arn, None)

    def test_another_session_of_the_same_role_is_mine(self) -> None:
        # CloudTrail names the issuing role with its path; the sts ARN never has one
        caller = f"arn:aws:sts::{ACCOUNT}:assumed-role/sidecar-enforcer-fn/other-session"
        issuer = f"arn:aws:iam::{ACCOUNT}:role/service-role/lambda/sidecar-enforcer-fn"

        assert ME.made(caller, issuer)
        assert ME.made(None, f"arn:aws:iam::{ACCOUNT}:role/sidecar-enforcer-fn")

    @pytest.mark.parametrize(
        ("caller", "issuer"),
        [
            pytest.param(
                f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy-pipeline/gha",
                f"arn:aws:iam::{ACCOUNT}:role/deploy-pipeline",
                id="another-role",
            ),
            pytest.param(
                f"arn:aws:sts::{ACCOUNT}:assumed-role/x-sidecar-enforcer-fn/s",
                f"arn:aws:iam::{ACCOUNT}:role/x-sidecar-enforcer-fn",
                id="a-role-whose-name-ends-like-mine",
            ),
            pytest.param(
                "arn:aws:sts::210987654321:assumed-role/sidecar-enforcer-fn/s",
                "arn:aws:iam::210987654321:role/sidecar-enforcer-fn",
                id="same-name-another-account",
            ),
            pytest.param(f"arn:aws:iam::{ACCOUNT}:user/sidecar-enforcer-fn", None, id="a-user-of-that-name"),
            pytest.param(None, f"arn:aws:iam::{ACCOUNT}:user/sidecar-enforcer-fn", id="issuer-not-a-role"),
            pytest.param(None, None, id="nobody"),
        ],
    )
    def test_anyone_else_is_not_me(self, caller: str | None, issuer: str | None) -> None:
        assert not ME.made(caller, issuer)

    def test_an_identity_that_is_not_a_role_matches_only_exactly(self) -> None:
        user = Identity(arn=f"arn:aws:iam::{ACCOUNT}:user/jdoe", account=ACCOUNT)

        assert user.made(user.arn, None)
        assert not user.made(None, f"arn:aws:iam::{ACCOUNT}:role/jdoe")


def test_a_regions_partition_is_read_from_botocores_data_once() -> None:
    # botocore loads its endpoint data from disk on every lookup (about 80 ms): every event asks.
    from sidecar_enforcer.domain.ecs import arns

    arns.partition_of.cache_clear()
    assert arns.partition_of("cn-north-1") == "aws-cn"
    assert arns.partition_of("cn-north-1") == "aws-cn"
    assert arns.partition_of.cache_info().hits == 1
