"""A virtual X display (Xvfb) started by pyfiji_dl when ImageJ needs one.

Plain ImageJ 1.x's ROI Manager is a window: with ``java.awt.headless=true`` it throws
``HeadlessException``. On a machine without a display, :func:`start_xvfb` starts an
``Xvfb`` server on a free display number *before* Java starts, points ``DISPLAY`` at it
and stops it when Python exits. Nothing here can hang: starting waits at most
``timeout`` seconds, stopping at most a few seconds.
"""

from __future__ import annotations

import atexit
import logging
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

from ..errors import PyfijiDLError

log = logging.getLogger(__name__)


class VirtualDisplayError(PyfijiDLError, RuntimeError):
    """Xvfb could not be started; the message says why."""


@dataclass
class VirtualDisplay:
    """A running Xvfb server owned by this process."""

    display: str
    process: subprocess.Popen = field(repr=False)
    previous_display: str | None = None
    stopped: bool = False

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout`` s) and restore ``DISPLAY``."""
        if self.stopped:
            return
        self.stopped = True
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                try:
                    self.process.wait(timeout)
                except subprocess.TimeoutExpired:  # pragma: no cover - a zombie we cannot reap
                    log.warning("Xvfb %s (pid %d) did not stop", self.display, self.process.pid)
        if os.environ.get("DISPLAY") == self.display:
            if self.previous_display is None:
                os.environ.pop("DISPLAY", None)
            else:
                os.environ["DISPLAY"] = self.previous_display


def xvfb_available() -> bool:
    return shutil.which("Xvfb") is not None


def _read_display_number(fd: int, proc: subprocess.Popen, deadline: float) -> str:
    """Read what Xvfb writes to ``-displayfd`` (the display number and a newline)."""
    data = b""
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise VirtualDisplayError("Xvfb did not report a display number in time")
        ready, _, _ = select.select([fd], [], [], min(remaining, 0.2))
        if ready:
            chunk = os.read(fd, 64)
            if not chunk:
                break
            data += chunk
        elif proc.poll() is not None:
            break
    number = data.decode("ascii", "replace").strip()
    if not number.isdigit():
        raise VirtualDisplayError(f"Xvfb exited (code {proc.poll()}) without opening a display")
    return number


def start_xvfb(timeout: float = 10.0, screen: str = "1280x1024x24") -> VirtualDisplay:
    """Start Xvfb on a free display number and set ``DISPLAY``.

    Xvfb chooses the number itself (``-displayfd``), so two processes starting at once
    cannot collide. The server is stopped at interpreter exit (``atexit``); register
    this before the JVM starts so that Java's shutdown (registered later, run earlier)
    happens while the display still exists.

    Raises
    ------
    VirtualDisplayError
        Xvfb is missing, exits, or does not answer within ``timeout`` seconds.
    """
    exe = shutil.which("Xvfb")
    if exe is None:
        raise VirtualDisplayError("Xvfb is not installed (Debian/Ubuntu: 'sudo apt-get install xvfb')")
    read_fd, write_fd = os.pipe()
    errors = tempfile.TemporaryFile()
    try:
        proc = subprocess.Popen(
            [exe, "-displayfd", str(write_fd), "-screen", "0", screen, "-nolisten", "tcp", "-noreset"],
            pass_fds=(write_fd,),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            start_new_session=True,  # a Ctrl-C in the terminal must not kill the display under Java
        )
    except OSError as exc:
        os.close(read_fd)
        os.close(write_fd)
        raise VirtualDisplayError(f"could not run {exe}: {exc}") from exc
    os.close(write_fd)
    deadline = time.monotonic() + timeout
    try:
        number = _read_display_number(read_fd, proc, deadline)
        socket = f"/tmp/.X11-unix/X{number}"
        while not os.path.exists(socket):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise VirtualDisplayError(f"Xvfb :{number} has no socket {socket}")
            time.sleep(0.02)
    except VirtualDisplayError as exc:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        errors.seek(0)
        tail = errors.read().decode("utf-8", "replace").strip().splitlines()[-3:]
        raise VirtualDisplayError(f"{exc}" + (f" ({' / '.join(tail)})" if tail else "")) from None
    finally:
        os.close(read_fd)
        errors.close()
    vd = VirtualDisplay(f":{number}", proc, os.environ.get("DISPLAY"))
    os.environ["DISPLAY"] = vd.display
    atexit.register(vd.stop)
    log.debug("started Xvfb on display %s (pid %d)", vd.display, proc.pid)
    return vd
