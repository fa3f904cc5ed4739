// ---- pyfiji-dl: shared part, joined in front of every command by 'pyfiji-dl fiji install' ----
// The commands call the 'pyfiji-dl' program with each argument passed separately
// (exec with several arguments runs no shell, so paths with spaces or quotes are safe).
// A command run from a menu asks with a dialog; run with options it reads "key=value"
// options instead, written as for run(): model=[/a folder/with spaces]. The options come
// from runMacro(file, options) or from run("Predict StarDist", options); each key is the
// first word of the matching dialog field, as ImageJ records dialogs.
// The commands work on the current image as it is in memory (unsaved, edited, opened
// from any format): it is handed to pyfiji-dl as a temporary ImageJ TIFF.

// (a 'var' cannot be initialised by a function of the macro: that gives 0)
var pyfijiArguments = String.trim(getArgument());
var pyfijiTemporary = "";  // the temporary TIFF of the image on screen, removed on failure too

// The options this command was run with ('' from the menu): runMacro's argument, or
// those of run("Command", options), which ImageJ hands over as the thread's macro options.
function pyfijiOptions() {
    if (pyfijiArguments == "") {
        options = "" + call("ij.Macro.getOptions");  // "" +: call() gives no string for null
        if (options != "null")
            pyfijiArguments = String.trim(options);
    }
    return pyfijiArguments;
}

// True when the command was given options (no dialog then). (The macro language has
// quirks: a boolean expression is returned in parentheses, and a function of the macro
// is called on a line of its own, its value kept in a variable: 'return f()', 'x = f() + ...'
// and f() inside an expression can give a number.)
function pyfijiHasOptions() {
    options = pyfijiOptions();
    if (options == "")
        return false;
    return true;
}

// The value of 'key' from the options, or 'fallback'.
function pyfijiArg(key, fallback) {
    options = pyfijiOptions();
    return call("ij.Macro.getValue", options, key, fallback);
}

// A check box given as an option: the bare word ('split'), as ImageJ records it, or key=true.
function pyfijiFlag(key, fallback) {
    if (!pyfijiHasOptions())
        return fallback;
    value = pyfijiArg(key, "");
    if (value != "")
        return (value == "true" || value == "1");
    return (indexOf(" " + pyfijiArguments + " ", " " + key + " ") >= 0);
}

// "key=value" for the options string ('key=[value]' when the value has spaces).
function pyfijiOption(key, value) {
    value = "" + value;
    if (value == "" || indexOf(value, " ") >= 0)
        value = "[" + value + "]";
    return key + "=" + value + " ";
}

// The options of the checked boxes: their bare keys, as ImageJ records check boxes.
function pyfijiFlagOption(key, checked) {
    if (checked)
        return key + " ";
    return "";
}

// Run from the menu while the Macro Recorder records: record this command with the
// options chosen in its dialog, run("Command Name", "key=value ..."), which replays it.
// (ImageJ does not record macros installed in the plugins folder by itself.)
function pyfijiRecord(options) {
    if (pyfijiHasOptions())
        return;  // run from a macro: that macro's own line is the record
    if ("" + call("ij.plugin.frame.Recorder.getInstance") == "null")
        return;
    name = replace(File.getNameWithoutExtension(getInfo("macro.filepath")), "_", " ");
    line = "run(" + pyfijiQuote(name) + ", " + pyfijiQuote(String.trim(options)) + ");\n";
    call("ij.plugin.frame.Recorder.recordString", line);
}

// The model families 'pyfiji-dl train' knows, as 'pyfiji-dl fiji install' wrote them from
// its family registry ('pyfiji-dl families'): their names, or with labels=true their
// labels for dialogs.
function pyfijiFamilies(labels) {
    if (labels)
        families = split(pyfijiConfig("family_labels"), "|");
    else
        families = split(pyfijiConfig("families"), "|");
    return families;
}

// A setting written by 'pyfiji-dl fiji install' next to this macro.
function pyfijiConfig(key) {
    config = pyfijiArg("config", File.getParent(getInfo("macro.filepath")) + File.separator + "pyfiji-dl.config.txt");
    if (!File.exists(config))
        exit("pyfiji-dl is not set up for this Fiji.\nIn a terminal, run:\n  pyfiji-dl fiji install --fiji <your Fiji folder>");
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

// 'text' as a macro string literal.
function pyfijiQuote(text) {
    quoted = "\"";
    for (i = 0; i < lengthOf(text); i++) {
        c = substring(text, i, i + 1);
        if (c == "\\")
            c = "\\\\";
        else if (c == "\"")
            c = "\\\"";
        else if (c == "\n")
            c = "\\n";
        quoted = quoted + c;
    }
    return quoted + "\"";
}

// Run 'pyfiji-dl --for-imagej ARGUMENTS...' (an array, one item per argument) and return
// what it printed; stop with its error message when it fails. Every command calls
// pyfiji-dl through here.
function pyfijiRun(arguments) {
    // exec() takes each argument separately (no shell) but not an array: build the call.
    // '--submit': when the pyfiji-dl worker runs the command (it keeps TensorFlow and the
    // recent models loaded), the call returns at once with the job's folder,
    // 'PYFIJI-DL JOB FOLDER'; without a worker the command runs within the call, as before.
    code = "return exec(" + pyfijiQuote(pyfijiCommand()) + ", \"--for-imagej\", \"--submit\"";
    for (i = 0; i < arguments.length; i++)
        code = code + ", " + pyfijiQuote("" + arguments[i]);
    output = eval(code + ");");
    at = indexOf(output, "PYFIJI-DL JOB ");
    if (at >= 0) {
        // Follow the job: its progress in the status and progress bars until it ends. The
        // worker keeps the job only while this loop polls, so Esc (which ends the macro) or
        // Plugins > pyfiji-dl > Cancel Job stops it within about two seconds; finished
        // outputs are kept and running the command again skips them.
        folder = substring(output, at + lengthOf("PYFIJI-DL JOB "));
        if (indexOf(folder, "\n") >= 0)
            folder = substring(folder, 0, indexOf(folder, "\n"));
        call("java.lang.System.setProperty", "pyfiji-dl.job", folder);
        result = folder + File.separator + "result.txt";
        progress = folder + File.separator + "progress.txt";
        started = getTime();
        heartbeat = started;
        alive = 0;
        shownStatus = "";
        shownFraction = -1;
        while (!File.exists(result)) {
            now = getTime();
            if (now - alive >= 250) {
                // the worker cancels the job when this file is older than about a second
                File.saveString("" + now, folder + File.separator + "alive");
                alive = now;
            }
            if (File.exists(progress)) {
                // state, fraction, status line, the worker's heartbeat (ms)
                fields = split(File.openAsString(progress), "\t");
                if (fields.length >= 4) {
                    // repaint the bars only when they change: at this polling rate repaints
                    // take CPU time the worker's job needs on a small machine
                    if (fields[2] != shownStatus) {
                        showStatus(fields[2]);
                        shownStatus = fields[2];
                    }
                    if (fields[0] == "running" && parseFloat(fields[1]) != shownFraction) {
                        shownFraction = parseFloat(fields[1]);
                        showProgress(shownFraction);
                    }
                    heartbeat = parseFloat(fields[3]);
                }
            }
            if (now - heartbeat > 10000) {
                showProgress(1);
                exit("pyfiji-dl: the worker stopped while running this command; finished outputs are kept.\n"
                     + "Run the command again: a new worker starts. Its log is worker.log in\n"
                     + File.getParent(File.getParent(folder)));
            }
            // short commands answer within a second or two: look often then, less later
            if (now - started < 3000)
                wait(10);
            else if (now - started < 30000)
                wait(50);
            else
                wait(150);
        }
        showProgress(1);
        showStatus("");
        output = File.openAsString(result);
    }
    checked = pyfijiCheck(output);
    return checked;
}

// Check what the program printed (standard output only: from ImageJ 1.54n6 exec()
// discards standard error, so '--for-imagej' writes everything there): stop with its
// error message, or log the output and return it.
function pyfijiCheck(output) {
    if (indexOf(output, "PYFIJI-DL STATUS ok") >= 0) {
        output = replace(output, "PYFIJI-DL STATUS ok\n", "");
        print(output);
        return output;
    }
    output = replace(output, "PYFIJI-DL STATUS error\n", "");
    lines = split(output, "\n");
    message = "";
    if (indexOf(output, "Traceback (most recent call last)") >= 0) {
        // a bug: its last line says what went wrong; the whole report goes to the Log
        print(output);
        message = lines[lines.length - 1] + "\n(a bug in pyfiji-dl: the full report is in the Log window)";
    } else {
        // from the first error line to the end: the message and the lines it lists
        first = -1;
        for (i = 0; i < lines.length && first < 0; i++) {
            if (indexOf(toLowerCase(lines[i]), "error") >= 0)
                first = i;
        }
        if (first < 0)
            first = maxOf(0, lines.length - 10);
        for (i = first; i < lines.length; i++)
            message = message + lines[i] + "\n";
    }
    if (String.trim(message) == "")
        message = "it printed nothing. Run it in a terminal to see why:\n" + pyfijiCommand() + " --help";
    pyfijiDeleteTemporary(pyfijiTemporary);
    exit("pyfiji-dl failed:\n" + String.trim(message));
}

// The current image's name for output files: its title without the file extension,
// without characters that file names cannot hold.
function pyfijiImageName() {
    if (nImages == 0)
        exit("Open an image first.");
    name = getTitle();
    name = replace(name, "\\.[A-Za-z0-9]{1,5}$", "");
    name = replace(name, "[/\\\\:*?\"<>|]", "_");
    name = String.trim(name);
    if (name == "")
        name = "image";
    return name;
}

// Write the current image as it is in memory (unsaved edits, a hyperstack, any format it
// was opened from) to 'path' as an ImageJ TIFF with its calibration. A duplicate is
// written, so the user's window keeps its title, selection and unsaved state.
function pyfijiWriteImage(path) {
    if (nImages == 0)
        exit("Open an image first.");
    id = getImageID();
    batch = is("Batch Mode");
    if (!batch)
        setBatchMode(true);
    // 'ignore': the whole image even when a selection is drawn on it
    run("Duplicate...", "title=pyfiji-dl-copy duplicate ignore");
    saveAs("Tiff", path);
    close();
    selectImage(id);
    if (!batch)
        setBatchMode(false);
    return path;
}

// A new, empty temporary folder.
function pyfijiTemporaryFolder() {
    folder = getDirectory("temp") + "pyfiji-dl-" + d2s(getTime(), 0) + "-" + d2s(random * 1e6, 0);
    File.makeDirectory(folder);
    if (!File.isDirectory(folder))
        exit("pyfiji-dl: could not create a temporary folder in " + getDirectory("temp"));
    return folder;
}

// The current image as a temporary ImageJ TIFF named after it (FOLDER/NAME.tif).
function pyfijiImageToTiff() {
    command = pyfijiCommand();  // stops here, before anything is written, when pyfiji-dl is not set up
    folder = pyfijiTemporaryFolder();
    name = pyfijiImageName();
    path = pyfijiWriteImage(folder + File.separator + name + ".tif");
    pyfijiTemporary = path;
    return path;
}

// Remove a file written by pyfijiImageToTiff and its temporary folder.
function pyfijiDeleteTemporary(path) {
    if (path == "")
        return;
    if (File.exists(path))
        deleted = File.delete(path);
    folder = File.getParent(path);
    if (startsWith(File.getName(folder), "pyfiji-dl-"))
        deleted = File.delete(folder);
    if (path == pyfijiTemporary)
        pyfijiTemporary = "";
}

// The folder of the current image's file, or '' when it was never saved.
function pyfijiImageFolder() {
    if (nImages == 0)
        return "";
    folder = getDirectory("image");
    if (folder == "")
        return "";
    if (endsWith(folder, File.separator) || endsWith(folder, "/"))
        folder = substring(folder, 0, lengthOf(folder) - 1);
    return folder;
}

// Where outputs go by default: next to the image's file, else in a pyfiji-dl folder at home.
function pyfijiDefaultFolder(sub) {
    folder = pyfijiImageFolder();
    if (folder == "")
        folder = getDirectory("home") + "pyfiji-dl";
    return folder + File.separator + sub;
}

// A remembered setting (ImageJ preferences), or 'fallback'.
function pyfijiRemembered(key, fallback) {
    return call("ij.Prefs.get", "pyfiji-dl." + key, fallback);
}

function pyfijiRemember(key, value) {
    call("ij.Prefs.set", "pyfiji-dl." + key, value);
}

// Put the ROI set 'zip' on the image 'id' (ROI Manager, each ROI on its own plane).
function pyfijiShowRois(id, zip) {
    selectImage(id);
    roiManager("reset");
    if (File.exists(zip)) {
        roiManager("Open", zip);
        roiManager("Show All without labels");
    }
    return roiManager("count");
}

// Open a CSV table as a table window (like Results); returns its title.
function pyfijiOpenTable(csv) {
    if (!File.exists(csv))
        return "";
    id = 0;
    if (nImages > 0)
        id = getImageID();
    title = File.getName(csv);
    // Table.open shows it in the window of a table of that title (an earlier run's), if
    // any; selecting that window first would wait up to a second for it to be activated,
    // and as long again to activate the image once more
    Table.open(csv);
    if (id != 0 && getImageID() != id)
        selectImage(id);
    return title;
}

// Save the ROI Manager of the image in 'imagePath' (an ImageJ TIFF of the image on screen)
// as root/masks/NAME.zip and the label map root/masks/NAME.tif (exact: the pixels ImageJ
// fills for each ROI).
function pyfijiSaveLabels(imagePath, root, name) {
    if (roiManager("count") == 0)
        exit("The ROI Manager is empty: outline each object and press 't' to add it.");
    masks = root + File.separator + "masks";
    File.makeDirectory(root);
    File.makeDirectory(masks);
    roiZip = masks + File.separator + name + ".zip";
    roiManager("deselect");  // "Save" writes only the selected ROIs when some are selected
    roiManager("Save", roiZip);
    labels = masks + File.separator + name + ".tif";
    // fill as the ImageJ this macro runs in fills (its version picks the rules)
    pyfijiRun(newArray("rois-to-labels", roiZip, "--image", imagePath, "-o", labels, "--imagej", getVersion()));
    return labels;
}
// Restore the current image, as it is on screen, with a CARE or Noise2Void model and open
// the 32-bit result (Restore CARE, Denoise N2V).
function pyfijiRestore(family, title) {
    model = pyfijiArg("model", "");
    output = pyfijiArg("output", "");
    imagePath = pyfijiArg("image", "");
    if (imagePath != "")
        open(imagePath);
    if (output == "")
        output = pyfijiDefaultFolder("restored");
    if (!pyfijiHasOptions()) {
        Dialog.create("pyfiji-dl: " + title);
        Dialog.addDirectory("Model folder", pyfijiRemembered(family, ""));
        Dialog.addDirectory("Output folder", output);
        Dialog.show();
        model = Dialog.getString();
        output = Dialog.getString();
        pyfijiRecord("" + pyfijiOption("model", model) + pyfijiOption("output", output));
    }
    if (model == "")
        exit("Choose a model folder (one written by 'pyfiji-dl train " + family + "').");
    pyfijiRemember(family, model);
    name = pyfijiImageName();
    source = pyfijiImageToTiff();
    pyfijiRun(newArray("predict", model, source, "-o", output, "--overwrite"));
    pyfijiDeleteTemporary(source);
    restored = output + File.separator + "restored" + File.separator + name + ".tif";
    open(restored);
    rename(name + " restored");
    print("pyfiji-dl: restored image " + restored);
}

// Train a new model, or fine-tune one ('from' model) (Train Model, Fine-tune Model).
// Options: family=stardist|unet|care|n2v data=FOLDER model=FOLDER epochs=N steps=N,
// from=MODEL when fine-tuning, and more=[--patch 128 --max-minutes 30]: further options of
// 'pyfiji-dl train' (values without spaces). With the pyfiji-dl worker the command follows
// the training: epoch, step and loss in the status and progress bars, then where the QC
// report is; Esc or Plugins > pyfiji-dl > Cancel Job stops it (the last finished epoch is
// kept: continue with --resume). Without a worker it trains in a process of its own.
function pyfijiTrain(fineTune) {
    families = pyfijiFamilies(false);
    labels = pyfijiFamilies(true);
    family = pyfijiArg("family", families[0]);
    data = pyfijiArg("data", pyfijiRemembered("data", ""));
    model = pyfijiArg("model", "");
    source = pyfijiArg("from", "");
    epochs = pyfijiArg("epochs", "100");
    steps = pyfijiArg("steps", "100");
    more = pyfijiArg("more", "");
    if (!pyfijiHasOptions()) {
        if (fineTune)
            Dialog.create("pyfiji-dl: Fine-tune");
        else
            Dialog.create("pyfiji-dl: Train");
        label = labels[0];
        for (i = 0; i < families.length; i++) {
            if (families[i] == family)
                label = labels[i];
        }
        Dialog.addChoice("Family (model type)", labels, label);
        Dialog.addDirectory("Data folder (training data)", data);
        if (fineTune)
            Dialog.addDirectory("From model (start from)", source);
        Dialog.addDirectory("Model folder (new)", model);
        Dialog.addNumber("Epochs", parseInt(epochs));
        Dialog.addNumber("Steps per epoch", parseInt(steps));
        Dialog.addString("More options (of pyfiji-dl train)", more, 30);
        Dialog.addMessage("Data: stardist and unet: images/ + masks/ (or rois/); care: low/ + GT/;\n"
                          + "n2v: images/ (noisy images only). Training runs in the background.");
        Dialog.show();
        label = Dialog.getChoice();
        for (i = 0; i < labels.length; i++) {
            if (labels[i] == label)
                family = families[i];
        }
        data = Dialog.getString();
        if (fineTune)
            source = Dialog.getString();
        model = Dialog.getString();
        epochs = "" + Dialog.getNumber();
        steps = "" + Dialog.getNumber();
        more = String.trim(Dialog.getString());
        options = "" + pyfijiOption("family", family) + pyfijiOption("data", data);
        if (fineTune)
            options = options + pyfijiOption("from", source);
        options = options + pyfijiOption("model", model) + pyfijiOption("epochs", epochs) + pyfijiOption("steps", steps);
        if (more != "")
            options = options + pyfijiOption("more", more);
        pyfijiRecord(options);
    }
    if (data == "" || model == "" || (fineTune && source == ""))
        exit("Choose the training data folder, a new model folder and, to fine-tune, the model to start from.");
    pyfijiRemember("data", data);
    arguments = newArray("train", family, "--data", data, "--model", model, "--epochs", epochs, "--steps", steps);
    if (fineTune)
        arguments = Array.concat(arguments, newArray("--from", source));
    more = String.trim(more);
    if (more != "") {
        extra = split(more, " ");
        arguments = Array.concat(arguments, extra);
    }
    // '--background': without a worker; the worker's job takes its place (it is followed here)
    output = pyfijiRun(Array.concat(arguments, newArray("--background")));
    if (indexOf(output, "Training started in the background") >= 0) {
        print("pyfiji-dl: training runs in the background; open the model folder's qc/index.html when it is done.");
        return;
    }
    report = model + File.separator + "qc" + File.separator + "index.html";
    lines = split(output, "\n");
    for (i = 0; i < lines.length; i++) {
        if (startsWith(lines[i], "QC report: "))
            report = substring(lines[i], lengthOf("QC report: "));
    }
    showStatus("pyfiji-dl: training finished; QC report: " + report);
    print("pyfiji-dl: training finished. QC report (open it in a web browser): " + report);
}
// ---- end of the shared part ----
