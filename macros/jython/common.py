# ---- pyfiji-dl: shared part for Jython scripts, joined in by 'pyfiji-dl fiji install' ----
# Jython 2.7 (Fiji's default Python): no f-strings, no pathlib, no pyfiji_dl. The scripts
# call the 'pyfiji-dl' program the way the menu commands do: each argument passed
# separately (no shell), '--for-imagej' output read from standard output, and the
# program's own error message raised as an exception Fiji shows.
import os
import tempfile

from java.io import BufferedReader, InputStreamReader
from java.lang import ProcessBuilder, System
from java.util import ArrayList
from ij import IJ, ImagePlus
from ij.io import FileSaver
from ij.measure import ResultsTable
from ij.plugin.frame import RoiManager

PYFIJI_CONFIG = "pyfiji-dl.config.txt"


class PyfijiError(Exception):
    """What went wrong, in words for the user (Fiji shows the message)."""


def pyfiji_config(key):
    """A setting 'pyfiji-dl fiji install' wrote beside the menu commands."""
    plugins = IJ.getDirectory("plugins") or ""
    if not plugins and System.getProperty("plugins.dir"):
        plugins = os.path.join(System.getProperty("plugins.dir"), "plugins")
    config = os.path.join(plugins, "pyfiji-dl", PYFIJI_CONFIG)
    if not os.path.exists(config):
        raise PyfijiError("pyfiji-dl is not set up for this Fiji. In a terminal, run:\n"
                          "  pyfiji-dl fiji install --fiji <your Fiji folder>")
    for line in open(config).read().splitlines():
        if line.startswith(key + "="):
            return line[len(key) + 1:]
    raise PyfijiError("'%s' is missing from %s; run 'pyfiji-dl fiji install' again." % (key, config))


def pyfiji_run(arguments):
    """Run 'pyfiji-dl --for-imagej ARGUMENTS...' and return its output; raise its error."""
    command = pyfiji_config("command")
    if not os.path.exists(command):
        raise PyfijiError("the program %s does not exist any more; run 'pyfiji-dl fiji install' again." % command)
    call = ArrayList()
    for item in [command, "--for-imagej"] + [unicode(a) for a in arguments]:
        call.add(item)
    builder = ProcessBuilder(call)
    builder.redirectErrorStream(True)
    process = builder.start()
    process.getOutputStream().close()
    reader = BufferedReader(InputStreamReader(process.getInputStream(), "UTF-8"))
    lines = []
    while True:
        line = reader.readLine()
        if line is None:
            break
        lines.append(line)
    process.waitFor()
    output = "\n".join(lines) + "\n"
    if "PYFIJI-DL STATUS ok" in output:
        output = output.replace("PYFIJI-DL STATUS ok\n", "")
        IJ.log(output.rstrip("\n"))
        return output
    raise PyfijiError("pyfiji-dl failed:\n" + pyfiji_error_message(output))


def pyfiji_error_message(output):
    """The error lines of the program's output (a bug: the traceback's last line)."""
    lines = [line for line in output.splitlines() if not line.startswith("PYFIJI-DL STATUS")]
    if "Traceback (most recent call last)" in output:
        IJ.log(output)
        return lines[-1] + "\n(a bug in pyfiji-dl: the full report is in the Log window)"
    for index, line in enumerate(lines):
        if "error" in line.lower():
            return "\n".join(lines[index:]).strip()
    return "\n".join(lines[-10:]).strip() or "it printed nothing; run it in a terminal to see why"


def pyfiji_image_name(imp):
    """The image's title without the file extension, usable as a file name."""
    name = imp.getTitle()
    base, extension = os.path.splitext(name)
    if 1 < len(extension) <= 6 and extension[1:].isalnum():
        name = base
    for character in '/\\:*?"<>|':
        name = name.replace(character, "_")
    return name.strip() or "image"


def pyfiji_write_image(imp, path):
    """Write the image as it is in memory to 'path' as an ImageJ TIFF with its calibration.

    A new ImagePlus shares the pixels (no copy, no selection), so the user's window keeps
    its title, selection and unsaved state.
    """
    view = ImagePlus(pyfiji_image_name(imp), imp.getStack())
    view.setDimensions(imp.getNChannels(), imp.getNSlices(), imp.getNFrames())
    view.setCalibration(imp.getCalibration())
    if imp.getInfoProperty() is not None:
        view.setProperty("Info", imp.getInfoProperty())
    if not FileSaver(view).saveAsTiff(path):
        raise PyfijiError("could not write %s" % path)
    return path


def pyfiji_image_to_tiff(imp):
    """The image on screen as a temporary ImageJ TIFF named after its title."""
    pyfiji_config("command")  # stop before writing anything when pyfiji-dl is not set up
    folder = tempfile.mkdtemp(prefix="pyfiji-dl-")
    return pyfiji_write_image(imp, os.path.join(folder, pyfiji_image_name(imp) + ".tif"))


def pyfiji_delete_temporary(path):
    if os.path.exists(path):
        os.remove(path)
    folder = os.path.dirname(path)
    if os.path.basename(folder).startswith("pyfiji-dl-") and not os.listdir(folder):
        os.rmdir(folder)


def pyfiji_show_rois(imp, zip_path):
    """Put the ROI set on the image (ROI Manager, each ROI on its own plane); their count."""
    manager = RoiManager.getInstance() or RoiManager()
    manager.reset()
    if os.path.exists(zip_path):
        manager.runCommand("Open", zip_path)
        manager.runCommand(imp, "Show All without labels")
    return manager.getCount()


def pyfiji_open_table(csv_path):
    """Open a CSV table as a table window (like Results)."""
    if os.path.exists(csv_path):
        table = ResultsTable.open(csv_path)
        table.show(os.path.basename(csv_path))
        return table
    return None
# ---- end of the shared part ----
