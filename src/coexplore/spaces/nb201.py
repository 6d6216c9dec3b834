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
Inside a cell, only the ops a board runs: the cell's canonical live graph
(`spaces.nb201_cell`: no op that reaches no output or reads only zeros, skips folded into the
sums, one pool per pooled sum), in its canonical order. Per vertex, the ADD layers of the sum it
reads (a sum already computed is reused, a larger one grows from the largest computed part of
it), then its layer (nor_conv_kxk: a CONV with BN and no bias, the ReLU fused; avg_pool_3x3: a
3x3 stride-1 POOL); last, the ADDs of the output sum. Cells that compute the same network (one
`computation_key`) therefore get the same layers in the same order. A cell that outputs zeros
emits nothing, and the layers after it record no input; the macro skeleton (stem, reductions,
head) always stays, as in NAS-Bench-201's own parameter and FLOP counts.
Every input that is not the previous layer's output is a skip (producer, consumer).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from coexplore.errors import InputError
from coexplore.spaces.base import SearchSpace, TokenType, check_space_field, digest_of, json_field
from coexplore.spaces.nb201_cell import EDGES, INPUT, CellGraph, Sum, cell_graph, contains
from coexplore.workload import Layer, LayerKind, Workload

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
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

    def computation_key(self, arch: Nb201Arch) -> str:
        """The cell's canonical live graph (`spaces.nb201_cell.CellGraph.key`): cells that
        differ only in dead ops, in where a skip leads or in the order of a sum get one key."""
        return cell_graph(arch.ops).key

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
        trace, graph = _Trace(), cell_graph(arch.ops)
        width = self.init_channels
        x: int | None = trace.add(_bn_conv(channels, width, (rows, cols), 3, 1, "stem"))
        for stage in range(3):
            if stage:
                x = _reduction(trace, x, width, rows, cols, f"reduce{stage}")
                width, rows, cols = 2 * width, rows // 2, cols // 2
            for cell in range(self.cells_per_stage):
                x = _cell(trace, graph, x, (width, rows, cols), f"stage{stage}.cell{cell}")
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
    trace: _Trace, graph: CellGraph, node0: int | None, shape: tuple[int, int, int], prefix: str
) -> int | None:
    """Append one cell's live graph; returns the producer of its output (None: all zeros)."""
    if not graph.output or node0 is None:  # (node0 is None only after such a cell)
        return None
    width, rows, cols = shape
    sums = _Sums(trace, shape, prefix, {(INPUT,): node0})
    for number, vertex in enumerate(graph.vertices):
        dst, src = EDGES[vertex.edge]
        name = f"{prefix}.{vertex.op}[{dst}<-{src}]"
        if vertex.op == "avg_pool_3x3":
            layer = Layer(LayerKind.POOL, width, width, rows, cols, 3, 1, rows, cols,
                          bias=False, name=name)  # fmt: skip
        else:
            layer = _bn_conv(width, width, (rows, cols), CONV_KERNELS[vertex.op], 1, name)
        sums.known[(number,)] = trace.add(layer, sums.total(vertex.inputs))
    return sums.total(graph.output)


class _Sums:
    """The ADD layers of a cell's sums; each sum is computed once and reused."""

    def __init__(
        self, trace: _Trace, shape: tuple[int, int, int], prefix: str, known: dict[Sum, int]
    ) -> None:
        self.trace, self.shape, self.prefix = trace, shape, prefix
        self.known = known  # sum -> the layer that produces it (a source alone: its layer)
        self.adds = 0

    def total(self, terms: Sum) -> int:
        """The layer producing `terms`: the largest known part of it, then one ADD per term."""
        if terms in self.known:
            return self.known[terms]
        base = max((part for part in self.known if contains(terms, part)), key=len)
        rest = list(terms)
        for term in base:
            rest.remove(term)
        current, layer = base, self.known[base]
        for term in rest:
            channels, rows, cols = self.shape
            name = f"{self.prefix}.add{self.adds}"
            add = Layer(LayerKind.ADD, channels, channels, rows, cols, bias=False, name=name)
            self.adds += 1
            layer = self.trace.add(add, layer, self.known[(term,)])
            current = tuple(sorted((*current, term)))
            self.known[current] = layer
        return layer


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
