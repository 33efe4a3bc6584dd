"""Training patches drawn on the training device from images held in its memory.

The host stream (``data.PatchStream``) makes every batch in Python and copies it
over. Here the training images are packed once into flat tensors on the device, and a batch
is a few dozen tensor operations: no host work, no copy and no synchronisation per step, so
a whole training step can be captured as one CUDA graph (``engine: graph``).

Every random choice is a counter-based hash (murmur3's 32-bit finaliser) of (seed, step,
index in the global batch, draw), computed with integer tensor arithmetic. So a patch is a
pure function of (seed, step, index) on any device: the CPU draws the same images, crops and
flips as the GPU (noise agrees to float rounding), a resumed run continues exactly, and the
processes of a multi-GPU run take disjoint slices of one global batch. It is not the host
stream's sequence of patches, but the same distribution:

- **SR**: per scale, the mod-cropped clean Y and its float bicubic input (MATLAB down and up
  of the whole image, made once, as the host path does).
- **Denoising**: the clean Y; sigma per patch (one of ``levels``, or uniform in
  ``level_range``), Gaussian noise per pixel (Box-Muller on hashed uniforms), not clipped.
- **JPEG**: per quality, the JPEG of the whole clean image, made once (the host path encodes
  each patch; here the 8x8 grid falls anywhere in a patch, as it does in a crop of a photo).

RGB models' images are packed the same way, channels last, and come out (B, 3, patch, patch)
(JPEG in colour with 4:2:0 chroma; noise drawn per channel).

Flips and rotations: the 8 of the dihedral group are (transpose or not) x (flip rows or not)
x (flip columns or not). Transposed images are stored as entries of their own, for JPEG
encoded after transposing (its quantisation table is not symmetric); flips are index
arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from csrnet.datasets.patches import PatchRecipe, TrainingImages
from csrnet.protocol.degrade import jpeg_compress

__all__ = ["PatchBank", "hash32"]

MASK32 = 0xFFFFFFFF
# What each hashed draw is for; noise takes two draws per pixel from NOISE on.
LEVEL, IMAGE, TRANSFORM, ROW, COLUMN, NOISE = range(6)


def _mul32(x: torch.Tensor, c: int) -> torch.Tensor:
    """``x * c mod 2**32`` for x in [0, 2**32) held in int64, without overflowing it."""
    low, high = c & 0xFFFF, c >> 16
    return (x * low + (((x * high) & 0xFFFF) << 16)) & MASK32


def _fmix32(h: torch.Tensor) -> torch.Tensor:
    """murmur3's finaliser: a bijection of 32-bit words that mixes every bit into every bit."""
    h = h ^ (h >> 16)
    h = _mul32(h, 0x85EBCA6B)
    h = h ^ (h >> 13)
    h = _mul32(h, 0xC2B2AE35)
    return h ^ (h >> 16)


def hash32(*words: torch.Tensor | int) -> torch.Tensor:
    """A 32-bit hash (in int64) of a sequence of words, broadcast over tensor words."""
    h = torch.as_tensor(0x9E3779B9, dtype=torch.int64)
    for word in words:
        h = _fmix32(h ^ (torch.as_tensor(word, dtype=torch.int64) & MASK32))
    return h


def _below(h: torch.Tensor, n: torch.Tensor | int) -> torch.Tensor:
    """An integer in [0, n) from a 32-bit hash (n < 2**31): ``floor(h * n / 2**32)``."""
    return (h * n) >> 32


def _uniform(h: torch.Tensor) -> torch.Tensor:
    """A float32 in [0, 1) from a 32-bit hash (its top 24 bits)."""
    return (h >> 8).to(torch.float32) * (1.0 / (1 << 24))


@dataclass
class _Packed:
    """Images of one kind, flattened end to end, with each entry's offset and size."""

    pixels: torch.Tensor  # (total,) uint8 or float32
    offset: torch.Tensor  # (entries,) int64
    height: torch.Tensor  # (entries,) int64
    width: torch.Tensor  # (entries,) int64

    @classmethod
    def pack(cls, images: list[np.ndarray], dtype: np.dtype) -> _Packed:
        sizes = [img.size for img in images]
        offset = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        flat = np.concatenate([np.ascontiguousarray(img, dtype=dtype).ravel() for img in images])
        return cls(
            torch.from_numpy(flat),
            torch.from_numpy(offset),
            torch.tensor([img.shape[0] for img in images], dtype=torch.int64),
            torch.tensor([img.shape[1] for img in images], dtype=torch.int64),
        )

    def to(self, device: torch.device) -> _Packed:
        return _Packed(*(t.to(device) for t in (self.pixels, self.offset, self.height, self.width)))


class PatchBank:
    """The training images of one recipe on one device, and batches drawn from them there.

    Entries: the clean images for (slot, orientation, image) and, for SR and JPEG, the
    degraded ones; a slot is a scale (SR), a quality (JPEG) or nothing (denoising, slot 0).
    Build with :meth:`build`; draw with :meth:`sample`.
    """

    def __init__(
        self,
        recipe: PatchRecipe,
        clean: _Packed,
        degraded: _Packed | None,
        slot_levels: torch.Tensor,
        n_images: int,
        channels: int = 1,
    ) -> None:
        self.recipe = recipe
        self.clean, self.degraded = clean, degraded
        self.slot_levels = slot_levels  # (slots,) float32: the level of each slot
        self.n_images = n_images
        self.channels = channels  # 1 (Y) or 3 (RGB), stored last

    @classmethod
    def build(cls, images: TrainingImages, recipe: PatchRecipe, device: torch.device) -> PatchBank:
        """Pack ``images`` for ``recipe`` and move them to ``device`` (for JPEG, encoding
        every image at every quality of the recipe, both orientations, first)."""
        task = recipe.task
        if task == "jpeg" and recipe.level_range is not None:
            low, high = (int(q) for q in recipe.level_range)
            slots = [float(q) for q in range(low, high + 1)]
        else:
            slots = [float(level) for level in recipe.levels] or [0.0]
        clean_slots = slots if task == "sr" else [0.0]
        oriented = {  # (level, orientation) -> clean images
            (s, o): [np.swapaxes(img, 0, 1) if o else img for img in images.clean[s]]
            for s in clean_slots
            for o in (0, 1)
        }
        clean = [img for s in clean_slots for o in (0, 1) for img in oriented[s, o]]
        degraded: list[np.ndarray] | None = None
        if task == "sr":
            degraded = [
                np.swapaxes(img, 0, 1) if o else img
                for s in slots
                for o in (0, 1)
                for img in images.sr_inputs[s]
            ]
        elif task == "jpeg":
            degraded = [
                jpeg_compress(np.ascontiguousarray(img), int(q))
                for q in slots
                for o in (0, 1)
                for img in oriented[0.0, o]
            ]
        packed_degraded = None
        if degraded is not None:
            dtype = np.float32 if task == "sr" else np.uint8
            packed_degraded = _Packed.pack(degraded, dtype).to(device)
        return cls(
            recipe,
            _Packed.pack(clean, np.uint8).to(device),
            packed_degraded,
            torch.tensor(slots, dtype=torch.float32, device=device),
            len(images),
            clean[0].shape[2] if clean[0].ndim == 3 else 1,
        )

    @property
    def device(self) -> torch.device:
        return self.clean.pixels.device

    def _draw_level(self, h_level: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(slot, level) of each patch."""
        r = self.recipe
        n_slots = self.slot_levels.numel()
        if r.task == "denoise" and r.level_range is not None:
            low, high = r.level_range
            sigma = low + _uniform(h_level) * (high - low)
            return torch.zeros_like(h_level), sigma
        slot = _below(h_level, n_slots)
        return slot, self.slot_levels[slot]

    def sample(
        self, step: torch.Tensor | int, indices: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(degraded, clean) patches for ``step`` and batch ``indices`` (int64 on the device),
        each (len(indices), C, patch, patch) float32 on [0, 1]. Pure tensor code: it can be
        captured in a CUDA graph, with ``step`` a device tensor updated in place."""
        r, p, n, c = self.recipe, self.recipe.patch, self.n_images, self.channels
        base = hash32(r.seed, step, indices)  # (B,)
        slot, level = self._draw_level(hash32(base, LEVEL))
        k = _below(hash32(base, IMAGE), n)
        t = hash32(base, TRANSFORM)
        orientation, flip_rows, flip_cols = t & 1, (t >> 1) & 1, (t >> 2) & 1
        clean_slot = slot if r.task == "sr" else torch.zeros_like(slot)
        entry = (clean_slot * 2 + orientation) * n + k
        height, width = self.clean.height[entry], self.clean.width[entry]
        y0 = _below(hash32(base, ROW), height - p + 1)
        x0 = _below(hash32(base, COLUMN), width - p + 1)
        u = torch.arange(p, device=indices.device)
        rows = y0[:, None] + torch.where(flip_rows[:, None] == 1, p - 1 - u, u)  # (B, p)
        cols = x0[:, None] + torch.where(flip_cols[:, None] == 1, p - 1 - u, u)
        pixel = rows[:, :, None] * width[:, None, None] + cols[:, None, :]  # (B, p, p)
        within = pixel[..., None] * c + torch.arange(c, device=indices.device)  # (B, p, p, c)
        clean = self.clean.pixels[self.clean.offset[entry].view(-1, 1, 1, 1) + within].float()
        if r.task == "denoise":
            draws = NOISE + 2 * torch.arange(p * p * c, device=indices.device).view(1, p, p, c)
            b = base.view(-1, 1, 1, 1)
            u1 = ((hash32(b, draws) >> 8) + 1).to(torch.float32) * (1.0 / (1 << 24))  # (0, 1]
            u2 = _uniform(hash32(b, draws + 1))
            normal = torch.sqrt(-2.0 * torch.log(u1)) * torch.cos((2 * math.pi) * u2)
            degraded = clean + level.view(-1, 1, 1, 1) * normal
        else:
            d_entry = (slot * 2 + orientation) * n + k
            offset = self.degraded.offset[d_entry].view(-1, 1, 1, 1)
            degraded = self.degraded.pixels[offset + within].float()
        scale = 1.0 / 255
        return (degraded * scale).permute(0, 3, 1, 2), (clean * scale).permute(0, 3, 1, 2)
