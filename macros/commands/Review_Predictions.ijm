// Review Predictions: open an image with its ROI set (and label map when there is one)
// side by side, ROIs in the ROI Manager ready to edit; then use Save Corrections.
// Looks for the ROI set in predictions/rois/NAME.zip next to the image, then
// ../masks/NAME.zip. Arguments (optional): image=PATH, rois=ZIP.
imagePath = pyfijiArg("image", "");
if (imagePath == "") {
    if (nImages > 0 && getDirectory("image") != "")
        imagePath = getDirectory("image") + getInfo("image.filename");
    else
        imagePath = File.openDialog("Image to review");
}
name = File.getNameWithoutExtension(imagePath);
folder = File.getParent(imagePath);
roiZip = pyfijiArg("rois", "");
candidates = newArray(folder + File.separator + "predictions" + File.separator + "rois" + File.separator + name + ".zip",
                      File.getParent(folder) + File.separator + "masks" + File.separator + name + ".zip",
                      File.getParent(folder) + File.separator + "rois" + File.separator + name + ".zip");
for (i = 0; i < candidates.length && roiZip == ""; i++) {
    if (File.exists(candidates[i]))
        roiZip = candidates[i];
}
if (roiZip == "")
    exit("No ROI set found for " + name + ". Looked for:\n" + String.join(candidates, "\n"));
labelMap = File.getParent(File.getParent(roiZip)) + File.separator + "masks" + File.separator + name + ".tif";
if (File.exists(labelMap) && labelMap != imagePath)
    open(labelMap);
open(imagePath);
roiManager("reset");
roiManager("Open", roiZip);
roiManager("Show All without labels");
print("pyfiji-dl: reviewing " + name + ": " + roiManager("count") + " ROIs from " + roiZip);
