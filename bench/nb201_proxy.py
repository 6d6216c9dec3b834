"""Does a training-free proxy (synflow) tell the accuracy surrogate anything it does not know?

Synflow (Tanaka et al., NeurIPS 2020; as a NAS proxy, Abdelfattah et al., ICLR 2021): the sum
over parameters of |theta * dR/dtheta|, where R is the output of the network with every weight
made positive, fed an input of ones; no data, one forward and one backward pass. This script
computes it for a seeded sample of NAS-Bench-201 cells (the `nb201` preset's network, CIFAR
input, weights from seed 0, float64) and prints, per accuracy column of the NATS table:

    synflow spearman <column>: all R top-20% R (log MACs: all R top-20% R)
    surrogate spearman <column> after K: without R (top-20% R) with R (top-20% R)

The first line is the proxy's rank correlation with accuracy over the sample and over its most
accurate fifth, beside that of the workload's size (which the surrogate already sees). The second
fits the strategy's surrogate (`coexplore.search.strategies.surrogate`, the same encoding:
one-hot tokens, the cell's path features, log MACs and parameters) on K random cells of the
sample, without and with log synflow as one more structure column, and gives the mean rank
correlation of its predicted mean with the accuracy of the rest (and of the rest's most
accurate fifth), over `--repeats` draws.

Usage: COEXPLORE_NB201_CSV=PATH .venv/bin/python bench/nb201_proxy.py [--cells 1500]
       [--trainings 25,50,100] [--repeats 5] [--seed 0]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
from scipy.stats import spearmanr

from coexplore.search.strategies import surrogate
from coexplore.search.strategies.oracle import size_features
from coexplore.slow.builders import build_model
from coexplore.spaces.nb201 import Nb201Arch, Nb201Space
from coexplore.tabular.accuracy import COLUMNS, csv_path, load_accuracy_table

INPUT_SHAPE = (3, 32, 32)


def log_synflow(space: Nb201Space, arch: Nb201Arch) -> float:
    """log of synflow; a network whose output ignores every weight scores log(tiny)."""
    model = build_model(space, arch, INPUT_SHAPE, 10, seed=0).double().eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.abs_()
    model(torch.ones(1, *INPUT_SHAPE, dtype=torch.float64)).sum().backward()
    score = sum(
        float((p.detach() * p.grad).abs().sum()) for p in model.parameters() if p.grad is not None
    )
    return math.log(max(score, 1e-300))


def top_fifth_spearman(x: np.ndarray, accuracy: np.ndarray) -> float:
    top = accuracy >= np.quantile(accuracy, 0.8)
    return float(spearmanr(x[top], accuracy[top]).correlation)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=1500)
    parser.add_argument("--trainings", default="25,50,100")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--csv", help="the NATS table (else $COEXPLORE_NB201_CSV)")
    args = parser.parse_args()
    trainings = [int(k) for k in args.trainings.split(",")]
    torch.set_num_threads(1)

    space = Nb201Space()
    rng = np.random.default_rng(args.seed)
    indices = np.sort(rng.choice(15_625, size=args.cells, replace=False))
    archs = [Nb201Arch.from_index(int(i)) for i in indices]
    start = time.perf_counter()
    synflow = np.array([log_synflow(space, arch) for arch in archs])
    seconds = time.perf_counter() - start
    print(
        f"synflow: {args.cells} cells in {seconds:.0f} s ({1e3 * seconds / args.cells:.0f} ms each)"
    )

    workload = np.array([size_features(space.workload(arch, INPUT_SHAPE, 10)) for arch in archs])
    structure = np.array([space.structure_features(arch) for arch in archs])
    rows = np.array([space.encode(arch) for arch in archs])
    tokens = space.token_types()
    without = surrogate.encode(tokens, rows, structure, workload)
    with_proxy = surrogate.encode(tokens, rows, np.hstack([structure, synflow[:, None]]), workload)

    path = csv_path(args.csv)
    for column in COLUMNS:
        table = load_accuracy_table(path, column)
        accuracy = np.array([table.lookup(int(i)) for i in indices])
        print(
            f"synflow spearman {column}: all {spearmanr(synflow, accuracy).correlation:.3f} "
            f"top-20% {top_fifth_spearman(synflow, accuracy):.3f} "
            f"(log MACs: all {spearmanr(workload[:, 0], accuracy).correlation:.3f} "
            f"top-20% {top_fifth_spearman(workload[:, 0], accuracy):.3f})"
        )
        for k in trainings:
            scores: dict[str, list[tuple[float, float]]] = {"without": [], "with": []}
            for repeat in range(args.repeats):
                draw = np.random.default_rng([args.seed, k, repeat]).permutation(len(indices))
                train, query = draw[:k], draw[k:]
                for name, encoded in (("without", without), ("with", with_proxy)):
                    mean, _ = surrogate.fit_predict(
                        _rows(encoded, train), accuracy[train], _rows(encoded, query), repeat
                    )
                    truth = accuracy[query]
                    scores[name].append(
                        (spearmanr(mean, truth).correlation, top_fifth_spearman(mean, truth))
                    )
            without_all, without_top = np.mean(scores["without"], axis=0)
            with_all, with_top = np.mean(scores["with"], axis=0)
            print(
                f"surrogate spearman {column} after {k}: without {without_all:.3f} "
                f"(top-20% {without_top:.3f}) with {with_all:.3f} (top-20% {with_top:.3f})"
            )


def _rows(encoded: surrogate.Encoded, rows: np.ndarray) -> surrogate.Encoded:
    return surrogate.Encoded(encoded.trees[rows], encoded.smooth[rows])


if __name__ == "__main__":
    main()
