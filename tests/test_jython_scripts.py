"""The installed Jython scripts (Fiji's default Python), run by a real Jython 2.7.4
(org.python:jython-standalone from Maven Central, fetched by
scripts/fetch-test-artifacts.sh) with ImageJ on the class path, under the virtual
display. Their '#@' parameters are supplied the way SciJava supplies them: one global per
parameter line, java.io.File for File, the current ImagePlus for ImagePlus."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from pyfiji_dl.annotation.files import rois_file_to_labels
from pyfiji_dl.fiji.install import install
from pyfiji_dl.io.tiff import Calibration, write_imagej_tiff

pytestmark = [pytest.mark.imagej, pytest.mark.display]
JYTHON = Path.home() / ".m2/repository/org/python/jython-standalone/2.7.4/jython-standalone-2.7.4.jar"
PARAMETER = re.compile(r"^#@\s*(\w+)\s*(?:\((.*)\))?\s+(\w+)\s*$")

# Run by Jython: supplies the parameters, runs the installed script, reports in JSON.
DRIVER = r'''
import json, sys
from java.io import File
from java.lang import System
from ij import IJ, ImagePlus
from ij.gui import OvalRoi, Roi
from ij.plugin.frame import RoiManager

script, spec_path = sys.argv[1], sys.argv[2]
spec = json.load(open(spec_path))
namespace = {"__name__": "__main__"}
imp = None
for name, (kind, value) in spec["parameters"].items():
    if kind == "ImagePlus":
        opened = IJ.openImage(value["path"])
        imp = ImagePlus(value["title"], opened.getStack())  # made in ImageJ, never saved
        imp.setCalibration(opened.getCalibration())
        imp.show()
        imp.changes = True
        imp.setRoi(Roi(2, 2, 10, 10))
        manager = RoiManager.getInstance() or RoiManager()
        manager.reset()
        for x, y, w, h in value.get("ovals", []):
            manager.addRoi(OvalRoi(x, y, w, h))
        namespace[name] = imp
    elif kind == "File":
        namespace[name] = File(value)
    elif kind == "Integer":
        namespace[name] = int(value)
    else:
        namespace[name] = value
report = {}
try:
    execfile(script, namespace)
    report["outputs"] = dict((k, unicode(namespace.get(k))) for k in spec["outputs"])
except Exception, error:
    report["error"] = unicode(error)
    report["error_type"] = type(error).__name__
manager = RoiManager.getInstance()
report["rois"] = manager.getCount() if manager is not None else 0
if imp is not None:
    report["title"] = imp.getTitle()
    report["changes"] = bool(imp.changes)
    report["selection"] = imp.getRoi() is not None
    report["current_is_image"] = IJ.getImage() is imp
from ij import WindowManager
report["windows"] = [unicode(t) for t in (WindowManager.getNonImageTitles() or [])]
print "REPORT " + json.dumps(report)
System.exit(0)
'''


@pytest.fixture(scope="module")
def fiji(tmp_path_factory, ij):
    if not JYTHON.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{JYTHON} is missing (scripts/fetch-test-artifacts.sh fetches it)")
        pytest.skip(f"Jython is missing: {JYTHON} (scripts/fetch-test-artifacts.sh fetches it)")
    if not os.environ.get("DISPLAY"):
        pytest.skip("needs a display (xvfb-run)")
    root = tmp_path_factory.mktemp("Fiji")
    (root / "jars").mkdir()
    return {"root": root, **install(root, command=Path(sys.executable).with_name("pyfiji-dl"))}


def run_jython(fiji, script, tmp_path, **values):
    """Run an installed Jython script with its parameters; the driver's report."""
    from pyfiji_dl.fiji.locate import locate_imagej

    path = fiji["root"] / "macros" / "pyfiji-dl" / "jython" / script
    parameters, outputs = {}, []
    for line in path.read_text().splitlines():
        if line.startswith("#@output"):
            outputs.append(line.split()[-1])
            continue
        match = PARAMETER.match(line)
        if match:
            kind, _, name = match.groups()
            assert name in values, f"{script} declares '{name}' but the test gives no value"
            parameters[name] = (kind, values[name] if kind == "ImagePlus" else str(values[name]))
    spec = tmp_path / f"{script}.json"
    spec.write_text(json.dumps({"parameters": parameters, "outputs": outputs}))
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    classpath = os.pathsep.join([str(JYTHON), str(locate_imagej().path)])
    out = subprocess.run(["java", f"-Dplugins.dir={fiji['root']}", "-Dpython.cachedir.skip=true",
                          "-cp", classpath, "org.python.util.jython", str(driver), str(path), str(spec)],
                         capture_output=True, text=True, timeout=600)
    lines = [line for line in out.stdout.splitlines() if line.startswith("REPORT ")]
    assert lines, f"jython failed:\n{out.stdout}\n{out.stderr}"
    return json.loads(lines[-1][len("REPORT "):])


def test_jython_scripts_are_installed_outside_plugins(fiji):
    names = sorted(p.name for p in fiji["jython"])
    assert names == ["labels-from-roi-manager.py", "predict.py", "train.py"]
    for path in fiji["jython"]:
        text = path.read_text()
        assert "plugins" not in path.relative_to(fiji["root"]).parts
        assert text.splitlines()[0].startswith("#@ ") and "def pyfiji_run(" in text
        assert "#@script" not in text  # Jython: Fiji's default for .py


def test_the_family_choices_are_the_menu_commands(fiji):
    from pyfiji_dl import families

    # the macros' dialogs read the list 'fiji install' writes from the family registry
    config = dict(line.split("=", 1) for line in fiji["config"].read_text().splitlines())
    assert config["families"].split("|") == list(families.names())
    # a Jython script's choices are fixed text: they must follow the registry too
    script = re.search(r"choices=\{([^}]*)\}", (fiji["root"] / "macros/pyfiji-dl/jython/train.py").read_text()).group(1)
    assert [s.strip().strip('"') for s in script.split(",")] == list(families.names())


def test_labels_from_roi_manager_under_jython(fiji, tmp_path):
    pixels = (np.random.default_rng(2).random((50, 70)) * 250).astype(np.uint8)
    source = write_imagej_tiff(tmp_path / "source.tif", pixels, "YX",
                               calibration=Calibration(pixel_width=0.5, pixel_height=0.5, unit="micron"))
    data = tmp_path / "data set"
    report = run_jython(fiji, "labels-from-roi-manager.py", tmp_path, data=data,
                        imp={"path": str(source), "title": "cell's field", "ovals": [[5.5, 4.0, 20, 14], [30, 20, 25, 18]]})
    assert "error" not in report, report
    labels_path = data / "masks" / "cell's field.tif"
    assert report["outputs"]["labels_path"] == str(labels_path)
    expected = rois_file_to_labels(data / "masks" / "cell's field.zip", tmp_path / "expected.tif", image=source)
    labels = tifffile.imread(labels_path)
    np.testing.assert_array_equal(labels, tifffile.imread(expected.output))
    assert labels.max() == 2
    with tifffile.TiffFile(labels_path) as tif:
        assert tif.imagej_metadata["unit"] == "micron"
    assert report["title"] == "cell's field" and report["changes"] and report["selection"]


def test_predict_under_jython_puts_the_rois_on_the_image(fiji, stardist_model, tmp_path):
    from stardist.data import test_image_nuclei_2d

    pixels = test_image_nuclei_2d()[300:396, 300:396]
    source = write_imagej_tiff(tmp_path / "source.tif", pixels, "YX")
    out = tmp_path / "out"
    report = run_jython(fiji, "predict.py", tmp_path, model=stardist_model, output=out,
                        imp={"path": str(source), "title": "never saved"})
    assert "error" not in report, report
    labels = tifffile.imread(out / "masks" / "never saved.tif")
    n = len(np.unique(labels)) - 1
    assert n > 0 and report["rois"] == n and report["outputs"]["summary"].startswith(f"{n} objects")
    assert report["current_is_image"] and report["title"] == "never saved" and report["changes"]
    assert "never saved.csv" in report["windows"]  # the object table


def test_errors_reach_the_user_as_exceptions(fiji, tmp_path):
    report = run_jython(fiji, "train.py", tmp_path, family="unet", data=tmp_path / "no data",
                        model=tmp_path / "model", epochs=1, steps=1)
    assert report["error_type"] == "PyfijiError"
    assert report["error"].startswith("pyfiji-dl failed:") and "no data" in report["error"]


# Run by Jython: ImageJ with its window and the Macro Recorder, a command chosen from the
# menu, its dialog filled in and OK pressed as a user would; prints what was recorded.
RECORDING_DRIVER = r'''
import sys, time
from java.awt import Window
from java.awt.event import ActionEvent
from java.lang import System
from ij import ImageJ, IJ
from ij.gui import GenericDialog
from ij.plugin.frame import Recorder

ImageJ()
recorder = Recorder()
IJ.doCommand(sys.argv[1])
deadline = time.time() + 60
done = False
while time.time() < deadline and not done:
    time.sleep(0.1)
    for window in Window.getWindows():
        if window.isVisible() and isinstance(window, GenericDialog) and window.getTitle().startswith("pyfiji-dl"):
            window.getStringFields()[0].setText(sys.argv[2])
            window.actionPerformed(ActionEvent(window.getButtons()[0], ActionEvent.ACTION_PERFORMED, "OK"))
    done = sys.argv[1] in recorder.getText()
print "RECORDED " + recorder.getText().replace("\n", "|")
System.exit(0)
'''


def test_menu_commands_are_recorded(fiji, tmp_path):
    """ImageJ does not record macros of the plugins folder; the commands record themselves
    (Plugins > Macros > Record...) with the options chosen, as run() replays them."""
    from pyfiji_dl.fiji.locate import locate_imagej

    driver = tmp_path / "record.py"
    driver.write_text(RECORDING_DRIVER)
    classpath = os.pathsep.join([str(JYTHON), str(locate_imagej().path)])
    model = tmp_path / "my model"
    out = subprocess.run(["java", f"-Dplugins.dir={fiji['root']}", "-Dpython.cachedir.skip=true", "-cp", classpath,
                          "org.python.util.jython", str(driver), "Export Model", str(model)],
                         capture_output=True, text=True, timeout=300)
    recorded = [line for line in out.stdout.splitlines() if line.startswith("RECORDED ")]
    assert recorded, out.stdout + out.stderr
    assert f'run("Export Model", "model=[{model}] format=bioimageio output=[] author=[]");' in recorded[-1]
