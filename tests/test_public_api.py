"""Each lib module's public surface is exactly its `__all__`: nothing leaks by accident."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import lib

MODULES = sorted(info.name for info in pkgutil.walk_packages(lib.__path__, prefix="lib.") if not info.ispkg)
PACKAGES = sorted(info.name for info in pkgutil.walk_packages(lib.__path__, prefix="lib.") if info.ispkg)


def _top_level_public_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {name for name in names if not name.startswith("_")}


@pytest.mark.parametrize("name", MODULES)
def test_all_lists_exactly_the_public_names(name):
    module = importlib.import_module(name)
    assert sorted(module.__all__) == sorted(_top_level_public_names(Path(module.__file__)))


@pytest.mark.parametrize("name", PACKAGES)
def test_a_package_exports_only_names_its_modules_define(name):
    package = importlib.import_module(name)
    exported = getattr(package, "__all__", [])
    assert all(
        getattr(package, export).__module__.startswith(name)
        for export in exported
        if callable(getattr(package, export))
    )
    assert set(exported) <= set(vars(package))
