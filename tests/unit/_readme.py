"""What the tests read from README.md: its text, its Markdown tables and the ``aws`` commands of its
code blocks."""

from __future__ import annotations

import re
import shlex

from ._factories import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def tables(text: str) -> list[list[str]]:
    """Markdown tables as lists of row lines (a blank line ends a table)."""
    found: list[list[str]] = []
    current: list[str] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            found.append(current)
            current = []
    return found


def code_blocks(text: str) -> list[str]:
    return [m.group(1) for m in re.finditer(r"^[ \t]*```\w*[ \t]*\n(.*?)^[ \t]*```", text, re.M | re.S)]


def aws_commands(text: str) -> list[list[str]]:
    """Every ``aws ...`` command line of the text's code blocks, continuation lines joined, as argv."""
    commands = []
    for block in code_blocks(text):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip()
            if line.startswith("aws "):
                commands.append(shlex.split(line, comments=True))
    return commands
