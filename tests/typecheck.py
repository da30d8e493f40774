"""The runtime type checker the test command hands to jaxtyping (``--jaxtyping-packages``).

jaxtyping checks shapes and dtypes through a PEP 484 checker; it ships one (typeguard 2.13,
vendored as ``jaxtyping._typeguard``), so the tests need no extra dependency. The import hook
calls ``tests.typecheck.typechecked(fn)`` on every function of the checked packages.
"""

from jaxtyping._typeguard import typechecked

__all__ = ["typechecked"]
