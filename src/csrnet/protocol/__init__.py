"""The paper's evaluation protocol, bit for bit: MATLAB's ``imresize`` and ``rgb2ycbcr``
(``matlab``), the degradations of each task (``degrade``), PSNR and SSIM on Y (``metrics``),
and guarded image reading and atomic writing (``images``). Pure numpy, Pillow and
scikit-image: no torch. It imports nothing from the rest of the package but ``errors``.
"""
