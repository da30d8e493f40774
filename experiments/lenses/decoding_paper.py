"""The decoding paper's own analyses on a LeNet-shaped network (Rafegas & Vanrell, arXiv
1511.05084): Table 1 with several unpoolings and the deconvnet baseline, Figure 1 (the output
layer's decoded filters as one-neuron classifiers), the Figure-4 units and the supplementary
self-consistency check.

Table 1. For a test image ``I`` as the network sees it and conv layer ``L``:

* network response ``R = forward(layers, I, upto=L)``: the conv output at ``L``, with every
  bias, the max pools and the ReLUs below it, before any ReLU after it, ``(H', W', K)``;
* decoded response ``D = decoded_response(I, df^L, stride=S_L)``, the same shape;
* error ``e(I) = mean((nu(R) - nu(D))**2)`` with ``nu`` one min-max contrast normalisation of
  the whole block of that image (``decoding_jax.response_error``); Table 1 is the mean +- std of
  ``e`` over the images (a 'zscore' twin too);
* the deconvnet row (Zeiler & Fergus) replaces ``df_k`` by the image's deconvnet projection of a
  unit impulse at unit ``k``'s strongest activation, cut to that position's receptive field:
  below the first ReLU the switches make it the exact bias-free response (a near-oracle).

Figure 1: ``M[k, c] = max`` over the test images of class ``c`` of the decoded response of
output filter ``k``, with the argmax images. Self-consistency: each decoded filter, min-max
normalised to pixels in [0, 1] ('pixels') or scaled to the data's largest magnitude
('scaled'), is placed in a blank input at the receptive field of the map's centre position; it
is consistent when its own unit has the largest response of its layer there.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import cnn_layers
import decoding_jax as dj
from experiments.core import subsets
from experiments.lenses import _responses as rs
from experiments.plots.decoding import paper_name

# Table 1 of the paper (mean, std) for bicubic, nearest, bilinear unpooling.
PAPER_TABLE1 = {
    "L3": {"bicubic": (0.002, 0.001), "nearest": (0.0022, 0.001), "bilinear": (0.003, 0.001)},
    "L5": {"bicubic": (0.012, 0.005), "nearest": (0.012, 0.005), "bilinear": (0.013, 0.0055)},
    "L7": {"bicubic": (0.078, 0.056), "nearest": (0.077, 0.055), "bilinear": (0.081, 0.057)},
}
SC_MODES = ("pixels", "scaled")


class PaperDecoding(NamedTuple):
    conv_layers: tuple[int, ...]  # indices of the conv layers (the paper's L1, L3, L5, L7)
    image_indices: np.ndarray  # the test images used
    decoded: dict  # method -> layer index -> (K, h, w, C) decoded filters
    table1: dict  # layer name -> method -> {'mean', 'std', 'n'} ('minmax')
    table1_zscore: dict
    errors: dict  # f'{method}_{layer name}' -> per-image errors ('minmax')
    deconvnet_images: int
    network_accuracy: float  # on the images, from the layer list's forward pass
    forward_vs_model: float  # max relative difference of the layer list and the model
    figure1: dict  # method -> {'matrix', 'argmax', 'diagonal_is_row_max', ...}
    figure4_units: np.ndarray  # the layer-5 units most active on figure4_class
    self_consistency: dict  # mode -> method -> layer name -> fraction
    self_consistency_detail: dict  # f'{mode}_{method}_{name}' -> {'winner', 'own_rank', 'inputs'}


def _table1(layers, conv_layers, images, decoded, responses, config):
    n_dc = min(int(config.deconvnet_images), len(images))
    deconvnet = {}
    if n_dc > 0:
        layer_rfs = [(i, decoded[config.unpool_methods[0]][i].shape[1:3]) for i in conv_layers]
        deconvnet = rs.deconvnet_responses(
            layers, layer_rfs, images[:n_dc], int(config.deconvnet_batch_size)
        )
    table, table_z, errors, estimates = {}, {}, {}, {}
    for i in conv_layers:
        name, resp = paper_name(i), responses[i]
        stride = dj.total_stride(layers, i)
        est = rs.decoded_responses(
            images, {m: decoded[m][i] for m in config.unpool_methods}, stride, config.batch_size
        )
        if n_dc > 0:
            est["deconvnet"] = deconvnet[i]
        estimates[i] = est
        # one call per layer and normalisation: every method's estimates stacked on the batch
        ref = np.concatenate([resp[: len(e)] for e in est.values()])
        stacked = np.concatenate(list(est.values()))
        splits = np.cumsum([len(e) for e in est.values()])[:-1]
        table[name], table_z[name] = {}, {}
        for norm, tab in (("minmax", table), ("zscore", table_z)):
            per_image = np.split(
                np.asarray(rs.response_error(ref, stacked, normalize=norm)), splits
            )
            for m, e in zip(est, per_image, strict=True):
                tab[name][m] = {"mean": float(e.mean()), "std": float(e.std()), "n": len(e)}
                if norm == "minmax":
                    errors[f"{m}_{name}"] = e
    return table, table_z, errors, estimates, n_dc


def _figure1(out_responses, labels, num_classes, image_indices) -> dict:
    """``out_responses`` ``(N, K)``: the decoded responses of the output filters."""
    matrix = np.full((out_responses.shape[1], num_classes), np.nan, np.float32)
    argmax = np.full((out_responses.shape[1], num_classes), -1, np.int64)
    for c in range(num_classes):
        members = np.flatnonzero(labels == c)
        if len(members):
            matrix[:, c] = out_responses[members].max(axis=0)
            argmax[:, c] = members[out_responses[members].argmax(axis=0)]
    diag = np.arange(min(matrix.shape))
    filled = np.where(np.isnan(matrix), -np.inf, matrix)
    return {
        "matrix": matrix,
        "argmax": argmax,
        "argmax_test_index": np.where(argmax >= 0, image_indices[argmax], -1),
        "diagonal_is_row_max": float(np.mean(filled.argmax(1)[diag] == diag)),
        "diagonal_is_column_max": float(np.mean(filled.argmax(0)[diag] == diag)),
        "decoded_classifier_accuracy": float(np.mean(out_responses.argmax(1) == labels)),
    }


def self_consistency(layers, decoded, layer: int, net, image_shape, data_max_abs) -> dict:
    """Every decoded filter of ``layer`` fed to the network as an input image, per mode: the
    winning unit at the centre position, the rank of the filter's own unit, the inputs (pixels)."""
    out_shape = rs.layer_shape(layers, image_shape, layer)
    stride = dj.total_stride(layers, layer)
    d = np.asarray(decoded, np.float64)
    axes = (1, 2, 3)
    lo, hi = d.min(axes, keepdims=True), d.max(axes, keepdims=True)
    mean = np.zeros(image_shape) if net.mean_image is None else np.asarray(net.mean_image)
    results = {}
    for mode in SC_MODES:
        if mode == "pixels":
            pixels = (d - lo) / np.where(hi > lo, hi - lo, 1.0)
            shown, p0 = rs.place_at_receptive_field(pixels, image_shape, out_shape, stride)
            x = shown * net.pixel_scale - mean[None]
        else:
            scaled = d * (data_max_abs / np.maximum(np.abs(d).max(axes, keepdims=True), 1e-30))
            x, p0 = rs.place_at_receptive_field(scaled, image_shape, out_shape, stride)
            shown = (x + mean[None]) / net.pixel_scale
        resp = np.asarray(rs.forward_at(layers, x.astype(np.float32), upto=layer))
        resp = resp[:, p0[0], p0[1], :]
        own = np.arange(len(resp))
        results[mode] = {
            "winner": resp.argmax(axis=1),
            "own_rank": (resp > resp[own, own][:, None]).sum(axis=1),
            "inputs": shown.astype(np.float32),
        }
    return results


def _self_consistency_all(layers, decoded, net, image_shape, data_max_abs, config):
    fractions = {mode: {m: {} for m in config.unpool_methods} for mode in SC_MODES}
    detail = {}
    for m in config.unpool_methods:
        for i in sorted(config.self_consistency_layers, reverse=True):
            res = self_consistency(layers, decoded[m][i], int(i), net, image_shape, data_max_abs)
            for mode, r in res.items():
                fractions[mode][m][paper_name(i)] = float(
                    np.mean(r["winner"] == np.arange(len(r["winner"])))
                )
                detail[f"{mode}_{m}_{paper_name(i)}"] = r
    return fractions, detail


def _max_abs(net, data) -> float:
    """The largest magnitude of the whole preprocessed test split."""
    return float(np.abs(net.preprocess(data.test.images)).max())


def compute(net, data, config, *, key=None) -> PaperDecoding:
    """The paper's analyses on ``net`` (a LeNet-shaped :class:`experiments.core.nets.Net`:
    conv layers with an output conv whose map is 1x1) and ``config.num_images``
    class-balanced test images.

    ``config``: ``num_images``, ``unpool_methods`` (tuple), ``batch_size``,
    ``deconvnet_images``, ``deconvnet_batch_size``, ``self_consistency_layers``,
    ``figure4_class``, ``figure4_layer5_units``. Deterministic (``key`` unused).
    """
    del key
    conv_layers = tuple(p[0] for p in cnn_layers.layer_paths(net.layers, (cnn_layers.Conv,)))
    layers = net.layers[: conv_layers[-1] + 1]  # the Flatten after the output conv: the logits
    idx = subsets.stratified_indices(data.test.labels, int(config.num_images))
    images, labels = net.preprocess(data.test.images[idx]), data.test.labels[idx]
    methods = tuple(config.unpool_methods)
    decoded = jax.device_get(rs.decode_all(layers, methods=methods, indices=conv_layers))
    responses = rs.network_responses(layers, images, conv_layers, config.batch_size)
    bs = int(config.batch_size)
    logits = np.asarray(net.apply_fn(net.params, jnp.asarray(images[:bs])))
    top = responses[conv_layers[-1]][:bs].reshape(logits.shape)
    table, table_z, errors, estimates, n_dc = _table1(
        layers, conv_layers, images, decoded, responses, config
    )
    num_classes = int(data.test.labels.max()) + 1
    out = conv_layers[-1]
    figure1 = {m: _figure1(estimates[out][m][:, 0, 0], labels, num_classes, idx) for m in methods}
    l5 = responses[conv_layers[2]]
    on_class = labels == int(config.figure4_class)
    mean_l5 = (l5[on_class] if on_class.any() else l5).mean(axis=(0, 1, 2))
    fractions, detail = _self_consistency_all(
        layers, decoded, net, images.shape[1:], _max_abs(net, data), config
    )
    return PaperDecoding(
        conv_layers=conv_layers,
        image_indices=idx,
        decoded=decoded,
        table1=table,
        table1_zscore=table_z,
        errors=errors,
        deconvnet_images=n_dc,
        network_accuracy=float(np.mean(responses[out][:, 0, 0].argmax(-1) == labels)),
        forward_vs_model=float(np.abs(top - logits).max() / np.abs(logits).max()),
        figure1=figure1,
        figure4_units=np.argsort(-mean_l5)[: int(config.figure4_layer5_units)],
        self_consistency=fractions,
        self_consistency_detail=detail,
    )
