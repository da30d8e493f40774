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

from tests.bad_input import unchecked  # noqa: E402


@pytest.hookimpl(wrapper=True)
def pytest_collection(session):
    """Test modules build their bad-input tables at import: with jaxtyping's runtime checker
    on (the test command's ``--jaxtyping-packages``), it must not refuse them there."""
    with unchecked():
        return (yield)


@pytest.fixture(autouse=True)
def _bad_input_unchecked(request):
    """A ``bad_input`` test checks the error a library itself gives (users run unchecked), so
    jaxtyping's checker is paused for it; every other test runs checked."""
    if request.node.get_closest_marker("bad_input") is None:
        yield
        return
    with unchecked():
        yield
