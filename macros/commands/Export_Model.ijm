// Export model: share a trained model as a BioImage Model Zoo package (deepImageJ, and
// 'pyfiji-dl predict') or as the zip of the StarDist / CSBDeep Fiji plugins; the package is
// validated before it is written. Options: model=FOLDER format=bioimageio|fiji-stardist|
// fiji-csbdeep output=ZIP (default: beside the model) author=NAME replace (an existing zip).
formats = newArray("bioimageio", "fiji-stardist", "fiji-csbdeep");
model = pyfijiArg("model", pyfijiRemembered("stardist", ""));
format = pyfijiArg("format", "bioimageio");
output = pyfijiArg("output", "");
author = pyfijiArg("author", pyfijiRemembered("author", ""));
replaceZip = pyfijiFlag("replace", false);
if (!pyfijiHasOptions()) {
    Dialog.create("pyfiji-dl: Export model");
    Dialog.addDirectory("Model folder", model);
    Dialog.addChoice("Format", formats, format);
    Dialog.addFile("Output zip (empty: beside the model)", output);
    Dialog.addString("Author (bioimageio)", author, 30);
    Dialog.addCheckbox("Replace an existing zip", replaceZip);
    Dialog.show();
    model = Dialog.getString();
    format = Dialog.getChoice();
    output = Dialog.getString();
    author = Dialog.getString();
    replaceZip = Dialog.getCheckbox();
    pyfijiRecord("" + pyfijiOption("model", model) + pyfijiOption("format", format) + pyfijiOption("output", output)
                 + pyfijiOption("author", author) + pyfijiFlagOption("replace", replaceZip));
}
if (model == "")
    exit("Choose the model folder to export.");
if (endsWith(model, File.separator) || endsWith(model, "/"))
    model = substring(model, 0, lengthOf(model) - 1);
if (output == "")
    output = model + "." + format + ".zip";
arguments = newArray("export", model, "--format", format, "-o", output);
if (author != "") {
    pyfijiRemember("author", author);
    arguments = Array.concat(arguments, newArray("--author", author));
}
if (replaceZip)
    arguments = Array.concat(arguments, "--overwrite");
pyfijiRun(arguments);
print("pyfiji-dl: exported " + output);
