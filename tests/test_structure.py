"""The shape of the code: rooms stay small, screens call the service only, and the
operations reach the store one way.  Each rule is read from the source, so a change
that breaks it fails here with the place named."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import connections_core
from connections_core import errors

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "connections_core"
CLASS_LINES = 450
FUNCTION_LINES = 80
SCREENS = [ROOT / "dashboard.py", *sorted((ROOT / "app_pages").glob("*.py")),
           *sorted((ROOT / "ui").glob("*.py"))]
CORE_MODULES = {module.name for module in pkgutil.iter_modules(connections_core.__path__)}


def _parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _sizes(path: Path) -> Iterator[tuple[str, str, int]]:
    """(kind, where, lines) of every class and function in ``path``."""
    for node in ast.walk(_parsed(path)):
        if isinstance(node, ast.ClassDef):
            yield "class", f"{path.relative_to(ROOT)}:{node.lineno} {node.name}", \
                (node.end_lineno or node.lineno) - node.lineno + 1
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield "function", f"{path.relative_to(ROOT)}:{node.lineno} {node.name}", \
                (node.end_lineno or node.lineno) - node.lineno + 1


def test_no_class_or_function_in_the_core_outgrows_a_sitting() -> None:
    too_long = [f"{where}: {kind} of {lines} lines"
                for path in sorted(CORE.rglob("*.py")) for kind, where, lines in _sizes(path)
                if lines > (CLASS_LINES if kind == "class" else FUNCTION_LINES)]
    assert too_long == [], (f"Classes stay within {CLASS_LINES} lines and functions within "
                            f"{FUNCTION_LINES}: split these into rooms of their own.")


def _core_imports(path: Path) -> Iterator[str]:
    """What ``path`` imports from connections_core other than the package's own names."""
    for node in ast.walk(_parsed(path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("connections_core."):
                    yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith("connections_core."):
                yield node.module
            elif node.module == "connections_core":
                yield from (f"connections_core.{alias.name}" for alias in node.names
                            if alias.name in CORE_MODULES)


def test_screens_call_the_package_never_its_modules() -> None:
    """The screens' reads pass the same access rule as the rest only if they go
    through the service: a screen that imports a core module could skip it."""
    found = [f"{path.relative_to(ROOT)} imports {name}"
             for path in SCREENS for name in _core_imports(path)]
    assert found == [], "Screens import `from connections_core import ...` names only."


def test_the_operations_never_import_a_store() -> None:
    """The service and its rooms reach the store only through the records; which store
    is open is connections_core.environment's business."""
    service = _parsed(CORE / "service.py")
    rooms = {node.module for node in ast.walk(service)
             if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module}
    stores = {"store", "postgres"}
    offenders = [f"{room}.py imports .{name}" for room in sorted(rooms | {"service"})
                 for node in ast.walk(_parsed(CORE / f"{room}.py"))
                 if isinstance(node, ast.ImportFrom) and node.level == 1
                 for name in [node.module or ""] if name in stores]
    assert offenders == []
    assert {"connections", "members", "checking", "local_models", "scope"} <= rooms


@pytest.mark.parametrize("name", sorted(CORE_MODULES - {"cli", "migrations", "__main__"}))
def test_the_drawing_of_the_error_tree_names_every_error(name: str) -> None:
    module = importlib.import_module(f"connections_core.{name}")
    raised = [cls.__name__ for _, cls in inspect.getmembers(module, inspect.isclass)
              if issubclass(cls, errors.ConnectionsError) and cls.__module__ == module.__name__]
    assert [cls for cls in raised if cls not in (errors.__doc__ or "")] == []


def test_test_modules_share_helpers_not_each_other() -> None:
    """Fixtures are registered once (conftest.py's pytest_plugins): a test module imports
    helpers from the support modules, never from conftest or another test module."""
    found = [f"{path.relative_to(ROOT)} imports {node.module}"
             for path in sorted((ROOT / "tests").glob("*.py"))
             for node in ast.walk(_parsed(path))
             if isinstance(node, ast.ImportFrom) and node.module
             and (node.module == "tests.conftest" or node.module.startswith("tests.test_"))]
    assert found == []
