"""Ask real ImageJ what it sees in our outputs.

These helpers use only ImageJ 1.x classes (``ij.IJ``, ``ij.io.RoiDecoder``,
``ij.plugin.frame.RoiManager``), which plain ImageJ and Fiji's legacy layer share.
The ROI Manager is a window: under plain ImageJ it needs a display (Xvfb), so
without one ROIs are decoded one by one with ``RoiDecoder`` and the caller is told.
"""

from __future__ import annotations

import os
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from . import jvm
from ..errors import InputError
from .guard import DialogGuard

#: how long ImageJ may take to open one of our files before we give up on it
OPEN_TIMEOUT_S = 120.0


@dataclass
class RoiView:
    """A ROI as ImageJ decoded it."""

    name: str
    type: int
    position: int
    c: int
    z: int
    t: int
    bounds: tuple


@dataclass
class ImageJView:
    """What ImageJ reports for an image and/or a ROI set."""

    image_title: str = ""
    dimensions: tuple = ()
    bit_depth: int = 0
    calibration: tuple = ()
    max_value: float = 0.0
    rois: list = field(default_factory=list)
    via_roi_manager: bool = False
    note: str = ""


def _java_bytes(data: bytes):
    import jpype

    return jpype.JArray(jpype.JByte)(data)


def decode_roi(data: bytes, name: str = "roi"):
    """Decode ``.roi`` bytes with ImageJ's own ``RoiDecoder``."""
    decoder = jvm.jimport("ij.io.RoiDecoder")(_java_bytes(data), name)
    return decoder.getRoi()


def _view_of(roi) -> RoiView:
    r = roi.getBounds()
    return RoiView(str(roi.getName()), int(roi.getType()), int(roi.getPosition()),
                   int(roi.getCPosition()), int(roi.getZPosition()), int(roi.getTPosition()),
                   (int(r.x), int(r.y), int(r.width), int(r.height)))


def _without_dialogs(open_it, path) -> object:
    """``open_it()``'s result; an error dialog ImageJ opens meanwhile becomes an InputError.

    ImageJ reports a file it cannot open with a modal dialog (``IJ.error``) where there is a
    display, and waits for a click that nobody gives here: the dialog is closed and its text
    names what went wrong.
    """
    guard = DialogGuard().arm()
    outcome: dict = {}

    def run():
        try:
            outcome["value"] = open_it()
        except Exception as exc:  # noqa: BLE001 - handed back to the calling thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="pyfiji_dl-open", daemon=True)
    thread.start()
    if not guard.wait_for(thread, time.monotonic() + OPEN_TIMEOUT_S):
        raise InputError(f"ImageJ did not finish opening {path} within {OPEN_TIMEOUT_S:.0f} s")
    if guard.dialogs:
        raise InputError(f"ImageJ could not open {path}: " + "; ".join(guard.dialogs))
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def read_roi_set(path: str | os.PathLike, *, use_roi_manager: bool | None = None) -> tuple[list, bool]:
    """Open a ROI zip in ImageJ; return the decoded ROIs and whether the ROI Manager was used."""
    jvm.start_imagej()
    if use_roi_manager is None:
        use_roi_manager = jvm.has_display()
    if use_roi_manager:
        # A hidden manager: the visible one repaints its list on the Swing thread while
        # we fill it from this one, which makes ImageJ print spurious exceptions.
        manager = jvm.jimport("ij.plugin.frame.RoiManager")(True)
        _without_dialogs(lambda: manager.runCommand("Open", str(Path(path).resolve())), path)
        rois = list(manager.getRoisAsArray())
        manager.reset()
        return rois, True
    rois = []
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if name.lower().endswith(".roi"):
                rois.append(decode_roi(archive.read(name), Path(name).stem))
    return rois, False


def imagej_view(image: str | os.PathLike | None = None, rois: str | os.PathLike | None = None) -> ImageJView:
    """Open an image and/or a ROI set in ImageJ and report what it sees."""
    jvm.start_imagej()
    view = ImageJView()
    if image is not None:
        IJ = jvm.jimport("ij.IJ")
        imp = _without_dialogs(lambda: IJ.openImage(str(Path(image).resolve())), image)
        if imp is None:
            raise InputError(f"ImageJ could not open {image}")
        cal = imp.getCalibration()
        stats = jvm.jimport("ij.process.StackStatistics")(imp)
        view.image_title = str(imp.getTitle())
        view.dimensions = tuple(int(v) for v in imp.getDimensions())  # width, height, c, z, t
        view.bit_depth = int(imp.getBitDepth())
        view.calibration = (float(cal.pixelWidth), float(cal.pixelHeight), float(cal.pixelDepth), str(cal.getUnit()))
        view.max_value = float(stats.max)
        imp.close()
    if rois is not None:
        decoded, via_manager = read_roi_set(rois)
        view.rois = [_view_of(roi) for roi in decoded]
        view.via_roi_manager = via_manager
        if not via_manager:
            view.note = "no display: ROIs decoded with ImageJ's RoiDecoder instead of the ROI Manager"
    return view
