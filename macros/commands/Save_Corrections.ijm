// Save Corrections: the current image and its edited ROI Manager become training data:
// DATA/images/NAME.tif (the image as it is on screen, written as an ImageJ TIFF with its
// calibration, whatever format it came from), DATA/masks/NAME.tif (label map) and
// DATA/masks/NAME.zip (the ROI set). NAME is the image's title.
// Options: data=FOLDER, image=PATH (a file instead of the current image).
data = pyfijiArg("data", "");
if (!pyfijiHasOptions()) {
    Dialog.create("pyfiji-dl: Save corrections");
    Dialog.addDirectory("Data folder (training data)", pyfijiRemembered("data", ""));
    Dialog.show();
    data = Dialog.getString();
}
if (data == "")
    exit("Choose the training data folder.");
pyfijiRemember("data", data);
imagePath = pyfijiArg("image", "");
if (imagePath != "")
    open(imagePath);
if (roiManager("count") == 0)
    exit("The ROI Manager is empty: outline each object and press 't' to add it.");
name = pyfijiImageName();
File.makeDirectory(data);
File.makeDirectory(data + File.separator + "images");
copy = pyfijiWriteImage(data + File.separator + "images" + File.separator + name + ".tif");
labels = pyfijiSaveLabels(copy, data, name);
print("pyfiji-dl: corrections saved for training: " + copy + " and " + labels);
