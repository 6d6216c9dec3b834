"""The nuclei loader: both layouts, crops, splits by image, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from nuclei_fixture_data import make_dsb_folder, make_paired_folder
from PIL import Image

from coexplore.config import ConfigError, DataConfig
from coexplore.slow.data import load_dataset
from coexplore.slow.folders import folder_shape, load_folder


def load(root: Path, seed: int = 0, resolution: int = 16, limit: int | None = None):
    options = DataConfig(resolution=resolution)
    return load_folder("nuclei_folder", root, seed, 0.2, 0.2, limit, options)


def test_paired_folder_gives_random_training_crops_and_tiled_held_out_images(
    tmp_path: Path,
) -> None:
    splits = load(make_paired_folder(tmp_path))
    assert splits.input_shape == (3, 16, 16) and splits.num_classes == 2
    assert splits.train_y.shape[1:] == (16, 16) and splits.train_y.dtype == torch.int64
    # 6 training images of 40..47 x 48 give 40*48 // 256 = 7 or more crops each; 2 validation
    # and 2 test images give a 2 x 3 grid of 16 x 16 tiles each.
    assert len(splits.train_y) >= 6 * 7 and len(splits.val_y) == len(splits.test_y) == 12
    assert set(torch.unique(splits.train_y).tolist()) == {0, 1}
    # The masks mark the bright blobs: nucleus pixels are brighter than background ones.
    x, y = splits.train_x.mean(dim=1), splits.train_y.bool()
    assert x[y].mean() > x[~y].mean() + 1.0


def test_crops_repeat_for_a_seed_and_differ_across_seeds(tmp_path: Path) -> None:
    root = make_paired_folder(tmp_path)
    first, again, other = load(root, 5), load(root, 5), load(root, 6)
    assert torch.equal(first.train_x, again.train_x) and torch.equal(first.test_y, again.test_y)
    assert first.train_x.shape != other.train_x.shape or not torch.equal(
        first.train_x, other.train_x
    )


def test_dsb_layout_unites_the_instance_masks(tmp_path: Path) -> None:
    root = make_dsb_folder(tmp_path)
    splits = load(root, resolution=32)
    assert splits.input_shape == (3, 32, 32)
    assert sum(len(y) for y in (splits.train_y, splits.val_y, splits.test_y)) >= 6
    image = np.asarray(Image.open(root / "id000" / "masks" / "a.png"))
    assert image.max() == 255  # the fixture split each blob mask over two files


def test_small_images_are_resized_up_to_the_crop(tmp_path: Path) -> None:
    splits = load(make_paired_folder(tmp_path, count=5), resolution=64)
    assert splits.input_shape == (3, 64, 64) and len(splits.val_y) == 1


def test_limit_keeps_a_subset_of_images(tmp_path: Path) -> None:
    splits = load(make_paired_folder(tmp_path), limit=5, resolution=48)
    assert (len(splits.val_y), len(splits.test_y)) == (1, 1)


def test_shape_registry_and_missing_root(tmp_path: Path) -> None:
    root = make_paired_folder(tmp_path)
    assert folder_shape(DataConfig(dataset="nuclei_folder", root=str(root))) == ((3, 128, 128), 2)
    assert load_dataset("nuclei_folder", root=root, seed=0).input_shape == (3, 128, 128)
    with pytest.raises(ConfigError, match=r"data\.root"):
        folder_shape(DataConfig(dataset="nuclei_folder"))


def test_malformed_folders_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=f"no such directory: {tmp_path / 'gone'}"):
        load(tmp_path / "gone")
    with pytest.raises(ValueError, match="neither images/ and masks/"):
        load(tmp_path)
    root = make_paired_folder(tmp_path / "a", count=3)
    (root / "masks" / "cell01.png").unlink()
    with pytest.raises(ValueError, match=f"no mask named cell01.* for image {root}"):
        load(root)
    (root / "masks" / "cell01.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(ValueError, match=f"malformed mask {root / 'masks' / 'cell01.png'}"):
        load(root)


def test_a_mask_of_another_size_names_the_image(tmp_path: Path) -> None:
    root = make_paired_folder(tmp_path, count=3)
    Image.new("L", (5, 5)).save(root / "masks" / "cell02.png")
    with pytest.raises(ValueError, match=f"differs from image size .* {root / 'images'}"):
        load(root)


def test_too_few_images_to_split(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="too few to split"):
        load(make_paired_folder(tmp_path, count=1))
