"""Running trained weights on images: the words of a restore (``options``), tile geometry and
the runner with its self-ensemble (``tiling``, ``runner``), the CPU back ends and their int8
calibration (``backends``, ``calibration``), ONNX export (``onnx``), the photo type and PIL in
and out (``photo``), a photo through a model in colour and under a memory cap (``pipeline``),
what a photo says of its level (``levels``), which weights restore it (``choice``), files and
folders (``files``), the demo (``demo``) and the Python API's ``restore`` (``api``). It
imports ``model``, ``weights``, ``protocol`` and, for calibration patches, ``datasets``.
"""
