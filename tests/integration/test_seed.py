"""A person's first steps, as the README's local recipe runs them over HTTP against moto's server:
``local-env``, ``seed``, then the sample events and a backfill find the services they name. The
commands run in this process (``cli.main``, as the console script calls it) with the environment
the recipe exports; tests/integration/test_cli.py runs the console script itself."""

from __future__ import annotations

import contextlib
import io
import json
import socket
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from sidecar_enforcer.domain.ecs.schema import validate_register_request
from sidecar_enforcer.domain.ecs.taskdef import load_document
from sidecar_enforcer_dev.cli import main

from ..conftest import ROOT

pytestmark = pytest.mark.server
EXAMPLES = sorted((ROOT / "examples" / "taskdefs").glob("*.json"))
EVENTS = sorted(p for p in (ROOT / "events").glob("*.json") if not p.name.startswith("malformed"))


@dataclass
class Shell:
    """A terminal with the recipe's exports: ``run`` is the console script, in this process."""

    monkeypatch: pytest.MonkeyPatch

    def export(self, name: str, value: str | None) -> None:
        if value is None:
            self.monkeypatch.delenv(name, raising=False)
        else:
            self.monkeypatch.setenv(name, value)

    def run(self, *args: str) -> tuple[int, str, str]:
        """Its exit code, stdout and stderr. The streams stay open after it: the functions' loggers
        keep the stderr they were loaded with (capsys would close it after the test)."""
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
        return code, out.getvalue(), err.getvalue()


@pytest.fixture
def shell(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Shell:
    """A clean server for each test, and what the README's recipe exports."""
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))  # noqa: S310
    monkeypatch.chdir(ROOT)
    for name, value in {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    return Shell(monkeypatch)


def _ready(shell: Shell) -> None:
    code, out, err = shell.run("local-env")
    assert code == 0, err
    for line in out.splitlines():
        shell.export(*line.removeprefix("export ").split("=", 1))
    code, out, err = shell.run("seed")
    assert code == 0, err


def _findings(shell: Shell, event: Path) -> list[dict[str, object]]:
    code, out, err = shell.run("invoke", str(event.relative_to(ROOT)))
    assert code == 0, (event.name, err)
    return list(json.loads(out)["findings"])


def test_without_a_fleet_the_sample_events_find_nothing(shell: Shell) -> None:
    _, out, _ = shell.run("local-env")
    for line in out.splitlines():
        shell.export(*line.removeprefix("export ").split("=", 1))

    (finding,) = _findings(shell, ROOT / "events" / "cloudtrail-updateservice.json")

    assert finding["status"] == "SKIPPED"


def test_after_seed_every_sample_event_finds_the_service_or_task_definition_it_names(shell: Shell) -> None:
    _ready(shell)

    answers = {event.name: _findings(shell, event) for event in EVENTS}

    for name, findings in answers.items():
        for finding in findings:
            reasons = " ".join(map(str, finding.get("reasons") or []))  # type: ignore[call-overload]
            assert "not found" not in reasons.lower(), (name, finding)
            assert "does not exist" not in reasons, (name, finding)
            if finding["status"] == "SKIPPED":  # only the service whose controller the enforcer cannot use
                assert finding["service"] == "payments-legacy", (name, finding)
                assert "CODE_DEPLOY" in reasons, (name, finding)
    (created,) = answers["cloudtrail-createservice.json"]
    assert created["status"] == "REMEDIATED"
    (codedeploy,) = answers["cloudtrail-updateservice-codedeploy.json"]
    assert codedeploy["status"] == "SKIPPED"


def test_after_seed_a_backfill_finds_the_events_fleet_and_every_example(shell: Shell, tmp_path: Path) -> None:
    _ready(shell)
    report = tmp_path / "fleet.json"

    code, _, err = shell.run("backfill", "--mode", "audit", "--no-plans", "--report", str(report))

    assert code == 0, err
    rows = {row["service"]: row for row in json.loads(report.read_text())["results"]}
    families = {json.loads(path.read_text())["family"] for path in EXAMPLES}
    assert families <= set(rows)
    assert {"nexus-ai-api-prod", "payments-legacy", "billing-worker"} <= set(rows)
    assert rows["legacy-billing"]["status"] == "REFUSED"  # Windows
    assert rows["reports-web"]["status"] == "COMPLIANT"  # runs an OpenTelemetry collector already
    assert rows["orders-api"]["status"] == "NONCOMPLIANT"
    assert rows["catalog-api"]["status"] == "NONCOMPLIANT"


def test_seed_twice_creates_nothing_twice(shell: Shell) -> None:
    first = json.loads(shell.run("seed")[1])
    code, out, err = shell.run("seed")

    assert code == 0, err
    second = json.loads(out)
    assert first["created"] == ["shop-prod", "examples"]
    assert second["created"] == []
    assert second["clusters"] == first["clusters"]


@pytest.mark.parametrize(
    "endpoint_url", [None, "https://ecs.us-east-1.amazonaws.com", "http://10.0.0.5:5000"]
)
def test_seed_refuses_any_endpoint_but_a_local_one_before_sending_anything(
    shell: Shell, endpoint_url: str | None
) -> None:
    shell.export("AWS_ENDPOINT_URL", endpoint_url)

    code, out, err = shell.run("seed")

    assert code == 2
    assert out == ""
    (line,) = err.strip().splitlines()
    assert "local endpoint only" in line


def test_seed_against_a_local_endpoint_that_does_not_answer_fails_with_one_line(shell: Shell) -> None:
    with socket.socket() as held:  # a port nothing listens on
        held.bind(("127.0.0.1", 0))
        shell.export("AWS_ENDPOINT_URL", f"http://127.0.0.1:{held.getsockname()[1]}")

        code, out, err = shell.run("seed")

    assert code == 1
    assert out == ""
    (line,) = err.strip().splitlines()
    assert "cannot reach" in line


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_each_example_is_a_valid_register_request_with_the_opt_in_tag(path: Path) -> None:
    request = json.loads(path.read_text(encoding="utf-8"))

    assert validate_register_request(request) == []
    document = load_document(path.read_bytes())
    assert "tracing-sidecar" in {tag["key"] for tag in document.tags}
    assert len(path.read_bytes()) < 4096  # small enough to read in one go
