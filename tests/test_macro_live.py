"""run_macro in a live Fiji (a user's ImageJ): only what the macro started is touched.
Another dialog open in the JVM stays open and System.out is never swapped; without a
user (the default here: no ImageJ main window) the macro's own dialogs are cancelled."""

import os
import threading
import time

import pytest

pytestmark = [pytest.mark.imagej, pytest.mark.display]
MACRO_TIMEOUT = 60


@pytest.fixture(scope="module")
def session(ij):
    if not os.environ.get("DISPLAY"):
        pytest.skip("needs a display (xvfb-run)")
    from pyfiji_dl.fiji.session import FijiSession

    return FijiSession.start()


def users_dialog(session):
    """A dialog the user has open (not the macro's), shown without blocking."""
    from pyfiji_dl.fiji.guard import on_edt

    def show():
        dialog = session.jimport("ij.gui.GenericDialog")("The user's own dialog")
        dialog.addMessage("left alone")
        dialog.setModal(False)
        dialog.pack()
        dialog.setVisible(True)
        return dialog

    return on_edt(show)


def run_while_watching_system_out(session, code, **options):
    System = session.jimport("java.lang.System")
    original = System.identityHashCode(System.out)
    seen = set()
    done = threading.Event()

    def watch():
        while not done.is_set():
            seen.add(int(System.identityHashCode(System.out)))
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result = session.run_macro(code, timeout=MACRO_TIMEOUT, **options)
    finally:
        done.set()
        watcher.join()
    return result, seen - {int(original)}


def run_while_the_user_opens_a_dialog(session, live):
    """A macro runs; meanwhile the user opens a dialog of their own."""
    opened = {}

    def user():
        time.sleep(0.2)
        opened["dialog"] = users_dialog(session)

    thread = threading.Thread(target=user)
    thread.start()
    result, swapped = run_while_watching_system_out(session, 'wait(1200);\nreturn "done";', live=live)
    thread.join()
    dialog = opened["dialog"]
    visible = bool(dialog.isVisible())
    dialog.dispose()
    return result, swapped, visible


def test_live_run_leaves_the_users_dialogs_and_system_out_alone(session):
    result, swapped, visible = run_while_the_user_opens_a_dialog(session, live=True)
    assert result.value == "done" and result.error is None
    assert visible  # not the macro's: untouched
    assert not swapped


def test_without_a_user_every_new_dialog_is_closed_and_the_log_captured(session):
    """The default here (no ImageJ main window): nobody could answer a dialog."""
    result, swapped, visible = run_while_the_user_opens_a_dialog(session, live=False)
    assert not visible and swapped


def test_live_run_still_reports_macro_errors(session):
    from pyfiji_dl.fiji.guard import on_edt

    closer_done = threading.Event()

    def user_answers():  # the user reads ImageJ's error dialog and closes it
        Window = session.jimport("java.awt.Window")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not closer_done.is_set():
            for window in Window.getWindows():
                if window.isVisible() and str(getattr(window, "getTitle", lambda: "")() or "").startswith("Macro"):
                    on_edt(window.dispose)
                    closer_done.set()
            time.sleep(0.05)

    user = threading.Thread(target=user_answers)
    user.start()
    result = session.run_macro('x = ;', timeout=MACRO_TIMEOUT, live=True)
    closer_done.set()
    user.join()
    assert result.error is not None and "line 1" in result.error


def test_an_imagej_pyfiji_dl_started_is_not_live(session):
    """Only a Fiji handed to pyfiji_dl (script editor) with its window has a user."""
    from pyfiji_dl.fiji.macro import live_imagej

    assert live_imagej() is False
