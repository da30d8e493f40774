"""Test-wide JAX configuration: 8 fake CPU devices and strict rank promotion.

This is the only place the tests touch the global jax config; it runs before any test module
imports jax.numpy work, so the device count takes effect.
"""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402

jax.config.update("jax_num_cpu_devices", 8)
jax.config.update("jax_numpy_rank_promotion", "raise")


from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from tests.bad_input import unchecked  # noqa: E402


@pytest.hookimpl(wrapper=True)
def pytest_collection(session):
    """Test modules build their bad-input tables at import: with jaxtyping's runtime checker
    on (the test command's ``--jaxtyping-packages``), it must not refuse them there."""
    with unchecked():
        return (yield)


_EXPERIMENTS = Path(__file__).parent / "experiments"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """A ``bad_input`` test checks the error a library itself gives (users run unchecked), so
    jaxtyping's checker is paused for it (setup and fixtures included); so it is for the
    experiments' tests (the checker is for the library tests). Every other test runs checked."""
    bad_input = item.get_closest_marker("bad_input") is not None
    if bad_input or _EXPERIMENTS in Path(item.path).parents:
        with unchecked():
            return (yield)
    return (yield)


@pytest.fixture(scope="session")
def nets_dir(tmp_path_factory):
    """One folder of trained smoke nets for the whole session: every experiment's smoke config
    names the same recipes, so an experiment pointed here (``config.nets_dir``) trains the
    smoke LeNet (or its twin, or a tiny VGG/ResNet) the first time and reuses it after."""
    return str(tmp_path_factory.mktemp("nets"))
