"""One Python API for a running Fiji or ImageJ: ROI Manager, Overlays, images, macros.

:class:`FijiSession` works on the ImageJ 1.x classes that plain ImageJ and Fiji's legacy
layer share (``ij.IJ``, ``ij.plugin.frame.RoiManager``, ``ij.gui.Overlay``,
``ij.io.RoiEncoder``/``RoiDecoder``, ``ij.macro.Interpreter``), so everything after
start-up is one code path:

* ``FijiSession.start()`` starts Fiji.app through pyimagej, or plain ImageJ through
  scyjava (:func:`pyfiji_dl.fiji.jvm.start_imagej`). Plain ImageJ's ROI Manager needs a
  display: without one, an Xvfb server is started first when installed; otherwise the
  session runs headless and ROI Manager operations use the image's Overlay instead.
* ``FijiSession.attach(ij)`` wraps a pyimagej gateway that already runs (Fiji's script
  editor with ``#@ ImageJ ij``, a notebook) without starting anything.

ROIs cross as ImageJ's own ``.roi`` bytes (``RoiEncoder.saveAsByteArray`` one way,
``RoiDecoder`` / the ROI Manager's "Open" the other), so label maps follow exactly the
rules of :func:`pyfiji_dl.annotation.convert.rois_to_labels` and
:func:`~pyfiji_dl.annotation.convert.labels_to_rois`.

Positions: what ImageJ's ROI Manager does to a ROI's stack position depends on the
ImageJ version (:attr:`FijiSession.imagej_version`, rules in
:mod:`pyfiji_dl.fiji.imagej_version`):

* ImageJ 1.54k8 and later (current Fiji): "Add [t]" (``runCommand("Add")``, the ``t``
  key) and ``rm.addRoi(roi)`` keep a ROI's own position and give a ROI *without* one the
  plane shown on a stack (``RoiManager.addRoi``, ``hasPosition``).
* Before (Debian's 1.53t): "Add [t]" with the manager and a stack image both visible
  replaces every ROI's position with the plane shown (``roiCopy.setPosition(imp)``);
  ``rm.addRoi(roi)`` keeps positions, and a ROI without one stays on every plane.

In both, ``rm.add(imp, roi, n)`` and "Open" (``runCommand("Open", zip)``) keep positions
as they are; this module pushes with "Open", which is also what the user's
*More > Open...* does, and pulls the positions the manager holds, so a label map always
puts each ROI where ImageJ shows it.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import roifile

from ..errors import InputError, OptionError, PyfijiDLError
from ..annotation.convert import RoiPlacementError, labels_to_rois, rois_to_labels
from ..io.rois import RoiEntry, read_rois, write_rois
from ..io.tiff import Calibration
from . import jvm
from .guard import on_edt
from .imagej_version import ImageJVersion, parse_imagej_version
from .imageplus import from_imageplus as _from_imageplus
from .imageplus import to_imageplus as _to_imageplus
from .macro import MacroResult, run_macro as _run_macro

log = logging.getLogger(__name__)

MODES = ("headless", "interactive", "gui")
FALLBACK_MESSAGE = (
    "ImageJ runs headless here (no display{why}): its ROI Manager is a window and cannot "
    "open, so ROI Manager operations fall back to the image's Overlay (Image > Overlay) "
    "and ROI zips. For the ROI Manager install Xvfb ('sudo apt-get install xvfb') or run "
    "under 'xvfb-run -a'."
)


class FijiSessionError(PyfijiDLError, RuntimeError):
    """An operation cannot be done in this session; the message says what to do."""


@dataclass
class PushResult:
    """Where pushed ROIs went."""

    count: int
    target: str  # "roi-manager" or "overlay"
    names: list = field(default_factory=list)
    note: str = ""


def _gateway_legacy(ij):
    """The LegacyService of a pyimagej gateway (property) or Java gateway (method)."""
    legacy = getattr(ij, "legacy", None)
    if legacy is not None and not hasattr(legacy, "isActive") and callable(legacy):
        legacy = legacy()
    return legacy


def _gateway_headless(ij) -> bool | None:
    try:
        return bool(ij.ui().isHeadless())
    except Exception:  # noqa: BLE001 - not every gateway-like object has a UI service
        return None


class FijiSession:
    """A running ImageJ/Fiji driven from Python. Create with :meth:`start` or :meth:`attach`."""

    def __init__(self, *, kind: str, mode: str, installation=None, gateway=None,
                 display: bool | None = None, virtual_display=None, notes: list | None = None):
        self.kind = kind  # "imagej" (plain ImageJ 1.x), "fiji" (pyimagej), "attached"
        self.mode = mode
        self.installation = installation
        self.ij = gateway
        self.virtual_display = virtual_display
        self.notes: list[str] = list(notes or [])
        GraphicsEnvironment = jvm.jimport("java.awt.GraphicsEnvironment")
        self.headless = bool(GraphicsEnvironment.isHeadless())
        self.display = (not self.headless) if display is None else (bool(display) and not self.headless)
        self.has_roi_manager = self.display or (display is None and self._headless_roi_manager())
        self.fallback_message = ""
        if not self.has_roi_manager:
            why = "" if display is None else ": told so"
            if self.headless and display is None:
                why = ", java.awt.headless=true"
            message = FALLBACK_MESSAGE.format(why=why)
            self.fallback_message = message
            self.notes.append(message)
            log.warning(message)

    # ------------------------------------------------------------------ start-up
    @classmethod
    def start(cls, fiji=None, mode: str = "headless", virtual_display: bool = True, *,
              max_heap: str | None = None, display: bool | None = None,
              xvfb_timeout: float = 10.0) -> "FijiSession":
        """Start ImageJ/Fiji in this process (or use the one already running).

        Parameters
        ----------
        fiji : path-like, optional
            A Fiji.app (started with pyimagej) or an ij.jar; default: the search order
            of :func:`pyfiji_dl.fiji.locate.locate_imagej`.
        mode : {'headless', 'interactive', 'gui'}
            pyimagej's mode for Fiji ('gui' starts 'interactive' and shows Fiji's window,
            because pyimagej's own 'gui' mode blocks until the window closes). For plain
            ImageJ 'gui' opens ImageJ's main window; the other two open no window.
        virtual_display : bool
            Without ``DISPLAY``, start Xvfb before Java when plain ImageJ (any mode) or
            Fiji in 'interactive'/'gui' mode needs a display. Start-up waits at most
            ``xvfb_timeout`` seconds; the server stops when Python exits.
        max_heap : str, optional
            Java heap limit (``"8g"``), before Java starts only.
        display : bool, optional
            ``False``: behave as if there were no display (no ROI Manager, no windows).
        """
        if mode not in MODES:
            raise OptionError(f"mode must be one of {MODES}, not {mode!r}")
        from .locate import locate_imagej

        notes: list[str] = []
        vd = None
        running = jvm.running()
        import scyjava

        if running is not None or scyjava.jvm_started():
            installation = running or jvm.start_imagej()
            if fiji is not None and Path(fiji).expanduser().resolve() != Path(installation.path).resolve():
                message = (f"Java already runs {installation.describe()} in this process; {fiji} is not "
                           "used (one JVM per process).")
                notes.append(message)
                log.warning(message)
            if not os.environ.get("DISPLAY"):
                notes.append("Java was already running when the session started; no display could be added.")
        else:
            installation = locate_imagej(fiji)
            is_fiji = installation.kind == "fiji"
            needs_display = (not is_fiji) or mode != "headless"
            if needs_display and display is not False and not jvm.has_display() and virtual_display:
                from .display import VirtualDisplayError, start_xvfb, xvfb_available

                if xvfb_available():
                    try:
                        vd = start_xvfb(timeout=xvfb_timeout)
                        notes.append(f"started a virtual display (Xvfb) on {vd.display}")
                    except VirtualDisplayError as exc:
                        notes.append(f"could not start Xvfb: {exc}")
                        log.warning("could not start Xvfb: %s", exc)
            headless = not jvm.has_display() or display is False
            if is_fiji:
                jvm.start_imagej(installation, max_heap=max_heap,
                                 mode="interactive" if mode == "gui" else mode)
            else:
                jvm.start_imagej(installation, max_heap=max_heap, headless=headless)
        gateway = jvm.gateway()
        kind = "fiji" if installation.kind == "fiji" else "imagej"
        session = cls(kind=kind, mode=mode, installation=installation, gateway=gateway,
                      display=display, virtual_display=vd, notes=notes)
        if mode == "gui" and session.display:
            if gateway is not None:
                gateway.ui().showUI()
            elif jvm.jimport("ij.IJ").getInstance() is None:
                on_edt(lambda: jvm.jimport("ij.ImageJ")())
        return session

    @classmethod
    def attach(cls, ij, *, display: bool | None = None) -> "FijiSession":
        """Wrap a running pyimagej gateway (``#@ ImageJ ij`` in Fiji's script editor).

        Nothing is started: the gateway's JVM must run in this process and its legacy
        layer (ImageJ 1.x) must be active, since the ROI Manager, Overlays and macros are
        ImageJ 1.x.
        """
        import scyjava

        if not scyjava.jvm_started():
            raise FijiSessionError("attach() needs the gateway's JVM running in this Python process.")
        legacy = _gateway_legacy(ij)
        if legacy is None or not bool(legacy.isActive()):
            raise FijiSessionError(
                "This ImageJ2 gateway has no active legacy layer (ImageJ 1.x): start Fiji with "
                "imagej.init('/path/to/Fiji.app', add_legacy=True) (the default)."
            )
        from .locate import ImageJInstallation

        System = scyjava.jimport("java.lang.System")
        where = System.getProperty("imagej.dir") or System.getProperty("user.dir") or "."
        installation = jvm.adopt(ImageJInstallation("fiji", Path(str(where)), "attached pyimagej gateway"), ij)
        headless = _gateway_headless(ij)
        mode = "headless" if headless else "interactive"
        return cls(kind="attached", mode=mode, installation=installation, gateway=ij, display=display)

    @classmethod
    def for_script(cls, ij=None) -> "FijiSession":
        """The session of a script-editor script.

        In Fiji's Python mode the script declares ``#@ ImageJ ij`` and gets the
        running gateway: attach to it. Without one (a script run from plain Python),
        use the ImageJ running in this process, starting it if needed.
        """
        return cls.attach(ij) if ij is not None else cls.start()

    def _headless_roi_manager(self) -> bool:
        """Whether a ROI Manager works without a display (Fiji's legacy layer patches it)."""
        if not self.headless:
            return False
        try:
            jvm.jimport("ij.plugin.frame.RoiManager")(True)
            return True
        except Exception:  # noqa: BLE001 - HeadlessException in plain ImageJ
            return False

    def describe(self) -> str:
        """Which ImageJ runs, how, and what works."""
        IJ = jvm.jimport("ij.IJ")
        what = {"imagej": "plain ImageJ 1.x (scyjava)", "fiji": "Fiji (pyimagej)",
                "attached": "a running Fiji/pyimagej gateway (attached)"}[self.kind]
        version = f"ImageJ {IJ.getFullVersion()}"
        if self.ij is not None:
            try:
                version = f"ImageJ2 {self.ij.getVersion()} / {version}"
            except Exception:  # noqa: BLE001 - a gateway-like object without getVersion
                pass
        lines = [f"{what}, {version}, mode {self.mode}"]
        if self.installation is not None:
            lines.append(f"installation: {self.installation.describe()}")
        if self.headless:
            lines.append("display: none (java.awt.headless=true)")
        else:
            vd = f" (Xvfb started by pyfiji_dl, pid {self.virtual_display.pid})" if self.virtual_display else ""
            told = "" if self.display else "; the session was told not to use it"
            lines.append(f"display: DISPLAY={os.environ.get('DISPLAY', '')}{vd}{told}")
        lines.append("ROI Manager: " + ("available" if self.has_roi_manager
                                        else "not available, ROI Manager operations use Overlays"))
        lines.append("ROI Manager positions: " + self.imagej_version.roi_manager_rule())
        lines.extend(f"note: {note}" for note in self.notes)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<FijiSession {self.kind} mode={self.mode} roi_manager={self.has_roi_manager}>"

    @property
    def imagej_version(self) -> ImageJVersion:
        """The ImageJ 1.x this session talks to (``IJ.getFullVersion()``), with its rules."""
        return parse_imagej_version(str(jvm.jimport("ij.IJ").getFullVersion()))

    # ------------------------------------------------------------------ helpers
    def jimport(self, class_name: str):
        return jvm.jimport(class_name)

    def current_image(self, imp=None, *, required: bool = True):
        """``imp``, else ImageJ's current image."""
        if imp is not None:
            return imp
        imp = jvm.jimport("ij.WindowManager").getCurrentImage()
        if imp is None and required:
            raise FijiSessionError("No image is open in ImageJ; pass imp= (an ij.ImagePlus).")
        return imp

    def roi_manager(self, *, create: bool = False):
        """The live ROI Manager (the visible one), optionally opening it; ``None`` if closed."""
        if not self.has_roi_manager:
            raise FijiSessionError(self.fallback_message)
        RoiManager = jvm.jimport("ij.plugin.frame.RoiManager")
        manager = RoiManager.getInstance()
        if manager is None and create:
            manager = on_edt(RoiManager.getRoiManager) if self.display else RoiManager.getRoiManager()
        return manager

    @staticmethod
    def image_geometry(imp) -> tuple[tuple, str]:
        """Shape and ImageJ axes (``TZCYX`` order, axes of length 1 dropped) of an ImagePlus."""
        width, height, n_c, n_z, n_t = (int(v) for v in imp.getDimensions())
        axes = "".join(a for a, n in zip("TZC", (n_t, n_z, n_c)) if n > 1) + "YX"
        shape = tuple(n for n in (n_t, n_z, n_c) if n > 1) + (height, width)
        return shape, axes

    @staticmethod
    def _entries(jrois, names, source: str) -> list[RoiEntry]:
        """ImageJ Roi objects -> RoiEntry via their own .roi bytes."""
        RoiEncoder = jvm.jimport("ij.io.RoiEncoder")
        entries = []
        for index, (jroi, fallback) in enumerate(zip(jrois, names)):
            data = RoiEncoder.saveAsByteArray(jroi)
            if data is None:  # ImageJ could not encode it; skipping would shift label ids
                raise FijiSessionError(f"{source}[{index}] '{fallback}': ImageJ could not encode this ROI.")
            roi = roifile.ImagejRoi.frombytes(bytes(memoryview(data)))
            name = roi.name or fallback
            entries.append(RoiEntry(roi, name, f"{source}[{index}] '{name}'", len(entries)))
        return entries

    def _labels(self, entries, imp, overlap: str, ids: str):
        shape, axes = self.image_geometry(imp)
        return rois_to_labels(entries, shape, axes, overlap=overlap, ids=ids,
                              rules=self.imagej_version.raster_rules())

    # ------------------------------------------------------------------ pull
    def labels_from_roi_manager(self, imp=None, overlap: str = "last-wins", ids: str = "auto"):
        """The live ROI Manager's ROIs on the current (or given) image -> label map.

        Exactly :func:`~pyfiji_dl.annotation.convert.rois_to_labels` on the ROIs
        ImageJ would save (each ROI's ``RoiEncoder`` bytes and name, else its list name).
        Without a ROI Manager (headless) the image's Overlay is used, with a warning.

        Returns
        -------
        labels : ndarray (int32), axes : str, report : ConversionReport
        """
        imp = self.current_image(imp)
        if not self.has_roi_manager:
            log.warning("no ROI Manager in this session: reading the image's Overlay instead")
            return self.labels_from_overlay(imp, overlap=overlap, ids=ids)
        manager = self.roi_manager()
        if manager is None:
            raise FijiSessionError(
                "The ROI Manager is not open: add ROIs with 't' (Analyze > Tools > ROI Manager) "
                "or push some with rois_to_roi_manager()."
            )
        jrois = list(manager.getRoisAsArray())
        names = [str(manager.getName(i)) for i in range(len(jrois))]
        entries = self._entries(jrois, names, "ROI Manager")
        return self._labels(entries, imp, overlap, ids)

    def labels_from_overlay(self, imp=None, overlap: str = "last-wins", ids: str = "auto"):
        """The image's Overlay -> label map (same rules as :meth:`labels_from_roi_manager`)."""
        imp = self.current_image(imp)
        overlay = imp.getOverlay()
        jrois = list(overlay.toArray()) if overlay is not None else []
        names = [f"overlay-{i + 1:05d}" for i in range(len(jrois))]
        entries = self._entries(jrois, names, f"Overlay of '{imp.getTitle()}'")
        return self._labels(entries, imp, overlap, ids)

    # ------------------------------------------------------------------ push
    @staticmethod
    def _as_rois(source, axes: str | None) -> tuple[list, Path | None]:
        """(roifile ROIs, zip path if the source is a ROI file) for any push source."""
        if isinstance(source, tuple) and len(source) == 2 and isinstance(source[0], np.ndarray):
            source, axes = source
        if isinstance(source, np.ndarray):
            if axes is None:
                if source.ndim != 2:
                    raise OptionError(f"give axes= for a label map of shape {source.shape} (e.g. 'TYX')")
                axes = "YX"
            return labels_to_rois(source, axes), None
        if isinstance(source, (str, os.PathLike)):
            path = Path(source)
            return [entry.roi for entry in read_rois(path)], path
        rois = list(source)
        bad = [type(r).__name__ for r in rois if not isinstance(r, roifile.ImagejRoi)]
        if bad:
            raise TypeError(f"expected roifile.ImagejRoi objects, a ROI zip or a label map, got {bad[0]}")
        return rois, None

    @staticmethod
    def _check_positions(rois: list, imp) -> None:
        """Every ROI must lie on a plane ``imp`` has (ImageJ would accept it silently)."""
        _, _, n_c, n_z, n_t = (int(v) for v in imp.getDimensions())
        n = n_c * n_z * n_t
        bad = []
        for roi in rois:
            if roi.c_position or roi.z_position or roi.t_position:
                if roi.c_position > n_c or roi.z_position > n_z or roi.t_position > n_t:
                    bad.append(f"'{roi.name}' (c={roi.c_position}, z={roi.z_position}, t={roi.t_position})")
            elif roi.position > n:
                bad.append(f"'{roi.name}' (position {roi.position})")
        if bad:
            raise RoiPlacementError(
                f"{len(bad)} ROI(s) lie on planes '{imp.getTitle()}' does not have "
                f"(C={n_c}, Z={n_z}, T={n_t}): " + ", ".join(bad[:5]) + (" ..." if len(bad) > 5 else "")
            )

    @staticmethod
    def _decode(rois: list) -> list:
        import jpype

        RoiDecoder = jvm.jimport("ij.io.RoiDecoder")
        JBytes = jpype.JArray(jpype.JByte)
        out = []
        for roi in rois:
            jroi = RoiDecoder(JBytes(roi.tobytes()), roi.name or "roi").getRoi()
            if jroi is None:
                raise InputError(f"ImageJ could not decode ROI '{roi.name}'")
            out.append(jroi)
        return out

    def rois_to_roi_manager(self, rois, imp=None, *, axes: str | None = None,
                            replace: bool = False) -> PushResult:
        """Put ROIs into the live ROI Manager, positions unchanged.

        Parameters
        ----------
        rois : list of roifile.ImagejRoi, ROI zip/.roi path, label map, or (labels, axes)
            A label map becomes one ROI per label and plane
            (:func:`~pyfiji_dl.annotation.convert.labels_to_rois`).
        imp : ij.ImagePlus, optional
            The image the ROIs belong to; their planes are checked against it.
        axes : str, optional
            Axes of a label map (default ``"YX"`` for 2D).
        replace : bool
            Empty the manager first (default: append, as *More > Open...* does).

        The ROIs are written to a ROI zip and opened with the manager's "Open" on
        Swing's event thread: ImageJ decodes them itself and keeps each ROI's
        position. Without a ROI Manager they go to the image's Overlay instead.
        """
        roi_list, path = self._as_rois(rois, axes)
        if imp is not None:
            self._check_positions(roi_list, imp)
        if not self.has_roi_manager:
            target = self.current_image(imp, required=False)
            if target is None:
                raise FijiSessionError(
                    "No ROI Manager here (headless) and no image to put the ROIs on as an Overlay: "
                    "pass imp=, or write a ROI zip with pyfiji_dl.io.rois.write_rois."
                )
            log.warning("no ROI Manager in this session: adding the ROIs to the Overlay of '%s'",
                        target.getTitle())
            result = self.rois_to_overlay(roi_list, target, replace=replace)
            result.note = "no ROI Manager (headless): ROIs went to the image's Overlay"
            return result
        if not roi_list:
            manager = self.roi_manager(create=True)
            if replace:
                self._on_ui(manager.reset)
            return PushResult(0, "roi-manager", [])
        with tempfile.TemporaryDirectory(prefix="pyfiji_dl_rois_") as tmp:
            if path is None or path.suffix.lower() != ".zip":
                path = Path(tmp) / "rois.zip"
                write_rois(path, roi_list)
            full = str(path.resolve())

            def open_in_manager():
                RoiManager = jvm.jimport("ij.plugin.frame.RoiManager")
                manager = RoiManager.getInstance() or RoiManager.getRoiManager()
                if replace:
                    manager.reset()
                before = manager.getCount()
                # the zip was read and checked above, so "Open" has no reason for an error dialog
                if not manager.runCommand("Open", full):
                    raise FijiSessionError(f"the ROI Manager could not open {full}: {RoiManager.getErrorMessage()}")
                return [str(manager.getName(i)) for i in range(before, manager.getCount())]

            names = self._on_ui(open_in_manager)
        return PushResult(len(names), "roi-manager", names)

    def rois_to_overlay(self, rois, imp=None, *, axes: str | None = None,
                        replace: bool = False) -> PushResult:
        """Put ROIs on an image's Overlay (works headless), positions unchanged."""
        imp = self.current_image(imp)
        roi_list, _ = self._as_rois(rois, axes)
        self._check_positions(roi_list, imp)
        jrois = self._decode(roi_list)
        Overlay = jvm.jimport("ij.gui.Overlay")
        overlay = None if replace else imp.getOverlay()
        overlay = overlay.duplicate() if overlay is not None else Overlay()
        for jroi in jrois:
            overlay.add(jroi)
        imp.setOverlay(overlay)
        return PushResult(len(jrois), "overlay", [r.name for r in roi_list])

    def _on_ui(self, fn):
        return on_edt(fn) if self.display else fn()

    # ------------------------------------------------------------------ images
    def to_imageplus(self, array, axes: str, calibration: Calibration | None = None, lut=None,
                     title: str = "image", display_range: tuple | None = None):
        """NumPy -> ``ij.ImagePlus`` (see :func:`pyfiji_dl.fiji.imageplus.to_imageplus`)."""
        return _to_imageplus(array, axes, calibration=calibration, lut=lut, title=title,
                             display_range=display_range)

    def from_imageplus(self, imp=None) -> tuple[np.ndarray, str, Calibration]:
        """``ij.ImagePlus`` (default: the current image) -> (array, axes, Calibration)."""
        return _from_imageplus(self.current_image(imp))

    def show(self, imp) -> bool:
        """Show an image in a window; ``False`` (and a log message) without a display."""
        if not self.display:
            log.debug("no display: '%s' is not shown", imp.getTitle())
            return False
        imp.show()
        return True

    # ------------------------------------------------------------------ macros
    def run_macro(self, code_or_path, args=None, *, imp=None, timeout: float | None = None,
                  live: bool | None = None) -> MacroResult:
        """Run a macro (code or ``.ijm`` path) with ``getArgument()`` = ``args``.

        Returns :class:`~pyfiji_dl.fiji.macro.MacroResult` (``value``, ``log``,
        ``error``); errors and dialogs come back as text, never as a modal dialog.
        In a live Fiji (an attached Fiji with its main window, or ``live=True``) only
        what the macro started is touched: its dialogs are left for the user to answer.
        """
        return _run_macro(code_or_path, args, imp=imp, timeout=timeout, live=live)
