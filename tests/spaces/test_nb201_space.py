from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coexplore.spaces import Nb201Arch, Nb201Space
from coexplore.spaces.nb201 import EDGES, NUM_ARCHS, OPS, PATHS
from coexplore.workload import LayerKind

BEST_KNOWN = "+".join(
    [
        "|nor_conv_3x3~0|",
        "|nor_conv_3x3~0|nor_conv_3x3~1|",
        "|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    ]
)
ops_tuples = st.tuples(*[st.sampled_from(OPS)] * len(EDGES))


def arch_of(ops: dict[tuple[int, int], str]) -> Nb201Arch:
    """An architecture from {(to, from): op}; unnamed edges are 'none'."""
    return Nb201Arch(tuple(ops.get(edge, "none") for edge in EDGES))


def test_parse_reads_edges_in_benchmark_order() -> None:
    arch = Nb201Arch.from_string(BEST_KNOWN)
    assert arch.ops == ("nor_conv_3x3",) * 3 + ("skip_connect",) + ("nor_conv_3x3",) * 2
    assert arch.to_string() == BEST_KNOWN
    assert arch.key == BEST_KNOWN


@settings(max_examples=200, deadline=None)
@given(ops=ops_tuples)
def test_string_round_trip(ops: tuple[str, ...]) -> None:
    arch = Nb201Arch(ops)
    text = arch.to_string()
    assert Nb201Arch.from_string(text) == arch
    assert Nb201Arch.from_string(f"  {text}\n") == arch


@settings(max_examples=200, deadline=None)
@given(index=st.integers(0, NUM_ARCHS - 1))
def test_index_round_trip(index: int) -> None:
    assert Nb201Arch.from_index(index).index == index


def test_index_is_a_bijection_over_all_15625_architectures() -> None:
    archs = [Nb201Arch.from_index(i) for i in range(NUM_ARCHS)]
    assert NUM_ARCHS == 15_625 == Nb201Space().size()
    assert len({a.to_string() for a in archs}) == NUM_ARCHS
    assert len({a.digest for a in archs}) == NUM_ARCHS
    assert all(Nb201Arch.from_string(a.to_string()).index == i for i, a in enumerate(archs))


def test_index_digits_are_ops_with_the_first_edge_most_significant() -> None:
    assert Nb201Arch.from_index(0).ops == ("none",) * 6
    assert Nb201Arch.from_index(1).ops == ("none",) * 5 + ("skip_connect",)
    assert Nb201Arch.from_index(5**5).ops == ("skip_connect",) + ("none",) * 5
    assert Nb201Arch.from_index(NUM_ARCHS - 1).ops == ("avg_pool_3x3",) * 6


@pytest.mark.parametrize("index", [-1, NUM_ARCHS])
def test_index_out_of_range(index: int) -> None:
    with pytest.raises(ValueError, match=r"0\.\.15624"):
        Nb201Arch.from_index(index)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "|none~0|+|none~0|none~1|",
        "|none~0|+|none~0|none~1|+|none~0|none~1|",
        "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|",
        "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|",
        "none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
    ],
)
def test_parse_rejects_malformed_strings(text: str) -> None:
    with pytest.raises(ValueError):
        Nb201Arch.from_string(text)


def test_from_json_names_the_arch_field() -> None:
    space = Nb201Space()
    with pytest.raises(ValueError, match="arch"):
        space.from_json({"arch": "|none~0|"})
    with pytest.raises(ValueError, match="arch"):
        space.from_json({"space": "nb201"})


def test_published_extremes_of_the_space() -> None:
    """NAS-Bench-201 (Dong & Yang, ICLR 2020) reports 0.073-1.531 MB params and
    7.78-220.11 MFLOPs (multiply-accumulates) on CIFAR-10 over the whole space."""
    space = Nb201Space()
    smallest = space.workload(Nb201Arch(("none",) * 6), (3, 32, 32), 10)
    largest = space.workload(Nb201Arch(("nor_conv_3x3",) * 6), (3, 32, 32), 10)
    assert round(smallest.params / 1e6, 3) == 0.073
    assert round(smallest.macs / 1e6, 2) == 7.78
    assert abs(largest.params / 1e6 - 1.531) < 1e-3
    assert abs(largest.macs / 1e6 - 220.11) < 0.02


def test_macro_skeleton_shapes() -> None:
    workload = Nb201Space().workload(Nb201Arch.from_string(BEST_KNOWN), (3, 32, 32), 10)
    by_name = {layer.name: layer for layer in workload.layers}
    stem = workload.layers[0]
    assert (stem.name, stem.in_channels, stem.out_channels, stem.out_rows) == ("stem", 3, 16, 32)
    assert (by_name["reduce1.conv_a"].stride, by_name["reduce1.conv_a"].out_rows) == (2, 16)
    assert by_name["reduce2.add"].out_channels == 64 and by_name["reduce2.add"].out_rows == 8
    assert by_name["reduce1.shortcut_pool"].kind is LayerKind.POOL
    convs = [la for la in workload.layers if la.name.startswith("stage2") and la.kind == "conv"]
    assert len(convs) == 5 * 5 and {(c.in_channels, c.out_rows) for c in convs} == {(64, 8)}
    head, fc = workload.layers[-2:]
    assert head.kind is LayerKind.POOL and head.batchnorm and head.out_rows == 1
    assert fc.kind is LayerKind.FC and (fc.in_channels, fc.out_channels) == (64, 10)


def test_a_chain_cell_has_no_skips_but_the_reductions_do() -> None:
    chain = arch_of({(1, 0): "nor_conv_3x3", (2, 1): "nor_conv_1x1", (3, 2): "avg_pool_3x3"})
    workload = Nb201Space(cells_per_stage=2).workload(chain, (3, 16, 16), 10)
    adds = {layer.name for layer in workload.layers if layer.kind is LayerKind.ADD}
    assert adds == {"reduce1.add", "reduce2.add"}
    names = {(workload.layers[p].name, workload.layers[c].name) for p, c in workload.skips}
    assert names == {
        ("stage0.cell1.avg_pool_3x3[3<-2]", "reduce1.shortcut_pool"),
        ("reduce1.conv_b", "reduce1.add"),
        ("stage1.cell1.avg_pool_3x3[3<-2]", "reduce2.shortcut_pool"),
        ("reduce2.conv_b", "reduce2.add"),
    }


def test_node_sums_become_adds_with_skips() -> None:
    cell = arch_of({(1, 0): "nor_conv_1x1", (3, 0): "skip_connect", (3, 1): "nor_conv_3x3"})
    workload = Nb201Space(cells_per_stage=1).workload(cell, (3, 8, 8), 10)
    names = [layer.name for layer in workload.layers]
    conv1 = names.index("stage0.cell0.nor_conv_1x1[1<-0]")
    conv3 = names.index("stage0.cell0.nor_conv_3x3[3<-1]")
    add = names.index("stage0.cell0.add0")
    assert (conv1, conv3, add) == (1, 2, 3)  # op layers of a node first, then its sum
    assert (0, add) in workload.skips  # the cell input, kept alive for the skip_connect edge
    assert all(0 <= p < c < len(workload) for p, c in workload.skips)
    assert workload.boundary_words(conv3) == 2 * workload.layers[0].output_words


def test_zero_nodes_store_nothing() -> None:
    workload = Nb201Space().workload(Nb201Arch(("none",) * 6), (3, 32, 32), 10)
    kinds = [layer.kind for layer in workload.layers]
    assert kinds.count(LayerKind.CONV) == 1 + 2 * 3  # stem and the two reductions
    # The zero output of stage 0 is never stored, so conv_a reads nothing from the stem.
    conv_a = [layer.name for layer in workload.layers].index("reduce1.conv_a")
    assert (0, conv_a) not in workload.skips


def test_input_size_must_survive_two_reductions() -> None:
    with pytest.raises(ValueError, match="divisible by 4"):
        Nb201Space().workload(Nb201Arch(("none",) * 6), (3, 30, 30), 10)


def test_paths_are_the_four_ways_from_input_to_output() -> None:
    as_edges = {tuple(EDGES[p] for p in path) for path in PATHS}
    assert as_edges == {
        ((3, 0),),
        ((1, 0), (3, 1)),
        ((2, 0), (3, 2)),
        ((1, 0), (2, 1), (3, 2)),
    }


def test_structure_features_of_known_cells() -> None:
    space = Nb201Space()
    best = space.structure_features(Nb201Arch.from_string(BEST_KNOWN))
    assert best[-2:] == (3.0, 1.0)  # three convolutions on 1<-0, 2<-1, 3<-2; output reached
    cut = space.structure_features(arch_of({(1, 0): "nor_conv_3x3", (2, 1): "nor_conv_3x3"}))
    assert cut == (0.0,) * len(cut)  # nothing reaches node 3: no path, no depth
    skip = space.structure_features(arch_of({(3, 0): "skip_connect"}))
    assert skip[:4] == (1.0, 0.0, 0.0, 0.0) and skip[-2:] == (0.0, 1.0)


@settings(max_examples=200, deadline=None)
@given(ops=ops_tuples, position=st.integers(0, len(EDGES) - 1), op=st.sampled_from(OPS[1:]))
def test_ops_off_every_live_path_leave_the_structure_features(
    ops: tuple[str, ...], position: int, op: str
) -> None:
    """An edge no live path uses changes nothing the cell computes, nor its features."""
    live = [p for p in PATHS if all(ops[e] != "none" for e in p)]
    if any(position in path for path in live):
        return
    changed = tuple(op if e == position else ops[e] for e in range(len(EDGES)))
    # Giving the edge an op may open a new path through it: then the features must change.
    opened = any(position in p and all(changed[e] != "none" for e in p) for p in PATHS)
    space = Nb201Space()
    before = space.structure_features(Nb201Arch(ops))
    after = space.structure_features(Nb201Arch(changed))
    assert (before != after) == opened
