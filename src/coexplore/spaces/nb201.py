"""The NAS-Bench-201 cell space (tabular): 5 ops on the 6 edges of a 4-node cell.

Architecture strings are the benchmark's own: `|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`, the j-th
group listing the ops into node j from nodes 0..j-1. Edges are ordered (1<-0), (2<-0), (2<-1),
(3<-0), (3<-1), (3<-2), which is also the token order.

Index bijection 0..15624: the op indices (in `OPS` order) are the base-5 digits of the index,
edge (1<-0) most significant. This is the enumeration order of the benchmark's
`CellStructure.gen_all`, *not* the row order of the NATS-Bench accuracy file: look rows up by
architecture string.

Workload of the standard macro skeleton, without torch, layers in execution order:
  stem        conv3x3 (in -> C, BN, no bias)
  stage 0     `cells_per_stage` cells at C channels, full resolution
  reduce1     conv_a (3x3 s2, BN), conv_b (3x3, BN), shortcut avgpool 2x2 s2, shortcut conv1x1, add
  stage 1     cells at 2C, half resolution
  reduce2     as reduce1, to 4C
  stage 2     cells at 4C, quarter resolution
  head        one POOL layer for BN-ReLU-global-average-pool (batchnorm=True carries the BN's
              parameters), then the FC classifier.
Inside a cell, node j = 1, 2, 3 in turn: first the layers of its incoming ops in edge order
(nor_conv_kxk: a CONV with BN and no bias, the ReLU fused; avg_pool_3x3: a 3x3 stride-1 POOL;
skip_connect: no layer; none: nothing), then k-1 ADD layers summing its k incoming tensors. A node
with no incoming tensor is all zeros: it is stored nowhere, and ops reading it record no input.
Every input that is not the previous layer's output is a skip (producer, consumer).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from coexplore.errors import InputError
from coexplore.spaces.base import SearchSpace, TokenType, check_space_field, digest_of, json_field
from coexplore.workload import Layer, LayerKind, Workload

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))  # (to_node, from_node), token order
NUM_ARCHS = len(OPS) ** len(EDGES)
CONV_KERNELS = {"nor_conv_1x1": 1, "nor_conv_3x3": 3}
TOKENS = tuple(TokenType(f"edge{dst}<-{src}", "op", OPS) for dst, src in EDGES)
LAYER_OPS = ("nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")  # the ops that are layers


def _paths(node: int = 3) -> tuple[tuple[int, ...], ...]:
    """Every path from node 0 to `node`, as the token positions of its edges (in order)."""
    if node == 0:
        return ((),)
    return tuple(
        (*path, position)
        for position, (dst, src) in enumerate(EDGES)
        if dst == node
        for path in _paths(src)
    )


PATHS = _paths()  # (3<-0), (1<-0, 3<-1), (2<-0, 3<-2), (1<-0, 2<-1, 3<-2)


@dataclass(frozen=True)
class Nb201Arch:
    """One op name per edge, in `EDGES` order."""

    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.ops) != len(EDGES):
            raise InputError(f"NAS-Bench-201 needs {len(EDGES)} ops, got {len(self.ops)}")
        for op in self.ops:
            if op not in OPS:
                raise InputError(f"unknown NAS-Bench-201 op {op!r}; valid ops: {', '.join(OPS)}")

    @classmethod
    def from_string(cls, text: str) -> Nb201Arch:
        """Parse `|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`."""
        groups = text.strip().split("+")
        if len(groups) != 3:
            raise InputError(f"bad NAS-Bench-201 string {text!r}: expected 3 '+'-separated nodes")
        ops = []
        for node, group in enumerate(groups, start=1):
            parts = group.split("|")
            if len(parts) != node + 2 or parts[0] or parts[-1]:
                raise InputError(f"bad NAS-Bench-201 string {text!r}: node {node} is {group!r}")
            for source, part in enumerate(parts[1:-1]):
                op, _, tail = part.partition("~")
                if tail != str(source):
                    raise InputError(
                        f"bad NAS-Bench-201 string {text!r}: {part!r} not from {source}"
                    )
                ops.append(op)
        return cls(tuple(ops))

    @classmethod
    def from_index(cls, index: int) -> Nb201Arch:
        """The architecture at `index` of the documented bijection (base-5 digits)."""
        if not 0 <= index < NUM_ARCHS:
            raise InputError(f"NAS-Bench-201 index must be in 0..{NUM_ARCHS - 1}, got {index}")
        digits = []
        for _ in EDGES:
            index, digit = divmod(index, len(OPS))
            digits.append(digit)
        return cls(tuple(OPS[d] for d in reversed(digits)))

    @property
    def index(self) -> int:
        value = 0
        for op in self.ops:
            value = value * len(OPS) + OPS.index(op)
        return value

    def to_string(self) -> str:
        nodes = []
        for node in (1, 2, 3):
            ops = [
                f"{op}~{src}" for (dst, src), op in zip(EDGES, self.ops, strict=True) if dst == node
            ]
            nodes.append("|" + "|".join(ops) + "|")
        return "+".join(nodes)

    @property
    def key(self) -> str:
        return self.to_string()

    @property
    def digest(self) -> str:
        return digest_of(self.key)


@dataclass(frozen=True)
class Nb201Space(SearchSpace[Nb201Arch]):
    """The 15,625 cells; `init_channels` and `cells_per_stage` size the macro skeleton (16, 5)."""

    name: ClassVar[str] = "nb201"
    model_builder: ClassVar[str] = "coexplore.slow.builders:build_nb201"

    init_channels: int = 16
    cells_per_stage: int = 5

    @classmethod
    def from_settings(cls, settings: Any) -> Nb201Space:
        """The space a config's [space] section asks for (`coexplore.problem.make_space`)."""
        return cls()  # one fixed space: no [space] setting applies

    def __post_init__(self) -> None:
        if self.init_channels < 1 or self.cells_per_stage < 1:
            raise InputError("init_channels and cells_per_stage must be >= 1")

    def token_types(self) -> tuple[TokenType, ...]:
        return TOKENS

    def encode(self, arch: Nb201Arch) -> tuple[int, ...]:
        return tuple(OPS.index(op) for op in arch.ops)

    def decode(self, indices: tuple[int, ...]) -> Nb201Arch:
        self.check_indices(indices)
        return Nb201Arch(tuple(OPS[i] for i in indices))

    def structure_features(self, arch: Nb201Arch) -> tuple[float, ...]:
        """The cell's input-to-output paths (the path encoding of White et al., NeurIPS 2020,
        summarised by counts): per path, whether it carries a signal (no `none` on it) and
        how many of each layer op it passes; then the most layers on one live path (the
        cell's depth) and whether the output is reached at all. Ops on edges no live path
        uses change nothing here, as they change nothing of what the cell computes."""
        features: list[float] = []
        depth = 0
        for path in PATHS:
            ops = [arch.ops[p] for p in path]
            live = "none" not in ops
            counts = [ops.count(op) if live else 0 for op in LAYER_OPS]
            features += [float(live), *map(float, counts)]
            depth = max(depth, sum(counts[:2]) if live else 0)  # the convolutions
        return (*features, float(depth), float(any(features[:: len(LAYER_OPS) + 1])))

    def to_json(self, arch: Nb201Arch) -> dict[str, Any]:
        return {"space": self.name, "arch": arch.to_string()}

    def from_json(self, data: Mapping[str, Any]) -> Nb201Arch:
        check_space_field(data, self.name)
        try:
            return Nb201Arch.from_string(json_field(data, "arch", str))
        except ValueError as error:
            raise InputError(f"arch: {error}") from None

    def workload(
        self, arch: Nb201Arch, input_shape: tuple[int, int, int], num_classes: int
    ) -> Workload:
        channels, rows, cols = input_shape
        if rows % 4 or cols % 4:
            # Two reductions: the strided conv (ceil) and the 2x2 pool (floor) must agree.
            raise InputError(f"NAS-Bench-201 needs rows and cols divisible by 4, got {input_shape}")
        trace = _Trace()
        width = self.init_channels
        x: int | None = trace.add(_bn_conv(channels, width, (rows, cols), 3, 1, "stem"))
        for stage in range(3):
            if stage:
                x = _reduction(trace, x, width, rows, cols, f"reduce{stage}")
                width, rows, cols = 2 * width, rows // 2, cols // 2
            for cell in range(self.cells_per_stage):
                x = _cell(trace, arch, x, (width, rows, cols), f"stage{stage}.cell{cell}")
        window = max(rows, cols)
        gap = Layer(LayerKind.POOL, width, width, 1, 1, window, window, rows, cols, bias=False,
                    batchnorm=True, name="head_bn_relu_gap")  # fmt: skip
        head = trace.add(gap, x)
        trace.add(Layer(LayerKind.FC, width, num_classes, 1, 1, name="classifier"), head)
        return Workload(tuple(trace.layers), input_shape, tuple(trace.skips), arch.key)


class _Trace:
    """Collects layers in execution order; an input other than the previous layer is a skip."""

    def __init__(self) -> None:
        self.layers: list[Layer] = []
        self.skips: list[tuple[int, int]] = []

    def add(self, layer: Layer, *inputs: int | None) -> int:
        index = len(self.layers)
        for producer in sorted({p for p in inputs if p is not None and p != index - 1}):
            self.skips.append((producer, index))
        self.layers.append(layer)
        return index


def _cell(
    trace: _Trace, arch: Nb201Arch, node0: int | None, shape: tuple[int, int, int], prefix: str
) -> int | None:
    """Append one cell; returns the producer of its output node (None: all zeros)."""
    width, rows, cols = shape
    nodes = [node0]
    for node in (1, 2, 3):
        terms = []
        for (dst, src), op in zip(EDGES, arch.ops, strict=True):
            if dst != node or op == "none":
                continue
            if op == "skip_connect":
                terms.append(nodes[src])
                continue
            name = f"{prefix}.{op}[{dst}<-{src}]"
            if op == "avg_pool_3x3":
                layer = Layer(LayerKind.POOL, width, width, rows, cols, 3, 1, rows, cols,
                              bias=False, name=name)  # fmt: skip
            else:
                layer = _bn_conv(width, width, (rows, cols), CONV_KERNELS[op], 1, name)
            terms.append(trace.add(layer, nodes[src]))
        nodes.append(_node_sum(trace, terms, shape, f"{prefix}.node{node}"))
    return nodes[3]


def _node_sum(
    trace: _Trace, terms: list[int | None], shape: tuple[int, int, int], name: str
) -> int | None:
    present = [t for t in terms if t is not None]  # a skip from an all-zero node adds nothing
    if not present:
        return None
    total = present[0]
    for k, term in enumerate(present[1:]):
        add = Layer(
            LayerKind.ADD, shape[0], shape[0], shape[1], shape[2], bias=False, name=f"{name}.add{k}"
        )
        total = trace.add(add, total, term)
    return total


def _reduction(trace: _Trace, x: int | None, width: int, rows: int, cols: int, prefix: str) -> int:
    """The ResNet basic block with stride 2 that doubles the width between stages."""
    out, r, c = 2 * width, rows // 2, cols // 2
    conv_a = trace.add(_bn_conv(width, out, (rows, cols), 3, 2, f"{prefix}.conv_a"), x)
    conv_b = trace.add(_bn_conv(out, out, (r, c), 3, 1, f"{prefix}.conv_b"), conv_a)
    pool = Layer(
        LayerKind.POOL, width, width, r, c, 2, 2, bias=False, name=f"{prefix}.shortcut_pool"
    )
    short = trace.add(pool, x)
    conv = Layer(LayerKind.CONV, width, out, r, c, 1, 1, bias=False, name=f"{prefix}.shortcut_conv")
    short = trace.add(conv, short)
    add = Layer(LayerKind.ADD, out, out, r, c, bias=False, name=f"{prefix}.add")
    return trace.add(add, conv_b, short)


def _bn_conv(
    in_channels: int,
    out_channels: int,
    in_size: tuple[int, int],
    kernel: int,
    stride: int,
    name: str,
) -> Layer:
    """A conv with BN and no bias, padding (kernel - 1) // 2: output size ceil(in / stride)."""
    rows, cols = in_size
    out_rows, out_cols = -(-rows // stride), -(-cols // stride)
    return Layer(
        LayerKind.CONV, in_channels, out_channels, out_rows, out_cols, kernel, stride,
        in_rows=rows, in_cols=cols, bias=False, batchnorm=True, name=name,
    )  # fmt: skip
