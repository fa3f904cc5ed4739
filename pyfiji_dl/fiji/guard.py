"""Keep Python from hanging on ImageJ's windows.

* :func:`on_edt` runs a function on AWT's event dispatch thread (where Swing wants the
  ROI Manager's list changed) and waits at most ``timeout`` seconds for it.
* :class:`DialogGuard` watches for dialogs that appear while a macro runs (error
  dialogs, ``exit("...")`` messages in Fiji, ``Dialog.show``, ``waitForUser``), records
  their text and cancels them, so a macro run from Python ends instead of waiting for
  a click that nobody can give (under Xvfb nobody sees the dialog).
"""

from __future__ import annotations

import threading
import time
from functools import lru_cache

from . import jvm

EDT_TIMEOUT = 120.0


@lru_cache(maxsize=None)
def _runnable_class():
    from jpype import JImplements, JOverride

    @JImplements("java.lang.Runnable")
    class PyRunnable:
        def __init__(self, fn):
            self.fn = fn
            self.done = threading.Event()
            self.result = None
            self.error = None

        @JOverride
        def run(self):
            try:
                self.result = self.fn()
            except BaseException as exc:  # noqa: BLE001 - handed back to the caller
                self.error = exc
            finally:
                self.done.set()

    return PyRunnable


def on_edt(fn, timeout: float = EDT_TIMEOUT):
    """Run ``fn()`` on the AWT event dispatch thread and return its result.

    Called on the event dispatch thread itself, ``fn`` runs directly. Otherwise it is
    queued with ``EventQueue.invokeLater`` and this thread waits at most ``timeout``
    seconds (``invokeAndWait`` could wait forever).
    """
    EventQueue = jvm.jimport("java.awt.EventQueue")
    if EventQueue.isDispatchThread():
        return fn()
    task = _runnable_class()(fn)
    EventQueue.invokeLater(task)
    if not task.done.wait(timeout):
        raise TimeoutError(
            f"ImageJ's user-interface thread did not answer within {timeout:.0f} s "
            "(is a modal dialog open in Fiji?)"
        )
    if task.error is not None:
        raise task.error
    return task.result


def _later(fn) -> None:
    """Run ``fn()`` on the AWT event dispatch thread without waiting for it.

    ``Window.dispose()`` called from another thread waits for that thread without a limit.
    """
    jvm.jimport("java.awt.EventQueue").invokeLater(_runnable_class()(fn))


def _identity(obj) -> int:
    return int(jvm.jimport("java.lang.System").identityHashCode(obj))


def _component_texts(component, out: list) -> list:
    """Text of the labels, text fields and ImageJ MultiLineLabels inside ``component``."""
    Label = jvm.jimport("java.awt.Label")
    TextComponent = jvm.jimport("java.awt.TextComponent")
    Container = jvm.jimport("java.awt.Container")
    MultiLineLabel = jvm.jimport("ij.gui.MultiLineLabel")
    if isinstance(component, Label):
        out.append(str(component.getText()))
    elif isinstance(component, TextComponent):
        out.append(str(component.getText()))
    elif isinstance(component, MultiLineLabel):
        # ImageJ 1.53 has no getter for the text; the field is package-private
        try:
            field = MultiLineLabel.class_.getDeclaredField("lines")
            field.setAccessible(True)
            out.append("\n".join(str(line) for line in field.get(component) if line is not None))
        except Exception:  # noqa: BLE001 - the text is a courtesy; closing matters
            pass
    if isinstance(component, Container):
        for child in component.getComponents():
            _component_texts(child, out)
    return out


class DialogGuard:
    """Record and cancel dialogs that open after :meth:`arm` was called.

    With ``cancel=False`` the dialogs are only recorded (a user answers them).

    A dialog is cancelled the way a user would cancel it: ``waitForUser`` dialogs get
    an Escape key press (the macro then stops), every other dialog a window-closing
    event (``GenericDialog`` treats it as Cancel); a dialog still open a second later is
    disposed. Only dialogs that would block a macro are touched: modal ones, ImageJ's
    ``GenericDialog`` (also the non-blocking kind) and ``WaitForUserDialog``.
    """

    def __init__(self, cancel: bool = True):
        self.cancel = cancel  # False: only record the dialogs (a user answers them)
        self.seen: set = set()
        self.dialogs: list[str] = []
        self._closing: dict = {}

    def arm(self) -> "DialogGuard":
        Window = jvm.jimport("java.awt.Window")
        self.seen = {_identity(w) for w in Window.getWindows()}
        return self

    def _blocking(self, window) -> bool:
        Dialog = jvm.jimport("java.awt.Dialog")
        GenericDialog = jvm.jimport("ij.gui.GenericDialog")
        WaitForUserDialog = jvm.jimport("ij.gui.WaitForUserDialog")
        if not isinstance(window, Dialog):
            return False
        return bool(window.isModal()) or isinstance(window, (GenericDialog, WaitForUserDialog))

    def poll(self) -> None:
        """Cancel new blocking dialogs; close again those cancelled before (see :meth:`_keep_closing`)."""
        Window = jvm.jimport("java.awt.Window")
        now = time.monotonic()
        for window in Window.getWindows():
            key = _identity(window)
            if key in self._closing:
                self._keep_closing(window, key, now)
                continue
            if key in self.seen or not window.isVisible():
                continue
            self.seen.add(key)
            if not self._blocking(window):
                continue
            title = str(window.getTitle() or "")
            text = " ".join(t.strip() for t in _component_texts(window, []) if t and t.strip())
            self.dialogs.append(f"{title}: {text}" if text else title)
            if self.cancel:
                self._closing[key] = now
                self._cancel(window)

    def wait_for(self, thread: threading.Thread, deadline: float | None, poll_interval: float = 0.02) -> bool:
        """Wait for ``thread`` while polling for its dialogs, at most until ``deadline``
        (``time.monotonic()``; ``None``: no limit); True when it ended."""
        while thread.is_alive():
            thread.join(poll_interval)
            self.poll()
            if deadline is not None and time.monotonic() > deadline:
                break
        return not thread.is_alive()

    def _keep_closing(self, window, key: int, now: float) -> None:
        """Close a cancelled dialog again, now and then, for as long as the macro runs.

        Java's modal ``Dialog.show()`` makes the dialog visible before it starts waiting for
        it to close, and ImageJ's ``WaitForUserDialog.show()`` waits after showing itself: a
        dispose, or an Escape's notify, that lands in between is lost, and the macro thread
        waits for ever on a dialog that is no longer visible (a syntax error's "Macro Error"
        dialog on a loaded machine; reproduced with a plain AWT dialog on Java 17). So the
        Escape is pressed again every half second, and another dialog is cancelled and
        disposed again every second; on a dialog already closed both do nothing.
        """
        wait_for_user = self._is_wait_for_user(window)
        if now - self._closing[key] < (0.5 if wait_for_user else 1.0):
            return
        self._closing[key] = now
        self._cancel(window)
        if not wait_for_user:
            self._dispose(window)  # queued after the cancel: a dialog that missed both still ends

    @staticmethod
    def _dispose(window) -> None:
        _later(window.dispose)

    @staticmethod
    def _is_wait_for_user(window) -> bool:
        return isinstance(window, jvm.jimport("ij.gui.WaitForUserDialog"))

    def _cancel(self, window) -> None:
        WaitForUserDialog = jvm.jimport("ij.gui.WaitForUserDialog")
        KeyEvent = jvm.jimport("java.awt.event.KeyEvent")
        WindowEvent = jvm.jimport("java.awt.event.WindowEvent")
        Toolkit = jvm.jimport("java.awt.Toolkit")
        IJ = jvm.jimport("ij.IJ")
        if isinstance(window, WaitForUserDialog):
            event = KeyEvent(window, KeyEvent.KEY_PRESSED, 0, 0, KeyEvent.VK_ESCAPE, KeyEvent.CHAR_UNDEFINED)

            def press_escape():
                window.keyPressed(event)  # sets escPressed and closes: the macro aborts
                IJ.setKeyUp(KeyEvent.VK_ESCAPE)

            _later(press_escape)  # its close() disposes, which waits for the event thread
            return
        queue = Toolkit.getDefaultToolkit().getSystemEventQueue()
        queue.postEvent(WindowEvent(window, WindowEvent.WINDOW_CLOSING))
