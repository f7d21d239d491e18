"""template.yaml and the code agree on the settings: every variable the function is given is one
``Settings`` reads, and every setting can be given from the template."""

from __future__ import annotations

import re

from sidecar_enforcer.config import ENV_VARS

from ._factories import ROOT


def function_variables() -> set[str]:
    text = (ROOT / "template.yaml").read_text(encoding="utf-8")
    block = text[text.index("  EnforcerFunction:") :]
    block = block[block.index("Variables:") : block.index("EventInvokeConfig:")]
    return set(re.findall(r"^\s+([A-Z][A-Z0-9_]+):", block, flags=re.MULTILINE))


def test_the_function_gets_exactly_the_settings_the_code_reads() -> None:
    assert function_variables() == set(ENV_VARS)


def test_each_policy_switch_is_a_template_parameter_with_the_code_s_default() -> None:
    from sidecar_enforcer.domain.policy import Policy

    text = (ROOT / "template.yaml").read_text(encoding="utf-8")
    defaults = Policy()
    for parameter, field in {
        "GrowTaskSize": "grow_task_size",
        "UpgradeDrifted": "upgrade_drifted",
        "AcceptEquivalents": "accept_equivalents",
        "RenameOnConflict": "rename_on_conflict",
    }.items():
        section = text[text.index(f"  {parameter}:\n") :]
        default = re.search(r'Default: "(true|false)"', section)
        assert default is not None, parameter
        assert default.group(1) == str(getattr(defaults, field)).lower(), parameter


def test_the_profile_member_allowance_is_a_template_parameter_allowing_none_by_default() -> None:
    text = (ROOT / "template.yaml").read_text(encoding="utf-8")
    section = text[text.index("  AllowedProfileMembers:\n") :]
    section = section[: section.index("\n  ProfilesSsmPath:")]

    assert "Type: String" in section
    assert 'Default: "{}"' in section
    assert "ALLOWED_PROFILE_MEMBERS: !Ref AllowedProfileMembers" in text
