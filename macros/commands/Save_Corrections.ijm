// Save Corrections: the current image and its edited ROI Manager become training data:
// DATA/images/NAME.tif (the image as it is on screen, written as an ImageJ TIFF with its
// calibration, whatever format it came from), DATA/masks/NAME.tif (label map) and
// DATA/masks/NAME.zip (the ROI set). NAME is the image's title. When the image was
// predicted (Review Predictions, Predict StarDist), what the review changed goes to
// DATA/corrections.csv and is shown: "12 removed, 5 added, 9 redrawn".
// Options: data=FOLDER, image=PATH (a file instead of the current image).
data = pyfijiArg("data", "");
if (!pyfijiHasOptions()) {
    Dialog.create("pyfiji-dl: Save corrections");
    Dialog.addDirectory("Data folder (training data)", pyfijiRemembered("data", ""));
    Dialog.show();
    data = Dialog.getString();
    pyfijiRecord("" + pyfijiOption("data", data));
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
// the prediction this review started from: the reviewed ROI set's label map, else the last prediction's
prediction = "";
reviewed = pyfijiRemembered("reviewed", "");
if (reviewed != "" && File.getNameWithoutExtension(reviewed) == name)
    prediction = File.getParent(File.getParent(reviewed)) + File.separator + "masks" + File.separator + name + ".tif";
if (prediction == "" || !File.exists(prediction))
    prediction = "" + pyfijiRemembered("predictions", "") + File.separator + "masks" + File.separator + name + ".tif";
if (File.exists(prediction)) {
    output = pyfijiRun(newArray("corrections", prediction, labels, "--data", data));
    lines = split(output, "\n");
    for (i = 0; i < lines.length; i++) {
        if (indexOf(lines[i], " removed, ") >= 0) {
            changes = substring(lines[i], indexOf(lines[i], ": ") + 2);
            showStatus("pyfiji-dl: " + changes);
            print("pyfiji-dl: review of " + name + ": " + changes);
        }
    }
}
