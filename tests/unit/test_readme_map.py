"""The README's map of the code ("The house") names every package, every module of the layer and of
the dev tools, and every function, and nothing that no longer exists.

The map is the code block of that section. A line whose first word is a path (ending ``/`` for a
package or folder, ``.py`` for a module) is an entry; a folder entry holds the entries indented
under it. Every ``name.py`` or ``name/`` word on an entry's lines (the entry's own and its
description's) names a path: inside the entry when it is a folder, beside it when it is a file.
"""

from __future__ import annotations

import re
from pathlib import Path

from ._factories import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")

# Where every module and package must be named, and the functions (functions/<name>/app.py).
MAPPED_PACKAGES = ("layers/common/sidecar_enforcer", "tools/sidecar_enforcer_dev")
PATH_WORD = re.compile(r"[\w.-]+(?:/[\w.-]+)*(?:/|\.py)(?=[\s,;:)]|$)")


def the_house(readme: str) -> str:
    """The code block of the README's "The house" section."""
    section = readme.split("\n## The house\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```", 2)[1]


def named(block: str) -> set[str]:
    """Every path the map names, relative to the repository root (folders end with ``/``)."""
    folders: list[tuple[int, str]] = []  # (indent, path/) of the folder entries open above
    here = ""  # where the words of the current line resolve
    found: set[str] = set()
    for line in block.splitlines():
        words = line.split()
        if not words:
            continue
        indent = len(line) - len(line.lstrip())
        first = PATH_WORD.fullmatch(words[0].rstrip(",;:"))
        if first:  # an entry: it closes the folders indented as deep or deeper
            while folders and folders[-1][0] >= indent:
                folders.pop()
            path = (folders[-1][1] if folders else "") + first.group()
            found.add(path)
            if path.endswith("/"):
                folders.append((indent, path))
                here = path
            else:
                here = path.rsplit("/", 1)[0] + "/" if "/" in path else ""
            words = words[1:]
        for word in words:
            for match in PATH_WORD.finditer(word):
                found.add(here + match.group())
    return found


def the_tree(root: Path) -> set[str]:
    """What the map must name: the mapped packages, their subpackages and modules (``__init__.py``
    is its package), and each function's app.py."""
    wanted = {f"{app.parent.relative_to(root).as_posix()}/app.py" for app in root.glob("functions/*/app.py")}
    for package in MAPPED_PACKAGES:
        for module in (root / package).rglob("*.py"):
            relative = module.relative_to(root).as_posix()
            if "__pycache__" in relative:
                continue
            wanted.add(relative.removesuffix("__init__.py") if module.name == "__init__.py" else relative)
    return wanted


def differences(readme: str, root: Path) -> tuple[list[str], list[str]]:
    """(paths the map should name and does not, paths it names that do not exist)."""
    mapped = named(the_house(readme))
    missing = sorted(the_tree(root) - mapped)
    stale = sorted(p for p in mapped if not (root / p).exists())
    return missing, stale


def test_the_map_names_every_package_module_and_function_and_nothing_stale() -> None:
    missing, stale = differences(README, ROOT)

    assert missing == [], f'README "The house" does not name: {", ".join(missing)}'
    assert stale == [], f'README "The house" names what does not exist: {", ".join(stale)}'


def test_the_check_names_exactly_what_the_map_lost_or_invented() -> None:
    waves = "layers/common/sidecar_enforcer/domain/runs/waves.py"
    assert waves in the_tree(ROOT)
    house = the_house(README)
    edited = house.replace(" waves.py (", " (", 1).replace("arns.py,", "arns.py, ghost.py,", 1)
    assert len(re.findall(r"\bghost\.py", edited)) == 1
    assert not re.search(r"\bwaves\.py", edited)

    missing, stale = differences(README.replace(house, edited), ROOT)

    assert missing == [waves]
    assert stale == ["layers/common/sidecar_enforcer/domain/ecs/ghost.py"]
