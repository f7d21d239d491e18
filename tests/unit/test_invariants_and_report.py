"""``domain.planning.invariants.violations`` holds for planned requests and catches broken ones; ``report``
prints one row per file x profile, the per-profile summaries and the final count."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sidecar_enforcer.domain.planning.invariants import violations
from sidecar_enforcer.domain.planning.plan import Decision, plan
from sidecar_enforcer.domain.planning.policy import Policy
from sidecar_enforcer.domain.planning.profile import Profile
from sidecar_enforcer.profiles import builtin_profiles
from sidecar_enforcer_dev.report import report

from ._factories import ROOT, app, awslogs, ec2, fargate, named

POLICY = Policy.model_validate(json.loads((ROOT / "examples" / "policy.json").read_text(encoding="utf-8")))
PROFILES = [builtin_profiles()[name] for name in sorted(builtin_profiles())]
PROFILE_IDS = [p.name for p in PROFILES]


def small_fargate() -> dict[str, Any]:
    """Too small for any sidecar: the plan grows it."""
    return fargate(app(cpu=256, memory=512, logConfiguration=awslogs()), cpu="256", memory="512")


def roomy_fargate() -> dict[str, Any]:
    return fargate(
        app("api", environment=[{"name": "MODE", "value": "live"}], logConfiguration=awslogs()),
        app("worker", image="public.ecr.aws/docker/library/python:3.13-slim", portMappings=[]),
        cpu="1 vCPU",
        memory="4 GB",
        taskRoleArn="arn:aws:iam::123456789012:role/shop-api-task",
        runtimePlatform={"operatingSystemFamily": "LINUX", "cpuArchitecture": "ARM64"},
    )


def ec2_bridge() -> dict[str, Any]:
    return ec2(
        app("web", memoryReservation=256, dependsOn=[{"containerName": "init", "condition": "SUCCESS"}]),
        app("init", image="public.ecr.aws/docker/library/busybox:1.37", essential=False, memory=64),
        network_mode="bridge",
    )


def ec2_awsvpc() -> dict[str, Any]:
    return ec2(app("api", memory=512, cpu=256), network_mode="awsvpc", cpu="1024", memory="2048")


TASKS: dict[str, Callable[[], dict[str, Any]]] = {
    "small-fargate": small_fargate,
    "roomy-fargate": roomy_fargate,
    "ec2-bridge": ec2_bridge,
    "ec2-awsvpc": ec2_awsvpc,
}


def planned(task: dict[str, Any], profile: Profile) -> dict[str, Any]:
    result = plan(task, [{"key": "team", "value": "shop"}], profile, POLICY)
    assert result.decision is Decision.MISSING, result.reasons
    assert result.register_input is not None
    return result.register_input


class TestViolations:
    @pytest.mark.parametrize("profile", PROFILES, ids=PROFILE_IDS)
    @pytest.mark.parametrize("shape", sorted(TASKS))
    def test_a_planned_request_breaks_no_invariant(self, shape: str, profile: Profile) -> None:
        task = TASKS[shape]()

        assert violations(task, planned(task, profile)) == []

    def test_the_grown_fargate_size_is_not_a_violation(self) -> None:
        task = small_fargate()
        result = plan(task, [], PROFILES[0], POLICY)
        assert result.resize is not None
        assert result.register_input is not None

        assert violations(task, result.register_input) == []

    @staticmethod
    def broken(change: Callable[[dict[str, Any]], None], task: dict[str, Any] | None = None) -> list[str]:
        task = task or roomy_fargate()
        request = copy.deepcopy(planned(task, builtin_profiles()["jaeger"]))
        change(request)
        return violations(task, request)

    def test_a_dropped_member(self) -> None:
        found = self.broken(lambda r: r.pop("executionRoleArn"))

        assert found == ["member executionRoleArn changed or lost"]

    def test_a_changed_task_member(self) -> None:
        found = self.broken(lambda r: r["runtimePlatform"].update(cpuArchitecture="X86_64"))

        assert found == ["member runtimePlatform changed or lost"]

    def test_a_lost_container(self) -> None:
        def drop_worker(request: dict[str, Any]) -> None:
            request["containerDefinitions"] = [
                c for c in request["containerDefinitions"] if c["name"] != "worker"
            ]

        assert self.broken(drop_worker) == ["container 'worker' lost"]

    @pytest.mark.parametrize(
        ("member", "value"),
        [("logConfiguration", {"logDriver": "json-file"}), ("environment", [])],
    )
    def test_a_changed_container_member(self, member: str, value: Any) -> None:
        def change(request: dict[str, Any]) -> None:
            named(request, "api")[member] = value

        assert self.broken(change) == [f"container 'api' member {member} changed"]

    def test_a_changed_environment_value_is_not_wiring(self) -> None:
        def change(request: dict[str, Any]) -> None:
            env = named(request, "api")["environment"]
            next(e for e in env if e["name"] == "MODE")["value"] = "test"

        assert self.broken(change) == ["container 'api' member environment changed"]

    def test_a_removed_dependency_is_not_wiring(self) -> None:
        def change(request: dict[str, Any]) -> None:
            named(request, "web")["dependsOn"] = [
                d for d in named(request, "web")["dependsOn"] if d["containerName"] != "init"
            ]

        assert self.broken(change, ec2_bridge()) == ["container 'web' member dependsOn changed"]

    def test_a_duplicate_container_name(self) -> None:
        def duplicate(request: dict[str, Any]) -> None:
            worker = copy.deepcopy(named(request, "worker"))
            request["containerDefinitions"].append(worker)

        assert self.broken(duplicate) == ["container name 'worker' used 2 times"]

    def test_a_duplicate_port_in_awsvpc(self) -> None:
        def clash(request: dict[str, Any]) -> None:
            # the shipped sidecar maps no port: give it the app's
            named(request, "jaeger").setdefault("portMappings", []).append(
                {"containerPort": 8080, "protocol": "tcp"}
            )

        assert self.broken(clash) == ["port 8080 used by 2 containers"]

    def test_a_duplicate_port_in_bridge_mode_is_fine(self) -> None:
        def same_port(request: dict[str, Any]) -> None:
            named(request, "init")["portMappings"] = [{"containerPort": 8080, "protocol": "tcp"}]

        found = self.broken(same_port, ec2_bridge())

        assert not any(f.startswith("port ") for f in found)

    def test_an_invalid_fargate_size(self) -> None:
        found = self.broken(lambda r: r.update(cpu="1024", memory="1536"))

        assert found == ["1024 CPU units / 1536 MiB is not a valid Fargate size"]

    def test_a_missing_fargate_size(self) -> None:
        found = self.broken(lambda r: r.pop("memory"))

        assert found == ["1024 CPU units is not a valid Fargate size"]

    def test_a_shrunk_size(self) -> None:
        found = self.broken(lambda r: r.update(cpu="512", memory="4096"))

        assert found == ["the task size shrank"]

    def test_a_size_the_containers_do_not_fit(self) -> None:
        task = small_fargate()

        def undo_growth(request: dict[str, Any]) -> None:
            request.update(cpu="256", memory="512")

        found = self.broken(undo_growth, task)

        assert "the containers' cpu exceeds the task's" in found
        assert "the containers' memory exceeds the task's" in found

    def test_a_request_botocore_rejects(self) -> None:
        def invalid(request: dict[str, Any]) -> None:
            named(request, "api")["portBindings"] = [{"containerPort": 80}]
            request["family"] = 7

        found = self.broken(invalid)

        assert "botocore: unknown member containerDefinitions[0].portBindings" in found
        assert "botocore: family has the wrong type (expected str)" in found
        assert "member family changed or lost" in found

    @pytest.mark.parametrize(
        ("member", "value"),
        [("image", "public.ecr.aws/nginx/nginx:1.28"), ("essential", False), ("portMappings", [])],
    )
    def test_a_changed_app_container_image_essential_or_ports(self, member: str, value: Any) -> None:
        def change(request: dict[str, Any]) -> None:
            named(request, "api")[member] = value

        assert self.broken(change) == [f"container 'api' member {member} changed"]


# -- report ---------------------------------------------------------------------------------------


def write(folder: Path, name: str, data: Any) -> Path:
    path = folder / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Three task definition files in the forms people have them."""
    write(
        tmp_path,
        "shop-api.json",
        {"taskDefinition": small_fargate(), "tags": [{"key": "team", "value": "x"}]},
    )
    write(tmp_path, "legacy-web.json", ec2_bridge())
    windows = fargate(
        runtimePlatform={"operatingSystemFamily": "WINDOWS_SERVER_2022_CORE", "cpuArchitecture": "X86_64"}
    )
    write(tmp_path, "windows.json", windows)
    return tmp_path


def files_of(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.json"))


class TestReport:
    def test_one_row_per_file_and_profile_then_summaries_and_the_count(self, folder: Path) -> None:
        out = report(files_of(folder), PROFILES, POLICY)

        lines = out.splitlines()
        assert lines[0].split()[:3] == ["FILE", "PROFILE", "DECISION"]
        rows = lines[1:10]
        pairs = [(row.split()[0], row.split()[1]) for row in rows]
        assert pairs == [(f.name, p.name) for f in files_of(folder) for p in PROFILES]
        for row in rows:
            decision = row.split()[2]
            if row.startswith("windows.json"):
                assert f"{decision} {row.split()[3]}" == "REFUSED (-)"
                assert "Windows" in row
            else:
                assert f"{decision} {row.split()[3]}" == "MISSING (ok)", row
        assert any(
            row.startswith("shop-api.json") and "task size 256 CPU units / 512 MiB ->" in row for row in rows
        )
        assert lines[10] == ""
        assert lines[11:14] == [f"{p.label}: MISSING 2, REFUSED 1" for p in PROFILES]
        assert lines[14] == "3 files x 3 profiles = 9 plans; 0 broke an invariant"
        assert len(lines) == 15

    def test_the_detail_column_is_cut_at_110_characters(self, folder: Path) -> None:
        task = json.loads((folder / "windows.json").read_text(encoding="utf-8"))
        reason = plan(task, [], PROFILES[0], POLICY).reasons[0]
        assert len(reason) > 110

        out = report(files_of(folder), PROFILES[:1], POLICY)

        windows = next(line for line in out.splitlines() if line.startswith("windows.json"))
        assert windows.endswith("  " + reason[:110])

    def test_markdown_gives_a_table(self, folder: Path) -> None:
        out = report(files_of(folder), PROFILES, POLICY, markdown=True)

        lines = out.splitlines()
        assert lines[0] == "| FILE | PROFILE | DECISION (CHECKS) | FIRST REASON / SIZE CHANGE |"
        assert lines[1] == "|---|---|---|---|"
        rows = lines[2:11]
        assert all(row.startswith("| ") and row.endswith(" |") for row in rows)
        assert all(row.count(" | ") == 3 for row in rows)
        assert rows[0].startswith("| legacy-web.json | adot | MISSING (ok) | ")
        assert lines[11] == ""
        assert lines[-1] == "3 files x 3 profiles = 9 plans; 0 broke an invariant"

    def test_markdown_escapes_pipes_in_cells(self, tmp_path: Path) -> None:
        write(tmp_path, "odd.json", ec2(app(memory=128), network_mode="a|b"))

        out = report(files_of(tmp_path), PROFILES[:1], POLICY, markdown=True)

        row = out.splitlines()[2]
        assert "'a\\|b'" in row
        assert row.count(" | ") == 3

    @pytest.mark.parametrize(
        "content",
        [b"{not json", b"\xff\xfe\x00garbage", b'["a list"]', b'{"family": "no-containers"}'],
        ids=["not-json", "not-utf8", "a-list", "no-containers"],
    )
    def test_an_unreadable_file_is_a_row_marked_unreadable(self, folder: Path, content: bytes) -> None:
        (folder / "broken.json").write_bytes(content)

        out = report(files_of(folder), PROFILES, POLICY)

        broken = [line for line in out.splitlines() if line.startswith("broken.json")]
        assert len(broken) == len(PROFILES)
        assert all(line.split()[2] == "UNREADABLE" for line in broken)
        assert [f"{p.label}: MISSING 2, REFUSED 1, UNREADABLE 1" for p in PROFILES] == [
            line for line in out.splitlines() if line.endswith("UNREADABLE 1")
        ]
        assert out.splitlines()[-1] == "4 files x 3 profiles = 12 plans; 0 broke an invariant"

    @pytest.mark.parametrize("kind", ["dangling-symlink", "folder"])
    def test_a_json_entry_that_cannot_be_read_is_a_row_not_a_crash(self, folder: Path, kind: str) -> None:
        entry = folder / "gone.json"
        if kind == "folder":
            entry.mkdir()
        else:
            os.symlink(folder / "nowhere", entry)

        out = report(files_of(folder), PROFILES, POLICY)

        gone = [line for line in out.splitlines() if line.startswith("gone.json")]
        assert [line.split()[2] for line in gone] == ["UNREADABLE"] * len(PROFILES)

    def test_a_broken_invariant_is_counted(self, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        import sidecar_enforcer_dev.report as module

        monkeypatch.setattr(
            module, "violations", lambda task, request, upgraded=None: ["container 'app' lost"]
        )

        out = report(files_of(folder), PROFILES, POLICY)

        assert "MISSING (BROKEN: container 'app' lost)" in out
        assert out.splitlines()[-1] == "3 files x 3 profiles = 9 plans; 6 broke an invariant"

    def test_the_files_are_not_modified(self, folder: Path) -> None:
        before = {p.name: p.read_bytes() for p in files_of(folder)}

        report(files_of(folder), PROFILES, POLICY)

        assert {p.name: p.read_bytes() for p in files_of(folder)} == before
