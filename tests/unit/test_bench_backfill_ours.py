"""Our half of the backfill bench on a small fleet, through the harness exactly as ``make bench``
runs it: ``sidecar-enforcer backfill --mode audit --regions us-east-1 --report r.json`` against
moto's server behind the proxy. Skipped, with the reason, while the CLI has no backfill command."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import backfill, fleet, project
from bench.proxy import CountingProxy


def test_our_backfill_finds_the_plans_non_compliant_services_within_the_floor(tmp_path: Path) -> None:
    cli = project.cli_script()
    available, help_text = backfill.ours_available(cli)
    if not available:
        pytest.skip(help_text)
    plan = fleet.plan(fleet.Spec(40, 2, 8))
    option = backfill.state_file_option(help_text)
    extra = (option, str(tmp_path / "state.json")) if option else ()
    with backfill.moto_server() as moto:
        world, _ = backfill.prepare(moto, plan)
        with CountingProxy(moto.address, latency=0.0) as proxy:
            env = backfill.ours_environment(world, proxy.url)
            first = backfill.run_ours(cli, tmp_path, env, extra, proxy, plan.spec, "first")
            repeat = backfill.run_ours(cli, tmp_path, env, extra, proxy, plan.spec, "repeat")

    assert first.error is None, first.error
    assert first.found == plan.noncompliant()
    assert repeat.found == plan.noncompliant()
    assert first.surfaced == []
    served = first.ecs_served
    for action, fewest in backfill.floor(plan).items():
        assert served[action] >= fewest, action  # the floor is a floor
    assert served["DescribeTaskDefinition"] <= len(plan.revisions())  # each revision at most once
