"""Child training as a picklable job, so any executor (in process, worker pool, Ray) can run it.

A job carries the run's [data] and [train] sections as they are (`DataConfig`, `TrainConfig`).
A worker process loads each dataset once and keeps it (datasets are small and held in memory).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from coexplore.archfile import space_for
from coexplore.config import DataConfig, TrainConfig
from coexplore.slow.trainer import TrainResult


@dataclass(frozen=True)
class TrainJob:
    arch_json: dict[str, Any]
    data: DataConfig  # the run's [data] section
    data_seed: int  # the run's seed: the split of the data
    train: TrainConfig
    seed: int  # the child's seed: initialisation and batch order
    test: bool = False  # also measure test accuracy (final retraining)
    until_epoch: int = 0  # multi-fidelity: stop after this epoch (0: train.epochs)
    resume_from: bytes = b""  # multi-fidelity: the state an earlier, shorter job handed back


def load_data(data: DataConfig, seed: int) -> Any:
    """The splits a [data] section describes, split with `seed` (cached in this process)."""
    return _load(data, seed)


@lru_cache(maxsize=4)
def _load(data: DataConfig, seed: int) -> Any:
    from coexplore.datasets import DATASETS
    from coexplore.slow.data import load_dataset
    from coexplore.slow.folders import load_folder

    limit = data.limit or None
    if DATASETS[data.dataset].folder:  # folder datasets also take resolution and subsetting
        return load_folder(data.dataset, data.root or None, seed, data.val_fraction,
                           data.test_fraction, limit, data)  # fmt: skip
    return load_dataset(
        data.dataset,
        seed=seed,
        root=data.root or None,
        val_fraction=data.val_fraction,
        test_fraction=data.test_fraction,
        limit=limit,
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

    data = load_data(job.data, job.data_seed)
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
