"""``python -m csrnet.cli``: the command line, as ``csrnet``."""

import sys

from csrnet.cli import main

sys.exit(main())
