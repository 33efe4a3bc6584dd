"""Getting a set: from its pinned upstream source (converted as recorded) or from a mirror of
the prepared files, every file checked against the manifest before it is kept.

Files land in a hidden ``.NAME.partial`` folder beside the set's place; the folder becomes
``NAME`` in one rename once every file checks, so a cut-off fetch leaves no half set, and the
next fetch keeps the files already checked and gets the rest. Downloads go through pooch
(retries with a growing wait, a timeout per read, a temporary file moved into place).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pooch
import requests
from PIL import Image
from tqdm import tqdm

from csrnet.datasets.locate import check_target
from csrnet.datasets.manifest import GITHUB_RAW, FileEntry, Manifest, SetInfo, load_manifest
from csrnet.datasets.verify import check_file, verify_folder, write_checksums
from csrnet.errors import CsrnetError
from csrnet.protocol.images import FILE_MODE

__all__ = ["Origin", "fetch_set", "fetch_sets", "origins"]

INCOMING = ".incoming"
pooch.get_logger().setLevel("WARNING")  # not a line per file


@dataclass(frozen=True)
class Origin:
    """Where one set's files come from: ``mirror``, a folder or URL holding the prepared files
    under their manifest names, or (when empty) the upstream repository under ``raw_base``."""

    mirror: str = ""
    raw_base: str = GITHUB_RAW

    @property
    def is_url(self) -> bool:
        return self.mirror.startswith(("http://", "https://"))

    def locate(self, info: SetInfo, entry: FileEntry) -> str:
        """The URL or path of ``entry``'s file."""
        if not self.mirror:
            return info.source.url(entry, self.raw_base)
        if self.is_url:
            return f"{self.mirror.rstrip('/')}/{entry.name}"
        return str(Path(self.mirror) / entry.name)


def origins(names: list[str], source: str | None, raw_base: str = GITHUB_RAW) -> list[Origin]:
    """One origin per set: upstream, or ``source`` (the set's folder for one name; the folder
    holding one subfolder per set for several, or for one when it has that subfolder)."""
    if not source:
        return [Origin(raw_base=raw_base) for _ in names]
    remote = source.startswith(("http://", "https://"))
    if not remote and not Path(source).is_dir():
        raise CsrnetError(f"--from {source}: no such folder (or give an http(s) URL)")
    result = []
    for name in names:
        per_set = len(names) > 1 or (not remote and (Path(source) / name).is_dir())
        if not per_set:
            result.append(Origin(source))
        elif remote:
            result.append(Origin(f"{source.rstrip('/')}/{name}"))
        else:
            result.append(Origin(str(Path(source) / name)))
    return result


def fetch_sets(
    names: list[str],
    to: Path,
    source: str | None = None,
    progress: bool = True,
    retries: int = 3,
    timeout: float = 30.0,
    manifest: Manifest | None = None,
    raw_base: str = GITHUB_RAW,
) -> list[Path]:
    """Fetch each set of ``names`` into ``to`` (see :func:`fetch_set`); their folders."""
    manifest = manifest or load_manifest()
    infos = [manifest.find(n) for n in names]
    if not all(os.path.isdir(Path(to) / i.name) for i in infos):  # some to write
        check_target(to)
    return [
        fetch_set(info, to, origin, progress, retries, timeout)
        for info, origin in zip(
            infos, origins([i.name for i in infos], source, raw_base), strict=True
        )
    ]


def fetch_set(
    info: SetInfo,
    to: Path,
    origin: Origin,
    progress: bool = True,
    retries: int = 3,
    timeout: float = 30.0,
) -> Path:
    """``to / info.name`` holding the set, each file checked; a set already there and
    verified is kept. A file that cannot be had or does not check is a one-line error, and
    nothing of it lands."""
    final = Path(to) / info.name
    if final.exists():
        problems = verify_folder(final, info)
        if problems:
            raise CsrnetError(
                f"{final} exists and does not verify ({len(problems)} problems, first: "
                f"{problems[0]}); move it away, then fetch again"
            )
        return final
    partial = Path(to) / f".{info.name}.partial"
    try:
        partial.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CsrnetError(f"{to}: cannot write there ({exc.strerror or exc})") from None
    for entry in tqdm(info.files, desc=info.name, unit="file", disable=not progress):
        _fetch_file(info, entry, partial, origin, retries, timeout)
    shutil.rmtree(partial / INCOMING, ignore_errors=True)
    write_checksums(partial, info)
    os.replace(partial, final)
    return final


def _fetch_file(
    info: SetInfo, entry: FileEntry, partial: Path, origin: Origin, retries: int, timeout: float
) -> None:
    """Get one file into ``partial`` (kept if already there and checked)."""
    target = partial / entry.name
    if target.is_file() and not check_file(target, entry):
        return
    where = origin.locate(info, entry)
    incoming = partial / INCOMING
    incoming.mkdir(exist_ok=True)
    if origin.mirror and not origin.is_url:
        got = _copy(Path(where), incoming / entry.name, info)
    else:
        known = entry.sha256 if origin.mirror or not info.conversion else None
        got = _download(where, incoming, known, retries, timeout, info, entry)
    if not origin.mirror and info.conversion:
        got = _convert(got, incoming / entry.name, info.conversion)
    reason = check_file(got, entry)
    if reason:
        got.unlink(missing_ok=True)
        raise CsrnetError(f"{info.name}/{entry.name} from {where}: {_as_fetched(reason)}; not kept")
    os.chmod(got, FILE_MODE)  # pooch's temporary files are private
    os.replace(got, target)


def _as_fetched(reason: str) -> str:
    return reason.replace("changed", "does not match the manifest", 1)


def _copy(source: Path, dest: Path, info: SetInfo) -> Path:
    if not source.is_file():
        raise CsrnetError(f"{info.name}/{source.name}: not in the mirror ({source} is missing)")
    shutil.copyfile(source, dest)
    return dest


def _download(
    url: str,
    folder: Path,
    known_hash: str | None,
    retries: int,
    timeout: float,
    info: SetInfo,
    entry: FileEntry,
) -> Path:
    """Download ``url`` into ``folder`` under its own name, with retries; checked against
    ``known_hash`` when given."""
    name = url.rsplit("/", 1)[-1]
    fetcher = pooch.create(
        path=folder,
        base_url="",
        registry={name: f"sha256:{known_hash}" if known_hash else None},
        urls={name: url},
        retry_if_failed=retries,
    )
    downloader = pooch.HTTPDownloader(progressbar=False, timeout=timeout)
    try:
        return Path(fetcher.fetch(name, downloader=downloader))
    except ValueError:
        raise CsrnetError(
            f"{info.name}/{entry.name} from {url}: does not match the manifest's SHA-256 "
            f"({retries + 1} tries); not kept"
        ) from None
    except requests.RequestException as e:
        raise CsrnetError(
            f"{info.name}/{entry.name} from {url}: {_short(e)} ({retries + 1} tries); the files "
            "checked so far are kept: run the same command again to resume"
        ) from None


def _short(error: requests.RequestException) -> str:
    """One line for a failed request."""
    if isinstance(error, requests.HTTPError) and error.response is not None:
        return f"HTTP {error.response.status_code}"
    if isinstance(error, requests.Timeout):
        return "timed out"
    return type(error).__name__ + (": the connection broke" if "onnection" in str(error) else "")


def _convert(raw: Path, dest: Path, conversion: str) -> Path:
    """Apply the recorded conversion (BMP to PNG, lossless, mode kept)."""
    if conversion != "bmp-to-png":
        raise CsrnetError(f"unknown conversion {conversion!r} in the manifest")
    out = dest.with_suffix(".png.tmp")
    try:
        with Image.open(raw) as img:
            img.save(out, format="PNG", optimize=True)
    except OSError as e:
        raise CsrnetError(f"{raw.name}: not a readable BMP ({e})") from None
    finally:
        raw.unlink(missing_ok=True)
    return out
