"""The layers of ``leaderboard`` (its package docstring's map), read from the code's imports: only
the web layer talks HTTP, nothing imports upwards, and no package imports itself in a circle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "leaderboard"

# From the top down, as in ``leaderboard/__init__.py``'s docstring; a module may import its own
# layer and the layers below it.
LAYERS = {
    "entry": set("__init__ cli serving".split()),
    "web": set("public teams api admin forms auth content plots course_api tutor".split()),
    "worker": {"jobs"},
    "rules": set(
        "uploads actions final ranking ladder bootstrap grading export errors course".split()
    ),
    "storage": set("db models queries storage shared_files queue backup migrations".split()),
    "ground": set("config state names".split()),
}
HEIGHT = {module: height for height, layer in enumerate(reversed(LAYERS.values()))
          for module in layer}  # fmt: skip
WEB = LAYERS["entry"] | LAYERS["web"]
# What the code below the web may take from flask and werkzeug: the app, handed in as an
# argument (its settings, clock and state), and the uploaded file's type.
ALLOWED_BELOW_WEB = {"flask": {"Flask"}, "werkzeug.datastructures": {"FileStorage"}}


def module_of(path: Path) -> str:
    """``leaderboard/uploads.py`` -> "uploads"; ``leaderboard/migrations/env.py`` -> "migrations"."""
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def imports(tree: ast.AST) -> list[tuple[str, set[str], int]]:
    """Every import of a module, at its top or inside a function: (module, names, line)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, set(), node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module, {alias.name for alias in node.names}, node.lineno))
    return found


def leaderboard_targets(module: str, names: set[str]) -> set[str]:
    """The modules of ``leaderboard`` that one import reaches (``from leaderboard import a, b``)."""
    parts = module.split(".")
    if parts[0] != "leaderboard":
        return set()
    if len(parts) > 1:
        return {parts[1]}
    return {name for name in names if name in HEIGHT}


def http_uses(path: Path) -> list[str]:
    """Where a module below the web imports flask or werkzeug beyond ``ALLOWED_BELOW_WEB``."""
    found = []
    for module, names, line in imports(ast.parse(path.read_text(encoding="utf-8"))):
        top = module.split(".")[0]
        if top not in ("flask", "werkzeug", "flask_wtf"):
            continue
        extra = names - ALLOWED_BELOW_WEB.get(module, set()) if names else {module}
        if extra:
            found.append(f"{path.relative_to(ROOT)}:{line} imports {sorted(extra)} from {module}")
    return found


def upward_imports(path: Path) -> list[str]:
    """Where a module imports a module of a higher layer."""
    here = module_of(path)
    found = []
    for module, names, line in imports(ast.parse(path.read_text(encoding="utf-8"))):
        for target in leaderboard_targets(module, names):
            if HEIGHT[target] > HEIGHT[here]:
                found.append(f"{path.relative_to(ROOT)}:{line} imports {target}, a layer up")
    return found


# Where ``leaderboard/__init__.py``'s docstring maps each layer: the paragraph that opens so.
MAP_HEADINGS = {"entry": "Entry points", "web": "The web:", "worker": "The worker:",
                "rules": "The rules:", "storage": "Storage:", "ground": "Ground:"}  # fmt: skip


def test_every_module_has_a_layer():
    assert {module_of(path) for path in sources()} == set(HEIGHT)


def test_the_package_docstring_maps_each_module_in_its_layer():
    """The map a newcomer reads and the layers checked here are the same."""
    import leaderboard

    paragraphs = leaderboard.__doc__.split("\n\n")
    for layer, heading in MAP_HEADINGS.items():
        (paragraph,) = [p for p in paragraphs if p.startswith(heading)]
        unmapped = [m for m in LAYERS[layer] if f"``{m}``" not in paragraph
                    and f"``{m}/``" not in paragraph]  # fmt: skip
        assert unmapped == [], f"{heading!r} of leaderboard/__init__.py does not name {unmapped}"


def test_only_the_web_layer_talks_http():
    """No rule, storage or worker module reads ``current_app`` or ``request`` or calls
    ``abort``: each takes the app (settings, clock, database) as an argument."""
    below = [path for path in sources() if module_of(path) not in WEB]
    assert [use for path in below for use in http_uses(path)] == []


def test_no_module_imports_a_higher_layer():
    assert [arrow for path in sources() for arrow in upward_imports(path)] == []


def module_graph(package: str) -> dict[str, set[str]]:
    """The import arrows between the modules of ``package`` made when they load (imports at the
    top of a module, not inside functions): the ones that can make an import cycle."""
    root = ROOT / package
    names = {
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
        for p in root.rglob("*.py")
    }
    graph = {}
    for name, path in names.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        targets = set()
        for node in tree.body:
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                # ``from package import module`` reaches the module; ``from module import name``
                # the module itself
                for alias in node.names:
                    submodule = f"{node.module}.{alias.name}"
                    targets.add(submodule if submodule in names else node.module)
        graph[name] = {t for t in targets if t in names and t != name}
    return graph


def cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of ``graph`` (its modules in order), or [] when there is none."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = "open"
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return path[path.index(target) :] + [target]
            if target not in state and (found := visit(target)):
                return found
        state[node] = "done"
        path.pop()
        return []

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return []


def test_cycle_finds_a_loop_and_only_a_loop():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


@pytest.mark.parametrize("package", ["challenge", "baselines", "leaderboard", "exercises"])
def test_no_import_cycle(package):
    assert cycle(module_graph(package)) == []


def test_baselines_models_never_import_the_report():
    graph = module_graph("baselines")
    models = [name for name in graph if name.startswith("baselines.models")]
    assert models and not any("baselines.report" in graph[name] for name in models)
