import jax
import jax.numpy as jnp
import pytest

from decoding_jax import Conv, Pool, ReLU


def test_layers_are_pytrees_with_static_settings():
    net = [Conv(jnp.ones((3, 3, 1, 2)), jnp.zeros(2), stride=2), Pool(3, "avg"), ReLU()]
    leaves, treedef = jax.tree.flatten(net)
    assert len(leaves) == 2
    rebuilt = jax.tree.unflatten(treedef, leaves)
    assert rebuilt[0].stride == 2 and rebuilt[1] == Pool(3, "avg")


@pytest.mark.bad_input
def test_layer_validation():
    with pytest.raises(ValueError, match="Conv.w must have shape"):
        Conv(jnp.ones((3, 3, 1)))
    with pytest.raises(ValueError, match="Conv.b must have shape"):
        Conv(jnp.ones((3, 3, 1, 2)), jnp.ones(3))
    with pytest.raises(ValueError, match="Conv.stride must be a positive int"):
        Conv(jnp.ones((3, 3, 1, 2)), stride=0)
    with pytest.raises(ValueError, match="Pool.kind must be one of"):
        Pool(2, "median")
    with pytest.raises(ValueError, match="Pool.window must be a positive int"):
        Pool(0)
