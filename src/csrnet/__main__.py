"""``python -m csrnet``: the command line, as ``csrnet``."""

import sys

from csrnet.cli import main

sys.exit(main())
