"""An ImageNet-space search end to end on tiny JPEG folders: config -> start -> stored trials."""

from __future__ import annotations

from pathlib import Path

import pytest
from imagenet_fixture_data import make_image_folder

from coexplore import wiring as run
from coexplore.config import ConfigError, load_config
from coexplore.storage import RunStorage, TrialState


def tiny_imagenet_config(root: Path, **overrides: object):
    settings = {
        "data.root": str(root), "data.resolution": 32, "space.layers": 5,
        "run.trials": 4, "run.batch": 2, "train.epochs": 1, "train.batch_size": 8,
        "train.bf16": False, "train.channels_last": False, "train.threads": 1,
        "train.device": "cpu", "final.epochs": 0, "spec.fps": 50.0,
    }  # fmt: skip
    return load_config("imagenet", overrides={**settings, **overrides})


def test_a_short_search_trains_children_and_stores_every_trial(tmp_path: Path) -> None:
    root = make_image_folder(tmp_path / "images")
    result = run.start(tiny_imagenet_config(root), tmp_path / "run", progress=False)
    with RunStorage.open(result.run_dir / run.DB_NAME) as storage:
        trials = storage.trials()
        assert storage.config()["data"]["dataset"] == "imagenet_folder"
    assert len(trials) == 4
    complete = [t for t in trials if t.state is TrialState.COMPLETE]
    assert complete, [t.reason for t in trials]
    for trial in complete:
        assert trial.arch["space"] == "imagenet" and len(trial.arch["stages"]) == 5
        assert 0.0 <= trial.accuracy <= 1.0 and trial.metrics["fps"] >= 50.0
    assert (result.run_dir / "picks.json").exists()


def test_the_preset_refuses_to_start_without_a_root(tmp_path: Path) -> None:
    config = load_config("imagenet")
    assert config.data.dataset == "imagenet_folder" and config.space.name == "imagenet"
    with pytest.raises(ConfigError, match=r"data\.root"):
        run.build_setup(config)
