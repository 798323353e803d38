"""Issue 20, notebook 03: does the source code z_Φ carry a shape that the 8×8 input determines?

    python benchmarks/trials_issue20/superres_probe.py

Logistic and MLP probes of the shape, trained on 10,000 training pairs, read on the 300
held-out inputs of notebook 03, split into inputs that determine the shape and inputs that
leave it open (``superres.shape_alternatives`` at Φ's median error).
"""

import torch
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from n2nlib import zoo
from n2nlib.course import superres

torch.set_num_threads(1)
train = superres.make_shape_pairs(10000, "train", seed=0)
test = superres.make_shape_pairs(300, "test", seed=1)
source = zoo.load(superres.SOURCE)
recon = superres.reconstruct(source, test.low)
tolerance = float((recon - test.low).pow(2).flatten(1).mean(1).sqrt().median())
determined = (superres.shape_alternatives(test, tolerance) == 0).numpy()
with torch.no_grad():
    codes = (source.encode(train.low).numpy(), source.encode(test.low).numpy())
pixels = (train.low.flatten(1).numpy(), test.low.flatten(1).numpy())
y_train, y_test = train.factors[:, 0].numpy(), test.factors[:, 0].numpy()
print(f"determined inputs: {determined.mean():.3f}")
for name, (a, b) in {"z_phi": codes, "pixels 8x8": pixels}.items():
    scaler = StandardScaler().fit(a)
    a, b = scaler.transform(a), scaler.transform(b)
    for kind, model in (("logistic", LogisticRegression(max_iter=2000)),
                        ("mlp", MLPClassifier((256, 256), max_iter=300, early_stopping=True,
                                              random_state=0))):
        right = model.fit(a, y_train).predict(b) == y_test
        print(f"{name:11} {kind:8} all {right.mean():.3f}  determined "
              f"{right[determined].mean():.3f}  open {right[~determined].mean():.3f}")
