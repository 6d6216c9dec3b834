"""The NAS-Bench-201 accuracy table, made from NATS-Bench's official release.

NATS-Bench (Dong et al., TPAMI 2021; MIT licence) publishes the topology search space, which is
NAS-Bench-201's 15,625 cells, as `NATS-tss-v1_0-3ffb9`: either the archive folder
`NATS-tss-v1_0-3ffb9-simple/` (a `meta.pickle.pbz2` and one `NNNNNN.pickle.pbz2` per cell, read
cell by cell: "fast mode") or the single file `NATS-tss-v1_0-3ffb9.pickle.pbz2`. Both are read
with NATS-Bench's own package, `nats_bench` (the optional extra `coexplore[nb201]`), never
unpickled here.

`make_accuracy_csv` writes the CSV `tabular.accuracy` reads, one row per cell:
- `CIFAR10TestAccuracy200Epochs`: test accuracy (%) after 200 epochs trained on CIFAR-10's
  train + valid sets (`get_more_info(i, "cifar10", hp="200")["test-accuracy"]`);
- `CIFAR100TestAccuracy200Epochs`, `ImageNetTestAccuracy200Epochs`: the same on CIFAR-100 and
  ImageNet16-120 (their `x-test` split);
each the mean over the seeds NATS-Bench trained the cell with (`is_random=False`), which gives
the figures NAS-Bench-201 reports (the best cells: 94.37, 73.51, 47.31);
- `ArchitectureString`: the cell (`|op~0|+|op~0|op~1|+...`), matched to the space's index;
- `UniqueString`: NATS-Bench's canonical form of what the cell computes (`get_unique_str`):
  cells with equal strings compute the same network.
"""

from __future__ import annotations

import csv
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

from coexplore.errors import InputError
from coexplore.tabular.accuracy import ARCH_COLUMN, COLUMNS, COMPUTATION_COLUMN

# our dataset name -> NATS-Bench's
DATASETS = {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet16": "ImageNet16-120"}
HEADER = (*COLUMNS.values(), ARCH_COLUMN, COMPUTATION_COLUMN)
EXTRA = "pip install 'coexplore[nb201]' (or: pip install 'nats_bench>=1.8,<2')"
# What nats_bench raises on a file or folder that is not its release (it checks with assert
# and ValueError; a damaged archive fails in bz2 or pickle).
_NOT_A_RELEASE = (
    ValueError, KeyError, TypeError, AttributeError, AssertionError, OSError, EOFError,
    pickle.UnpicklingError,
)  # fmt: skip


def make_accuracy_csv(release: Path, out: Path, say: Callable[[str], None] = print) -> int:
    """Write the accuracy table of a NATS-Bench topology release to `out`; the number of rows.

    The CSV appears whole or not at all (written beside `out`, then renamed)."""
    api = open_release(release)
    total = len(api)
    partial = out.with_name(out.name + ".partial")
    try:
        with open(partial, "w", newline="", encoding="utf-8") as handle:
            _write_rows(api, csv.writer(handle), release, say)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, out)
    return total


def _write_rows(api: Any, writer: Any, release: Path, say: Callable[[str], None]) -> None:
    total = len(api)
    writer.writerow(HEADER)
    for index in range(total):
        writer.writerow(_row(api, index, release))
        api.arch2infos_dict.pop(index, None)  # fast mode: memory stays flat
        if (index + 1) % 1000 == 0 or index + 1 == total:
            say(f"nb201-table: {index + 1:,} / {total:,} cells")


def open_release(release: Path) -> Any:
    """NATS-Bench's API over the release (a folder: fast mode; a file: loaded whole)."""
    try:
        import nats_bench
    except ImportError:
        raise InputError(
            f"reading NATS-Bench's release needs the nats_bench package: {EXTRA}"
        ) from None
    if not release.exists():
        raise InputError(f"{release}: no such file or folder (NATS-Bench's topology release)")
    try:
        return nats_bench.create(str(release), "tss", fast_mode=release.is_dir(), verbose=False)
    except _NOT_A_RELEASE as exc:
        raise InputError(
            f"{release}: not a NATS-Bench topology release ({_first_line(exc)})"
        ) from None


def _row(api: Any, index: int, release: Path) -> list[str | float]:
    try:
        accuracy = [
            api.get_more_info(index, name, hp="200", is_random=False)["test-accuracy"]
            for name in DATASETS.values()
        ]
        return [*accuracy, api.meta_archs[index], api.get_unique_str(index)]
    except _NOT_A_RELEASE as exc:
        raise InputError(f"{release}: cell {index}: not readable as a NATS-Bench topology "
                         f"release ({_first_line(exc)})") from None  # fmt: skip


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
