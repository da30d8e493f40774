"""Adversarial perturbations built only from proxy kernels."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int, Real

from cnn_layers._checks import as_real_float, check_real
from volterra_jax._conv import _check_image, _check_kernels, series
from volterra_jax._kernels import VolterraKernels

_NORMS = ("linf", "l2")


def proxy_attack(
    kernels: VolterraKernels,
    x: Real[ArrayLike, "n h w c"],
    label: Int[ArrayLike, "..."],
    *,
    eps: float,
    norm: str = "linf",
    target: Int[ArrayLike, "..."] | None = None,
    steps: int = 1,
    stride: int = 1,
    clip: tuple[float, float] | None = None,
) -> Float[Array, "n h w c"]:
    """Adversarial inputs computed from the Volterra proxy alone (no access to the network).

    The proxy score of class ``k`` is the spatial mean of the series output,
    ``s_k(x) = mean_p series(x, kernels)[p, k]`` (the one output pixel for inputs of the
    receptive-field size; the global mean of the authors' MNIST nets). The attack ascends

    .. math:: J(x) = -s_{label}(x) \\quad\\text{or}\\quad s_{target}(x) - s_{label}(x)

    with ``steps`` projected steps in the ``eps`` ball: one step is
    ``x + eps * sign(grad J)`` (``linf``) or ``x + eps * grad J / ||grad J||`` (``l2``); with
    order-1 kernels the ``linf`` step is ``-eps * sign(h1[..., label])`` summed over positions.

    Args:
      kernels: proxy `VolterraKernels` (from `hack`, `proxy_kernels` or `from_layers`).
      x: NHWC batch ``(N, H, W, C)``.
      label: ``(N,)`` ints (or one int for all), the class whose score is lowered, in
        ``[0, O)`` with ``O = kernels.out_channels``.
      eps: perturbation budget (>= 0) in the chosen norm, per example.
      norm: 'linf' or 'l2'.
      target: optional ``(N,)`` ints in ``[0, O)``, a class whose score is raised at the same
        time.
      steps: projected gradient steps on the proxy (1 = a single FGSM-style step).
      stride: stride of the proxy's output grid.
      clip: optional ``(lo, hi)`` range for the adversarial pixels, ``lo < hi``.

    Returns:
      The adversarial inputs ``x + delta``, shape of ``x``; NaN for an example whose traced
      ``label`` or ``target`` is outside ``[0, O)`` (concrete ones raise instead).

    Raises:
      ValueError: a ``label`` or ``target`` outside ``[0, O)`` or of the wrong shape, a
        negative or non-finite ``eps``, ``clip`` not a pair with ``lo < hi``, an unknown
        ``norm``, bad ``steps`` or ``stride``, ``x`` that does not fit the kernels.
      TypeError: non-integer ``label``/``target``, complex ``x``, kernels that are not
        `VolterraKernels`.

    Examples:
      >>> import jax.numpy as jnp
      >>> h1 = jnp.array([1.0, -2.0]).reshape(2, 1, 1, 1)
      >>> k = VolterraKernels(jnp.zeros(1), h1)
      >>> proxy_attack(k, jnp.zeros((1, 2, 1, 1)), jnp.array([0]), eps=0.1)[0, :, 0, 0]
      Array([-0.1,  0.1], dtype=float32)
    """
    _check_kernels(kernels)
    if norm not in _NORMS:
        raise ValueError(f"norm must be one of {_NORMS}, got {norm!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    x = as_real_float(x, "x")
    _check_image(x, kernels.rf_shape, stride)
    classes = kernels.out_channels
    label = _check_classes("label", label, x.shape[0], classes)
    if target is not None:
        target = _check_classes("target", target, x.shape[0], classes)
    if isinstance(eps, jax.Array):  # a traced budget: its value is the caller's to check
        if eps.shape != () or not jnp.issubdtype(eps.dtype, jnp.floating):
            raise TypeError(f"eps must be a float scalar, got {eps.dtype}{list(eps.shape)}")
        if not isinstance(eps, jax.core.Tracer):
            check_real("eps", float(eps), 0.0)
    else:
        eps = check_real("eps", eps, 0.0)
    if clip is not None:
        if not isinstance(clip, tuple | list) or len(clip) != 2:
            raise ValueError(f"clip must be None or a pair (lo, hi), got {clip!r}")
        lo, hi = (check_real("clip", v) for v in clip)
        if not lo < hi:
            raise ValueError(f"clip must be a pair (lo, hi) with lo < hi, got {clip!r}")
        clip = (lo, hi)
    return _attack(kernels, x, label, target, eps, norm=norm, steps=steps, stride=stride, clip=clip)


@functools.partial(jax.jit, static_argnames=("norm", "steps", "stride", "clip"))
def _attack(kernels, x, label, target, eps, *, norm, steps, stride, clip):
    # Kernels are arguments, not closed-over constants: XLA would otherwise constant-fold the
    # convolutions with them at compile time, and every call would compile anew.
    def objective(z):
        scores = jnp.mean(series(z, kernels, stride=stride), axis=(1, 2))  # (N, O)
        j = -_score(scores, label)
        if target is not None:
            j = j + _score(scores, target)
        return jnp.sum(j)

    def project(delta):
        if norm == "linf":
            return jnp.clip(delta, -eps, eps)
        n = jnp.sqrt(jnp.sum(delta * delta, axis=(1, 2, 3), keepdims=True))
        return delta * jnp.minimum(1.0, eps / jnp.maximum(n, jnp.finfo(delta.dtype).tiny))

    def direction(g):
        if norm == "linf":
            return jnp.sign(g)
        n = jnp.sqrt(jnp.sum(g * g, axis=(1, 2, 3), keepdims=True))
        return g / jnp.maximum(n, jnp.finfo(g.dtype).tiny)

    size = eps if steps == 1 else 2.5 * eps / steps
    delta = jnp.zeros_like(x)
    for _ in range(steps):
        g = jax.grad(objective)(x + delta)
        delta = project(delta + size * direction(g))
    out = x + delta
    if clip is not None:
        out = jnp.clip(out, clip[0], clip[1])
    # a traced class outside the kernels' outputs: NaN, never a plausible adversarial input
    ok = _inside(label, kernels.out_channels)
    if target is not None:
        ok = ok & _inside(target, kernels.out_channels)
    return jnp.where(ok[:, None, None, None], out, jnp.nan)


def _check_classes(name: str, value, n: int, classes: int):
    """Integer class indices, one per example (a scalar is broadcast); values checked when
    concrete (a ValueError outside ``[0, classes)``), left to ``_score`` when traced."""
    if not isinstance(value, jax.Array):
        value = np.asarray(value)
    if not jnp.issubdtype(value.dtype, jnp.integer):
        raise TypeError(f"{name} must hold integer class indices, got dtype {value.dtype}")
    if value.shape not in ((), (n,)):
        raise ValueError(
            f"{name} must have shape ({n},) (one class per example of x) or be a "
            f"scalar, got shape {value.shape}"
        )
    if not isinstance(value, jax.core.Tracer):
        bad = np.asarray(value)[(np.asarray(value) < 0) | (np.asarray(value) >= classes)]
        if bad.size:
            raise ValueError(
                f"{name} must be class indices in [0, {classes}) (the kernels have "
                f"{classes} outputs), got {bad.tolist()}"
            )
    return jnp.broadcast_to(value, (n,))


def _inside(classes, n: int):
    return (classes >= 0) & (classes < n)


def _score(scores, classes):
    """``scores[i, classes[i]]`` (a class outside ``[0, O)``, possible only when traced, reads
    a clipped index here and turns the attack's output to NaN)."""
    index = jnp.clip(classes, 0, scores.shape[1] - 1)[:, None]
    return jnp.take_along_axis(scores, index, axis=1)


__all__ = ["proxy_attack"]
