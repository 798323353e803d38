"""Training-step throughput of n2nlib's cINN against other flow libraries and a plain reference.

    python benchmarks/bench_peers.py                     # paper configuration, all rows
    python benchmarks/bench_peers.py --steps 4 --only n2nlib,reference
    python benchmarks/bench_peers.py --dim 32 --blocks 4  # a quick smoke run
    python benchmarks/bench_peers.py --only n2nlib --ceiling  # and what an exact step can reach
    python benchmarks/bench_peers.py --device cuda --steps 30 --warmup 5 --compiled  # on a GPU

Needs the benchmark-only extra: ``pip install -e ".[bench]"`` (FrEIA 0.2, normflows); rows
whose library is missing are reported as such, the others still run.

Every row is a full training step — forward to the latent, the NLL of Eq. (4), backward, one
Adam step — at the same data (``dim``), condition (``cond``, embedded by the same Table S3a
MLP to ``dim`` features), number of blocks and subnet widths (Table S3a: FC→8·dim, 2×FC→8·dim,
FC→out, LeakyReLU 0.01), batch 64, float32:

* ``n2nlib``: the library's own loop, :func:`n2nlib.train.fit` (fused Adam where available,
  the divergence guard; ``clip_grad=None`` because no other row clips), timed per step through
  its callback. ``n2nlib-fused``: the same with ``fused_subnets=True`` (each coupling's s and
  t networks as one batched matmul per layer). ``n2nlib-bf16`` (with ``--bf16``): the same
  model, a hand-written step under ``torch.autocast("cpu", torch.bfloat16)`` — an option,
  not what ``fit`` does. ``n2nlib-compiled`` (with ``--compiled``): the step of
  ``fit(compile=True)`` (:class:`~n2nlib.step.CompiledStep`: torch.compile graphs, CUDA graphs
  on a GPU, the guard on the device, a host read every 10 steps), timed as a mean over the
  steps after the compiling ones.
* ``reference``: ``benchmarks/reference_cinn.py``, Table S3 written plainly (separate
  ``nn.Sequential`` s and t nets, ``cat``/``split``, plain Adam).
* ``freia-allinone``: FrEIA 0.2 ``SequenceINN`` of ``AllInOneBlock`` (one subnet per block
  emitting s and t for one half, a learned global affine and a permutation), as many blocks
  as ours: about a quarter of our work, since each of our blocks runs four subnets.
* ``freia-allinone-x4``: the same with four AllInOneBlocks per block of ours (equal work: the
  same number of subnets of the same widths).
* ``freia-rnvp``: FrEIA's ``RNVPCouplingBlock`` (four subnets s1, t1, s2, t2 per block, like
  ours) between FrEIA ``ActNorm`` and ``PermuteRandom`` — the same architecture in FrEIA.
* ``normflows``: per block ``ActNorm``, two ``AffineCouplingBlock``s (one per half, with a
  ``Permute(mode="swap")`` between them and a random ``Permute`` after), each coupling's
  ``param_map`` being separate s and t MLPs. normflows has no conditional coupling, so a small
  wrapper (below) appends the embedded condition to the coupling's input.

Peers are conditioned the way each library allows: FrEIA passes the embedded condition ``h``
as its block condition ``c=[h]``; normflows through the wrapper. All use plain
``torch.optim.Adam`` as their documentation does.

FLOPs count the linear layers only (``2·B·in·out`` forward, twice that backward), and each
row's achieved FLOP/s is divided by the FLOP/s of a ``(64, 8·dim) @ (8·dim, 8·dim)`` matmul
measured right before and right after that row (the better of the two), so that the
efficiency column is a same-run ratio even while the machine's load drifts.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_cinn import device_name, linear_flops_per_sample, synchronize, time_matmul  # noqa: E402
from reference_cinn import PlainCINN, table_s3a  # noqa: E402

from n2nlib import ConditionalINN  # noqa: E402
from n2nlib.step import CompiledStep  # noqa: E402
from n2nlib.train import fit, make_optimizer, objective  # noqa: E402

ROWS = ("n2nlib", "n2nlib-fused", "reference", "freia-allinone", "freia-allinone-x4", "freia-rnvp",
        "normflows")


@dataclass
class Row:
    name: str
    description: str
    optimizer: str
    params_m: float
    step_ms: float
    samples_per_s: float
    gflop_per_step: float
    achieved_gflop_s: float
    matmul_gflop_s: float
    fraction_of_matmul: float


# -- the peers --------------------------------------------------------------------------------


class _Embedded(nn.Module):
    """``model(x, c)`` → ``(z, logdet)`` for a peer flow fed ``h = H(c)`` (H: Table S3a MLP)."""

    def __init__(self, dim: int, cond: int, hidden: int, flow: nn.Module,
                 run: Callable[[nn.Module, Tensor, Tensor], tuple[Tensor, Tensor]]) -> None:
        super().__init__()
        self.dim = dim
        self.embedder = table_s3a(cond, dim, hidden)
        self.flow = flow
        self._run = run

    def nll(self, x: Tensor, c: Tensor) -> Tensor:
        z, logdet = self._run(self.flow, x, self.embedder(c))
        return 0.5 * z.pow(2).sum(1) + 0.5 * self.dim * 1.8378770664093453 - logdet


def _freia(dim: int, cond: int, blocks: int, hidden: int, kind: str) -> nn.Module:
    import FrEIA.framework as ff
    import FrEIA.modules as fm

    def subnet(c_in: int, c_out: int) -> nn.Module:
        net = table_s3a(c_in, c_out, hidden)
        nn.init.zeros_(net[-1].weight)
        nn.init.zeros_(net[-1].bias)
        return net

    inn = ff.SequenceINN(dim)
    for i in range(blocks):
        if kind == "rnvp":
            inn.append(fm.ActNorm)
            inn.append(fm.RNVPCouplingBlock, cond=0, cond_shape=(dim,),
                       subnet_constructor=subnet, clamp=2.0)
            inn.append(fm.PermuteRandom, seed=i)
        else:
            inn.append(fm.AllInOneBlock, cond=0, cond_shape=(dim,),
                       subnet_constructor=subnet, affine_clamping=2.0, permute_soft=False)

    def run(flow: nn.Module, x: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        return flow(x, c=[h])

    return _Embedded(dim, cond, hidden, inn, run)


class _ConditionedParams(nn.Module):
    """normflows ``param_map`` of one coupling: separate s and t MLPs of ``[z_1; h]``,
    interleaved as normflows expects (shift at even, scale at odd positions).

    normflows' couplings call ``param_map(z1)`` only; the embedded condition is set on this
    module by the wrapper right before the flow runs (benchmark-only conditioning)."""

    def __init__(self, d_in: int, d_out: int, cond: int, hidden: int) -> None:
        super().__init__()
        self.s = table_s3a(d_in + cond, d_out, hidden)
        self.t = table_s3a(d_in + cond, d_out, hidden)
        for net in (self.s, self.t):
            nn.init.zeros_(net[-1].weight)
            nn.init.zeros_(net[-1].bias)
        self.h: Tensor | None = None

    def forward(self, z1: Tensor) -> Tensor:
        inp = torch.cat([z1, self.h], dim=1)
        return torch.stack([self.t(inp), self.s(inp)], dim=2).flatten(1)


def _normflows(dim: int, cond: int, blocks: int, hidden: int) -> nn.Module:
    import normflows as nf

    flows: list[nn.Module] = []
    maps: list[_ConditionedParams] = []
    for _ in range(blocks):
        flows.append(nf.flows.ActNorm((dim,)))
        for _half in range(2):
            # normflows' "channel" split: z1 = first ceil(dim/2) features, z2 = the rest;
            # a swap permutation between the two couplings updates the other half
            d_1 = dim - dim // 2
            pm = _ConditionedParams(d_1, dim - d_1, dim, hidden)  # h has dim features
            maps.append(pm)
            flows.append(nf.flows.AffineCouplingBlock(pm, scale=True, scale_map="exp"))
            flows.append(nf.flows.Permute(dim, mode="swap"))
        flows.append(nf.flows.Permute(dim, mode="shuffle"))
    seq = nn.ModuleList(flows)

    def run(flow: nn.Module, x: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        for pm in maps:
            pm.h = h
        logdet = torch.zeros(x.shape[0], device=x.device)
        for f in flow:  # data -> latent is normflows' inverse direction
            x, ld = f.inverse(x)
            logdet = logdet + ld
        return x, logdet

    return _Embedded(dim, cond, hidden, seq, run)


def build(name: str, dim: int, cond: int, blocks: int) -> tuple[nn.Module, str]:
    hidden = 8 * dim
    if name in ("n2nlib", "n2nlib-bf16", "n2nlib-compiled"):
        return ConditionalINN(dim, cond, n_blocks=blocks), "n2nlib.ConditionalINN"
    if name == "n2nlib-fused":
        return (ConditionalINN(dim, cond, n_blocks=blocks, fused_subnets=True),
                "n2nlib.ConditionalINN(fused_subnets=True)")
    if name == "reference":
        return PlainCINN(dim, cond, n_blocks=blocks), "plain Table S3 (reference_cinn.py)"
    if name == "freia-allinone":
        return _freia(dim, cond, blocks, hidden, "allinone"), f"FrEIA {blocks}×AllInOneBlock"
    if name == "freia-allinone-x4":
        return (_freia(dim, cond, 4 * blocks, hidden, "allinone"),
                f"FrEIA {4 * blocks}×AllInOneBlock (equal work)")
    if name == "freia-rnvp":
        return (_freia(dim, cond, blocks, hidden, "rnvp"),
                f"FrEIA {blocks}×(ActNorm, RNVPCouplingBlock, PermuteRandom)")
    if name == "normflows":
        return (_normflows(dim, cond, blocks, hidden),
                f"normflows {blocks}×(ActNorm, 2×AffineCouplingBlock, Permute)")
    raise ValueError(f"unknown row {name!r}; choose from {ROWS}")


# -- timing -----------------------------------------------------------------------------------


def _manual_steps(model: nn.Module, x: Tensor, c: Tensor, n: int, bf16: bool = False,
                  fused: bool = False) -> list[float]:
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, fused=fused or None)
    times = []
    for _ in range(n):
        synchronize(x.device)
        start = time.perf_counter()
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = model.nll(x, c).float().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        synchronize(x.device)
        times.append(time.perf_counter() - start)
    return times


def _fit_steps(model: nn.Module, x: Tensor, c: Tensor, n: int) -> list[float]:
    def stamp(step: int, history: object) -> None:
        synchronize(x.device)
        stamps.append(time.perf_counter())

    synchronize(x.device)
    stamps = [time.perf_counter()]
    fit(model, (x, c), steps=n, batch_size=x.shape[0], lr=1e-4, clip_grad=None,
        schedule="constant", progress=False, callback=stamp)
    return [b - a for a, b in zip(stamps, stamps[1:], strict=False)]


def _compiled_steps(model: nn.Module, x: Tensor, c: Tensor, warmup: int,
                    steps: int) -> list[float]:
    """The step of ``fit(compile=True)``, :class:`~n2nlib.step.CompiledStep`, driven as the
    loop drives it (one read of the losses and the device-side guard every ``sync_every``
    steps). Without a sync per step there is no per-step time: the timed steps are bracketed
    by two syncs and each gets their mean."""
    params = list(model.parameters())
    opt = make_optimizer(params, lr=1e-4, fused=False)
    stepper = CompiledStep(objective(model), params, opt, clip_grad=None)
    every = stepper.sync_every

    def run(first: int, n: int) -> None:
        for step in range(first, first + n):
            stepper(step, x, c, 1e-4)
            if (step + 1) % every == 0:
                stepper.read(range(step + 1 - every, step + 1))

    run(0, max(warmup, 1))  # the first steps compile
    synchronize(x.device)
    start = time.perf_counter()
    run(max(warmup, 1), steps)
    synchronize(x.device)
    mean = (time.perf_counter() - start) / steps
    return [mean] * (max(warmup, 1) + steps)


def measure(name: str, dim: int, cond: int, blocks: int, batch: int, steps: int,
            warmup: int, device: str = "cpu") -> Row:
    torch.manual_seed(0)
    model, description = build(name, dim, cond, blocks)
    model.to(device)
    x = torch.randn(batch, dim, device=device)
    c = torch.randn(batch, cond, device=device)
    hidden = 8 * dim
    before = time_matmul(batch, hidden, device=device)
    if name in ("n2nlib", "n2nlib-fused"):
        times, optimizer = _fit_steps(model, x, c, warmup + steps), "fit(): fused Adam"
    elif name == "n2nlib-compiled":
        times = _compiled_steps(model, x, c, warmup, steps)
        optimizer = "fit(compile=True): compiled foreach Adam"
    elif name == "n2nlib-bf16":
        times = _manual_steps(model, x, c, warmup + steps, bf16=True, fused=True)
        optimizer = "fused Adam, bf16 autocast"
    else:
        times, optimizer = _manual_steps(model, x, c, warmup + steps), "Adam (default)"
    after = time_matmul(batch, hidden, device=device)
    step = statistics.median(times[warmup:])
    flops = 3 * linear_flops_per_sample(model) * batch
    matmul = max(before, after)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    del model
    gc.collect()
    return Row(name, description, optimizer, params, step * 1e3, batch / step, flops / 1e9,
               flops / step / 1e9, matmul, flops / step / 1e9 / matmul)


def measure_ceiling(dim: int, cond: int, blocks: int, batch: int, device: str = "cpu",
                    hot_gflop_s: float | None = None) -> dict[str, float]:
    """An estimate of the fastest exact fp32 step of this configuration on this machine.

    The hot matmul of the efficiency column reuses one ``(8·dim)²`` weight that stays in the
    cache. The step touches each of its parameters once per pass, so its products run at the
    rate of the same matmul over as many *distinct* weights as the model holds
    (``streamed_gflop_s``), and its Adam update (fused, as ``fit``) reads every parameter,
    gradient and moment and writes the parameters and moments (``adam_ms``, timed alone on
    random gradients). The estimate is a step made of nothing else, ``flops / streamed +
    adam``; ``ceiling_fraction`` divides its FLOP/s by ``hot_gflop_s`` (pass the n2nlib row's,
    so that the two fractions share a denominator), or by a hot matmul timed here. It is not a
    strict bound: an update fused into the backward pass would save a pass over the gradients.
    """
    torch.manual_seed(0)
    model = ConditionalINN(dim, cond, n_blocks=blocks).to(device)
    params = list(model.parameters())
    flops = 3 * linear_flops_per_sample(model) * batch
    hidden = 8 * dim
    hot = hot_gflop_s if hot_gflop_s is not None else time_matmul(batch, hidden, device=device)
    weights = [torch.randn(hidden, hidden, device=device)
               for _ in range(max(1, round(sum(p.numel() for p in params) / hidden**2)))]
    a = torch.randn(batch, hidden, device=device)
    best = float("inf")
    for _ in range(4):  # the first pass warms the kernels; best of the others
        synchronize(device)
        start = time.perf_counter()
        for w in weights:
            a @ w
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    streamed = 2 * batch * hidden**2 * len(weights) / best / 1e9
    del weights
    for p in params:
        p.grad = torch.randn_like(p)
    opt = make_optimizer(params, lr=1e-4)
    times = []
    for _ in range(7):
        synchronize(device)
        start = time.perf_counter()
        opt.step()
        synchronize(device)
        times.append(time.perf_counter() - start)
    adam = statistics.median(times[2:])
    del model, params, opt
    gc.collect()
    step = flops / (streamed * 1e9) + adam
    return {"hot_gflop_s": hot, "streamed_gflop_s": streamed, "adam_ms": adam * 1e3,
            "ceiling_step_ms": step * 1e3, "ceiling_fraction": flops / step / 1e9 / hot}


def print_table(rows: list[Row], header: str) -> None:
    print(header)
    base = {r.name: r for r in rows}
    ours = base.get("n2nlib")
    print("| row | model | optimizer | params (M) | step (ms) | samples/s | GFLOP/step | "
          "achieved GFLOP/s | matmul GFLOP/s | fraction of matmul | n2nlib speed-up |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        speedup = f"{ours.samples_per_s / r.samples_per_s:.2f}×" if ours else "–"
        print(f"| {r.name} | {r.description} | {r.optimizer} | {r.params_m:.1f} | "
              f"{r.step_ms:.0f} | {r.samples_per_s:.1f} | {r.gflop_per_step:.1f} | "
              f"{r.achieved_gflop_s:.1f} | {r.matmul_gflop_s:.1f} | "
              f"{r.fraction_of_matmul:.2f} | {speedup} |")


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--cond", type=int, default=128)
    parser.add_argument("--blocks", type=int, default=20)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", default=",".join(ROWS), help="comma-separated rows")
    parser.add_argument("--bf16", action="store_true", help="add the n2nlib-bf16 row")
    parser.add_argument("--compiled", action="store_true",
                        help="add the n2nlib-compiled row (fit(compile=True); compiling the "
                             "paper configuration takes minutes on a CPU)")
    parser.add_argument("--ceiling", action="store_true",
                        help="also measure the ceiling of an exact fp32 step here (matmuls over "
                             "distinct weights plus Adam alone; see measure_ceiling)")
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    names = [n for n in args.only.split(",") if n]
    if args.bf16:
        from n2nlib.settings import bf16_support

        ok, why = bf16_support(args.device)
        if ok:
            names.insert(1, "n2nlib-bf16")
        else:
            print(f"--bf16 refused: {why}. The n2nlib-bf16 row is left out.")
    if args.compiled:
        names.insert(1, "n2nlib-compiled")
    rows: list[Row] = []
    for name in names:
        try:
            rows.append(measure(name, args.dim, args.cond, args.blocks, args.batch,
                                args.steps, args.warmup, args.device))
        except ImportError as err:
            print(f"# {name}: not measured ({err}); pip install -e '.[bench]'")
            continue
        r = rows[-1]  # each row as soon as it is measured (a long run can be cut short)
        print(f"# {name}: {r.step_ms:.0f} ms/step, {r.samples_per_s:.2f} samples/s, "
              f"{r.fraction_of_matmul:.3f} of matmul ({r.matmul_gflop_s:.1f} GFLOP/s), "
              f"load {os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)
    header = (f"# {device_name(args.device)}, {torch.get_num_threads()} threads, "
              f"torch {torch.__version__}; "
              f"dim {args.dim}, cond {args.cond}, {args.blocks} blocks, hidden {8 * args.dim}, "
              f"batch {args.batch}, median of {args.steps} steps after {args.warmup}")
    print_table(rows, header)
    ceiling = None
    if args.ceiling:
        ours = next((r for r in rows if r.name == "n2nlib"), None)
        ceiling = measure_ceiling(args.dim, args.cond, args.blocks, args.batch, args.device,
                                  hot_gflop_s=ours.matmul_gflop_s if ours else None)
        print(f"\nCeiling of an exact fp32 step here (an estimate): products at the rate of a "
              f"matmul over distinct weights ({ceiling['streamed_gflop_s']:.1f} GFLOP/s, "
              f"{ceiling['streamed_gflop_s'] / ceiling['hot_gflop_s']:.2f} of the hot "
              f"matmul's {ceiling['hot_gflop_s']:.1f}) plus fused Adam alone "
              f"({ceiling['adam_ms']:.0f} ms): {ceiling['ceiling_step_ms']:.0f} ms per step, "
              f"{ceiling['ceiling_fraction']:.2f} of the hot matmul.")
        if ours is not None:
            print(f"n2nlib's step is {ceiling['ceiling_step_ms'] / ours.step_ms:.2f} of that "
                  f"ceiling's speed ({ours.step_ms:.0f} ms against "
                  f"{ceiling['ceiling_step_ms']:.0f} ms).")
    if args.json:
        Path(args.json).write_text(json.dumps({"header": header, "ceiling": ceiling,
                                               "rows": [asdict(r) for r in rows]}, indent=1))
    return rows


if __name__ == "__main__":
    main()
