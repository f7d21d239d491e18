"""The rollout: the pure mode decision (domain.safety.rollout), the policy document's validation
(models.rollout), and the switches as the worker reads them (usecases.rollout): cached, refused as a
whole when they name what the organisation does not know, the stop switch over everything."""

from __future__ import annotations

from typing import Any

import pytest
from sidecar_enforcer.domain.safety.rollout import AUDIT, ENFORCE, mode_for, stop_switch, strictest
from sidecar_enforcer.errors import AccessDeniedError, AwsError, InputError
from sidecar_enforcer.models.rollout import parse_rollout
from sidecar_enforcer.usecases.rollout import Rollout

ROOT_ID = "r-ab12"
OU_A = "ou-ab12-11111111"
OU_B = "ou-ab12-22222222"  # inside OU_A
ACCOUNT = "111122223333"
OTHER = "444455556666"
PATH = [ROOT_ID, OU_A, OU_B]

# -- the pure decision --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("modes", "path", "expected"),
    [
        pytest.param({}, PATH, AUDIT, id="nothing-named-audits"),
        pytest.param({OU_A: ENFORCE}, PATH, ENFORCE, id="an-ou-on-the-path"),
        pytest.param({OU_A: ENFORCE, OU_B: AUDIT}, PATH, AUDIT, id="the-nearest-ou-wins"),
        pytest.param({OU_A: AUDIT, OU_B: ENFORCE}, PATH, ENFORCE, id="the-nearest-ou-wins-either-way"),
        pytest.param({ROOT_ID: ENFORCE, OU_B: AUDIT}, PATH, AUDIT, id="an-ou-beats-the-root"),
        pytest.param({ROOT_ID: ENFORCE}, PATH, ENFORCE, id="the-root-covers-all"),
        pytest.param({OU_A: ENFORCE, ACCOUNT: AUDIT}, PATH, AUDIT, id="the-account-beats-its-ou"),
        pytest.param({OU_A: AUDIT, ACCOUNT: ENFORCE}, PATH, ENFORCE, id="an-account-enforced-alone"),
        pytest.param({OTHER: ENFORCE}, PATH, AUDIT, id="another-account-named"),
        pytest.param({OU_A: ENFORCE}, None, AUDIT, id="path-unknown-audits"),
        pytest.param({ACCOUNT: ENFORCE}, None, ENFORCE, id="path-unknown-account-named"),
        pytest.param({OU_A: ENFORCE}, [ROOT_ID, "ou-ab12-99999999"], AUDIT, id="another-ou"),
    ],
)
def test_the_most_specific_entry_decides_and_audit_is_the_default(
    modes: dict[str, str], path: list[str] | None, expected: str
) -> None:
    decision = mode_for(modes, ACCOUNT, path)

    assert decision.mode == expected
    assert decision.why


def test_the_decision_names_what_decided() -> None:
    assert OU_B in mode_for({OU_A: ENFORCE, OU_B: AUDIT}, ACCOUNT, PATH).why
    assert "root" in mode_for({ROOT_ID: AUDIT}, ACCOUNT, PATH).why
    assert "unknown" in mode_for({OU_A: ENFORCE}, ACCOUNT, None).why


@pytest.mark.parametrize(
    ("modes", "expected"),
    [
        ((ENFORCE,), ENFORCE),
        ((ENFORCE, ENFORCE, ENFORCE), ENFORCE),
        ((AUDIT, ENFORCE), AUDIT),
        ((ENFORCE, ENFORCE, AUDIT), AUDIT),
    ],
)
def test_the_most_restrictive_mode_wins(modes: tuple[str, ...], expected: str) -> None:
    assert strictest(*modes) == expected


@pytest.mark.parametrize(
    ("value", "stopped"),
    [
        (None, False),
        ("", False),
        ("off", False),
        ("OFF", False),
        ("false", False),
        ("on", True),
        (" On ", True),
        ("true", True),
        ("of", True),  # a mistyped switch changes nothing
    ],
)
def test_the_stop_switch(value: str | None, stopped: bool) -> None:
    on, why = stop_switch(value)

    assert on is stopped
    assert (why is not None) is stopped
    if stopped:
        assert (why or "").startswith("stopped")


# -- the document -------------------------------------------------------------------------------------


def test_a_valid_document() -> None:
    policy = parse_rollout(
        f'{{"modes": {{"{OU_A}": "enforce", "{ACCOUNT}": "audit", "{ROOT_ID}": "audit"}}}}', "/p"
    )

    assert policy.modes == {OU_A: ENFORCE, ACCOUNT: AUDIT, ROOT_ID: AUDIT}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        pytest.param("{", "not JSON", id="not-json"),
        pytest.param("[]", "(document)", id="not-an-object"),
        pytest.param('{"modes": {"ou-ab12-11111111": "on"}}', "modes.ou-ab12-11111111", id="bad-mode"),
        pytest.param('{"modes": {"prod-ou": "enforce"}}', "'prod-ou' is neither", id="bad-id"),
        pytest.param('{"modes": {"12345": "enforce"}}', "'12345' is neither", id="short-account"),
        pytest.param('{"mode": {}}', "mode: Extra inputs", id="unknown-field"),
    ],
)
def test_an_invalid_document_is_one_line_naming_the_field(text: str, says: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_rollout(text, "/sidecar-enforcer/rollout")

    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("rollout policy /sidecar-enforcer/rollout")
    assert says in message


# -- the switches, read and cached --------------------------------------------------------------------


class FakeSsm:
    def __init__(self) -> None:
        self.values: dict[str, tuple[str, int]] = {}
        self.reads = 0
        self.error: AwsError | None = None

    def put(self, name: str, value: str) -> None:
        version = self.values.get(name, ("", 0))[1] + 1
        self.values[name] = (value, version)

    def read(self, names: list[str]) -> dict[str, tuple[str, int]]:
        self.reads += 1
        if self.error:
            raise self.error
        return {n: self.values[n] for n in names if n in self.values}


class FakeTree:
    def __init__(self, known: set[str], paths: dict[str, list[str]]) -> None:
        self.known = known
        self.paths = paths
        self.path_calls = 0
        self.error: AwsError | None = None

    def path(self, account: str) -> list[str]:
        self.path_calls += 1
        if self.error:
            raise self.error
        return self.paths[account]

    def exists(self, target: str, kind: str) -> bool:
        return target in self.known


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


POLICY, STOP = "/se/rollout", "/se/stop"


def rollout(ssm: FakeSsm, tree: FakeTree, clock: Clock, **kwargs: Any) -> Rollout:
    return Rollout(lambda: ssm, lambda: tree, policy_name=POLICY, stop_name=STOP, clock=clock, **kwargs)


@pytest.fixture
def world() -> tuple[FakeSsm, FakeTree, Clock]:
    tree = FakeTree({ROOT_ID, OU_A, OU_B, ACCOUNT, OTHER}, {ACCOUNT: PATH, OTHER: [ROOT_ID]})
    return FakeSsm(), tree, Clock()


def test_an_ou_switched_to_enforce_is_seen_once_the_cache_expires(world: Any) -> None:
    ssm, tree, clock = world
    ssm.put(POLICY, f'{{"modes": {{"{OU_A}": "audit"}}}}')
    switches = rollout(ssm, tree, clock)
    assert switches.mode(ACCOUNT).mode == AUDIT

    ssm.put(POLICY, f'{{"modes": {{"{OU_A}": "enforce"}}}}')
    clock.now += 29
    still = switches.mode(ACCOUNT)
    clock.now += 2
    now = switches.mode(ACCOUNT)

    assert still.mode == AUDIT
    assert OU_A in (still.because or "")
    assert now.mode == ENFORCE
    assert now.because is None
    assert ssm.reads == 2  # one read per 30 s, however many decisions
    assert switches.mode(OTHER).mode == AUDIT  # not under the OU


def test_the_stop_switch_stops_everything_and_releases(world: Any) -> None:
    ssm, tree, clock = world
    ssm.put(POLICY, f'{{"modes": {{"{ROOT_ID}": "enforce"}}}}')
    switches = rollout(ssm, tree, clock)
    assert switches.mode(ACCOUNT).mode == ENFORCE

    ssm.put(STOP, "on")
    clock.now += 31
    stopped = switches.mode(ACCOUNT)
    ssm.put(STOP, "off")
    clock.now += 31
    released = switches.mode(ACCOUNT)

    assert stopped.mode == AUDIT
    assert (stopped.because or "").startswith("stopped")
    assert released.mode == ENFORCE
    assert switches.stopped() is None


def test_a_stop_switch_alone_without_a_rollout_policy() -> None:
    ssm, clock = FakeSsm(), Clock()
    switches = Rollout(
        lambda: ssm, lambda: FakeTree(set(), {}), policy_name=None, stop_name=STOP, clock=clock
    )

    assert switches.mode(ACCOUNT).mode == ENFORCE
    ssm.put(STOP, "on")
    clock.now += 31
    assert switches.mode(ACCOUNT).mode == AUDIT


def test_nothing_configured_reads_nothing() -> None:
    ssm = FakeSsm()
    switches = Rollout(lambda: ssm, lambda: FakeTree(set(), {}), policy_name=None, stop_name=None)

    assert switches.mode(ACCOUNT).mode == ENFORCE
    assert switches.stopped() is None
    assert ssm.reads == 0


def test_a_policy_naming_an_unknown_ou_is_refused_as_a_whole(world: Any, caplog: Any) -> None:
    ssm, tree, clock = world
    ssm.put(POLICY, f'{{"modes": {{"{ROOT_ID}": "enforce", "ou-ab12-deadbeef": "enforce"}}}}')

    decided = rollout(ssm, tree, clock).mode(ACCOUNT)

    assert decided.mode == AUDIT
    assert "refused" in (decided.because or "")
    assert "ou-ab12-deadbeef" in (decided.because or "")
    assert "organisation does not know" in caplog.text


def test_an_unknown_account_is_refused_too(world: Any) -> None:
    ssm, tree, clock = world
    ssm.put(POLICY, '{"modes": {"999999999999": "enforce"}}')

    assert "account 999999999999" in (rollout(ssm, tree, clock).mode(ACCOUNT).because or "")


def test_an_invalid_document_audits_everything_saying_why(world: Any) -> None:
    ssm, tree, clock = world
    ssm.put(POLICY, '{"modes": {"prod": "enforce"}}')

    decided = rollout(ssm, tree, clock).mode(ACCOUNT)

    assert decided.mode == AUDIT
    assert "'prod' is neither" in (decided.because or "")


def test_a_missing_policy_parameter_audits_everything(world: Any) -> None:
    ssm, tree, clock = world

    decided = rollout(ssm, tree, clock).mode(ACCOUNT)

    assert decided.mode == AUDIT
    assert "does not exist" in (decided.because or "")


def test_a_refused_policy_fixed_is_used_at_the_next_read(world: Any) -> None:
    ssm, tree, clock = world
    ssm.put(POLICY, "{")
    switches = rollout(ssm, tree, clock)
    assert switches.mode(ACCOUNT).mode == AUDIT

    ssm.put(POLICY, f'{{"modes": {{"{ACCOUNT}": "enforce"}}}}')
    clock.now += 31

    assert switches.mode(ACCOUNT).mode == ENFORCE


def test_a_read_that_may_succeed_later_raises_so_the_item_is_retried(world: Any) -> None:
    ssm, tree, clock = world
    ssm.error = AwsError("GetParameters: ThrottlingException: Rate exceeded")

    with pytest.raises(AwsError):
        rollout(ssm, tree, clock).mode(ACCOUNT)


def test_ou_paths_are_cached_and_read_again_after_ten_minutes(world: Any) -> None:
    ssm, tree, clock = world
    ssm.put(POLICY, f'{{"modes": {{"{OU_A}": "enforce"}}}}')
    switches = rollout(ssm, tree, clock)

    for _ in range(5):
        switches.mode(ACCOUNT)
    clock.now += 601
    switches.mode(ACCOUNT)

    assert tree.path_calls == 2


def test_an_account_policy_needs_no_ou_path(world: Any) -> None:
    ssm, tree, clock = world
    ssm.put(POLICY, f'{{"modes": {{"{ACCOUNT}": "enforce"}}}}')

    rollout(ssm, tree, clock).mode(ACCOUNT)

    assert tree.path_calls == 0


def test_organizations_refusing_the_path_audits_the_account_saying_why(world: Any) -> None:
    ssm, tree, clock = world
    ssm.put(POLICY, f'{{"modes": {{"{OU_A}": "enforce"}}}}')
    tree.error = AccessDeniedError(
        "ListParents 111122223333: AccessDeniedException: not a delegated administrator"
    )

    decided = rollout(ssm, tree, clock).mode(ACCOUNT)

    assert decided.mode == AUDIT
    assert "AccessDeniedException" in (decided.because or "")
