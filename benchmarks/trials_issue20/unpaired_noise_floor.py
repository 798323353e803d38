"""Issue 20: does noise of the σ floor alone move decoded images out of their domain?

    python benchmarks/trials_issue20/unpaired_noise_floor.py
"""
# ruff: noqa: E402, E501
import torch

from n2nlib import zoo
from n2nlib.course import unpaired

torch.set_num_threads(2)
torch.manual_seed(0)
ae = zoo.load("shapes-ae")
clf = zoo.load("shapes-attributes")
test = unpaired.make_domains(300, "test", seed=1)
with torch.no_grad():
    m, lv = ae.encode_distribution(test.images)
    for s in (0, 0.3, 0.5, 1.0):
        y = ae.decode(m + s * torch.randn_like(m)).clamp(0, 1)
        bg = clf.predict(y)["background"]
        print(
            s,
            "bg kept plain",
            float((bg[test.labels == 0] == 0).float().mean()),
            "photo",
            float((bg[test.labels == 1] == 1).float().mean()),
        )
