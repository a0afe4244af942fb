"""Imports run downward: roles/, qr/ and device_bridge/ reach no domain package.

The modules are parsed, not imported, so an import hidden inside a function
counts as much as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = "backend"


def imported_modules(source: str, package: tuple[str, ...]) -> set[str]:
    """Every module the source imports, relative imports resolved against its package."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else ()
            found.add(".".join((*base, *filter(None, [node.module]))))
    return found


def domain_imports(layer: str) -> set[tuple[str, str]]:
    return {
        (path.relative_to(ROOT).as_posix(), module)
        for path in sorted((ROOT / layer).rglob("*.py"))
        for module in imported_modules(path.read_text(encoding="utf-8"), path.relative_to(ROOT).parent.parts)
        if module == DOMAIN or module.startswith(DOMAIN + ".")
    }


@pytest.mark.parametrize("layer", ["roles", "qr", "device_bridge"])
def test_leaf_layer_imports_nothing_from_backend(layer: str) -> None:
    assert list((ROOT / layer).rglob("*.py")), f"{layer}/ has no modules: wrong root?"
    assert domain_imports(layer) == set()


def test_parser_sees_nested_and_relative_imports() -> None:
    source = (
        "def f():\n"
        "    from backend.registry import enums\n"
        "    import backend.db\n"
        "from ..backend import keys\n"
        "from . import masking\n"
    )
    assert imported_modules(source, ("roles", "sub")) == {
        "backend.registry",
        "backend.db",
        "roles.backend",
        "roles.sub",
    }
