#@script(language="python")
#@ File (label="Training data (images/ + masks/ or rois/)", style="directory") data
#@ File (label="New model folder", style="directory") model
#@ Integer (label="Epochs", value=100, min=1) epochs
#@ Integer (label="Steps per epoch", value=100, min=1) steps
#@ Integer (label="Patch size", value=256, min=16) patch
#@ Float (label="Stop after (minutes, 0 = no limit)", value=0) minutes
#@output String report
"""Train StarDist from Fiji's script editor in Python mode; Fiji waits until it is done.

Use the 'Train Model' menu command (or 'pyfiji-dl train stardist --background') to
keep Fiji free while training.
"""
from pyfiji_dl import families

stardist = families.get("stardist")
options = stardist.options_class(epochs=int(epochs), steps=int(steps), patch=(int(patch), int(patch)),
                                 max_minutes=float(minutes) or None)
outcome = stardist.train(str(data), str(model), options, command_line=["Fiji script train-stardist.py"])
report = str(outcome.report)
print(f"pyfiji-dl: model {outcome.model_dir}; thresholds {outcome.thresholds}; QC report {report}")
