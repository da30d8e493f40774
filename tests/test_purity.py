"""The libraries stay pure: no I/O, flags, printing, plotting or global jax config."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LIBRARIES = ("cnn_layers", "volterra_jax", "analytic_jax", "scattering_jax", "decoding_jax")
FORBIDDEN_CALLS = {"print", "open", "input", "breakpoint"}
FORBIDDEN_MODULES = (
    "absl",
    "matplotlib",
    "experiments",
    "ml_collections",
    "orbax",
    "pickle",
    "kymatio",
    "torch",
    "os",
    "pathlib",
    "shutil",
    "tempfile",
    "subprocess",
)
FORBIDDEN_ATTRS = {
    ("config", "update"),
    ("jax", "pmap"),
    ("jax", "tree_map"),
    ("np", "save"),
    ("np", "load"),
    ("np", "savez"),
}


def _sources():
    files = [p for lib in LIBRARIES for p in sorted((ROOT / lib).rglob("*.py"))]
    assert len(files) >= len(LIBRARIES)
    return files


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_library_module_is_pure(path):
    tree = ast.parse(path.read_text())
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in FORBIDDEN_CALLS:
                problems.append(f"line {node.lineno}: calls {node.func.id}()")
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if (node.value.id, node.attr) in FORBIDDEN_ATTRS:
                problems.append(f"line {node.lineno}: uses {node.value.id}.{node.attr}")
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                names = [node.module or ""]
            for name in names:
                if name.split(".")[0] in FORBIDDEN_MODULES:
                    problems.append(f"line {node.lineno}: imports {name}")
    assert not problems, f"{path.relative_to(ROOT)} is not pure: {problems}"


@pytest.mark.parametrize("lib", LIBRARIES)
def test_library_exports(lib):
    import importlib

    module = importlib.import_module(lib)
    assert module.__version__
    assert "__version__" in module.__all__
    for name in module.__all__:
        assert hasattr(module, name), f"{lib}.__all__ names {name}, which does not exist"
