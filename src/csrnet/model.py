"""CSRnet: the Cross-Scale Residual Network (Zhou et al.), section III of the paper.

Input and output: a batch of images shaped (N, C, H, W), values on the [0, 1] scale: C = 1
for the paper's models (the gray image or the Y channel), C = 3 for RGB models (beyond the
paper: only the first and the last convolutions change). Any H and W: the input is padded
to a multiple of ``2 ** (scales - 1)`` for the coarse branches and the output cropped back.

Notation follows the paper: f1, f2 are the shallow features (eqs. 1-2), block d has branches
at scale s = 0, 2, 4 (1x, 1/2x, 1/4x; index 0, 1, 2 here), f_HFF is the fused feature (eq. 3).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["CSRnet", "ModelConfig", "PRESETS", "make_model", "multiply_adds_per_pixel"]


@dataclass(frozen=True)
class ModelConfig:
    """Architecture arguments of :class:`CSRnet` (what a weights file records).

    Args:
        depth: number D of cross-scale residual blocks (CSRbs).
        res_blocks: number R of residual blocks per branch of each CSRb.
        channels: width of every convolution but the first and the last (32 in the paper).
        first_channels: width of the first 7x7 convolution, f1 (64 in the paper).
        scales: branches per CSRb, 1 to 3 (1x; 1x and 1/2x; 1x, 1/2x and 1/4x).
        dense: inter-block links of eq. 10; without them the blocks form a plain chain.
        chain_coarse: in the plain chain (``dense=False``), also hand each coarse scale's
            output to the next block at that scale (eq. 10 cut to its last term at every
            scale). Off: only scale 0 chains, and a coarse branch reads F_down alone. The
            paper does not say which its 2S/3S ablation used; off is our default reading.
        input_skip: add the input image to the output (global residual learning). Not in
            eq. 4, hence off by default.
        image_channels: channels of the images in and out: 1 (gray or Y, the paper's) or 3
            (RGB).
    """

    depth: int = 8
    res_blocks: int = 6
    channels: int = 32
    first_channels: int = 64
    scales: int = 3
    dense: bool = True
    chain_coarse: bool = False
    input_skip: bool = False
    image_channels: int = 1

    def __post_init__(self) -> None:
        for name in ("depth", "res_blocks", "channels", "first_channels"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.image_channels not in (1, 3):
            raise ValueError(f"image_channels must be 1 or 3, got {self.image_channels!r}")
        if self.scales not in (1, 2, 3):
            raise ValueError(f"scales must be 1, 2 or 3, got {self.scales!r}")
        if self.chain_coarse and self.dense:
            raise ValueError("chain_coarse applies to the plain chain only (dense=False)")


# The variants of the paper's Table I (ablation, all D8R6 at x2) and Table V (depth).
PRESETS: dict[str, ModelConfig] = {
    "CSRnet-1S": ModelConfig(scales=1, dense=False),
    "CSRnet-2S": ModelConfig(scales=2, dense=False),
    "CSRnet-3S": ModelConfig(scales=3, dense=False),
    "CSRnet-Dense": ModelConfig(),
    "B4R6": ModelConfig(depth=4),
    "B6R6": ModelConfig(depth=6),
    "B8R6": ModelConfig(depth=8),
}


def conv(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> nn.Conv2d:
    """A 'same'-padded convolution with bias."""
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding=kernel_size // 2)


class ResidualBlock(nn.Module):
    """F^res: conv3x3 - ReLU - conv3x3 plus identity, no batch normalisation (section III-B)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = conv(channels, channels, 3)
        self.conv2 = conv(channels, channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class Branch(nn.Module):
    """One scale of a CSRb: 1x1 input conv (eq. 6), R residual blocks, 1x1 output conv (eq. 7).

    A container of layers; :class:`CSRb` runs them, since the scales feed one another.
    """

    def __init__(self, in_channels: int, channels: int, res_blocks: int) -> None:
        super().__init__()
        self.fuse_in = nn.Conv2d(in_channels, channels, 1)
        self.body = nn.Sequential(*(ResidualBlock(channels) for _ in range(res_blocks)))
        self.fuse_out = nn.Conv2d(channels, channels, 1)


class CSRb(nn.Module):
    """Cross-scale residual block number ``index`` (1-based) of the network.

    At scale 0 the block reads [its scale-0 predecessors, f2] in the dense model (eq. 6 with
    eq. 10) or the previous block's scale-0 output in the chained model; at coarser scales it
    reads [its same-scale predecessors, F_down(finer input)] (eqs. 6, 8). Outputs run from
    the coarsest scale up, each adding F_up of the next coarser output (eqs. 7, 9).
    """

    def __init__(self, index: int, cfg: ModelConfig) -> None:
        super().__init__()
        c = cfg.channels
        # eq. 6: the paper's "+" is concatenation ("computed by concatenating two kinds of
        # features"), so the 1x1 conv sees (index - 1) predecessors plus one more input.
        if cfg.dense:
            in_channels = [c * index] * cfg.scales
        else:  # one predecessor (or f2) at scale 0; F_down, and the last block's if chained
            coarse = 2 * c if cfg.chain_coarse and index > 1 else c
            in_channels = [c] + [coarse] * (cfg.scales - 1)
        self.branches = nn.ModuleList(Branch(n, c, cfg.res_blocks) for n in in_channels)
        # eq. 8: F_down, a 3x3 convolution with stride 2 (the kernel size is our choice).
        self.down = nn.ModuleList(conv(c, c, 3, stride=2) for _ in range(cfg.scales - 1))
        # eq. 9: F_up, a transposed convolution with stride 2 (the paper's "stride 1/2");
        # kernel 4 with padding 1 doubles the size exactly and overlaps evenly (our choice).
        self.up = nn.ModuleList(
            nn.ConvTranspose2d(c, c, 4, stride=2, padding=1) for _ in range(cfg.scales - 1)
        )

    def forward(self, inputs: list[list[torch.Tensor]]) -> list[torch.Tensor]:
        """Args: inputs[s], the features to concatenate at scale s (before the 1x1 conv).
        Returns: the block's output at each scale, finest first."""
        branch_in = []
        for s, branch in enumerate(self.branches):
            parts = inputs[s] if s == 0 else [*inputs[s], self.down[s - 1](branch_in[s - 1])]
            branch_in.append(branch.fuse_in(torch.cat(parts, dim=1)))  # eq. 6 (eq. 8 inside)
        outputs: list[torch.Tensor] = []
        for s in reversed(range(len(self.branches))):  # coarsest first
            branch = self.branches[s]
            out = branch.fuse_out(branch.body(branch_in[s]))  # eq. 7
            if outputs:
                out = out + self.up[s](outputs[0])  # eq. 7's "+ f_s^{s+2}", eq. 9
            outputs.insert(0, out)
        return outputs


class CSRnet(nn.Module):
    """The cross-scale residual network.

    Args:
        config: the architecture (default: the paper's D8R6 with three scales).
        **overrides: fields of :class:`ModelConfig` that replace the config's, e.g.
            ``CSRnet(depth=4)``.
    """

    def __init__(self, config: ModelConfig | None = None, **overrides: int | bool) -> None:
        super().__init__()
        self.config = cfg = replace(config or ModelConfig(), **overrides)
        c, c1 = cfg.channels, cfg.first_channels
        self.sfe1 = conv(cfg.image_channels, c1, 7)  # eq. 1: f1, 7x7
        self.sfe2 = conv(c1, c, 3)  # eq. 2: f2, 3x3
        self.blocks = nn.ModuleList(CSRb(d, cfg) for d in range(1, cfg.depth + 1))
        # eq. 3: 1x1 over [f2, f_{1,0}^out, ..., f_{D,0}^out]. It outputs first_channels so
        # that eq. 4 can add it to the 64-channel f1 (the paper leaves the width unstated).
        self.hff = nn.Conv2d(c * (cfg.depth + 1), c1, 1)
        # eq. 4: F_REC, two 3x3 convolutions; the paper names no activation between them.
        self.rec1 = conv(c1, c, 3)
        self.rec2 = conv(c, cfg.image_channels, 3)

    @property
    def multiple(self) -> int:
        """Height and width must be multiples of this inside the network."""
        return 2 ** (self.config.scales - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x, (N, C, H, W) or (C, H, W). Returns: the restored image, same shape."""
        unbatched = x.dim() == 3
        if unbatched:
            x = x.unsqueeze(0)
        c = self.config.image_channels
        if x.dim() != 4 or x.shape[1] != c:
            raise ValueError(f"expected (N, {c}, H, W) or ({c}, H, W), got {tuple(x.shape)}")
        h, w = x.shape[-2:]
        m = self.multiple
        pad_h, pad_w = -h % m, -w % m
        padded = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else x
        y = self._forward_padded(padded)[..., :h, :w]
        if self.config.input_skip:
            y = y + x
        return y.squeeze(0) if unbatched else y

    def _forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        f1 = self.sfe1(x)
        f2 = self.sfe2(f1)
        scales = self.config.scales
        history: list[list[torch.Tensor]] = [[] for _ in range(scales)]  # eq. 10
        for block in self.blocks:
            if self.config.dense:  # eq. 6 + eq. 10: all same-scale predecessors
                inputs = [[*history[0], f2], *history[1:]]
            else:  # plain chain: the previous block's output (f2 for block 1 at scale 0)
                inputs = [[history[0][-1] if history[0] else f2]]
                inputs += [history[s][-1:] for s in range(1, scales)]
            outputs = block(inputs)
            for s, out in enumerate(outputs):
                # Coarse outputs are kept for later blocks in the dense model and when chained.
                if s == 0 or self.config.dense or self.config.chain_coarse:
                    history[s].append(out)
        f_hff = self.hff(torch.cat([f2, *history[0]], dim=1))  # eq. 3
        return self.rec2(self.rec1(f_hff + f1))  # eq. 4


def make_model(preset: str = "CSRnet-Dense", **overrides) -> CSRnet:
    """Build a preset of the paper (see ``PRESETS``), optionally overriding its arguments."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    return CSRnet(PRESETS[preset], **overrides)


def multiply_adds_per_pixel(model: CSRnet, size: int = 64) -> float:
    """Multiply-adds of one forward pass per output pixel, counted on a size x size input."""
    total = 0

    def count(module: nn.Module, inputs: tuple[torch.Tensor], output: torch.Tensor) -> None:
        nonlocal total
        k = module.kernel_size[0] * module.kernel_size[1]
        if isinstance(module, nn.ConvTranspose2d):  # every input pixel scatters a kernel
            total += inputs[0].numel() * module.out_channels * k // module.groups
        else:
            total += output.numel() * module.in_channels * k // module.groups

    hooks = [
        m.register_forward_hook(count)
        for m in model.modules()
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))
    ]
    try:
        with torch.no_grad():
            model(torch.zeros(1, model.config.image_channels, size, size))
    finally:
        for hook in hooks:
            hook.remove()
    return total / (size * size)
