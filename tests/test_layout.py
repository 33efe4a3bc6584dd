"""The package's shape: subpackages in layers that import one way, short files and functions,
no import cycle, a CLI nothing imports, a protocol and data sets without torch, recipes in
folders."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "csrnet"
ENTRY_POINTS = {"csrnet.__main__"}
# The layers, lowest first (docs/DEVELOPING.md): a module imports only from its own unit or
# from units of lower layers. A unit is a subpackage, a top-level module, or the package's
# own __init__ ("csrnet": the Python API).
LAYERS = [
    {"errors"},
    {"protocol"},
    {"datasets"},
    {"model", "devices", "parallel"},
    {"weights"},
    {"inference"},
    {"evaluation"},
    {"training"},
    {"report", "serve"},
    {"csrnet"},
    {"cli"},
    {"__main__"},
]
MAX_FUNCTION_LINES = 60


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts).removesuffix(".__init__")


def imports_of(path: Path, lazy: bool = True) -> set[str]:
    """csrnet modules ``path`` imports: at module level (under ``if TYPE_CHECKING`` too), and
    with ``lazy`` inside functions too."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("csrnet"):
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("csrnet"))
        if lazy or not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for child in ast.iter_child_nodes(node):
                visit(child)

    visit(tree)
    return found


def import_graph(lazy: bool = True) -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {
        name: {m for m in imports_of(path, lazy) if m in modules and m != name}
        for name, path in modules.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def walk(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := walk(nxt, [*path, nxt])):
                return cycle
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := walk(start, [start])):
            return cycle
    return None


def test_the_package_is_a_few_modules_and_subpackages() -> None:
    modules = sorted(p.name for p in PACKAGE.glob("*.py"))
    subpackages = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
    assert len(modules) <= 10, modules
    assert len(subpackages) >= 4, subpackages
    for sub in subpackages:  # each says what it owns and what it may import
        doc = ast.get_docstring(ast.parse((PACKAGE / sub / "__init__.py").read_text()))
        assert doc and len(doc) > 120 and "import" in doc, sub


def test_no_file_is_over_500_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in [*PACKAGE.rglob("*.py"), *(ROOT / "tests").rglob("*.py")]
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 500
    }
    assert not long


def unit_of(module: str) -> str:
    """The layer unit of a module: its subpackage, its top-level module, or "csrnet"."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "csrnet"


def layer_breaches(graph: dict[str, set[str]]) -> list[str]:
    rank = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}
    return sorted(
        f"{name} -> {dep}"
        for name, deps in graph.items()
        for dep in deps
        if unit_of(name) != unit_of(dep) and rank[unit_of(dep)] >= rank[unit_of(name)]
    )


def test_every_unit_has_a_layer() -> None:
    units = {unit_of(name) for name in import_graph()}
    assert units == set().union(*LAYERS)


def test_layers_import_one_way_even_inside_functions_and_for_types() -> None:
    assert layer_breaches(import_graph(lazy=True)) == []


def test_the_layer_check_finds_an_import_upward() -> None:
    graph = {
        "csrnet.inference.calibration": {"csrnet.training.data"},
        "csrnet.training.data": set(),
    }
    assert layer_breaches(graph) == ["csrnet.inference.calibration -> csrnet.training.data"]


def test_no_import_cycle_even_through_imports_inside_functions() -> None:
    assert find_cycle(import_graph(lazy=True)) is None


def test_no_function_is_over_60_lines() -> None:
    long = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(PACKAGE)}:{node.name} {lines}")
    assert not long


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_library_module_imports_the_cli() -> None:
    importers = {
        name
        for name, deps in import_graph().items()
        if any(d == "csrnet.cli" or d.startswith("csrnet.cli.") for d in deps)
        and not name.startswith("csrnet.cli")
        and name not in ENTRY_POINTS
    }
    assert not importers


@pytest.mark.parametrize("subpackage", ["protocol", "datasets"])
def test_the_protocol_and_the_data_need_no_torch(subpackage: str) -> None:
    for path in (PACKAGE / subpackage).glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert not any(n == "torch" or n.startswith("torch.") for n in names), path.name


def test_recipes_live_in_folders() -> None:
    configs = ROOT / "configs"
    assert len(list(configs.iterdir())) <= 12
    assert len(list(configs.rglob("*.yaml"))) >= 50


def test_torchrun_runs_training_through_python_m_csrnet() -> None:
    """``torchrun -m csrnet train CONFIG`` runs ``python -m csrnet`` in each process."""
    done = subprocess.run(
        [sys.executable, "-m", "csrnet", "train", "configs/paper/sr_x2.yaml", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0 and "torchrun" in done.stdout, done.stderr


def test_python_m_csrnet_is_the_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "csrnet", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout.startswith("csrnet "), done.stderr


@pytest.mark.parametrize("name", ["restore", "load_model"])
def test_the_python_api_is_where_it_was(name: str) -> None:
    import csrnet

    assert callable(getattr(csrnet, name))


def test_scripts_and_benchmarks_import_names_that_exist() -> None:
    """What a script takes from the package is there (a moved name fails here, not in CI's
    first run of the script)."""
    import importlib.util

    missing = []
    for path in [*(ROOT / "scripts").glob("*.py"), *(ROOT / "benchmarks").glob("*.py")]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("csrnet"):
                module = importlib.import_module(node.module)
                missing += [
                    f"{path.name}: {node.module}.{a.name}"
                    for a in node.names
                    if not hasattr(module, a.name)
                    and importlib.util.find_spec(f"{node.module}.{a.name}") is None
                ]
    assert not missing
