"""Checking a folder against the manifest, file by file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from csrnet.datasets.manifest import FileEntry, SetInfo, file_sha256, pixels_sha256
from csrnet.errors import CsrnetError
from csrnet.protocol.images import IMAGE_EXTENSIONS

__all__ = ["SetStatus", "check_file", "set_status", "verify_folder", "write_checksums"]

CHECKSUMS = "MANIFEST.sha256"


def check_file(path: Path, entry: FileEntry) -> str:
    """Why ``path`` is not ``entry`` ("" when it is). A converted file also passes with other
    bytes holding the same pixels (another PNG encoder)."""
    try:
        if not path.is_file():
            return "missing"
        if file_sha256(path) == entry.sha256:
            return ""
    except OSError as exc:
        return f"cannot read ({exc.strerror or exc})"
    if entry.pixels_sha256:
        try:
            if pixels_sha256(path) == entry.pixels_sha256:
                return ""
        except OSError:
            return "changed (not a readable image)"
        return "changed (other pixels than the manifest's)"
    size = path.stat().st_size
    if size != entry.size:
        return f"changed ({size:,} bytes, the manifest has {entry.size:,})"
    return "changed (same size, other SHA-256)"


def verify_folder(folder: Path, info: SetInfo) -> list[str]:
    """One line per problem of ``folder`` as the set ``info``: each missing or changed file,
    and each image file the set does not hold. Empty when the folder is the set."""
    folder = Path(folder)
    try:
        if not folder.is_dir():
            raise CsrnetError(f"{folder}: not a folder")
    except OSError as exc:
        raise CsrnetError(f"{folder}: cannot read ({exc.strerror or exc})") from None
    problems = []
    for entry in info.files:
        reason = check_file(folder / entry.name, entry)
        if reason:
            problems.append(f"{folder / entry.name}: {reason}")
    known = {f.name for f in info.files}
    try:
        present = sorted(folder.iterdir())
    except OSError as exc:
        return [*problems, f"{folder}: cannot list its files ({exc.strerror or exc})"]
    for path in present:
        if path.suffix.lower() in IMAGE_EXTENSIONS and path.name not in known:
            problems.append(f"{path}: extra image, not in {info.name}")
    return problems


@dataclass(frozen=True)
class SetStatus:
    """What is under a data root for one set: "verified", "missing", or "damaged" with the
    number of problems."""

    state: str
    problems: tuple[str, ...] = ()

    def __str__(self) -> str:
        if self.state == "damaged":
            return f"damaged ({len(self.problems)} problems)"
        return self.state


def set_status(root: Path, info: SetInfo) -> SetStatus:
    """The state of ``root / info.name``."""
    folder = Path(root) / info.name
    try:
        if not folder.is_dir():
            return SetStatus("missing")
    except OSError as exc:  # a data root we may not look into
        return SetStatus("damaged", (f"{folder}: cannot read ({exc.strerror or exc})",))
    problems = verify_folder(folder, info)
    return SetStatus("damaged", tuple(problems)) if problems else SetStatus("verified")


def write_checksums(folder: Path, info: SetInfo) -> None:
    """``MANIFEST.sha256`` in ``folder``: `sha256sum -c` checks it from there."""
    lines = [f"{file_sha256(Path(folder) / f.name)}  {f.name}\n" for f in info.files]
    (Path(folder) / CHECKSUMS).write_text("".join(lines))
