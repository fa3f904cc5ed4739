"""How every command ends: its result, one plain error message, or a clean stop on Ctrl-C.

:func:`run_command` is the one place the command line (and the Fiji macros, through
``--for-imagej``) turns what a command raised into what the user sees:

* a :class:`~pyfiji_dl.errors.PyfijiDLError` or an ``OSError`` (a user's file, a full
  disk, a read-only folder): one message naming the user's file - never one of our
  temporary ``.NAME.XXXX.part.tif`` files - and exit code 1;
* Ctrl-C (SIGINT): what was kept and how to continue, exit code 130 (128 + SIGINT,
  the shell's convention), no traceback;
* anything else is a bug of ours and keeps its traceback.

:func:`show_library_messages` gives the library's log records (``logging.getLogger(__name__)``
in each module) the terminal: notes on standard output, warnings on standard error as
``pyfiji-dl: warning: ...``.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path

from .errors import PyfijiDLError

INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a command stopped by Ctrl-C


class _TerminalHandler(logging.Handler):
    """Notes to standard output, warnings and errors to standard error, as the commands print them.

    The streams are looked up for each record: the warm worker swaps ``sys.stdout`` and
    ``sys.stderr`` for each job's streams, and pytest's capture swaps them for each test.
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            if record.levelno >= logging.ERROR:
                print(f"pyfiji-dl: error: {text}", file=sys.stderr, flush=True)
            elif record.levelno >= logging.WARNING:
                print(f"pyfiji-dl: warning: {text}", file=sys.stderr, flush=True)
            else:
                print(text, file=sys.stdout, flush=True)
        except Exception:  # noqa: BLE001 - logging's rule: a message that cannot be shown never stops the work
            self.handleError(record)


def _not_the_workers_own_log(record: logging.LogRecord) -> bool:
    # the warm worker's own records (jobs started, warm-up) go to its log file, never into a job's output
    return not record.name.startswith("pyfiji_dl.worker")


def show_library_messages() -> None:
    """Show the package's log records (INFO and above) on the terminal; calling it again changes nothing."""
    logger = logging.getLogger("pyfiji_dl")
    if not any(isinstance(h, _TerminalHandler) for h in logger.handlers):
        handler = _TerminalHandler()
        handler.addFilter(_not_the_workers_own_log)
        logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > logging.INFO:
        logger.setLevel(logging.INFO)


def format_error(exc: BaseException) -> str:
    """One line (or a few) for the user: the error's own message, naming the user's file."""
    from .io.outputs import DiskFullError, is_disk_full, output_write_error, user_path

    if isinstance(exc, PyfijiDLError):
        return str(exc)
    if isinstance(exc, OSError):
        filename = getattr(exc, "filename", None)
        if filename is not None and user_path(filename) != Path(filename):
            return str(output_write_error(exc, filename))  # one of our temporary files: name the user's
        if filename is not None and is_disk_full(exc, Path(filename).parent):
            return str(DiskFullError(f"disk full while writing {filename}"))
        if filename is not None and exc.strerror:
            return f"{filename}: {exc.strerror}"
    return str(exc) or type(exc).__name__


def run_command(func, args, *, name: str, interrupted_note=None) -> int:
    """Run ``func(args)`` and return its exit code, turning user errors and Ctrl-C into messages.

    Parameters
    ----------
    func : callable
        The command; returns its exit code.
    args : argparse.Namespace
    name : str
        The command's name, for the messages ("pyfiji-dl NAME: error: ...").
    interrupted_note : callable, optional
        ``interrupted_note(args) -> str``: what was kept and how to continue, asked
        after a Ctrl-C.
    """
    try:
        return func(args)
    except KeyboardInterrupt as stop:
        # the warm worker's cancel: say it arrived, or the worker raises it again, forcibly, in
        # the middle of the note below (which looks at every input and may take a while)
        acknowledge = getattr(stop, "acknowledge", None)
        if acknowledge is not None:
            acknowledge()
        # a second Ctrl-C while we explain would print the traceback we are avoiding; only the
        # main thread may set handlers (the warm worker runs commands in another thread, and
        # cancels them with a KeyboardInterrupt of its own)
        main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main_thread else None
        try:
            from .io.atomic import remove_abandoned_temporaries

            remove_abandoned_temporaries()  # what was being written when the interrupt landed
            note = "outputs are written whole or not at all, so no half-written file was kept"
            if interrupted_note is not None:
                try:
                    note = interrupted_note(args) or note
                except Exception as exc:  # noqa: BLE001 - the note is a courtesy; the stop must stay clean
                    note = f"{note} (could not tell more: {exc})"
            if type(stop) is KeyboardInterrupt:
                how = "interrupted (Ctrl-C)"
            else:  # a cancellation raised as an interrupt (the warm worker's cancel)
                how = f"cancelled ({stop})" if str(stop) else "cancelled"
            print(f"\npyfiji-dl {name}: {how}: {note}", file=sys.stderr, flush=True)
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
        return INTERRUPTED
    except (PyfijiDLError, OSError) as exc:
        print(f"pyfiji-dl {name}: error: {format_error(exc)}", file=sys.stderr, flush=True)
        return 1


def command_line_again(argv: list, *, add: tuple = (), drop: tuple = ()) -> str:
    """The command line as typed, with options dropped or added (for "continue with ..." notes)."""
    import shlex

    kept = [a for a in argv if a not in drop and a != "--for-imagej"]
    kept += [a for a in add if a not in kept]
    return "pyfiji-dl " + " ".join(shlex.quote(a) for a in kept)
