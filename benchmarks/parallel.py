"""`csrnet evaluate` and `csrnet restore` in one process against N processes under torchrun,
on the same images, in one run.

Each row is the wall time of a fresh command (start-up included): one process with all the
threads, then ``torchrun --nproc_per_node=N`` with the threads shared out, and the speed-up.
The scores are checked to agree.

    python benchmarks/parallel.py [--weights jpeg_q10] [--set Classic5] [--processes 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from csrnet.devices import device_label
from csrnet.inference.options import LEVEL_OPTIONS
from csrnet.protocol.images import data_root
from csrnet.weights import read_info, resolve_weights


def run(argv: list[str], processes: int, threads: int) -> tuple[float, str]:
    """Seconds and stdout of one command, in ``processes`` processes of ``threads`` each."""
    launch = [sys.executable, "-m", "csrnet"]
    if processes > 1:
        launch = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                  f"--nproc_per_node={processes}", "-m", "csrnet"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    done = subprocess.run([*launch, *argv], capture_output=True, text=True, env=env)
    if done.returncode:
        sys.exit(f"{' '.join(argv[:2])} failed: {done.stderr.strip().splitlines()[-1]}")
    return time.perf_counter() - start, done.stdout


def setting_options(weights: str) -> list[str]:
    """``--task T --LEVEL L`` for the first setting ``weights`` was trained for."""
    info = read_info(resolve_weights(weights))
    option = LEVEL_OPTIONS[info.task]
    return ["--task", info.task, f"--{option}", f"{info.trained_levels[0]:g}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="jpeg_q10")
    parser.add_argument("--set", default="Classic5", help="a set under the data root")
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    folder = Path(data_root()) / args.set
    print(f"{device_label('cpu')}, {cores} cores; torch {torch.__version__}; {folder}")
    print("| command | processes x threads | seconds | speed-up | result |")
    print("|---|---|---:|---:|---|")
    with tempfile.TemporaryDirectory() as tmp:
        commands = {
            "evaluate": ["evaluate", args.weights, "--sets", args.set, "--data-root",
                         str(folder.parent), "--no-progress", "--json"],
            "restore": ["restore", str(folder), "-o", "OUT/", "--weights", args.weights,
                        *setting_options(args.weights), "--backend", "torch", "--no-progress"],
        }  # fmt: skip
        for name, argv in commands.items():
            base = None
            for processes in (1, args.processes):
                out = str(Path(tmp) / f"{name}{processes}")
                argv_here = [out + "/" if a == "OUT/" else a for a in argv]
                seconds, stdout = run(argv_here, processes, max(1, cores // processes))
                base = base or seconds
                result = _summary(name, stdout)
                print(f"| {name} | {processes} x {max(1, cores // processes)} | {seconds:.1f} | "
                      f"{base / seconds:.2f}x | {result} |", flush=True)  # fmt: skip


def _summary(command: str, stdout: str) -> str:
    if command == "evaluate":
        rows = json.loads(stdout)
        return ", ".join(f"{r['dataset']} {r['setting']} {r['psnr']:.3f} dB" for r in rows)
    return stdout.strip().splitlines()[-1]


if __name__ == "__main__":
    main()
