// Review Predictions: the current image (or one you choose) with its ROI set in the ROI
// Manager, ready to edit, and its label map when there is one; then use Save Corrections.
// The ROI set NAME.zip (NAME: the image's title) is looked for in the last prediction
// folder's rois/, in predictions/rois/ next to the image's file, then in ../masks/ and
// ../rois/. With no image open, the next image of the review queue of the last prediction
// folder (summary.csv: most objects of low confidence first) not yet in the data folder's
// corrections.csv. ROIs are listed least confident first. Options: image=PATH (open this
// file), rois=ZIP (this ROI set), queue=FOLDER (a prediction folder to take the next image from).
imagePath = pyfijiArg("image", "");
roiZip = pyfijiArg("rois", "");
queue = pyfijiArg("queue", pyfijiRemembered("predictions", ""));
if (imagePath == "" && nImages == 0 && File.exists(queue + File.separator + "summary.csv")) {
    arguments = newArray("review-next", queue);
    data = pyfijiRemembered("data", "");
    if (data != "")
        arguments = Array.concat(arguments, newArray("--data", data));
    output = pyfijiRun(arguments);
    lines = split(output, "\n");
    for (i = 0; i < lines.length; i++) {
        if (startsWith(lines[i], "PYFIJI-DL REVIEW IMAGE "))
            imagePath = String.trim(substring(lines[i], lengthOf("PYFIJI-DL REVIEW IMAGE ")));
        if (startsWith(lines[i], "PYFIJI-DL REVIEW ROIS ") && roiZip == "")
            roiZip = String.trim(substring(lines[i], lengthOf("PYFIJI-DL REVIEW ROIS ")));
    }
    if (imagePath == "")
        exit("Every image of the review queue in " + queue + " has been reviewed.");
}
if (imagePath == "" && nImages == 0)
    imagePath = File.openDialog("Image to review");
if (imagePath != "")
    open(imagePath);
id = getImageID();
name = pyfijiImageName();
folder = pyfijiImageFolder();
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
pyfijiRemember("reviewed", roiZip);  // Save Corrections compares with this prediction
print("pyfiji-dl: reviewing " + name + ": " + n + " ROIs from " + roiZip);
print("pyfiji-dl: least confident first; outlines from vermillion (least confident) through yellow to sky blue");
