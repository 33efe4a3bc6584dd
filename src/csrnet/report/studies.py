"""Tables I and V: the ablation and depth study runs, one pair of tables per training budget."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from csrnet.evaluation import paper
from csrnet.evaluation.results import SetScore
from csrnet.inference.runner import restore_fn
from csrnet.model import PRESETS
from csrnet.protocol.degrade import Degradation
from csrnet.report.cells import (
    Scorer,
    Weights,
)
from csrnet.report.tables import (
    images_note,
    table_start,
)


def study_tables(weights, models, logs, root, limit, device, scorer: Scorer) -> list[str]:
    """Tables I (scales and inter-block links) and V (depth), PSNR at x2, one pair per training
    budget of the study runs, when trained."""
    study = [w for w in weights if w.study]
    deg = Degradation("sr", 2)
    scored: dict[tuple[str, str], SetScore | None] = {}  # (run, set): it may fill both tables

    def score(w: Weights, dataset: str) -> str:
        if (w.name, dataset) not in scored:
            fn = restore_fn(models[w.name], device)
            scored[w.name, dataset] = scorer(
                root / dataset, deg, fn, w.name, logs[w.name], limit=limit
            )
        found = scored[w.name, dataset]
        return f"{found.psnr:.3f}" if found else "-"

    out = []
    for budget in dict.fromkeys(w.budget for w in study):
        group = [w for w in study if w.budget == budget]
        for prefix, number, title, table in (
            ("ablation_", "I", "ablation at x2 (PSNR)", paper.TABLE1_ABLATION),
            ("depth_", "V", "depth at x2 (PSNR)", paper.TABLE5_DEPTH),
        ):
            variants = table_columns(group, table, prefix)
            if not variants:
                continue
            head = ["Set"] + [
                f"{w.preset} {who}" for w in variants for who in ("(paper)", "(ours)")
            ]
            on = f", on {images_note(limit)}" if limit else ""
            lines = table_start(f"## Table {number}: {title}, trained {budget}{on}", head)
            for dataset in table[next(iter(table))]:
                cells = [f"{table[w.preset][dataset]:.3f} | {score(w, dataset)}" for w in variants]
                lines.append(f"| {dataset} | " + " | ".join(cells) + " |")
            runs = ", ".join(f"{w.preset} `{w.name}`" for w in variants)
            out.append("\n".join(lines) + f"\n\nRuns: {runs}.\n")
    return out


def no_study_note(output: Path) -> str:
    """In place of Tables I and V when no study runs are among the weights: how to make
    them, and where they were kept (an ``ABLATION.md`` beside the report)."""
    text = (
        "## Tables I and V\n\nNot in this report: none of its weights is a run of the "
        "`ablation_*` or `depth_*` recipes (pass their folders with `--weights-dir`)."
    )
    if (output.parent / "ABLATION.md").is_file():
        text += " The last ones made are kept in [`ABLATION.md`](ABLATION.md)."
    return text + "\n"


def table_columns(runs: list[Weights], table: dict, prefix: str) -> list[Weights]:
    """Per column of ``table``, a run of that architecture (those of the table's own recipe
    ``prefix`` first), labelled with the column's preset. CSRnet-Dense is B8R6 (the default
    D8R6): one run serves both tables."""
    found = []
    for preset in table:
        same = [w for w in runs if PRESETS[w.preset] == PRESETS[preset]]
        same.sort(key=lambda w: not w.recipe.startswith(prefix))
        if same:
            found.append(replace(same[0], preset=preset))
    return found
