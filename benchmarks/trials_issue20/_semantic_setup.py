"""What the notebook-08 trials share: the three experts, 10,000 training and ``n_test``
held-out images segmented, and their target codes (as notebook 08 builds them). The
environment can name another target autoencoder (see ``_target.py``)."""
from types import SimpleNamespace

from _target import target_autoencoder

from n2nlib import zoo
from n2nlib.course import semantic


def load(n_test: int = 1000, n_train: int = 10000) -> SimpleNamespace:
    """``ae``, ``seg``, ``clf``, ``train``, ``test``, ``targets``, ``test_targets``."""
    ae = target_autoencoder(semantic.TARGET)
    seg = zoo.load(semantic.SEGMENTER)
    clf = zoo.load(semantic.CLASSIFIER)
    train = semantic.make_data(n_train, "train", seed=0)
    test = semantic.make_data(n_test, "test", seed=1)
    train.segment(seg)
    test.segment(seg)
    return SimpleNamespace(
        ae=ae, seg=seg, clf=clf, train=train, test=test,
        targets=semantic.encode_targets(ae, train.images, progress=False),
        test_targets=semantic.encode_targets(ae, test.images, progress=False),
    )
