#@ ImagePlus imp
#@ File (label="Data folder (masks/ is written in it)", style="directory") data
#@output String labels_path
# Labels from ROI Manager (Jython, Fiji's default Python): the ROI Manager's ROIs on the
# current image -> DATA/masks/NAME.tif (16-bit label map, pixel for pixel as ImageJ fills
# the ROIs) and DATA/masks/NAME.zip. NAME is the image's title. Calls 'pyfiji-dl'.
manager = RoiManager.getInstance()
if manager is None or manager.getCount() == 0:
    raise PyfijiError("The ROI Manager is empty: outline each object and press 't' to add it.")
name = pyfiji_image_name(imp)
masks = os.path.join(data.getPath(), "masks")
if not os.path.isdir(masks):
    os.makedirs(masks)
roi_zip = os.path.join(masks, name + ".zip")
manager.deselect()
manager.runCommand("Save", roi_zip)
labels_path = os.path.join(masks, name + ".tif")
source = pyfiji_image_to_tiff(imp)
try:
    # fill as the ImageJ this script runs in fills (its version picks the rules)
    pyfiji_run(["rois-to-labels", roi_zip, "--image", source, "-o", labels_path, "--imagej", IJ.getVersion()])
finally:
    pyfiji_delete_temporary(source)
IJ.log("pyfiji-dl: label map " + labels_path)
