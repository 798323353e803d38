"""The README's 'Translate between your own two models' example runs as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Translate between your own two models"


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    assert SECTION in text, f"README.md has no section {SECTION!r}"
    after = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", after, flags=re.S)
    assert blocks, "the section has no ```python block"
    return blocks[0]


def test_example_is_about_ten_lines():
    lines = [line for line in readme_example().splitlines() if line.strip()]
    assert len(lines) <= 12, lines


def test_readme_example_runs_as_written(tmp_path):
    code = readme_example()
    check = (
        "\nassert tuple(y_new.shape) == (15, 6), y_new.shape"
        "\nassert n2n.history.loss[-1] < n2n.history.loss[0]"
        "\nassert all(not p.requires_grad for p in encoder_a.parameters())"
        "\nprint('README example ok')\n"
    )
    script = tmp_path / "example.py"
    script.write_text(code + check)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "README example ok" in done.stdout
