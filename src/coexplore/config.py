"""Run configuration: TOML presets validated once, at the edge, into frozen dataclasses.

A config file has sections ([run], [space], [data], [train], [fidelity], [final], [hardware],
[spec], [fast], [reward], [frontier], [controller], [picks], [executor], [baseline]); every key
is optional and defaults to the values below. A preset is a config file shipped in
coexplore/presets. Errors name the key and what it allows (docs/search.md has the reference).
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from coexplore.errors import InputError
from coexplore.search.executors.kinds import EXECUTORS
from coexplore.search.methods import configurable as configurable_strategies
from coexplore.slow.datasets import DATASETS
from coexplore.slow.train_config import DEVICES, LR_SCHEDULES, OPTIMIZERS, TrainConfig
from coexplore.spaces import SPACES


class ConfigError(InputError):
    """A bad configuration: the message names the key and the allowed values."""


@dataclass(frozen=True)
class RunConfig:
    seed: int = 0
    trials: int = 96  # children sampled (pruned ones included)
    batch: int = 8  # children per strategy update
    strategy: str = "coexplore"
    stop_after_failures: int = 8  # trainings in a row failed for one reason stop the run (0: never)


@dataclass(frozen=True)
class SpaceConfig:
    name: str = "chain"
    depth: int = 6
    stride_mode: str = "fixed"
    hardware_resolution: int = 224  # imagenet: hardware costed at this square size (0: training's)
    se: bool = False  # imagenet: squeeze-and-excitation searched per layer
    hswish: bool = False  # imagenet: hard-swish searched per layer (against ReLU)


@dataclass(frozen=True)
class DataConfig:
    dataset: str = "digits"
    root: str = ""
    val_fraction: float = 0.15
    test_fraction: float = 0.2
    limit: int = 0  # 0: all images
    resolution: int = 0  # folder datasets: images resized to this square size (0: dataset default)
    max_classes: int = 0  # folder datasets: keep the first N classes (0: all)
    max_per_class: int = 0  # folder datasets: keep N images per class (0: all)
    accuracy_column: str = "cifar10"  # nb201_table: which accuracy of the NATS-Bench table


@dataclass(frozen=True)
class FidelityConfig:
    # Successive halving in each batch (coexplore.search.fidelity): rungs of train.epochs,
    # train.epochs // eta, ... down to min_epochs; the best 1/eta of a rung go on. 0: off.
    min_epochs: int = 0
    eta: int = 2


@dataclass(frozen=True)
class FinalConfig:
    epochs: int = 0  # retrain OptSW and OptHW this long and report test accuracy (0: skip)


@dataclass(frozen=True)
class HardwareConfig:
    pool: str = "2xXC7Z020+1xXC7A50T"
    link_gbps: float = 10.0
    precision: str = "fixed16"
    devices_file: str = ""
    fill: bool = True  # count each layer's pipeline fill and drain (false: steady-state bound)
    clock_mhz: float = 0.0  # run every device at this clock (0: each device's catalog clock)


@dataclass(frozen=True)
class SpecConfig:
    fps: float = 0.0
    latency_ms: float = 0.0  # 0: no latency bound
    max_fpgas: int = 0  # 0: no limit beyond the pool


@dataclass(frozen=True)
class FastConfig:
    mode: str = "optimal"
    hw_tries: int = 10  # controller mode: hardware re-samples before pruning


@dataclass(frozen=True)
class RewardConfig:
    alpha: float = 0.7  # weight of accuracy; 1 - alpha on hardware efficiency
    metric: str = "fps"
    acc_bounds: tuple[float, float] = (0.5, 1.0)
    # (0, 0) means: spec fps .. 4x spec fps for "fps", 0 .. 1 for "pipeline_efficiency"
    hw_bounds: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True)
class FrontierConfig:  # the default strategy, run.strategy = "coexplore" (docs/strategy.md)
    candidates: int = 64  # new architectures the fast level evaluates per batch
    seed_children: int = 8  # the first children: a max-min spread of spec-meeting ones
    reference_quantile: float = 0.25  # hypervolume reference: this quantile of the accuracy


@dataclass(frozen=True)
class ControllerConfig:  # the RL controller's settings (coexplore.search.controller), as is
    hidden: int = 35
    embedding: int = 20
    lr: float = 0.0035
    entropy: float = 0.0001
    baseline_decay: float = 0.9


@dataclass(frozen=True)
class ExecutorConfig:
    kind: str = "local"  # local: in this process; pool: N worker processes; ray: a Ray cluster
    workers: int = 2
    address: str = ""  # ray: cluster address ("" starts a local cluster)
    retries: int = 2  # a child whose worker dies is retried this often, then FAILED
    gpus_per_child: float = 0.0  # ray: 0 means one GPU per child when the cluster has GPUs
    timeout_s: float = 0.0  # pool, ray: a child still training after this long is FAILED (0: none)


@dataclass(frozen=True)
class BaselineConfig:
    reference: str = ""  # hwnas: architecture JSON whose optimal design is fixed up front ("" = a
    #                      middle-of-the-space architecture)
    soft_weight: float = -0.07  # hwnas_soft: reward = acc * (spec / fps) ** w (MnasNet's (LAT/T)^w)
    population: int = 16  # nsga2: population size


@dataclass(frozen=True)
class PicksConfig:
    accuracy_gap: float = 0.01  # OptHW: best hardware within this accuracy distance of OptSW


@dataclass(frozen=True)
class Config:
    run: RunConfig = field(default_factory=RunConfig)
    space: SpaceConfig = field(default_factory=SpaceConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)  # next to the trainer, torch-free
    fidelity: FidelityConfig = field(default_factory=FidelityConfig)
    final: FinalConfig = field(default_factory=FinalConfig)
    hardware: HardwareConfig = field(default_factory=HardwareConfig)
    spec: SpecConfig = field(default_factory=SpecConfig)
    fast: FastConfig = field(default_factory=FastConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    frontier: FrontierConfig = field(default_factory=FrontierConfig)
    controller: ControllerConfig = field(default_factory=ControllerConfig)
    picks: PicksConfig = field(default_factory=PicksConfig)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    baseline: BaselineConfig = field(default_factory=BaselineConfig)


CHOICES = {
    "run.strategy": configurable_strategies(),  # the one registry of strategies
    "space.name": tuple(SPACES),  # the one registry of spaces
    "space.stride_mode": ("fixed", "predictable"),
    "data.dataset": tuple(DATASETS),  # the one registry of datasets
    "data.accuracy_column": ("cifar10", "cifar100", "imagenet16"),
    "train.optimizer": OPTIMIZERS,
    "train.lr_schedule": LR_SCHEDULES,
    "train.device": DEVICES,
    "hardware.precision": ("fixed8", "fixed16", "fp32"),
    "fast.mode": ("optimal", "controller"),
    "reward.metric": ("fps", "gops_per_w", "pipeline_efficiency"),
    "executor.kind": tuple(EXECUTORS),  # the one registry of executors
}
POSITIVE = {
    "run.trials",
    "run.batch",
    "space.depth",
    "train.epochs",
    "train.batch_size",
    "train.lr",
    "hardware.link_gbps",
    "fast.hw_tries",
    "controller.hidden",
    "controller.embedding",
    "controller.lr",
    "train.max_loss",
    "executor.workers",
    "baseline.population",
    "frontier.candidates",
}
SIGNED = {"baseline.soft_weight"}
FRACTIONS = {
    "data.val_fraction",
    "data.test_fraction",
    "reward.alpha",
    "picks.accuracy_gap",
    "controller.baseline_decay",
    "frontier.reference_quantile",
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
    elif preset or path is None:
        name = preset or "default"
        if name not in preset_names():
            raise ConfigError(f"unknown preset {name!r}; presets: {', '.join(preset_names())}")
        text = resources.files("coexplore.presets").joinpath(f"{name}.toml").read_text()
        raw = _read_toml(text, f"preset {name}")
    for dotted, value in (overrides or {}).items():
        section, _, key = dotted.partition(".")
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


def parse_config(raw: dict[str, Any]) -> Config:
    sections = {f.name: f for f in dataclasses.fields(Config)}
    built = {}
    for name, values in raw.items():
        if name not in sections:
            raise ConfigError(
                f"config: unknown section [{_name(name)}]; sections: {', '.join(sections)}"
            )
        if not isinstance(values, dict):
            raise ConfigError(f"config: [{name}] must be a table of keys")
        built[name] = _section(name, sections[name].type, values)
    config = Config(**built)
    _check_cross(config)
    return config


def _section(name: str, cls_name: str | type, values: dict[str, Any]) -> Any:
    cls = globals()[cls_name] if isinstance(cls_name, str) else cls_name
    hints = typing.get_type_hints(cls)
    out = {}
    for key, value in values.items():
        dotted = f"{name}.{key}"
        if key not in hints:
            raise ConfigError(f"config: unknown key '{_name(dotted)}'; allowed: {', '.join(hints)}")
        out[key] = _check_value(dotted, hints[key], value)
    try:
        return cls(**out)
    except InputError as exc:  # a section's own check (TrainConfig's), past the per-key ones
        raise ConfigError(f"config: [{name}]: {exc}") from None


def _check_value(dotted: str, hint: Any, value: Any) -> Any:
    expected = typing.get_origin(hint) or hint
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
    if dotted in CHOICES and value not in CHOICES[dotted]:
        raise ConfigError(f"config: {dotted}: {value!r} is not one of {', '.join(CHOICES[dotted])}")
    if dotted in POSITIVE and not value > 0:
        raise ConfigError(f"config: {dotted}: must be > 0, got {value!r}")
    if dotted in FRACTIONS and not 0 <= value <= 1:
        raise ConfigError(f"config: {dotted}: must be between 0 and 1, got {value!r}")
    if expected in (int, float) and value < 0 and dotted not in SIGNED:
        raise ConfigError(f"config: {dotted}: must be >= 0, got {value!r}")
    return value


def _check_cross(config: Config) -> None:
    lo, hi = config.reward.acc_bounds
    if not lo < hi:
        raise ConfigError(f"config: reward.acc_bounds: low must be below high, got {[lo, hi]}")
    lo, hi = config.reward.hw_bounds
    if (lo, hi) != (0.0, 0.0) and not lo < hi:
        raise ConfigError(f"config: reward.hw_bounds: low must be below high, got {[lo, hi]}")
    if (lo, hi) == (0.0, 0.0) and config.reward.metric == "fps" and config.spec.fps <= 0:
        raise ConfigError(
            "config: reward.hw_bounds: set them, or set spec.fps so they default to spec .. 4x spec"
        )
    if (lo, hi) == (0.0, 0.0) and config.reward.metric == "gops_per_w":
        raise ConfigError("config: reward.hw_bounds: set [low, high] GOPS/W for metric gops_per_w")
    if config.executor.timeout_s > 0 and config.executor.kind == "local":
        raise ConfigError(
            "config: executor.timeout_s needs executor.kind pool or ray (the local executor "
            "trains in the search process, which cannot stop a child midway)"
        )
    if config.fast.mode == "controller" and config.run.strategy == "coexplore":
        raise ConfigError(
            "config: fast.mode 'controller' samples hardware tokens with the RL controller: "
            "set run.strategy = 'rl'"
        )
    if config.fidelity.eta < 2:
        raise ConfigError(f"config: fidelity.eta: must be >= 2, got {config.fidelity.eta}")
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


def to_toml(config: Config) -> str:
    """The resolved config as TOML (what the run folder keeps)."""
    lines = []
    for section in dataclasses.fields(config):
        lines.append(f"[{section.name}]")
        for key, value in dataclasses.asdict(getattr(config, section.name)).items():
            lines.append(f"{key} = {_toml_value(value)}")
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


def to_dict(config: Config) -> dict[str, Any]:
    return dataclasses.asdict(config)
