"""What several lenses read off a trained network: its logits as a pure function of the layer
list, its output layer, and the image frame of its whole-network kernels."""

import cnn_layers


def logits_fn(layers, x):
    """``(N, H, W, C) -> (N, 1, 1, O)``: the network's outputs as the 1x1 map the Volterra
    library's functions (``proxy_kernels``, ``series``) expect."""
    out = cnn_layers.forward(layers, x)
    return out.reshape(out.shape[0], 1, 1, -1)


def output_path(layers) -> tuple:
    """The path of the last layer with weights (Conv or Dense): the output units."""
    return cnn_layers.layer_paths(layers, (cnn_layers.Conv, cnn_layers.Dense))[-1]


def image_frame(layers, image_shape) -> tuple[slice, slice]:
    """Where the image sits in the frame of the output units' kernels (and decoded filters),
    which extends past the image by the network's padding."""
    g = cnn_layers.geometry(layers, output_path(layers), input_shape=tuple(image_shape))
    (top, _), (left, _) = g.padding
    return slice(top, top + image_shape[0]), slice(left, left + image_shape[1])
