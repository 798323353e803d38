"""The shape of the house: arrows point one way, files stay small, nothing imports by name.

Each module of ``n2nlib`` belongs to one layer of :data:`LAYERS`; a module may import from its
own layer and the layers above it in the list (the lower, more basic ones), never from a layer
further down. Imports inside functions count as much as those at the top of a file, and so do
the ``"module:attribute"`` strings of the allow-listed tables that import by name.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "n2nlib"

LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("basics", ("n2nlib.settings", "n2nlib._checks", "n2nlib._batched", "n2nlib.testing",
                "n2nlib.checkpoint")),
    ("flows", ("n2nlib.flows",)),
    ("data", ("n2nlib.data",)),
    ("experts", ("n2nlib.experts",)),
    ("metrics", ("n2nlib.metrics",)),
    ("translators", ("n2nlib.translators",)),
    ("training", ("n2nlib.encoding", "n2nlib.cache", "n2nlib.step", "n2nlib.train")),
    ("net2net", ("n2nlib.net2net", "n2nlib.baselines")),
    ("nets", ("n2nlib.nets",)),
    ("zoo", ("n2nlib.zoo",)),
    ("course", ("n2nlib.course",)),
    ("entry points", ("n2nlib.cli", "n2nlib")),
]
"""Layers from the most basic to the most specific (see DESIGN.md, "Shape of the repository")."""

MAX_LINES = 650
"""No library file is longer than this (~600 lines: one job per file)."""

NAME_TABLES = {
    "n2nlib/__init__.py",  # _LAZY: the public contract's heavier names, imported on first use
    "n2nlib/experts/__init__.py",  # _LAZY: the text experts (transformers) on first use
    "n2nlib/experts/base.py",  # _REGISTRY: the named experts of configs and the CLI
    "n2nlib/zoo/__init__.py",  # ARCHITECTURES: the classes a registry may name
}
"""The only files that import by name (``importlib.import_module``), each through a table."""


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _layer(module: str) -> int:
    best, best_len = None, -1
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = i, len(prefix)
    if best is None:
        raise AssertionError(f"{module} belongs to no layer of tests/test_layout.py: add it")
    return best


def _imports(module: str) -> set[str]:
    """Every n2nlib module ``module`` imports, at any depth of its code or in a name table."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("n2nlib")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            if not base.startswith("n2nlib"):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in MODULES else base)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = re.fullmatch(r"(n2nlib(?:\.\w+)*):\w+", node.value)
            if match:
                found.add(match.group(1))
    if module in found:
        found.remove(module)
    return found


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_to_more_basic_layers(module):
    own = _layer(module)
    upward = sorted(dep for dep in _imports(module) if dep in MODULES and _layer(dep) > own)
    assert not upward, (f"{module} (layer {LAYERS[own][0]!r}) imports {upward} from a layer "
                        f"below it in tests/test_layout.py")


def test_the_layer_check_sees_imports_inside_functions_and_name_tables(tmp_path):
    # a check that cannot fail is no check: the zoo's table names the nets, a function of the
    # course imports the zoo, and the package's facade imports the zoo
    assert "n2nlib.nets.autoencoder" in _imports("n2nlib.zoo")
    assert "n2nlib.zoo" in _imports("n2nlib.course.diagnosis")
    assert _layer("n2nlib.zoo") > _layer("n2nlib.nets") > _layer("n2nlib.experts")
    assert _layer("n2nlib.nets.blocks") == _layer("n2nlib.nets")


def test_experts_never_name_the_zoo_nets_or_course():
    for module in MODULES:
        if module.startswith("n2nlib.experts"):
            named = {dep for dep in _imports(module)
                     if dep.startswith(("n2nlib.zoo", "n2nlib.nets", "n2nlib.course"))}
            assert not named, f"{module} names {sorted(named)}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_library_files_stay_small(module):
    lines = MODULES[module].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{MODULES[module]} has {lines} lines (> {MAX_LINES}): split it"


def test_only_the_name_tables_import_by_name():
    users = {str(p.relative_to(ROOT.parent)) for p in MODULES.values()
             if "import_module(" in p.read_text(encoding="utf-8")
             or "__import__(" in p.read_text(encoding="utf-8")}
    assert users <= NAME_TABLES, f"importing by name outside the tables: {users - NAME_TABLES}"


def test_the_zoo_table_names_only_architectures_that_exist():
    from n2nlib import zoo

    for name, spec in zoo.ARCHITECTURES.items():
        cls = zoo._import_class(name)
        assert spec == f"{cls.__module__}:{cls.__qualname__}"
        assert zoo.architecture_name(cls) == name
