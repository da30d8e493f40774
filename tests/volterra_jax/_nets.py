"""Test helpers: small layer stacks and an independent plain-JAX forward pass for them."""

import jax
import jax.numpy as jnp
from jax import lax

from decoding_jax.layers import Conv, Pool
from volterra_jax import Poly, Smooth

SIGMOID_TAYLOR5 = (0.5, 0.25, 0.0, -1.0 / 48, 0.0, 1.0 / 480)


def forward(layers, x):
    """NHWC forward pass of a layer list, written directly with lax (the oracle network)."""
    for layer in layers:
        if isinstance(layer, Conv):
            x = lax.conv_general_dilated(
                x,
                layer.w,
                (layer.stride,) * 2,
                "VALID",
                dimension_numbers=("NHWC", "HWIO", "NHWC"),
                precision=lax.Precision.HIGHEST,
            )
            if layer.b is not None:
                x = x + layer.b.reshape(1, 1, 1, -1)
        elif isinstance(layer, Pool):
            q = layer.size
            x = lax.reduce_window(x, 0.0, lax.add, (1, q, q, 1), (1, q, q, 1), "VALID") / (q * q)
        elif isinstance(layer, Poly):
            c = layer.coeffs
            x = sum(c[k] * x**k for k in range(c.shape[0]))
        elif isinstance(layer, Smooth):
            x = layer.fn(x)
        else:
            raise TypeError(type(layer))
    return x


def apply_fn(layers, x):
    return forward(layers, x)


def conv(key, kh, kw, cin, cout, *, stride=1, scale=0.5, bias=True):
    kw_, kb = jax.random.split(key)
    w = scale * jax.random.normal(kw_, (kh, kw, cin, cout), jnp.result_type(float))
    b = scale * jax.random.normal(kb, (cout,), jnp.result_type(float)) if bias else None
    return Conv(w, b, stride)


def poly(*coeffs):
    return Poly(jnp.asarray(coeffs, jnp.result_type(float)))
