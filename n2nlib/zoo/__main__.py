"""Command line of the model zoo.

    python -m n2nlib.zoo list                          registered experts and their quality
    python -m n2nlib.zoo card NAME                     one model card (markdown)
    python -m n2nlib.zoo train NAME|all [--fast] [--out DIR] [--threads N] [--seed S]
                                   [--checkpoint-dir DIR]  (resumes when run again)
    python -m n2nlib.zoo verify                        check every weights file's sha256
    python -m n2nlib.zoo table                         markdown table of all cards
    python -m n2nlib.zoo evaluate NAME [--n N] [--write] [--out DIR]

``train`` without ``--out`` rewrites the shipped weights and registry entry (a full run); with
``--fast`` it runs the recipe on tiny data in seconds and writes into a temporary folder (or
``--out``), never over the shipped weights.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from n2nlib import zoo

TRANSLATORS = ("sbert-to-shapes",)
"""Zoo entries that are translators, trained by
:func:`n2nlib.zoo.text2image_recipes.train_translator` rather than by a recipe."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m n2nlib.zoo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="registered experts")
    p_card = sub.add_parser("card", help="print a model card")
    p_card.add_argument("name")
    p_train = sub.add_parser("train", help="train an expert by its recipe")
    p_train.add_argument("name", help="a recipe name, or 'all'")
    p_train.add_argument("--fast", action="store_true",
                         help="tiny data, a few steps: checks the pipeline in seconds")
    p_train.add_argument("--out", default=None,
                         help="zoo folder to write into (default: the shipped zoo; a temporary "
                              "folder with --fast)")
    p_train.add_argument("--threads", type=int, default=None, help="torch threads")
    p_train.add_argument("--seed", type=int, default=0)
    p_train.add_argument("--device", default=None)
    p_train.add_argument("--no-progress", action="store_true")
    p_train.add_argument("--checkpoint-dir", default=None,
                         help="keep resumable checkpoints here; run the same command again to "
                              "continue a stopped training (with 'all': one subfolder a name)")
    sub.add_parser("verify", help="check the sha256 of every shipped weights file")
    sub.add_parser("table", help="a markdown table of every card (for benchmarks/RESULTS.md)")
    p_eval = sub.add_parser("evaluate", help="measure an expert on held-out data")
    p_eval.add_argument("name")
    p_eval.add_argument("--n", type=int, default=None, help="held-out examples")
    p_eval.add_argument("--out", default=None, help="zoo folder (default: the shipped zoo)")
    p_eval.add_argument("--write", action="store_true",
                        help="store the result as the card's quality")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "list":
        for name in zoo.available():
            c = zoo.card(name)
            shown = {k: v for k, v in c.quality.items() if "/" not in k} or c.quality
            quality = ", ".join(f"{k}={v:.4g}" for k, v in shown.items())
            print(f"{name:20s} {c.kind:11s} dim={c.dim:<5d} {c.train_seconds:6.0f} s  {quality}")
        return 0
    if args.command == "card":
        print(zoo.card(args.name).to_markdown())
        return 0
    if args.command == "table":
        print(zoo.cards_table())
        return 0
    if args.command == "verify":
        bad = 0
        for name in zoo.available():
            try:
                path = zoo.verify(name)
                print(f"ok   {name}  {path.stat().st_size / 1e6:.2f} MB")
            except zoo.ZooError as err:
                bad += 1
                print(f"FAIL {name}: {err}")
        return 1 if bad else 0
    if args.command == "evaluate":
        from n2nlib.zoo.retrain import evaluate_expert

        model = zoo.load(args.name, root=args.out)
        quality = evaluate_expert(args.name, model, n=args.n, root=args.out)
        for k, v in quality.items():
            print(f"{k:24s} {v:.4f}")
        if args.write:
            root = zoo.PACKAGE_ROOT if args.out is None else args.out
            entries = zoo.registry(root)
            entries[args.name]["card"]["quality"] = quality
            if args.n is not None:
                entries[args.name]["card"]["eval_n"] = args.n
            zoo.write_registry(entries, root)
        return 0
    if args.command == "train":
        from n2nlib.zoo.retrain import TRAINING_ORDER, recipe_names, train_expert

        known = recipe_names() + list(TRANSLATORS)
        names = TRAINING_ORDER if args.name == "all" else [args.name]
        missing = sorted(set(zoo.available()) - set(names)) if args.name == "all" else []
        if missing:  # pragma: no cover - guarded by tests/test_zoo.py
            raise SystemExit(f"no recipe for {missing}")
        if args.name != "all" and args.name not in known:
            raise SystemExit(f"no recipe for {args.name!r}; recipes: {', '.join(sorted(known))}")
        out = args.out
        if args.fast and out is None and len(names) > 1:  # one folder, so later ones find earlier
            import tempfile

            out = tempfile.mkdtemp(prefix="n2n-zoo-")
        for name in names:
            if name in TRANSLATORS:
                from n2nlib.zoo.text2image_recipes import train_translator

                if args.threads is not None:
                    import torch

                    torch.set_num_threads(args.threads)
                card = train_translator(args.fast, out=out, seed=args.seed, device=args.device,
                                        progress=not args.no_progress, threads=args.threads)
                quality = ", ".join(f"{k}={v:.4g}" for k, v in card["quality"].items())
                print(f"{name}: {card['train_seconds']:.0f} s, {quality}")
                continue
            ckpt = args.checkpoint_dir
            if ckpt is not None and len(names) > 1:
                ckpt = str(Path(ckpt) / name)
            result = train_expert(name, fast=args.fast, out=out, threads=args.threads,
                                  seed=args.seed, device=args.device,
                                  progress=not args.no_progress, checkpoint_dir=ckpt)
            quality = ", ".join(f"{k}={v:.4g}" for k, v in result.card["quality"].items())
            print(f"{name}: {result.card['train_seconds']:.0f} s, {quality} -> {result.weights}")
        return 0
    return 2  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
