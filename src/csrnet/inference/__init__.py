"""Running trained weights on images: tiled forward passes and the self-ensemble (``tiles``,
``tiling``), the CPU back ends and their int8 calibration (``backends``, ``calibration``),
ONNX export (``onnx``), the user-facing restoration of photos (``photos``), the choice of
weights for a photo (``choice``), files and folders (``files``) and the demo (``demo``). It
imports ``model``, ``weights``, ``protocol`` and, for calibration patches only,
``training.data``.
"""
