"""The layout rules of ``experiments/``: entry points never import entry points, and no
``run`` or ``compute`` function is longer than 80 lines."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "experiments"
MODULES = sorted(p for p in ROOT.rglob("*.py") if "notebooks" not in p.parts)


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)


def _is_entry_point(path: Path) -> bool:
    """An entry point launches itself: ``if __name__ == "__main__":``."""
    tree = ast.parse(path.read_text())
    return any(
        isinstance(node, ast.If)
        and isinstance(node.test, ast.Compare)
        and isinstance(node.test.left, ast.Name)
        and node.test.left.id == "__name__"
        for node in tree.body
    )


ENTRY_POINTS = {_module_name(p) for p in MODULES if _is_entry_point(p)}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def test_the_entry_points_are_found():
    expected = {"experiments.tour", "experiments.train_lenet", "experiments.decode_lenet"}
    assert expected <= ENTRY_POINTS
    assert "experiments.reports.tour" not in ENTRY_POINTS


@pytest.mark.parametrize("path", MODULES, ids=_module_name)
def test_no_module_imports_an_entry_point(path):
    imported = _imports(path) & ENTRY_POINTS
    assert not imported, f"{_module_name(path)} imports the entry point(s) {sorted(imported)}"


@pytest.mark.parametrize("path", MODULES, ids=_module_name)
def test_run_and_compute_are_short(path):
    _check_lengths(path)


def _check_lengths(path: Path) -> None:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef) and node.name in ("run", "compute"):
            length = node.end_lineno - node.lineno + 1
            assert length <= 80, f"{path.name}: {node.name} has {length} lines"


def test_the_rules_catch_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from experiments import tour\n"
        "def run():\n" + "    x = 1\n" * 81 + "\nif __name__ == '__main__':\n    run()\n"
    )
    assert _is_entry_point(bad)
    assert "experiments.tour" in _imports(bad) & ENTRY_POINTS
    with pytest.raises(AssertionError, match="has 82 lines"):
        _check_lengths(bad)
