"""``torchrun --nproc_per_node=N -m csrnet.training CONFIG [options]``: ``csrnet train`` in
every process (``python -m csrnet.training`` runs one)."""

import sys

from csrnet.cli import main

sys.exit(main(["train", *sys.argv[1:]]))
