"""decode_net on the smoke VGG and ResNet: the workdir contract, every conv layer (residual
paths included) and the head decoded, and the numbers each row reports."""

import json

import numpy as np
import pytest

from experiments import _app, decode_net


@pytest.mark.slow
@pytest.mark.parametrize("model", ["vgg", "resnet"])
def test_decode_net_smoke(tmp_path, model, nets_dir):
    config = _app.load_config("decode_net", "smoke")
    config.model = model
    config.nets_dir = nets_dir
    summary = decode_net.run(config, str(tmp_path))
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["layers"] == summary["layers"] and written["model"] == model
    names = [row["layer"] for row in summary["layers"]]
    assert names[-1].endswith("(Dense)")
    if model == "resnet":
        assert any(".block[" in n for n in names) and any(".shortcut[" in n for n in names)
    assert (tmp_path / "figures" / "decoded_layers.png").is_file()
    arrays = np.load(tmp_path / "arrays" / "decoded_filters.npz")
    for row in summary["layers"]:
        filters = arrays[row["layer"]]
        assert filters.shape[:3] == (row["units"], *row["filter_size"])
        assert 0.0 <= row["error_mean"] < 1.0 and 0.0 <= row["self_consistency"] <= 1.0
    # the first conv's decoded filters are its own kernels: its response is decoded exactly
    # up to the per-channel biases, which a per-image contrast normalisation keeps
    assert summary["layers"][0]["error_mean"] < 0.05
