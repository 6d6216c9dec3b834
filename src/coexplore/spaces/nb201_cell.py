"""What a NAS-Bench-201 cell computes: its canonical live graph, the ops a board really runs.

A cell's six edges carry ops between nodes 0..3 (node 0 the cell input, node 3 its output; a node
is the sum of its incoming edges). Of those ops, only some compute anything that matters:
- an op whose node is not on a path of non-`none` edges to node 3 reaches no output: dead;
- an op that reads a node no non-`none` path from node 0 reaches reads only zeros: dead too
  (NATS-Bench's `UniqueString` also writes such an op as zero; in PyTorch a ReLU-conv-BN of zeros
  is BN's learned shift, a constant that a graph compiler folds away);
- `skip_connect` is no op at all: a node reading it sums the source node's terms directly;
- two `avg_pool_3x3` reading the same sum compute the same tensor (no weights): one op.
What is left is a small graph (`CellGraph`): vertices, each a convolution or a pool that reads
a sum of earlier vertices and the cell input, and the sum that is the cell's output. Cells whose
graphs are isomorphic (a one-to-one map of vertices keeping ops and sums) compute the same
function up to the names of their weights: the same network. `cell_graph` gives the graph in a
canonical vertex order, so that isomorphic cells get equal graphs and one `key`; the workload
and the torch model are both built from it, so such cells have the same layers in the same
order, hence the same hardware cost.

Canonical order: vertices sorted by their expression (the op applied to the sorted expressions
it sums, "x" for the cell input), which an isomorphism keeps: first by its length, which exceeds
that of every vertex it reads, so a vertex comes after its inputs, then as text. Vertices with
equal expressions (twins, e.g. two convolutions of the input) are ordered by trying every order
of each group of twins and keeping the smallest encoding, so the result does not depend on which
edges the twins came from. A cell has at most six vertices and three twins in a group.
The hardware table's cache key reads this file (`tabular.hardware.MODEL_SOURCES`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import groupby, permutations, product

EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))  # (to_node, from_node), token order
INPUT = -1  # a source that is the cell input (node 0); other sources are vertex indices
PARAMETER_FREE = ("avg_pool_3x3",)  # ops without weights: two of one sum are one tensor
Sum = tuple[int, ...]  # sources added, sorted, one entry per time a source is added


@dataclass(frozen=True)
class Vertex:
    op: str  # nor_conv_1x1, nor_conv_3x3 or avg_pool_3x3
    inputs: Sum  # the sum it reads (never empty)
    # the token position (edge) it came from, for the layer's name (for merged pools the first);
    # not part of what the vertex computes, so not compared
    edge: int = field(compare=False)


@dataclass(frozen=True)
class CellGraph:
    """A cell's live ops in canonical order; a vertex reads the input and earlier vertices."""

    vertices: tuple[Vertex, ...]
    output: Sum  # empty: no signal reaches node 3, the cell outputs zeros

    @property
    def key(self) -> str:
        """E.g. "v0=nor_conv_3x3(x);v1=avg_pool_3x3(x+v0);out=v0+v1+v1" ("out=0": all zeros)."""
        ops = [f"v{i}={v.op}({_sum_text(v.inputs)})" for i, v in enumerate(self.vertices)]
        return ";".join([*ops, f"out={_sum_text(self.output) or '0'}"])


def _sum_text(terms: Sum) -> str:
    return "+".join("x" if s == INPUT else f"v{s}" for s in terms)


@lru_cache(maxsize=4096)
def cell_graph(ops: tuple[str, ...]) -> CellGraph:
    """The canonical live graph of the cell with one op per edge (`EDGES` order)."""
    raw, output = _trace(ops, live_edges(ops))
    return _canonical(raw, output)


def live_edges(ops: tuple[str, ...]) -> tuple[bool, ...]:
    """Per edge: whether its op is on a path of non-`none` edges from node 0 to node 3."""
    reached = {0}  # nodes a signal from the input reaches
    for (dst, src), op in zip(EDGES, ops, strict=True):  # every edge into a node comes first
        if op != "none" and src in reached:
            reached.add(dst)
    used = {3}  # nodes from which a signal reaches the output
    for (dst, src), op in reversed(list(zip(EDGES, ops, strict=True))):
        if op != "none" and dst in used:
            used.add(src)
    return tuple(
        op != "none" and src in reached and dst in used
        for (dst, src), op in zip(EDGES, ops, strict=True)
    )


def _trace(ops: tuple[str, ...], live: tuple[bool, ...]) -> tuple[list[Vertex], Sum]:
    """The live vertices in edge order, and the output sum."""
    vertices: list[Vertex] = []
    nodes: dict[int, Sum] = {0: (INPUT,)}
    for node in (1, 2, 3):
        terms: list[int] = []
        for position, ((dst, src), op) in enumerate(zip(EDGES, ops, strict=True)):
            if dst != node or not live[position]:
                continue
            if op == "skip_connect":
                terms += nodes[src]
                continue
            terms.append(_vertex(vertices, op, nodes[src], position))
        nodes[node] = tuple(sorted(terms))
    return vertices, nodes[3]


def _vertex(vertices: list[Vertex], op: str, inputs: Sum, position: int) -> int:
    """The index of the vertex `op` of `inputs`, appended unless a pool of that sum exists."""
    for index, vertex in enumerate(vertices):
        if op in PARAMETER_FREE and (vertex.op, vertex.inputs) == (op, inputs):
            return index
    vertices.append(Vertex(op, inputs, position))
    return len(vertices) - 1


def _canonical(raw: list[Vertex], output: Sum) -> CellGraph:
    expressions: list[str] = []
    for vertex in raw:  # inputs come first in edge order, so theirs are known
        inner = sorted("x" if s == INPUT else expressions[s] for s in vertex.inputs)
        expressions.append(f"{vertex.op}({'+'.join(inner)})")
    order = sorted(range(len(raw)), key=lambda v: (len(expressions[v]), expressions[v]))
    groups = [tuple(g) for _, g in groupby(order, key=lambda v: expressions[v])]
    candidates = (
        _relabel(raw, output, [v for group in choice for v in group])
        for choice in product(*(permutations(g) for g in groups))
    )
    return min(candidates, key=lambda g: ([(v.op, v.inputs) for v in g.vertices], g.output))


def _relabel(raw: list[Vertex], output: Sum, order: list[int]) -> CellGraph:
    new = {old: i for i, old in enumerate(order)} | {INPUT: INPUT}

    def renamed(terms: Sum) -> Sum:
        return tuple(sorted(new[s] for s in terms))

    vertices = tuple(Vertex(raw[v].op, renamed(raw[v].inputs), raw[v].edge) for v in order)
    return CellGraph(vertices, renamed(output))


def contains(whole: Sum, part: Sum) -> bool:
    """Whether the sum `part` is a sub-sum of `whole` (each source at most as often)."""
    return not Counter(part) - Counter(whole)
