"""The target autoencoder of a trial: the notebook's, or the one the environment names.

``TARGET`` (a zoo name) and ``TARGET_ZOO`` (the zoo folder it is in) replace it, e.g. with an
autoencoder trained by ``python -m n2nlib.zoo train NAME --out FOLDER``::

    TARGET=shapes-ae-swap TARGET_ZOO=/work/runs/zoo-swap python benchmarks/trials_issue20/...
"""
import os

from n2nlib import zoo


def target_autoencoder(default: str):
    """The zoo autoencoder named by ``$TARGET`` in ``$TARGET_ZOO``, else ``default``."""
    name = os.environ.get("TARGET", default)
    ae = zoo.load(name, root=os.environ.get("TARGET_ZOO"))
    print("target autoencoder:", name, os.environ.get("TARGET_ZOO", "(shipped zoo)"), flush=True)
    return ae
