"""The test command's jaxtyping checker is really on for the library tests (and off for
bad-input tests): a wrong-rank image is refused by the annotation, before the library's check."""

import jax.numpy as jnp
import jaxtyping
import pytest

import cnn_layers

NET = [cnn_layers.Conv(jnp.ones((3, 3, 1, 2)))]
CHECKED = hasattr(cnn_layers.forward, "__wrapped__")  # the import hook wraps every function


@pytest.mark.skipif(not CHECKED, reason="run without --jaxtyping-packages")
def test_the_checker_refuses_what_the_annotations_refuse():
    with pytest.raises(jaxtyping.TypeCheckError, match="images"):
        cnn_layers.forward(NET, jnp.ones((8, 8, 1)))


@pytest.mark.bad_input
def test_a_bad_input_test_sees_the_library_error():
    with pytest.raises(ValueError, match=r"images must have shape \(N, H, W, C\)"):
        cnn_layers.forward(NET, jnp.ones((8, 8, 1)))
