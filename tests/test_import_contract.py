"""Layers import only downwards (read from the source with ``ast``, so nothing is imported).

io -> annotation -> data -> models -> prediction -> qc -> families -> export ->
workflows -> fiji -> worker client -> doctor/demo -> cli -> worker server: a module may
import modules of its own package and of the layers before it, never one after it,
including imports inside functions. Imports under ``if TYPE_CHECKING:`` are for type
annotations only and do not count.
"""

import ast
from pathlib import Path

import pyfiji_dl

PACKAGE = Path(pyfiji_dl.__file__).parent

# Lowest first; a layer of several names may not import across them.
LAYERS = (
    ("__init__", "errors", "progress", "argtypes"),
    ("io",),
    ("annotation",),
    ("data",),
    ("models",),
    ("prediction",),
    ("qc",),
    ("families",),
    ("export",),             # a family's declaration says how its packages are described
    ("workflows",),
    ("fiji",),
    ("worker",),             # paths, protocol and the client that doctor and the command line use
    ("doctor", "demo"),
    ("command",),            # how every command ends: plain errors, Ctrl-C, exit codes
    ("cli", "cli_review"),
    ("worker.server",),      # the worker runs the command line's commands in its process
)
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
# the command line and its review commands are one layer in two files
SAME_LAYER_ALLOWED = {("cli", "cli_review"), ("cli_review", "cli")}


def _top_level(module: str) -> str:
    """The layer key of a module: ``pyfiji_dl.models.card`` -> ``models``, the package -> ``__init__``."""
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    if ".".join(parts[1:3]) in RANK:
        return ".".join(parts[1:3])
    return parts[1] if (PACKAGE / parts[1]).is_dir() or (PACKAGE / f"{parts[1]}.py").exists() else "__init__"


def _type_checking_nodes(tree) -> set:
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for child in ast.walk(node))
    return skipped


def imports_of(path: Path, text: str | None = None):
    """(line, imported module) for every pyfiji_dl import in ``path``, at any depth."""
    # the package a relative import starts from: the module's own package
    package_parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)[:-1]
    tree = ast.parse(path.read_text() if text is None else text, filename=str(path))
    skipped = _type_checking_nodes(tree)
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[: len(package_parts) - (node.level - 1)]
                if node.module:
                    yield node.lineno, ".".join(base + node.module.split("."))
                else:
                    for alias in node.names:
                        yield node.lineno, ".".join(base + [alias.name])
            elif node.module and node.module.split(".")[0] == "pyfiji_dl":
                yield node.lineno, node.module
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "pyfiji_dl":
                    yield node.lineno, alias.name


def test_every_package_is_in_a_layer():
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    assert packages | modules <= set(RANK), sorted((packages | modules) - set(RANK))
    assert all((PACKAGE / f"{key.replace('.', '/')}.py").exists() for key in RANK if "." in key)


def test_layers_import_only_downwards():
    violations = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = _top_level(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts))
        for line, target in imports_of(path):
            imported = _top_level(target)
            if imported == source or (source, imported) in SAME_LAYER_ALLOWED:
                continue
            if RANK[imported] >= RANK[source]:
                violations.append(f"{path.relative_to(PACKAGE.parent)}:{line} ({source}) imports {target} "
                                  f"({imported}, a layer {'above' if RANK[imported] > RANK[source] else 'beside'} it)")
    assert not violations, "\n".join(violations)


def test_the_checker_sees_imports_inside_functions_and_skips_type_checking():
    text = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..families import Family\n"
            "def f():\n    from ..models import card\n    from pyfiji_dl.cli import main\n    from . import tiff\n")
    found = [target for _, target in imports_of(PACKAGE / "io" / "probe.py", text)]
    assert found == ["pyfiji_dl.models", "pyfiji_dl.cli", "pyfiji_dl.io.tiff"]
    assert [_top_level(t) for t in found] == ["models", "cli", "io"]


def test_qc_only_measures_and_renders():
    """qc scores what it is given: it predicts nothing (no prediction or adapter import), the families do."""
    found = [f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}"
             for path in sorted((PACKAGE / "qc").rglob("*.py")) for line, target in imports_of(path)
             if _top_level(target) == "prediction"
             or (_top_level(target) == "models" and target != "pyfiji_dl.models.card")]
    assert found == []
