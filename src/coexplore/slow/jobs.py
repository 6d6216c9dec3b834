"""Child training as a picklable job, so any executor (in process, worker pool, Ray) can run it.

A job carries the run's [data] and [train] sections as they are (`DataConfig`, `TrainConfig`).
A worker process loads each dataset once and keeps it (datasets are small and held in memory).

A child is scored at each precision of the run (`slow.precision_accuracy`: the accuracy its
engine computes, in the design's fixed-point words) once, when its training ends: by the job of
its last epoch when it trains to the last rung (`TrainJob.precisions`), else by a `ScoreJob` from
the weights stored after its last epoch, once the loop knows it goes no further.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from coexplore.archfile import space_for
from coexplore.config import DataConfig, TrainConfig
from coexplore.hardware.devices import Precision
from coexplore.slow.trainer import TrainResult
from coexplore.spaces.precision import split_json


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
    precisions: tuple[str, ...] = ()  # after training, score at these (the test split's, for
    #                                   a final retraining; () none)


@dataclass(frozen=True)
class ScoreJob:
    """Score a child at `precisions` from the weights stored after its last epoch, on the first
    `images` validation images (0: all)."""

    arch_json: dict[str, Any]
    data: DataConfig
    data_seed: int
    seed: int  # the child's: its initialisation (overwritten by the weights) and calibration
    state: bytes
    precisions: tuple[str, ...]
    float_accuracy: float  # the trainer's, on the whole validation split
    images: int = 0


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
    test_accuracy: float | None = None  # at the job's precision (float when it names none)
    val_images: int = 0  # how many images the accuracies rest on (0: not measured on images)
    test_images: int = 0
    accuracy_at: dict[str, float] = field(default_factory=dict)  # scored precisions
    scored_images: int = 0  # images `accuracy_at` rests on (0: not on images)
    float_test_accuracy: float | None = None
    scored_seconds: float = 0.0  # what scoring at precision took


@dataclass(frozen=True)
class ScoreResult:
    accuracy_at: dict[str, float]
    images: int  # images the accuracies rest on (0: not a count of images)
    seconds: float


def train_model(job: TrainJob) -> tuple[Any, TrainResult, Any]:
    """Build the child of `job` and train it: (model, result, the data it trained on)."""
    from coexplore.slow.trainer import train_child

    data = load_data(job.data, job.data_seed)
    model = _model(job.arch_json, data, job.seed)
    result = train_child(model, data, job.train, job.seed, job.until_epoch, job.resume_from or None)
    return model, result, data


def _model(arch_json: dict[str, Any], data: Any, seed: int) -> Any:
    """The torch model of an architecture JSON (its `"precision"` field, if any, aside)."""
    from coexplore.slow.builders import build_model

    inner, _ = split_json(arch_json)
    space = space_for(inner)
    arch = space.from_json(inner)
    return build_model(space, arch, data.input_shape, data.num_classes, seed=seed)


def run_train_job(job: TrainJob) -> JobResult:
    """Train the child; score it at `job.precisions` when asked (on the test split for a final
    retraining, else on validation)."""
    from coexplore.slow.segmentation import is_segmentation
    from coexplore.slow.trainer import evaluate

    model, result, data = train_model(job)
    # An IoU is not a count of correct images: no binomial noise for segmentation children.
    counted = not is_segmentation(data.val_y)
    val_images = len(data.val_y) if counted else 0
    if not result.ok:
        return JobResult(result, val_images=val_images)
    if job.test:
        float_test = evaluate(model, data.test_x, data.test_y)
        scored, seconds = _score(model, data, job.precisions, job.seed, "test", float_test)
        test = scored[job.precisions[0]] if job.precisions else float_test
        images = len(data.test_y) if counted else 0
        return JobResult(result, test, val_images, images, scored, images, float_test, seconds)
    if not job.precisions:
        return JobResult(result, val_images=val_images)
    scored, seconds = _score(model, data, job.precisions, job.seed, "val", result.val_accuracy)
    return JobResult(result, None, val_images, 0, scored, val_images, None, seconds)


def _score(
    model: Any, data: Any, precisions: tuple[str, ...], seed: int, split: str,
    float_accuracy: float, images: int = 0,
) -> tuple[dict[str, float], float]:  # fmt: skip
    """The accuracy at each precision, and the seconds scoring took."""
    from coexplore.slow.precision_accuracy import accuracy_at_precisions

    wanted = [Precision(p) for p in precisions]
    scored = accuracy_at_precisions(
        model, data, wanted, seed=seed, split=split, float_accuracy=float_accuracy, images=images
    )
    return {p.value: a for p, a in scored.accuracies}, scored.seconds


def run_score_job(job: ScoreJob) -> ScoreResult:
    """The accuracy at each precision of a child trained before, from its stored weights."""
    import time

    from coexplore.slow.segmentation import is_segmentation
    from coexplore.slow.trainer import load_weights

    start = time.perf_counter()
    data = load_data(job.data, job.data_seed)
    model = _model(job.arch_json, data, job.seed)
    load_weights(model, job.state)
    scored, _ = _score(model, data, job.precisions, job.seed, "val", job.float_accuracy, job.images)
    count = min(job.images or len(data.val_y), len(data.val_y))
    images = 0 if is_segmentation(data.val_y) else count
    return ScoreResult(scored, images, time.perf_counter() - start)
