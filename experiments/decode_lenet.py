"""Filter decoding on the trained MatConvNet LeNet: the paper's Table 1, Figures 1 and 4 and its
supplementary self-consistency check (Rafegas & Vanrell, arXiv 1511.05084).

    python -m experiments.decode_lenet --workdir=runs/decode_lenet
    python -m experiments.decode_lenet --config=experiments/configs/decode_lenet.py:smoke

The LeNet is trained with ``train_lenet``'s code (``config.lenet``), or resumed from the
checkpoints of ``config.lenet_workdir`` (default: this workdir), then its four conv layers
(0-based indices 0, 2, 4, 6 of ``cnn_layers.from_nnx(lenet)``: the paper's L1, L3, L5, L7) are
decoded with each unpooling method.

What is compared (Table 1). For a test image ``I`` as the network sees it (pixels times
``pixel_scale`` minus the mean training image) and conv layer ``L``:

* network response ``R = forward(layers, I, upto=L)``: the real net's conv output at ``L``,
  with every bias, the max pools and (for L7) the ReLU below it, before any ReLU after it;
  shape ``(H', W', K)`` (L7: the logits, ``1 x 1 x 10``);
* decoded response ``D = decoded_response(I, df^L, stride=S_L)``: ``I`` correlated with the
  bias-free decoded filters at the layer's total stride, the same shape;
* error ``e(I) = mean((nu(R) - nu(D))**2)`` with ``nu`` one min-max contrast normalisation of
  the whole ``(H', W', K)`` block of that image (``decoding_jax.response_error``, 'minmax': the
  paper's "single contrast range normalization for each image"); Table 1 is the mean +- std of
  ``e`` over the test images (a 'zscore' twin is reported too).
* the deconvnet row (Zeiler & Fergus, ``decoding_jax.deconvnet``) uses the same ``R``, ``nu``
  and ``e``; its estimate replaces the image-independent ``df_k`` by an image-dependent
  "deconvnet filter": the deconvnet projection of a unit impulse at unit ``k``'s strongest
  activation in ``R`` (the max-pool switches and the ReLU rectification of that image), cut to
  that position's receptive field and correlated with the image like ``df_k``. Below the first
  ReLU (L1, L3, L5) the switches make this the exact bias-free response at that position, so
  the row is a near-oracle there; at L7 the rectified signal makes it an approximation.

Figure 1: ``M[k, c] = max`` over the test images of class ``c`` of the decoded response of L7
filter ``k`` (a scalar: image and filter are both 28x28), with the argmax images. Figure 4:
decoded filters of L1, L3, the L5 units most active on ``figure4_class``, and L7.
Self-consistency: each decoded filter of L3, L5, L7, min-max normalised to pixels in [0, 1]
('pixels': the filter shown as an image, then the data's preprocessing) or scaled to the
preprocessed data's largest magnitude ('scaled'), is placed in a blank 28x28 input at the
receptive field of the map's centre position; it is consistent when its own unit has the
largest response of its layer there.

Measured on ``mnist_5k`` (600 steps, test accuracy 96.6%, 1000 test images; deconvnet on 100),
Table 1 'minmax' mean +- std for bicubic / nearest / bilinear / deconvnet:
L3 0.0015 +- 0.0009 / 0.0014 / 0.0016 / 0.0018, L5 0.0132 +- 0.0047 / 0.0132 / 0.0139 / 1e-11,
L7 0.040 +- 0.034 / 0.038 / 0.043 / 0.028 (paper: 0.002, 0.012, 0.078); self-consistency
(bicubic, 'pixels' / 'scaled'): L5 22% / 67%, L7 90% / 100%.

Writes the workdir contract: config.json, metrics.jsonl and checkpoints/ (training),
summary.json (Table 1, Figure 1 and self-consistency numbers), table1.md, figures/*.png and
arrays/*.npz (decoded filters, per-image errors, Figure 1 matrices, self-consistency winners).
"""

import functools
import time
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

import cnn_layers
import decoding_jax as dj
from experiments import _app, models, train_lenet
from experiments.core import nets
from experiments.plots.decoding import paper_name, plot_failures, plot_figure1, plot_figure4
from experiments.workdir import Workdir

# Table 1 of the paper (mean, std) for bicubic, nearest, bilinear unpooling.
PAPER_TABLE1 = {
    "L3": {"bicubic": (0.002, 0.001), "nearest": (0.0022, 0.001), "bilinear": (0.003, 0.001)},
    "L5": {"bicubic": (0.012, 0.005), "nearest": (0.012, 0.005), "bilinear": (0.013, 0.0055)},
    "L7": {"bicubic": (0.078, 0.056), "nearest": (0.077, 0.055), "bilinear": (0.081, 0.057)},
}
SC_MODES = ("pixels", "scaled")
CONV_LAYERS = models.CONV_INDICES  # conv1..conv4 in from_nnx(lenet): the paper's L1, L3, L5, L7


def stratified_indices(labels: np.ndarray, n: int) -> np.ndarray:
    """The first ``n`` indices taken round-robin over the classes (all when ``n <= 0``)."""
    labels = np.asarray(labels)
    if n <= 0 or n >= len(labels):
        return np.arange(len(labels))
    rank = np.zeros(len(labels), int)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rank[idx] = np.arange(len(idx))
    order = np.lexsort((labels, rank))  # rank first, then class
    return np.sort(order[:n])


def batched(fn: Callable, images: np.ndarray, batch_size: int):
    """``fn`` (arrays or a pytree of arrays out) over ``images`` in padded batches of
    ``batch_size``, so that it compiles once; the outputs are concatenated on the host."""
    n = len(images)
    batch_size = max(1, min(batch_size, n))
    out = []
    for start in range(0, n, batch_size):
        chunk = images[start : start + batch_size]
        keep = len(chunk)
        if keep < batch_size:
            pad = np.zeros((batch_size - keep, *chunk.shape[1:]), chunk.dtype)
            chunk = np.concatenate([chunk, pad])
        out.append(jax.tree.map(lambda a: np.asarray(a)[:keep], fn(chunk)))  # noqa: B023
    return jax.tree.map(lambda *parts: np.concatenate(parts), *out)


@functools.partial(jax.jit, static_argnames=("upto",))
def _forward(layers, images, *, upto):
    return dj.forward(layers, images, upto=upto)


@functools.partial(jax.jit, static_argnames=("stride",))
def _decoded_response(images, decoded, *, stride):
    return dj.decoded_response(images, decoded, stride=stride)


@functools.partial(jax.jit, static_argnames=("normalize",))
def _response_error(net_response, decoded_response, *, normalize):
    return dj.response_error(net_response, decoded_response, normalize=normalize)


@functools.partial(jax.jit, static_argnames=("methods",))
def _decode_all(layers, *, methods):
    return {m: {i: dj.decode(layers, i, unpool=m) for i in CONV_LAYERS} for m in methods}


@functools.partial(jax.jit, static_argnames=("uptos",))
def _forward_many(layers, images, *, uptos):
    return tuple(dj.forward(layers, images, upto=i) for i in uptos)  # XLA shares the prefix


def network_responses(
    layers, images: np.ndarray, uptos: Sequence[int], batch_size: int
) -> dict[int, np.ndarray]:
    """The real network's responses at ``layers[i]`` for ``i`` in ``uptos`` (with biases, the
    pools and the ReLUs below ``i``)."""
    uptos = tuple(sorted(set(uptos)))
    out = batched(lambda x: _forward_many(layers, x, uptos=uptos), images, batch_size)
    return dict(zip(uptos, out, strict=True))


def decoded_responses(
    images: np.ndarray, decoded: dict[str, np.ndarray], stride: int, batch_size: int
) -> dict[str, np.ndarray]:
    """The decoded responses of several filter banks of one layer (one correlation)."""
    names = list(decoded)
    bank = np.concatenate([decoded[m] for m in names])
    out = batched(lambda x: _decoded_response(x, bank, stride=stride), images, batch_size)
    splits = np.cumsum([len(decoded[m]) for m in names])[:-1]
    return dict(zip(names, np.split(out, splits, axis=-1), strict=True))


def _deconvnet_estimate(layers, layer: int, rf: tuple[int, int], image):
    """One image's deconvnet estimate of the response at ``layer`` (see the module docstring)."""
    response = dj.forward(layers, image[None], upto=layer)[0]
    hh, ww, k = response.shape
    stride = dj.total_stride(layers, layer)
    pos = jnp.argmax(response.reshape(hh * ww, k), axis=0)  # strongest position of each unit
    impulse = jax.nn.one_hot(pos, hh * ww, dtype=response.dtype)  # (K, P)
    eye = jnp.eye(k, dtype=response.dtype)
    signal = (impulse[:, :, None] * eye[:, None, :]).reshape(k, hh, ww, k)
    proj = dj.deconvnet(layers, layer, image, signal=signal)  # (K, H, W, C)

    def cut(p, q):
        start = (stride * (q // ww), stride * (q % ww), 0)
        return jax.lax.dynamic_slice(p, start, (*rf, p.shape[-1]))

    filters = jax.vmap(cut)(proj, pos)  # (K, h, w, C)
    return dj.decoded_response(image[None], filters, stride=stride)[0]


@functools.partial(jax.jit, static_argnames=("layer_rfs",))
def _deconvnet_batch(layers, images, *, layer_rfs):
    return tuple(
        jax.vmap(functools.partial(_deconvnet_estimate, layers, layer, rf))(images)
        for layer, rf in layer_rfs
    )


def deconvnet_responses(
    layers, layer_rfs: Sequence[tuple[int, tuple[int, int]]], images, batch_size: int
) -> dict[int, np.ndarray]:
    """The deconvnet estimates of the responses of ``images`` at each ``(layer, rf)``."""
    layer_rfs = tuple((int(i), tuple(int(v) for v in rf)) for i, rf in layer_rfs)
    out = batched(lambda x: _deconvnet_batch(layers, x, layer_rfs=layer_rfs), images, batch_size)
    return {i: o for (i, _), o in zip(layer_rfs, out, strict=True)}


def place_at_receptive_field(
    filters: np.ndarray, image_shape: Sequence[int], out_shape: Sequence[int], stride: int
) -> tuple[np.ndarray, tuple[int, int]]:
    """Blank images ``(K, H, W, C)`` holding each filter at the centre output's receptive field."""
    k, h, w, c = filters.shape
    p0 = (out_shape[0] // 2, out_shape[1] // 2)
    canvas = np.zeros((k, *image_shape), filters.dtype)
    y, x = stride * p0[0], stride * p0[1]
    canvas[:, y : y + h, x : x + w, :] = filters
    return canvas, p0


def self_consistency(
    layers, decoded: np.ndarray, layer: int, net: nets.TrainedNet, data_max_abs: float
) -> dict[str, dict]:
    """Feeds every decoded filter of ``layer`` to the network as an input image.

    Returns, per mode ('pixels', 'scaled'): the winning unit of each filter's input at the
    centre position, the fraction of units whose own filter wins, and the inputs (in pixels).
    """
    image_shape = net.test_set.images.shape[1:]
    out_shape = layer_shape(layers, image_shape, layer)
    stride = dj.total_stride(layers, layer)
    d = np.asarray(decoded, np.float64)
    axes = (1, 2, 3)
    lo, hi = d.min(axes, keepdims=True), d.max(axes, keepdims=True)
    pixels = (d - lo) / np.where(hi > lo, hi - lo, 1.0)
    scale = data_max_abs / np.maximum(np.abs(d).max(axes, keepdims=True), 1e-30)
    results = {}
    for mode in SC_MODES:
        if mode == "pixels":
            canvas, p0 = place_at_receptive_field(pixels, image_shape, out_shape, stride)
            shown = canvas
            x = canvas * net.pixel_scale - np.asarray(net.mean_image)[None]
        else:
            x, p0 = place_at_receptive_field(d * scale, image_shape, out_shape, stride)
            shown = (x + np.asarray(net.mean_image)[None]) / net.pixel_scale
        resp = np.asarray(_forward(layers, x.astype(np.float32), upto=layer))[:, p0[0], p0[1], :]
        winner = resp.argmax(axis=1)
        own = np.arange(len(winner))
        results[mode] = {
            "winner": winner,
            "fraction": float(np.mean(winner == own)),
            "own_rank": (resp > resp[own, own][:, None]).sum(axis=1),
            "inputs": shown.astype(np.float32),
        }
    return results


def layer_shape(layers, image_shape: Sequence[int], layer: int) -> tuple[int, ...]:
    x = jax.ShapeDtypeStruct((1, *image_shape), jnp.float32)
    return jax.eval_shape(lambda z: dj.forward(layers, z, upto=layer), x).shape[1:]


def table1_markdown(table: dict, methods: Sequence[str]) -> str:
    cols = [*methods, "deconvnet"]
    lines = ["| layer | " + " | ".join(cols) + " | paper (bicubic, nearest, bilinear) |"]
    lines.append("|---" * (len(cols) + 2) + "|")
    for name, row in table.items():
        cells = [f"{row[m]['mean']:.4f} ± {row[m]['std']:.4f}" if m in row else "-" for m in cols]
        paper = PAPER_TABLE1.get(name)
        ref = (
            ", ".join(f"{paper[m][0]} ± {paper[m][1]}" for m in PAPER_TABLE1["L3"])
            if paper
            else "-"
        )
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {ref} |")
    return "\n".join(lines) + "\n"


# -- the experiment ----------------------------------------------------------------------------
def run(config, workdir: str) -> dict:
    """Trains or resumes the LeNet, decodes it and writes the workdir contract.

    Returns the summary dict (also in ``summary.json``). Importable from a notebook.
    """
    t_start = time.perf_counter()
    wd = Workdir(workdir)
    wd.write_config(config)
    net = train_lenet.train_lenet(
        config.lenet, Workdir(config.lenet_workdir) if config.lenet_workdir else wd
    )
    timings = {"train": time.perf_counter() - t_start}
    # up to conv4 (L7): the Flatten after it only turns its 1x1x10 map into the logits
    layers = cnn_layers.from_nnx(net.model())[: CONV_LAYERS[-1] + 1]
    methods = tuple(config.unpool_methods)

    idx = stratified_indices(net.test_set.labels, int(config.num_images))
    images, labels = net.test_set.images[idx], net.test_set.labels[idx]
    images_pixels = (images + net.mean_image[None]) / net.pixel_scale
    bs = int(config.batch_size)

    t = time.perf_counter()
    decoded = jax.device_get(_decode_all(layers, methods=methods))
    timings["decode"] = time.perf_counter() - t
    wd.save_arrays(
        "decoded_filters",
        **{f"{m}_{paper_name(i)}": decoded[m][i] for m in methods for i in CONV_LAYERS},
    )

    # Table 1
    t = time.perf_counter()
    responses = network_responses(layers, images, CONV_LAYERS, bs)
    # The layer list's forward pass is the model's own forward pass (an independent check).
    logits = np.asarray(net.apply_fn(net.params, jnp.asarray(images[:bs])))
    top = responses[6][:bs].reshape(logits.shape)
    forward_rel_err = float(np.abs(top - logits).max() / np.abs(logits).max())
    net_accuracy = float(np.mean(responses[6][:, 0, 0].argmax(-1) == labels))
    n_dc = min(int(config.deconvnet_images), len(images))
    table, table_z, errors, estimates = {}, {}, {}, {}
    deconvnet = {}
    if n_dc > 0:
        layer_rfs = [(i, decoded[methods[0]][i].shape[1:3]) for i in CONV_LAYERS]
        deconvnet = deconvnet_responses(
            layers, layer_rfs, images[:n_dc], int(config.deconvnet_batch_size)
        )
    for i in CONV_LAYERS:
        name, resp = paper_name(i), responses[i]
        stride = dj.total_stride(layers, i)
        est = decoded_responses(images, {m: decoded[m][i] for m in methods}, stride, bs)
        if n_dc > 0:
            est["deconvnet"] = deconvnet[i]
        estimates[i] = est
        table[name], table_z[name] = {}, {}
        for m, e_m in est.items():
            if e_m.shape != resp[: len(e_m)].shape:
                raise AssertionError(f"{m} {name}: {e_m.shape} vs network {resp.shape}")
        # one call per layer and normalisation: every method's estimates stacked on the batch
        ref = np.concatenate([resp[: len(e_m)] for e_m in est.values()])
        stacked = np.concatenate(list(est.values()))
        splits = np.cumsum([len(e_m) for e_m in est.values()])[:-1]
        for norm, tab in (("minmax", table), ("zscore", table_z)):
            per_image = np.split(np.asarray(_response_error(ref, stacked, normalize=norm)), splits)
            for m, e in zip(est, per_image, strict=True):
                tab[name][m] = {"mean": float(e.mean()), "std": float(e.std()), "n": len(e)}
                if norm == "minmax":
                    errors[f"{m}_{name}"] = e
                    logging.info(
                        "Table 1 %s %-9s %.5f +- %.5f (n=%d)", name, m, e.mean(), e.std(), len(e)
                    )
    timings["table1"] = time.perf_counter() - t
    wd.save_arrays("table1", image_indices=idx, deconvnet_image_indices=idx[:n_dc], **errors)
    wd.write_text("table1.md", table1_markdown(table, methods))

    # Figure 1: the L7 decoded filters as ten one-neuron classifiers
    t = time.perf_counter()
    fig1, fig1_arrays = {}, {}
    classes = np.arange(int(net.test_set.labels.max()) + 1)
    for m in methods:
        est = estimates[6][m][:, 0, 0]  # (N, 10)
        matrix = np.full((est.shape[1], len(classes)), np.nan, np.float32)
        argmax = np.full((est.shape[1], len(classes)), -1, np.int64)
        for c in classes:
            members = np.flatnonzero(labels == c)
            if len(members):
                matrix[:, c] = est[members].max(axis=0)
                argmax[:, c] = members[est[members].argmax(axis=0)]
        diag = np.arange(min(matrix.shape))
        filled = np.where(np.isnan(matrix), -np.inf, matrix)
        fig1[m] = {
            "diagonal_is_row_max": float(np.mean(filled.argmax(1)[diag] == diag)),
            "diagonal_is_column_max": float(np.mean(filled.argmax(0)[diag] == diag)),
            "decoded_classifier_accuracy": float(np.mean(est.argmax(1) == labels)),
        }
        fig1_arrays[f"{m}_max"] = matrix
        fig1_arrays[f"{m}_argmax_test_index"] = np.where(argmax >= 0, idx[argmax], -1)
        if m == config.figure_method:
            wd.save_figure(
                "figure1_l7_class_max",
                plot_figure1(decoded[m][6], matrix, argmax, images_pixels, m),
            )
    wd.save_arrays("figure1", labels=labels, test_index=idx, **fig1_arrays)

    # Figure 4: the L5 units most active on one class, as in the paper
    on_class = labels == int(config.figure4_class)
    mean_l5 = (
        responses[4][on_class].mean(axis=(0, 1, 2))
        if on_class.any()
        else responses[4].mean(axis=(0, 1, 2))
    )
    l5_units = np.argsort(-mean_l5)[: int(config.figure4_layer5_units)]
    for m in methods:
        wd.save_figure(f"figure4_decoded_filters_{m}", plot_figure4(decoded[m], l5_units, m))
    timings["figures"] = time.perf_counter() - t

    # Self-consistency
    t = time.perf_counter()
    data_max_abs = float(np.abs(net.test_set.images).max())
    sc, sc_arrays = {mode: {} for mode in SC_MODES}, {}
    for m in methods:
        failures = []
        for mode in SC_MODES:
            sc[mode][m] = {}
        for i in sorted(config.self_consistency_layers, reverse=True):
            res = self_consistency(layers, decoded[m][i], int(i), net, data_max_abs)
            for mode in SC_MODES:
                sc[mode][m][paper_name(i)] = res[mode]["fraction"]
                sc_arrays[f"{mode}_{m}_{paper_name(i)}_winner"] = res[mode]["winner"]
                sc_arrays[f"{mode}_{m}_{paper_name(i)}_own_rank"] = res[mode]["own_rank"]
            r = res["pixels"]
            for unit in np.flatnonzero(r["winner"] != np.arange(len(r["winner"]))):
                failures.append(
                    (paper_name(i), unit, r["winner"][unit], r["own_rank"][unit], r["inputs"][unit])
                )
        wd.save_figure(
            f"self_consistency_failures_{m}",
            plot_failures(failures[: int(config.max_failures_shown)], m, "pixels"),
        )
    wd.save_arrays("self_consistency", **sc_arrays)
    timings["self_consistency"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t_start

    summary = {
        "train": net.summary,
        "num_images": len(idx),
        "deconvnet_images": n_dc,
        "network_accuracy_on_images": net_accuracy,
        "forward_vs_model_max_rel_err": forward_rel_err,
        "table1": table,
        "table1_zscore": table_z,
        "table1_paper": {
            n: {m: {"mean": v[0], "std": v[1]} for m, v in row.items()}
            for n, row in PAPER_TABLE1.items()
        },
        "table1_definition": (
            "per test image: MSE between minmax(network conv response at the layer, with biases, "
            "max pools and ReLUs below it) and minmax(image correlated with the decoded filters "
            "at the layer's total stride), each normalised once over the whole (H', W', K) "
            "block of that image; mean and std over images. deconvnet: the same with the "
            "image-specific deconvnet projection of a unit impulse at each unit's strongest "
            "position in place of the decoded filter, on the first deconvnet_images images."
        ),
        "figure1": fig1,
        "figure4_layer5_units": l5_units,
        "self_consistency": sc,
        "wall_seconds": timings,
    }
    wd.write_summary(summary)
    logging.info("decode_lenet done in %.1f s", timings["total"])
    return summary


if __name__ == "__main__":
    _app.launch(run, "decode_lenet")
