"""Where fetched sets go, and the one-line answer when a command needs a set that is not there."""

from __future__ import annotations

import os
from pathlib import Path

from csrnet.datasets.manifest import load_manifest
from csrnet.errors import CsrnetError
from csrnet.protocol.images import user_data_root

__all__ = ["fetch_root", "require_folder", "require_sets"]


def fetch_root() -> Path:
    """Where `csrnet data fetch` puts sets unless told: $CSRNET_DATA, else the user data
    folder (which the data root then is)."""
    return Path(os.environ.get("CSRNET_DATA") or user_data_root())


def _to(root: Path) -> str:
    """The ``--to`` option a fetch into ``root`` needs (none for the default place)."""
    return "" if root.resolve() == fetch_root().resolve() else f" --to {root}"


def require_sets(root: str | os.PathLike, names: list[str]) -> None:
    """An error naming the sets of ``names`` missing under ``root`` and the command that gets
    those the manifest knows."""
    root = Path(root)
    missing = sorted({n for n in names if not (root / n).is_dir()})
    if not missing:
        return
    known = [n for n in missing if n in load_manifest().sets]
    hint = f"; get them with: csrnet data fetch {' '.join(known)}{_to(root)}" if known else ""
    raise CsrnetError(f"{root}: missing sets {', '.join(missing)}{hint} (or set --data-root)")


def require_folder(folder: str | os.PathLike) -> Path:
    """``folder`` if it is one; else an error that, for a known set, names the command that
    gets it."""
    path = Path(folder)
    if path.is_dir():
        return path
    if path.exists():
        raise CsrnetError(f"{path}: not a folder")
    manifest = load_manifest()
    known = {n.lower(): n for n in [*manifest.sets, *manifest.large]}.get(path.name.lower())
    if known is None:
        raise CsrnetError(f"{path}: no such folder")
    to = _to(path.parent)
    if known in manifest.large:
        url = manifest.large[known].archive
        raise CsrnetError(
            f"{path}: no such folder; download {url}, then: csrnet data prepare {known} FILE{to}"
        )
    raise CsrnetError(f"{path}: no such folder; get the set with: csrnet data fetch {known}{to}")
