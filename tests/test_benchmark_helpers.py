"""The benchmarks' own arithmetic: what their ratios are divided by must be right."""

import sys
from pathlib import Path

import pytest

from n2nlib import ConditionalINN

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from bench_cinn import linear_flops_per_sample  # noqa: E402


@pytest.mark.parametrize("fused", [True, False])
def test_linear_flops_count_every_layer_of_either_coupling_layout(fused):
    # 16-d data, 8-d condition, embedder 8 → 16 (Table S3a MLP), 2 blocks of couplings with
    # four subnets 8 + 16 → 64 → 64 → 64 → 8 each
    cinn = ConditionalINN(16, 8, n_blocks=2, hidden_dim=64, fused_subnets=fused)
    embedder = sum(2 * m.in_features * m.out_features for m in cinn.embedder.modules()
                   if hasattr(m, "in_features"))
    subnet = 2 * ((8 + 16) * 64 + 64 * 64 + 64 * 64 + 64 * 8)
    assert linear_flops_per_sample(cinn) == embedder + 2 * 2 * 2 * subnet


def test_the_ceiling_is_the_streamed_products_plus_adam_alone():
    from bench_peers import measure_ceiling

    dim, cond, blocks, batch = 8, 4, 2, 16
    got = measure_ceiling(dim, cond, blocks, batch)
    flops = 3 * linear_flops_per_sample(ConditionalINN(dim, cond, n_blocks=blocks)) * batch
    assert got["adam_ms"] > 0 and got["streamed_gflop_s"] > 0
    step_s = flops / (got["streamed_gflop_s"] * 1e9) + got["adam_ms"] / 1e3
    assert got["ceiling_step_ms"] == pytest.approx(step_s * 1e3)
    assert got["ceiling_fraction"] == pytest.approx(flops / step_s / 1e9 / got["hot_gflop_s"])
    # given the n2nlib row's hot matmul, the ceiling shares its denominator
    shared = measure_ceiling(dim, cond, blocks, batch, hot_gflop_s=123.0)
    assert shared["hot_gflop_s"] == 123.0
    assert shared["ceiling_fraction"] == pytest.approx(
        flops / (shared["ceiling_step_ms"] / 1e3) / 1e9 / 123.0)
