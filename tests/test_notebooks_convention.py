"""Every course notebook follows the conventions of DESIGN.md ("Notebooks").

* The first code cell does the set-up: imports, ``settings.seed_everything(...)``,
  ``device = settings.device()`` and ``FAST = settings.FAST``.
* Notebooks use the library; they define no classes (in particular none that the library
  already provides under the same name).
* Notebooks stay light: well under 1 MB each, so that they load quickly on the web.
* Markdown cells stay short (at most 150 words of prose; a formula or a code span counts as
  one word), so that the story reads claim → run → see → measure → takeaway in small steps.

The checker is tested on small notebooks built with nbformat, so that it is known to catch
what it is meant to catch.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9]*.ipynb"))
MAX_BYTES = 1_000_000
MAX_WORDS = 150


def library_classes(package_dir: Path = ROOT / "n2nlib") -> dict[str, str]:
    """Public class names defined anywhere in the library, mapped to their module.

    Read from the source with :mod:`ast`, so that no (possibly heavy) module is imported.
    """
    found: dict[str, str] = {}
    for path in sorted(package_dir.rglob("*.py")):
        module = ".".join(path.relative_to(package_dir.parent).with_suffix("").parts)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                found.setdefault(node.name, module)
    return found


def _parse(source: str) -> ast.Module:
    # IPython magics and shell escapes are not Python; blank them out (keeping line numbers)
    lines = ["" if line.lstrip().startswith(("%", "!")) else line
             for line in source.splitlines()]
    return ast.parse("\n".join(lines))


def _name(node: ast.AST) -> str | None:
    """``f`` for ``f(...)`` and ``a.b.f(...)``; the attribute or name for other nodes."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return None


def _assigns(tree: ast.Module, target: str) -> list[ast.AST]:
    values = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            if any(isinstance(t, ast.Name) and t.id == target for t in node.targets):
                values.append(node.value)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if node.target.id == target and node.value is not None:
                values.append(node.value)
    return values


def first_cell_problems(nb: nbformat.NotebookNode) -> list[str]:
    """What the first code cell lacks of the set-up convention (empty list: nothing)."""
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    if not code:
        return ["the notebook has no code cell"]
    try:
        tree = _parse(code[0].source)
    except SyntaxError as err:
        return [f"the first code cell does not parse: {err}"]
    problems = []
    imports = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
    if not any(isinstance(n, ast.ImportFrom) and (n.module or "").split(".")[0] == "n2nlib"
               or isinstance(n, ast.Import) and any(a.name.split(".")[0] == "n2nlib"
                                                    for a in n.names)
               for n in imports):
        problems.append("the first code cell does not import from n2nlib")
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    if not any(_name(c) == "seed_everything" for c in calls):
        problems.append("the first code cell does not seed (settings.seed_everything(...))")
    if not any(isinstance(v, ast.Call) and _name(v) == "device" for v in _assigns(tree, "device")):
        problems.append("the first code cell does not set device = settings.device()")
    if not any(_name(v) in {"FAST", "is_fast"} for v in _assigns(tree, "FAST")):
        problems.append("the first code cell does not set FAST = settings.FAST")
    return problems


def class_problems(nb: nbformat.NotebookNode, known: dict[str, str]) -> list[str]:
    """Class definitions in any code cell (the library's classes are to be imported)."""
    problems = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        try:
            tree = _parse(cell.source)
        except SyntaxError as err:
            problems.append(f"cell {index} does not parse: {err}")
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                if node.name in known:
                    problems.append(f"cell {index} redefines class {node.name}, which the "
                                    f"library provides in {known[node.name]}: import it")
                else:
                    problems.append(f"cell {index} defines class {node.name}: notebooks define "
                                    f"no classes (put it in the library)")
    return problems


def prose_words(markdown: str) -> int:
    """Words of prose in a markdown cell: display math is left out, inline math and code
    spans count as one word each."""
    text = re.sub(r"\$\$.*?\$\$", " ", markdown, flags=re.S)
    text = re.sub(r"\$[^$]*\$|`[^`]*`", " X ", text)
    return len(re.findall(r"[A-Za-z0-9]\S*", text))


def long_markdown_problems(nb: nbformat.NotebookNode, limit: int = MAX_WORDS) -> list[str]:
    """Markdown cells with more than ``limit`` words of prose."""
    return [f"markdown cell {i} has {n} words (at most {limit}): split it"
            for i, cell in enumerate(nb.cells) if cell.cell_type == "markdown"
            and (n := prose_words(cell.source)) > limit]


def check_notebook(nb: nbformat.NotebookNode, known: dict[str, str]) -> list[str]:
    """All convention problems of one notebook."""
    return first_cell_problems(nb) + class_problems(nb, known) + long_markdown_problems(nb)


# -- the real notebooks ----------------------------------------------------------------------


def test_course_has_notebooks():
    assert NOTEBOOKS, "no numbered notebooks found in notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_follows_the_conventions(path):
    nb = nbformat.read(path, as_version=4)
    assert check_notebook(nb, library_classes()) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_light_and_has_outputs(path):
    assert path.stat().st_size < MAX_BYTES, f"{path.name} is over 1 MB: shrink its figures"
    nb = nbformat.read(path, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    # committed with the outputs of a run: every code cell was executed
    assert all(cell.execution_count for cell in code), f"{path.name} has unexecuted cells"


# -- the checker itself, on fake notebooks ---------------------------------------------------

GOOD_FIRST_CELL = """\
%matplotlib inline
import torch
from n2nlib import ConditionalINN, settings

settings.seed_everything(0)
device = settings.device()
FAST = settings.FAST
steps = settings.pick(full=1000, fast=50)
"""


def _notebook(*sources: str, markdown_first: bool = True) -> nbformat.NotebookNode:
    cells = [nbformat.v4.new_markdown_cell("# A notebook")] if markdown_first else []
    cells += [nbformat.v4.new_code_cell(s) for s in sources]
    return nbformat.v4.new_notebook(cells=cells)


KNOWN = {"ConditionalINN": "n2nlib.flows.cinn", "ActNorm": "n2nlib.flows.actnorm"}


def test_checker_counts_prose_not_formulas():
    formula = "$$ " + " + ".join(f"x_{i}" for i in range(300)) + " $$"
    assert prose_words(f"We fit `fit(tau, pairs)` to $x$.\n\n{formula}") == 5
    nb = _notebook(GOOD_FIRST_CELL)
    nb.cells.append(nbformat.v4.new_markdown_cell(formula + " word" * 150))
    assert check_notebook(nb, KNOWN) == []
    nb.cells.append(nbformat.v4.new_markdown_cell("word " * 151))
    assert check_notebook(nb, KNOWN) == ["markdown cell 3 has 151 words (at most 150): split it"]


def test_checker_accepts_a_good_notebook():
    nb = _notebook(GOOD_FIRST_CELL, "x = torch.randn(3, 2)\ndef helper(a):\n    return a")
    assert check_notebook(nb, KNOWN) == []


@pytest.mark.parametrize(
    ("remove", "complaint"),
    [
        ("settings.seed_everything(0)\n", "seed"),
        ("device = settings.device()\n", "device"),
        ("FAST = settings.FAST\n", "FAST"),
        ("from n2nlib import ConditionalINN, settings\n", "import from n2nlib"),
    ],
)
def test_checker_flags_a_first_cell_without_setup(remove, complaint):
    nb = _notebook(GOOD_FIRST_CELL.replace(remove, ""), "x = 1")
    problems = check_notebook(nb, KNOWN)
    assert len(problems) == 1 and complaint in problems[0]


def test_checker_wants_the_setup_in_the_first_code_cell():
    late = _notebook("import torch", GOOD_FIRST_CELL)
    assert len(first_cell_problems(late)) == 4  # import, seed, device and FAST come too late
    assert first_cell_problems(_notebook()) == ["the notebook has no code cell"]


def test_checker_is_not_fooled_by_lookalikes():
    # a string or comment mentioning the names is not the set-up
    fake = _notebook('import n2nlib\n# settings.seed_everything(0)\nFAST = "settings.FAST"\n'
                     'device = "cpu"\n')
    assert len(first_cell_problems(fake)) == 3


def test_checker_flags_a_class_that_shadows_the_library():
    nb = _notebook(GOOD_FIRST_CELL, "import torch.nn as nn\n\nclass ConditionalINN(nn.Module):\n"
                                    "    pass\n")
    problems = check_notebook(nb, KNOWN)
    assert len(problems) == 1
    assert "ConditionalINN" in problems[0] and "n2nlib.flows.cinn" in problems[0]


def test_checker_flags_any_class_even_nested():
    nb = _notebook(GOOD_FIRST_CELL, "def make():\n    class Helper:\n        pass\n"
                                    "    return Helper")
    problems = class_problems(nb, KNOWN)
    assert len(problems) == 1 and "Helper" in problems[0]


def test_checker_reports_cells_that_do_not_parse():
    nb = _notebook(GOOD_FIRST_CELL, "def broken(:\n")
    assert "does not parse" in check_notebook(nb, KNOWN)[0]


def test_library_classes_are_found_from_source():
    known = library_classes()
    assert known["ConditionalINN"] == "n2nlib.flows.cinn"
    assert "RingModes" in known and "_PeakRSS" not in known
