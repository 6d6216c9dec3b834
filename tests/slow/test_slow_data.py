from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from coexplore.slow.data import (
    CIFAR_TEST_FILE,
    CIFAR_TRAIN_FILES,
    DataSplits,
    augment,
    crop_padding_px,
    load_dataset,
)


def write_cifar(directory: Path, per_batch: int = 20, seed: int = 0) -> dict[str, np.ndarray]:
    """Tiny files in the CIFAR-10 python-pickle format; returns the raw labels written."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    labels = {}
    for name in (*CIFAR_TRAIN_FILES, CIFAR_TEST_FILE):
        data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        labels[name] = np.arange(per_batch) % 10
        batch = {b"data": data, b"labels": labels[name].tolist(), b"batch_label": name.encode()}
        (directory / name).write_bytes(pickle.dumps(batch))
    return labels


def test_digits_splits_are_disjoint_stratified_and_seeded() -> None:
    splits = load_dataset("digits", seed=0, val_fraction=0.1, test_fraction=0.2)
    sizes = [len(splits.train_y), len(splits.val_y), len(splits.test_y)]
    assert sum(sizes) == 1797
    assert abs(sizes[1] / 1797 - 0.1) < 0.01 and abs(sizes[2] / 1797 - 0.2) < 0.01
    assert splits.input_shape == (1, 8, 8) and splits.num_classes == 10 and not splits.hflip
    assert splits.train_x.shape[1:] == (1, 8, 8) and splits.train_x.dtype == torch.float32
    for part in (splits.val_y, splits.test_y):
        assert torch.bincount(part, minlength=10).min() >= 0.5 * len(part) / 10
    again = load_dataset("digits", seed=0)
    other = load_dataset("digits", seed=1)
    assert torch.equal(splits.train_x, again.train_x) and torch.equal(splits.val_y, again.val_y)
    assert not torch.equal(splits.train_y[:100], other.train_y[:100])


def test_split_indices_do_not_overlap() -> None:
    splits = load_dataset("digits", seed=3)
    keys = [
        {x.numpy().tobytes() for x in part}
        for part in (splits.train_x, splits.val_x, splits.test_x)
    ]
    total = sum(len(k) for k in keys)
    assert len(keys[0] | keys[1] | keys[2]) == total  # duplicates across splits would shrink it


def test_normalised_with_training_statistics() -> None:
    splits = load_dataset("digits", seed=0)
    assert abs(splits.train_x.mean().item()) < 1e-4
    assert abs(splits.train_x.std().item() - 1) < 1e-2
    assert abs(splits.test_x.mean().item()) < 0.1


def test_limit_keeps_a_stratified_subset() -> None:
    splits = load_dataset("digits", seed=0, limit=200)
    total = len(splits.train_y) + len(splits.val_y) + len(splits.test_y)
    assert total == 200
    assert torch.bincount(splits.train_y, minlength=10).min() > 5


def test_mnist5k_ships_offline() -> None:
    splits = load_dataset("mnist5k", seed=0, limit=1000)
    assert splits.input_shape == (1, 28, 28) and splits.num_classes == 10
    assert len(splits.train_y) + len(splits.val_y) + len(splits.test_y) == 1000


def test_unknown_dataset_lists_the_names() -> None:
    with pytest.raises(KeyError, match=r"valid names: .*cifar10.*digits.*mnist5k"):
        load_dataset("mnist", seed=0)


@pytest.mark.parametrize("fractions", [(0.0, 0.2), (0.5, 0.5), (0.1, -0.1)])
def test_bad_fractions_are_rejected(fractions: tuple[float, float]) -> None:
    with pytest.raises(ValueError, match="fraction"):
        load_dataset("digits", seed=0, val_fraction=fractions[0], test_fraction=fractions[1])


def test_cifar_batches_load_from_a_directory(tmp_path: Path) -> None:
    labels = write_cifar(tmp_path / "cifar-10-batches-py", per_batch=20)
    splits = load_dataset("cifar10", root=tmp_path, seed=0, val_fraction=0.2)
    assert splits.input_shape == (3, 32, 32) and splits.num_classes == 10 and splits.hflip
    assert (len(splits.train_y), len(splits.val_y), len(splits.test_y)) == (80, 20, 20)
    assert sorted(splits.test_y.tolist()) == sorted(labels[CIFAR_TEST_FILE].tolist())
    assert torch.bincount(splits.val_y, minlength=10).tolist() == [2] * 10
    means = splits.train_x.mean(dim=(0, 2, 3))
    assert torch.allclose(means, torch.zeros(3), atol=1e-4)


def test_cifar_pixels_keep_channel_layout(tmp_path: Path) -> None:
    directory = tmp_path / "c"
    write_cifar(directory, per_batch=10)
    # First test image: red plane 0, green 255, blue 0; 3072 bytes are channel-major.
    data = np.zeros((10, 3072), dtype=np.uint8)
    data[0, 1024:2048] = 255
    batch = {b"data": data, b"labels": [0] * 10}
    (directory / CIFAR_TEST_FILE).write_bytes(pickle.dumps(batch))
    splits = load_dataset("cifar10", root=directory, seed=0, limit=10)
    image = splits.test_x[(splits.test_x[:, 1] > 0).flatten(1).all(dim=1)]
    assert len(image) == 1
    assert (image[0, 0] < 0).all() and (image[0, 2] < 0).all()


def test_cifar_needs_a_root() -> None:
    with pytest.raises(ValueError, match="root"):
        load_dataset("cifar10", seed=0)


def test_cifar_missing_directory_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_dataset("cifar10", root=missing, seed=0)


def test_cifar_missing_file_names_it(tmp_path: Path) -> None:
    write_cifar(tmp_path)
    (tmp_path / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_3"):
        load_dataset("cifar10", root=tmp_path, seed=0)


@pytest.mark.parametrize(
    "content",
    [
        b"not a pickle at all",
        pickle.dumps({b"labels": [1, 2]}),
        pickle.dumps({b"data": np.zeros((2, 100), dtype=np.uint8), b"labels": [1, 2]}),
        pickle.dumps({b"data": np.zeros((2, 3072), dtype=np.uint8), b"labels": [1]}),
        pickle.dumps({b"data": np.zeros((1, 3072), dtype=np.uint8), b"labels": [10]}),
        pickle.dumps({b"data": np.zeros((1, 3072), dtype=np.uint8), b"labels": pickle.dumps}),
    ],
)
def test_cifar_malformed_file_names_it(tmp_path: Path, content: bytes) -> None:
    write_cifar(tmp_path)
    (tmp_path / "data_batch_2").write_bytes(content)
    with pytest.raises(ValueError, match=r"malformed cifar10 batch .*data_batch_2"):
        load_dataset("cifar10", root=tmp_path, seed=0)


def test_augment_crops_shifted_windows_of_the_padded_image() -> None:
    x = torch.arange(2 * 3 * 6 * 6, dtype=torch.float32).reshape(2, 3, 6, 6)
    out = augment(x, torch.Generator().manual_seed(0), pad_px=2, hflip=False)
    padded = F.pad(x, (2, 2, 2, 2))
    for image, source in zip(out, padded, strict=True):
        windows = [source[:, r : r + 6, c : c + 6] for r in range(5) for c in range(5)]
        assert any(torch.equal(image, window) for window in windows)


def test_augment_flips_about_half_and_is_seeded() -> None:
    x = torch.randn(400, 1, 5, 5)
    out = augment(x, torch.Generator().manual_seed(1), pad_px=0, hflip=True)
    flipped = [torch.equal(o, i.flip(2)) for o, i in zip(out, x, strict=True)]
    kept = [torch.equal(o, i) for o, i in zip(out, x, strict=True)]
    assert all(f or k for f, k in zip(flipped, kept, strict=True))
    assert 150 < sum(flipped) < 250
    again = augment(x, torch.Generator().manual_seed(1), pad_px=0, hflip=True)
    assert torch.equal(out, again)


def test_augment_off_is_identity_and_padding_scales() -> None:
    x = torch.randn(3, 1, 8, 8)
    assert torch.equal(augment(x, torch.Generator(), pad_px=0, hflip=False), x)
    assert [crop_padding_px(s) for s in [(3, 32, 32), (1, 28, 28), (1, 8, 8)]] == [4, 3, 1]


def test_splits_reject_mismatched_shapes() -> None:
    x, y = torch.zeros(4, 1, 8, 8), torch.zeros(4, dtype=torch.int64)
    with pytest.raises(ValueError, match="val"):
        DataSplits(x, y, x[:, :, :4], y, x, y, 10, (1, 8, 8), "bad")
    with pytest.raises(ValueError, match="test"):
        DataSplits(x, y, x, y, x, y[:3], 10, (1, 8, 8), "bad")
    with pytest.raises(ValueError, match="train: no examples"):
        DataSplits(x[:0], y[:0], x, y, x, y, 10, (1, 8, 8), "bad")
