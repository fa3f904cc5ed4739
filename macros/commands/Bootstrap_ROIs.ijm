// Bootstrap ROIs: start an annotation of the current image, as it is on screen, the way
// Fiji's manual protocol does (an auto-threshold, then Analyze Particles > Add to Manager):
// the ROIs go into the ROI Manager on the image (each on its slice) to correct by hand,
// then Save Corrections. Options: method=Otsu minimum=AREA (pixels) exclude (edges)
// split (touching objects) light (background: dark objects), image=PATH.
methods = newArray("Default", "Huang", "Intermodes", "IsoData", "IJ_IsoData", "Li", "MaxEntropy", "Mean",
                   "MinError", "Minimum", "Moments", "Otsu", "Percentile", "RenyiEntropy", "Shanbhag",
                   "Triangle", "Yen");
imagePath = pyfijiArg("image", "");
if (imagePath != "")
    open(imagePath);
method = pyfijiArg("method", pyfijiRemembered("method", "Default"));
minimum = pyfijiArg("minimum", "0");
exclude = pyfijiFlag("exclude", false);
splitTouching = pyfijiFlag("split", false);
light = pyfijiFlag("light", false);
if (!pyfijiHasOptions()) {
    Dialog.create("pyfiji-dl: Bootstrap ROIs");
    Dialog.addChoice("Method (threshold)", methods, method);
    Dialog.addNumber("Minimum area (pixels)", parseInt(minimum));
    Dialog.addCheckbox("Exclude objects on the edges", exclude);
    Dialog.addCheckbox("Split touching objects (watershed)", splitTouching);
    Dialog.addCheckbox("Light background (dark objects)", light);
    Dialog.show();
    method = Dialog.getChoice();
    minimum = "" + Dialog.getNumber();
    exclude = Dialog.getCheckbox();
    splitTouching = Dialog.getCheckbox();
    light = Dialog.getCheckbox();
    pyfijiRecord("" + pyfijiOption("method", method) + pyfijiOption("minimum", minimum) + pyfijiFlagOption("exclude", exclude)
                 + pyfijiFlagOption("split", splitTouching) + pyfijiFlagOption("light", light));
}
pyfijiRemember("method", method);
id = getImageID();
name = pyfijiImageName();
source = pyfijiImageToTiff();
rois = File.getParent(source) + File.separator + "rois";
// threshold as the ImageJ this macro runs in does (its version picks the rules)
arguments = newArray("bootstrap-rois", source, "-o", rois, "--method", method, "--min-area", minimum,
                     "--imagej", getVersion());
if (exclude)
    arguments = Array.concat(arguments, "--exclude-edges");
if (splitTouching)
    arguments = Array.concat(arguments, "--split-touching");
if (light)
    arguments = Array.concat(arguments, "--light-background");
pyfijiRun(arguments);
zip = rois + File.separator + name + ".zip";
n = pyfijiShowRois(id, zip);
if (File.exists(zip))
    deleted = File.delete(zip);
deleted = File.delete(rois);
pyfijiDeleteTemporary(source);
print("pyfiji-dl: " + n + " ROIs (" + method + " threshold) in the ROI Manager: correct them, then Save Corrections.");
