"""The manifest of the data sets, shipped as ``manifest.json`` (made by
``scripts/make_data_manifest.py`` from the prepared folders)."""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from csrnet.errors import CsrnetError

__all__ = [
    "MANIFEST_PATH",
    "FileEntry",
    "LargeSet",
    "Manifest",
    "SetInfo",
    "file_sha256",
    "load_manifest",
    "pixels_sha256",
]

MANIFEST_PATH = Path(__file__).with_name("manifest.json")
GITHUB_RAW = "https://raw.githubusercontent.com"


@dataclass(frozen=True)
class FileEntry:
    """One prepared file: its name, size in bytes and SHA-256; for a converted file, also the
    SHA-256 of its decoded pixels (another PNG encoder may write other bytes)."""

    name: str
    size: int
    sha256: str
    pixels_sha256: str = ""


@dataclass(frozen=True)
class Source:
    """Where a set's files come from: a repository at a commit, and the path of a file in it
    with ``{stem}`` for the prepared file's name without its extension."""

    repository: str
    commit: str
    path: str

    def url(self, entry: FileEntry, base: str = GITHUB_RAW) -> str:
        """The raw download address of ``entry``'s upstream file."""
        stem = Path(entry.name).stem
        return f"{base.rstrip('/')}/{self.repository}/{self.commit}/{self.path.format(stem=stem)}"


@dataclass(frozen=True)
class SetInfo:
    """A set small enough to fetch: its role ("test" or "train"), tasks, source, conversion
    ("" or "bmp-to-png"), terms of use, and files."""

    name: str
    role: str
    tasks: tuple[str, ...]
    source: Source
    conversion: str
    terms: str
    files: tuple[FileEntry, ...]

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


@dataclass(frozen=True)
class LargeSet:
    """A training set the user downloads as an archive (``csrnet data prepare`` checks and
    stores it): files numbered ``first`` .. ``first + count - 1`` in ``folder`` of it."""

    name: str
    tasks: tuple[str, ...]
    archive: str
    folder: str
    first: int
    count: int
    digits: int
    extension: str
    terms: str

    def names(self) -> list[str]:
        """The file names the set must hold, in order."""
        last = self.first + self.count
        return [f"{i:0{self.digits}d}{self.extension}" for i in range(self.first, last)]


@dataclass(frozen=True)
class Manifest:
    """Every set by name."""

    sets: dict[str, SetInfo]
    large: dict[str, LargeSet]

    @classmethod
    def load(cls, path: Path = MANIFEST_PATH) -> Manifest:
        raw = json.loads(Path(path).read_text())
        sets = {
            name: SetInfo(
                name=name,
                role=s["role"],
                tasks=tuple(s["tasks"]),
                source=Source(**s["source"]),
                conversion=s["conversion"],
                terms=s["terms"],
                files=tuple(FileEntry(**f) for f in s["files"]),
            )
            for name, s in raw["sets"].items()
        }
        large = {
            name: LargeSet(name=name, **{**s, "tasks": tuple(s["tasks"])})
            for name, s in raw.get("large", {}).items()
        }
        return cls(sets, large)

    def find(self, name: str) -> SetInfo:
        """The set called ``name`` (any case); a one-line error naming the known ones."""
        found = {n.lower(): s for n, s in self.sets.items()}.get(name.lower())
        if found is None:
            if name.lower() in {n.lower() for n in self.large}:
                raise CsrnetError(
                    f"{name} is not fetched by csrnet: download its archive and run "
                    f"`csrnet data prepare {name} PATH` (csrnet data list shows where from)"
                )
            raise CsrnetError(f"no set called {name!r}; known: {', '.join(self.sets)}")
        return found

    def find_large(self, name: str) -> LargeSet:
        """The large set called ``name`` (any case)."""
        found = {n.lower(): s for n, s in self.large.items()}.get(name.lower())
        if found is None:
            raise CsrnetError(f"no large set called {name!r}; known: {', '.join(self.large)}")
        return found


@functools.cache
def load_manifest() -> Manifest:
    """The shipped manifest (read once)."""
    return Manifest.load()


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pixels_sha256(path: Path) -> str:
    """SHA-256 of an image's mode, size and decoded pixels."""
    with Image.open(path) as img:
        header = f"{img.mode} {img.width}x{img.height}\n".encode()
        return hashlib.sha256(header + img.tobytes()).hexdigest()
