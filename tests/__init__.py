from tests import typecheck  # noqa: F401  (jaxtyping's import hook reads tests.typecheck)
