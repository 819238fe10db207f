"""The layering in DESIGN.md: imports only point downward, and only tui/ imports Textual."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support.cli import ROOT, run_python

# package -> first-party packages it must never import (directly or lazily inside a function)
FORBIDDEN = {
    "config": {"agent", "audio", "vision", "tui", "server", "textual"},
    "audio": {"agent", "vision", "tui", "server", "textual"},
    "vision": {"agent", "audio", "tui", "server", "textual"},
    "agent": {"tui", "server", "textual"},
    # The HTTP service is an interface beside the TUI: it uses the agent, never the TUI.
    "server": {"tui", "textual"},
}


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def _imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, relative imports resolved (``from . import x`` counts as
    importing both the package and ``package.x``)."""
    package = list(path.relative_to(ROOT).with_suffix("").parts[:-1])
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            modules.add(module)
            modules.update(f"{module}.{alias.name}" for alias in node.names)
    return modules


def test_no_module_of_tui_imports_the_entry_point_back() -> None:
    """tui.cli runs the commands and the app; none of them imports it (no import circle)."""
    entry = ROOT / "tui" / "cli.py"
    offenders = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "tui").rglob("*.py"))
        if path != entry and "tui.cli" in _imported_modules(path)
    ]
    assert not offenders, f"these import tui.cli: {offenders}"


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_upward_or_textual_imports(package: str) -> None:
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = _imported_roots(path) & FORBIDDEN[package]
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not offenders, "\n".join(offenders)


def test_importing_every_core_module_loads_no_textual() -> None:
    """Import every module of layers 1-3 in a fresh interpreter; Textual must stay unloaded."""
    modules = []
    for package in ("config", "agent", "audio", "vision"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            modules.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "loaded = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(loaded)\n"
        "sys.exit(1 if loaded else 0)\n"
    )
    result = run_python("-c", code, timeout_s=240)
    assert result.returncode == 0, result.stdout + result.stderr


def test_termmate_serve_loads_no_textual() -> None:
    """Every module `termmate serve` runs (the command line, the service, the agent) imports
    without Textual: a headless box serving HTTP needs no terminal UI."""
    modules = ["tui.cli", "tui._serve", "tui._output", "tui._logging", "agent.companion"]
    for path in sorted((ROOT / "server").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        modules.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "import tui.cli\n"
        "tui.cli.build_parser().parse_args(['serve', '--port', '0'])\n"
        "loaded = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(loaded)\n"
        "sys.exit(1 if loaded else 0)\n"
    )
    result = run_python("-c", code, timeout_s=240)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_cli_entry_point_is_light() -> None:
    """`termmate` must be able to paint before LangGraph, llama.cpp or mem0 are imported."""
    code = (
        "import sys, tui.cli, tui.app, agent, agent.events\n"
        "heavy = [m for m in ('langgraph', 'llama_cpp', 'mem0', 'qdrant_client') "
        "if m in sys.modules]\n"
        "print(heavy); sys.exit(1 if heavy else 0)\n"
    )
    result = run_python("-c", code)
    assert result.returncode == 0, result.stdout + result.stderr
