"""csrnet: the Cross-Scale Residual Network for super-resolution, denoising and deblocking.

Python API: ``csrnet.restore(image, task=..., scale=/sigma=/quality=)`` restores a PIL image
or a numpy array; ``csrnet.load_model(name_or_path)`` returns a model and its metadata. Bad
input raises :class:`CsrnetError`; surprises that do not stop the work are
:class:`CsrnetWarning` warnings.

Modules: ``model`` (the network), ``matlab`` (MATLAB-compatible imresize and rgb2ycbcr),
``degrade`` (the paper's degradations), ``metrics`` (PSNR/SSIM), ``images`` (safe image
I/O), ``evaluate`` (the protocol over a folder), ``config``/``data``/``train`` (training),
``patchbank``/``engine`` (the fast training path), ``weights`` (safetensors), ``photos``
(restoring real photos), ``tiling``, ``report``, ``classical`` (BM3D), ``cli``.
"""

from csrnet.errors import CsrnetError, CsrnetWarning

__version__ = "0.1.0"
__all__ = ["CsrnetError", "CsrnetWarning", "load_model", "restore"]


def __getattr__(name: str):
    # Imported on first use, so that commands which need no torch start fast.
    if name == "restore":
        from csrnet.inference.photos import restore

        return restore
    if name == "load_model":
        from csrnet.weights import load_model

        return load_model
    raise AttributeError(f"module 'csrnet' has no attribute {name!r}")
