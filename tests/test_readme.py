"""The README's 'your own network' block runs as printed and computes what it says."""

import re
from pathlib import Path

import jax.numpy as jnp
import numpy as np

import cnn_layers

README = Path(__file__).resolve().parent.parent / "README.md"


def _block(marker: str) -> str:
    text = README.read_text()
    match = re.search(rf"<!-- {marker}:[^>]*-->\s*```python\n(.*?)```", text, re.S)
    assert match, f"README.md has no python block after the {marker} marker"
    return match.group(1)


def test_your_own_network_block_runs():
    source = _block("your-own-network")
    assert len([line for line in source.splitlines() if line.strip()]) <= 15
    ns = {}
    exec(compile(source, "README your-own-network", "exec"), ns)
    layers, model = ns["layers"], ns["model"]
    names = [type(layer).__name__ for layer in layers]
    assert names == ["Conv", "Smooth", "Pool", "Conv", "Smooth", "GlobalAvgPool", "Dense"]
    x = np.random.default_rng(0).normal(size=(2, 28, 28, 1)).astype(np.float32)
    np.testing.assert_allclose(cnn_layers.forward(layers, x), model(x), rtol=1e-5, atol=1e-5)
    g = cnn_layers.geometry(layers, 3, input_shape=(28, 28, 1))
    assert ns["filters"].shape == (32, *g.size, 1)
    frame = cnn_layers.geometry(layers, input_shape=(28, 28, 1)).size
    assert ns["kernels"].h2.shape == (*frame, 1, *frame, 1, 10)
    assert bool(jnp.all(jnp.isfinite(ns["kernels"].h2)))


def test_your_own_network_through_the_lenses_block_runs():
    """The second block runs the experiments' lenses on the first block's model."""
    ns = {}
    exec(compile(_block("your-own-network"), "README your-own-network", "exec"), ns)
    source = _block("your-own-network-lenses")
    assert len([line for line in source.splitlines() if line.strip()]) <= 15
    exec(compile(source, "README your-own-network-lenses", "exec"), ns)
    layers = [d.name for d in ns["dec"].layers]
    assert layers == ["layers[0] (Conv)", "layers[3] (Conv)", "layers[6] (Dense)"]
    for d in ns["dec"].layers:
        assert 0.0 <= d.error_mean <= 1.0 and 0.0 <= d.self_consistency <= 1.0
    # the first layer of an identity-free 3x3 conv: decoded exactly (no pool or ReLU below it)
    assert ns["dec"].layers[0].error_mean < 1e-6
    fit = ns["fit"]
    assert fit.kernels.shape == (3, 3, 1, 16) and len(fit.codes) == 16
    assert fit.params_plain == 144 and 0.0 <= fit.analytic_fraction <= 1.0
