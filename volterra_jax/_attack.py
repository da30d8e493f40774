"""Adversarial perturbations built only from proxy kernels."""

import functools

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from volterra_jax._conv import _check_kernels, series
from volterra_jax._kernels import VolterraKernels

_NORMS = ("linf", "l2")


def proxy_attack(
    kernels: VolterraKernels,
    x: Float[Array, "n h w c"],
    label: Int[Array, " n"],
    *,
    eps: float,
    norm: str = "linf",
    target: Int[Array, " n"] | None = None,
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
      label: ``(N,)`` ints, the class whose score is lowered.
      eps: perturbation budget (>= 0) in the chosen norm, per example.
      norm: 'linf' or 'l2'.
      target: optional ``(N,)`` ints, a class whose score is raised at the same time.
      steps: projected gradient steps on the proxy (1 = a single FGSM-style step).
      stride: stride of the proxy's output grid.
      clip: optional ``(lo, hi)`` range for the adversarial pixels.

    Returns:
      The adversarial inputs ``x + delta``, shape of ``x``.

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
    shape = getattr(x, "shape", None)
    if shape is None or len(shape) != 4:
        raise ValueError(f"x must be an NHWC batch of shape (N, H, W, C), got shape {shape}")
    label = jnp.broadcast_to(jnp.asarray(label), shape[:1])
    if target is not None:
        target = jnp.broadcast_to(jnp.asarray(target), shape[:1])

    clip = None if clip is None else (float(clip[0]), float(clip[1]))
    return _attack(kernels, x, label, target, eps, norm=norm, steps=steps, stride=stride, clip=clip)


@functools.partial(jax.jit, static_argnames=("norm", "steps", "stride", "clip"))
def _attack(kernels, x, label, target, eps, *, norm, steps, stride, clip):
    # Kernels are arguments, not closed-over constants: XLA would otherwise constant-fold the
    # convolutions with them at compile time, and every call would compile anew.
    def objective(z):
        scores = jnp.mean(series(z, kernels, stride=stride), axis=(1, 2))  # (N, O)
        j = -jnp.take_along_axis(scores, label[:, None], axis=1)
        if target is not None:
            j = j + jnp.take_along_axis(scores, target[:, None], axis=1)
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
    return out


__all__ = ["proxy_attack"]
