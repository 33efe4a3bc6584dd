"""The ``csrnet`` command line: parsing and printing only. ``main`` assembles the commands of
each group (``restore``, ``models``, ``serve``, ``training``, ``evaluation``, ``data``) with
the options they share (``options``), and each command calls library functions. No library
module imports it.
"""

from csrnet.cli.main import main

__all__ = ["main"]
