"""Write docs/CLI.md: every ``csrnet`` command's ``--help``, and what all commands share.

    python scripts/cli_reference.py            # rewrite docs/CLI.md
    python scripts/cli_reference.py --check    # exit 1 if docs/CLI.md is out of date

The help text comes from the parser itself, so the reference cannot drift from the CLI
(``tests/test_docs.py`` runs the check).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "CLI.md"
NOTES = ROOT / "scripts" / "cli_notes.md"  # the hand-written part, after the generated one
WIDTH = "100"


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    """(name, parser) of each subcommand of ``parser``, in the order its help lists them."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices.items())
    return []


def reference() -> str:
    """The page: one section a command, in the order ``csrnet --help`` lists them."""
    os.environ["COLUMNS"] = WIDTH  # argparse wraps to the terminal: fix it
    from csrnet.cli.main import build_parser

    parser = build_parser()
    parts = [
        "# Command reference\n",
        "Written by `python scripts/cli_reference.py` from the parser itself; "
        "`csrnet COMMAND --help` prints the same.\n",
        f"```text\n{parser.format_help()}```\n",
    ]
    for name, sub in _subcommands(parser):
        parts.append(f"## csrnet {name}\n\n```text\n{sub.format_help()}```\n")
        parts += [
            f"### csrnet {name} {inner}\n\n```text\n{cmd.format_help()}```\n"
            for inner, cmd in _subcommands(sub)
        ]
    parts.append(NOTES.read_text(encoding="utf-8"))
    return "\n".join(parts)


def main() -> int:
    text = reference()
    if "--check" in sys.argv[1:]:
        if PAGE.read_text(encoding="utf-8") != text:
            print(f"{PAGE} is out of date: python scripts/cli_reference.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
