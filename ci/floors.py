"""The lowest versions pyproject.toml allows, as pip requirements: ``python ci/floors.py [EXTRA ...]``.

pyproject.toml 声明的最低版本（每个 ``>=X`` 写成 ``==X``），供 ``make floors`` 安装：下限只写一处。

Prints one ``name[extras]==floor`` line for every runtime dependency and for every dependency of the extras
named; a dependency with no ``>=`` floor is an error (exit 2), so every declared dependency has a tested floor.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
REQUIREMENT = re.compile(r"^\s*(?P<name>[A-Za-z0-9._-]+)(?P<extras>\[[^\]]*\])?\s*(?P<spec>[^;]*)")


def floors(extras: list[str]) -> list[str]:
    """``name[extras]==floor`` for each dependency of the project and of ``extras``."""
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    wanted = list(project["dependencies"])
    for extra in extras:
        if extra not in project["optional-dependencies"]:
            raise ValueError(f"no extra {extra!r} in {PYPROJECT.name}")
        wanted += project["optional-dependencies"][extra]
    pins: dict[str, str] = {}
    for line in wanted:
        match = REQUIREMENT.match(line)
        low = re.search(r">=\s*([^,\s]+)", match["spec"]) if match else None
        if match is None or low is None:
            raise ValueError(f"{line!r} has no '>=' floor in {PYPROJECT.name}")
        pins[match["name"].lower()] = f"{match['name']}{match['extras'] or ''}=={low[1]}"
    return list(pins.values())


if __name__ == "__main__":
    try:
        print("\n".join(floors(sys.argv[1:])))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
