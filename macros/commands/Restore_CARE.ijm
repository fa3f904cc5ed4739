// Restore (CARE): apply a trained model to the current image; opens the restored 32-bit image.
// Arguments (optional): model=FOLDER, output=FOLDER, image=PATH.
model = pyfijiArg("model", "");
output = pyfijiArg("output", "");
imagePath = pyfijiArg("image", "");
if (imagePath == "")
    imagePath = pyfijiImagePath();
if (output == "")
    output = File.getParent(imagePath) + File.separator + "restored";
if (lengthOf(pyfijiArguments) == 0) {  // run from the menu: ask
    Dialog.create("pyfiji-dl: Restore (CARE)");
    Dialog.addDirectory("Model folder", pyfijiRemembered("care", ""));
    Dialog.addDirectory("Output folder", output);
    Dialog.show();
    model = Dialog.getString();
    output = Dialog.getString();
}
if (model == "")
    exit("Choose a model folder (one written by 'pyfiji-dl train care').");
pyfijiRemember("care", model);
pyfijiCheck(exec(pyfijiCommand(), "--for-imagej", "predict", model, imagePath, "-o", output, "--overwrite"));
restored = output + File.separator + "restored" + File.separator + File.getNameWithoutExtension(imagePath) + ".tif";
open(restored);
print("pyfiji-dl: restored image " + restored);
