"""Imports point one way (docs/layout.md): workload <- spaces, hardware <- fast <- tabular <-
search <- wiring <- commands, report, export, compare. Read from the source with `ast`, lazy
imports inside functions included, so a layer cannot reach up even at run time."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).parents[1] / "src" / "coexplore"

# The search modules a reader of results may use: the training job the workers run, what a
# fidelity rung and a failure mean, how far two accuracies can be told apart, and the picks.
SEARCH_PUBLIC = {
    "coexplore.search",  # the package itself (its __init__ holds no wiring)
    "coexplore.search.jobs",
    "coexplore.search.fidelity",
    "coexplore.search.failures",
    "coexplore.search.noise",
    "coexplore.search.picks",
}


def _module(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """Every module `path` imports (`from coexplore.search import run` imports the module
    coexplore.search.run; `from coexplore.search.jobs import TrainJob` coexplore.search.jobs)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            base = node.module or ""
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names} & modules
    return found


_FILES = sorted(SRC.rglob("*.py"))
MODULES = {_module(p): _imports(p, {_module(f) for f in _FILES}) for p in _FILES}


def _in(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _offenders(layers: tuple[str, ...], banned, exact: bool = False) -> list[str]:
    def inside(module: str) -> bool:
        return module in layers if exact else any(_in(module, layer) for layer in layers)

    return sorted(
        f"{module} imports {name}"
        for module, names in MODULES.items()
        if inside(module)
        for name in names
        if banned(name)
    )


def test_the_source_is_found():
    assert {"coexplore.workload", "coexplore.wiring", "coexplore.hardware.devices"} <= set(MODULES)


LOWEST = ("coexplore.hardware", "coexplore.fast", "coexplore.spaces", "coexplore.workload")


def test_hardware_fast_spaces_and_workload_import_no_search_slow_or_torch():
    def banned(name: str) -> bool:
        return any(
            _in(name, top)
            for top in ("coexplore.search", "coexplore.slow", "coexplore.wiring", "torch")
        )

    assert _offenders(LOWEST, banned) == []


@pytest.mark.parametrize("layer", ["coexplore.tabular", "coexplore.report", "coexplore.export"])
def test_tabular_report_and_export_import_no_search_internals(layer):
    def banned(name: str) -> bool:
        return _in(name, "coexplore.search") and name not in SEARCH_PUBLIC

    assert _offenders((layer,), banned) == []


def test_tabular_imports_nothing_of_search_but_the_training_job():
    def banned(name: str) -> bool:
        return _in(name, "coexplore.search") and name not in ("coexplore.search.jobs",)

    assert _offenders(("coexplore.tabular",), banned) == []


# What the wiring wires never imports it: only the command layers above it do.
ABOVE_WIRING = (
    "coexplore.wiring",
    "coexplore.cli",
    "coexplore.commands",
    "coexplore.compare",
    "coexplore.report",
    "coexplore.export",
)


def test_only_the_command_layers_import_the_wiring():
    below = tuple(sorted({m for m in MODULES if not any(_in(m, top) for top in ABOVE_WIRING)}))
    assert "coexplore.search.loop" in below
    assert _offenders(below, lambda name: _in(name, "coexplore.wiring"), exact=True) == []


def test_the_neutral_modules_import_no_search():
    neutral = ("coexplore.pareto", "coexplore.problem", "coexplore.errors", "coexplore.storage")
    assert _offenders(neutral, lambda name: _in(name, "coexplore.search")) == []


def test_the_config_takes_only_the_registries_names_from_search():
    """The config's run.strategy and executor.kind choices come from the strategy and executor
    registries, which build each lazily: the config reads names there and nothing else of
    search."""
    imported = {name for name in MODULES["coexplore.config"] if _in(name, "coexplore.search")}
    registries = {"coexplore.search.methods", "coexplore.search.executors.kinds"}
    assert imported <= {"coexplore.search", "coexplore.search.executors", *registries}


def test_the_config_takes_only_the_dataset_names_and_the_train_config_from_slow():
    imported = {name for name in MODULES["coexplore.config"] if _in(name, "coexplore.slow")}
    assert imported <= {"coexplore.slow", "coexplore.slow.datasets", "coexplore.slow.train_config"}
    assert not {m for m in MODULES["coexplore.slow.datasets"] if _in(m, "coexplore.slow")}


def test_the_config_loads_without_torch_optuna_or_ray():
    import subprocess
    import sys

    code = (
        "import sys, coexplore.config; "
        "print(sorted({'torch', 'optuna', 'ray'} & {m.split('.')[0] for m in sys.modules}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=SRC.parent
    )
    assert out.stdout.strip() == "[]"


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
    "coexplore.search.baselines.nsga2": {
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
    registry `slow.datasets` names every loader as "module:function", imported on use."""
    loaders = ("coexplore.slow.data", "coexplore.slow.folders", "coexplore.slow.nuclei_data")
    assert not set(MODULES["coexplore.slow.splits"]) & set(loaders)
    for module in loaders[1:]:
        assert "coexplore.slow.data" not in MODULES[module], module
        assert "coexplore.slow.splits" in MODULES[module], module
