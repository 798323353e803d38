"""Figures of the zoo's image experts for their sections of benchmarks/RESULTS.md.

For an autoencoder: held-out originals above their reconstructions, eight of each domain
(plain and photo backgrounds), upscaled ×3 (nearest) so that a 32-pixel image is 96 pixels on
screen. For the superresolution pair (``--sr``): the 8×8 input, bicubic upsampling of it, the
high-resolution autoencoder's reconstruction of the truth, and the truth. For an autoencoder
with an appearance part (``--swap``): the geometry of each row's image drawn in the
appearance of each column's image, the renderer's own drawing of that scene in the last row.

    python benchmarks/figure_zoo.py shapes-ae          # -> docs/zoo/shapes-ae.png
    python benchmarks/figure_zoo.py shapes-ae-8 --sr   # -> docs/zoo/superresolution-pair.png
    python benchmarks/figure_zoo.py shapes-ae-swap --swap  # -> docs/zoo/shapes-ae-swap.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F

from n2nlib import zoo
from n2nlib.course.plots import close, image_columns, image_rows
from n2nlib.metrics import downsample
from n2nlib.zoo.data import composite, shapes_data, swap_shapes_data
from n2nlib.zoo.evaluation import EVAL_SEED

OUT = Path(__file__).resolve().parent.parent / "docs" / "zoo"


def up(images: torch.Tensor, side: int = 96) -> torch.Tensor:
    return F.interpolate(images.clamp(0, 1), size=(side, side), mode="nearest")


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("--sr", action="store_true", help="the superresolution pair figure")
    parser.add_argument("--swap", action="store_true", help="the geometry × appearance grid")
    args = parser.parse_args()
    torch.set_num_threads(2)
    if args.swap:
        swap_figure(args.name)
        return
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


def swap_figure(name: str) -> None:
    """Rows: images whose geometry part is kept; columns: images whose appearance part is
    taken; the bottom row is the renderer's drawing of the last row's scene in each look."""
    model = zoo.load(name, device="cpu")
    data = swap_shapes_data(200, EVAL_SEED, "test")
    photo = data["factors"][:, 4] == 1
    rows_i = (~photo).nonzero()[:2, 0].tolist() + photo.nonzero()[:2, 0].tolist()
    cols_i = (~photo).nonzero()[2:5, 0].tolist() + photo.nonzero()[2:5, 0].tolist()
    z = model.encode(data["image"])
    columns = {"geometry of ↓": up(data["image"][rows_i + [rows_i[-1]]])}
    for j in cols_i:
        cells = [model.decode(model.combine(z[i:i + 1], z[j:j + 1]))[0] for i in rows_i]
        truth = composite(data["background"][j:j + 1], data["coverage"][rows_i[-1]:][:1],
                          data["color"][j:j + 1])[0]
        columns[f"look of #{j}"] = torch.cat([up(data["image"][j:j + 1]),
                                              up(torch.stack(cells)), up(truth[None])])
    columns["geometry of ↓"] = torch.cat([torch.ones(1, 3, 96, 96), columns["geometry of ↓"]])
    labels = (["look from →"] + [f"decoded, #{i}" for i in rows_i]
              + [f"renderer, #{rows_i[-1]}"])
    fig = image_columns(columns, size=1.0, rows=labels)
    fig.suptitle(f"{name}: top row, the images whose look is taken; left column, the images "
                 "whose geometry is kept;\nbottom row, the renderer's drawing of the last "
                 "row's scene in each look (held out, upscaled ×3)", fontsize=8)
    path = OUT / f"{name}.png"
    fig.savefig(path, dpi=96, bbox_inches="tight")
    close(fig)
    print(path)


if __name__ == "__main__":
    main()
