"""The pip extras: each role installs only what its packages import, and each package imports and
its command starts with only the core and its own extra (the others blocked in a subprocess)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
import tomllib

from challenge.extras import DISTRIBUTION, EXTRA_MODULES

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# Each package, and the extras it may use besides the core.
PACKAGES = {"challenge": [], "baselines": ["baselines"], "leaderboard": ["leaderboard", "postgres"],
            "exercises": ["exercises"]}  # fmt: skip


def requirement_names(requirements: list[str]) -> set[str]:
    names = {re.match(r"[A-Za-z0-9_.-]+", r).group(0).lower() for r in requirements}
    return names - {DISTRIBUTION}


def top_level_imports(package: str) -> set[str]:
    """Modules imported at the top of the package's modules (lazy imports inside functions and
    ``try`` blocks are left out: they are optional by design)."""
    names = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", list(PACKAGES))
def test_each_package_imports_only_the_core_and_its_extras(package):
    allowed = requirement_names(PROJECT["dependencies"])
    for extra in PACKAGES[package]:
        allowed |= requirement_names(PROJECT["optional-dependencies"][extra])
    distributions = packages_distributions()
    third_party = {
        name: {d.lower() for d in distributions[name]}
        for name in top_level_imports(package)
        if name in distributions and name not in PACKAGES
    }
    outside = {name: dists for name, dists in third_party.items() if not dists & allowed}
    assert not outside, f"{package} imports {outside} at module level, not in its extras"


def test_no_role_installs_another_roles_heavy_part():
    extras = PROJECT["optional-dependencies"]
    core = requirement_names(PROJECT["dependencies"])
    assert not core & {"torch", "flask", "sqlalchemy", "waitress", "scikit-learn"}
    assert "torch" not in requirement_names(extras["leaderboard"] + extras["postgres"])
    assert not requirement_names(extras["baselines"]) & {"flask", "sqlalchemy", "waitress"}
    assert f"{DISTRIBUTION}[all]" in extras["test"]  # make test and make demo get everything


BLOCKER = """
import sys

class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)

sys.meta_path.insert(0, NotInstalled())
"""


def run_without(blocked: tuple[str, ...], code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter where the ``blocked`` modules cannot be found, as if
    they were not installed."""
    block = BLOCKER.format(blocked=blocked)
    return subprocess.run(
        [sys.executable, "-c", block + code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )


SERVER = ("flask", "flask_wtf", "sqlalchemy", "waitress", "psycopg", "gunicorn", "werkzeug")
TORCH = ("torch",)
ALL_PACKAGES = """
import importlib, pkgutil
for package in {packages}:
    for module in pkgutil.walk_packages(importlib.import_module(package).__path__, package + "."):
        # Lesson solutions are run by the checker; Alembic runs the migration scripts itself.
        if not module.name.startswith(("exercises.solutions", "leaderboard.migrations")):
            importlib.import_module(module.name)
"""
HELP = """
main = importlib.import_module("{package}.cli").main
assert main(["--help"], prog_name="{package}", standalone_mode=False) == 0
"""


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("role", "blocked", "packages"),
    [
        ("core only", SERVER + TORCH + ("sklearn",), ["challenge"]),
        ("participant", SERVER, ["challenge", "baselines"]),
        ("leaderboard host", TORCH, ["challenge", "leaderboard"]),
    ],
)
def test_each_role_imports_and_starts_its_commands_without_the_other_extras(
    role, blocked, packages
):
    code = ALL_PACKAGES.format(packages=packages)
    code += "".join(HELP.format(package=package) for package in packages)
    result = run_without(blocked, code)
    assert result.returncode == 0, result.stderr
    for package in packages:
        assert f"Usage: {package} [OPTIONS] COMMAND [ARGS]..." in result.stdout


@pytest.mark.parametrize(
    ("extra", "blocked"),
    [("leaderboard", ("flask",)), ("baselines", ("torch",)), ("leaderboard", ("waitress",))],
)
def test_a_missing_extra_names_the_pip_command(extra, blocked):
    result = run_without(blocked, f"import {extra}")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last == (
        f"ImportError: the {extra} part needs {blocked[0]}, not installed here: "
        f"pip install '{DISTRIBUTION}[{extra}]'"
    )
    assert set(blocked) <= set(EXTRA_MODULES[extra])
