"""Training from a YAML recipe: the typed config (``config``), the arithmetic (``precision``),
the batches (``batches``, from ``datasets.patches`` or the device ``patchbank``), the
optimiser (``optimizer``), one step (``engine``), checkpoints (``checkpoint``), the learning
rate and time budget (``schedule``), validation (``validation``), the step loop
(``trainer``), ``train`` itself (``loop``) and the export of a run as weights (``export``).
``csrnet train CONFIG`` (or ``torchrun ... -m csrnet train CONFIG``) runs it. It imports
``model``, ``weights``, ``devices``, ``protocol``, ``datasets`` and, for validation,
``evaluation`` and ``inference``.
"""
