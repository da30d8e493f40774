"""Mosaic parsing, slice ordering, kernel assembly and initialisation."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from analytic_jax import (
    MosaicSpec,
    get_family,
    init_mosaic,
    kernel_slices,
    mosaic_kernels,
    param_count,
    parse_mosaic,
    pixel_grid,
    slices_kernel,
)

PAPER = "(3x64)G30Lg15Lt15Tf30Ts6P96"


def test_parse_paper_arrangement():
    spec = parse_mosaic(PAPER, kernel_size=11)
    assert (spec.in_features, spec.out_features, spec.kernel_size) == (3, 64, 11)
    assert spec.counts == {"G": 30, "Lg": 15, "Lt": 15, "Tf": 30, "Ts": 6, "P": 96}
    assert spec.codes[:30] == ("G",) * 30 and spec.codes[30] == "Lg" and spec.codes[-1] == "P"
    assert spec.arrangement == PAPER
    assert parse_mosaic(spec.arrangement, kernel_size=11) == spec
    assert hash(spec) == hash(parse_mosaic(" ( 3 x 64 ) G30 Lg15Lt15Tf30Ts6P96", kernel_size=11))
    np.testing.assert_array_equal(spec.indices("Lg"), np.arange(30, 45))
    want = 30 * 6 + 15 * 2 + 15 * 2 + 30 * 3 + 6 * 3 + 96 * 121
    assert param_count(spec) == want


def test_parse_prefix_optional_and_repeats():
    spec = parse_mosaic("G2P1G1", kernel_size=3, in_features=2, out_features=2)
    assert spec.codes == ("G", "G", "P", "G")
    assert spec.family_order == ("G", "P") and spec.counts == {"G": 3, "P": 1}
    assert spec.arrangement == "(2x2)G2P1G1"


@pytest.mark.parametrize(
    "text, match",
    [
        ("(3x2)G3Q3", "unknown family code 'Q'"),
        ("(3x2)G3P2", "add up to 5, expected I \\* O = 3 \\* 2 = 6"),
        ("(3x2)G0P6", "count 0; counts must be positive"),
        ("(3x2)G-3P9", "count -3; counts must be positive"),
        ("(3x2)G3P", "malformed arrangement"),
        ("(3x2)g3P3", "malformed arrangement"),
        ("(3x2)G3;P3", "malformed arrangement"),
        ("(3x2)", "no '<code><count>' tokens"),
        ("(3,2)G6", "expected a prefix"),
        ("G6", "no '\\(IxO\\)' prefix"),
    ],
)
def test_parse_rejects(text, match):
    with pytest.raises(ValueError, match=match):
        parse_mosaic(text, kernel_size=3)


@pytest.mark.bad_input
def test_parse_and_spec_argument_errors():
    with pytest.raises(ValueError, match="declares in_features=3, but in_features=4"):
        parse_mosaic("(3x2)P6", kernel_size=3, in_features=4)
    with pytest.raises(TypeError, match="arrangement must be a str"):
        parse_mosaic(["P6"], kernel_size=3)
    with pytest.raises(ValueError, match="kernel_size must be an int >= 1"):
        parse_mosaic("(3x2)P6", kernel_size=0)
    with pytest.raises(ValueError, match="needs kernel_size >= 3"):
        parse_mosaic("(1x2)Tf1P1", kernel_size=1)
    with pytest.raises(ValueError, match="6 family codes, got 5"):
        MosaicSpec(3, 2, 3, ("P",) * 5)
    with pytest.raises(TypeError, match="MosaicSpec"):
        param_count("(3x2)P6")


@pytest.mark.bad_input
def test_slice_order_matches_loop():
    i_n, o_n, k = 2, 3, 3
    kernel = jnp.arange(k * k * i_n * o_n, dtype=jnp.float32).reshape(k, k, i_n, o_n)
    sl = jax.jit(kernel_slices)(kernel)
    for o in range(o_n):
        for i in range(i_n):
            np.testing.assert_array_equal(sl[o * i_n + i], kernel[:, :, i, o])
    back = jax.jit(slices_kernel, static_argnums=(1, 2))(sl, i_n, o_n)
    np.testing.assert_array_equal(back, kernel)
    with pytest.raises(ValueError, match=r"shape \(k, k, I, O\)"):
        kernel_slices(jnp.zeros((3, 4, 1, 1)))
    with pytest.raises(ValueError, match=r"shape \(6, k, k\)"):
        slices_kernel(sl[:5], 2, 3)


@pytest.mark.parametrize("arrangement", ["(2x3)G1Lg1Lt1Tf1Ts1P1", "(2x3)Tf2P1Lg1Tf1Ts1"])
def test_mosaic_kernels_matches_loop(arrangement):
    spec = parse_mosaic(arrangement, kernel_size=5)
    with jax.enable_x64(True):
        params = init_mosaic(jax.random.key(1), spec, dtype=jnp.float64)
        kern = jax.jit(mosaic_kernels, static_argnums=1)(params, spec)
        assert kern.shape == (5, 5, 2, 3) and kern.dtype == jnp.float64
        # oracle: the single-slice Family.kernel, one call per slice
        single = jax.jit(jax.vmap(lambda r, c: get_family(c).kernel(r, pixel_grid(5, r.dtype)),
                                  in_axes=(0, None)), static_argnums=1)  # fmt: skip
        per_family = {c: np.asarray(single(t, c)) for c, t in params.items()}
        row = dict.fromkeys(spec.family_order, 0)
        for s, code in enumerate(spec.codes):  # slices are numbered s = o * I + i
            o, i = divmod(s, spec.in_features)
            want = per_family[code][row[code]]
            row[code] += 1
            np.testing.assert_allclose(kern[:, :, i, o], want, rtol=1e-12, atol=1e-14)


@pytest.mark.bad_input
def test_mosaic_kernels_rejects_bad_params():
    spec = parse_mosaic("(1x2)Tf1P1", kernel_size=3)
    params = {"Tf": jnp.zeros((1, 3)), "P": jnp.zeros((1, 9))}
    with pytest.raises(ValueError, match="one AKP table per family"):
        mosaic_kernels({"Tf": params["Tf"]}, spec)
    with pytest.raises(ValueError, match=r"params\['P'\] must have shape \(1, 9\)"):
        mosaic_kernels({**params, "P": jnp.zeros((1, 8))}, spec)


def test_init_mosaic_scale_and_keys():
    spec = parse_mosaic("(2x3)G1Lg1Lt1Tf1Ts1P1", kernel_size=5)
    params = init_mosaic(jax.random.key(0), spec)
    assert {c: t.shape for c, t in params.items()} == {
        c: (n, get_family(c).n_params(5)) for c, n in spec.counts.items()
    }
    assert all(t.dtype == jnp.float32 for t in params.values())
    assert sum(t.size for t in params.values()) == param_count(spec)
    kern = jax.jit(mosaic_kernels, static_argnums=1)(params, spec)
    norms = np.linalg.norm(np.asarray(kernel_slices(kern)), axis=(1, 2))
    np.testing.assert_allclose(norms[:5], 1 / math.sqrt(2), rtol=1e-5)  # analytic slices
    signs = set()
    for seed in range(4):
        again = init_mosaic(jax.random.key(seed), spec)
        signs |= {bool(again[c][0, 0] > 0) for c in ("G", "Lg", "Lt", "Tf", "Ts")}
    assert signs == {True, False}  # random-sign amplitudes
    again = jax.jit(init_mosaic, static_argnums=1)(jax.random.key(0), spec)
    other = init_mosaic(jax.random.key(1), spec)
    assert all(bool(jnp.all(params[c] == again[c])) for c in params)
    assert not any(bool(jnp.all(params[c] == other[c])) for c in params)
