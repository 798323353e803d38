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
