// ---- pyfiji-dl: shared part, joined in front of every command by 'pyfiji-dl fiji install' ----
// The commands call the 'pyfiji-dl' program with each argument passed separately
// (exec with several arguments runs no shell, so paths with spaces or quotes are safe).
// A command run from a menu asks with a dialog; run with an argument (runMacro(file, arg))
// it reads "key=value" options instead, written as for run(): model=[/a folder/with spaces].

var pyfijiArguments = getArgument();

// The value of 'key' from the macro's argument, or 'fallback'.
function pyfijiArg(key, fallback) {
    return call("ij.Macro.getValue", pyfijiArguments, key, fallback);
}

// A setting written by 'pyfiji-dl fiji install' next to this macro.
function pyfijiConfig(key) {
    config = pyfijiArg("config", File.getParent(getInfo("macro.filepath")) + File.separator + "pyfiji-dl.config.txt");
    if (!File.exists(config))
        exit("pyfiji-dl is not set up for this Fiji.\nIn a terminal, run:\n  pyfiji-dl fiji install --fiji <your Fiji.app>");
    lines = split(File.openAsString(config), "\n");
    for (i = 0; i < lines.length; i++) {
        if (startsWith(lines[i], key + "="))
            return substring(lines[i], lengthOf(key) + 1);
    }
    exit("pyfiji-dl: '" + key + "' is missing from " + config + ";\nrun 'pyfiji-dl fiji install' again.");
}

// The 'pyfiji-dl' program to call.
function pyfijiCommand() {
    command = pyfijiConfig("command");
    if (!File.exists(command))
        exit("pyfiji-dl: the program " + command + " does not exist any more;\nrun 'pyfiji-dl fiji install' again.");
    return command;
}

// Check what the program printed: stop with its error message, or return the output.
function pyfijiCheck(output) {
    if (indexOf(output, "PYFIJI-DL STATUS ok") >= 0) {
        print(replace(output, "PYFIJI-DL STATUS ok\n", ""));
        return output;
    }
    // the command's error lines, as one line: the message box wraps it
    lines = split(output, "\n");
    message = "";
    for (i = 0; i < lines.length; i++) {
        if (startsWith(lines[i], "PYFIJI-DL STATUS"))
            continue;
        if (indexOf(lines[i], "error") >= 0 || startsWith(lines[i], "  ") || startsWith(lines[i], "/"))
            message = message + String.trim(lines[i]) + " ";
    }
    if (message == "")
        message = replace(output, "\n", " ");
    exit("pyfiji-dl failed:\n" + String.trim(message));
}

// The saved file of the current image ('' when it was never saved).
function pyfijiImagePath() {
    if (nImages == 0)
        exit("Open an image first.");
    dir = getDirectory("image");
    if (dir == "")
        exit("Save the image first (File > Save As > Tiff...): pyfiji-dl works on files.");
    return dir + getInfo("image.filename");
}

// A remembered folder (ImageJ preferences), or 'fallback'.
function pyfijiRemembered(key, fallback) {
    return call("ij.Prefs.get", "pyfiji-dl." + key, fallback);
}

function pyfijiRemember(key, value) {
    call("ij.Prefs.set", "pyfiji-dl." + key, value);
}

// Save the ROI Manager of the current image as root/masks/NAME.zip and the label map
// root/masks/NAME.tif (exact: the pixels ImageJ fills for each ROI).
function pyfijiSaveLabels(imagePath, root) {
    if (roiManager("count") == 0)
        exit("The ROI Manager is empty: outline each object and press 't' to add it.");
    name = File.getNameWithoutExtension(imagePath);
    masks = root + File.separator + "masks";
    File.makeDirectory(root);
    File.makeDirectory(masks);
    roiZip = masks + File.separator + name + ".zip";
    roiManager("Save", roiZip);
    labels = masks + File.separator + name + ".tif";
    // fill as the ImageJ this macro runs in fills (its version picks the rules)
    pyfijiCheck(exec(pyfijiCommand(), "--for-imagej", "rois-to-labels", roiZip, "--image", imagePath, "-o", labels, "--imagej", getVersion()));
    return labels;
}
// ---- end of the shared part ----
