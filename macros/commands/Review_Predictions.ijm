// Review Predictions: the current image (or one you choose) with its ROI set in the ROI
// Manager, ready to edit, and its label map when there is one; then use Save Corrections.
// The ROI set NAME.zip (NAME: the image's title) is looked for in the last prediction
// folder's rois/, in predictions/rois/ next to the image's file, then in ../masks/ and
// ../rois/. Options: image=PATH (open this file), rois=ZIP (this ROI set).
imagePath = pyfijiArg("image", "");
if (imagePath == "" && nImages == 0)
    imagePath = File.openDialog("Image to review");
if (imagePath != "")
    open(imagePath);
id = getImageID();
name = pyfijiImageName();
folder = pyfijiImageFolder();
roiZip = pyfijiArg("rois", "");
lastPredictions = pyfijiRemembered("predictions", "");
candidates = newArray(lastPredictions + File.separator + "rois" + File.separator + name + ".zip");
if (folder != "")
    candidates = Array.concat(candidates, newArray(
        folder + File.separator + "predictions" + File.separator + "rois" + File.separator + name + ".zip",
        File.getParent(folder) + File.separator + "masks" + File.separator + name + ".zip",
        File.getParent(folder) + File.separator + "rois" + File.separator + name + ".zip"));
for (i = 0; i < candidates.length && roiZip == ""; i++) {
    if (File.exists(candidates[i]))
        roiZip = candidates[i];
}
if (roiZip == "")
    exit("No ROI set found for " + name + ". Looked for:\n" + String.join(candidates, "\n"));
labelMap = File.getParent(File.getParent(roiZip)) + File.separator + "masks" + File.separator + name + ".tif";
if (File.exists(labelMap) && !isOpen(name + " labels")) {
    open(labelMap);
    rename(name + " labels");
}
n = pyfijiShowRois(id, roiZip);
print("pyfiji-dl: reviewing " + name + ": " + n + " ROIs from " + roiZip);
