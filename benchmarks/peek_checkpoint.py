"""What a training checkpoint of shapes-ae already keeps: the drawable world's factors read
from its reconstructions of held-out images, per domain (a look into a run still training).

    python benchmarks/peek_checkpoint.py /work/runs/ckpt/shapes-ae [--n 600]
"""

from __future__ import annotations

import argparse

import torch

from n2nlib import zoo
from n2nlib.checkpoint import latest_checkpoint, load_tensors
from n2nlib.experts import reconstruct
from n2nlib.metrics import psnr
from n2nlib.nets.autoencoder import Autoencoder
from n2nlib.zoo.data import shapes_data
from n2nlib.zoo.evaluation import EVAL_SEED, joint_by_domain
from n2nlib.zoo.recipes import RECIPES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint_dir")
    parser.add_argument("--n", type=int, default=600, help="held-out images")
    args = parser.parse_args()
    torch.set_num_threads(1)
    path = latest_checkpoint(args.checkpoint_dir)
    if path is None:
        raise SystemExit(f"no checkpoint in {args.checkpoint_dir}")
    ae = Autoencoder(**RECIPES["shapes-ae"].config)
    ae.load_state_dict(load_tensors(path / "model.safetensors"))
    ae.eval()
    data = shapes_data(args.n, EVAL_SEED, "test", world="v2")
    recon = reconstruct(ae, data["image"])
    reader = zoo.load("shapes-attributes", device="cpu")
    quality = joint_by_domain(reader.predict(recon), data["factors"], "")
    print(path.name, f"PSNR {psnr(data['image'], recon):.2f} dB",
          ", ".join(f"{k} {v:.3f}" for k, v in quality.items()))


if __name__ == "__main__":
    main()
