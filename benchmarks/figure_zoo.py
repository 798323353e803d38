"""Figures of the zoo's image experts for their sections of benchmarks/RESULTS.md.

For an autoencoder: held-out originals above their reconstructions, eight of each domain
(plain and photo backgrounds), upscaled ×3 (nearest) so that a 32-pixel image is 96 pixels on
screen. For the superresolution pair (``--sr``): the 8×8 input, bicubic upsampling of it, the
high-resolution autoencoder's reconstruction of the truth, and the truth.

    python benchmarks/figure_zoo.py shapes-ae          # -> docs/zoo/shapes-ae.png
    python benchmarks/figure_zoo.py shapes-ae-8 --sr   # -> docs/zoo/superresolution-pair.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F

from n2nlib import zoo
from n2nlib.course.plots import close, image_rows
from n2nlib.metrics import downsample
from n2nlib.zoo.data import shapes_data
from n2nlib.zoo.evaluation import EVAL_SEED

OUT = Path(__file__).resolve().parent.parent / "docs" / "zoo"


def up(images: torch.Tensor, side: int = 96) -> torch.Tensor:
    return F.interpolate(images.clamp(0, 1), size=(side, side), mode="nearest")


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("--sr", action="store_true", help="the superresolution pair figure")
    args = parser.parse_args()
    torch.set_num_threads(2)
    data = shapes_data(400, EVAL_SEED, "test", world="v2")
    photo = data["factors"][:, 4] == 1
    pick = torch.cat([(~photo).nonzero()[:8, 0], photo.nonzero()[:8, 0]])
    images = data["image"][pick]
    OUT.mkdir(parents=True, exist_ok=True)
    if args.sr:
        small = downsample(images, 8)
        bicubic = F.interpolate(small, size=32, mode="bicubic", align_corners=False)
        high = zoo.load("shapes-ae", device="cpu")
        recon = high.decode(high.encode(images))
        rows = {"8×8 input": up(small), "bicubic ×4": up(bicubic),
                "shapes-ae\nreconstruction": up(recon), "truth (32×32)": up(images)}
        path = OUT / "superresolution-pair.png"
        title = "held-out images: plain backgrounds (left 8), photo backgrounds (right 8)"
    else:
        model = zoo.load(args.name, device="cpu")
        recon = model.decode(model.encode(images))
        rows = {"original\n(held out)": up(images), f"{args.name}\nreconstruction": up(recon)}
        path = OUT / f"{args.name}.png"
        title = (f"{args.name}: held-out images, plain backgrounds (left 8) and photo "
                 f"backgrounds (right 8), upscaled ×3")
    fig = image_rows(rows, title=title, cell=1.0, dpi=96, pad=2)
    fig.savefig(path, dpi=96)
    close(fig)
    print(path)


if __name__ == "__main__":
    main()
