"""The import graph keeps the layers apart: plugins use the API and the kit (and a declared parent), command
modules do not use each other, and the lower layers never reach up into the runner, the CLI or the plugins."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_FOLDERS = {"methods": "dfqbench.methods", "baselines": "dfqbench.baselines"}
PLUGIN_MAY_IMPORT = ("dfqbench.api", "dfqbench.config", "dfqbench.kit")


def imported_modules(path: Path) -> set[str]:
    """Every dfqbench module a file imports, at any depth of the file (lazy imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name.split(".")[0] in ("dfqbench", "methods", "baselines")}


def declared_parent(path: Path) -> str | None:
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "EXTENDS" for t in node.targets):
            return ast.literal_eval(node.value)
    return None


def plugin_files() -> list[Path]:
    return sorted(p for folder in PLUGIN_FOLDERS for p in (ROOT / folder).glob("*.py") if p.name != "__init__.py")


@pytest.mark.parametrize("path", plugin_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_plugin_imports_the_api_the_kit_and_at_most_its_declared_parent(path):
    parent = declared_parent(path)
    allowed = PLUGIN_MAY_IMPORT + ((f"{PLUGIN_FOLDERS[path.parent.name]}.{parent}",) if parent else ())
    for module in imported_modules(path):
        if module.split(".")[0] in ("methods", "baselines"):
            pytest.fail(f"{path.name} imports {module}: plugins install as dfqbench.methods/dfqbench.baselines")
        assert module == "dfqbench" or module.startswith(allowed), f"{path.name} imports {module}"


def test_only_declared_parents_are_imported_across_plugins():
    edges = {(p.stem, m.split(".")[2]) for p in plugin_files() for m in imported_modules(p)
             if m.startswith(("dfqbench.methods.", "dfqbench.baselines."))}
    assert edges == {("maskaq", "mimiq"), ("psaq_vit_v2", "psaq_vit")}


def test_no_command_module_imports_another_or_the_app():
    commands = sorted((ROOT / "dfqbench" / "cli").glob("*_cmd.py"))
    names = {f"dfqbench.cli.{p.stem}" for p in commands}
    for path in sorted((ROOT / "dfqbench" / "cli").glob("*.py")):
        imported = imported_modules(path)
        if path.stem.endswith("_cmd"):
            assert not (imported & names), f"{path.name} imports {imported & names}"
        if path.name not in ("__init__.py", "app.py"):
            assert not any(m.startswith("dfqbench.cli.app") for m in imported), f"{path.name} imports the app"


@pytest.mark.parametrize("layer", ["store", "quant", "data"])
def test_lower_layers_do_not_reach_up(layer):
    above = ("dfqbench.runner", "dfqbench.cli", "dfqbench.methods", "dfqbench.baselines", "methods", "baselines")
    for path in sorted((ROOT / "dfqbench" / layer).rglob("*.py")):
        bad = {m for m in imported_modules(path) if m.startswith(above)}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


@pytest.mark.parametrize("layer", ["tables", "plots", "report"])
def test_the_output_layers_do_not_import_the_cli(layer):
    """Tables, figures and the report are built from results alone; the CLI calls them, never the reverse."""
    for path in sorted((ROOT / "dfqbench" / layer).rglob("*.py")):
        bad = {m for m in imported_modules(path) if m.startswith("dfqbench.cli")}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"
