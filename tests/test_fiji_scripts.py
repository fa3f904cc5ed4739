"""Script-editor scripts (Fiji's Python mode), run with their parameters supplied the
way SciJava supplies them: one global per '#@' line, Java objects for File."""

import os
import re
from pathlib import Path

import numpy as np
import pytest
import tifffile

from pyfiji_dl.annotation.files import rois_file_to_labels
from pyfiji_dl.io.tiff import write_imagej_tiff, write_label_image

pytestmark = [pytest.mark.imagej, pytest.mark.display]
SCRIPTS = Path(__file__).resolve().parents[1] / "macros" / "scripts"
PARAMETER = re.compile(r"^#@\s*(\w+)\s*(?:\((.*)\))?\s+(\w+)\s*$")
OUTPUT = re.compile(r"^#@output\s+\w+\s+\w+\s*$")


@pytest.fixture(scope="module")
def session(ij):
    if not os.environ.get("DISPLAY"):
        if os.environ.get("CI"):
            pytest.fail("CI runs the tests under xvfb-run")
        pytest.skip("needs a display (xvfb-run)")
    from pyfiji_dl.fiji.session import FijiSession

    return FijiSession.start()


def run_script(name, ij, **values):
    """Execute a script as SciJava would: parse its '#@' parameters, inject them."""
    path = SCRIPTS / name
    text = path.read_text()
    namespace = {"__name__": "__main__", "__file__": str(path)}
    File = ij("java.io.File")
    for line in text.splitlines():
        match = PARAMETER.match(line)
        if not match or line.startswith(("#@output", "#@script")):
            continue
        kind, _, var = match.groups()
        if kind == "ImageJ":
            namespace[var] = None  # no ImageJ2 gateway here: the script uses the running ImageJ
            continue
        assert var in values, f"{name} declares '{var}' but the test gives no value"
        value = values[var]
        namespace[var] = {"File": lambda v: File(str(v)), "Integer": int, "Float": float,
                          "Boolean": bool, "String": str}[kind](value)
    exec(compile(text, str(path), "exec"), namespace)
    return namespace


def test_every_parameter_line_is_well_formed():
    for script in SCRIPTS.glob("*.py"):
        lines = [line for line in script.read_text().splitlines() if line.startswith("#@")]
        # Jython and Python mode both register "Python": without this line a .py opens as Jython
        assert lines[0] == '#@script(language="python")', script.name
        assert all(OUTPUT.match(line) if line.startswith("#@output") else PARAMETER.match(line)
                   for line in lines[1:]), script.name


def test_errors_are_exceptions_fiji_shows():
    """scyjava's script runner catches Exception: SystemExit would lose the message."""
    for script in SCRIPTS.glob("*.py"):
        assert not re.search(r"raise SystemExit|sys\.exit\(|^\s*exit\(", script.read_text(), re.M), script.name


def test_labels_from_roi_manager_script(session, tmp_path):
    image_path = write_imagej_tiff(tmp_path / "images" / "cells.tif",
                                   (np.random.default_rng(1).random((50, 60)) * 255).astype(np.uint8), "YX")
    imp = session.jimport("ij.IJ").openImage(str(image_path))
    session.show(imp)
    manager = session.roi_manager(create=True)
    manager.reset()
    manager.addRoi(session.jimport("ij.gui.OvalRoi")(5.5, 5.5, 20.0, 12.0))
    manager.addRoi(session.jimport("ij.gui.Roi")(30, 20, 15, 25))
    out = run_script("labels-from-roi-manager.py", session.jimport, overlap="last-wins", show=False)
    labels_path = Path(out["labels_path"])
    assert labels_path == tmp_path / "masks" / "cells.tif"
    manager.runCommand("Save", str(tmp_path / "saved.zip"))
    expected = rois_file_to_labels(tmp_path / "saved.zip", tmp_path / "expected.tif", image=image_path)
    np.testing.assert_array_equal(tifffile.imread(labels_path), tifffile.imread(expected.output))
    imp.close()
    manager.reset()


def test_train_and_predict_scripts(session, tmp_path):
    from stardist.data import test_image_nuclei_2d

    image, labels = test_image_nuclei_2d(return_mask=True)
    data = tmp_path / "data"
    for i, (y, x) in enumerate([(0, 0), (0, 256)]):
        write_imagej_tiff(data / "images" / f"f{i}.tif", image[y:y + 96, x:x + 96], "YX")
        write_label_image(data / "masks" / f"f{i}.tif", labels[y:y + 96, x:x + 96], "YX")
    model = tmp_path / "model"
    trained = run_script("train-stardist.py", session.jimport, data=data, model=model, epochs=1, steps=1,
                         patch=64, minutes=0.0)
    assert Path(trained["report"]).exists() and (model / "thresholds.json").exists()

    movie_path = write_imagej_tiff(tmp_path / "movie.tif", np.stack([image[:80, :80], image[100:180, 100:180]]), "TYX")
    imp = session.jimport("ij.IJ").openImage(str(movie_path))
    session.show(imp)
    out = run_script("predict.py", session.jimport, model=model, output=tmp_path / "out")
    predicted = tifffile.imread(tmp_path / "out" / "masks" / "movie.tif")
    n = sum(len(np.unique(f)) - 1 for f in predicted)
    assert out["summary"].startswith(f"{n} objects")
    assert session.roi_manager().getCount() == n
    session.run_macro("close('*');")  # the movie and the label map the script showed
    session.roi_manager().reset()
