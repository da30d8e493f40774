"""The hacking network: Volterra kernels of a black box fitted from input/output pairs."""

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax
from jaxtyping import Array, Float

from cnn_layers._checks import as_real_float, check_int, check_real
from cnn_layers._fast import conv_general_dilated
from cnn_layers._random import normal
from volterra_jax._autodiff import _check_order
from volterra_jax._kernels import VolterraKernels, check_rf_shape, symmetrize

_HIGHEST = lax.Precision.HIGHEST


class HackResult(NamedTuple):
    """What `hack` returns: the fitted kernels and the training loss of every step."""

    kernels: VolterraKernels
    losses: Float[Array, " steps"]


def unit_norm_sampler(rf_shape: Sequence[int], batch_size: int = 16) -> Callable[[Any], Array]:
    """The authors' inputs: Gaussian images of shape ``rf_shape`` scaled to unit L2 norm.

    Args:
      rf_shape: ``(H, W, C)`` of each sample.
      batch_size: samples per call.

    Returns:
      ``sampler(key) -> (batch_size, H, W, C)``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> x = unit_norm_sampler((3, 3, 1), 4)(jax.random.key(0))
      >>> x.shape, [round(float(v), 5) for v in jnp.linalg.norm(x.reshape(4, -1), axis=1)]
      ((4, 3, 3, 1), [1.0, 1.0, 1.0, 1.0])
    """
    shape = (check_int("batch_size", batch_size, 1),) + check_rf_shape(rf_shape)

    def sample(key):
        x = normal(key, shape)
        return x / jnp.sqrt(jnp.sum(x * x, axis=(1, 2, 3), keepdims=True))

    return sample


def _is_concrete(*xs):
    return not any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves(xs))


def _centering(factors, sigma2):
    """``E[prod_k (a_k . x)]`` for zero-mean i.i.d. pixels of variance ``sigma2`` (order 2 only;
    it is 0 for odd orders and left out above 2)."""
    if factors.shape[0] != 2:
        return jnp.zeros(factors.shape[-1:], factors.dtype)
    return sigma2 * jnp.einsum("hwcro,hwcro->o", factors[0], factors[1])


def _model(params, x, stride, sigma2):
    dn = ("NHWC", "HWIO", "NHWC")
    y = conv_general_dilated(
        x, params["h1"], (stride, stride), "VALID", dimension_numbers=dn, precision=_HIGHEST
    ) + params["h0"].reshape(1, 1, 1, -1)
    for factors in params["low_rank"]:
        n, kh, kw, c, rank, o = factors.shape
        w = jnp.moveaxis(factors, 0, 3).reshape(kh, kw, c, n * rank * o)
        z = conv_general_dilated(
            x, w, (stride, stride), "VALID", dimension_numbers=dn, precision=_HIGHEST
        )
        z = z.reshape(z.shape[:3] + (n, rank, o))
        centre = jnp.reshape(_centering(factors, sigma2), (1, 1, 1, -1))
        y = y + jnp.prod(z, axis=3).sum(axis=3) - centre
    return y


def _dense(factors):
    """Symmetrised dense ``h_n = sum_r a_{1,r} (x) ... (x) a_{n,r}`` of CP factors."""
    n, kh, kw, c, rank, o = factors.shape
    f = factors.reshape(n, kh * kw * c, rank, o)
    t = f[0]
    for k in range(1, n - 1):
        t = (t[:, None] * f[k][None]).reshape(-1, rank, o)
    h = jnp.einsum("xro,bro->xbo", t, f[n - 1], precision=_HIGHEST)
    return symmetrize(h.reshape((kh, kw, c) * n + (o,)))


def hack(
    key: Any,
    black_box: Callable[[Array], Array],
    rf_shape: Sequence[int],
    out_channels: int,
    *,
    order: int = 2,
    rank: int = 4,
    steps: int = 1000,
    learning_rate: float | optax.Schedule = 1e-2,
    sampler: Callable[[Any], Array] | None = None,
    batch_size: int = 16,
    stride: int = 1,
) -> HackResult:
    """Fits the Volterra kernels of a black box from (input, output) pairs only.

    The model is ``y = h0 + h1 * x + sum_{n=2}^{order} sum_r prod_{k=1}^{n} (a_{n,k,r} * x)``
    (a rank-``R`` CP form of each ``h_n``, ``n >= 2``), trained with ``optax.adam`` on the mean
    squared error against ``black_box(x)`` for fresh batches ``x = sampler(key_t)``. The
    order-2 products are trained centred, ``(a.x)(b.x) - sigma^2 a.b`` with ``sigma^2`` the
    mean squared pixel of the first batch (folded back into ``h0`` at the end): otherwise
    ``h0`` and the trace of ``h2`` are nearly collinear for normalised inputs and Adam stalls.

    .. math:: \\min_{h} \\; \\mathbb{E}_x \\| \\textstyle\\sum_n H_n * x^n - f(x) \\|^2

    Args:
      key: typed PRNG key (``jax.random.key``): initialisation and the batches.
      black_box: ``f(x)``, NHWC batch to NHWC batch (VALID, output stride ``stride``); only
        its values are used. It must be traceable by JAX (it runs inside ``lax.scan``).
      rf_shape: ``(kh, kw, C)`` of the kernels to fit.
      out_channels: O, the black box's output channels.
      order: highest order fitted (0, 1, 2, ...).
      rank: CP rank R of each ``h_n`` with ``n >= 2``.
      steps: Adam steps.
      learning_rate: float or optax schedule (the authors: 1e-2).
      sampler: ``sampler(key) -> (B, H, W, C)`` with ``H >= kh``; default: batches of
        ``batch_size`` unit-norm Gaussian inputs of shape ``rf_shape`` (`unit_norm_sampler`).
      batch_size: batch size of the default sampler.
      stride: output stride of the black box (the model's stride).

    Returns:
      `HackResult(kernels, losses)`: symmetrised dense `VolterraKernels` of order ``order``
      and the ``(steps,)`` loss history.

    Raises:
      ValueError: bad shapes or settings, or a sampler / black box giving non-finite values.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> w = jnp.arange(4.0).reshape(2, 2, 1, 1) / 4
      >>> box = lambda x: jax.lax.conv_general_dilated(
      ...     x, w, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")) + 1.0
      >>> k, losses = hack(jax.random.key(0), box, (2, 2, 1), 1, order=1, steps=300,
      ...                  learning_rate=0.05)
      >>> bool(jnp.allclose(k.h1, w, atol=1e-2)), bool(jnp.allclose(k.h0, 1.0, atol=1e-2))
      (True, True)
    """
    if not (hasattr(key, "dtype") and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)):
        raise TypeError(f"key must be a typed PRNG key from jax.random.key, got {key!r}")
    if not callable(black_box):
        raise TypeError(f"black_box must be callable, got {type(black_box).__name__}")
    _check_order(order)
    rf_shape = check_rf_shape(rf_shape)
    for name, value in (
        ("out_channels", out_channels),
        ("rank", rank),
        ("steps", steps),
        ("batch_size", batch_size),
        ("stride", stride),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not callable(learning_rate):
        check_real("learning_rate", learning_rate, 0.0, strict=True)
    if sampler is None:
        sampler = unit_norm_sampler(rf_shape, batch_size)
    kh, kw, c = rf_shape

    init_key, data_key = jax.random.split(key)
    x0 = sampler(jax.random.fold_in(data_key, 0))
    as_real_float(x0, "sampler(key), the input batch,")
    xs = getattr(x0, "shape", None)
    if xs is None or len(xs) != 4 or xs[3] != c or xs[1] < kh or xs[2] < kw:
        raise ValueError(
            f"sampler must return an NHWC batch (B, H >= {kh}, W >= {kw}, {c}), got shape {xs}"
        )
    y0 = black_box(x0)
    as_real_float(y0, "black_box(x), the output,")
    expected = (xs[0], (xs[1] - kh) // stride + 1, (xs[2] - kw) // stride + 1, out_channels)
    if tuple(getattr(y0, "shape", ())) != expected:
        raise ValueError(
            f"black_box output must have shape {expected} for input {xs} "
            f"(rf_shape {rf_shape}, stride {stride}), "
            f"got {getattr(y0, 'shape', None)}"
        )
    if _is_concrete(x0, y0):
        if not np.all(np.isfinite(np.asarray(x0))):
            raise ValueError("sampler returned non-finite inputs (NaN or inf)")
        if not np.all(np.isfinite(np.asarray(y0))):
            raise ValueError(
                "black_box returned non-finite outputs (NaN or inf) on the first batch"
            )

    dtype = x0.dtype
    d = kh * kw * c
    # the order-2 features are centred, (a.x)(b.x) - sigma2 a.b, so that h0 and the trace of h2
    # are not nearly collinear (the patch energy of normalised inputs hardly varies)
    sigma2 = jnp.mean(x0 * x0)
    keys = jax.random.split(init_key, max(order - 1, 1))
    # the last factor of each CP term starts at zero (the model starts linear) and the others
    # at unit scale, so no random quadratic output has to be unlearned first
    params = {
        "h0": jnp.zeros((out_channels,), dtype),
        "h1": jnp.zeros(rf_shape + (out_channels,), dtype),
        "low_rank": [
            jnp.concatenate(
                [
                    normal(keys[n - 2], (n - 1,) + rf_shape + (rank, out_channels), dtype)
                    * d**-0.5,
                    jnp.zeros((1,) + rf_shape + (rank, out_channels), dtype),
                ]
            )
            for n in range(2, order + 1)
        ],
    }
    optimizer = optax.adam(learning_rate)

    def loss_fn(p, x):
        y = black_box(x)
        return jnp.mean((_model(p, x, stride, sigma2) - y) ** 2)

    def step(carry, t):
        p, state = carry
        x = sampler(jax.random.fold_in(data_key, t))
        loss, grads = jax.value_and_grad(loss_fn)(p, x)
        updates, state = optimizer.update(grads, state, p)
        return (optax.apply_updates(p, updates), state), loss

    @jax.jit
    def train(p):
        (p, _), losses = lax.scan(step, (p, optimizer.init(p)), jnp.arange(steps))
        return p, losses

    params, losses = train(params)
    low = params["low_rank"]
    terms = [params["h0"] - sum(_centering(f, sigma2) for f in low)]
    if order >= 1:
        terms.append(params["h1"])
    terms += [_dense(f) for f in low]
    if order == 0:
        return HackResult(VolterraKernels(params["h0"]), losses)
    return HackResult(VolterraKernels(*terms), losses)


__all__ = ["HackResult", "hack", "unit_norm_sampler"]
