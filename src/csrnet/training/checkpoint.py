"""Training checkpoints (``.pt``): written atomically, read without unpickling code, checked.

A run folder holds ``last.pt`` (everything ``--resume`` needs) and ``last.prev.pt`` (the one
before it, so that a damaged ``last.pt`` does not end a run), ``best.pt`` (the best
validated weights), and ``.lock`` while a ``csrnet train`` uses the folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from csrnet.errors import CsrnetError, first_line
from csrnet.protocol.images import write_atomic

__all__ = ["RunLock", "clean_stale_temporaries", "read_checkpoint", "write_checkpoint"]

# What each kind of checkpoint must hold, and of what type.
REQUIRED: dict[str, dict[str, type | tuple[type, ...]]] = {
    "last": {
        "model": dict,
        "optimizer": dict,
        "step": int,
        "best_psnr": (int, float),
        "history": list,
        "config": dict,
        "rng": dict,
    },
    "best": {"model": dict, "step": int, "config": dict},
    "weights": {"model": dict},
}


def read_checkpoint(path: str | os.PathLike, kind: str | None = None) -> dict[str, Any]:
    """A checkpoint written by ``csrnet train`` (``torch.load`` with ``weights_only=True``);
    with ``kind`` ("last", "best" or "weights"), refused unless it holds that kind's keys."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CsrnetError(f"{path}: no such checkpoint") from None
    except IsADirectoryError:
        raise CsrnetError(f"{path}: is a folder, not a checkpoint") from None
    except Exception as exc:  # torch raises many types for a corrupt or foreign file
        raise CsrnetError(f"{path}: not a readable checkpoint ({first_line(exc)})") from None
    if not isinstance(state, dict):
        raise CsrnetError(f"{path}: not a csrnet checkpoint (no table of contents)")
    for key, types in REQUIRED.get(kind, {}).items():
        if key not in state:
            raise CsrnetError(f"{path}: not a complete {kind} checkpoint (no {key!r})")
        if not isinstance(state[key], types) or isinstance(state[key], bool):
            raise CsrnetError(f"{path}: {key!r} is a {type(state[key]).__name__}, not usable")
    return state


def write_checkpoint(path: str | os.PathLike, payload: dict[str, Any], keep: bool = False) -> None:
    """``torch.save`` to a temporary file, then rename it into place. With ``keep``, the
    checkpoint it replaces becomes ``<name>.prev.pt`` first."""
    path = Path(path)

    def save(tmp: Path) -> None:
        torch.save(payload, tmp)
        if keep and path.is_file():
            os.replace(path, previous(path))

    write_atomic(path, save)


def previous(path: Path) -> Path:
    """Where the checkpoint before ``path`` is kept: ``last.pt`` -> ``last.prev.pt``."""
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def clean_stale_temporaries(run_dir: Path) -> list[Path]:
    """Remove the temporary files of checkpoint writes that a kill interrupted; the removed."""
    stale = sorted(run_dir.glob(".*.pt.*.tmp")) if run_dir.is_dir() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


class RunLock:
    """An exclusive lock on a run folder (``.lock``, flock), so that two ``csrnet train``
    cannot write one run. Released when the process ends, however it ends."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / ".lock"
        self.fd: int | None = None
        self.made_dir = self.made_lock = False

    def __enter__(self) -> RunLock:
        try:
            import fcntl
        except ImportError:  # no flock (Windows): no lock
            return self
        self.made_dir = not self.path.parent.exists()
        self.made_lock = not self.path.exists()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise CsrnetError(
                f"{self.path.parent}: cannot write the run folder ({exc.strerror})"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise CsrnetError(
                f"{self.path.parent}: another csrnet train (pid {holder}) is using this run "
                "folder; wait for it or choose another --run-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if self.fd is None:
            return
        if exc_type is not None and self.made_lock:  # a refused start: leave the folder as
            try:  # it was found (unlinked while still held); a folder that turned read-only
                self.path.unlink(missing_ok=True)  # keeps it: the error on its way matters
                if self.made_dir and not any(self.path.parent.iterdir()):
                    self.path.parent.rmdir()
            except OSError:
                pass
        os.close(self.fd)  # closing releases the flock; a lock file left is harmless
        self.fd = None
