"""Which failures of ``predict_paths`` fail one input, and which stop the run as bugs.

A user's file that cannot be predicted (unreadable, no pixels, 1-bit) is reported in
``failed`` naming it while the other inputs are predicted; an exception of our own code
keeps its traceback. The network is swapped for a threshold (no TensorFlow), everything
else (reading, checks, outputs) is the real code.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

import pyfiji_dl.prediction.run as run
from pyfiji_dl.io.tiff import write_imagej_tiff
from pyfiji_dl.models.card import ModelCard


def _threshold_labels(model, adapter, card, image, axes):
    labels = (image > image.mean()).astype(np.int32)
    return labels, {(1, 1): 0.9} if labels.any() else {}


@pytest.fixture
def without_a_network(monkeypatch):
    card = ModelCard.new("stardist", ndim=2, n_channels=1, axes="YX")
    monkeypatch.setattr(run, "prepare_run", lambda model_dir, inputs, out_dir:
                        (Path(model_dir), card, run.expand_inputs(inputs)))
    monkeypatch.setattr(run, "_load_model", lambda adapter, model_dir: object())
    monkeypatch.setattr(run, "predict_image", _threshold_labels)


@pytest.fixture
def inputs(tmp_path):
    import tifffile

    folder = tmp_path / "in"
    folder.mkdir()
    square = np.zeros((32, 32), np.uint8)
    square[8:20, 8:20] = 200
    write_imagej_tiff(folder / "good.tif", square, "YX")
    tifffile.imwrite(folder / "bilevel.tif", square > 0)  # 1-bit
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*writing zero-size array")  # tifffile writes it all the same
        tifffile.imwrite(folder / "empty.tif", np.zeros((0, 0), np.uint16))
    (folder / "junk.tif").write_bytes(b"not a tiff")
    return folder


def test_a_bad_input_fails_alone_naming_the_file(without_a_network, inputs, tmp_path):
    result = run.predict_paths(tmp_path / "model", [inputs], tmp_path / "out", progress=False, summary=False)
    assert [p.name for p in result.done] == ["good.tif"]
    failed = {p.name: message for p, message in result.failed}
    assert set(failed) == {"bilevel.tif", "empty.tif", "junk.tif"}
    assert all(name in message for name, message in failed.items())
    assert "1-bit" in failed["bilevel.tif"] and "Image > Type" in failed["bilevel.tif"]
    assert "no pixels" in failed["empty.tif"] and "not a readable TIFF" in failed["junk.tif"]
    assert (tmp_path / "out" / "objects" / "good.csv").exists()


@pytest.mark.parametrize("bug_type", [ValueError, TypeError, RuntimeError])
def test_a_bug_of_ours_is_not_a_failed_input(without_a_network, inputs, tmp_path, monkeypatch, bug_type):
    def bug(*args, **kwargs):
        raise bug_type("simulated bug")

    monkeypatch.setattr(run, "predict_image", bug)
    with pytest.raises(bug_type, match="simulated bug"):
        run.predict_paths(tmp_path / "model", [inputs / "good.tif"], tmp_path / "out", progress=False,
                          summary=False)
