"""Child training as a picklable job, so any executor (in process, worker pool, Ray) can run it.

A worker process loads each dataset once and keeps it (datasets are small and held in memory).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from coexplore.archfile import space_for
from coexplore.config import DataConfig
from coexplore.slow.trainer import TrainConfig, TrainResult


@dataclass(frozen=True)
class DataSpec:
    """What a worker loads: the config's [data] section (`DataConfig`) with the run's seed,
    without what only the tabular benchmark reads. Made from the config by `of`, the one place;
    tests/test_config_sections.py checks the fields stay in step."""

    dataset: str
    root: str
    seed: int
    val_fraction: float
    test_fraction: float
    limit: int
    resolution: int = 0  # folder datasets only (coexplore.slow.folders.FolderOptions)
    max_classes: int = 0
    max_per_class: int = 0

    @classmethod
    def of(cls, data: DataConfig, seed: int) -> DataSpec:
        return cls(data.dataset, data.root, seed, data.val_fraction, data.test_fraction,
                   data.limit, data.resolution, data.max_classes, data.max_per_class)  # fmt: skip

    def load(self) -> Any:
        return _load(self)


@dataclass(frozen=True)
class TrainJob:
    arch_json: dict[str, Any]
    data: DataSpec
    train: TrainConfig
    seed: int
    test: bool = False  # also measure test accuracy (final retraining)
    until_epoch: int = 0  # multi-fidelity: stop after this epoch (0: train.epochs)
    resume_from: bytes = b""  # multi-fidelity: the state an earlier, shorter job handed back


@lru_cache(maxsize=4)
def _load(spec: DataSpec) -> Any:
    from coexplore.slow.data import load_dataset
    from coexplore.slow.datasets import DATASETS
    from coexplore.slow.folders import FolderOptions, load_folder

    if DATASETS[spec.dataset].folder:  # folder datasets also take resolution and subsetting
        options = FolderOptions.of(spec)
        return load_folder(spec.dataset, spec.root or None, spec.seed, spec.val_fraction,
                           spec.test_fraction, spec.limit or None, options)  # fmt: skip
    return load_dataset(
        spec.dataset,
        seed=spec.seed,
        root=spec.root or None,
        val_fraction=spec.val_fraction,
        test_fraction=spec.test_fraction,
        limit=spec.limit or None,
    )


@dataclass(frozen=True)
class JobResult:
    train: TrainResult
    test_accuracy: float | None = None
    val_images: int = 0  # how many images the accuracies rest on (0: not measured on images)
    test_images: int = 0


def train_model(job: TrainJob) -> tuple[Any, TrainResult, Any]:
    """Build the child of `job` and train it: (model, result, the data it trained on)."""
    from coexplore.slow.builders import build_model
    from coexplore.slow.trainer import train_child

    data = job.data.load()
    space = space_for(job.arch_json)
    arch = space.from_json(job.arch_json)
    model = build_model(space, arch, data.input_shape, data.num_classes, seed=job.seed)
    result = train_child(model, data, job.train, job.seed, job.until_epoch, job.resume_from or None)
    return model, result, data


def run_train_job(job: TrainJob) -> JobResult:
    """Train the child and (for final retraining) score it on the test split."""
    from coexplore.slow.segmentation import is_segmentation
    from coexplore.slow.trainer import evaluate

    model, result, data = train_model(job)
    # An IoU is not a count of correct images: no binomial noise for segmentation children.
    val_images = 0 if is_segmentation(data.val_y) else len(data.val_y)
    if not (job.test and result.ok):
        return JobResult(result, val_images=val_images)
    test = evaluate(model, data.test_x, data.test_y)
    return JobResult(result, test, val_images, len(data.test_y) if val_images else 0)
