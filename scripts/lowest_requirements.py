"""Print pip requirements that install every dependency at its declared floor (`make test-lowest`).

pip keeps whatever version of a dependency is already installed when it satisfies the project's
range, so a user who installs smallest-cli beside older packages runs it on the floors of
pyproject.toml: each `name>=X` of the dependencies and of the `speech` extra is pinned to `name==X`
here (markers kept), and the test tools of the `dev` extra come as declared. The floors are the
promise; the lowest run is what keeps it.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
_FLOOR = re.compile(r"^(?P<name>[A-Za-z0-9_.\-\[\]]+)\s*>=\s*(?P<version>[^,;\s]+)\s*(?P<marker>;.*)?$")


def pinned(spec: str) -> str:
    """`name>=X[; marker]` as `name==X[; marker]`; anything else is an error (no floor to test)."""
    match = _FLOOR.match(spec.strip())
    if match is None:
        raise SystemExit(f"lowest_requirements: {spec!r} has no single `>=` floor")
    return f"{match['name']}=={match['version']}{match['marker'] or ''}"


def _name(spec: str) -> str:
    return re.split(r"[\s<>=!~;\[]", spec, maxsplit=1)[0].lower().replace("_", "-")


def lowest_requirements(project: dict) -> list[str]:
    runtime = [*project["dependencies"], *project["optional-dependencies"]["speech"]]
    lines = [pinned(spec) for spec in runtime]
    have = {_name(spec) for spec in runtime}
    lines += [spec for spec in project["optional-dependencies"]["dev"] if _name(spec) not in have]
    return lines


def main() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    print("\n".join(lowest_requirements(project)))


if __name__ == "__main__":
    main()
