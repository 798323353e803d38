"""This project's own architectures: the networks of the zoo's experts and their objectives.

- :mod:`n2nlib.nets.autoencoder`: the paper's autoencoder g (supplement F), its losses
  (Eq. 14–17) and the PatchGAN discriminator.
- :mod:`n2nlib.nets.classifiers`: the attribute classifier, the segmenter and the digits
  classifier that read the shapes and digits worlds.
- :mod:`n2nlib.nets.generator`: a class-conditional generator with BigGAN's interface.
- :mod:`n2nlib.nets.dequant`: the dequantisation VAE of Table S4.
- :mod:`n2nlib.nets.edges`: parameter-free source experts (edges, luminance, label maps,
  attribute vectors).
- :mod:`n2nlib.nets.trunk`: BigGAN's generator trunk (conditional batch norm, up-blocks, the
  non-local block), which the autoencoder's decoder and the generator share.
- :mod:`n2nlib.nets.blocks`: the convolutional blocks they share.

Trained weights come from :mod:`n2nlib.zoo` (``zoo.load("shapes-ae")``); the wrappers of
outside models (Sentence-BERT, BigGAN, EfficientNet-Lite0) are in :mod:`n2nlib.experts`.
"""
