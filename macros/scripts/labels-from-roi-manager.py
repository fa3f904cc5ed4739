#@ ImageJ ij
#@ String (label="ROIs that overlap", choices={"last-wins", "first-wins", "drop", "error"}, value="last-wins") overlap
#@ Boolean (label="Show the label map", value=true) show
#@output String labels_path
"""Labels from ROI Manager, for Fiji's script editor in Python mode (pyimagej).

The current image's ROI Manager -> a 16-bit label map written next to the image
(images/NAME.tif -> masks/NAME.tif), pixel for pixel as ImageJ fills the ROIs.
"""
from pathlib import Path

from pyfiji_dl.fiji.session import FijiSession
from pyfiji_dl.io.tiff import write_label_image

session = FijiSession.for_script(globals().get("ij"))
imp = session.current_image()
labels, axes, report = session.labels_from_roi_manager(imp, overlap=str(overlap))
_, _, calibration = session.from_imageplus(imp)
info = imp.getOriginalFileInfo()
if info is None or not info.directory:
    raise SystemExit("Save the image first (File > Save As > Tiff...): the label map goes next to it.")
folder = Path(str(info.directory))
root = folder.parent if folder.name == "images" else folder
labels_path = str(write_label_image(root / "masks" / (Path(str(info.fileName)).stem + ".tif"), labels, axes,
                                    calibration=calibration))
for message in report.messages():
    print("pyfiji-dl:", message)
print(f"pyfiji-dl: {report.n_labels} labels -> {labels_path}")
if show:
    session.show(session.to_imageplus(labels.astype("uint16"), axes, calibration, title=Path(labels_path).name))
