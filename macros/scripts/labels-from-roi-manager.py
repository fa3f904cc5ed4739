#@script(language="python")
#@ ImageJ ij
#@ String (label="ROIs that overlap", choices={"last-wins", "first-wins", "drop", "error"}, value="last-wins") overlap
#@ Boolean (label="Show the label map", value=true) show
#@output String labels_path
"""Labels from ROI Manager, for Fiji's script editor in Python mode (pyimagej).

The current image's ROI Manager -> a 16-bit label map written next to the image's file
(images/NAME.tif -> masks/NAME.tif), pixel for pixel as ImageJ fills the ROIs. NAME is
the image's title; the image is read as it is in memory.
"""
import re
from pathlib import Path

from pyfiji_dl.fiji.session import FijiSession, FijiSessionError
from pyfiji_dl.io.tiff import write_label_image

session = FijiSession.for_script(globals().get("ij"))
imp = session.current_image()
labels, axes, report = session.labels_from_roi_manager(imp, overlap=str(overlap))
_, _, calibration = session.from_imageplus(imp)
info = imp.getOriginalFileInfo()
if info is None or not info.directory:
    # an exception, not SystemExit: Fiji's script runner shows an exception's message
    raise FijiSessionError("Save the image first (File > Save As > Tiff...): the label map goes next to its file, "
                           "in masks/.")
folder = Path(str(info.directory))
root = folder.parent if folder.name == "images" else folder
name = re.sub(r'[/\\:*?"<>|]', "_", re.sub(r"\.[A-Za-z0-9]{1,5}$", "", str(imp.getTitle()))).strip() or "image"
labels_path = str(write_label_image(root / "masks" / (name + ".tif"), labels, axes, calibration=calibration))
for message in report.messages():
    print("pyfiji-dl:", message)
print(f"pyfiji-dl: {report.n_labels} labels -> {labels_path}")
if show:
    session.show(session.to_imageplus(labels.astype("uint16"), axes, calibration, title=Path(labels_path).name))
