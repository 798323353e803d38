"""Code that exists for the course: one module per notebook, and what several notebooks share.

Notebooks stay short and define no classes; what they run lives here, so that their numbers can
be tested:

- :mod:`n2nlib.course.toy`, :mod:`~n2nlib.course.plots`, :mod:`~n2nlib.course.widgets`: toy
  data, figures and sliders (notebooks 01, 02 and every figure).
- :mod:`n2nlib.course.superres`: notebook 03, superresolution between two autoencoders.
- :mod:`n2nlib.course.unpaired`: notebook 04, unpaired translation between domains.
- :mod:`n2nlib.course.disentangle` and :mod:`~n2nlib.course.deform`: notebook 05, shape and
  appearance.
- :mod:`n2nlib.course.text2image`: notebook 06, Sentence-BERT to a generator.
- :mod:`n2nlib.course.diagnosis`: notebook 07, model diagnosis and the MLP ablation.
- :mod:`n2nlib.course.semantic` and :mod:`~n2nlib.course.inpainting`: notebook 08, semantic
  synthesis, attribute editing and inpainting.
- :mod:`n2nlib.course.ladder`: notebook 09, the translator ladder.
- :mod:`n2nlib.course.common`: shared by 04, 05 and 08 (target codes encoded once, latent
  pairs with a σ floor, a translator trained on them).
- :mod:`n2nlib.course.exercises`: the hidden checks of the "your turn" cells of 01, 02 and 06.

Import the module you need (``from n2nlib.course import superres``).
"""
