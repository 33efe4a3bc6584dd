"""Per-image scores kept on disk, so that a report rescores only what changed and a run
that is cut off resumes where it stopped.

One CSV file per method in a folder (``docs/scores/`` for the released report):
``<label>.csv``, rows (protocol, dataset, setting, name, height, width, psnr, ssim, seconds,
device), appended one image at a time, so a killed run loses at most the image in hand. A
weights file's label is its stem and a hash of its tensors and architecture, not of its
other metadata (which ``csrnet evaluate --record`` rewrites): new weights get new rows, and
the rows of weights that did not change stay valid. The degraded input is ``input``, BM3D
``bm3d-<version>``. Rows of another :data:`PROTOCOL` are ignored: bump it when the protocol
changes, and every score is measured again.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from pathlib import Path

from csrnet.evaluation.results import ImageScore, printable

__all__ = ["PROTOCOL", "ScoreCache", "ScoreLog", "weights_label"]

PROTOCOL = 1  # the evaluation protocol's version (docs/PROTOCOL.md)
FIELDS = ["protocol", "dataset", "setting", *ImageScore.__annotations__, "device"]


def weights_label(path: str | os.PathLike) -> str:
    """``<stem>-<12 hex digits>``: the SHA-256 of the file's architecture and tensors."""
    from safetensors import safe_open

    from csrnet.weights import read_info

    model = read_info(path).model_args  # a missing or broken file: one line
    digest = hashlib.sha256()
    with safe_open(str(path), framework="numpy") as f:
        digest.update(json.dumps(model, sort_keys=True).encode())
        for key in sorted(f.keys()):
            tensor = f.get_tensor(key)
            digest.update(f"{key} {tensor.dtype} {tensor.shape}".encode())
            digest.update(tensor.tobytes())
    return f"{Path(path).stem}-{digest.hexdigest()[:12]}"


class ScoreLog:
    """The cached per-image scores of one method (one CSV file), appended as measured."""

    def __init__(self, path: Path, device: str = "") -> None:
        self.path, self.device = path, device
        self.rows: dict[tuple[str, str, str], tuple[ImageScore, str]] = {}
        if path.is_file():
            self._read()

    def _read(self) -> None:
        text = self.path.read_text(encoding="utf-8")
        if text and not text.endswith("\n"):  # a kill in mid-row: drop the partial row
            text = text[: text.rfind("\n") + 1]
            self.path.write_text(text, encoding="utf-8")
        for row in csv.DictReader(io.StringIO(text)):
            try:
                if int(row["protocol"]) != PROTOCOL:
                    continue
                score = ImageScore(
                    row["name"],
                    int(row["height"]),
                    int(row["width"]),
                    float(row["psnr"]),
                    float(row["ssim"]),
                    float(row["seconds"]),
                )
            except (KeyError, TypeError, ValueError):
                continue  # a damaged row is measured again
            self.rows[row["dataset"], row["setting"], row["name"]] = (score, row["device"] or "")

    def get(self, dataset: str, setting: str, name: str) -> ImageScore | None:
        found = self.rows.get((printable(dataset), setting, printable(name)))
        return found[0] if found else None

    def device_of(self, dataset: str, setting: str, name: str) -> str:
        found = self.rows.get((printable(dataset), setting, printable(name)))
        return found[1] if found else ""

    def add(self, dataset: str, setting: str, score: ImageScore) -> None:
        """Append one image's row (the file and its header are made on the first)."""
        row = {
            "protocol": PROTOCOL,
            "dataset": printable(dataset),
            "setting": setting,
            **{k: getattr(score, k) for k in ImageScore.__annotations__},
            "name": printable(score.name),
            "device": self.device,
        }
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=FIELDS, lineterminator="\n")
        new = not self.path.is_file() or self.path.stat().st_size == 0
        if new:
            writer.writeheader()
        writer.writerow(row)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(text.getvalue())
        self.rows[row["dataset"], setting, row["name"]] = (score, self.device)


class ScoreCache:
    """A folder of :class:`ScoreLog` files, one per method."""

    def __init__(self, folder: str | os.PathLike, device: str = "cpu") -> None:
        self.folder = Path(folder)
        from csrnet.devices import device_label  # torch: only where scores are written

        self.device = device_label(device)

    def log(self, label: str) -> ScoreLog:
        return ScoreLog(self.folder / f"{label}.csv", self.device)

    def for_weights(self, path: str | os.PathLike) -> ScoreLog:
        """The log of a weights file, found by its hash whatever the file is called now."""
        label = weights_label(path)
        digest = label.rsplit("-", 1)[1]
        same = sorted(self.folder.glob(f"*-{digest}.csv")) if self.folder.is_dir() else []
        return ScoreLog(same[0], self.device) if same else self.log(label)
