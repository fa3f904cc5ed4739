// Automatic labels: nucleus label maps from a folder of fluorescence images (Fiji's CLAHE,
// adaptive Otsu, size filter, label QC), to train a U-Net on the paired transmitted-light
// images of the same names. Options: fluorescence=FOLDER output=FOLDER (the masks folder;
// default: masks/ beside the fluorescence folder) minimum=DIAMETER maximum=DIAMETER
// (pixels) split (touching nuclei) report (contact sheet) replace (existing label maps).
fluorescence = pyfijiArg("fluorescence", pyfijiRemembered("fluorescence", ""));
output = pyfijiArg("output", "");
minimum = pyfijiArg("minimum", "5");
maximum = pyfijiArg("maximum", "30");
splitTouching = pyfijiFlag("split", false);
report = pyfijiFlag("report", true);
replaceLabels = pyfijiFlag("replace", false);
if (output == "" && fluorescence != "")
    output = File.getParent(fluorescence) + File.separator + "masks";
if (!pyfijiHasOptions()) {
    Dialog.create("pyfiji-dl: Automatic labels");
    Dialog.addDirectory("Fluorescence folder", fluorescence);
    Dialog.addDirectory("Output folder (masks)", output);
    Dialog.addNumber("Minimum diameter (pixels)", parseFloat(minimum));
    Dialog.addNumber("Maximum diameter (pixels)", parseFloat(maximum));
    Dialog.addCheckbox("Split touching nuclei", splitTouching);
    Dialog.addCheckbox("Report (contact sheet of kept and excluded images)", report);
    Dialog.addCheckbox("Replace existing label maps", replaceLabels);
    Dialog.show();
    fluorescence = Dialog.getString();
    output = Dialog.getString();
    minimum = "" + Dialog.getNumber();
    maximum = "" + Dialog.getNumber();
    splitTouching = Dialog.getCheckbox();
    report = Dialog.getCheckbox();
    replaceLabels = Dialog.getCheckbox();
    pyfijiRecord("" + pyfijiOption("fluorescence", fluorescence) + pyfijiOption("output", output)
                 + pyfijiOption("minimum", minimum) + pyfijiOption("maximum", maximum)
                 + pyfijiFlagOption("split", splitTouching) + pyfijiFlagOption("report", report)
                 + pyfijiFlagOption("replace", replaceLabels));
}
if (fluorescence == "")
    exit("Choose the folder of fluorescence images.");
if (output == "")
    output = File.getParent(fluorescence) + File.separator + "masks";
pyfijiRemember("fluorescence", fluorescence);
arguments = newArray("autolabel", "--fluorescence", fluorescence, "-o", output, "--min-diameter", minimum,
                     "--max-diameter", maximum, "--quiet");
if (splitTouching)
    arguments = Array.concat(arguments, "--split-touching");
if (report)
    arguments = Array.concat(arguments, "--report");
if (replaceLabels)
    arguments = Array.concat(arguments, "--overwrite");
pyfijiRun(arguments);
print("pyfiji-dl: label maps in " + output + "; what was kept and why: the autolabel_report folder beside it.");
