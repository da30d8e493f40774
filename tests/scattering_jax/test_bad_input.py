"""Bad input to every public function of scattering_jax: a clear error naming the argument."""

import jax.numpy as jnp
import numpy as np
import pytest

import scattering_jax as sj
from tests.bad_input import case, check, params, unchecked

FB1 = sj.filter_bank_1d(64, J=2)
FB2 = sj.filter_bank_2d((16, 16), J=2, L=4)
X1 = jnp.ones((2, 64))
X2 = jnp.ones((2, 16, 16))
SCALES = jnp.array([2.0, 4.0])

with unchecked():  # some cases build their bad arguments up front
    CASES = [
        # filter banks
        case("filter_bank_1d/length", sj.filter_bank_1d, 0, J=2, exc=ValueError, words="length"),
        case("filter_bank_1d/length float", sj.filter_bank_1d, 64.0, J=2, exc=TypeError,
             words="length"),
        case("filter_bank_1d/J 0", sj.filter_bank_1d, 64, J=0, exc=ValueError, words="J"),
        case("filter_bank_1d/J large", sj.filter_bank_1d, 64, J=7, exc=ValueError, words="J"),
        case("filter_bank_1d/J huge", sj.filter_bank_1d, 64, J=400, exc=ValueError, words="J"),
        case("filter_bank_1d/Q", sj.filter_bank_1d, 64, J=2, Q=0, exc=ValueError, words="Q"),
        case("filter_bank_1d/Q huge", sj.filter_bank_1d, 64, J=2, Q=10**8, exc=ValueError,
             words="Q"),
        case("filter_bank_1d/dtype int", sj.filter_bank_1d, 64, J=2, dtype=jnp.int32,
             exc=TypeError, words="dtype"),
        case("filter_bank_1d/dtype complex", sj.filter_bank_1d, 64, J=2, dtype=jnp.complex64,
             exc=TypeError, words="dtype"),
        case("filter_bank_1d/length huge", sj.filter_bank_1d, 2**40, J=2, exc=ValueError,
             words="length"),
        case("filter_bank_2d/shape", sj.filter_bank_2d, 16, J=2, exc=TypeError, words="shape"),
        case("filter_bank_2d/shape rank", sj.filter_bank_2d, (16, 16, 1), J=2, exc=ValueError,
             words="shape"),
        case("filter_bank_2d/shape float", sj.filter_bank_2d, (16.0, 16.0), J=2, exc=TypeError,
             words="shape"),
        case("filter_bank_2d/J large", sj.filter_bank_2d, (16, 16), J=5, exc=ValueError,
             words="J"),
        case("filter_bank_2d/J bool", sj.filter_bank_2d, (16, 16), J=True, exc=TypeError,
             words="J"),
        case("filter_bank_2d/L", sj.filter_bank_2d, (16, 16), J=2, L=0, exc=ValueError,
             words="L"),
        case("filter_bank_2d/L huge", sj.filter_bank_2d, (16, 16), J=2, L=10**6, exc=ValueError,
             words="L"),
        case("filter_bank_2d/shape huge", sj.filter_bank_2d, (2**20, 2**20), J=2, exc=ValueError,
             words="shape"),
        case("filter_bank_2d/dtype int", sj.filter_bank_2d, (16, 16), J=2, dtype=jnp.int32,
             exc=TypeError, words="dtype"),
        # paths
        case("paths_1d/filters", sj.paths_1d, FB2, exc=TypeError, words="filters"),
        case("paths_1d/max_order", sj.paths_1d, FB1, 3, exc=ValueError, words="max_order"),
        case("paths_2d/J", sj.paths_2d, 0, exc=ValueError, words="J"),
        case("paths_2d/L", sj.paths_2d, 2, 0, exc=ValueError, words="L"),
        case("paths_2d/max_order", sj.paths_2d, 2, 4, 0, exc=ValueError, words="max_order"),
        case("paths_2d/max_order float", sj.paths_2d, 2, 4, 2.0, exc=TypeError,
             words="max_order"),
        # transforms
        case("scattering1d/filters", sj.scattering1d, X1, FB2, J=2, exc=TypeError,
             words="filters"),
        case("scattering1d/J", sj.scattering1d, X1, FB1, J=3, exc=ValueError, words="J"),
        case("scattering1d/max_order", sj.scattering1d, X1, FB1, J=2, max_order=3, exc=ValueError,
             words="max_order"),
        case("scattering1d/x length", sj.scattering1d, jnp.ones((2, 63)), FB1, J=2,
             exc=ValueError, words="x"),
        case("scattering1d/x rank", sj.scattering1d, jnp.ones(()), FB1, J=2, exc=ValueError,
             words="x"),
        case("scattering1d/x complex", sj.scattering1d, X1.astype(jnp.complex64), FB1, J=2,
             exc=TypeError, words="x"),
        case("scattering1d/x bool", sj.scattering1d, X1.astype(bool), FB1, J=2, exc=TypeError,
             words="x"),
        case("scattering1d/x str", sj.scattering1d, np.full((2, 64), "a"), FB1, J=2,
             exc=TypeError, words="x"),
        case("scattering2d/filters", sj.scattering2d, X2, FB1, J=2, exc=TypeError,
             words="filters"),
        case("scattering2d/J", sj.scattering2d, X2, FB2, J=1, exc=ValueError, words="J"),
        case("scattering2d/max_order", sj.scattering2d, X2, FB2, J=2, max_order=0,
             exc=ValueError, words="max_order"),
        case("scattering2d/x shape", sj.scattering2d, jnp.ones((2, 16, 15)), FB2, J=2,
             exc=ValueError, words="x"),
        case("scattering2d/x rank", sj.scattering2d, jnp.ones(16), FB2, J=2, exc=ValueError,
             words="x"),
        case("scattering2d/x complex", sj.scattering2d, X2.astype(jnp.complex64), FB2, J=2,
             exc=TypeError, words="x"),
        case("Scattering2D/J", sj.Scattering2D, 0, (16, 16), exc=ValueError, words="J"),
        case("Scattering2D/shape", sj.Scattering2D, 2, (16,), exc=ValueError, words="shape"),
        case("Scattering2D/max_order", sj.Scattering2D, 2, (16, 16), max_order=3, exc=ValueError,
             words="max_order"),
        case("Scattering2D/x", lambda x: sj.Scattering2D(2, (16, 16), L=4)(x), jnp.ones((8, 8)),
             exc=ValueError, words="x"),
        case("cwt/wavelet", sj.cwt, X1, SCALES, wavelet="haar", exc=ValueError, words="wavelet"),
        case("cwt/x rank", sj.cwt, jnp.ones(()), SCALES, exc=ValueError, words="x"),
        case("cwt/x str", sj.cwt, np.full(8, "a"), SCALES, exc=TypeError, words="x"),
        case("cwt/x bool", sj.cwt, jnp.ones(8, bool), SCALES, exc=TypeError, words="x"),
        case("cwt/scales rank", sj.cwt, X1, jnp.ones((2, 2)), exc=ValueError, words="scales"),
        case("cwt/scales empty", sj.cwt, X1, jnp.ones((0,)), exc=ValueError, words="scales"),
        case("cwt/scales complex", sj.cwt, X1, SCALES.astype(jnp.complex64), exc=TypeError,
             words="scales"),
        case("cwt/scales negative", sj.cwt, X1, -SCALES, exc=ValueError, words="scales",
             traced=False),
        case("cwt/scales nan", sj.cwt, X1, SCALES.at[0].set(jnp.nan), exc=ValueError,
             words="scales", traced=False),
        case("windowed_fourier/hop", sj.windowed_fourier, X1, jnp.ones(8), hop=0, exc=ValueError,
             words="hop"),
        case("windowed_fourier/hop float", sj.windowed_fourier, X1, jnp.ones(8), hop=2.0,
             exc=TypeError, words="hop"),
        case("windowed_fourier/window rank", sj.windowed_fourier, X1, jnp.ones((2, 8)), hop=2,
             exc=ValueError, words="window"),
        case("windowed_fourier/window long", sj.windowed_fourier, X1, jnp.ones(65), hop=2,
             exc=ValueError, words="window"),
        case("windowed_fourier/window empty", sj.windowed_fourier, X1, jnp.ones(0), hop=2,
             exc=ValueError, words="window"),
        case("windowed_fourier/window nan", sj.windowed_fourier, X1, jnp.full(8, jnp.nan), hop=2,
             exc=ValueError, words="window", traced=False),
        case("windowed_fourier/x rank", sj.windowed_fourier, jnp.ones(()), jnp.ones(1), hop=1,
             exc=ValueError, words="x"),
        case("windowed_fourier/x str", sj.windowed_fourier, np.full(8, "a"), jnp.ones(4), hop=1,
             exc=TypeError, words="x"),
        case("windowed_fourier/window bool", sj.windowed_fourier, X1, jnp.ones(8, bool), hop=1,
             exc=TypeError, words="window"),
    ]  # fmt: skip

VALUES, IDS = params(CASES)


@pytest.mark.parametrize("c, jit", VALUES, ids=IDS)
def test_bad_input_raises_a_clear_error(c, jit):
    check(c, jit=jit)


def test_integer_signals_are_promoted_not_truncated():
    x = jnp.arange(64) % 7
    np.testing.assert_allclose(
        sj.scattering1d(x, FB1, J=2), sj.scattering1d(x.astype(jnp.float32), FB1, J=2)
    )
