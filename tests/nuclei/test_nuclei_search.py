"""A U-Net search end to end on synthetic nuclei: config -> start -> stored trials with IoU."""

from __future__ import annotations

from pathlib import Path

import pytest
from nuclei_fixture_data import make_paired_folder

from coexplore import wiring as run
from coexplore.config import ConfigError, load_config
from coexplore.storage import RunStorage, TrialState


def test_a_short_unet_search_stores_trials_scored_by_iou(tmp_path: Path) -> None:
    root = make_paired_folder(tmp_path / "nuclei", count=8)
    settings = {
        "data.root": str(root), "data.resolution": 16, "space.levels": 2,
        "run.trials": 4, "run.batch": 2, "train.epochs": 1, "train.batch_size": 16,
        "train.bf16": False, "train.threads": 1, "train.device": "cpu",
        "final.epochs": 0, "spec.fps": 100.0,
    }  # fmt: skip
    config = load_config("nuclei", overrides=settings)
    result = run.start(config, tmp_path / "run", progress=False)
    with RunStorage.open(result.run_dir / run.DB_NAME) as storage:
        trials = storage.trials()
    assert len(trials) == 4
    complete = [t for t in trials if t.state is TrialState.COMPLETE]
    assert complete, [t.reason for t in trials]
    for trial in complete:
        assert trial.arch["space"] == "unet" and len(trial.arch["levels"]) == 2
        assert 0.0 <= trial.accuracy <= 1.0 and trial.metrics["fps"] >= 100.0
    assert (result.run_dir / "picks.json").exists()


def test_the_preset_refuses_to_start_without_a_root() -> None:
    config = load_config("nuclei")
    assert (config.data.dataset, config.space.name, config.space.levels) == (
        "nuclei_folder",
        "unet",
        4,
    )
    with pytest.raises(ConfigError, match=r"data\.root"):
        run.build_setup(config)
