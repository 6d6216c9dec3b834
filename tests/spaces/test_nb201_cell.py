"""The NAS-Bench-201 cell's canonical live graph and computation key, against an independent
brute force over all 15,625 cells (tests/spaces/nb201_reference.py)."""

from __future__ import annotations

from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nb201_reference import anonymous, same_function, symbolic

from coexplore.spaces import Nb201Arch, Nb201Space
from coexplore.spaces.nb201 import NUM_ARCHS, OPS
from coexplore.spaces.nb201_cell import EDGES, INPUT, cell_graph, live_edges
from coexplore.workload import LayerKind

SPACE = Nb201Space()
ops_tuples = st.tuples(*[st.sampled_from(OPS)] * len(EDGES))


def arch_of(ops: dict[tuple[int, int], str]) -> Nb201Arch:
    """An architecture from {(to, from): op}; unnamed edges are 'none'."""
    return Nb201Arch(tuple(ops.get(edge, "none") for edge in EDGES))


def key_of(ops: dict[tuple[int, int], str]) -> str:
    return SPACE.computation_key(arch_of(ops))


def brute_force_classes() -> list[list[int]]:
    """Every cell index, in classes of cells computing the same function (reference code)."""
    by_shape: dict[object, list[tuple[int, object]]] = defaultdict(list)
    for index in range(NUM_ARCHS):
        term = symbolic(Nb201Arch.from_index(index).ops)
        by_shape[anonymous(term)].append((index, term))
    classes: list[list[int]] = []
    for members in by_shape.values():
        found: list[tuple[object, list[int]]] = []
        for index, term in members:
            match = next((c for t, c in found if same_function(t, term)), None)
            if match is None:
                found.append((term, [index]))
            else:
                match.append(index)
        classes += [c for _, c in found]
    return classes


def test_one_key_per_function_over_all_cells() -> None:
    """Cells share a key exactly when they compute the same function up to their weights'
    names: 5,260 networks among the 15,625 cells."""
    classes = brute_force_classes()
    keys = [{SPACE.computation_key(Nb201Arch.from_index(i)) for i in c} for c in classes]
    assert all(len(k) == 1 for k in keys)  # no function split
    assert len({k.pop() for k in keys}) == len(classes) == 5260  # none merged with another


def test_shared_and_separate_convolutions_are_different_networks() -> None:
    """NATS-Bench's UniqueString writes both as #+#+(0)@nor_conv_3x3+(0)@nor_conv_3x3."""
    shared = key_of({(1, 0): "nor_conv_3x3", (2, 1): "skip_connect", (3, 1): "skip_connect",
                     (3, 2): "skip_connect"})  # fmt: skip
    separate = key_of({(1, 0): "nor_conv_3x3", (2, 0): "nor_conv_3x3", (3, 1): "skip_connect",
                       (3, 2): "skip_connect"})  # fmt: skip
    assert shared == "v0=nor_conv_3x3(x);out=v0+v0"
    assert separate == "v0=nor_conv_3x3(x);v1=nor_conv_3x3(x);out=v0+v1"


def test_two_pools_of_one_sum_are_one_pool() -> None:
    twice = key_of({(1, 0): "avg_pool_3x3", (3, 0): "avg_pool_3x3", (3, 1): "skip_connect"})
    shared = key_of({(1, 0): "avg_pool_3x3", (2, 1): "skip_connect", (3, 1): "skip_connect",
                     (3, 2): "skip_connect"})  # fmt: skip
    assert twice == shared == "v0=avg_pool_3x3(x);out=v0+v0"


def test_dead_ops_are_not_in_the_graph() -> None:
    dead_end = {(3, 0): "nor_conv_1x1", (1, 0): "nor_conv_3x3", (2, 1): "avg_pool_3x3"}
    reads_zeros = {(3, 0): "nor_conv_1x1", (3, 2): "nor_conv_3x3"}  # node 2 has no input
    assert key_of(dead_end) == key_of(reads_zeros) == "v0=nor_conv_1x1(x);out=v0"
    assert live_edges(arch_of(dead_end).ops) == (False, False, False, True, False, False)
    assert key_of({}) == key_of({(1, 0): "nor_conv_3x3", (2, 1): "skip_connect"}) == "out=0"


def test_the_order_of_a_sum_and_of_twins_does_not_matter() -> None:
    one = {(1, 0): "skip_connect", (3, 0): "nor_conv_1x1", (3, 1): "nor_conv_3x3"}
    other = {(1, 0): "skip_connect", (3, 0): "nor_conv_3x3", (3, 1): "nor_conv_1x1"}
    assert key_of(one) == key_of(other) == "v0=nor_conv_1x1(x);v1=nor_conv_3x3(x);out=v0+v1"
    # Twins (two 3x3 convolutions of x), each read by another op: which is which is no matter.
    a = {(1, 0): "nor_conv_3x3", (2, 0): "nor_conv_3x3", (3, 1): "avg_pool_3x3",
         (3, 2): "nor_conv_1x1"}  # fmt: skip
    b = {(1, 0): "nor_conv_3x3", (2, 0): "nor_conv_3x3", (3, 1): "nor_conv_1x1",
         (3, 2): "avg_pool_3x3"}  # fmt: skip
    assert key_of(a) == key_of(b)


@settings(max_examples=300, deadline=None)
@given(ops=ops_tuples)
def test_the_graph_reads_forward_and_every_vertex_reaches_the_output(ops: tuple[str, ...]) -> None:
    graph = cell_graph(ops)
    reaches = set(graph.output)
    for number in reversed(range(len(graph.vertices))):
        vertex = graph.vertices[number]
        assert vertex.inputs and all(INPUT <= s < number for s in vertex.inputs)
        assert list(vertex.inputs) == sorted(vertex.inputs)
        assert number in reaches  # a vertex nothing later reads would be dead
        reaches.update(vertex.inputs)
        assert live_edges(ops)[vertex.edge] and ops[vertex.edge] == vertex.op
    live_layers = sum(live and op not in ("none", "skip_connect")
                      for live, op in zip(live_edges(ops), ops, strict=True))  # fmt: skip
    pools = [v for v in graph.vertices if v.op == "avg_pool_3x3"]
    assert len({v.inputs for v in pools}) == len(pools)  # one pool per pooled sum
    assert len(graph.vertices) <= live_layers
    assert sum(v.op != "avg_pool_3x3" for v in graph.vertices) == sum(
        live and op.startswith("nor_conv") for live, op in zip(live_edges(ops), ops, strict=True)
    )  # every live convolution has its own weights


@settings(max_examples=300, deadline=None)
@given(ops=ops_tuples, position=st.integers(0, len(EDGES) - 1), op=st.sampled_from(OPS))
def test_a_dead_edge_can_change_without_changing_the_key(
    ops: tuple[str, ...], position: int, op: str
) -> None:
    changed = tuple(op if e == position else ops[e] for e in range(len(EDGES)))
    if live_edges(ops)[position] or live_edges(changed)[position]:
        return  # the edge computes something in one of them
    assert cell_graph(changed) == cell_graph(ops)


@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 8, 12)])
def test_the_workload_has_the_graphs_layers(shape: tuple[int, int, int]) -> None:
    space = Nb201Space(init_channels=4, cells_per_stage=2)
    for index in range(0, NUM_ARCHS, 97):
        arch = Nb201Arch.from_index(index)
        graph = cell_graph(arch.ops)
        layers = space.workload(arch, shape, 10).layers
        cells = [la for la in layers if la.name.startswith("stage0.cell1.")]
        ops = [la for la in cells if la.kind is not LayerKind.ADD]
        assert [la.name.split(".")[2].split("[")[0] for la in ops] == [v.op for v in graph.vertices]
        sums = len(graph.output) > 1 or any(len(v.inputs) > 1 for v in graph.vertices)
        assert (len(cells) > len(ops)) == sums  # ADD layers only where a sum has two terms
