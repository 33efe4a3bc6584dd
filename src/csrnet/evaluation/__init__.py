"""Measuring restoration by the protocol: per-image and per-set scores (``results``), a folder
or a weights file over the benchmark sets (``evaluate``), the score cache that makes whole-set
reports resumable (``scorecache``), BM3D / CBM3D (``bm3d``), and the numbers transcribed from
the paper (``paper``) and from other methods' publications (``published``). It imports
``model``, ``weights``, ``protocol``, ``datasets`` and ``inference`` (the runner).
"""
