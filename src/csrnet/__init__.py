"""csrnet: the Cross-Scale Residual Network for super-resolution, denoising and deblocking.

Python API: ``csrnet.restore(image, task=..., scale=/sigma=/quality=)`` restores a PIL image
or a numpy array; ``csrnet.load_model(name_or_path)`` returns a model and its metadata. Bad
input raises :class:`CsrnetError`; surprises that do not stop the work are
:class:`CsrnetWarning` warnings.

Layout (docs/DEVELOPING.md has the layers): ``model`` (the network, eqs. 1-10), ``weights``
(the weights file format and the installed weights), ``devices``, ``errors``; and the
subpackages ``protocol`` (the paper's MATLAB-exact evaluation protocol, no torch),
``datasets``, ``inference`` (restoring images and photos, back ends), ``evaluation``,
``training``, ``report``, ``serve`` (the web page) and ``cli``.
"""

from csrnet.errors import CsrnetError, CsrnetWarning

__version__ = "0.1.0"
__all__ = ["CsrnetError", "CsrnetWarning", "load_model", "restore"]


def __getattr__(name: str):
    # Imported on first use, so that commands which need no torch start fast.
    if name == "restore":
        from csrnet.inference.api import restore

        return restore
    if name == "load_model":
        from csrnet.weights import load_model

        return load_model
    raise AttributeError(f"module 'csrnet' has no attribute {name!r}")
