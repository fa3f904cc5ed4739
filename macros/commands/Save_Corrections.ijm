// Save Corrections: the current image and its edited ROI Manager become training data:
// DATA/images/NAME.tif (a copy of the image), DATA/masks/NAME.tif (label map) and
// DATA/masks/NAME.zip (the ROI set). Arguments (optional): data=FOLDER, image=PATH.
data = pyfijiArg("data", "");
if (data == "") {
    Dialog.create("pyfiji-dl: Save corrections");
    Dialog.addDirectory("Training data folder", pyfijiRemembered("data", ""));
    Dialog.show();
    data = Dialog.getString();
}
if (data == "")
    exit("Choose the training data folder.");
pyfijiRemember("data", data);
imagePath = pyfijiArg("image", "");
if (imagePath == "")
    imagePath = pyfijiImagePath();
File.makeDirectory(data);
File.makeDirectory(data + File.separator + "images");
copy = data + File.separator + "images" + File.separator + File.getNameWithoutExtension(imagePath) + ".tif";
if (copy != imagePath) {
    if (File.exists(copy))
        File.delete(copy);
    File.copy(imagePath, copy);
}
labels = pyfijiSaveLabels(copy, data);
print("pyfiji-dl: corrections saved for training: " + labels);
