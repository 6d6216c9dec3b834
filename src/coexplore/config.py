"""Run configuration: plain data, validated once at the edge.

A config file has the core sections below ([run], [space], [data], [train], [fidelity], [final],
[hardware], [spec], [fast], [reward], [picks], [executor]); every key is optional and defaults to
the values here. Each key is declared once, with its type, default, bounds and one-line meaning
(`setting`), and everything else is derived from that declaration: the checks, the resolved
TOML a run folder keeps, and the config reference in docs/config-reference.md.

A component may own a section of its own: a strategy's settings (e.g. [coexplore],
[controller]) live next to the strategy and are declared the same way. This module imports
nothing above it, so it cannot know those: they stay raw tables here (`Config.components`) and
are checked where the run is wired (`coexplore.wiring.check_config`), together with the names
that must be registered (strategy, space, dataset, executor kind), before a run folder is made.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

from coexplore.errors import InputError


class ConfigError(InputError):
    """A bad configuration: the message names the key and the allowed values."""


def setting(
    default: Any,
    meaning: str,
    *,
    choices: tuple[Any, ...] = (),
    low: float | None = 0.0,
    high: float | None = None,
    above: float | None = None,
    below: float | None = None,
    registry: str = "",
) -> Any:
    """A config key: its default, one line of meaning, and what it allows. Numbers are at
    least `low` (None: any sign) and at most `high`; `above` and `below` are strict bounds;
    `choices` lists the allowed values (of each element, for a tuple of strings); `registry`
    names the registry whose names the key takes (checked where the run is wired)."""
    bounds = {"choices": choices, "low": low, "high": high, "above": above, "below": below}
    bounds["registry"] = registry
    return field(default=default, metadata={"meaning": meaning, **bounds})


class Section:
    """A config section: a frozen dataclass of `setting` fields (subclasses name theirs in
    SECTION). Every field is checked against its declaration when the section is made, from a
    file or in code, and numbers are stored as their declared type."""

    SECTION: ClassVar[str] = ""

    def __post_init__(self) -> None:
        hints = _hints(type(self))
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            dotted = f"{self.SECTION}.{f.name}" if self.SECTION else f.name
            value = check_value(dotted, hints[f.name], f.metadata, getattr(self, f.name))
            object.__setattr__(self, f.name, value)


@functools.cache
def _hints(cls: type[Any]) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def fraction(default: float, meaning: str) -> Any:
    return setting(default, meaning, low=0.0, high=1.0)


def positive(default: Any, meaning: str) -> Any:
    return setting(default, meaning, above=0.0)


@dataclass(frozen=True)
class RunConfig(Section):
    SECTION = "run"

    seed: int = setting(0, "the run's seed: every random choice derives from it")
    trials: int = positive(96, "children sampled, pruned ones included")
    batch: int = positive(8, "children per strategy update")
    strategy: str = setting("coexplore", "the search strategy", registry="strategy")
    stop_after_failures: int = setting(
        8, "trainings in a row failed for one cause stop the run (0: never)"
    )


@dataclass(frozen=True)
class SpaceConfig(Section):
    """The search space and its settings: each space reads only its own keys (its
    `SearchSpace.settings`), and 0 means the space's own default."""

    SECTION = "space"

    name: str = setting("chain", "the search space", registry="space")
    layers: int = setting(0, "chain: conv layers; imagenet: conv layers over the five stages")
    stride_mode: str = setting(
        "fixed", "chain: 'fixed' (stride 1) or 'predictable' ({1, 2} per layer)",
        choices=("fixed", "predictable"),
    )  # fmt: skip
    levels: int = setting(0, "unet: levels, the bottleneck included")
    hardware_resolution: int = setting(
        224, "imagenet: hardware costed at this square size (0: training's)"
    )
    se: bool = setting(False, "imagenet: squeeze-and-excitation searched per layer")
    hswish: bool = setting(False, "imagenet: hard-swish searched per layer (against ReLU)")


@dataclass(frozen=True)
class DataConfig(Section):
    SECTION = "data"

    dataset: str = setting("digits", "the dataset children train on", registry="dataset")
    root: str = setting("", "the dataset's folder or file (built-in datasets need none)")
    val_fraction: float = fraction(0.15, "share of the images held out for validation")
    test_fraction: float = fraction(0.2, "share of the images held out for the final test")
    limit: int = setting(0, "use only this many images (0: all)")
    resolution: int = setting(0, "folder datasets: images resized to this square size (0: default)")
    max_classes: int = setting(0, "folder datasets: keep the first N classes (0: all)")
    max_per_class: int = setting(0, "folder datasets: keep N images per class (0: all)")
    accuracy_column: str = setting(
        "cifar10", "nb201_table: which accuracy of the NATS-Bench table",
        choices=("cifar10", "cifar100", "imagenet16"),
    )  # fmt: skip


OPTIMIZERS = ("sgd", "adam", "adamw")
LR_SCHEDULES = ("cosine", "constant")
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class TrainConfig(Section):
    """How one child is trained (coexplore.slow.trainer reads it)."""

    SECTION = "train"

    epochs: int = positive(4, "training epochs of a child (the last rung's)")
    batch_size: int = positive(64, "images per training step")
    optimizer: str = setting("adam", "the optimizer", choices=OPTIMIZERS)
    lr: float = positive(0.003, "learning rate")
    momentum: float = setting(0.9, "SGD momentum", below=1.0)
    weight_decay: float = setting(0.0001, "weight decay")
    lr_schedule: str = setting(
        "cosine", "cosine decays to 0 over all steps, per step", choices=LR_SCHEDULES
    )
    augment: bool = setting(
        False, "random crop with padding; left-right flip where the dataset allows"
    )
    channels_last: bool = setting(False, "channels_last memory format")
    bf16: bool = setting(False, "bfloat16 autocast for forward and loss")
    threads: int = setting(1, "torch threads while training (0: keep the process's setting)")
    device: str = setting("auto", "auto: CUDA when present", choices=DEVICES)
    max_loss: float = positive(100.0, "an epoch's mean training loss above this is divergence")


@dataclass(frozen=True)
class FidelityConfig(Section):
    """Successive halving in each batch (coexplore.search.fidelity)."""

    SECTION = "fidelity"

    min_epochs: int = setting(
        0, "rungs of train.epochs, train.epochs // eta, ... down to this (0: off)"
    )
    eta: int = setting(2, "the best 1/eta of a rung go on (at least 2)", low=2)
    early_precision_images: int = setting(
        100,
        "a child stopped at an early rung: the change each precision makes to its float accuracy"
        " is measured on this many validation images (0: all)",
    )


@dataclass(frozen=True)
class FinalConfig(Section):
    SECTION = "final"

    epochs: int = setting(0, "retrain OptSW and OptHW this long, report test accuracy (0: skip)")


PRECISIONS = ("fixed8", "fixed16", "fp32")


@dataclass(frozen=True)
class HardwareConfig(Section):
    SECTION = "hardware"

    pool: str = setting("2xXC7Z020+1xXC7A50T", "the FPGA pool, e.g. 2xXC7Z020+1xXC7A50T")
    link_gbps: float = positive(10.0, "inter-FPGA link bandwidth")
    precisions: tuple[str, ...] = setting(
        ("fixed16",), "the engine's arithmetic(s) a run may use", choices=PRECISIONS
    )
    devices_file: str = setting("", "a TOML catalog of your own boards (docs/device-catalogs.md)")
    fill: bool = setting(True, "count each layer's pipeline fill and drain (false: steady state)")
    clock_mhz: float = setting(0.0, "run every device at this clock (0: its catalog clock)")


@dataclass(frozen=True)
class SpecConfig(Section):
    SECTION = "spec"

    fps: float = setting(
        0.0, "required throughput (0: no bound; reward.metric fps then needs reward.hw_bounds)"
    )
    latency_ms: float = setting(0.0, "latency bound (0: none)")
    max_fpgas: int = setting(0, "most FPGAs a design may use (0: the pool's)")


@dataclass(frozen=True)
class FastConfig(Section):
    SECTION = "fast"

    mode: str = setting(
        "optimal", "optimal: the exact optimiser; controller: the RL controller samples designs",
        choices=("optimal", "controller"),
    )  # fmt: skip
    hw_tries: int = positive(10, "controller mode: hardware re-samples before pruning")


@dataclass(frozen=True)
class RewardConfig(Section):
    SECTION = "reward"

    alpha: float = fraction(0.7, "weight of accuracy; 1 - alpha on hardware efficiency")
    metric: str = setting(
        "fps", "the hardware-efficiency metric",
        choices=("fps", "gops_per_w", "pipeline_efficiency"),
    )  # fmt: skip
    acc_bounds: tuple[float, float] = setting((0.5, 1.0), "accuracy mapped to [-1, 1] between")
    hw_bounds: tuple[float, float] = setting(
        (0.0, 0.0), "metric mapped to [-1, 1] between ((0, 0): spec .. 4x spec for fps)"
    )


@dataclass(frozen=True)
class PicksConfig(Section):
    SECTION = "picks"

    accuracy_gap: float = fraction(0.01, "OptHW: best hardware within this accuracy of OptSW")


@dataclass(frozen=True)
class ExecutorConfig(Section):
    SECTION = "executor"

    kind: str = setting("local", "where children train", registry="executor")
    workers: int = positive(2, "pool, ray: children trained at once")
    address: str = setting("", "ray: cluster address ('' starts a local cluster)")
    retries: int = setting(2, "a child whose worker dies is retried this often, then FAILED")
    gpus_per_child: float = setting(0.0, "ray: GPUs per child (0: one when the cluster has GPUs)")
    timeout_s: float = setting(0.0, "a child still training after this long is FAILED (0: none)")


@dataclass(frozen=True)
class Config:
    run: RunConfig = field(default_factory=RunConfig)
    space: SpaceConfig = field(default_factory=SpaceConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    fidelity: FidelityConfig = field(default_factory=FidelityConfig)
    final: FinalConfig = field(default_factory=FinalConfig)
    hardware: HardwareConfig = field(default_factory=HardwareConfig)
    spec: SpecConfig = field(default_factory=SpecConfig)
    fast: FastConfig = field(default_factory=FastConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    picks: PicksConfig = field(default_factory=PicksConfig)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    # Sections a component owns (a strategy's settings), as given: checked and resolved with
    # their defaults where the run is wired (coexplore.wiring.check_config).
    components: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def component(self, name: str, cls: type[Any]) -> Any:
        """The component section `name` as `cls` (its defaults where the config says nothing)."""
        return parse_section(name, cls, dict(self.components.get(name, {})))


CORE_SECTIONS = tuple(f.name for f in dataclasses.fields(Config) if f.name != "components")

# Keys renamed since earlier versions: old configs (a user's file, a stored run) keep working.
RENAMED_SECTIONS = {"frontier": "coexplore"}
RENAMED_KEYS = {
    "baseline.population": "nsga2.population",
    "baseline.reference": "hwnas.reference",
    "baseline.soft_weight": "hwnas.soft_weight",
}


def preset_names() -> list[str]:
    folder = resources.files("coexplore.presets")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_config(
    preset: str | None = None, path: Path | None = None, overrides: dict[str, Any] | None = None
) -> Config:
    """Defaults, then a preset or a file (not both), then dotted-key overrides."""
    if preset and path:
        raise ConfigError("give a preset or a config file, not both")
    raw: dict[str, Any] = {}
    if path is not None:
        raw = _read_toml(_read_file(Path(path)), str(path))
    else:
        name = preset or "default"
        if name not in preset_names():
            raise ConfigError(f"unknown preset {name!r}; presets: {', '.join(preset_names())}")
        text = resources.files("coexplore.presets").joinpath(f"{name}.toml").read_text()
        raw = _read_toml(text, f"preset {name}")
    raw = upgrade(raw)
    for dotted, value in (overrides or {}).items():
        section, _, key = upgrade_key(dotted).partition(".")
        table = raw.setdefault(section, {})
        if not isinstance(table, dict):  # the file set `run = 3`: no key to override
            raise ConfigError(f"config: [{_name(section)}] must be a table of keys")
        table[key] = value
    return parse_config(raw)


def _read_file(path: Path) -> str | None:
    """The file's text, None if there is no such file; a folder or non-UTF-8 file is refused."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (not UTF-8)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror})") from None


def _read_toml(text: str | None, origin: str) -> dict[str, Any]:
    if text is None:
        raise ConfigError(f"{origin}: no such config file")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin}: not valid TOML ({exc})") from None


def upgrade_key(dotted: str) -> str:
    """A dotted key under its current name."""
    if dotted in RENAMED_KEYS:
        return RENAMED_KEYS[dotted]
    section, dot, key = dotted.partition(".")
    return RENAMED_SECTIONS.get(section, section) + dot + key


def upgrade(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A raw config of any earlier version under today's names: renamed sections and keys,
    `space.depth` as the key of the space it meant (chain and imagenet: `layers`, unet:
    `levels`; nb201 read none), `hardware.precision` as the one-element `precisions`."""
    out: dict[str, Any] = {}
    for section, values in raw.items():
        if not isinstance(values, Mapping):
            out[section] = values  # parse_config says what is wrong with it
            continue
        for key, value in values.items():
            new_section, _, new_key = upgrade_key(f"{section}.{key}").partition(".")
            out.setdefault(new_section, {})[new_key] = value
    space = out.get("space")
    if isinstance(space, dict) and "depth" in space:  # an old key given wins (e.g. by --set)
        depth = space.pop("depth")
        target = {"unet": "levels", "nb201": ""}.get(space.get("name", "chain"), "layers")
        if target:
            space[target] = depth
    hardware = out.get("hardware")
    if isinstance(hardware, dict) and "precision" in hardware:
        hardware["precisions"] = [hardware.pop("precision")]
    return out


def parse_config(raw: Mapping[str, Any]) -> Config:
    """A Config from raw tables (sections not known here are kept for their component)."""
    core = {f.name: f for f in dataclasses.fields(Config) if f.name != "components"}
    built: dict[str, Any] = {}
    components: dict[str, dict[str, Any]] = {}
    for name, values in upgrade(raw).items():
        if not isinstance(values, dict):
            raise ConfigError(f"config: [{_name(name)}] must be a table of keys")
        if name in core:
            built[name] = parse_section(name, core[name].type, values)
        else:
            components[name] = dict(values)
    config = Config(**built, components=components)
    _check_cross(config)
    return config


def parse_section(name: str, cls: type[Any] | str, values: Mapping[str, Any]) -> Any:
    """The section `name` as its dataclass, every key checked against its declaration."""
    cls = globals()[cls] if isinstance(cls, str) else cls
    declared = [f.name for f in dataclasses.fields(cls)]
    for key in values:
        if key not in declared:
            dotted = f"{name}.{key}"
            raise ConfigError(
                f"config: unknown key '{_name(dotted)}'; allowed: {', '.join(declared)}"
            )
    return cls(**values)  # each value checked against its declaration (Section)


def check_value(dotted: str, hint: Any, rules: Mapping[str, Any], value: Any) -> Any:
    """`value` checked against the key's type and declared bounds; the stored form returned."""
    expected = typing.get_origin(hint) or hint
    if expected is tuple and typing.get_args(hint)[-1] is Ellipsis:  # a list of names
        return _check_names(dotted, rules, value)
    if expected is tuple:
        if (
            not isinstance(value, list | tuple)
            or len(value) != 2
            or not all(_is_number(v) for v in value)
        ):
            raise ConfigError(f"config: {dotted}: expected two numbers [low, high], got {value!r}")
        return (_finite(dotted, value[0]), _finite(dotted, value[1]))
    if expected is float and _is_number(value):
        value = _finite(dotted, value)
    elif expected is float:  # without this, a string or a bool would pass as a number
        raise ConfigError(f"config: {dotted}: expected a number, got {value!r}")
    elif expected is int and not (isinstance(value, int) and not isinstance(value, bool)):
        raise ConfigError(f"config: {dotted}: expected an integer, got {value!r}")
    elif expected in (bool, str) and not isinstance(value, expected):
        raise ConfigError(f"config: {dotted}: expected {_type_name(expected)}, got {value!r}")
    if rules.get("choices") and value not in rules["choices"]:
        raise ConfigError(
            f"config: {dotted}: {value!r} is not one of {', '.join(rules['choices'])}"
        )
    if expected in (int, float):
        _check_bounds(dotted, rules, value)
    return value


def _check_names(dotted: str, rules: Mapping[str, Any], value: Any) -> tuple[str, ...]:
    if (
        not isinstance(value, list | tuple)
        or not value
        or not all(isinstance(v, str) for v in value)
    ):
        raise ConfigError(f"config: {dotted}: expected a non-empty list of names, got {value!r}")
    if len(set(value)) != len(value):
        raise ConfigError(f"config: {dotted}: a name is given twice in {list(value)!r}")
    for v in value:
        if rules.get("choices") and v not in rules["choices"]:
            raise ConfigError(
                f"config: {dotted}: {v!r} is not one of {', '.join(rules['choices'])}"
            )
    return tuple(value)


def _check_bounds(dotted: str, rules: Mapping[str, Any], value: float) -> None:
    low, high, above = rules.get("low", 0.0), rules.get("high"), rules.get("above")
    if above is not None and not value > above:
        raise ConfigError(f"config: {dotted}: must be > {above:g}, got {value!r}")
    if rules.get("below") is not None and not value < rules["below"]:
        raise ConfigError(f"config: {dotted}: must be < {rules['below']:g}, got {value!r}")
    if low is not None and high is not None and not low <= value <= high:
        raise ConfigError(f"config: {dotted}: must be between {low:g} and {high:g}, got {value!r}")
    if low is not None and value < low:
        raise ConfigError(f"config: {dotted}: must be >= {low:g}, got {value!r}")
    if high is not None and value > high:
        raise ConfigError(f"config: {dotted}: must be <= {high:g}, got {value!r}")


def _check_cross(config: Config) -> None:
    lo, hi = config.reward.acc_bounds
    if not lo < hi:
        raise ConfigError(f"config: reward.acc_bounds: low must be below high, got {[lo, hi]}")
    lo, hi = config.reward.hw_bounds
    if (lo, hi) != (0.0, 0.0) and not lo < hi:
        raise ConfigError(f"config: reward.hw_bounds: low must be below high, got {[lo, hi]}")
    if (lo, hi) == (0.0, 0.0) and config.reward.metric == "fps" and config.spec.fps <= 0:
        raise ConfigError(
            "config: spec.fps = 0 (no throughput bound) leaves the FPS reward without a scale: "
            "set spec.fps > 0 (the reward then spans spec .. 4x spec FPS), or "
            "reward.hw_bounds = [low, high] in FPS, or reward.metric = 'pipeline_efficiency'"
        )
    if (lo, hi) == (0.0, 0.0) and config.reward.metric == "gops_per_w":
        raise ConfigError("config: reward.hw_bounds: set [low, high] GOPS/W for metric gops_per_w")
    if config.fidelity.min_epochs > config.train.epochs:
        raise ConfigError(
            f"config: fidelity.min_epochs: must be at most train.epochs ({config.train.epochs}), "
            f"got {config.fidelity.min_epochs}"
        )
    if config.data.val_fraction + config.data.test_fraction >= 1:
        raise ConfigError("config: data.val_fraction + data.test_fraction must be below 1")


def _finite(dotted: str, value: int | float) -> float:
    try:
        number = float(value)
    except OverflowError:  # an integer too large for a float
        number = math.inf
    if not math.isfinite(number):
        raise ConfigError(f"config: {dotted}: expected a finite number, got {value!r}")
    return number


def _name(text: str) -> str:
    """A user's key or section name for a one-line message (quoted if it holds a newline)."""
    return text if text.isprintable() else repr(text)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _type_name(t: Any) -> str:
    return {bool: "true or false", str: "a string"}.get(t, getattr(t, "__name__", str(t)))


def to_dict(config: Config) -> dict[str, Any]:
    """The config as plain tables: the core sections, then the component sections."""
    out = {name: dataclasses.asdict(getattr(config, name)) for name in CORE_SECTIONS}
    return out | {name: dict(values) for name, values in config.components.items()}


def to_toml(config: Config) -> str:
    """The resolved config as TOML (what the run folder keeps)."""
    lines = []
    for section, values in to_dict(config).items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {_toml_value(value)}" for key, value in values.items()]
        lines.append("")
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):  # a TOML basic string: escape what it cannot hold as is
        return '"' + "".join(_TOML_ESCAPES.get(c) or _escape_control(c) for c in value) + '"'
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


_TOML_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escape_control(char: str) -> str:
    return f"\\u{ord(char):04x}" if ord(char) < 0x20 or ord(char) == 0x7F else char
