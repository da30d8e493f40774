"""Bad input to every public function of analytic_jax: a clear error naming the argument."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import analytic_jax as aj
from tests.bad_input import case, check, params, unchecked

KEY = jax.random.key(0)
SPEC = aj.parse_mosaic("(1x2)Lg1P1", kernel_size=3)
PARAMS = aj.init_mosaic(KEY, SPEC)
U = jnp.arange(-2.0, 3.0)
TARGET = jnp.ones((3, 3, 1, 2))
NAN_TARGET = TARGET.at[:, :, 0, 1].set(jnp.nan)
SLICES = jnp.ones((2, 3, 3))
FAMILY = aj.get_family("Lg")


def conv(**kwargs):
    settings = dict(in_features=1, out_features=2, kernel_size=3, rngs=nnx.Rngs(0))
    return aj.AnalyticConv(**(settings | kwargs))


with unchecked():  # some cases build their bad arguments up front
    CASES = [
        # the TGD operators
        case("tgd1/u complex", aj.tgd_first_order, U.astype(jnp.complex64), 1.0, exc=TypeError,
             words="u"),
        case("tgd1/sigma negative", aj.tgd_first_order, U, -1.0, exc=ValueError, words="sigma"),
        case("tgd1/sigma zero", aj.tgd_first_order, U, 0.0, exc=ValueError, words="sigma"),
        case("tgd1/sigma array", aj.tgd_first_order, U, jnp.array(-1.0), exc=ValueError,
             words="sigma", traced=False),
        case("tgd1/sigma complex", aj.tgd_first_order, U, 1j, exc=TypeError, words="sigma"),
        case("tgd2/half_width negative", aj.tgd_second_order, U, 1.0, -2.5, exc=ValueError,
             words="half_width"),
        case("tgd2/half_width nan", aj.tgd_second_order, U, 1.0, float("nan"), exc=ValueError,
             words="half_width"),
        case("tgd2/half_width array", aj.tgd_second_order, U, 1.0, jnp.array(2.5), exc=TypeError,
             words="half_width"),
        case("tgd2/sigma negative", aj.tgd_second_order, U, -1.0, 2.5, exc=ValueError,
             words="sigma"),
        case("tgd2/u str", aj.tgd_second_order, np.array(["a"]), 1.0, 2.5, exc=TypeError,
             words="u"),
        # the registry
        case("get_family/unknown", aj.get_family, "Q", exc=ValueError, words="Q"),
        case("get_family/type", aj.get_family, ["G"], exc=TypeError, words="code"),
        case("register_family/type", aj.register_family, "G", exc=TypeError, words="family"),
        case("register_family/code", lambda: aj.register_family(
             aj.Family("g", "bad", (), (), None, None, None)), exc=ValueError, words="code"),
        case("register_family/code type", lambda: aj.register_family(
             aj.Family(3, "bad", (), (), None, None, None)), exc=TypeError, words="code"),
        case("pixel_grid/size 0", aj.pixel_grid, 0, exc=ValueError, words="kernel_size"),
        case("pixel_grid/size float", aj.pixel_grid, 3.0, exc=TypeError, words="kernel_size"),
        case("pixel_grid/size bool", aj.pixel_grid, True, exc=TypeError, words="kernel_size"),
        case("pixel_grid/dtype int", aj.pixel_grid, 3, jnp.int32, exc=TypeError, words="dtype"),
        case("family_kernels/size 1", aj.family_kernels, jnp.ones((1, 2)), "Lg", 1,
             exc=ValueError, words="kernel_size"),
        case("family_kernels/size 2", aj.family_kernels, jnp.ones((1, 3)), "Tf", 2,
             exc=ValueError, words="kernel_size"),
        case("family_kernels/size float", aj.family_kernels, jnp.ones((1, 2)), "Lg", 5.0,
             exc=TypeError, words="kernel_size"),
        case("family_kernels/raw shape", aj.family_kernels, jnp.ones((1, 3)), "Lg", 5,
             exc=ValueError, words="raw"),
        case("family_kernels/raw int", aj.family_kernels, jnp.ones((1, 2), int), "Lg", 5,
             exc=TypeError, words="raw"),
        case("family_kernels/raw complex", aj.family_kernels, jnp.ones((1, 2), jnp.complex64),
             "Lg", 5, exc=TypeError, words="raw"),
        case("family_kernels/code", aj.family_kernels, jnp.ones((1, 2)), "X", 5, exc=ValueError,
             words="X"),
        case("Family.kernel/raw shape", FAMILY.kernel, jnp.ones(3), aj.pixel_grid(3),
             exc=ValueError, words="raw"),
        case("Family.kernels/raw shape", FAMILY.kernels, jnp.ones((2, 3)), aj.pixel_grid(3),
             exc=ValueError, words="raw"),
        case("Family.kernels/grid", FAMILY.kernels, jnp.ones((2, 2)), jnp.ones((3, 3)),
             exc=ValueError, words="grid"),
        # mosaics
        case("parse_mosaic/type", aj.parse_mosaic, 3, kernel_size=3, exc=TypeError,
             words="arrangement"),
        case("parse_mosaic/prefix", aj.parse_mosaic, "(1x)G1", kernel_size=3, exc=ValueError,
             words="arrangement"),
        case("parse_mosaic/no prefix", aj.parse_mosaic, "G1", kernel_size=3, exc=ValueError,
             words="in_features"),
        case("parse_mosaic/code", aj.parse_mosaic, "(1x1)Q1", kernel_size=3, exc=ValueError,
             words="Q"),
        case("parse_mosaic/count", aj.parse_mosaic, "(1x1)G0", kernel_size=3, exc=ValueError,
             words="count"),
        case("parse_mosaic/sum", aj.parse_mosaic, "(1x2)G1", kernel_size=3, exc=ValueError,
             words="I * O"),
        case("parse_mosaic/token", aj.parse_mosaic, "(1x1)G1x", kernel_size=3, exc=ValueError,
             words="x"),
        case("parse_mosaic/disagree", aj.parse_mosaic, "(1x1)G1", kernel_size=3, in_features=2,
             exc=ValueError, words="in_features"),
        case("parse_mosaic/kernel_size", aj.parse_mosaic, "(1x1)G1", kernel_size=2,
             exc=ValueError, words="kernel_size"),
        case("parse_mosaic/kernel_size float", aj.parse_mosaic, "(1x1)P1", kernel_size=3.0,
             exc=TypeError, words="kernel_size"),
        case("MosaicSpec/codes", aj.MosaicSpec, 1, 2, 3, ("P",), exc=ValueError, words="codes"),
        case("MosaicSpec/in_features", aj.MosaicSpec, 0, 2, 3, (), exc=ValueError,
             words="in_features"),
        case("param_count/spec", aj.param_count, "(1x1)P1", exc=TypeError, words="spec"),
        case("kernel_slices/shape", aj.kernel_slices, jnp.ones((3, 2, 1, 1)), exc=ValueError,
             words="kernel"),
        case("kernel_slices/rank", aj.kernel_slices, jnp.ones((3, 3, 1)), exc=ValueError,
             words="kernel"),
        case("slices_kernel/count", aj.slices_kernel, SLICES, 1, 3, exc=ValueError,
             words="slices"),
        case("slices_kernel/square", aj.slices_kernel, jnp.ones((2, 3, 2)), 1, 2, exc=ValueError,
             words="slices"),
        case("slices_kernel/features", aj.slices_kernel, SLICES, 1.0, 2, exc=TypeError,
             words="in_features"),
        case("mosaic_kernels/spec", aj.mosaic_kernels, PARAMS, "(1x2)Lg1P1", exc=TypeError,
             words="spec"),
        case("mosaic_kernels/params keys", aj.mosaic_kernels, {"Lg": PARAMS["Lg"]}, SPEC,
             exc=ValueError, words="params"),
        case("mosaic_kernels/params shape", aj.mosaic_kernels, PARAMS | {"P": jnp.ones((1, 4))},
             SPEC, exc=ValueError, words="params['P']"),
        case("mosaic_kernels/params int", aj.mosaic_kernels, PARAMS | {"P": jnp.ones((1, 9), int)},
             SPEC, exc=TypeError, words="params['P']"),
        case("init_mosaic/key", aj.init_mosaic, 0, SPEC, exc=TypeError, words="key"),
        case("init_mosaic/spec", aj.init_mosaic, KEY, "(1x2)Lg1P1", exc=TypeError, words="spec"),
        case("init_mosaic/dtype", aj.init_mosaic, KEY, SPEC, dtype=jnp.int32, exc=TypeError,
             words="dtype"),
        case("akp_values/spec", aj.akp_values, PARAMS, "(1x2)Lg1P1", exc=TypeError, words="spec"),
        case("akp_values/params", aj.akp_values, {"P": PARAMS["P"]}, SPEC, exc=ValueError,
             words="params"),
        # fitting
        case("fit_family/code plain", aj.fit_family, KEY, SLICES, code="P", exc=ValueError,
             words="code"),
        case("fit_family/code unknown", aj.fit_family, KEY, SLICES, code="Q", exc=ValueError,
             words="Q"),
        case("fit_family/slices", aj.fit_family, KEY, jnp.ones((2, 3, 2)), code="Lg",
             exc=ValueError, words="slices"),
        case("fit_family/slices small", aj.fit_family, KEY, jnp.ones((2, 2, 2)), code="Lg",
             exc=ValueError, words="kernel_size"),
        case("fit_family/slices complex", aj.fit_family, KEY, SLICES.astype(jnp.complex64),
             code="Lg", exc=TypeError, words="slices"),
        case("fit_family/steps", aj.fit_family, KEY, SLICES, code="Lg", steps=0, exc=ValueError,
             words="steps"),
        case("fit_family/learning_rate", aj.fit_family, KEY, SLICES, code="Lg",
             learning_rate=-0.1, exc=ValueError, words="learning_rate"),
        case("fit_family/n_angles", aj.fit_family, KEY, SLICES, code="Tf", n_angles=0,
             exc=ValueError, words="n_angles"),
        case("fit_family/n_scales", aj.fit_family, KEY, SLICES, code="Lg", n_scales=0,
             exc=ValueError, words="n_scales"),
        case("fit_family/key", aj.fit_family, 0, SLICES, code="Lg", exc=TypeError, words="key"),
        case("fit_kernels/target nan", aj.fit_kernels, KEY, NAN_TARGET, steps=3, exc=ValueError,
             words=("target", "slice")),
        case("fit_kernels/target shape", aj.fit_kernels, KEY, jnp.ones((3, 2, 1, 1)),
             exc=ValueError, words="target"),
        case("fit_kernels/target int", aj.fit_kernels, KEY, jnp.ones((3, 3, 1, 1), int),
             exc=TypeError, words="target"),
        case("fit_kernels/families str", aj.fit_kernels, KEY, TARGET, families="Lg",
             exc=TypeError, words="families"),
        case("fit_kernels/families plain", aj.fit_kernels, KEY, TARGET, families=("P",),
             exc=ValueError, words="families"),
        case("fit_kernels/threshold", aj.fit_kernels, KEY, TARGET, threshold=-1.0,
             exc=ValueError, words="threshold"),
        case("fit_kernels/threshold nan", aj.fit_kernels, KEY, TARGET, threshold=float("nan"),
             exc=ValueError, words="threshold"),
        case("fit_kernels/steps", aj.fit_kernels, KEY, TARGET, steps=-5, exc=ValueError,
             words="steps"),
        # AnalyticConv
        case("AnalyticConv/in_features", conv, in_features=0, exc=ValueError,
             words="in_features"),
        case("AnalyticConv/kernel_size", conv, kernel_size=(3, 5), exc=ValueError,
             words="kernel_size"),
        case("AnalyticConv/kernel_size float", conv, kernel_size=3.0, exc=TypeError,
             words="kernel_size"),
        case("AnalyticConv/strides", conv, strides=0, exc=ValueError, words="strides"),
        case("AnalyticConv/padding", conv, padding="FULL", exc=ValueError, words="padding"),
        case("AnalyticConv/mosaic", conv, mosaic=3, exc=TypeError, words="mosaic"),
        case("AnalyticConv/mosaic counts", conv, mosaic="Lg1", exc=ValueError, words="I * O"),
        case("AnalyticConv/dtype", conv, dtype=jnp.int32, exc=TypeError, words="dtype"),
        case("AnalyticConv/x channels", lambda x: conv()(x), jnp.ones((1, 5, 5, 3)),
             exc=ValueError, words="x"),
        case("AnalyticConv/x complex", lambda x: conv()(x), jnp.ones((1, 5, 5, 1), jnp.complex64),
             exc=TypeError, words="x"),
    ]  # fmt: skip

# fit_kernels is not jittable (the chosen mosaic is static structure): eager cases only
CASES = [c._replace(traced=c.traced and not c.name.startswith("fit_kernels/")) for c in CASES]
VALUES, IDS = params(CASES)


@pytest.mark.parametrize("c, jit", VALUES, ids=IDS)
def test_bad_input_raises_a_clear_error(c, jit):
    check(c, jit=jit)


def test_traced_non_positive_sigma_gives_nan_not_a_flipped_kernel():
    u = jnp.arange(-2.0, 3.0)
    for fn in (jax.jit(aj.tgd_first_order), jax.jit(lambda u, s: aj.tgd_second_order(u, s, 2.5))):
        assert bool(jnp.isnan(fn(u, jnp.array(-1.0))).all())
        assert bool(jnp.isfinite(fn(u, jnp.array(1.0))).all())


def test_fit_family_reports_a_nan_slice_as_nan_never_as_a_perfect_fit():
    t = aj.family_kernels(jnp.array([[1.0, 0.3], [1.0, 0.5]]), "Lg", 5)
    t = t.at[1, 2, 2].set(jnp.nan)
    fit = aj.fit_family(KEY, t, code="Lg", steps=50)
    assert float(fit.rel_error[0]) < 0.05
    assert bool(jnp.isnan(fit.rel_error[1]))
    zero = aj.fit_family(KEY, jnp.zeros((1, 5, 5)), code="Lg", steps=5)
    assert float(zero.rel_error[0]) == 0.0  # an all-zero slice is fitted exactly (amplitude 0)
