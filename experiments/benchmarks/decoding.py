"""Benchmark suite 'decoding': decode all 580 filters of the MatConvNet MNIST LeNet, and every
filter of every conv layer of the small ResNet.

Cases (one run, same machine):

* ``decoding_jax.decode``, all four conv layers (20 + 50 + 500 + 10 filters, bicubic), jitted;
* a plain vectorised decoder (dense resize + ``lax.conv`` with flipped filters, one conv per
  layer): the design's starting point, for comparison;
* the paper's nested-loop algorithm transcribed with numpy loops (per filter, per channel
  pair, per pixel substitution). It is slow, so a subset of the filters of each layer is timed
  once and the time is extrapolated linearly to all filters (the row's ``impl`` says so);
* a large jitted float32 matmul, giving this machine's multiply-add rate in the same run (timed
  in alternating rounds with the decoder);
* ``experiments.models.ResNet`` (random weights and batch-norm statistics, converted by
  ``cnn_layers.from_nnx``): its 9 conv layers (stem, the blocks' convs and the two 1x1
  projections; 336 filters) decoded in one jitted program, timed in alternating rounds with the
  matmul. Its rate counts the work the program actually executes: XLA's flop count of the
  compiled decoder (the useful multiply-adds, each input tap of each substitution once, are
  reported next to it).

The goal (issue 14) counts the work the decoder actually executes: XLA's flop count of the
compiled program, at the interleaved matmul rate. The multiply-adds of the dense full
convolutions (every output pixel of every substitution summing ``kh kw`` taps over all shared
channels; about 2.05 GMAC, nearly all in layer 5's 500 filters through conv2) are reported in
``notes``: ``decode`` reorders the linear algebra (channel sums on the coarse maps, unpooling and
placement as small per-axis matrices) and executes far fewer multiply-adds than that count.
"""

import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from decoding_jax import Conv, Pool, ReLU, decode, resize_matrix, unpool
from experiments.benchmarks.timing import matmul, ratio, row, time_interleaved, xla_macs

CASE = "lenet_580_filters_bicubic"
RATE_GOAL = 0.5  # decode at least this fraction of the matmul rate, by the work it executes
CONV_LAYERS = (0, 2, 4, 6)
METHOD = "bicubic"


def random_lenet(seed: int = 0) -> list:
    """The MatConvNet MNIST LeNet layer list with random float32 weights."""
    rng = np.random.default_rng(seed)
    shapes = [(5, 5, 1, 20), (5, 5, 20, 50), (4, 4, 50, 500), (1, 1, 500, 10)]
    w = [jnp.asarray(rng.normal(size=s) / np.sqrt(np.prod(s[:3])), jnp.float32) for s in shapes]
    b = [jnp.zeros(s[3], jnp.float32) for s in shapes]
    return [
        Conv(w[0], b[0]),
        Pool(2, "max"),
        Conv(w[1], b[1]),
        Pool(2, "max"),
        Conv(w[2], b[2]),
        ReLU(),
        Conv(w[3], b[3]),
    ]


def dense_macs(layers: list, layer: int) -> int:
    """Multiply-adds of the dense full convolutions that decode ``layer``'s filters."""
    kh, kw, c, n = layers[layer].w.shape
    h, w, total = kh, kw, 0
    for lyr in reversed(layers[:layer]):
        if isinstance(lyr, Pool):
            h, w = h * lyr.size, w * lyr.size
        elif isinstance(lyr, Conv):
            fh, fw, cin, _ = lyr.w.shape
            h, w = lyr.stride * (h - 1) + fh, lyr.stride * (w - 1) + fw
            total += n * h * w * cin * fh * fw * c
            c = cin
    return total


def plain_decode(layers: list, layer: int, method: str = METHOD) -> jax.Array:
    """Dense decoder: unpool every map, then one full convolution per conv layer."""
    d = jnp.moveaxis(layers[layer].w, 3, 0)
    for lyr in reversed(layers[:layer]):
        if isinstance(lyr, Pool):
            d = unpool(d, method=method, factor=lyr.size)
        elif isinstance(lyr, Conv):
            kh, kw, _, _ = lyr.w.shape
            # full convolution = correlation with the flipped filter, input channel j -> out c
            k = jnp.flip(lyr.w, (0, 1)).transpose(0, 1, 3, 2)
            d = lax.conv_general_dilated(
                d,
                k,
                (1, 1),
                ((kh - 1, kh - 1), (kw - 1, kw - 1)),
                lhs_dilation=(lyr.stride, lyr.stride),
                dimension_numbers=("NHWC", "HWIO", "NHWC"),
            )
    return d


def _subst(d: np.ndarray, f: np.ndarray, stride: int) -> np.ndarray:
    """The paper's subst for one channel pair: ``f`` placed at every nonzero pixel of ``d``."""
    kh, kw = f.shape
    out = np.zeros((stride * (d.shape[0] - 1) + kh, stride * (d.shape[1] - 1) + kw))
    for y in range(d.shape[0]):
        for x in range(d.shape[1]):
            if d[y, x] != 0:
                out[y * stride : y * stride + kh, x * stride : x * stride + kw] += d[y, x] * f
    return out


def paper_decode(layers: list, layer: int, k: int, method: str = METHOD) -> np.ndarray:
    """The paper's ``filter_decoding(L, k, CNN)``: loops over channels and pixels."""
    w_top = np.asarray(layers[layer].w, np.float64)
    df = [w_top[:, :, c, k] for c in range(w_top.shape[2])]  # one 2-D map per channel
    for lyr in reversed(layers[:layer]):
        if isinstance(lyr, Pool):
            r = resize_matrix(df[0].shape[0], method=method, factor=lyr.size)
            df = [r @ d @ r.T for d in df]  # imresize of each channel
        elif isinstance(lyr, Conv):
            f = np.asarray(lyr.w, np.float64)
            out = None
            for j in range(f.shape[3]):  # decoded channel j = filter j of this layer
                for c in range(f.shape[2]):  # its channels
                    s = _subst(df[j], f[:, :, c, j], lyr.stride)
                    if out is None:
                        out = [np.zeros_like(s) for _ in range(f.shape[2])]
                    out[c] += s
            df = out
    return np.stack(df, axis=-1)


def random_resnet(seed: int = 0) -> list:
    """The small ResNet's layer list, random weights and batch-norm statistics, folded."""
    from flax import nnx

    import cnn_layers
    from experiments import models

    model = models.ResNet(rngs=nnx.Rngs(seed))
    rng = np.random.default_rng(seed)
    for _, bn in nnx.iter_graph(model):
        if isinstance(bn, nnx.BatchNorm):
            c = bn.mean.shape
            bn.mean.set_value(jnp.asarray(rng.normal(size=c) * 0.1, jnp.float32))
            bn.var.set_value(jnp.asarray(rng.uniform(0.5, 1.5, c), jnp.float32))
    model.eval()
    return cnn_layers.from_nnx(model)


def useful_macs(layers: list, path, input_shape) -> int:
    """Each input tap of each substitution once: ``n Y X kh kw j c`` per conv step of the
    decoder's dense maps, summed over the layers below ``path`` (a lower bound on the work)."""
    import cnn_layers

    chain = cnn_layers.chain(cnn_layers.describe(layers, input_shape), path)
    n = chain[-1].layer.w.shape[3]

    def below(infos, size):
        total = 0
        for info in reversed(infos):
            if isinstance(info.layer, cnn_layers.Residual):
                tb, sb = below(info.block, size)
                ts, ss = below(info.shortcut, size)
                total, size = total + tb + ts, tuple(max(a, b) for a, b in zip(sb, ss, strict=True))
            elif isinstance(info.layer, Conv):
                kh, kw, c, j = info.layer.w.shape
                total += n * size[0] * size[1] * kh * kw * j * c
                size = (info.stride * (size[0] - 1) + kh, info.stride * (size[1] - 1) + kw)
        return total, size

    kh, kw = chain[-1].layer.w.shape[:2]
    return below(chain[:-1], (kh, kw))[0]


def _resnet_case(repeats: int, matmul_n: int) -> dict:
    import cnn_layers

    layers = random_resnet()
    shape = (28, 28, 1)
    paths = cnn_layers.layer_paths(layers, (Conv,))
    fast = jax.jit(lambda ls: [decode(ls, p, input_shape=shape) for p in paths])
    dot, dot_macs = matmul(matmul_n)
    times = time_interleaved({"decode": lambda: fast(layers), "matmul": dot}, repeats=repeats)
    (t_dec, c_dec), (t_mm, c_mm) = times["decode"], times["matmul"]
    executed = xla_macs(fast, layers)
    useful = sum(useful_macs(layers, p, shape) for p in paths)
    rate = dot_macs / t_mm
    frac = executed / t_dec / rate
    infos = cnn_layers.describe(layers, shape)
    n = sum(cnn_layers.chain(infos, p)[-1].layer.w.shape[3] for p in paths)
    case = f"resnet_{len(paths)}_layers_{n}_filters"
    return {
        "rows": [
            row(case, "decoding_jax.decode (jit)", t_dec, c_dec),
            row(f"matmul_f32_{matmul_n} (with resnet)", "jnp.dot (jit)", t_mm, c_mm),
        ],
        "ratios": {"resnet_decode_fraction_of_matmul_rate": ratio(frac, RATE_GOAL)},
        "notes": [
            f"resnet: XLA flop count {executed / 1e9:.3f} GMAC executed at "
            f"{executed / t_dec / 1e9:.1f} GMAC/s = {frac:.0%} of the interleaved matmul rate "
            f"{rate / 1e9:.1f} GMAC/s; useful multiply-adds {useful / 1e9:.3f} GMAC "
            f"({useful / t_dec / rate:.0%} of the matmul rate)",
        ],
    }


def run(*, repeats: int = 5, paper_filters: int = 4, matmul_n: int = 2048) -> dict:
    """Times the decoders; see the module docstring. ``paper_filters`` filters per layer are
    run through the nested-loop transcription and extrapolated to all 580."""
    layers = random_lenet()
    work = sum(dense_macs(layers, i) for i in CONV_LAYERS)
    n_filters = [layers[i].w.shape[3] for i in CONV_LAYERS]

    fast = jax.jit(lambda ls: [decode(ls, i, unpool=METHOD) for i in CONV_LAYERS])
    plain = jax.jit(lambda ls: [plain_decode(ls, i) for i in CONV_LAYERS])
    dot, dot_macs = matmul(matmul_n)
    times = time_interleaved(
        {"decode": lambda: fast(layers), "plain": lambda: plain(layers), "matmul": dot},
        repeats=repeats,
    )
    (t_fast, c_fast), (t_plain, c_plain), (t_mm, c_mm) = (
        times[k] for k in ("decode", "plain", "matmul")
    )
    rate = dot_macs / t_mm

    out_fast = [np.asarray(a) for a in fast(layers)]
    out_plain = [np.asarray(a) for a in plain(layers)]
    t_paper, err_paper = 0.0, 0.0
    for i, n, d in zip(CONV_LAYERS, n_filters, out_fast, strict=True):
        m = min(paper_filters, n)
        start = time.perf_counter()
        ref = np.stack([paper_decode(layers, i, k) for k in range(m)])
        t_paper += (time.perf_counter() - start) * n / m
        err_paper = max(err_paper, float(np.abs(d[:m] - ref).max() / np.abs(ref).max()))
    err_plain = max(
        float(np.abs(a - b).max() / np.abs(b).max())
        for a, b in zip(out_fast, out_plain, strict=True)
    )
    executed = xla_macs(fast, layers)
    frac = executed / t_fast / rate
    resnet = _resnet_case(repeats, matmul_n)
    return {
        "rows": [
            row(CASE, "decoding_jax.decode (jit)", t_fast, c_fast),
            row(CASE, "plain resize + lax.conv (jit)", t_plain, c_plain),
            row(
                CASE,
                f"paper nested loops (numpy; {paper_filters} filters/layer timed once, "
                "extrapolated to 580)",
                t_paper,
            ),
            row(f"matmul_f32_{matmul_n}", "jnp.dot (jit)", t_mm, c_mm),
        ]
        + resnet["rows"],
        "ratios": {
            "decode_executed_fraction_of_matmul_rate": ratio(frac, RATE_GOAL),
            "decode_speedup_vs_paper_loops": ratio(t_paper / t_fast, 100.0),
            **resnet["ratios"],
        },
        "notes": [
            f"work = dense full-convolution multiply-adds = {work / 1e9:.3f} GMAC",
            f"lenet: XLA flop count of the compiled decode {executed / 1e9:.3f} GMAC executed at "
            f"{executed / t_fast / 1e9:.1f} GMAC/s = {frac:.0%} of the interleaved matmul rate "
            f"{rate / 1e9:.1f} GMAC/s; counted by the dense work {work / t_fast / 1e9:.1f} "
            f"GMAC/s ({work / t_fast / rate:.0%}); plain {work / t_plain / 1e9:.1f} GMAC/s "
            f"({work / t_plain / rate:.0%})",
            f"max relative difference decode vs plain {err_plain:.1e}, "
            f"decode vs paper loops (float64) {err_paper:.1e}",
            *resnet["notes"],
        ],
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=1))
