// Predict (StarDist): segment the current image with a trained model; opens the label
// map and loads one ROI per object into the ROI Manager for review.
// Arguments (optional): model=FOLDER, output=FOLDER, image=PATH.
model = pyfijiArg("model", "");
output = pyfijiArg("output", "");
imagePath = pyfijiArg("image", "");
if (imagePath == "")
    imagePath = pyfijiImagePath();
if (output == "")
    output = File.getParent(imagePath) + File.separator + "predictions";
if (lengthOf(pyfijiArguments) == 0) {  // run from the menu: ask
    Dialog.create("pyfiji-dl: Predict (StarDist)");
    Dialog.addDirectory("Model folder", pyfijiRemembered("stardist", ""));
    Dialog.addDirectory("Output folder", output);
    Dialog.show();
    model = Dialog.getString();
    output = Dialog.getString();
}
if (model == "")
    exit("Choose a StarDist model folder (one written by 'pyfiji-dl train stardist').");
pyfijiRemember("stardist", model);
pyfijiCheck(exec(pyfijiCommand(), "--for-imagej", "predict", model, imagePath, "-o", output, "--overwrite"));
name = File.getNameWithoutExtension(imagePath);
open(output + File.separator + "masks" + File.separator + name + ".tif");
roiManager("reset");
roiZip = output + File.separator + "rois" + File.separator + name + ".zip";
if (File.exists(roiZip)) {
    roiManager("Open", roiZip);
    roiManager("Show All without labels");
}
print("pyfiji-dl: " + roiManager("count") + " objects; ROIs in the ROI Manager, outputs in " + output);
