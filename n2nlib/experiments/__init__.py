"""The experiments of the notebooks, as library code: data, baselines and measurements.

Each submodule belongs to one notebook and holds what it runs, so that notebooks stay short,
define no classes, and their numbers can be tested:

- :mod:`n2nlib.experiments.superres`: notebook 03, superresolution between two autoencoders.
- :mod:`n2nlib.experiments.unpaired`: notebook 04, unpaired translation between domains.
- :mod:`n2nlib.experiments.disentangle`: notebook 05, shape and appearance.
- :mod:`n2nlib.experiments.diagnosis`: notebook 07, model diagnosis and the MLP ablation.
- :mod:`n2nlib.experiments.semantic`: notebook 08, semantic synthesis and attribute editing.
- :mod:`n2nlib.experiments.inpainting`: notebook 08, inpainting with a classifier expert.

Import the submodule you need (``from n2nlib.experiments import superres``).
"""
