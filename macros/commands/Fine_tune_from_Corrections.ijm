// Fine-tune from Corrections: the model learns from what you corrected. The corrected
// images saved by Save Corrections are mixed with the model's own training data and a new
// version (MODEL_v2, MODEL_v3, ...) is trained next to the model, in the background, with
// its lineage in provenance.json and a report comparing it with the model it came from.
// Predict StarDist then offers the new version. Options: model=FOLDER data=FOLDER
// (the corrections: images/ + masks/) epochs=N steps=N.
model = pyfijiArg("model", pyfijiRemembered("stardist", ""));
data = pyfijiArg("data", pyfijiRemembered("data", ""));
epochs = pyfijiArg("epochs", "20");
steps = pyfijiArg("steps", "50");
if (!pyfijiHasOptions()) {
    Dialog.create("pyfiji-dl: Fine-tune from corrections");
    Dialog.addDirectory("Model folder (to improve)", model);
    Dialog.addDirectory("Data folder (corrections)", data);
    Dialog.addNumber("Epochs", parseInt(epochs));
    Dialog.addNumber("Steps per epoch", parseInt(steps));
    Dialog.addMessage("The model is not changed: a new version is trained next to it, in the background.");
    Dialog.show();
    model = Dialog.getString();
    data = Dialog.getString();
    epochs = "" + Dialog.getNumber();
    steps = "" + Dialog.getNumber();
    pyfijiRecord("" + pyfijiOption("model", model) + pyfijiOption("data", data) + pyfijiOption("epochs", epochs)
                 + pyfijiOption("steps", steps));
}
if (model == "" || data == "")
    exit("Choose the model to improve and the data folder Save Corrections wrote.");
output = pyfijiRun(newArray("fine-tune", model, "--corrections", data, "--epochs", epochs, "--steps", steps,
                            "--background"));
lines = split(output, "\n");
version = "";
for (i = 0; i < lines.length; i++) {
    if (startsWith(lines[i], "New model version: "))
        version = substring(lines[i], lengthOf("New model version: "));
}
if (version != "") {
    pyfijiRemember("stardist", version);  // Predict StarDist's next default
    print("pyfiji-dl: when its training has finished, Predict StarDist uses the new version " + version);
}
