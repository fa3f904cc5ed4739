// Cancel Job: stop the pyfiji-dl job this Fiji started last (Esc does the same while its
// command runs). Finished outputs are kept; running the command again continues where it
// stopped.
folder = call("java.lang.System.getProperty", "pyfiji-dl.job");
if (folder == "null" || folder == "" || !File.exists(folder))
    exit("No pyfiji-dl job was started from this Fiji (or the worker has already cleaned it up).");
if (File.exists(folder + File.separator + "result.txt"))
    exit("The last pyfiji-dl job has already finished.");
File.saveString("cancel", folder + File.separator + "cancel");
showStatus("pyfiji-dl: cancelling the job (finished outputs are kept)");
