// Train: start training a model (stardist, care or n2v) in the background;
// reports where the model, its log and its QC report will be.
// Arguments (optional): family=stardist|care|n2v, data=FOLDER, model=FOLDER, epochs=N.
family = pyfijiArg("family", "stardist");
data = pyfijiArg("data", pyfijiRemembered("data", ""));
model = pyfijiArg("model", "");
epochs = pyfijiArg("epochs", "100");

if (lengthOf(pyfijiArguments) == 0) {  // run from the menu: ask
    Dialog.create("pyfiji-dl: Train");
    Dialog.addChoice("Model type", newArray("stardist", "care", "n2v"), family);
    Dialog.addDirectory("Training data folder", data);

    Dialog.addDirectory("New model folder", model);
    Dialog.addNumber("Epochs", parseInt(epochs));
    Dialog.show();
    family = Dialog.getChoice();
    data = Dialog.getString();
    model = Dialog.getString();
    epochs = "" + Dialog.getNumber();
}
if (data == "" || model == "")
    exit("Choose the training data folder and a new model folder.");
pyfijiRemember("data", data);
pyfijiCheck(exec(pyfijiCommand(), "--for-imagej", "train", family, "--data", data, "--model", model, "--epochs", epochs, "--background"));
print("pyfiji-dl: training runs in the background; open the model folder's qc/index.html when it is done.");
