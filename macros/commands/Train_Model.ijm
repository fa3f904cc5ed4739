// Train: start training a new model (stardist, unet, care or n2v) in the background;
// reports where the model, its log and its QC report will be.
// Options: family=stardist|unet|care|n2v data=FOLDER model=FOLDER epochs=N steps=N.
pyfijiTrain(false);
