"""fold_batchnorm against its closed form, and folded nets against unfolded ones."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnn_layers import BatchNorm, Conv, Dense, fold_batchnorm


def _bn(rng, c, scale=True, offset=True, eps=1e-3):
    return BatchNorm(
        rng.normal(size=c) if scale else None,
        rng.normal(size=c) if offset else None,
        rng.normal(size=c),
        rng.uniform(0.5, 2.0, c),
        eps,
    )


@pytest.mark.parametrize("kind", ["conv", "dense"])
def test_fold_batchnorm_closed_form(kind):
    rng = np.random.default_rng(0)
    w = rng.normal(size=(3, 3, 2, 4) if kind == "conv" else (12, 4))
    b = rng.normal(size=4)
    layer = Conv(w, b, stride=2, padding="SAME") if kind == "conv" else Dense(w, b)
    bn = _bn(rng, 4)
    with jax.enable_x64(True):
        folded = fold_batchnorm(jax.tree.map(jnp.asarray, layer), jax.tree.map(jnp.asarray, bn))
    g = bn.scale / np.sqrt(bn.var + bn.eps)
    np.testing.assert_allclose(folded.w, w * g, rtol=1e-12)
    np.testing.assert_allclose(folded.b, g * (b - bn.mean) + bn.offset, rtol=1e-12)
    assert type(folded) is type(layer)
