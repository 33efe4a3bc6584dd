"""The network: shapes, gradients, structure of the variants, and sizes from the equations."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from csrnet.model import PRESETS, CSRnet, ModelConfig, make_model, multiply_adds_per_pixel

TINY = dict(depth=2, res_blocks=1, channels=8, first_channels=16)


def counts_from_equations(cfg: ModelConfig) -> tuple[int, float]:
    """(parameters, multiply-adds per output pixel), written out from eqs. 1-10.

    Conv k x k from a to b channels: a*b*k*k weights + b biases; its multiply-adds per output
    pixel at scale s are a*b*k*k / 4**s. F_down is 3x3/2, F_up a 4x4/2 transposed conv.
    """
    c, c1, d_max, r, n_scales = (
        cfg.channels,
        cfg.first_channels,
        cfg.depth,
        cfg.res_blocks,
        cfg.scales,
    )

    def conv(a: int, b: int, k: int) -> int:
        return a * b * k * k + b

    params = conv(1, c1, 7) + conv(c1, c, 3)  # eqs. 1, 2
    macs = 1 * c1 * 49 + c1 * c * 9
    for d in range(1, d_max + 1):
        for s in range(n_scales):
            width_in = c * d if cfg.dense else c  # eq. 10: d - 1 predecessors + f2 or F_down
            if cfg.chain_coarse and s > 0 and d > 1:
                width_in = 2 * c  # the last block's output at scale s, and F_down
            area = 4**-s
            params += conv(width_in, c, 1) + r * 2 * conv(c, c, 3) + conv(c, c, 1)  # eqs. 6, 7
            macs += area * (width_in * c + r * 2 * c * c * 9 + c * c)
            if s > 0:  # eq. 8: F_down into scale s
                params += conv(c, c, 3)
                macs += area * c * c * 9
            if s < n_scales - 1:  # eq. 9: F_up from scale s + 1 (each input pixel x 4x4 kernel)
                params += conv(c, c, 4)
                macs += area / 4 * c * c * 16
    params += conv(c * (d_max + 1), c1, 1) + conv(c1, c, 3) + conv(c, 1, 3)  # eqs. 3, 4
    macs += (d_max + 1) * c * c1 + c1 * c * 9 + c * 9
    return params, macs


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_sizes_match_the_equations(name: str) -> None:
    model = make_model(name)
    params, macs = counts_from_equations(model.config)
    assert sum(p.numel() for p in model.parameters()) == params
    assert multiply_adds_per_pixel(model) == pytest.approx(macs)


def test_chained_coarse_sizes_match_the_equations() -> None:
    model = make_model("CSRnet-3S", chain_coarse=True)
    params, macs = counts_from_equations(model.config)
    assert sum(p.numel() for p in model.parameters()) == params
    assert multiply_adds_per_pixel(model) == pytest.approx(macs)


def test_presets_are_the_papers_variants() -> None:
    assert PRESETS["CSRnet-Dense"] == PRESETS["B8R6"] == ModelConfig()
    assert ModelConfig() == ModelConfig(
        depth=8, res_blocks=6, channels=32, first_channels=64, scales=3, dense=True
    )
    assert [PRESETS[f"CSRnet-{k}S"].scales for k in (1, 2, 3)] == [1, 2, 3]
    assert not any(PRESETS[f"CSRnet-{k}S"].dense for k in (1, 2, 3))
    assert [PRESETS[f"B{d}R6"].depth for d in (4, 6, 8)] == [4, 6, 8]


@pytest.mark.parametrize("scales", [1, 2, 3])
@pytest.mark.parametrize("shape", [(1, 1, 37, 53), (2, 1, 17, 9), (1, 1, 1, 1), (1, 1, 64, 64)])
def test_any_size_in_same_size_out(scales: int, shape: tuple[int, ...]) -> None:
    model = CSRnet(**TINY, scales=scales)
    with torch.no_grad():
        out = model(torch.rand(shape))
    assert out.shape == shape and torch.isfinite(out).all()


def test_unbatched_input_and_batch_independence() -> None:
    model = CSRnet(**TINY).eval()
    x = torch.rand(3, 1, 21, 30)
    with torch.no_grad():
        batched = model(x)
        single = model(x[1])
    assert single.shape == (1, 21, 30)
    torch.testing.assert_close(single, batched[1], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError):
        model(torch.rand(1, 3, 8, 8))


@pytest.mark.parametrize(
    "kwargs",
    [{}, TINY | {"scales": 2, "dense": False}, TINY | {"dense": False, "chain_coarse": True}],
)
def test_every_parameter_receives_a_gradient(kwargs: dict) -> None:
    torch.manual_seed(0)
    model = CSRnet(**kwargs)
    out = model(torch.rand(2, 1, 20, 28))
    (out - 0.5).square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_single_scale_has_no_down_or_up_convs() -> None:
    model = CSRnet(**TINY, scales=1)
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in model.modules())
    assert all(m.stride == (1, 1) for m in model.modules() if isinstance(m, nn.Conv2d))
    assert model.multiple == 1
    multi = CSRnet(**TINY, scales=3)
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in multi.modules()) == 2 * TINY["depth"]


def test_inter_block_links_only_in_the_dense_model() -> None:
    c = TINY["channels"]
    chained = CSRnet(**TINY, dense=False)
    for block in chained.blocks:
        assert [b.fuse_in.in_channels for b in block.branches] == [c] * 3
    dense = CSRnet(**TINY, dense=True)
    for d, block in enumerate(dense.blocks, start=1):
        assert [b.fuse_in.in_channels for b in block.branches] == [c * d] * 3
    coarse = CSRnet(**TINY, dense=False, chain_coarse=True)
    widths = [[b.fuse_in.in_channels for b in block.branches] for block in coarse.blocks]
    assert widths == [[c, c, c], [c, 2 * c, 2 * c]]  # block 2: the last block's output too


def test_chain_coarse_hands_each_scale_to_the_next_block() -> None:
    """Block d's scale-s inputs (before F_down is added): one tensor per scale from block 2
    on with chain_coarse; at scale 0 only without it."""
    seen: list[list[int]] = []
    for chain in (False, True):
        model = CSRnet(**(TINY | {"depth": 3}), dense=False, chain_coarse=chain).eval()
        for block in model.blocks:
            block.register_forward_pre_hook(lambda m, args: seen.append([len(x) for x in args[0]]))
        with torch.no_grad():
            model(torch.rand(1, 1, 16, 16))
    assert seen == [[1, 0, 0]] * 3 + [[1, 0, 0], [1, 1, 1], [1, 1, 1]]


def test_chained_block_reads_only_its_predecessor() -> None:
    """Chained: each block's scale-0 input is one tensor (the previous output, or f2).
    Dense (eq. 10): block d concatenates its d - 1 predecessors and f2."""
    torch.manual_seed(0)
    model = CSRnet(
        depth=3, res_blocks=1, channels=4, first_channels=8, scales=1, dense=False
    ).eval()
    seen: list[int] = []
    for i, block in enumerate(model.blocks):
        block.register_forward_pre_hook(lambda m, args, i=i: seen.append((i, len(args[0][0]))))
    with torch.no_grad():
        model(torch.rand(1, 1, 8, 8))
    assert seen == [(0, 1), (1, 1), (2, 1)]
    dense = CSRnet(depth=3, res_blocks=1, channels=4, first_channels=8, scales=1, dense=True).eval()
    seen.clear()
    for i, block in enumerate(dense.blocks):
        block.register_forward_pre_hook(lambda m, args, i=i: seen.append((i, len(args[0][0]))))
    with torch.no_grad():
        dense(torch.rand(1, 1, 8, 8))
    assert seen == [(0, 1), (1, 2), (2, 3)]  # [f2], [out1, f2], [out1, out2, f2]


def test_input_skip_adds_the_input() -> None:
    model = CSRnet(**TINY, input_skip=True)
    nn.init.zeros_(model.rec2.weight)
    nn.init.zeros_(model.rec2.bias)
    x = torch.rand(1, 1, 13, 14)
    with torch.no_grad():
        torch.testing.assert_close(model(x), x)
    assert not CSRnet(**TINY).config.input_skip


@pytest.mark.parametrize(
    "bad",
    [
        {"scales": 4},
        {"scales": 0},
        {"depth": 0},
        {"channels": 2.5},
        {"res_blocks": True},
        {"chain_coarse": True},  # with the default dense=True
    ],
)
def test_bad_arguments_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError):
        CSRnet(**bad)
    with pytest.raises(ValueError):
        make_model("CSRnet-9S")
