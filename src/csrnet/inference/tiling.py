"""Tile geometry for restoring large images: each tile keeps its core and discards a margin
(``overlap``) on each inner side, where missing context would change the result.

Torch-free, so that the command line checks ``--tile`` before it imports torch.
"""

from __future__ import annotations

from csrnet.errors import CsrnetError

__all__ = ["DEFAULT_OVERLAP", "MIN_CORE", "check_tile"]

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
