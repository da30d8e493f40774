"""The 2D transform's coarse loop on small images: its own thresholds start it only where it
replaces four scales or more, at resolutions of at most 1/64 of the padded image (J >= 7);
filter banks built under :func:`coarse_loop_from_resolution_1` run it from resolution 1
whenever that leaves two scales or more (J >= 3)."""

import contextlib
from unittest import mock

import scattering_jax._filters_2d as filters_2d


@contextlib.contextmanager
def coarse_loop_from_resolution_1():
    with (
        mock.patch.object(filters_2d, "_COARSE_PIXELS", 2**62),
        mock.patch.object(filters_2d, "_COARSE_FRACTION", 1),
        mock.patch.object(filters_2d, "_MIN_LOOP_STEPS", 2),
    ):
        yield
