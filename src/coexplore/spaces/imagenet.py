"""The ImageNet space: a stage-wise plain CNN of five stages, each opening with stride 2.

Network for an input of C x H x W (224 x 224, or a proxy resolution such as 64 or 112):
  stage s = 0..4 with width f_s (one filters token per stage; the choices widen with s), made of
  `stage_depths[s]` layers; the first layer of a stage has stride 2, the others stride 1. Each
  layer has its own kernel token k and op token:
    "conv": Conv2d(k x k, padding k // 2, no bias) -> BatchNorm -> ReLU
    "sep":  depthwise Conv2d(k x k, stride, groups = in) -> BN -> ReLU, then
            pointwise Conv2d(1 x 1) -> BN -> ReLU (depthwise separable)
  head: global average pooling (one POOL layer over the whole map) -> Linear(classes, bias).
Two opt-in per-layer choices (MnasNet, MobileNetV3), off by default (`se_choices=(False,)`,
`activations=("relu",)`), so the default space and its architectures are what they were:
  se:     squeeze-and-excitation after the k x k conv's activation (for "sep", on the
          depthwise output): global pool -> 1x1 conv to max(1, C // 4) (bias) -> ReLU -> 1x1
          conv back (bias) -> gate -> channel-wise product with the map; the gate is a sigmoid,
          or a hard-sigmoid in a hard-swish layer (as MobileNetV3);
  act:    "relu" or "hswish" (hard-swish) for the layer's activations.
Five stride-2 stages shrink the map 32x: 224 -> 7, 64 -> 2, 32 -> 1 (an output of ceil(in / 2)).

`hardware_resolution` > 0 costs the hardware (the workload) at that square input size whatever
the input shape given (training may run at a proxy resolution; the deployed network runs at,
say, 224 x 224); 0 keeps the given input shape.

`depth` is the number of layers over all five stages (at least 5), shared out evenly with the
remainder going to the deepest stages: 10 -> (2, 2, 2, 2, 2), 8 -> (1, 1, 2, 2, 2).

Tokens, in order: per stage `stage{s}.filters` (kind `filters{s}`: each stage has its own
choices, hence its own controller head), then per layer `stage{s}.layer{i}.kernel` (kind
`kernel`) and, when more than one is allowed, `stage{s}.layer{i}.op` (kind `op`),
`.se` (kind `se`) and `.act` (kind `act`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

from coexplore.errors import InputError
from coexplore.spaces.base import (
    SearchSpace,
    TokenType,
    check_space_field,
    choice_index,
    digest_of,
    json_field,
)
from coexplore.workload import Layer, LayerKind, Workload

NUM_STAGES = 5
OPS = ("conv", "sep")
ACTIVATIONS = ("relu", "hswish")
DEFAULT_STAGE_FILTERS = (
    (16, 24, 32),
    (24, 32, 48),
    (40, 64, 96),
    (80, 128, 192),
    (160, 256, 384),
)


@dataclass(frozen=True)
class ImagenetLayer:
    kernel: int
    op: str = "conv"
    se: bool = False  # squeeze-and-excitation after the k x k conv
    act: str = "relu"  # or "hswish"

    @property
    def key(self) -> str:
        """ "sep5", or "sep5+se+hswish" with the opt-in choices (the default's key unchanged)."""
        extras = ("+se" if self.se else "") + ("" if self.act == "relu" else f"+{self.act}")
        return f"{self.op}{self.kernel}{extras}"


@dataclass(frozen=True)
class ImagenetStage:
    filters: int
    layers: tuple[ImagenetLayer, ...]


@dataclass(frozen=True)
class ImagenetArch:
    """Five stages, each a width and its layers."""

    stages: tuple[ImagenetStage, ...]

    @property
    def key(self) -> str:
        """Canonical string, e.g. "imagenet:f16/conv3,sep5-f24/conv1-..."."""
        stages = (f"f{s.filters}/" + ",".join(x.key for x in s.layers) for s in self.stages)
        return "imagenet:" + "-".join(stages)

    @property
    def digest(self) -> str:
        return digest_of(self.key)


@dataclass(frozen=True)
class ImagenetSpace(SearchSpace[ImagenetArch]):
    """`depth` layers in five stride-2 stages; per-layer kernel and op, per-stage width."""

    name: ClassVar[str] = "imagenet"
    settings: ClassVar[tuple[str, ...]] = ("layers", "hardware_resolution", "se", "hswish")
    model_builder: ClassVar[str] = "coexplore.slow.imagenet_model:build_imagenet"

    depth: int = 10
    kernels: tuple[int, ...] = (1, 3, 5, 7)
    stage_filters: tuple[tuple[int, ...], ...] = DEFAULT_STAGE_FILTERS
    ops: tuple[str, ...] = OPS
    hardware_resolution: int = 0
    se_choices: tuple[bool, ...] = (False,)  # (False, True): SE is searched per layer
    activations: tuple[str, ...] = ("relu",)  # ("relu", "hswish"): searched per layer

    @classmethod
    def from_settings(cls, settings: Any) -> ImagenetSpace:
        """The space a config's [space] section asks for (`coexplore.problem.make_space`)."""
        return cls(  # layers: conv layers over the five stages (0: the default)
            depth=settings.layers or cls.depth,
            hardware_resolution=settings.hardware_resolution,
            se_choices=(False, True) if settings.se else (False,),
            activations=ACTIVATIONS if settings.hswish else ("relu",),
        )

    def __post_init__(self) -> None:
        if self.hardware_resolution < 0:
            raise InputError(f"hardware_resolution must be >= 0, got {self.hardware_resolution}")
        if self.depth < NUM_STAGES:
            raise InputError(
                f"depth must be >= {NUM_STAGES} (one layer per stage), got {self.depth}"
            )
        if not self.kernels or any(k < 1 or k % 2 == 0 for k in self.kernels):
            raise InputError(f"kernels must be odd and >= 1 ('same' padding), got {self.kernels}")
        if len(self.stage_filters) != NUM_STAGES:
            raise InputError(f"stage_filters needs {NUM_STAGES} tuples, got {self.stage_filters}")
        if any(not f or min(f) < 1 for f in self.stage_filters):
            raise InputError(f"stage_filters must be non-empty and >= 1, got {self.stage_filters}")
        if not self.ops or not set(self.ops) <= set(OPS):
            raise InputError(f"ops must be a non-empty subset of {OPS}, got {self.ops}")
        if not self.se_choices or not set(self.se_choices) <= {False, True}:
            raise InputError("se_choices must be a non-empty subset of (False, True)")
        if not self.activations or not set(self.activations) <= set(ACTIVATIONS):
            raise InputError(f"activations must be a non-empty subset of {ACTIVATIONS}")

    @classmethod
    def for_json(cls, data: Mapping[str, Any]) -> ImagenetSpace:
        """The default-choice space whose depth holds this architecture JSON.

        A malformed JSON still gets a space, so that `from_json` names the bad field.
        """
        stages = json_field(data, "stages", list)
        layers = [item.get("layers") if isinstance(item, Mapping) else None for item in stages]
        depth = sum(len(x) if isinstance(x, list) else 0 for x in layers)
        items = [x for group in layers if isinstance(group, list) for x in group]
        used = [x for x in items if isinstance(x, Mapping)]
        se = any(x.get("se") is True for x in used)
        hswish = any(x.get("act") == "hswish" for x in used)
        return cls(
            depth=max(NUM_STAGES, depth),
            se_choices=(False, True) if se else (False,),
            activations=ACTIVATIONS if hswish else ("relu",),
        )

    @property
    def stage_depths(self) -> tuple[int, ...]:
        base, extra = divmod(self.depth, NUM_STAGES)
        return tuple(base + (s >= NUM_STAGES - extra) for s in range(NUM_STAGES))

    @cached_property
    def _tokens(self) -> tuple[TokenType, ...]:
        tokens = []
        for s, count in enumerate(self.stage_depths):
            tokens.append(TokenType(f"stage{s}.filters", f"filters{s}", self.stage_filters[s]))
            for i in range(count):
                tokens.append(TokenType(f"stage{s}.layer{i}.kernel", "kernel", self.kernels))
                for kind, choices in self._layer_choices:
                    tokens.append(TokenType(f"stage{s}.layer{i}.{kind}", kind, choices))
        return tuple(tokens)

    @property
    def _layer_choices(self) -> list[tuple[str, tuple[Any, ...]]]:
        """The per-layer choices after the kernel that are searched (more than one value)."""
        every = [("op", self.ops), ("se", self.se_choices), ("act", self.activations)]
        return [(kind, choices) for kind, choices in every if len(choices) > 1]

    def token_types(self) -> tuple[TokenType, ...]:
        return self._tokens

    def encode(self, arch: ImagenetArch) -> tuple[int, ...]:
        if len(arch.stages) != NUM_STAGES:
            raise InputError(f"stages: expected {NUM_STAGES} stages, got {len(arch.stages)}")
        indices: list[int] = []
        for s, (stage, count) in enumerate(zip(arch.stages, self.stage_depths, strict=True)):
            if len(stage.layers) != count:
                raise InputError(f"stages[{s}].layers: expected {count}, got {len(stage.layers)}")
            indices.append(
                choice_index(stage.filters, self.stage_filters[s], f"stages[{s}].filters")
            )
            for i, layer in enumerate(stage.layers):
                where = f"stages[{s}].layers[{i}]"
                indices.append(choice_index(layer.kernel, self.kernels, f"{where}.kernel"))
                every = [("op", self.ops), ("se", self.se_choices), ("act", self.activations)]
                for kind, choices in every:
                    index = choice_index(getattr(layer, kind), choices, f"{where}.{kind}")
                    if len(choices) > 1:
                        indices.append(index)
        return tuple(indices)

    def decode(self, indices: tuple[int, ...]) -> ImagenetArch:
        self.check_indices(indices)
        values = iter(t.choices[i] for t, i in zip(self.token_types(), indices, strict=True))
        stages = []
        for count in self.stage_depths:
            filters = next(values)
            layers = []
            for _ in range(count):
                kernel = next(values)
                op, se, act = (
                    next(values) if len(choices) > 1 else choices[0]
                    for choices in (self.ops, self.se_choices, self.activations)
                )
                layers.append(ImagenetLayer(kernel, str(op), bool(se), str(act)))
            stages.append(ImagenetStage(filters, tuple(layers)))
        return ImagenetArch(tuple(stages))

    def workload(
        self, arch: ImagenetArch, input_shape: tuple[int, int, int], num_classes: int
    ) -> Workload:
        if self.hardware_resolution:
            input_shape = (input_shape[0], self.hardware_resolution, self.hardware_resolution)
        channels, rows, cols = input_shape
        layers: list[Layer] = []
        skips: list[tuple[int, int]] = []
        for s, stage in enumerate(arch.stages):
            for i, x in enumerate(stage.layers):
                stride = 2 if i == 0 else 1  # every stage opens with a stride-2 layer
                op, op_skips = _op_layers(
                    x, (channels, rows, cols), stage.filters, stride, f"stage{s}.layer{i}"
                )
                skips += [(len(layers) + a, len(layers) + b) for a, b in op_skips]
                layers += op
                channels, rows, cols = stage.filters, op[-1].out_rows, op[-1].out_cols
        layers.append(_global_pool(channels, rows, cols, "global_avg_pool"))
        layers.append(Layer(LayerKind.FC, channels, num_classes, 1, 1, name="fc"))
        return Workload(tuple(layers), input_shape, tuple(skips), name=arch.key)

    def to_json(self, arch: ImagenetArch) -> dict[str, Any]:
        stages = [{"filters": s.filters, "layers": [_layer_json(x) for x in s.layers]}
                  for s in arch.stages]  # fmt: skip
        return {"space": self.name, "stages": stages}

    def from_json(self, data: Mapping[str, Any]) -> ImagenetArch:
        check_space_field(data, self.name)
        stages = []
        for s, item in enumerate(json_field(data, "stages", list)):
            filters = json_field(item, "filters", int, f"stages[{s}].")
            layers = []
            for i, layer in enumerate(json_field(item, "layers", list, f"stages[{s}].")):
                where = f"stages[{s}].layers[{i}]."
                kernel = json_field(layer, "kernel", int, where)
                op = json_field(layer, "op", str, where) if "op" in layer else "conv"
                se = json_field(layer, "se", bool, where) if "se" in layer else False
                act = json_field(layer, "act", str, where) if "act" in layer else "relu"
                layers.append(ImagenetLayer(kernel, op, se, act))
            stages.append(ImagenetStage(filters, tuple(layers)))
        arch = ImagenetArch(tuple(stages))
        self.encode(arch)  # membership check: raises ValueError naming the field
        return arch


def _layer_json(x: ImagenetLayer) -> dict[str, Any]:
    """A layer's JSON; the opt-in choices only when taken (older files read the same)."""
    out: dict[str, Any] = {"kernel": x.kernel, "op": x.op}
    if x.se:
        out["se"] = True
    if x.act != "relu":
        out["act"] = x.act
    return out


def _op_layers(
    x: ImagenetLayer, shape: tuple[int, int, int], filters: int, stride: int, name: str
) -> tuple[list[Layer], list[tuple[int, int]]]:
    """The workload layers of one op (in_rows/in_cols are the real, unpadded input size) and
    its skips, as indices into those layers: the SE's map, read again by its scale."""
    channels, rows, cols = shape
    out_rows, out_cols = math.ceil(rows / stride), math.ceil(cols / stride)
    first = LayerKind.CONV if x.op == "conv" else LayerKind.DWCONV
    width = filters if x.op == "conv" else channels
    layers = [Layer(first, channels, width, out_rows, out_cols, x.kernel, stride, rows, cols,
                    bias=False, batchnorm=True, name=f"{name}.{x.op}")]  # fmt: skip
    layers += _activation(x, width, out_rows, out_cols, f"{name}.{x.op}")
    skips = []
    if x.se:
        skips.append((len(layers) - 1, len(layers) + 3))
        layers += _squeeze_excite(x, width, out_rows, out_cols, f"{name}.se")
    if x.op == "sep":
        size = (out_rows, out_cols)
        pointwise = Layer(LayerKind.CONV, channels, filters, *size, 1, 1, *size, bias=False,
                          batchnorm=True, name=f"{name}.pointwise")  # fmt: skip
        layers.append(pointwise)
        layers += _activation(x, filters, out_rows, out_cols, f"{name}.pointwise")
    return layers, skips


def _activation(x: ImagenetLayer, channels: int, rows: int, cols: int, name: str) -> list[Layer]:
    """ReLU is fused into the conv; hard-swish is an `act` layer (docs/hardware.md)."""
    if x.act == "relu":
        return []
    return [Layer(LayerKind.ACT, channels, channels, rows, cols, bias=False,
                  name=f"{name}.{x.act}", function=x.act)]  # fmt: skip


def _squeeze_excite(
    x: ImagenetLayer, channels: int, rows: int, cols: int, name: str
) -> list[Layer]:
    """Global pool, 1x1 conv to max(1, C // 4) (ReLU fused), 1x1 conv back, the channel-wise
    scale; its gate is a sigmoid (applied by the scale) or a hard-sigmoid (fused into the conv
    before it, as ReLU6 is) in a hard-swish layer."""
    squeezed = max(1, channels // 4)
    gate = "" if x.act == "hswish" else "sigmoid"
    return [
        _global_pool(channels, rows, cols, f"{name}.pool"),
        Layer(LayerKind.CONV, channels, squeezed, 1, 1, 1, 1, 1, 1, name=f"{name}.reduce"),
        Layer(LayerKind.CONV, squeezed, channels, 1, 1, 1, 1, 1, 1, name=f"{name}.expand"),
        Layer(LayerKind.SCALE, channels, channels, rows, cols, bias=False, name=f"{name}.scale",
              function=gate),
    ]  # fmt: skip


def _global_pool(channels: int, rows: int, cols: int, name: str) -> Layer:
    """Global average pooling as one POOL layer whose window covers the whole map."""
    window = max(rows, cols)
    return Layer(LayerKind.POOL, channels, channels, 1, 1, window, window, rows, cols, bias=False,
                 name=name)  # fmt: skip
