// Fine-tune: continue training an existing model on new or corrected data, in the background;
// reports where the model, its log and its QC report will be.
// Arguments (optional): family=..., data=FOLDER, from=MODEL, model=NEW_FOLDER, epochs=N.
family = pyfijiArg("family", "stardist");
data = pyfijiArg("data", pyfijiRemembered("data", ""));
model = pyfijiArg("model", "");
epochs = pyfijiArg("epochs", "100");
source = pyfijiArg("from", "");
if (lengthOf(pyfijiArguments) == 0) {  // run from the menu: ask
    Dialog.create("pyfiji-dl: Fine-tune");
    Dialog.addChoice("Model type", newArray("stardist", "care", "n2v"), family);
    Dialog.addDirectory("Training data folder", data);
    Dialog.addDirectory("Start from model", source);
    Dialog.addDirectory("New model folder", model);
    Dialog.addNumber("Epochs", parseInt(epochs));
    Dialog.show();
    family = Dialog.getChoice();
    data = Dialog.getString();
    source = Dialog.getString();
    model = Dialog.getString();
    epochs = "" + Dialog.getNumber();
}
if (data == "" || model == "" || source == "")
    exit("Choose the training data folder, the model to start from and a new model folder.");
pyfijiRemember("data", data);
pyfijiCheck(exec(pyfijiCommand(), "--for-imagej", "train", family, "--data", data, "--model", model, "--epochs", epochs, "--from", source, "--background"));
print("pyfiji-dl: training runs in the background; open the model folder's qc/index.html when it is done.");
