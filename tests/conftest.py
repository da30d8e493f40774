"""Test-wide JAX configuration: 8 fake CPU devices and strict rank promotion.

This is the only place the tests touch the global jax config; it runs before any test module
imports jax.numpy work, so the device count takes effect.
"""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402

jax.config.update("jax_num_cpu_devices", 8)
jax.config.update("jax_numpy_rank_promotion", "raise")
