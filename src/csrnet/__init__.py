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

from .errors import CsrnetError, CsrnetWarning

__version__ = "0.1.0"
__all__ = ["CsrnetError", "CsrnetWarning", "load_model", "restore"]
_FROM_PHOTOS = ("load_model", "restore")


def __getattr__(name: str):
    # Imported on first use, so that commands which need no torch start fast.
    if name in _FROM_PHOTOS:
        from . import photos

        return getattr(photos, name)
    raise AttributeError(f"module 'csrnet' has no attribute {name!r}")
