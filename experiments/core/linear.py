"""A multinomial logistic regression fitted with optax L-BFGS, for fixed features."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax


class LinearClassifier(NamedTuple):
    """``logits = ((features - mean) / scale) @ w + b``."""

    mean: np.ndarray
    scale: np.ndarray
    w: jax.Array
    b: jax.Array

    def logits(self, features: np.ndarray) -> jax.Array:
        z = (features.reshape(len(features), -1) - self.mean) / self.scale
        return z @ self.w + self.b[None, :]

    def error(self, features: np.ndarray, labels: np.ndarray) -> float:
        return float(np.mean(np.argmax(np.asarray(self.logits(features)), -1) != labels))


def fit_logistic(
    features: np.ndarray, labels: np.ndarray, *, l2: float, steps: int, num_classes: int = 10
) -> tuple[LinearClassifier, list[float]]:
    """Fits a standardised-feature logistic regression with an L2 penalty by L-BFGS.

    Minimises ``mean_i CE(z_i w + b, y_i) + l2 * ||w||^2`` with ``z`` the features standardised
    per dimension on the training set. Returns the classifier and the loss after each step.
    """
    x = features.reshape(len(features), -1)
    mean, scale = x.mean(0), x.std(0) + 1e-6
    z = jnp.asarray((x - mean) / scale)
    y = jnp.asarray(labels)

    def loss(p):
        w, b = p
        ce = optax.softmax_cross_entropy_with_integer_labels(z @ w + b[None, :], y).mean()
        return ce + l2 * jnp.sum(w**2)

    opt = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(loss)

    @jax.jit
    def step(p, state):
        value, grad = value_and_grad(p, state=state)
        updates, state = opt.update(grad, state, p, value=value, grad=grad, value_fn=loss)
        return optax.apply_updates(p, updates), state, value

    params = (jnp.zeros((z.shape[1], num_classes), z.dtype), jnp.zeros(num_classes, z.dtype))
    state = opt.init(params)
    history = []
    for _ in range(steps):
        params, state, value = step(params, state)
        history.append(float(value))
    return LinearClassifier(mean, scale, *params), history
