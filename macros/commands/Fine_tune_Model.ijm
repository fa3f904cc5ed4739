// Fine-tune: continue training an existing model on new or corrected data, in the
// background; reports where the model, its log and its QC report will be.
// Options: family=... data=FOLDER from=MODEL model=NEW_FOLDER epochs=N steps=N.
pyfijiTrain(true);
