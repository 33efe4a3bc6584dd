"""Restoring files and folders: inputs expanded, outputs named, each written atomically, and
a failing image reported without stopping the others (``csrnet restore``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from csrnet.errors import CsrnetError
from csrnet.inference.choice import ModelChoices
from csrnet.inference.levels import LevelReader
from csrnet.inference.options import AUTO, RunOptions
from csrnet.inference.photo import open_photo, save_photo
from csrnet.inference.pipeline import restore_photo

__all__ = ["Restored", "expand_inputs", "output_paths", "restore_files"]


def expand_inputs(inputs: list[str]) -> list[Path]:
    """Files, folders (their images, sorted) and glob patterns, in the order given."""
    from glob import glob

    from csrnet.protocol.images import list_images

    paths: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            paths += list_images(path, allow_empty=True)
        elif path.exists():  # a pipe or device given by name: listed among the failures
            paths.append(path)
        elif any(c in item for c in "*?["):
            matches = sorted(Path(m) for m in glob(item) if Path(m).is_file())
            if not matches:
                raise CsrnetError(f"{item}: no file matches")
            paths += matches
        else:
            raise CsrnetError(f"{item}: no such file or folder")
    if not paths:
        raise CsrnetError("no input images")
    return paths


def output_paths(inputs: list[Path], out: Path) -> list[Path]:
    """Where each result goes: ``out`` itself for one input and an image file name, else
    ``out/<input name>.png`` (PNG: lossless, so no new JPEG artifacts)."""
    from csrnet.protocol.images import IMAGE_EXTENSIONS, check_output_path

    if len(inputs) == 1 and out.suffix and not out.is_dir() and not str(out).endswith("/"):
        if out.suffix.lower() not in IMAGE_EXTENSIONS:
            raise CsrnetError(
                f"{out}: not an image file name ({', '.join(IMAGE_EXTENSIONS)}); "
                "end it with / to write into a folder"
            )
        check_output_path(out)
        return [out]
    if out.exists() and not out.is_dir():
        raise CsrnetError(f"{out}: exists and is not a folder (the results go into a folder)")
    names = [p.stem for p in inputs]
    if len(set(names)) != len(names):
        raise CsrnetError("two inputs have the same file name; restore them to different folders")
    return [out / f"{name}.png" for name in names]


@dataclass
class Restored:
    """What :func:`restore_files` did: the failures, one line each, how many photos it
    restored at each setting (by label, e.g. "q10") and with each model ("weights on back
    end"), and the strengths "auto" chose."""

    failures: list[str] = field(default_factory=list)
    settings: Counter = field(default_factory=Counter)
    models: Counter = field(default_factory=Counter)
    strengths: list[float] = field(default_factory=list)


def restore_files(
    inputs: list[Path],
    out: Path,
    choices: ModelChoices,
    levels: LevelReader,
    run: RunOptions,
    skip_existing: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> Restored:
    """Restore each input into its output path (see :func:`output_paths`) at the setting
    ``levels`` gives it, with the model ``choices`` picks for it; a failing image does not
    stop the others. Under torchrun (after ``csrnet.parallel.start``), each process restores
    its slice of the inputs and every process returns what all of them did."""
    from tqdm import tqdm

    from csrnet.parallel import active, everyone, is_main, shard

    outputs = output_paths(inputs, out)
    if outputs[0].parent == out:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CsrnetError(f"{out}: cannot create the output folder ({exc.strerror})") from None
    done = Restored()
    pairs = shard(list(zip(inputs, outputs, strict=True)))
    for src, dst in tqdm(pairs, unit="img", disable=None if progress and is_main() else True):
        try:
            if dst.resolve() == src.resolve() and not overwrite:
                raise CsrnetError(f"{dst}: would overwrite the input; pass --overwrite")
            if dst.exists() and skip_existing:
                continue
            if dst.exists() and not overwrite:
                raise CsrnetError(f"{dst}: exists; pass --overwrite or --skip-existing")
            photo = open_photo(src)
            choice = choices(levels(photo, str(src)))
            here = run.faded(choice.strength)
            if here.strength:
                model, weights = choice(photo)
                restored = restore_photo(photo, model, choice.deg, here)
                save_photo(restored, dst)
                done.models[f"{weights.name} on {getattr(model, 'backend', 'torch')}"] += 1
                if run.strength == AUTO:
                    done.strengths.append(restored.strength)
            else:  # passed through: no model is loaded (nor, for int8, prepared)
                save_photo(photo, dst)
            done.settings[choice.describe()] += 1
        except CsrnetError as exc:  # each line names its file
            line = str(exc)
            done.failures.append(line if str(src) in line or str(dst) in line else f"{src}: {line}")
    if not active():
        return done
    parts = everyone(done)
    return Restored(
        [f for part in parts for f in part.failures],
        sum((p.settings for p in parts), Counter()),
        sum((p.models for p in parts), Counter()),
        [s for part in parts for s in part.strengths],
    )
