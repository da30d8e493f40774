"""Benchmark suite ``volterra``: Volterra kernels of smooth nets, by structure and by autodiff.

Two nets with random weights (28x28x1 input):

* the MatConvNet LeNet with tanh: conv 20@5x5, tanh, avg-pool 2, conv 50@5x5, tanh,
  avg-pool 2, conv 500@4x4, tanh, conv 10@1x1 (VALID; its receptive field is the whole image):
  order 1 by ``proxy_kernels`` (one batched reverse pass on the receptive-field crop), order 2
  by ``from_layers`` against the dense ``jax.hessian`` of the net over the 28x28 input;
* the smooth twin of the VGG-style net (tanh for ReLU, avg for max pools): [conv 3x3 SAME
  1->16, BN, tanh, conv 16->16, BN, tanh, avg-pool 2, conv 16->32, BN, tanh, conv 32->32, BN,
  tanh, avg-pool 2, conv 32->64, BN, tanh, global average pool, dense 64->10], batch norm
  folded (as ``cnn_layers.from_nnx`` does by default) and unfolded. The order-2 kernels of its
  10 outputs live on the 48x48 frame (the image padded by ``geometry(...).padding`` = 10 on
  each side; the border rule of ``from_layers``); the reference is ``jax.hessian`` of the
  zero-extended network (every layer VALID on that frame) with respect to the frame, one
  output at a time (the 10-output ``jax.hessian`` batches 10 x 2304 tangents through the
  backward pass, about 3 GB per 46x46x16 activation, and runs out of this machine's memory).

Both order-2 pairs give the Taylor coefficient ``H_2 = hessian / 2`` at input 0 and must agree
to 1e-5 (relative, float32); the implementations of a case are timed in alternating rounds.

The LeNet's order-2 kernels also get their distance to the compute bound: the least work of
the chain rule (:func:`order2_min_macs`: every hidden smooth unit adds a symmetric rank-1 term
over its receptive field to each output's kernel) at the rate of a large float32 matmul timed in
the same rounds. XLA's flop count of the compiled ``from_layers`` is
reported next to it (it counts the body of each position loop once).
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import cnn_layers as cl
import volterra_jax as vj
from experiments.benchmarks.timing import matmul, ratio, row, time_fn, time_interleaved, xla_macs

HESSIAN_GOAL = 30.0  # from_layers at least this many times faster than dense jax.hessian
BOUND_GOAL = 1.7  # from_layers at most this many times the compute bound
MATMUL_N = 2048
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


def tanh_lenet_layers(params):
    """``lenet`` (a tanh after every hidden conv, unlike the experiments' LeNet) as the layer
    list of the same parameters."""
    (w1, b1), (w2, b2), (w3, b3), (w4, b4) = params
    act = vj.Smooth(jnp.tanh)
    return [
        cl.Conv(w1, b1),
        act,
        cl.Pool(2, "avg"),
        cl.Conv(w2, b2),
        act,
        cl.Pool(2, "avg"),
        cl.Conv(w3, b3),
        act,
        cl.Conv(w4, b4),
    ]


VGG_INPUT = (28, 28, 1)


def vgg_twin_layers(seed: int, *, fold: bool = True) -> list:
    """The smooth twin of ``experiments.models.VGG`` (tanh, average pools) as a layer list
    (``cnn_layers.from_nnx``): He-initialised convs, batch-norm statistics moved off their
    initial values, batch norm folded or kept."""
    from flax import nnx

    from experiments import models

    model = models.VGG(activation="tanh", pool="avg", rngs=nnx.Rngs(seed))
    keys = iter(jax.random.split(jax.random.key(seed), 64))
    for _, bn in nnx.iter_graph(model):
        if isinstance(bn, nnx.BatchNorm):
            c = bn.mean.shape
            bn.scale.set_value(1 + 0.1 * jax.random.normal(next(keys), c))
            bn.bias.set_value(0.1 * jax.random.normal(next(keys), c))
            bn.mean.set_value(0.1 * jax.random.normal(next(keys), c))
            bn.var.set_value(0.5 + jax.random.uniform(next(keys), c))
    model.eval()
    return cl.from_nnx(model, fold_batchnorm=fold)


def zero_extended(layers, frame):
    """The zero-extended VGG twin on its padded frame ``(R, R, 1)`` -> the 10 outputs: every
    Conv and Pool VALID (for a net without residual blocks the frame of ``geometry(...)``
    makes the last map exactly the true positions the global pool averages). Plain lax: the
    average pool of ``cnn_layers.forward`` cannot be reverse-differentiated under ``jit``."""
    x = frame[None]
    for layer in layers:
        if isinstance(layer, cl.Conv):
            b = jnp.zeros(layer.w.shape[3]) if layer.b is None else layer.b
            x = _conv(x, layer.w, b.reshape(1, 1, 1, -1))
        elif isinstance(layer, cl.BatchNorm):
            g, h = layer.gain_and_shift(x.dtype)
            x = x * g.reshape(1, 1, 1, -1) + h.reshape(1, 1, 1, -1)
        elif isinstance(layer, cl.Pool):
            x = _avg_pool(x)
        elif isinstance(layer, cl.GlobalAvgPool):
            x = x.mean(axis=(1, 2))
        elif isinstance(layer, cl.Dense):
            x = x @ layer.w + (0 if layer.b is None else layer.b.reshape(1, -1))
        else:
            x = layer(x)
    return x[0]


def order2_min_macs(layers: list, input_shape) -> int:
    """Least multiply-adds of the order-2 kernels of a net of convs, pools and smooth units.

    By the chain rule each hidden smooth unit ``u`` (after a layer whose receptive field has
    ``r`` input pixels) adds ``c_{o,u} g_u g_u^T`` to the kernel of every output ``o``, with
    ``g_u`` its ``r``-pixel gradient; with the symmetry of ``g g^T`` that is ``r (r + 1) / 2``
    multiply-adds per unit and output. The output layer itself is linear in this net.

    Returns:
      ``sum over smooth layers of units * r (r + 1) / 2 * outputs``.
    """
    infos = cl.describe(layers, input_shape)
    out = infos[-1].out_shape
    n_out = out.h * out.w * out.c
    total = 0
    for i, info in enumerate(infos[:-1]):
        if isinstance(info.layer, vj.Smooth):
            s = info.out_shape
            rh, rw = cl.geometry(layers[: i + 1], input_shape=input_shape).size
            total += s.h * s.w * s.c * (rh * rw) * (rh * rw + 1) // 2 * n_out
    return total


def _keeping(fn, store: dict, name: str):
    """``fn`` that also keeps its last result in ``store[name]`` (the values the timed calls
    give are then checked without another call)."""

    def call():
        store[name] = fn()
        return store[name]

    return call


def _rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _lenet(repeats: int) -> dict:
    params = lenet_params(jax.random.key(0))
    layers = tanh_lenet_layers(params)
    rf = vj.receptive_field(layers)
    x0 = jnp.zeros(rf.shape)

    order1 = jax.jit(lambda p: vj.proxy_kernels(lenet, p, rf.shape, order=1).h1)
    t1, c1 = time_fn(order1, params, repeats=repeats)

    def one_pixel(x):
        return lenet(params, x[None])[0, 0, 0]

    dense = jax.jit(lambda x: jnp.moveaxis(jax.hessian(one_pixel)(x), 0, -1) / 2)
    structured = jax.jit(lambda ls: vj.from_layers(ls, order=2).h2)
    dot, dot_macs = matmul(MATMUL_N)
    got = {}
    timed = time_interleaved(
        {
            "structured": _keeping(lambda: structured(layers), got, "structured"),
            "dense": _keeping(lambda: dense(x0), got, "dense"),
            "matmul": dot,
        },
        repeats=max(1, min(repeats, 3)),
    )
    (ts, cs), (td, cd), (tm, cm) = timed["structured"], timed["dense"], timed["matmul"]
    rate = dot_macs / tm
    least = order2_min_macs(layers, rf.shape)
    executed = xla_macs(structured, layers)
    h1_layers = vj.from_layers(layers, order=1).h1
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
            row(f"matmul_f32_{MATMUL_N} (with the order-2 kernels)", "jnp.dot (jit)", tm, cm),
        ],
        "ratios": {
            "order2_kernels_structure_vs_dense_hessian": ratio(td / ts, HESSIAN_GOAL),
            f"order2 compute bound / from_layers (within {BOUND_GOAL}x of the bound)": ratio(
                least / rate / ts, 1 / BOUND_GOAL
            ),
        },
        "errors": {
            "order2_structure_vs_dense_hessian_rel": _rel(got["structured"], got["dense"]),
            "order1_jacrev_vs_from_layers_rel": _rel(order1(params), h1_layers),
        },
        "notes": [
            f"lenet order 2: least work {least / 1e9:.3f} GMAC, at the interleaved matmul rate "
            f"{rate / 1e9:.1f} GMAC/s a bound of {least / rate * 1e3:.1f} ms; from_layers "
            f"{ts * 1e3:.1f} ms = {ts * rate / least:.2f}x the bound; XLA's flop count of the "
            f"program {executed / 1e9:.3f} GMAC (it counts each loop body once, so it is below "
            "the work the position loops execute)"
        ],
    }


def _vgg_twin(repeats: int) -> dict:
    folded = vgg_twin_layers(1)
    unfolded = vgg_twin_layers(1, fold=False)
    g = cl.geometry(folded, input_shape=VGG_INPUT)
    frame = jnp.zeros(g.size + VGG_INPUT[2:])
    kernels = jax.jit(lambda ls: vj.from_layers(ls, order=2, input_shape=VGG_INPUT).h2)

    @jax.jit
    def dense(layers, x):
        outputs = []
        for o in range(10):  # one output at a time: see the module docstring
            outputs.append(jax.hessian(lambda z, o=o: zero_extended(layers, z)[o])(x))
        return jnp.stack(outputs, axis=-1) / 2

    got = {}
    timed = time_interleaved(
        {
            "folded": _keeping(lambda: kernels(folded), got, "folded"),
            "unfolded": _keeping(lambda: kernels(unfolded), got, "unfolded"),
            "dense": _keeping(lambda: dense(folded, frame), got, "dense"),
        },
        repeats=max(1, min(repeats, 3)),
    )
    case = f"vgg_tanh_order2_10x{g.size[0]}x{g.size[1]}x{g.size[0]}x{g.size[1]}"
    (tf, cf), (tu, cu), (td, cd) = timed["folded"], timed["unfolded"], timed["dense"]
    errors = {
        "vgg_twin_order2_folded_vs_dense_hessian_rel": _rel(got["folded"], got["dense"]),
        "vgg_twin_order2_unfolded_vs_dense_hessian_rel": _rel(got["unfolded"], got["dense"]),
    }
    ratios = {
        "vgg_twin_order2_kernels_structure_vs_dense_hessian": ratio(td / tf, 10.0),
        "vgg_twin_unfolded_bn_structure_vs_dense_hessian": ratio(td / tu, 10.0),
    }
    for r, err in zip(ratios.values(), errors.values(), strict=True):
        if err > 1e-5:  # faster only counts with the same values
            r.update(met=False, note=f"kernels differ from the dense Hessian by {err:.1e} > 1e-5")
    return {
        "rows": [
            row(case, "from_layers, BN folded", tf, cf),
            row(case, "from_layers, BN unfolded", tu, cu),
            row(case, "jax.hessian, zero-extended", td, cd),
        ],
        "ratios": ratios,
        "errors": errors,
    }


def run(*, repeats: int = 5) -> dict:
    """Times the order-1 and order-2 kernels of both nets; see the module docstring."""
    out = {"rows": [], "ratios": {}, "errors": {}, "notes": []}
    for part in (_lenet(repeats), _vgg_twin(repeats)):
        for key in out:
            if key in ("rows", "notes"):
                out[key] = out[key] + part.get(key, [])
            else:
                out[key] = {**out[key], **part[key]}
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(run(repeats=3), indent=1))
