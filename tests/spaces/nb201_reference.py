"""Independent references for what a NAS-Bench-201 cell computes, written apart from the space's
own code (no shared helper), for tests to compare that code against.

- `symbolic`: the cell's output as a term. The input is "x"; a sum is a multiset of terms; a pool
  of a sum is one term (no weights: two pools of one sum are the same tensor); a convolution is
  a term named by its edge (its own weights); an op of an all-zero node is zero; `none` is zero.
- `same_function`: two cells' terms equal up to renaming their convolutions' weights (brute
  force over every one-to-one map between their convolutions of each kind).
- `unique_string`: NATS-Bench's `UniqueString` (`CellStructure.to_unique_str(consider_zero=
  True)` of the NATS-Bench / NAS-Bench-201 code): a tree that sorts each node's terms as text,
  writes "#" for zero and does not see which ops are shared.
"""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

from coexplore.spaces.nb201 import EDGES

Term = Any  # "x", ("pool", multiset) or (op, edge, multiset); a multiset is a frozenset of
# (term, count)


def symbolic(ops: tuple[str, ...]) -> frozenset[tuple[Term, int]]:
    nodes: list[Counter[Term]] = [Counter({"x": 1})]
    for node in (1, 2, 3):
        total: Counter[Term] = Counter()
        for edge, ((dst, src), op) in enumerate(zip(EDGES, ops, strict=True)):
            if dst != node or op == "none" or not nodes[src]:
                continue
            value = nodes[src]
            if op == "skip_connect":
                total.update(value)
            elif op == "avg_pool_3x3":
                total[("pool", frozenset(value.items()))] += 1
            else:
                total[(op, edge, frozenset(value.items()))] += 1
        nodes.append(total)
    return frozenset(nodes[3].items())


def convolutions(term: Term) -> set[tuple[str, int]]:
    """The (op, edge) of every convolution in a term or multiset."""
    if isinstance(term, frozenset):
        return set().union(*(convolutions(t) for t, _ in term))
    if term == "x":
        return set()
    if term[0] == "pool":
        return convolutions(term[1])
    return {(term[0], term[1])} | convolutions(term[2])


def renamed(term: Term, names: dict[int, int]) -> Term:
    if isinstance(term, frozenset):
        return frozenset((renamed(t, names), count) for t, count in term)
    if term == "x":
        return term
    if term[0] == "pool":
        return ("pool", renamed(term[1], names))
    return (term[0], names[term[1]], renamed(term[2], names))


def anonymous(term: Term) -> Term:
    """The term with every convolution's edge forgotten: equal for cells of one function."""
    if isinstance(term, frozenset):
        total: Counter[Term] = Counter()
        for inner, count in term:
            total[anonymous(inner)] += count
        return frozenset(total.items())
    if term == "x":
        return term
    if term[0] == "pool":
        return ("pool", anonymous(term[1]))
    return (term[0], -1, anonymous(term[2]))


def same_function(a: Term, b: Term) -> bool:
    convs_a, convs_b = sorted(convolutions(a)), sorted(convolutions(b))
    if sorted(op for op, _ in convs_a) != sorted(op for op, _ in convs_b):
        return False
    for image in itertools.permutations(convs_b):
        if all(x[0] == y[0] for x, y in zip(convs_a, image, strict=True)):
            names = {x[1]: y[1] for x, y in zip(convs_a, image, strict=True)}
            if renamed(a, names) == b:
                return True
    return False


def unique_string(ops: tuple[str, ...]) -> str:
    nodes = ["0"]
    for node in (1, 2, 3):
        terms = []
        for (dst, src), op in zip(EDGES, ops, strict=True):
            if dst != node:
                continue
            if op == "none" or nodes[src] == "#":
                terms.append("#")
            elif op == "skip_connect":
                terms.append(nodes[src])
            else:
                terms.append(f"({nodes[src]})@{op}")
        nodes.append("+".join(sorted(terms)))
    return nodes[3]
