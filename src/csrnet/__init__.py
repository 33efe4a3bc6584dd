"""csrnet: the Cross-Scale Residual Network for super-resolution, denoising and deblocking.

Modules: ``model`` (the network), ``matlab`` (MATLAB-compatible imresize and rgb2ycbcr),
``degrade`` (the paper's degradations), ``metrics`` (PSNR/SSIM), ``images`` (safe image
I/O), ``evaluate`` (the protocol over a folder), ``cli`` (the ``csrnet`` command).
"""

__version__ = "0.1.0"
