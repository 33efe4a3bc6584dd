"""cli."""

from csrnet.cli.main import main

__all__ = ["main"]
