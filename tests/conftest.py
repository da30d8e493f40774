"""Test-wide JAX configuration: 8 fake CPU devices and strict rank promotion.

This is the only place the tests touch the global jax config; it runs before any test module
imports jax.numpy work, so the device count takes effect.
"""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402

jax.config.update("jax_num_cpu_devices", 8)
jax.config.update("jax_numpy_rank_promotion", "raise")


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def nets_dir(tmp_path_factory):
    """One folder of trained smoke nets for the whole session: every experiment's smoke config
    names the same recipes, so an experiment pointed here (``config.nets_dir``) trains the
    smoke LeNet (or its twin, or a tiny VGG/ResNet) the first time and reuses it after."""
    return str(tmp_path_factory.mktemp("nets"))
