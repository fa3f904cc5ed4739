// Labels from ROI Manager: the current image's ROIs -> a 16-bit label map, following the
// images/ + masks/ convention: for an image saved as images/NAME.tif (or any file in a
// folder), masks/NAME.tif and masks/NAME.zip (the ROI set to edit later) next to it; for
// an image never saved, in the chosen data folder. NAME is the image's title.
// Options: data=FOLDER (where masks/ goes; default: as above), image=PATH.
imagePath = pyfijiArg("image", "");
if (imagePath != "")
    open(imagePath);
if (roiManager("count") == 0)
    exit("The ROI Manager is empty: outline each object and press 't' to add it.");
root = pyfijiArg("data", "");
if (root == "") {
    folder = pyfijiImageFolder();
    root = folder;
    if (File.getName(folder) == "images")
        root = File.getParent(folder);
}
if (root == "" && !pyfijiHasOptions()) {
    Dialog.create("pyfiji-dl: Labels from ROI Manager");
    Dialog.addMessage("This image was never saved: where should masks/ go?");
    Dialog.addDirectory("Data folder", pyfijiRemembered("data", ""));
    Dialog.show();
    root = Dialog.getString();
    pyfijiRecord("" + pyfijiOption("data", root));
}
if (root == "")
    exit("Choose the data folder (masks/ is written in it), or save the image first.");
name = pyfijiImageName();
source = pyfijiImageToTiff();
labels = pyfijiSaveLabels(source, root, name);
pyfijiDeleteTemporary(source);
print("pyfiji-dl: label map " + labels);
