// Predict (StarDist or U-Net): segment the current image, as it is on screen, with a
// trained model; opens the label map, puts one ROI per object on the image (ROI Manager,
// each on its frame or slice) and opens the per-object table.
// Options: model=FOLDER output=FOLDER (default: 'predictions' next to the image's file),
// image=PATH (a file instead of the current image).
model = pyfijiArg("model", "");
output = pyfijiArg("output", "");
imagePath = pyfijiArg("image", "");
if (imagePath != "")
    open(imagePath);
if (output == "")
    output = pyfijiDefaultFolder("predictions");
if (!pyfijiHasOptions()) {
    Dialog.create("pyfiji-dl: Predict (StarDist, U-Net)");
    Dialog.addDirectory("Model folder", pyfijiRemembered("stardist", ""));
    Dialog.addDirectory("Output folder", output);
    Dialog.show();
    model = Dialog.getString();
    output = Dialog.getString();
    pyfijiRecord("" + pyfijiOption("model", model) + pyfijiOption("output", output));
}
if (model == "")
    exit("Choose a model folder (one written by 'pyfiji-dl train stardist' or 'train unet').");
pyfijiRemember("stardist", model);
pyfijiRemember("predictions", output);
id = getImageID();
name = pyfijiImageName();
source = pyfijiImageToTiff();
pyfijiRun(newArray("predict", model, source, "-o", output, "--overwrite"));
pyfijiDeleteTemporary(source);
// the ROIs and the table first, while the image is still the current one: each switch back
// to it waits for its window to be activated (up to 1 s in ImageJ; a display without a
// window manager never activates it)
n = pyfijiShowRois(id, output + File.separator + "rois" + File.separator + name + ".zip");
pyfijiOpenTable(output + File.separator + "objects" + File.separator + name + ".csv");
open(output + File.separator + "masks" + File.separator + name + ".tif");
rename(name + " labels");
selectImage(id);
print("pyfiji-dl: " + n + " objects; ROIs in the ROI Manager, outputs in " + output);
