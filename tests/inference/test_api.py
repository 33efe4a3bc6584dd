"""csrnet.restore over many photos: each model loaded once, a rewritten file loaded again,
weights added while the process runs seen."""

from __future__ import annotations

import os

import numpy as np

import csrnet
from csrnet.inference import choice

from conftest import tiny_weights


def test_a_loop_of_restores_loads_each_model_once(weights_dir, monkeypatch) -> None:
    loaded = []
    load = choice.load_weights
    monkeypatch.setattr(choice, "load_weights", lambda p, d: loaded.append(p.name) or load(p, d))
    photo = np.full((20, 24), 128, np.uint8)
    for _ in range(3):
        csrnet.restore(photo, "denoise", sigma=25, backend="torch")
    assert loaded == ["tiny_denoise.safetensors"]
    path = tiny_weights(weights_dir, "tiny_denoise", "denoise", [25])  # exported again
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    csrnet.restore(photo, "denoise", sigma=25, backend="torch")
    assert loaded == ["tiny_denoise.safetensors"] * 2
    tiny_weights(weights_dir, "tiny_denoise_s50", "denoise", [50])  # installed meanwhile
    csrnet.restore(photo, "denoise", sigma=50, backend="torch")
    assert loaded[-1] == "tiny_denoise_s50.safetensors"
