#@script(language="python")
#@ ImageJ ij
#@ File (label="Model folder", style="directory") model
#@ File (label="Output folder", style="directory") output
#@output String summary
"""Predict the current image with a trained model, for Fiji's script editor in Python mode.

The image is predicted as it is in memory (unsaved edits, any format it was opened
from); the outputs are named after its title.

StarDist: the label map opens and one ROI per object goes into the ROI Manager, on
its frame. CARE / Noise2Void: the restored 32-bit image opens. The files are written
to the output folder as 'pyfiji-dl predict' writes them.
"""
import re
import shutil
import tempfile
from pathlib import Path

from pyfiji_dl.fiji.session import FijiSession, FijiSessionError
from pyfiji_dl.io.tiff import read_image, write_imagej_tiff
from pyfiji_dl.models.card import read_card
from pyfiji_dl.prediction.run import output_paths, predict_paths

session = FijiSession.for_script(globals().get("ij"))
imp = session.current_image()
name = re.sub(r'[/\\:*?"<>|]', "_", re.sub(r"\.[A-Za-z0-9]{1,5}$", "", str(imp.getTitle()))).strip() or "image"
array, axes, calibration = session.from_imageplus(imp)  # the image as it is in memory
temporary = Path(tempfile.mkdtemp(prefix="pyfiji-dl-"))
try:
    source = write_imagej_tiff(temporary / (name + ".tif"), array, axes, calibration=calibration)
    family = read_card(str(model)).family
    result = predict_paths(str(model), [source], str(output), overwrite=True, progress=False)
finally:
    shutil.rmtree(temporary, ignore_errors=True)
if result.failed:
    # an exception, not SystemExit: Fiji's script runner shows an exception's message
    raise FijiSessionError("pyfiji-dl: " + str(result.failed[0][1]))
paths = output_paths(Path(str(output)), name, family)
if family in ("care", "n2v"):
    restored, restored_info = read_image(paths["restored"])
    session.show(session.to_imageplus(restored, restored_info.axes, restored_info.calibration,
                                      title=paths["restored"].name))
    summary = f"restored image: {paths['restored']}"
else:
    labels, labels_info = read_image(paths["labels"])
    session.show(session.to_imageplus(labels, labels_info.axes, labels_info.calibration, title=name + " labels"))
    pushed = session.rois_to_roi_manager(paths["rois"], imp, replace=True) if paths["rois"].exists() else None
    if paths["objects"].exists():  # the per-object table as a Fiji table window
        session.jimport("ij.measure.ResultsTable").open(str(paths["objects"])).show(paths["objects"].name)
    summary = f"{pushed.count if pushed else 0} objects; ROIs in the {pushed.target if pushed else 'ROI Manager'}"
print("pyfiji-dl:", summary)
