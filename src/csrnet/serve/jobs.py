"""The server's work: uploads queued as jobs, restored one at a time by a worker thread, their
files kept in a private temporary folder and removed after download or a while."""

from __future__ import annotations

import contextlib
import os
import queue
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from csrnet.errors import CsrnetError
from csrnet.inference.levels import LevelReader, level_setting
from csrnet.inference.options import (
    AUTO,
    AUTO_SOURCES,
    CAMERA,
    LEVEL_OPTIONS,
    STRENGTH_RANGE,
    check_channels,
    checked_strength,
)
from csrnet.protocol.degrade import Degradation

__all__ = [
    "LEVELS",
    "Job",
    "Jobs",
    "QueueFull",
    "UploadTooLarge",
    "level_number",
    "options",
]


LEVELS = {  # what the page offers: a task's level option, default, choices or [low, high],
    # what "auto" reads where a photo can tell its level, and the strength's range
    "sr": {"option": LEVEL_OPTIONS["sr"], "default": 2, "choices": [2, 3, 4, 8]},
    "denoise": {
        "option": LEVEL_OPTIONS["denoise"],
        "default": 25,
        "range": [1, 75],
        "auto": AUTO_SOURCES["denoise"],
        "camera": CAMERA,  # the page's default: a photo's own noise
        "strength": STRENGTH_RANGE,
    },
    "jpeg": {
        "option": LEVEL_OPTIONS["jpeg"],
        "default": 10,
        "range": [1, 100],
        "auto": AUTO_SOURCES["jpeg"],
        "strength": STRENGTH_RANGE,
    },
}


@dataclass
class Job:
    """One restoration: its files, its place in the queue and what the page shows of it."""

    id: str
    folder: Path
    deg: Degradation
    demo: bool
    channels: str = "auto"
    strength: float | str = 1.0  # of the model's change, or "auto" (RunOptions)
    client: str = ""  # the address it came from: the per-client cap
    state: str = "queued"  # queued, running, done, error
    cancelled: bool = False  # by its page (DELETE): a running job stops at its next tile
    read_from: bool = False  # its level read from the photo ("auto")
    tiles_done: int = 0
    tiles_total: int = 0
    error: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    seen: float = field(default_factory=time.time)  # when its page last asked for it
    finished: float = 0.0

    def status(self, position: int) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state,
            "queue_position": position,
            "tiles_done": self.tiles_done,
            "tiles_total": self.tiles_total,
            "error": self.error,
            **self.info,
        }


class Jobs:
    """The queue and its one worker thread; every job's files under one private folder."""

    def __init__(
        self,
        device: str = "cpu",
        max_upload_bytes: int = 20 * 2**20,
        max_pixels: int = 12_000_000,
        keep_seconds: float = 600.0,
        backend: str = "auto",
        max_queued: int = 8,
        max_per_client: int = 2,
        abandon_seconds: float = 30.0,
        max_disk_bytes: int = 2 * 2**30,
    ) -> None:
        self.device, self.max_upload_bytes, self.max_pixels = device, max_upload_bytes, max_pixels
        self.max_queued, self.max_per_client = max_queued, max_per_client
        self.abandon_seconds = abandon_seconds  # a job whose page stopped asking is dropped
        self.max_disk_bytes = max_disk_bytes  # uploads and results kept, in all
        self.stopping = False
        self.preparing = False  # the worker loads (or converts) a model
        self.backend = backend  # csrnet.inference.backend_choice: "auto" for the fastest accurate
        self.keep_seconds = keep_seconds
        remove_stale_folders()
        self.root = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX))  # mode 0700
        (self.root / PID_FILE).write_text(str(os.getpid()))
        self.jobs: dict[str, Job] = {}
        self.waiting: queue.Queue[str | None] = queue.Queue()
        self.lock = threading.Lock()
        self._choices = None  # csrnet.inference.choice.ModelChoices, made on the first job
        self.worker = threading.Thread(target=self._work, name="csrnet-serve", daemon=True)
        self.worker.start()

    # --- submitting -----------------------------------------------------------------------

    def submit(
        self,
        data: bytes,
        task: str,
        level: float | str,
        demo: bool,
        channels: str = "auto",
        strength: float | str | None = None,
        client: str = "",
    ) -> Job:
        """Check an upload, keep it, and queue its restoration; a CsrnetError if refused
        (nothing left behind): QueueFull past ``max_queued`` jobs waiting or running in all,
        or ``max_per_client`` of ``client``'s. ``level`` "auto": read from the photo."""
        from csrnet.inference.photo import open_photo

        self._check_room(client)  # before the upload is decoded: a full queue costs nothing
        if len(data) > self.max_upload_bytes:
            raise UploadTooLarge(
                f"the file is {len(data) / 2**20:.1f} MiB; the limit is "
                f"{self.max_upload_bytes / 2**20:.0f} MiB"
            )
        if self.disk_use() + len(data) > self.max_disk_bytes:
            raise QueueFull("the server's space for images is full; try again in a minute")
        deg, strength = _checked_setting(task, level, demo, channels, strength)
        job_id, folder = secrets.token_urlsafe(12), self.root / secrets.token_hex(8)
        job = Job(job_id, folder, deg, demo, channels, strength, client)
        job.folder.mkdir(mode=0o700)
        try:
            upload = job.folder / "upload"
            upload.write_bytes(data)
            photo = open_photo(upload)
            pixels = photo.pixels.shape[0] * photo.pixels.shape[1]
            if pixels > self.max_pixels:
                raise UploadTooLarge(
                    f"the image has {pixels / 1e6:.1f} megapixels; the limit is "
                    f"{self.max_pixels / 1e6:.0f}"
                )
            if min(photo.pixels.shape[:2]) < (2 * int(level) if demo and task == "sr" else 2):
                raise CsrnetError("the image is too small for this setting")
            if deg is None:
                job.deg, job.read_from = LevelReader(task, AUTO)(photo, "the upload"), True
        except CsrnetError as exc:  # the message names the upload, not the server's path
            shutil.rmtree(job.folder, ignore_errors=True)
            raise type(exc)(str(exc).replace(str(upload), "the upload")) from None
        except BaseException:
            shutil.rmtree(job.folder, ignore_errors=True)
            raise
        with self.lock:
            try:
                self._check_room(client, locked=True)  # again: others may have come since
            except QueueFull:
                shutil.rmtree(job.folder, ignore_errors=True)
                raise
            self.jobs[job.id] = job
        self.waiting.put(job.id)
        return job

    def disk_use(self) -> int:
        """Bytes of the files kept: uploads, before and after images."""
        return sum(f.stat().st_size for f in self.root.rglob("*") if f.is_file())

    def _check_room(self, client: str, locked: bool = False) -> None:
        """QueueFull if the queue, or ``client``'s share of it, is full; queued jobs whose
        page is gone are dropped first, so that they hold no room."""
        with contextlib.nullcontext() if locked else self.lock:
            gone = [j for j in self.jobs.values() if j.state == "queued" and self._abandoned(j)]
            for job in gone:
                del self.jobs[job.id]
                job.cancelled = True
            pending = [j for j in self.jobs.values() if j.state in ("queued", "running")]
        for job in gone:
            shutil.rmtree(job.folder, ignore_errors=True)
        if len(pending) >= self.max_queued:
            raise QueueFull("the queue is full; try again in a minute")
        if sum(j.client == client for j in pending) >= self.max_per_client:
            raise QueueFull(
                f"{self.max_per_client} of your images are waiting already; try again when "
                "one is done"
            )

    def status(self, job_id: str) -> dict[str, Any]:
        job = self._job(job_id)
        job.seen = time.time()
        with self.lock:
            queued = [j for j in self.jobs.values() if j.state == "queued"]
            queued.sort(key=lambda j: j.created)
            position = queued.index(job) + 1 if job in queued else 0
        return {"task": job.deg.task, "setting": job.deg.label, **job.status(position)}

    def file(self, job_id: str, which: str) -> Path:
        """The before or after PNG of a finished job."""
        job = self._job(job_id)
        if which not in ("before", "after") or job.state != "done":
            raise CsrnetError(f"no {which} image for this job")
        return job.folder / f"{which}.png"

    def remove(self, job_id: str) -> None:
        """Drop a job and its files; a running one stops at its next tile."""
        with self.lock:
            job = self.jobs.pop(job_id, None)
        if job is None:
            return
        job.cancelled = True
        if job.state != "running":
            shutil.rmtree(job.folder, ignore_errors=True)
        # a running job's files are removed by the worker when it stops

    def close(self, wait: float = 30.0) -> bool:
        """Stop: the running job at its next tile, the queued ones not at all; then remove
        every file. Whether the worker has ended: it is waited for up to ``wait`` seconds, but
        not while it prepares a model (tens of seconds for an int8 one), which cannot be
        interrupted; the caller then ends the process (``serve.server``)."""
        self.stopping = True
        self.waiting.put(None)
        end = time.monotonic() + wait
        while self.worker.is_alive() and not self.preparing and time.monotonic() < end:
            self.worker.join(timeout=0.1)
        shutil.rmtree(self.root, ignore_errors=True)
        return not self.worker.is_alive()

    def _abandoned(self, job: Job) -> bool:
        return job.cancelled or self.stopping or time.time() - job.seen > self.abandon_seconds

    def _job(self, job_id: str) -> Job:
        with self.lock:
            job = self.jobs.get(job_id)
        if job is None:
            raise CsrnetError("no such job (finished jobs are removed after a while)")
        return job

    # --- working --------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            try:
                job_id = self.waiting.get(timeout=min(60.0, self.keep_seconds))
            except queue.Empty:
                self._expire()
                continue
            if job_id is None:
                return
            self._expire()
            with self.lock:
                job = self.jobs.get(job_id)
            if job is None:
                continue
            if self._abandoned(job):
                self.remove(job.id)
                continue
            job.state = "running"
            try:
                job.info = self._restore(job)
                job.state = "done"
            except JobStopped:
                job.state = "error"
                self.remove(job.id)
            except CsrnetError as exc:
                job.state, job.error = "error", str(exc)
            except Exception as exc:  # a bug: the page says so, the server goes on
                job.state, job.error = "error", f"internal error ({type(exc).__name__}: {exc})"
            job.finished = time.time()
            with self.lock:
                removed = job.id not in self.jobs  # by its page while it ran
            if removed:
                shutil.rmtree(job.folder, ignore_errors=True)

    def _model(self, job: Job, photo):
        """The model for a job's photo; each weights file is loaded and compiled once."""
        from csrnet.inference.choice import ModelCache, ModelChoices

        if self._choices is None:
            self._choices = ModelChoices(ModelCache(self.device, self.backend))
        self.preparing = True
        try:
            choice = self._choices(job.deg, job.channels)
            return (*choice(photo), choice)
        finally:
            self.preparing = False

    def _restore(self, job: Job) -> dict[str, Any]:
        """Restore a job's upload (degraded first in demo mode); write before/after PNGs."""
        from csrnet.inference.demo import as_compared, degrade_photo, similarity
        from csrnet.inference.options import RunOptions
        from csrnet.inference.photo import Photo, open_photo, save_photo
        from csrnet.inference.pipeline import restore_photo

        photo = open_photo(job.folder / "upload")
        clean = None
        if job.demo:  # degraded and scored as the protocol does, with 8 bits
            clean, degraded = degrade_photo(photo.to_8bit().pixels, job.deg)
            photo = Photo(degraded, None, photo.icc_profile)
        model, weights, choice = self._model(job, photo)

        def progress(done: int, total: int) -> None:
            job.tiles_done, job.tiles_total = done, total
            if self._abandoned(job):  # cancelled, left by its page, or the server stops
                raise JobStopped(job.id)

        start = time.perf_counter()
        run = RunOptions(self.device, strength=job.strength).faded(choice.strength)
        restored = restore_photo(photo, model, choice.deg, run, on_tile=progress)
        seconds = time.perf_counter() - start
        before = photo
        if job.deg.task == "sr":  # compared with the bicubic enlargement
            shown = as_compared(photo.to_8bit().pixels, job.deg)  # for the eye: 8 bits
            before = Photo(shown, None, photo.icc_profile)
        save_photo(before, job.folder / "before.png")
        save_photo(restored, job.folder / "after.png")
        height, width = restored.pixels.shape[:2]
        info = {
            "seconds": round(seconds, 2),
            "weights": weights.name,
            "setting": choice.describe(),
            "read_from": AUTO_SOURCES.get(job.deg.task, "") if job.read_from else "",
            "channels": "RGB" if model.config.image_channels == 3 else "Y",
            "strength": restored.strength,
            "strength_auto": job.strength == AUTO,
            "megapixels": round(height * width / 1e6, 3),
            "width": width,
            "height": height,
        }
        if clean is not None:  # the paper's protocol: PSNR / SSIM on Y against the clean image
            for name, image in (("before", before.pixels), ("after", restored.pixels)):
                psnr, ssim = similarity(image, clean, job.deg)
                info[f"psnr_{name}"], info[f"ssim_{name}"] = round(psnr, 2), round(ssim, 4)
        return info

    def _expire(self) -> None:
        """Remove the files of jobs finished more than ``keep_seconds`` ago."""
        now = time.time()
        with self.lock:
            old = [
                j
                for j in self.jobs.values()
                if j.state in ("done", "error") and now - j.finished > self.keep_seconds
            ]
            for job in old:
                del self.jobs[job.id]
        for job in old:
            shutil.rmtree(job.folder, ignore_errors=True)


class UploadTooLarge(CsrnetError):
    """An upload over the size or pixel cap (HTTP 413)."""


class QueueFull(CsrnetError):
    """No room in the queue, in all or for this client (HTTP 429)."""


class JobStopped(Exception):
    """Raised between tiles to stop a job that is no longer wanted."""


FOLDER_PREFIX = "csrnet-serve-"
PID_FILE = "server.pid"


def remove_stale_folders() -> list[Path]:
    """Remove the temporary folders of servers that were killed: ours by name and owner,
    holding the pid file of a process that no longer runs. Returns those removed."""
    removed = []
    for folder in Path(tempfile.gettempdir()).glob(f"{FOLDER_PREFIX}*"):
        try:
            if folder.is_symlink() or folder.stat().st_uid != os.getuid():
                continue
            pid = int((folder / PID_FILE).read_text())
        except (OSError, ValueError):
            continue  # not provably one of ours: left alone
        if pid != os.getpid() and not process_runs(pid):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def process_runs(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: running
    return True


def degradation_of(task: str, level: float | str) -> Degradation:
    if task not in LEVELS:
        raise CsrnetError(f"unknown task {task!r}; choose from {', '.join(LEVELS)}")
    return level_setting(task, level)


def options() -> dict[str, Any]:
    """The tasks and levels the page offers (camera noise where a model for it is installed),
    and the weights installed for each task."""
    from csrnet.weights import available_weights

    installed: dict[str, list[str]] = {task: [] for task in LEVELS}
    found = available_weights()
    for info in found:
        installed[info.task].append(info.name)
    tasks = {task: dict(spec) for task, spec in LEVELS.items()}
    if not any(info.camera_share for info in found):  # nothing to restore camera noise with
        del tasks["denoise"]["camera"]
    return {"tasks": tasks, "weights": installed}


def _checked_setting(
    task: str, level: float | str, demo: bool, channels: str, strength: float | str | None
) -> tuple[Degradation | None, float | str]:
    """A job's setting (None: read from the photo) and strength (none given: 1), or a
    CsrnetError saying what is wrong with them."""
    deg = None if level == AUTO else degradation_of(task, level)
    if level == AUTO and (demo or task not in AUTO_SOURCES):
        raise CsrnetError("auto reads the sigma or quality of a photo: give a level here")
    check_channels(channels)
    return deg, checked_strength(task, 1.0 if strength is None else strength, level)


def level_number(value: Any) -> float | str:
    """A level of the form: a number, "auto" or "camera"."""
    return str(value) if str(value) in (AUTO, CAMERA) else form_number(value, "level")


def form_number(value: Any, name: str) -> float:
    """A form field as a number, or a one-line error naming it."""
    try:
        return float(str(value))
    except ValueError:
        raise CsrnetError(f"{name} {value!r} is not a number") from None
