"""Feature extraction over a whole data set, batched and sharded over every device."""

from collections.abc import Callable

import jax
import numpy as np
from absl import logging

from experiments.core import train


def extract(
    fn: Callable[[jax.Array], jax.Array],
    images: np.ndarray,
    *,
    batch_size: int,
    mesh: jax.sharding.Mesh | None = None,
    name: str = "features",
) -> np.ndarray:
    """``fn`` applied to ``images`` in batches split over the mesh's ``data`` axis.

    Pass an already jitted ``fn`` to reuse its compilation across calls.

    The last batch is padded to a multiple of the device count and the padding dropped, so
    any data set size works and the peak memory is one batch of outputs on the devices.
    """
    mesh = train.data_mesh() if mesh is None else mesh
    batch_size = -(-batch_size // mesh.size) * mesh.size
    jitted = fn if hasattr(fn, "lower") else jax.jit(fn)  # keep the caller's compiled cache
    out = []
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        n = len(chunk)
        if n % mesh.size:
            pad = mesh.size - n % mesh.size
            chunk = np.concatenate([chunk, np.zeros((pad, *chunk.shape[1:]), chunk.dtype)])
        (sharded,) = train.shard_batch(mesh, chunk)
        out.append(np.asarray(jitted(sharded))[:n])
        if (start // batch_size) % 20 == 0:
            logging.info("%s: %d / %d images", name, start + n, len(images))
    return np.concatenate(out)
