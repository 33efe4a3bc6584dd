"""Training from a YAML recipe: the typed config (``config``), training data and patches
(``data``, ``patchbank``), the train/test overlap check (``overlap``), the step engines
(``engine``), checkpoints (``checkpoint``), the schedule and time budget (``schedule``), the
loop (``loop``) and the export of a run as weights (``export``). ``python -m
csrnet.training CONFIG`` (or ``torchrun ... -m csrnet.training``) runs ``csrnet train``. It
imports ``model``, ``weights``, ``devices``, ``protocol`` and, for validation,
``evaluation.evaluate``.
"""
