"""Moved: training lives in :mod:`csrnet.training`; this name only says so."""

import sys

MESSAGE = (
    "csrnet.train has moved: run `csrnet train CONFIG`, or `torchrun --nproc_per_node=N "
    "-m csrnet.training CONFIG`; import from csrnet.training.loop"
)

if __name__ == "__main__":
    sys.exit(f"csrnet: error: {MESSAGE}")
raise ImportError(MESSAGE)
