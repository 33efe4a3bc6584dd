"""Docs that can't rot: every relative link of the README and docs/ resolves, every `csrnet`
command they show still parses, and every recipe they name exists."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from csrnet.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```[a-z]*\n(.*?)^```", re.S | re.M)
SHELL = re.compile(r"^```bash\n(.*?)^```", re.S | re.M)  # commands to run, not usage text
# The run log records what was run then; its commands are history, not instructions.
HISTORY = {"TRAINING.md"}


def anchors(page: Path) -> set[str]:
    """GitHub's anchors of a page's headings."""
    heads = re.findall(r"^#+ (.+)$", page.read_text(encoding="utf-8"), re.M)
    return {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in heads}


def relative_links(page: Path) -> list[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return [t for t in LINK.findall(text) if not re.match(r"[a-z]+:", t)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists() or (anchor and file.suffix == ".md" and anchor not in anchors(file)):
            broken.append(target)
    assert not broken, f"{page.name}: {broken}"


def shown_commands(page: Path) -> list[list[str]]:
    """The argv of every `csrnet ...` in the page's code blocks (after `&&`, `;` or `|` too)."""
    commands = []
    for block in SHELL.findall(page.read_text(encoding="utf-8")):
        for line in block.replace("\\\n", " ").splitlines():
            try:
                words = shlex.split(line, comments=True)
            except ValueError:
                continue
            argv: list[str] = []
            for word in [*words, "&&"]:
                if word in ("&&", ";", "|", "||"):
                    if argv and Path(argv[0]).name == "csrnet":
                        commands.append(argv[1:])
                    argv = []
                else:
                    argv.append(word)
    return commands


def test_the_pages_show_commands() -> None:
    shown = [c for page in PAGES for c in shown_commands(page)]
    assert len(shown) >= 20 and {"restore", "train", "evaluate", "serve"} <= {c[0] for c in shown}


@pytest.mark.parametrize("page", [p for p in PAGES if p.name not in HISTORY], ids=lambda p: p.name)
def test_every_command_shown_parses(page: Path, capsys) -> None:
    parser = build_parser()
    bad = []
    for argv in shown_commands(page):
        try:
            parser.parse_args(argv)
        except SystemExit as exc:
            if exc.code:  # --help and --version exit 0
                bad.append(f"csrnet {shlex.join(argv)}: {capsys.readouterr().err.strip()}")
    assert not bad, "\n".join(bad)


def test_the_command_reference_is_the_parsers_help() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "cli_reference.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def test_a_command_that_no_longer_parses_is_caught(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["restore", "a.png", "-o", "b.png", "--no-such-flag"])
    assert exc.value.code == 2


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_recipe_named_exists(page: Path) -> None:
    named = set(re.findall(r"\bconfigs/[\w/]+\.yaml", page.read_text(encoding="utf-8")))
    assert named or page.name != "TRAIN.md"
    missing = sorted(n for n in named if not (ROOT / n).is_file())
    assert not missing, f"{page.name}: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_file_of_the_project_named_exists(page: Path) -> None:
    """Paths into the package, benchmarks, scripts and tests (NAME-style placeholders aside)."""
    text = page.read_text(encoding="utf-8")
    named = set(re.findall(r"\b(?:src/csrnet|benchmarks|scripts|tests)/[\w/.-]*\w", text))
    missing = sorted(
        n for n in named if not re.search(r"[A-Z]{2,}|_xS\b", n) and not (ROOT / n).exists()
    )
    assert not missing, f"{page.name}: {missing}"
