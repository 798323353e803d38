"""pytest set-up for the notebooks (run by nbval with ``--nbval-lax``).

The notebooks run in reduced mode under pytest: ``N2N_FAST=1`` is set here unless the caller
set ``N2N_FAST`` already (``N2N_FAST=0 pytest notebooks/`` runs the full experiments; expect
minutes per notebook). The kernels that nbval starts inherit this environment.
"""

from __future__ import annotations

import os

os.environ.setdefault("N2N_FAST", "1")
# the kernel's debugger otherwise warns about frozen modules on every start
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")


def pytest_collection_modifyitems(items):
    """Give the kernel 60 s, not nbval's fixed 5 s, to deliver a finished cell's last outputs.

    nbval waits that long for the kernel's output messages *after* a cell has finished; on a
    loaded 2-core machine a cell that trained for a minute can take longer than 5 s to flush
    them, and the cell then fails with "Timeout of 5 seconds exceeded waiting for output"
    although it ran. The cell timeout itself stays ``--nbval-cell-timeout``.
    """
    for item in items:
        if hasattr(item, "output_timeout"):
            item.output_timeout = 60
