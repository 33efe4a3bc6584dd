"""Tile geometry for restoring large images: each tile keeps its core and discards a margin
(``overlap``) on each inner side, where missing context would change the result.

Torch-free, so that the command line checks ``--tile`` before it imports torch.
"""

from __future__ import annotations

from csrnet.errors import CsrnetError

__all__ = ["DEFAULT_OVERLAP", "MIN_CORE", "check_tile", "spans"]

DEFAULT_OVERLAP = 32  # pixels discarded on each inner side of a tile
MIN_CORE = 32  # the least core a tile must keep: smaller ones cost more margin than work


def check_tile(tile: int, overlap: int = DEFAULT_OVERLAP) -> None:
    """Refuse a tile side (0: no tiling) that leaves less than ``MIN_CORE`` pixels of core."""
    if overlap < 0:
        raise CsrnetError(f"--overlap {overlap}: must be >= 0")
    if tile < 0 or (tile and tile - 2 * overlap < MIN_CORE):
        raise CsrnetError(
            f"--tile {tile} leaves a {max(tile - 2 * overlap, 0)}-pixel core with --overlap "
            f"{overlap}: give --tile {2 * overlap + MIN_CORE} or more (or 0: no tiles)"
        )


def spans(size: int, tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """(core start, core end, tile start, tile end) along one axis: cores of ``tile - 2 *
    overlap`` pixels, each in a tile that reaches ``overlap`` pixels beyond it on each side
    inside the image."""
    if size <= tile:
        return [(0, size, 0, size)]
    core = tile - 2 * overlap
    return [
        (start, min(start + core, size), max(0, start - overlap), min(size, start + core + overlap))
        for start in range(0, size, core)
    ]
