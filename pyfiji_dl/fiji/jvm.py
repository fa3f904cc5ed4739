"""Start the one JVM this process may have, with ImageJ on it.

Everything in pyfiji_dl that needs ImageJ goes through :func:`start_imagej`, so the
JVM starts only when something needs it, scyjava is never allowed to download a JDK,
and the plain-ImageJ (scyjava) and Fiji (pyimagej) paths differ only here.
"""

from __future__ import annotations

import atexit
import os
import threading

from ..errors import PyfijiDLError
from .locate import ImageJInstallation, locate_imagej

_lock = threading.Lock()
_started: ImageJInstallation | None = None
_gateway = None
_adopted = False  # ImageJ was started by someone else (Fiji's script editor, a notebook)


class JVMError(PyfijiDLError, RuntimeError):
    """The JVM could not be started, or was started without ImageJ."""


def has_display() -> bool:
    """Whether an X display is reachable (needed by ImageJ 1.x's ROI Manager)."""
    return bool(os.environ.get("DISPLAY"))


def _configure_scyjava(max_heap: str | None, headless: bool) -> None:
    import scyjava

    # scyjava >= 1.12 would otherwise try to download a JDK, which fails offline and
    # is never what a user with a working Java wants.
    if hasattr(scyjava.config, "set_java_constraints"):
        scyjava.config.set_java_constraints(fetch="never")
    heap = max_heap or os.environ.get("PYFIJI_DL_MAX_HEAP")
    if heap:
        scyjava.config.add_option(f"-Xmx{heap}")
    if headless:
        scyjava.config.add_option("-Djava.awt.headless=true")


def _guard_pyimagej_java_guess(imagej_module) -> None:
    """Let pyimagej start with ``fetch="never"``.

    pyimagej 1.8's ``_guess_java_version`` assigns its result only when the JVM already
    runs or a JDK download is planned; with downloads off and no JVM yet it raises
    ``UnboundLocalError`` before Fiji starts. Fall back to scyjava's report on the
    installed Java, which is exactly what will run when nothing is downloaded.
    """
    original = getattr(imagej_module, "_guess_java_version", None)
    if original is None or getattr(original, "_pyfiji_dl_guarded", False):
        return

    def guess():
        try:
            return original()
        except UnboundLocalError:
            import scyjava

            try:
                return int(scyjava.jvm_version()[0])
            except Exception:  # noqa: BLE001 - pyimagej copes with an unknown version
                return None

    guess._pyfiji_dl_guarded = True
    imagej_module._guess_java_version = guess


def start_imagej(
    installation: ImageJInstallation | None = None,
    *,
    max_heap: str | None = None,
    headless: bool | None = None,
    mode: str = "headless",
) -> ImageJInstallation:
    """Start the JVM with ImageJ on it, once per process.

    Parameters
    ----------
    installation : ImageJInstallation, optional
        Defaults to :func:`~pyfiji_dl.fiji.locate.locate_imagej`.
    max_heap : str, optional
        Java heap limit such as ``"4g"``; also read from ``PYFIJI_DL_MAX_HEAP``.
        Only effective before the JVM starts.
    headless : bool, optional
        Start AWT headless. Default: headless when no ``DISPLAY`` is set.
    mode : str
        pyimagej mode for a Fiji.app (``headless``, ``interactive``, ``gui``).

    Returns
    -------
    ImageJInstallation
        The installation that is running in this process.
    """
    global _started, _gateway
    with _lock:
        if _started is not None:
            return _started
        import scyjava

        installation = installation or locate_imagej()
        if headless is None:
            headless = not has_display()
        if scyjava.jvm_started():
            # Someone else (a script editor, another library) started the JVM: we can
            # only use it if ImageJ is already on its class path.
            try:
                scyjava.jimport("ij.IJ")
            except Exception as exc:  # noqa: BLE001 - JPype raises several types
                raise JVMError(
                    "A JVM is already running in this process without ImageJ on its "
                    "class path; start pyfiji_dl before other Java libraries."
                ) from exc
            _started = installation
            return _started
        _configure_scyjava(max_heap, headless and installation.kind != "fiji")
        if installation.kind == "fiji":
            import imagej

            _guard_pyimagej_java_guess(imagej)
            _gateway = imagej.init(str(installation.path), mode=mode)
        else:
            for jar in installation.classpath:
                scyjava.config.add_classpath(str(jar))
            try:
                scyjava.start_jvm()
            except Exception as exc:  # noqa: BLE001
                raise JVMError(
                    f"Could not start Java for {installation.describe()}: {exc}. "
                    "Install a Java runtime (Debian: 'apt-get install default-jre-headless') "
                    "or set JAVA_HOME."
                ) from exc
        # runs before scyjava's own JVM shutdown (atexit is last-in, first-out)
        atexit.register(_close_image_windows)
        _started = installation
        return _started


def _close_image_windows() -> None:
    """Close ImageJ's image windows without "save changes?" prompts.

    Each open stack window runs a non-daemon Java thread, and a JVM with one cannot
    shut down: a Python script that showed a stack would never exit.
    """
    try:
        import scyjava

        if not scyjava.jvm_started():
            return
        WindowManager = scyjava.jimport("ij.WindowManager")
        for image_id in list(WindowManager.getIDList() or []):
            imp = WindowManager.getImage(int(image_id))
            if imp is not None:
                imp.changes = False
                imp.close()
    except Exception:  # noqa: BLE001 - never stand in the way of exiting
        pass


def adopt(installation: ImageJInstallation, gateway=None) -> ImageJInstallation:
    """Record a JVM with ImageJ that someone else started in this process.

    For a pyimagej gateway handed to pyfiji_dl (Fiji's script editor, a notebook):
    afterwards :func:`jimport` and :func:`gateway` use it without locating or starting
    anything. Does nothing if pyfiji_dl already knows a running ImageJ.
    """
    global _started, _gateway, _adopted
    with _lock:
        if _started is None:
            _started = installation
            _gateway = gateway
            _adopted = True
        return _started


def adopted() -> bool:
    """Whether the running ImageJ was started by someone else and handed to pyfiji_dl."""
    return _adopted


def jimport(class_name: str):
    """Import a Java class, starting ImageJ first if needed."""
    start_imagej()
    import scyjava

    return scyjava.jimport(class_name)


def gateway():
    """The pyimagej gateway when Fiji was started through pyimagej, else ``None``."""
    return _gateway


def running() -> ImageJInstallation | None:
    """The installation started in this process, or ``None`` if no JVM runs yet."""
    return _started
