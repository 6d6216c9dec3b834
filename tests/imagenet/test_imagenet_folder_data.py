"""The class-per-folder loader: shapes, subsetting, deterministic splits and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from imagenet_fixture_data import make_image_folder

from coexplore.config import ConfigError, DataConfig
from coexplore.slow.data import load_dataset
from coexplore.slow.folders import folder_shape, load_folder


def load(root: Path, seed: int = 0, **options: int):
    return load_folder("imagenet_folder", root, seed, 0.2, 0.2, None, DataConfig(**options))


def test_images_come_out_square_at_the_resolution_with_stratified_splits(tmp_path: Path) -> None:
    splits = load(make_image_folder(tmp_path), resolution=16)
    assert splits.input_shape == (3, 16, 16) and splits.num_classes == 3 and splits.hflip
    assert (len(splits.train_y), len(splits.val_y), len(splits.test_y)) == (22, 7, 7)
    for labels in (splits.train_y, splits.val_y, splits.test_y):
        assert set(labels.tolist()) == {0, 1, 2}
    # Class k is tinted in channel k: its mean there is the highest (normalised per channel).
    red = splits.train_x[splits.train_y == 0]
    assert red[:, 0].mean() > red[:, 1].mean() and red[:, 0].mean() > red[:, 2].mean()


def test_splits_repeat_for_a_seed_and_differ_across_seeds(tmp_path: Path) -> None:
    root = make_image_folder(tmp_path)
    first, again, other = load(root, 3), load(root, 3), load(root, 4)
    assert torch.equal(first.train_x, again.train_x) and torch.equal(first.val_y, again.val_y)
    assert not torch.equal(first.train_x, other.train_x)


def test_subsetting_keeps_the_first_classes_and_images(tmp_path: Path) -> None:
    root = make_image_folder(tmp_path)
    splits = load(root, max_classes=2, max_per_class=5)
    assert splits.num_classes == 2
    assert len(splits.train_y) + len(splits.val_y) + len(splits.test_y) == 10
    limited = load_folder("imagenet_folder", root, 0, 0.2, 0.2, 9, DataConfig())
    assert len(limited.train_y) + len(limited.val_y) + len(limited.test_y) == 9


def test_shape_comes_from_listings_and_the_registry_uses_defaults(tmp_path: Path) -> None:
    root = make_image_folder(tmp_path)
    config = DataConfig(dataset="imagenet_folder", root=str(root), max_classes=2)
    assert folder_shape(config) == ((3, 64, 64), 2)
    assert folder_shape(DataConfig(dataset="imagenet_folder", root=str(root), resolution=24)) == (
        (3, 24, 24),
        3,
    )
    assert load_dataset("imagenet_folder", root=root, seed=0).input_shape == (3, 64, 64)


def test_a_missing_root_names_the_config_key() -> None:
    with pytest.raises(ConfigError, match=r"data\.root"):
        folder_shape(DataConfig(dataset="imagenet_folder"))


def test_missing_or_malformed_folders_name_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(ValueError, match=f"no such directory: {missing}"):
        load(missing)
    (tmp_path / "only").mkdir()
    with pytest.raises(ValueError, match="at least two class folders"):
        load(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=f"no image files .* in {tmp_path / 'empty'}"):
        load(tmp_path)


def test_a_corrupt_image_names_the_file(tmp_path: Path) -> None:
    root = make_image_folder(tmp_path, per_class=2)
    bad = root / "bee" / "broken.jpg"
    bad.write_bytes(b"not a jpeg at all")
    with pytest.raises(ValueError, match=f"malformed image {bad}") as info:
        load(root)
    assert "\n" not in str(info.value)
