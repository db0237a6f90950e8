"""Packaging sanity without building (the real build is `make build-check`, a separate CI step).

Catches what makes a wheel broken though the source tree works: a console script that does not
resolve, a subpackage without __init__.py (left out of the wheel), a data file not declared, a
third-party import missing from the dependencies.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from smallest_cli import __version__
from tests.helpers import ROOT, cli_env, run_cli

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PACKAGE = ROOT / "smallest_cli"
PEP440 = re.compile(r"^\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?$")


def _pyproject() -> dict:
    with (ROOT / "pyproject.toml").open("rb") as fh:
        return tomllib.load(fh)


def _requirement_name(spec: str) -> str:
    return re.split(r"[\s<>=!~;\[]", spec, maxsplit=1)[0].lower().replace("_", "-")


def test_project_metadata() -> None:
    project = _pyproject()["project"]
    assert project["name"] == "smallest-cli"
    assert project["requires-python"] == ">=3.10"
    assert "version" in project["dynamic"]
    assert _pyproject()["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "smallest_cli.__version__"}
    assert PEP440.match(__version__), __version__
    assert (ROOT / project["readme"]).is_file() or project["readme"] == "README.md"


def test_console_script_entry_point_resolves() -> None:
    scripts = _pyproject()["project"]["scripts"]
    assert scripts == {"smallest": "smallest_cli.__main__:main"}
    module_name, _, attr = scripts["smallest"].partition(":")
    assert callable(getattr(importlib.import_module(module_name), attr))


def test_installed_metadata_has_the_same_console_script() -> None:
    eps = [ep for ep in metadata.entry_points(group="console_scripts") if ep.name == "smallest"]
    assert [ep.value for ep in eps] == ["smallest_cli.__main__:main"]


def test_python_dash_m_version(tmp_path: Path) -> None:
    proc = run_cli(["--version"], cli_env(None, tmp_path))
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.decode().strip() == f"smallest {__version__}"


def test_console_script_runs_the_same_entry_point(tmp_path: Path) -> None:
    code = "import sys; sys.argv = ['smallest', '--version']; from smallest_cli.__main__ import main; main()"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"smallest {__version__}"


def test_every_subpackage_has_an_init() -> None:
    """setuptools' find only packages directories with __init__.py; others vanish from the wheel."""
    missing = [
        str(d.relative_to(ROOT))
        for d in [PACKAGE, *PACKAGE.rglob("*")]
        if d.is_dir()
        and d.name != "__pycache__"
        and any(d.glob("*.py"))
        and not (d / "__init__.py").is_file()
    ]
    assert missing == []


def test_no_undeclared_data_files() -> None:
    declared = _pyproject()["tool"]["setuptools"].get("package-data", {})
    data = [
        p.relative_to(ROOT).as_posix()
        for p in PACKAGE.rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc", ".typed") and "__pycache__" not in p.parts
    ]
    assert not data or declared, f"data files need [tool.setuptools.package-data]: {data}"


# tomllib is the standard library's from 3.11 and tomli its stand-in before (a declared dependency).
_NOT_THIRD_PARTY = ("smallest_cli", "__future__", "tomli", "tomllib")


def _third_party_imports() -> dict[str, str]:
    """Top-level module → first file importing it, for every non-stdlib, non-local import."""
    found: dict[str, str] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top in _NOT_THIRD_PARTY:
                    continue
                found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def _with_their_requirements(names: set[str]) -> set[str]:
    """`names` plus the unconditional requirements of each (requests brings urllib3, for example)."""
    out = set(names)
    for name in names:
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        out |= {_requirement_name(r) for r in requires if ";" not in r}
    return out


def _top_level_modules(distribution: str) -> set[str]:
    """The top-level modules an installed distribution provides, from its file list (Python 3.10's
    `packages_distributions` reads only top_level.txt, which many wheels lack)."""
    try:
        files = metadata.files(distribution) or []
    except metadata.PackageNotFoundError:
        return set()
    return {f.parts[0].split(".")[0] for f in files}  # a package, `mod.py` or `mod.cpython-3…so`


def test_third_party_imports_are_declared_dependencies() -> None:
    """Every third-party import is installed by `pip install smallest-cli` (directly or via a declared
    dependency's own unconditional requirement)."""
    project = _pyproject()["project"]
    declared = {_requirement_name(s) for s in project["dependencies"]}
    declared |= {_requirement_name(s) for s in project["optional-dependencies"].get("speech", [])}
    provided = set().union(*(_top_level_modules(d) for d in _with_their_requirements(declared)))
    undeclared = {module: where for module, where in _third_party_imports().items() if module not in provided}
    assert undeclared == {}, f"imported but not in pyproject dependencies: {undeclared}"


def test_tomli_is_declared_for_python_3_10() -> None:
    deps = _pyproject()["project"]["dependencies"]
    assert any(
        d.replace(" ", "").startswith("tomli>=") and "python_version<'3.11'" in d.replace(" ", "")
        for d in deps
    )


def test_build_check_script_is_wired_up() -> None:
    script = ROOT / "scripts" / "build_check.sh"
    assert script.is_file()
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    makefile = (ROOT / "Makefile").read_text()
    assert "bash scripts/build_check.sh" in makefile
    assert "scripts/gen_completions.py" in makefile


def _lowest_requirements(*args: str) -> subprocess.CompletedProcess[str]:
    script = ROOT / "scripts" / "lowest_requirements.py"
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True)


def test_the_lowest_run_pins_every_dependency_at_its_floor() -> None:
    done = _lowest_requirements()
    assert done.returncode == 0, done.stderr
    lines = {line.replace(" ", "") for line in done.stdout.splitlines()}
    project = _pyproject()["project"]
    for spec in [*project["dependencies"], *project["optional-dependencies"]["speech"]]:
        assert spec.replace(" ", "").replace(">=", "==", 1) in lines
    assert "pytest>=8" in lines  # the test tools come as declared
    assert "make test-lowest" in (ROOT / ".ci" / "run").read_text()


def test_a_dependency_without_a_floor_stops_the_lowest_run() -> None:
    spec = importlib.util.spec_from_file_location("lowest", ROOT / "scripts" / "lowest_requirements.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.pinned("numpy>=1.24") == "numpy==1.24"
    for bad in ("numpy", "numpy>=1.24,<3", "numpy~=1.24"):
        with pytest.raises(SystemExit, match="no single `>=` floor"):
            module.pinned(bad)
