"""The package's layers import only downward (tensors <- nn <- model; data never imports model)."""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "ictp_calc"

# Subpackage -> subpackages of ictp_calc it must never import.
TOP = {"ipi", "lammps", "predict", "inference"}  # capabilities built on the model: never imported below it
FORBIDDEN = {
    "tensors": TOP | {"nn", "model", "data", "io", "calculator", "training", "cli", "md"},
    "nn": TOP | {"model", "data", "io", "calculator", "training", "cli", "md"},
    "model": TOP | {"io", "calculator", "training", "cli", "md"},
    "data": TOP | {"model", "nn", "io", "calculator", "training", "cli", "md"},
    "io": TOP | {"calculator", "training", "cli", "md"},
    "md": {"training", "cli", "ipi", "lammps"},
    "ipi": {"training", "cli", "lammps"},
    "lammps": {"training", "cli", "md", "calculator", "ipi"},
    "predict": {"calculator", "training", "cli", "md", "ipi", "lammps"},
    "inference": {"io", "calculator", "training", "cli", "md", "ipi", "lammps", "predict"},
}


def _imported_subpackages(path: pathlib.Path):
    """First-level ``ictp_calc`` subpackages that ``path`` imports (relative imports resolved)."""
    package = ["ictp_calc", *path.relative_to(PACKAGE).parts[:-1]]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            names = base + (node.module.split(".") if node.module else [])
            if node.level and not node.module:  # ``from . import x``: x is a module of base
                names = base + [node.names[0].name]
        elif isinstance(node, ast.Import):
            names = node.names[0].name.split(".")
        else:
            continue
        if len(names) > 1 and names[0] == "ictp_calc":
            yield names[1]


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layers_import_only_downward(layer):
    files = sorted((PACKAGE / layer).rglob("*.py"))
    assert files, f"no files in ictp_calc/{layer}"
    for path in files:
        bad = set(_imported_subpackages(path)) & FORBIDDEN[layer]
        assert not bad, f"{path.relative_to(PACKAGE.parent)} imports {sorted(bad)}"


MAX_FUNCTION_LINES = 80  # docstring included; a longer function reads better split


def test_no_library_function_is_longer_than_80_lines():
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n_lines = node.end_lineno - node.lineno + 1
                if n_lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({n_lines} lines)")
    assert not long, long


def test_no_private_attributes_of_torch_objects():
    """Schedulers and optimizers are used through their public API (``scheduler._last_lr`` broke once)."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and isinstance(node.value, ast.Attribute) and node.value.attr in ("scheduler", "optimizer")):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno} .{node.value.attr}.{node.attr}")
    assert not offenders, offenders
