"""csrnet report: every table and figure from tiny weights; cells equal the per-image means."""

from __future__ import annotations

import csv
import re
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from csrnet.cli import main
from csrnet.evaluation.evaluate import DEFAULT_SETS
from csrnet.model import CSRnet
from csrnet.protocol.images import list_images, read_image
from csrnet.report.build import list_weights
from csrnet.weights import save_weights

from conftest import sample_dir, tiny_model

pytest.importorskip("matplotlib")


@pytest.fixture
def small_data(tmp_path: Path) -> Path:
    """The paper's test sets, one or two 64x64 crops of real images each: the sample crops of
    the set, or of a set like it (gray, colour) where the samples have none."""
    root = tmp_path / "data"
    like = {"Set14": "Set5", "BSD100": "CBSD68", "Urban100": "LIVE1", "MemNet14": "Set12"}
    like["BSD200_test"] = "CBSD68"
    for name in {s for sets in DEFAULT_SETS.values() for s in sets} | {"CBSD68"}:
        (root / name).mkdir(parents=True)
        for path in list_images(sample_dir(like.get(name, name)))[:2]:
            img = read_image(path)
            Image.fromarray(img[:64, :64]).save(root / name / f"{path.stem}.png")
    return root


@pytest.fixture
def weights_dir(tmp_path: Path) -> Path:
    """Released-style weights in weights/, the Tables I/V study runs in study/."""
    folder = tmp_path / "weights"
    folder.mkdir()
    (tmp_path / "study").mkdir()
    specs = [  # name, task, levels, recipe, preset, scales
        ("sr_tiny", "sr", [2, 4, 8], "fast_sr", "CSRnet-Dense", 3),
        ("denoise_tiny", "denoise", [15, 30], "fast_denoise", "CSRnet-Dense", 3),
        ("jpeg_tiny", "jpeg", [10, 20], "fast_jpeg", "CSRnet-Dense", 3),
        ("abl_1s", "sr", [2], "ablation_1s", "CSRnet-1S", 1),
        ("depth_b4r6", "sr", [2], "depth_b4r6", "B4R6", 3),
        ("abl_dense", "sr", [2], "ablation_dense", "CSRnet-Dense", 3),  # also Table V's B8R6
        ("abl_long_2s", "sr", [2], "ablation_long_2s", "CSRnet-2S", 2),  # a second budget
    ]
    for name, task, levels, recipe, preset, scales in specs:
        torch.manual_seed(len(name))
        model = CSRnet(
            depth=1, res_blocks=1, channels=4, first_channels=4, scales=scales, input_skip=True
        )
        meta = {
            "task": {"task": task, "levels": levels, "level_range": None, "val_levels": []},
            "steps": 5 if "long" in name else 3,
            "recipe": recipe,
            "config": {
                "name": recipe,
                "model": {"preset": preset},
                "data": {"batch_size": 2, "patch_size": 8},
            },
        }
        where = folder if recipe.startswith("fast_") else tmp_path / "study"
        save_weights(where / f"{name}.safetensors", model, meta)
    return folder


def table_cells(markdown: str) -> dict[tuple[str, str, str], float]:
    """(table number, setting or set, column) -> PSNR, from the report's tables."""
    cells = {}
    for block in markdown.split("## Table ")[1:]:
        if " among the paper's methods" in block.splitlines()[0]:
            continue
        number = block.split(":")[0]
        block = block.split("\n## ")[0]  # up to the next section
        rows = [r for r in block.splitlines() if r.startswith("|")]
        head = [c.strip() for c in rows[0].strip("|").split("|")]
        for row in rows[2:]:
            values = [c.strip() for c in row.strip("|").split("|")]
            key = " ".join(values[:2]) if number in ("II", "III", "IV") else values[0]
            for column, value in zip(head, values, strict=True):
                match = re.match(r"^(\d+\.\d+)", value)
                if match and "†" not in value:  # † marks the paper's numbers, not measured
                    cells[(number, key, column)] = float(match.group(1))
    return cells


def test_report_writes_every_table_and_figure(
    tmp_path: Path, small_data: Path, weights_dir: Path, capsys
) -> None:
    out = tmp_path / "docs" / "RESULTS.md"
    out.parent.mkdir()
    code = main(
        [
            "report",
            "--weights-dir",
            str(weights_dir),
            "--weights-dir",
            str(tmp_path / "study"),
            "-o",
            str(out),
            "--data-root",
            str(small_data),
            "--figures",
            "--bm3d",
            "--cache",
            str(tmp_path / "cache"),
            "--study-limit",
            "1",
            "--no-progress",
        ]
    )
    assert code == 0, capsys.readouterr().err
    text = out.read_text()
    for title in ("Table II", "Table III", "Table IV", "Table I:", "Table V", "Speed", "Figures"):
        assert title in text
    table2 = text.split("## Table II")[1].split("\n## ")[0]
    assert "sr_tiny" in table2 and "abl_" not in table2  # study runs fill Tables I/V only
    # one Table I per training budget, each with its own runs only
    short, long = text.split("## Table I: ")[1:]
    assert short.startswith("ablation at x2 (PSNR), trained 3 steps of batch 2 of 8x8, on the")
    assert "on the first 1 images of each set\n" in short  # --study-limit 1: a subset
    assert long.startswith("ablation at x2 (PSNR), trained 5 steps of batch 2 of 8x8")
    assert "abl_long_2s" in long.split("\n## ")[0] and "abl_1s" not in long.split("\n## ")[0]
    assert "abl_long_2s" not in short.split("\n## ")[0]
    assert text.count("## Table V: ") == 1  # the second budget has no depth run
    figures = sorted(p.name for p in (out.parent / "figures").iterdir())
    assert len(figures) == 3 + 2 + 2 + 1 + 1 + 1 + 1 and all(f.endswith(".png") for f in figures)
    assert all(f"figures/{f}" in text for f in figures)

    means: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for row in csv.DictReader(out.with_suffix(".csv").open()):
        means[(row["method"], row["dataset"], row["setting"])].append(float(row["psnr"]))
    assert "(the first 1 images of each set for Tables I and V)" in text
    assert len(means[("abl_1s", "Set14", "x2")]) == 1  # --study-limit
    assert len(means[("sr_tiny", "Set14", "x2")]) == 2  # whole (two-image) sets
    cells = table_cells(text)
    checked = 0
    for (number, key, column), value in cells.items():
        if column.endswith("(paper)") or column == "CSRnet (paper)":
            continue
        if number in ("I", "V"):
            method = {
                "CSRnet-1S (ours)": "abl_1s",
                "CSRnet-2S (ours)": "abl_long_2s",
                "CSRnet-Dense (ours)": "abl_dense",
                "B4R6 (ours)": "depth_b4r6",
                "B8R6 (ours)": "abl_dense",
            }[column]
            rows = means[(method, key, "x2")]
        else:
            setting, dataset = key.split(" ")
            method = {"Bicubic": "Bicubic", "Noisy": "Noisy", "JPEG": "JPEG", "BM3D": "BM3D"}.get(
                column, column
            )
            rows = means[(method, dataset, setting)]
        assert rows, (number, key, column)
        assert value == pytest.approx(
            np.mean(rows), abs=0.0051 if number in ("II", "III", "IV") else 0.00051
        )
        checked += 1
    assert checked >= 3 * 4 * 2 + 2 * 4 * 3 + 2 * 2 * 2 + 4 * 4  # every ours / input / BM3D cell
    # where the files land among the paper's methods (whole sets): SR x2 Set5 has 10 others
    placed = text.split("## Table II among the paper's methods")[1].split("\n## ")[0]
    x2_set5 = next(row for row in placed.splitlines() if row.startswith("| x2 | Set5 |"))
    assert "36.65" in x2_set5 and x2_set5.rstrip(" |").endswith("of 12")  # SRCNN16 ... paper
    table3 = text.split("## Table III")[1].split("\n## ")[0]
    assert "32.34 / 0.9220 †" in table3  # BM3D on Urban100 at sigma 15: the paper's
    assert "BM3D: measured on MemNet14, BSD68" in table3


def test_a_subset_gets_no_delta_against_the_paper(
    tmp_path: Path, small_data: Path, weights_dir: Path
) -> None:
    out = tmp_path / "docs" / "RESULTS.md"
    out.parent.mkdir()
    argv = ["report", "--weights-dir", str(weights_dir), "-o", str(out)]
    assert main([*argv, "--data-root", str(small_data), "--limit", "1", "--no-progress"]) == 0
    text = out.read_text()
    for number in ("II", "III", "IV"):
        block = text.split(f"## Table {number}: ")[1].split("\n## ")[0]
        assert "on the first 1 images of each set (no Δ against the paper's" in block
        head, _, *rows = [r for r in block.splitlines() if r.startswith("|")]
        columns = [c.strip() for c in head.strip("|").split("|")]
        deltas = [i for i, c in enumerate(columns) if c == "Δ paper"]
        assert deltas and rows
        for row in rows:
            cells = [c.strip() for c in row.strip("|").split("|")]
            assert all(cells[i] == "-" for i in deltas), row
        assert f"Table {number} among the paper's methods: on whole sets only" in text


def test_a_file_at_none_of_the_papers_levels_gets_no_column(
    tmp_path: Path, small_data: Path, weights_dir: Path
) -> None:
    """A specialist beyond the paper's levels (sigma 25) is left out of Table III, whose
    rows are the paper's sigmas, rather than given a column of dashes."""
    model = CSRnet(depth=1, res_blocks=1, channels=4, first_channels=4, input_skip=True)
    meta = {
        "task": {"task": "denoise", "levels": [25], "level_range": None, "val_levels": []},
        "steps": 3,
        "recipe": "fast_denoise_s25",
        "config": {"name": "fast_denoise_s25", "model": {"preset": "CSRnet-Dense"}},
    }
    save_weights(weights_dir / "denoise_s25_tiny.safetensors", model, meta)
    out = tmp_path / "RESULTS.md"
    argv = ["report", "--weights-dir", str(weights_dir), "-o", str(out), "--limit", "1"]
    assert main([*argv, "--data-root", str(small_data), "--no-progress"]) == 0
    table = out.read_text().split("## Table III: ")[1].split("\n## ")[0]
    assert "denoise_tiny" in table and "denoise_s25_tiny" not in table


def test_cached_report_scores_nothing_and_lists_what_is_missing(
    tmp_path: Path, small_data: Path, weights_dir: Path
) -> None:
    """--cached writes the tables from the score cache alone: the cells it holds are those
    of the scoring run, a set with an image missing is left out and listed, and the cache
    is not touched."""
    out = tmp_path / "RESULTS.md"
    argv = ["report", "--weights-dir", str(weights_dir), "-o", str(out)]
    argv += ["--data-root", str(small_data), "--no-progress"]
    assert main(argv) == 0
    scored = table_cells(out.read_text())
    assert "## Tables I and V\n\nNot in this report" in out.read_text()  # no study runs
    assert "(ABLATION.md)" not in out.read_text()
    (tmp_path / "ABLATION.md").write_text("# Tables I and V, kept\n")  # then linked
    scores = tmp_path / "scores"
    jpeg = next(scores.glob("jpeg_tiny-*.csv"))
    lines = jpeg.read_text().splitlines(keepends=True)
    cut = next(i for i, line in enumerate(lines) if ",LIVE1,q20," in line)
    jpeg.write_text("".join(lines[:cut] + lines[cut + 1 :]))  # one LIVE1 q20 image unscored
    before = {f.name: f.read_bytes() for f in scores.iterdir()}

    assert main([*argv, "--cached"]) == 0
    text = out.read_text()
    assert {f.name: f.read_bytes() for f in scores.iterdir()} == before  # nothing scored
    assert "- jpeg_tiny LIVE1 q20 (1 of 2 images)" in text.split("## Table II")[0]
    assert "kept in [`ABLATION.md`](ABLATION.md)" in text
    place = text.split("## Table IV among the paper's methods")[1].split("\n## ")[0]
    assert "| q20 | Classic5 |" in place and "| q20 | LIVE1 |" not in place  # no best yet
    cached = table_cells(text)
    assert ("IV", "q20 LIVE1", "jpeg_tiny") not in cached
    assert cached == {k: v for k, v in scored.items() if k != ("IV", "q20 LIVE1", "jpeg_tiny")}


def test_bm3d_scored_into_the_cache_replaces_the_papers_number(
    tmp_path: Path, small_data: Path, weights_dir: Path, capsys
) -> None:
    """A report measures BM3D on MemNet14 and BSD68 only; elsewhere the paper's number (†)
    stands until `csrnet baseline ... --method bm3d --scores` has scored the whole set."""
    pytest.importorskip("bm3d")
    only = tmp_path / "denoise_only"
    only.mkdir()
    shutil.copy(weights_dir / "denoise_tiny.safetensors", only)
    out, scores, cache = tmp_path / "RESULTS.md", tmp_path / "scores", tmp_path / "cache"
    argv = ["report", "--weights-dir", str(only), "-o", str(out), "--data-root", str(small_data)]
    argv += ["--bm3d", "--cache", str(cache), "--scores", str(scores), "--no-progress"]

    def urban100_sigma15() -> tuple[str, str]:
        table3 = out.read_text().split("## Table III")[1].split("\n## ")[0]
        row = next(r for r in table3.splitlines() if r.startswith("| sigma15 | Urban100 |"))
        return row.split("|")[4].strip(), table3  # the BM3D column

    assert main(argv) == 0
    bm3d, table3 = urban100_sigma15()
    assert bm3d == "32.34 / 0.9220 †"  # the paper's, and nothing computed for it
    assert "BM3D: measured on MemNet14, BSD68;" in table3
    assert not (cache / "bm3d" / "Urban100").exists()

    urban100 = ["baseline", "denoise", str(small_data / "Urban100"), "--sigma", "15"]
    assert (
        main([*urban100, "--method", "bm3d", "--cache", str(cache), "--scores", str(scores)]) == 0
    )
    capsys.readouterr()
    assert main([*argv, "--cached"]) == 0
    bm3d, table3 = urban100_sigma15()
    rows = csv.DictReader(next(scores.glob("bm3d-*.csv")).open())
    psnrs = [
        float(r["psnr"]) for r in rows if (r["dataset"], r["setting"]) == ("Urban100", "sigma15")
    ]
    assert len(psnrs) == 2 and "†" not in bm3d
    assert float(bm3d.split(" / ")[0]) == pytest.approx(np.mean(psnrs), abs=0.0051)
    assert "BM3D: measured on MemNet14, Urban100 (sigma15), BSD68;" in table3
    assert "BM3D Urban100" not in out.read_text().split("## Table")[0]  # not listed as missing


def test_report_refuses_bad_input(tmp_path: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    assert (
        main(["report", "--weights-dir", str(tmp_path / "empty"), "-o", str(tmp_path / "r.md")])
        == 1
    )
    assert "no .safetensors" in capsys.readouterr().err
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "broken.safetensors").write_bytes(b"\x00" * 16)
    assert main(["report", "--weights-dir", str(tmp_path / "w"), "-o", str(tmp_path / "r.md")]) == 1
    assert "not a readable safetensors" in capsys.readouterr().err
    (tmp_path / "w2").mkdir()
    (tmp_path / "w2" / "broken.safetensors").write_bytes(b"\x00" * 16)
    argv = ["report", "--weights-dir", str(tmp_path / "w"), "--weights-dir", str(tmp_path / "w2")]
    assert main([*argv, "-o", str(tmp_path / "r.md")]) == 1
    assert "two weights files are named broken" in capsys.readouterr().err
    assert main([*argv, "-o", str(tmp_path / "r.md"), "--study-limit", "-1"]) == 2
    assert "--study-limit must be >= 0" in capsys.readouterr().err
    assert not (tmp_path / "r.md").exists()


def test_a_preset_with_overrides_is_not_a_study_run(tmp_path: Path) -> None:
    """An ablation recipe whose model sets fields beside its preset (say chain_coarse) is not
    the paper's variant, so it stays out of Tables I/V."""
    for name, extra in (("ablation_2s", {}), ("ablation_2s_chain", {"chain_coarse": True})):
        meta = {
            "task": {"task": "sr", "levels": [2], "level_range": None, "val_levels": []},
            "steps": 3,
            "recipe": name,
            "config": {"name": name, "model": {"preset": "CSRnet-2S", "input_skip": True, **extra}},
        }
        model = CSRnet(depth=1, res_blocks=1, channels=4, first_channels=4, scales=2)
        save_weights(tmp_path / f"{name}.safetensors", model, meta)
    study = {w.name: w.study for w in list_weights([tmp_path])}
    assert study == {"ablation_2s": True, "ablation_2s_chain": False}


def test_rgb_weights_get_the_colour_tables(tmp_path: Path, small_data: Path, capsys) -> None:
    """RGB models are scored on RGB in their own tables, beside CBM3D (measured) and the
    published methods (cited), and stay out of the paper's Y tables."""
    folder = tmp_path / "weights"
    folder.mkdir()
    for name, task, val_levels, channels in (
        ("denoise_rgb", "denoise", [15, 25, 50], 3),
        ("jpeg_rgb", "jpeg", [10, 20, 30, 40], 3),
        ("denoise_y", "denoise", [15, 30, 50], 1),
    ):
        model = tiny_model(channels, seed=channels)
        task_meta = {"task": task, "levels": None, "level_range": [0, 55], "val_levels": val_levels}
        meta = {"task": task_meta, "steps": 3, "recipe": f"blind_{name}", "config": {}}
        save_weights(folder / f"{name}.safetensors", model, meta)
    out = tmp_path / "RESULTS.md"
    argv = ["report", "--weights-dir", str(folder), "-o", str(out), "--data-root", str(small_data)]
    cache = ["--cache", str(tmp_path / "cache"), "--bm3d", "--figures", "--no-progress"]
    assert main([*argv, *cache]) == 0, capsys.readouterr().err
    text = out.read_text()
    table3 = text.split("## Table III: ")[1].split("\n## ")[0]
    assert "denoise_y" in table3 and "denoise_rgb" not in table3
    colour = text.split("## Colour: colour Gaussian denoising")[1].split("\n## ")[0]
    jpeg = text.split("## Colour: colour JPEG deblocking")[1].split("\n## ")[0]
    assert "FFDNet ‡" in colour and "| CBM3D |" in colour
    # the Y model's column: the paper's path on a colour photo, named in the notes
    assert "| Y model, Y only |" in colour and "sigma25 `denoise_y`" in colour
    assert "FBCNN ‡" in jpeg and "jpeg_rgb" in jpeg and "Y only" not in jpeg  # no Y model
    means: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for row in csv.DictReader(out.with_suffix(".csv").open()):
        means[(row["method"], row["dataset"], row["setting"])].append(float(row["psnr"]))
    checked = 0
    for block, methods in (
        (colour, ["Noisy (RGB)", "CBM3D", "denoise_y (Y only)", "denoise_rgb"]),
        (jpeg, ["JPEG (RGB)", "jpeg_rgb"]),
    ):
        rows = [r for r in block.splitlines() if r.startswith("|")]
        head = [c.strip() for c in rows[0].strip("|").split("|")]
        for row in rows[2:]:
            cells = dict(zip(head, (c.strip() for c in row.strip("|").split("|")), strict=True))
            setting, dataset = cells["Setting"], cells["Set"]
            for method in methods:
                column = "Y model, Y only" if method.endswith("(Y only)") else method
                if cells[column] == "-":  # CBM3D and the Y path: CBSD68 only
                    assert method in ("CBM3D", "denoise_y (Y only)") and dataset != "CBSD68"
                    continue
                value = float(cells[column].split(" / ")[0])
                assert value == pytest.approx(
                    np.mean(means[(method, dataset, setting)]), abs=0.0051
                )
                checked += 1
    assert checked == 3 * 2 * 2 + 3 * 2 + 4 * 2  # input, ours x 2 sets; CBM3D, Y; jpeg
    # the Y path is scored on RGB, in rows of its own, and not on Urban100 (~100 CPU minutes)
    y_path = means[("denoise_y (Y only)", "CBSD68", "sigma15")]
    assert y_path and not means[("denoise_y", "CBSD68", "sigma15")]
    assert not means[("denoise_y (Y only)", "Urban100", "sigma15")]
    # scored on RGB: the noisy input's PSNR there is not its PSNR on Y
    assert means[("Noisy (RGB)", "Urban100", "sigma15")] != means[("Noisy", "Urban100", "sigma15")]
    figures = {p.name for p in (tmp_path / "figures").iterdir()}
    assert {f for f in figures if f.startswith(("denoise_rgb_sigma25", "jpeg_rgb_q10"))}
