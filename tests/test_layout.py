"""Imports point one way (docs/layout.md): each module of coexplore belongs to one layer, and
imports only its own layer and the layers below. Read from the source with `ast`, lazy imports
inside functions included, so a layer cannot reach up even at run time; no module is exempt.
Import cycles are refused too, and each package, imported alone in a fresh interpreter, loads
nothing above it."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).parents[1] / "src" / "coexplore"


def _module(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """Every module `path` imports (`from coexplore.search import loop` imports the module
    coexplore.search.loop; `from coexplore.slow.jobs import TrainJob` coexplore.slow.jobs)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            base = node.module or ""
            submodules = {f"{base}.{a.name}" for a in node.names} & modules
            found |= submodules or {base}
    return found


_FILES = sorted(SRC.rglob("*.py"))
MODULES = {_module(p): _imports(p, {_module(f) for f in _FILES}) for p in _FILES}


def _in(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


# The layers, lowest first (docs/layout.md draws them): a module imports only from its own
# layer and those below.
LAYERS = (
    ("errors", "registry"),  # neutral: every layer may raise and register
    ("config", "presets"),  # plain data: names are checked where a run is wired
    ("storage",),  # the run database
    ("results",),  # fronts, hypervolume, picks, noise, plots, run-folder files
    ("workload",),  # layers and shapes: what the hardware sees
    ("hardware", "spaces", "datasets", "onnx_import"),  # FPGA models, spaces, dataset registry
    ("archfile", "problem"),  # a network from a file; the problem a config describes
    ("fast",),  # the exact fast exploration
    ("slow",),  # torch: models, data, training, the training job
    ("executors",),  # where training jobs run
    ("tabular",),  # NAS-Bench-201 tables
    ("search",),  # the loop, fidelity, strategies
    ("wiring",),  # config -> objects; start and resume
    ("cli", "commands", "compare", "report", "export", "render", "tables", "devices_view"),
)
SLOW = 8  # the layers below the slow level never import torch (nor do the executors)


def layer_of(module: str) -> int:
    if module == "coexplore":
        return 0
    name = module.split(".")[1]
    for index, names in enumerate(LAYERS):
        if name in names:
            return index
    raise AssertionError(f"{module}: in no layer of LAYERS (add it, and to docs/layout.md)")


def test_the_source_is_found():
    assert {"coexplore.workload", "coexplore.wiring", "coexplore.hardware.devices"} <= set(MODULES)


def test_every_module_has_a_layer():
    for module in MODULES:
        layer_of(module)


def test_no_module_imports_a_layer_above_its_own():
    offenders = sorted(
        f"{module} ({layer_of(module)}) imports {name} ({layer_of(name)})"
        for module, names in MODULES.items()
        for name in names
        if _in(name, "coexplore") and layer_of(name) > layer_of(module)
    )
    assert offenders == []


def torch_free(module: str) -> bool:
    return layer_of(module) < SLOW or _in(module, "coexplore.executors")


def test_the_torch_free_layers_never_import_torch():
    assert LAYERS[SLOW] == ("slow",)
    offenders = sorted(
        f"{module} imports {name}"
        for module, names in MODULES.items()
        if torch_free(module)
        for name in names
        if _in(name, "torch")
    )
    assert offenders == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), or a module that
    imports itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_there_is_no_import_cycle():
    graph = {m: {n for n in names if n in MODULES and n != m} for m, names in MODULES.items()}
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph)))
    assert _cycles(graph) == []


PACKAGES = sorted({".".join(m.split(".")[:2]) for m in MODULES if m != "coexplore"})

_LOADED = (
    "import json, sys, importlib; importlib.import_module({name!r}); "
    "print(json.dumps(sorted(m for m in sys.modules "
    "if m == 'torch' or m.startswith('coexplore.'))))"
)


@pytest.mark.parametrize("package", PACKAGES)
def test_a_package_imported_alone_loads_nothing_above_it(package):
    """In a fresh interpreter, what importing the package really loads (its __init__, what
    that imports at import time): nothing of a higher layer, and no torch below the slow
    level."""
    code = _LOADED.format(name=package)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=SRC.parent
    )
    loaded = json.loads(out.stdout)
    above = [m for m in loaded if m != "torch" and layer_of(m) > layer_of(package)]
    assert above == []
    if torch_free(package):
        assert "torch" not in loaded


def test_the_config_imports_nothing_of_coexplore_but_the_errors():
    assert {n for n in MODULES["coexplore.config"] if _in(n, "coexplore")} <= {"coexplore.errors"}


def _private_imports(path: Path) -> list[str]:
    """`from coexplore.x import _name` lines of `path`: another module's private helper."""
    return [
        f"{node.module}.{alias.name}"
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("coexplore.")
        for alias in node.names
        if alias.name.startswith("_")
    ]


def test_no_module_imports_a_private_helper_of_another():
    found = {_module(p): _private_imports(p) for p in _FILES}
    assert {m: names for m, names in found.items() if names} == {}


# Private members read from outside their object, each with its reason: Optuna keeps the
# sampler's random state and the study's storage private and offers no public access, and
# NSGA-II's JSON state needs them; `RunStorage`'s classmethods set up the instance they make;
# torch's only int8 matrix product with exact int32 sums is `torch._int_mm` (the fixed-point
# fast path's convolutions, checked at run time by `exact_conv.int8_gemm_exact`).
PRIVATE_READS_ALLOWED = {
    "coexplore.slow.exact_conv": {"torch._int_mm"},
    "coexplore.search.strategies.nsga2": {
        "study._storage",
        "study._study_id",
        "sampler._rng",
        "sampler._random_sampler",
        "sampler._random_sampler._rng",
    },
    "coexplore.storage.sqlite": {"run._write_schema", "run._migrate", "run._check_schema"},
}


def _private_member_reads(path: Path) -> set[str]:
    """`x._name` in `path` where x is not self or cls: another object's private member."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            owner = ast.unparse(node.value)  # self.explorer._fit's owner is self.explorer
            if not node.attr.startswith("__") and owner not in ("self", "cls", "os"):
                found.add(f"{owner}.{node.attr}")
    return found


def test_no_module_reads_a_private_member_of_another_object():
    """E.g. `fast.stages.Stages` reads the explorer's memo tables through `DeviceTables`'
    public methods, not the explorer's private members."""
    found = {_module(p): _private_member_reads(p) for p in _FILES}
    extra = {m: names - PRIVATE_READS_ALLOWED.get(m, set()) for m, names in found.items()}
    assert {m: names for m, names in extra.items() if names} == {}


def test_the_dataset_loaders_share_their_pieces_one_way():
    """The loaders take what they share from `slow.splits`, which imports none of them; the
    registry `coexplore.datasets` names every loader as "module:function", imported on use."""
    loaders = ("coexplore.slow.data", "coexplore.slow.folders", "coexplore.slow.nuclei_data")
    assert not set(MODULES["coexplore.slow.splits"]) & set(loaders)
    for module in loaders[1:]:
        assert "coexplore.slow.data" not in MODULES[module], module
        assert "coexplore.slow.splits" in MODULES[module], module
