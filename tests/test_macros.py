"""The installed Fiji macros, run in real ImageJ (under the virtual display): files
written, ROIs in the ROI Manager on the right frames, label maps identical to the
command's, errors returned as ImageJ messages."""

import os
import re
import signal
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from pyfiji_dl.annotation.files import rois_file_to_labels
from pyfiji_dl.cli import main
from pyfiji_dl.fiji.install import install
from pyfiji_dl.io.tiff import Calibration, write_imagej_tiff, write_label_image

pytestmark = [pytest.mark.imagej, pytest.mark.display]
PYFIJI_DL = Path(sys.executable).with_name("pyfiji-dl")
ODD_NAME = "cell's image 1"  # a space and a quote: must reach the command intact, never a shell


@pytest.fixture(scope="module")
def session(ij):
    if not os.environ.get("DISPLAY"):
        if os.environ.get("CI"):
            pytest.fail("CI runs the tests under xvfb-run; the ROI Manager needs a display")
        pytest.skip("needs a display (xvfb-run)")
    from pyfiji_dl.fiji.session import FijiSession

    return FijiSession.start()


@pytest.fixture(scope="module")
def fiji(tmp_path_factory):
    root = tmp_path_factory.mktemp("Fiji.app")
    (root / "jars").mkdir()
    installed = install(root, command=PYFIJI_DL)
    return {"root": root, **installed}


@pytest.fixture(scope="module")
def nuclei():
    from stardist.data import test_image_nuclei_2d

    return test_image_nuclei_2d(return_mask=True)


def macro(fiji, name):
    return fiji["root"] / "plugins" / "pyfiji-dl" / f"{name}.ijm"


def open_image(session, path):
    imp = session.jimport("ij.IJ").openImage(str(path))
    session.show(imp)
    return imp


def close_all(session):
    session.run_macro("close('*');")
    manager = session.roi_manager()
    if manager is not None:
        manager.reset()


def test_install_writes_commands_toolset_and_config(fiji):
    names = sorted(p.stem for p in (fiji["root"] / "plugins" / "pyfiji-dl").glob("*.ijm"))
    assert names == ["Automatic_Labels", "Bootstrap_ROIs", "Cancel_Job", "Denoise_N2V", "Export_Model", "Fine_tune_Model",
                     "Fine_tune_from_Corrections", "Labels_from_ROI_Manager", "Predict_StarDist", "Restore_CARE", "Review_Predictions",
                     "Save_Corrections", "Train_Model"]
    assert all("_" in n for n in names)  # ImageJ lists plugins-folder macros with an underscore
    assert fiji["config"].read_text().startswith(f"command={PYFIJI_DL}\n")
    toolset = fiji["toolset"].read_text()
    assert '"Labels from ROI Manager"' in toolset and 'macro "pyfiji-dl Menu Tool' in toolset
    text = macro(fiji, "Predict_StarDist").read_text()
    assert text.index("function pyfijiRun") < text.index('pyfijiRun(newArray("predict"')
    # one place calls the program; every command goes through it
    calls = [line for line in text.splitlines() if "exec(" in line and not line.strip().startswith("//")]
    assert len(calls) == 1 and "return exec(" in calls[0]


def test_nothing_under_plugins_is_a_broken_command(fiji):
    """ImageJ lists every script under plugins/ as a command (Jython runs the .py files):
    only the command macros may be there."""
    scripts = [p for p in (fiji["root"] / "plugins").rglob("*")
               if p.suffix in (".py", ".ijm", ".js", ".bsh", ".groovy", ".txt") and p.name != "pyfiji-dl.config.txt"]
    assert sorted(scripts) == sorted(fiji["commands"])


def test_labels_from_roi_manager_matches_the_command(session, fiji, tmp_path):
    images = tmp_path / "data" / "images"
    image_path = write_imagej_tiff(images / f"{ODD_NAME}.tif",
                                   (np.random.default_rng(0).random((60, 80)) * 200).astype(np.uint8), "YX",
                                   calibration=Calibration(pixel_width=0.5, pixel_height=0.5, unit="micron"))
    imp = open_image(session, image_path)
    manager = session.roi_manager(create=True)
    manager.reset()
    OvalRoi, Roi, PolygonRoi = session.jimport("ij.gui.OvalRoi"), session.jimport("ij.gui.Roi"), session.jimport("ij.gui.PolygonRoi")
    FloatPolygon = session.jimport("ij.process.FloatPolygon")
    manager.addRoi(OvalRoi(10.5, 8.25, 21.0, 15.5))
    manager.addRoi(PolygonRoi(FloatPolygon([40.0, 75.0, 60.0], [5.0, 12.0, 45.0]), Roi.POLYGON))
    manager.addRoi(Roi(30, 30, 20, 20, 8))
    result = session.run_macro(macro(fiji, "Labels_from_ROI_Manager"))
    assert result.error is None, result.error
    labels_path = tmp_path / "data" / "masks" / f"{ODD_NAME}.tif"
    roi_zip = tmp_path / "data" / "masks" / f"{ODD_NAME}.zip"
    assert labels_path.exists() and roi_zip.exists()
    expected = rois_file_to_labels(roi_zip, tmp_path / "expected.tif", image=image_path)
    labels = tifffile.imread(labels_path)
    np.testing.assert_array_equal(labels, tifffile.imread(expected.output))
    assert labels.max() == 3
    with tifffile.TiffFile(labels_path) as tif:
        assert tif.imagej_metadata["unit"] == "micron"
    imp.close()
    close_all(session)


def test_command_errors_come_back_as_imagej_messages(session, fiji, tmp_path):
    path = write_imagej_tiff(tmp_path / "plain.tif", np.zeros((32, 32), np.uint8), "YX")
    open_image(session, path)
    session.roi_manager(create=True).reset()
    empty = session.run_macro(macro(fiji, "Labels_from_ROI_Manager"))
    assert "ROI Manager is empty" in (empty.error or "")
    missing = session.run_macro(macro(fiji, "Predict_StarDist"), {"model": tmp_path / "no model"})
    assert "pyfiji-dl failed" in (missing.error or "") and "no model" in missing.error
    unconfigured = session.run_macro(macro(fiji, "Predict_StarDist"),
                                     {"model": tmp_path, "config": tmp_path / "none.txt"})
    assert "pyfiji-dl fiji install" in (unconfigured.error or "")
    close_all(session)


def test_predict_review_and_save_corrections(session, fiji, stardist_model, nuclei, tmp_path):
    image, _ = nuclei
    movie = np.stack([image[:96, :96], image[200:296, 200:296], image[400:496, 100:196]])
    folder = tmp_path / "experiment"
    movie_path = write_imagej_tiff(folder / f"{ODD_NAME}.tif", movie, "TYX")
    imp = open_image(session, movie_path)
    session.roi_manager(create=True)  # as in Fiji; without an ImageJ window macros get a hidden one
    out = tmp_path / "predicted out"
    result = session.run_macro(macro(fiji, "Predict_StarDist"), {"model": stardist_model, "output": out})
    assert result.error is None, result.error
    labels = tifffile.imread(out / "masks" / f"{ODD_NAME}.tif")
    manager = session.roi_manager()
    n = manager.getCount()
    assert n == sum(len(np.unique(frame)) - 1 for frame in labels) > 0
    for index in range(0, n, max(1, n // 10)):  # ROIs land on their frames
        manager.select(imp, index)
        roi = manager.getRoi(index)
        frame = re.search(r"-t(\d+)", str(roi.getName()))  # 'label-00007-t002 p=0.62'
        position = int(frame.group(1)) if frame else int(roi.getTPosition() or roi.getPosition())
        assert position == int(imp.getT())
    close_all(session)

    review = session.run_macro(macro(fiji, "Review_Predictions"),
                               {"image": movie_path, "rois": out / "rois" / f"{ODD_NAME}.zip"})
    assert review.error is None, review.error
    manager = session.roi_manager()
    assert manager.getCount() == n
    manager.select(0)
    manager.runCommand("Delete")  # the user removes a wrong object
    data = tmp_path / "training data"
    saved = session.run_macro(macro(fiji, "Save_Corrections"), {"data": data, "image": movie_path})
    assert saved.error is None, saved.error
    assert "1 removed, 0 added, 0 redrawn" in saved.log  # what the review changed, against the prediction
    corrected = tifffile.imread(data / "masks" / f"{ODD_NAME}.tif")
    assert corrected.shape == movie.shape
    assert sum(len(np.unique(f)) - 1 for f in corrected) == n - 1
    with tifffile.TiffFile(data / "images" / f"{ODD_NAME}.tif") as tif:  # written by ImageJ from memory
        assert tif.imagej_metadata["frames"] == 3 and "ImageJ=1." in tif.pages[0].description
        np.testing.assert_array_equal(tif.asarray(), movie)
    close_all(session)


def test_restore_macro_opens_32bit_result(session, fiji, tmp_path, nuclei):
    image, _ = nuclei
    data = tmp_path / "care"
    for i, (y, x) in enumerate([(0, 0), (0, 256)]):
        clean = image[y:y + 64, x:x + 64].astype(np.float32)
        write_imagej_tiff(data / "low" / f"p{i}.tif", clean + np.random.default_rng(i).normal(0, 20, clean.shape).astype(np.float32), "YX")
        write_imagej_tiff(data / "GT" / f"p{i}.tif", clean, "YX")
    model = tmp_path / "care model"
    assert main(["train", "care", "--data", str(data), "--model", str(model), "--epochs", "1", "--steps", "1",
                 "--patch", "32", "--patches-per-image", "4", "--batch", "2", "--depth", "1", "--filters", "4",
                 "--quiet"]) == 0
    open_image(session, data / "low" / "p0.tif")
    result = session.run_macro(macro(fiji, "Restore_CARE"), {"model": model, "output": tmp_path / "restored out"})
    assert result.error is None, result.error
    restored = session.jimport("ij.WindowManager").getCurrentImage()
    assert restored.getBitDepth() == 32 and restored.getWidth() == 64
    assert (tmp_path / "restored out" / "restored" / "p0.tif").exists()
    close_all(session)


def test_train_macro_starts_background_training_and_says_where(session, fiji, tmp_path, nuclei):
    image, labels = nuclei
    data = tmp_path / "d"
    for i in range(2):
        write_imagej_tiff(data / "images" / f"f{i}.tif", image[:96, 96 * i:96 * (i + 1)], "YX")
        write_label_image(data / "masks" / f"f{i}.tif", labels[:96, 96 * i:96 * (i + 1)], "YX")
    model = tmp_path / "new model"
    result = session.run_macro(macro(fiji, "Train_Model"),
                               {"family": "stardist", "data": data, "model": model, "epochs": 1})
    assert result.error is None, result.error
    assert "Training started in the background" in result.log and str(model / "qc" / "index.html") in result.log
    pid = int(result.log.split("background (process ")[1].split(")")[0])
    assert (model / "training.log").exists()
    os.kill(pid, signal.SIGTERM)  # the test only checks the start; training itself is tested elsewhere

    bad = session.run_macro(macro(fiji, "Fine_tune_Model"),
                            {"family": "stardist", "data": data, "model": tmp_path / "m2", "from": tmp_path / "nothing"})
    assert "pyfiji-dl failed" in (bad.error or "")


def table_rows(session, title):
    """Rows of the table window 'title' (a Results-like table)."""
    frame = session.jimport("ij.WindowManager").getFrame(title)
    assert frame is not None, f"no table window {title!r}"
    return int(frame.getResultsTable().size())


def test_predict_an_image_never_saved_keeps_the_window_and_puts_the_rois_on_it(session, fiji, stardist_model,
                                                                                 nuclei, tmp_path):
    """An image made in ImageJ (no file), edited and with a selection on it: predicted as it
    is in memory; the outputs are named after its title and the user's window is unchanged."""
    image, _ = nuclei
    pixels = image[256:352, 256:368]
    imp = session.to_imageplus(pixels, "YX", Calibration(pixel_width=0.25, pixel_height=0.25, unit="micron"),
                               title="nuclei crop")
    session.show(imp)
    imp.changes = True  # unsaved edits
    imp.setRoi(session.jimport("ij.gui.Roi")(10, 10, 20, 20))  # a selection: not a crop for pyfiji-dl
    session.roi_manager(create=True)  # as in Fiji; without an ImageJ window macros get a hidden one
    out = tmp_path / "unsaved out"
    temporary = Path(str(session.jimport("ij.IJ").getDirectory("temp")))
    before = set(temporary.glob("pyfiji-dl-*"))
    result = session.run_macro(macro(fiji, "Predict_StarDist"), {"model": stardist_model, "output": out})
    assert result.error is None, result.error
    labels = tifffile.imread(out / "masks" / "nuclei crop.tif")
    assert labels.shape == pixels.shape
    with tifffile.TiffFile(out / "masks" / "nuclei crop.tif") as tif:
        assert tif.imagej_metadata["unit"] == "micron"  # the calibration reached Python
    n = len(np.unique(labels)) - 1
    assert n > 0 and session.roi_manager().getCount() == n
    assert session.jimport("ij.WindowManager").getCurrentImage() == imp  # the ROIs are shown on it
    assert str(imp.getTitle()) == "nuclei crop" and imp.changes  # still the user's unsaved window
    assert table_rows(session, "nuclei crop.csv") == n
    # the temporary TIFF is gone (other runs may use the temporary folder at the same time)
    assert not [p for p in set(temporary.glob("pyfiji-dl-*")) - before if (p / "nuclei crop.tif").exists()]
    close_all(session)


def test_predict_and_save_corrections_of_an_image_opened_from_png(session, fiji, stardist_model, nuclei, tmp_path):
    """A non-TIFF file: the image on screen goes to Python, and Save Corrections writes a
    real ImageJ TIFF (never the PNG's bytes under a .tif name)."""
    image, _ = nuclei
    pixels = image[:80, :96]
    IJ = session.jimport("ij.IJ")
    png = tmp_path / "field 7.png"
    IJ.saveAs(session.to_imageplus(pixels, "YX"), "PNG", str(png))
    imp = open_image(session, png)
    assert str(imp.getTitle()) == "field 7.png"
    session.roi_manager(create=True)
    out = tmp_path / "png out"
    result = session.run_macro(macro(fiji, "Predict_StarDist"), {"model": stardist_model, "output": out})
    assert result.error is None, result.error
    labels = tifffile.imread(out / "masks" / "field 7.tif")
    n = len(np.unique(labels)) - 1
    assert labels.shape == pixels.shape and session.roi_manager().getCount() == n > 0
    manager = session.roi_manager()
    manager.select(0)
    manager.runCommand("Delete")
    data = tmp_path / "training"
    saved = session.run_macro(macro(fiji, "Save_Corrections"), {"data": data})
    assert saved.error is None, saved.error
    with tifffile.TiffFile(data / "images" / "field 7.tif") as tif:
        assert tif.imagej_metadata is not None
        np.testing.assert_array_equal(tif.asarray(), pixels)
    assert len(np.unique(tifffile.imread(data / "masks" / "field 7.tif"))) - 1 == n - 1
    assert str(imp.getTitle()) == "field 7.png"
    close_all(session)


def test_bootstrap_rois_on_the_image_on_screen(session, fiji, nuclei, tmp_path):
    from pyfiji_dl.annotation.bootstrap import bootstrap_rois_file
    from pyfiji_dl.fiji.imagej_version import parse_imagej_version

    pixels = nuclei[0][256:384, 256:384]
    imp = session.to_imageplus(pixels, "YX", title="to annotate")
    session.show(imp)
    session.roi_manager(create=True)
    result = session.run_macro(macro(fiji, "Bootstrap_ROIs"), "method=Otsu minimum=20 split")
    assert result.error is None, result.error
    n = session.roi_manager().getCount()
    expected = bootstrap_rois_file(write_imagej_tiff(tmp_path / "to annotate.tif", pixels, "YX"), tmp_path / "rois",
                                   method="Otsu", min_area=20, split_touching=True,
                                   imagej=parse_imagej_version(str(session.jimport("ij.IJ").getVersion()))
                                   .threshold_rules())  # the macro thresholds as its ImageJ does
    assert n == expected["n_rois"] > 5 and f"{n} ROIs (Otsu threshold)" in result.log
    assert session.jimport("ij.WindowManager").getCurrentImage() == imp
    close_all(session)


def test_options_of_every_command_are_checked_by_pyfiji_dl(session, fiji, tmp_path):
    """Train / Fine-tune for every family, Automatic labels and Export: the options reach
    the program (its own error comes back as the macro's message)."""
    for family in ("stardist", "unet", "care", "n2v"):
        failed = session.run_macro(macro(fiji, "Train_Model"),
                                   {"family": family, "data": tmp_path / "no data", "model": tmp_path / family})
        assert "pyfiji-dl failed" in (failed.error or "") and "no data" in failed.error, (family, failed.error)
    tuned = session.run_macro(macro(fiji, "Fine_tune_Model"),
                              {"family": "unet", "data": tmp_path / "no data", "from": tmp_path / "old",
                               "model": tmp_path / "new"})
    assert "pyfiji-dl failed" in (tuned.error or "")
    labels = session.run_macro(macro(fiji, "Automatic_Labels"), {"fluorescence": tmp_path / "no fluo"})
    assert "pyfiji-dl failed" in (labels.error or "") and "no fluo" in labels.error
    export = session.run_macro(macro(fiji, "Export_Model"), {"model": tmp_path / "no model", "format": "bioimageio"})
    assert "pyfiji-dl failed" in (export.error or "") and "no model" in export.error


@pytest.mark.parametrize("name, fields", [
    ("Predict_StarDist", ["Model folder", "Output folder"]),
    ("Restore_CARE", ["Model folder", "Output folder"]),
    ("Denoise_N2V", ["Model folder", "Output folder"]),
    ("Train_Model", ["Family (model type)", "Data folder", "Model folder (new)", "Epochs"]),
    ("Fine_tune_Model", ["Family (model type)", "From model", "Model folder (new)"]),
    ("Fine_tune_from_Corrections", ["Model folder (to improve)", "Data folder (corrections)"]),
    ("Bootstrap_ROIs", ["Method (threshold)", "Minimum area"]),
    ("Automatic_Labels", ["Fluorescence folder", "Output folder (masks)", "Minimum diameter"]),
    ("Export_Model", ["Model folder", "Format", "Output zip", "Author"]),
    ("Save_Corrections", ["Data folder"]),
])
def test_from_the_menu_every_command_asks_with_a_dialog(session, fiji, name, fields):
    """Without options (the menu) the dialog opens; nobody answers it here, so it is closed.
    Its first words are the option keys (model=, data=, ...), as ImageJ records dialogs."""
    imp = session.to_imageplus(np.zeros((16, 16), np.uint8), "YX", title="menu test")
    session.show(imp)
    result = session.run_macro(macro(fiji, name))
    assert result.dialogs and result.dialogs[0].startswith("pyfiji-dl: "), result.error
    assert all(field in result.dialogs[0] for field in fields), result.dialogs[0]
    close_all(session)
