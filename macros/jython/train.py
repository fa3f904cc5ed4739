#@ String (label="Family", choices={PYFIJI_FAMILIES}) family
#@ File (label="Training data folder", style="directory") data
#@ File (label="New model folder", style="directory") model
#@ Integer (label="Epochs", value=100, min=1) epochs
#@ Integer (label="Steps per epoch", value=100, min=1) steps
#@output String report
# Train a model in the background (Jython, Fiji's default Python): the data are checked
# now, then training runs in its own process and Fiji stays free. Data: stardist and
# unet images/ + masks/ (or rois/); care low/ + GT/; n2v images/. Calls 'pyfiji-dl'.
output = pyfiji_run(["train", family, "--data", data.getPath(), "--model", model.getPath(),
                     "--epochs", epochs, "--steps", steps, "--background"])
report = os.path.join(model.getPath(), "qc", "index.html")
IJ.log("pyfiji-dl: training runs in the background; QC report when it is done: " + report)
