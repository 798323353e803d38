"""The ways to install n2nlib stay in step.

pyproject.toml (dependencies + the ``dev`` extra), environment.yml and binder/environment.yml must
name the same packages; requirements/torch.txt pins torch and the environment files use the same
pin; binder/postBuild installs the library; the README's Quick start has exactly two commands, and
.ci/run runs the README's test command from a fresh environment.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
ENV_FILES = ("environment.yml", "binder/environment.yml")
# Named in the conda part of an environment file, not pip packages of the project.
CONDA_ONLY = {"python", "pip"}
README_COMMANDS = ["make course", "make test"]


# ----------------------------------------------------------------------------------- helpers


def normalize(name: str) -> str:
    """Lowercase a distribution name and unify ``-``, ``_`` and ``.`` (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name.strip()).lower()


def requirement_name(line: str) -> str | None:
    """The normalised package name of a requirement line, or None for options and comments.

    ``"Scikit_Learn[extra]>=1.3 ; python_version>'3'"`` -> ``"scikit-learn"``;
    ``"--extra-index-url URL"``, ``"-e ."`` and ``"# note"`` -> None.
    """
    line = line.split("#", 1)[0].strip()
    if not line or line.startswith("-"):
        return None
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line)
    if match is None:
        raise ValueError(f"cannot read a package name from requirement {line!r}")
    return normalize(match.group(0))


def pyproject_requirements(data: dict) -> dict[str, str]:
    """name -> requirement string, for the runtime dependencies and the ``dev`` extra."""
    project = data["project"]
    lines = list(project["dependencies"]) + list(project["optional-dependencies"]["dev"])
    out: dict[str, str] = {}
    for line in lines:
        name = requirement_name(line)
        if name is not None:
            out.setdefault(name, line)
    return out


def conda_env_requirements(data: dict) -> dict[str, str]:
    """name -> requirement string: the pip section, and conda packages but python and pip."""
    out: dict[str, str] = {}
    for dep in data.get("dependencies") or []:
        if isinstance(dep, dict):
            for line in dep.get("pip") or []:
                name = requirement_name(line)
                if name is not None:
                    out[name] = line
        else:
            # conda spec "numpy>=1.24" or "conda-forge::numpy=1.24"
            spec = str(dep).split("::")[-1]
            name = requirement_name(spec.split("=")[0].split("<")[0].split(">")[0])
            if name is not None and name not in CONDA_ONLY:
                out[name] = spec
    return out


def conda_pip_lines(data: dict) -> list[str]:
    """The raw lines of an environment file's pip section."""
    for dep in data.get("dependencies") or []:
        if isinstance(dep, dict) and "pip" in dep:
            return [str(line).strip() for line in dep["pip"]]
    return []


def compare_name_sets(named: dict[str, set[str]]) -> list[str]:
    """Describe, for each source, the names every other source has and it lacks.

    Returns an empty list when all sources name the same set.
    """
    everything = set().union(*named.values()) if named else set()
    problems = []
    for source, names in named.items():
        missing = sorted(everything - names)
        if missing:
            having = {n: sorted(s for s, ns in named.items() if n in ns) for n in missing}
            problems.append(
                f"{source} lacks "
                + ", ".join(f"{n} (named in {', '.join(having[n])})" for n in missing)
            )
    return problems


def readme_quickstart_commands(markdown: str) -> list[str]:
    """The command lines of the first fenced code block under the 'Quick start' heading."""
    heading = re.search(r"^#{1,6}\s*Quick start\s*$", markdown, flags=re.MULTILINE | re.IGNORECASE)
    if heading is None:
        raise ValueError("README has no 'Quick start' heading")
    block = re.search(r"^```[^\n]*\n(.*?)^```", markdown[heading.end() :], re.MULTILINE | re.DOTALL)
    if block is None:
        raise ValueError("README's Quick start section has no fenced code block")
    lines = [line.strip() for line in block.group(1).splitlines()]
    return [line.removeprefix("$ ") for line in lines if line and not line.startswith("#")]


def shell_command_lines(script: str) -> list[str]:
    """The non-empty, non-comment lines of a shell script, stripped."""
    lines = []
    for raw in script.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def load_yaml(rel: str) -> dict:
    return yaml.safe_load((ROOT / rel).read_text(encoding="utf-8"))


def load_pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


PINNED = ("torch", "torchvision")
"""Installed first and pinned by requirements/torch.txt (a matching pair of builds)."""


def torch_pins() -> dict[str, str]:
    """name -> requirement line of requirements/torch.txt (torch and torchvision)."""
    lines = shell_command_lines((ROOT / "requirements" / "torch.txt").read_text(encoding="utf-8"))
    pins = {requirement_name(line): line for line in lines}
    assert sorted(pins) == sorted(PINNED) and len(lines) == len(PINNED), (
        f"requirements/torch.txt must pin exactly {PINNED}, has {lines}")
    return pins


# ------------------------------------------------------------------------ the helpers themselves


def test_normalize_and_requirement_name():
    assert normalize("Scikit_Learn") == "scikit-learn"
    assert normalize("ruamel.yaml") == "ruamel-yaml"
    assert requirement_name("Scikit_Learn[extra]>=1.3 ; python_version>'3'") == "scikit-learn"
    assert requirement_name("FrEIA==0.2") == "freia"
    assert requirement_name("torch==2.13.0  # pinned") == "torch"
    assert requirement_name("--extra-index-url https://example.invalid/simple") is None
    assert requirement_name("-e .") is None
    assert requirement_name("# just a comment") is None


def test_compare_name_sets_detects_a_package_named_in_one_place_only():
    same = {"a": {"numpy", "torch"}, "b": {"torch", "numpy"}}
    assert compare_name_sets(same) == []

    added = {
        "pyproject": {"numpy", "torch", "einops"},
        "env": {"numpy", "torch"},
        "binder": {"numpy", "torch"},
    }
    problems = compare_name_sets(added)
    assert len(problems) == 2
    assert all("einops (named in pyproject)" in p for p in problems)
    assert problems[0].startswith("env lacks") and problems[1].startswith("binder lacks")

    removed = {"pyproject": {"numpy"}, "env": {"numpy", "scipy"}}
    assert compare_name_sets(removed) == ["pyproject lacks scipy (named in env)"]


def test_conda_env_requirements_reads_pip_section_and_conda_packages():
    env = {
        "dependencies": [
            "python=3.11",
            "pip",
            "conda-forge::numpy>=1.24",
            {"pip": ["--extra-index-url https://example.invalid/simple", "Torch==2.13.0", "-e ."]},
        ]
    }
    assert conda_env_requirements(env) == {"numpy": "numpy>=1.24", "torch": "Torch==2.13.0"}


def test_readme_quickstart_parser_sees_every_command():
    md = (
        "# T\n\n## Quick start\n\ntext\n\n"
        "```bash\n# note\nmake course\n$ make test\nmake lint\n```\n"
        "\n## Later\n\n```bash\nmake other\n```\n"
    )
    assert readme_quickstart_commands(md) == ["make course", "make test", "make lint"]
    with pytest.raises(ValueError):
        readme_quickstart_commands("# T\n\n```bash\nmake test\n```\n")


# ------------------------------------------------------------------------- the real files


def test_pyproject_and_environment_files_name_the_same_packages():
    named = {"pyproject.toml [dependencies + dev]": set(pyproject_requirements(load_pyproject()))}
    for rel in ENV_FILES:
        named[rel] = set(conda_env_requirements(load_yaml(rel)))
    problems = compare_name_sets(named)
    assert not problems, "\n".join(problems)


def test_environment_files_use_pyprojects_version_bounds():
    """Same bounds as pyproject.toml for every package but torch (pinned, checked below)."""
    expected = pyproject_requirements(load_pyproject())
    for rel in ENV_FILES:
        for name, line in conda_env_requirements(load_yaml(rel)).items():
            if name in PINNED:
                continue
            got = Requirement(line).specifier
            want = Requirement(expected[name]).specifier
            assert got == want, f"{rel}: {line!r} but pyproject.toml has {expected[name]!r}"


def test_binder_environment_matches_the_root_one():
    root, binder = load_yaml("environment.yml"), load_yaml("binder/environment.yml")
    assert binder["name"] == root["name"] == "n2nlib"
    assert binder["channels"] == root["channels"]
    conda = [d for d in root["dependencies"] if not isinstance(d, dict)]
    assert [d for d in binder["dependencies"] if not isinstance(d, dict)] == conda
    assert any(str(d).startswith("python") for d in conda)

    def packages(data):
        return [line for line in conda_pip_lines(data) if requirement_name(line) is not None]

    assert packages(binder) == packages(root)
    # The root file installs the library itself; Binder does it in postBuild instead.
    assert "-e ." in conda_pip_lines(root)


def test_torch_is_pinned_in_one_place_and_used_everywhere():
    pins = torch_pins()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name, pin in pins.items():
        req = Requirement(pin)
        specs = list(req.specifier)
        assert len(specs) == 1 and specs[0].operator == "==", (
            f"{name} must be pinned with ==, got {pin!r}"
        )
        version = specs[0].version
        for rel in ENV_FILES:
            line = conda_env_requirements(load_yaml(rel))[name]
            assert Requirement(line).specifier == req.specifier, f"{rel} has {line!r}, not {pin!r}"
        # The library's own range admits the pinned version, so pip keeps it.
        lib = Requirement(pyproject_requirements(load_pyproject())[name])
        assert lib.specifier.contains(version), f"pyproject's {lib} excludes the pinned {version}"
        assert pin in readme, f"README must state the pin {pin!r}"


def test_binder_postbuild_installs_the_package():
    path = ROOT / "binder" / "postBuild"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("#!"), "postBuild needs a shebang"
    assert os.access(path, os.X_OK), "binder/postBuild must be executable"
    lines = shell_command_lines(text)
    assert any(re.search(r"\bpip install\b.*\s-e\s+\.(\s|$)", line) for line in lines), lines


def test_readme_has_exactly_the_two_commands():
    commands = readme_quickstart_commands((ROOT / "README.md").read_text(encoding="utf-8"))
    assert commands == README_COMMANDS


def test_ci_runs_the_readmes_test_command_from_scratch():
    path = ROOT / ".ci" / "run"
    assert os.access(path, os.X_OK), ".ci/run must be executable"
    lines = shell_command_lines(path.read_text(encoding="utf-8"))
    assert "set -euo pipefail" in lines
    test_command = readme_quickstart_commands((ROOT / "README.md").read_text(encoding="utf-8"))[-1]
    assert test_command in lines, f".ci/run does not run the README's {test_command!r}"
    removes_venv = [i for i, line in enumerate(lines) if re.fullmatch(r"rm -rf \.venv/?", line)]
    assert removes_venv and removes_venv[0] < lines.index(test_command)


def test_package_version_matches_pyproject():
    init = ROOT / "n2nlib" / "__init__.py"
    if not init.exists():
        pytest.skip("n2nlib/__init__.py not there yet")
    version = None
    for node in ast.parse(init.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets
        ):
            version = ast.literal_eval(node.value)
    assert version == load_pyproject()["project"]["version"]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize(
    "torch_spec", [None, "torch==2.13.0 --index-url https://example.invalid/cu"]
)
def test_makefile_installs_torch_first_then_the_package(tmp_path, torch_spec):
    """Dry-run (make -n) the install into an empty venv path: the order of the steps."""
    cmd = ["make", "-n", "-C", str(ROOT), "test", f"VENV={tmp_path / 'venv'}"]
    env = {k: v for k, v in os.environ.items() if k not in {"TORCH_SPEC", "MAKEFLAGS"}}
    if torch_spec is not None:
        cmd.append(f"TORCH_SPEC={torch_spec}")
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    lines = out.splitlines()

    def first(pattern: str) -> int:
        hits = [i for i, line in enumerate(lines) if re.search(pattern, line)]
        assert hits, f"no line matches {pattern!r} in:\n{out}"
        return hits[0]

    venv = first(r"-m venv ")
    torch = first(
        r"pip install -r requirements/torch\.txt" if torch_spec is None else re.escape(torch_spec)
    )
    package = first(r"pip install -e \"?\.\[dev\]")
    pytest_run = first(r"/bin/python -m pytest")
    assert venv < torch < package < pytest_run
