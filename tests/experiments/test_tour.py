"""The quickstart notebook, executed cell by cell, and the tour's smoke run it ends with."""

import html.parser
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "experiments" / "notebooks" / "quickstart.ipynb"
SECTIONS = ("net", "decoding", "volterra", "analytic", "scattering", "cross_lens")


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
    # the experiments' decoding lens on the user's model of the cell before
    names = [d.name for d in ns["my_decoding"].layers]
    assert names == ["layers[0] (Conv)", "layers[3] (Conv)", "layers[6] (Dense)"]
    assert ns["my_decoding"].layers[0].error_mean < 1e-6


def _summary_keys(tree) -> set[str]:
    keys = set()
    if isinstance(tree, dict):
        for k, v in tree.items():
            keys |= {str(k)} | _summary_keys(v)
    elif isinstance(tree, list):
        for v in tree:
            keys |= _summary_keys(v)
    return keys


class _Rows(html.parser.HTMLParser):
    """The row labels of the report's tables: the first cell of each row."""

    def __init__(self):
        super().__init__()
        self.labels, self._cell, self._first = [], None, False

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self._first = True
        elif tag in ("th", "td") and self._first:
            self._cell, self._first = "", False

    def handle_endtag(self, tag):
        if tag in ("th", "td") and self._cell is not None:
            self.labels.append(self._cell.strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def check_report(workdir: Path) -> dict:
    """Every section, every figure resolving to a PNG, no raw summary key as a row label."""
    summary = json.loads((workdir / "summary.json").read_text())
    for section in SECTIONS:
        assert summary[section], section
    text = (workdir / "report.html").read_text()
    parser = _Links()
    parser.feed(text)
    assert len(parser.headings) == 6
    assert len(parser.links) >= 8
    for link in parser.links:
        assert not link.startswith(("http:", "https:", "/")), link
        assert (workdir / link).read_bytes()[:4] == b"\x89PNG", link
    rows = _Rows()
    rows.feed(text)
    keys = _summary_keys(summary)
    assert len(rows.labels) >= 20
    for label in (x for x in rows.labels if not re.fullmatch(r"[-+.\de]+", x)):  # not numbers
        assert label not in keys, label
        assert not re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)+", label), label
    assert "nan" not in re.sub(r"<[^>]+>", " ", text).lower().split()
    return summary


@pytest.mark.slow
def test_tour_smoke_writes_a_complete_report(notebook):
    ns, workdir = notebook
    summary = check_report(workdir)
    vol = summary["volterra"]
    assert vol["kernels_source"] == "composition"  # no padding: composition is the network's
    assert vol["composition_vs_autodiff"]["1"] < 1e-4  # and equals autodiff (float32)
    assert all(rates[0] == 0.0 for rates in vol["attack_success"].values())  # eps = 0
    assert sum(summary["analytic"]["family_counts"].values()) == 20
    assert set(summary["analytic"]["family_counts"]) <= {"G", "Lg", "Lt", "Tf", "Ts", "P"}
    assert -1.0 <= summary["cross_lens"]["mean_cosine"] <= 1.0
    layers = [d["layer"] for d in summary["decoding"]["layers"]]
    assert layers == [f"layers[{i}] (Conv)" for i in (0, 2, 4, 6)]  # the paper's L1..L7
    assert 0.0 <= summary["scattering"]["test_error"] <= 1.0
    assert ns["summary"]["wall_seconds"]["total"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("model", ["lenet", "vgg", "resnet"])
def test_tour_runs_once_over_any_model(tmp_path, monkeypatch, model, nets_dir):
    """The whole tour on each model: a complete report, each data split read once, each net
    (and its twin) trained at most once, numbers that hold for any network."""
    from experiments import _app, tour
    from experiments.core import data as data_lib
    from experiments.core import nets

    loads, fits = [], []
    load, get = data_lib.load, nets.get
    monkeypatch.setattr(data_lib, "load", lambda *a, **k: loads.append(a[:2]) or load(*a, **k))
    monkeypatch.setattr(nets, "get", lambda *a, **k: fits.append(a[0].model) or get(*a, **k))
    config = _app.load_config("tour", "smoke")
    config.model = model
    config.nets_dir = nets_dir
    summary = tour.run(config, str(tmp_path))
    assert sorted(loads) == [("mnist_5k", "test"), ("mnist_5k", "train")]
    assert fits == [model, model]  # the net and its smooth twin, each once
    check_report(tmp_path)
    assert summary["net"]["model"] == model and summary["twin"]["model"] == model
    layers = summary["decoding"]["layers"]
    assert layers[-1]["layer"].endswith("(Conv)" if model == "lenet" else "(Dense)")
    assert layers[0]["error_mean"] < 0.05  # the first conv decodes its own response
    vol = summary["volterra"]
    # without padding the composed kernels are the network's; with SAME padding the lens takes
    # autodiff's (orders 0-2) and reports the border rule's gap
    assert vol["kernels_source"] == ("composition" if model == "lenet" else "autodiff")
    gap = vol["composition_vs_autodiff"]
    assert len(gap) == (2 if model == "lenet" else 3)
    if model == "lenet":
        assert gap["1"] < 1e-4
    assert all(0.0 <= e for e in vol["series_error"].values())
    assert summary["analytic"]["params_plain"] == (500 if model == "lenet" else 4 * 9)
    assert np.isfinite(summary["cross_lens"]["twin_mean_cosine"])
    config_on_disk = json.loads((tmp_path / "config.json").read_text())
    assert config_on_disk["model"] == model  # the configuration that ran, as it ran
