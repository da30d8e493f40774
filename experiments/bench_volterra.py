"""Benchmark suite ``volterra``: proxy kernels of the MatConvNet LeNet with a smooth activation.

The net (28x28x1 input): conv 20@5x5, tanh, avg-pool 2, conv 50@5x5, tanh, avg-pool 2,
conv 500@4x4, tanh, conv 10@1x1, with random weights; its receptive field is the whole image.

* order 1: the kernels of all 10 outputs from one batched reverse pass on the receptive-field
  crop (``volterra_jax.proxy_kernels(order=1)``);
* order 2: ``volterra_jax.from_layers(order=2)`` (chain rule over the layer structure) against
  the dense ``jax.hessian`` of the net over the 28x28 input (the reference, here only);
  both give the Taylor coefficient ``H_2 = hessian / 2`` at input 0 and must agree to 1e-5.
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import volterra_jax as vj
from decoding_jax.layers import Conv, Pool
from experiments._timing import ratio, row, time_fn

_SHAPES = ((5, 5, 1, 20), (5, 5, 20, 50), (4, 4, 50, 500), (1, 1, 500, 10))
_SCALES = (0.1, 0.05, 0.03, 0.1)


def lenet_params(key):
    """Random LeNet weights (HWIO) and biases, weight scales 0.03-0.1, biases 0.01."""
    params = []
    for k, shape, scale in zip(jax.random.split(key, len(_SHAPES)), _SHAPES, _SCALES, strict=True):
        kw, kb = jax.random.split(k)
        params.append(
            (scale * jax.random.normal(kw, shape), 0.01 * jax.random.normal(kb, shape[-1:]))
        )
    return params


def _conv(x, w, b):
    return (
        lax.conv_general_dilated(x, w, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))
        + b
    )


def _avg_pool(x):
    return lax.reduce_window(x, 0.0, lax.add, (1, 2, 2, 1), (1, 2, 2, 1), "VALID") / 4


def lenet(params, x):
    """The plain-JAX net: NHWC (N, 28, 28, 1) -> (N, 1, 1, 10)."""
    (w1, b1), (w2, b2), (w3, b3), (w4, b4) = params
    x = _avg_pool(jnp.tanh(_conv(x, w1, b1)))
    x = _avg_pool(jnp.tanh(_conv(x, w2, b2)))
    x = jnp.tanh(_conv(x, w3, b3))
    return _conv(x, w4, b4)


def lenet_layers(params):
    """The same net as a volterra_jax layer list."""
    (w1, b1), (w2, b2), (w3, b3), (w4, b4) = params
    act = vj.Smooth(jnp.tanh)
    return [
        Conv(w1, b1),
        act,
        Pool(2, "avg"),
        Conv(w2, b2),
        act,
        Pool(2, "avg"),
        Conv(w3, b3),
        act,
        Conv(w4, b4),
    ]


def _rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def run(*, repeats: int = 5) -> dict:
    """Times order-1 and order-2 proxy kernels of the LeNet; see the module docstring."""
    params = lenet_params(jax.random.key(0))
    layers = lenet_layers(params)
    rf = vj.receptive_field(layers)
    x0 = jnp.zeros(rf.shape)

    order1 = jax.jit(lambda p: vj.proxy_kernels(lenet, p, rf.shape, order=1).h1)
    t1, c1 = time_fn(order1, params, repeats=repeats)

    def one_pixel(x):
        return lenet(params, x[None])[0, 0, 0]

    dense = jax.jit(lambda x: jnp.moveaxis(jax.hessian(one_pixel)(x), 0, -1) / 2)
    structured = jax.jit(lambda ls: vj.from_layers(ls, order=2).h2)
    ts, cs = time_fn(structured, layers, repeats=repeats)
    td, cd = time_fn(dense, x0, repeats=max(1, min(repeats, 3)))

    h1_layers = vj.from_layers(layers, order=1).h1
    errors = {
        "order2_structure_vs_dense_hessian_rel": _rel(structured(layers), dense(x0)),
        "order1_jacrev_vs_from_layers_rel": _rel(order1(params), h1_layers),
    }
    case2 = "lenet_tanh_order2_kernels_10x28x28x28x28"
    return {
        "rows": [
            row(
                "lenet_tanh_order1_kernels_10x28x28",
                "proxy_kernels: one batched jacrev on the receptive-field crop",
                t1,
                c1,
            ),
            row(case2, "from_layers: chain rule over the layer structure", ts, cs),
            row(case2, "dense jax.hessian over the 28x28 input", td, cd),
        ],
        "ratios": {"order2_kernels_structure_vs_dense_hessian": ratio(td / ts, 20.0)},
        "errors": errors,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(repeats=3), indent=1))
