"""The quickstart notebook, executed cell by cell, and the tour's smoke run it ends with."""

import html.parser
import json
import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "experiments" / "notebooks" / "quickstart.ipynb"
SECTIONS = ("lenet", "decoding", "volterra", "analytic", "scattering", "cross_lens")


def _python_source(cell) -> str:
    """A code cell without its shell (``!``) and magic (``%``) lines, which Colab runs."""
    lines = "".join(cell["source"]).splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith(("!", "%")))


@pytest.fixture(scope="module")
def notebook(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("quickstart")
    cells = [c for c in json.loads(NOTEBOOK.read_text())["cells"] if c["cell_type"] == "code"]
    namespace = {"__name__": "__main__"}
    old_env, old_cwd = os.environ.get("CNN_LENS_WORKDIR"), os.getcwd()
    os.environ["CNN_LENS_WORKDIR"] = str(workdir)
    os.chdir(ROOT)
    try:
        for i, cell in enumerate(cells):
            exec(compile(_python_source(cell), f"quickstart cell {i}", "exec"), namespace)
    finally:
        os.chdir(old_cwd)
        if old_env is None:
            os.environ.pop("CNN_LENS_WORKDIR")
        else:
            os.environ["CNN_LENS_WORKDIR"] = old_env
    return namespace, workdir


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.headings, self._in_h2 = [], [], False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("src", "href"):
            if name in attrs:
                self.links.append(attrs[name])
        self._in_h2 = tag == "h2"

    def handle_data(self, data):
        if self._in_h2:
            self.headings.append(data)
            self._in_h2 = False


@pytest.mark.slow
def test_notebook_cells_run_and_compute_the_right_things(notebook):
    ns, _ = notebook
    assert ns["coefficients"].shape == (16, 81, 7, 7)
    assert ns["decoded"].shape == (10, 28, 28, 1)
    # the README's "your own network" cell: a user's SAME-padded, batch-normalised CNN
    assert [type(layer).__name__ for layer in ns["layers"]][-2:] == ["GlobalAvgPool", "Dense"]
    assert ns["filters"].shape == (32, 8, 8, 1)
    frame = ns["kernels"].rf_shape
    assert ns["kernels"].h2.shape == (*frame, *frame, 10)
    np.testing.assert_allclose(ns["composed"].h2, ns["autodiff"].h2, rtol=1e-4, atol=1e-5)
    assert ns["fit"].spec.codes == ("G",) and float(ns["fit"].rel_error[0]) < 1e-2


@pytest.mark.slow
def test_tour_smoke_writes_a_complete_report(notebook):
    ns, workdir = notebook
    summary = json.loads((workdir / "summary.json").read_text())
    for section in SECTIONS:
        assert summary[section], section
    vol = summary["volterra"]
    assert vol["h1_composition_vs_autodiff"] < 1e-4  # composition equals autodiff (float32)
    assert all(rates[0] == 0.0 for rates in vol["attack_success"].values())  # eps = 0
    assert sum(summary["analytic"]["family_counts"].values()) == 20
    assert set(summary["analytic"]["family_counts"]) <= {"G", "Lg", "Lt", "Tf", "Ts", "P"}
    cosines = summary["cross_lens"]["cosine_relu_decoded_vs_h1"]
    assert len(cosines) == 10 and all(-1.0 <= c <= 1.0 for c in cosines)
    assert set(summary["decoding"]["table1_bicubic"]) == {"L3", "L5", "L7"}
    assert 0.0 <= summary["scattering"]["scattering_test_error"] <= 1.0
    assert ns["summary"]["wall_seconds"]["total"] > 0

    parser = _Links()
    parser.feed((workdir / "report.html").read_text())
    assert len(parser.headings) == 6
    assert len(parser.links) >= 8
    for link in parser.links:
        assert not link.startswith(("http:", "https:", "/")), link
        assert (workdir / link).read_bytes()[:4] == b"\x89PNG", link
