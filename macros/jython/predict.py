#@ ImagePlus imp
#@ File (label="Model folder", style="directory") model
#@ File (label="Output folder", style="directory") output
#@output String summary
# Predict the current image, as it is in memory, with a model trained by pyfiji-dl
# (Jython, Fiji's default Python). StarDist and U-Net: the label map opens, one ROI per
# object goes onto the image (ROI Manager) and the object table opens. CARE and
# Noise2Void: the restored 32-bit image opens. Calls the 'pyfiji-dl' program.
name = pyfiji_image_name(imp)
source = pyfiji_image_to_tiff(imp)
try:
    pyfiji_run(["predict", model.getPath(), source, "-o", output.getPath(), "--overwrite"])
finally:
    pyfiji_delete_temporary(source)
out = output.getPath()
restored = os.path.join(out, "restored", name + ".tif")
if os.path.exists(restored):
    result = IJ.openImage(restored)
    result.setTitle(name + " restored")
    result.show()
    summary = "restored image: " + restored
else:
    labels = IJ.openImage(os.path.join(out, "masks", name + ".tif"))
    labels.setTitle(name + " labels")
    labels.show()
    n = pyfiji_show_rois(imp, os.path.join(out, "rois", name + ".zip"))
    pyfiji_open_table(os.path.join(out, "objects", name + ".csv"))
    IJ.selectWindow(imp.getID())  # back to the image the ROIs are on
    summary = "%d objects; ROIs in the ROI Manager, outputs in %s" % (n, out)
IJ.log("pyfiji-dl: " + summary)
