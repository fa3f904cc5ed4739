"""Run ImageJ macros from Python and get back their value, log and errors.

ImageJ reports macro errors in a modal dialog; under Xvfb nobody can click it and the
calling thread would wait forever. :func:`run_macro` therefore runs the macro with
ImageJ's own :class:`ij.macro.Interpreter` on a worker thread and, while it runs,
watches for dialogs (:class:`~pyfiji_dl.fiji.guard.DialogGuard`): it records their text
and cancels them, so the macro stops and the error comes back as a string.

In a live Fiji (an ImageJ window a user works in, e.g. a script-editor session) the
user is there to answer, and other dialogs and output in the JVM are theirs: then
:func:`run_macro` touches only what it started. Dialogs are shown as ImageJ shows them
(recorded, never cancelled), ``System.out`` is left alone (the log is read from the Log
window) and the error still comes back in the result.

Where the text the macro logs ends up depends on ImageJ: with an ImageJ window
(Fiji's GUI) ``print`` and ``IJ.log`` write to the Log window, which is read before and
after the run; without one (plain ImageJ driven from Python, headless Fiji) ImageJ
writes them to ``System.out``, which is captured during the run. In that case
``exit("message")`` is printed there too; the message is told apart from the log by the
macro line the interpreter stopped on.
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import PyfijiDLError
from . import jvm
from .guard import DialogGuard

MACRO_CANCELED = "Macro canceled"
_lock = threading.Lock()
_EXIT_CALL = re.compile(r"\bexit\s*\(\s*(?=[^)\s])")
_STRING_LITERAL = re.compile(r'"((?:[^"\\]|\\.)*)"\s*\)')
_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "'": "'"}


@dataclass
class MacroResult:
    """What a macro run gave back.

    Attributes
    ----------
    value : str or None
        The macro's ``return`` value (ImageJ macros return strings).
    log : str
        What it wrote to the Log window (``print``, ``IJ.log``) during this run.
    error : str or None
        The error ImageJ would have shown in a dialog (with its line number), the
        message of ``exit("...")``, a Java exception, or a time-out; ``None`` if the
        macro ran to its end (or called ``exit`` without a message).
    dialogs : list of str
        Dialogs the macro opened and pyfiji_dl cancelled (``"title: text"``); in a live
        ImageJ the dialogs that opened during the run, left for the user to answer.
    images : list
        ``ij.ImagePlus`` objects the macro left open in batch mode (without an ImageJ
        window, ImageJ runs every macro in batch mode).
    image : ij.ImagePlus or None
        The macro's current image when it ended.
    seconds : float
    """

    value: str | None
    log: str
    error: str | None
    dialogs: list = field(default_factory=list)
    images: list = field(default_factory=list)
    image: object = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None

    def raise_for_error(self) -> "MacroResult":
        """Raise :class:`MacroError` if the macro failed, else return self."""
        if self.error is not None:
            raise MacroError(self.error, self)
        return self


class MacroError(PyfijiDLError, RuntimeError):
    """A macro failed; ``.result`` holds its :class:`MacroResult`."""

    def __init__(self, message: str, result: MacroResult):
        super().__init__(message)
        self.result = result


def macro_argument(args) -> str:
    """The string a macro reads with ``getArgument()``.

    ``None`` -> ``""``; a string as is; a list -> items joined by spaces (items with
    spaces in ``[...]``, as ImageJ quotes option values); a dict -> ``key=value`` pairs,
    the form ``Macro.getValue`` and ``run(..., options)`` parse.
    """
    if args is None:
        return ""
    if isinstance(args, (str, os.PathLike)):
        return os.fspath(args)

    def quote(value) -> str:
        text = os.fspath(value) if isinstance(value, os.PathLike) else str(value)
        return f"[{text}]" if (not text or any(c.isspace() for c in text)) else text

    if isinstance(args, dict):
        return " ".join(f"{key}={quote(value)}" for key, value in args.items())
    return " ".join(quote(item) for item in args)


def load_macro(code_or_path) -> tuple[str, Path | None]:
    """Macro text from a string or a ``.ijm`` file (a path that exists)."""
    if isinstance(code_or_path, os.PathLike):
        path = Path(code_or_path)
        return path.read_text(encoding="utf-8"), path
    text = str(code_or_path)
    if "\n" not in text and len(text) < 4096:
        candidate = Path(text).expanduser()
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8"), candidate
        if candidate.suffix.lower() == ".ijm":
            raise FileNotFoundError(f"macro file {candidate} does not exist")
    return text, None


def _decode_literal(body: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)


def _split_exit_message(code: str, line_number: int | None, printed: str) -> tuple[str, str | None]:
    """Separate ``exit("msg")``'s message from the log when both went to System.out.

    ImageJ without a window prints the message with ``System.out.println`` after the
    macro's own output; the macro line it stopped on says whether it was ``exit(...)``.
    """
    lines = code.splitlines()
    if not line_number or not 1 <= line_number <= len(lines):
        return printed, None
    source = lines[line_number - 1]
    call = _EXIT_CALL.search(source)
    if call is None:
        return printed, None
    out_lines = printed.splitlines()
    if not out_lines:
        return printed, None
    literal = _STRING_LITERAL.match(source, call.end())
    if literal is not None:
        message = _decode_literal(literal.group(1))
        n = message.count("\n") + 1
        if out_lines[-n:] != message.split("\n"):
            n = 1
    else:
        # an expression: as many lines as the "\n" escapes written in it
        n = 1 + source[call.end():].count("\\n")
    n = min(n, len(out_lines))
    message = "\n".join(out_lines[-n:])
    rest = out_lines[:-n]
    return ("\n".join(rest) + "\n") if rest else "", message


def _static_field(class_name: str, name: str):
    field = jvm.jimport(class_name).class_.getDeclaredField(name)
    field.setAccessible(True)
    return field


def _macro_state() -> tuple:
    """ImageJ's global "a macro is running" state (read before a run)."""
    Interpreter = jvm.jimport("ij.macro.Interpreter")
    try:
        running = bool(_static_field("ij.IJ", "macroRunning").getBoolean(None))
    except Exception:  # noqa: BLE001 - another ImageJ version
        running = None
    return Interpreter.getInstance(), running


def _restore_macro_state(state: tuple) -> None:
    """Undo what an aborted macro leaves behind.

    A macro that stops with an error inside ``run(...)``/``open(...)`` leaves
    ``IJ.macroRunning`` set and sometimes ``Interpreter.instance``; ImageJ then believes
    a macro still runs (``IJ.isMacro()``), so ``imp.show()`` opens no window and
    ``RoiManager.getInstance()`` answers with the batch-mode manager. ImageJ's own
    clean-up (``Interpreter.abortMacro``) waits 2 s and stops every thread named
    "...Macro$", so the two fields are put back to their values from before the run.
    """
    instance, running = state
    Interpreter = jvm.jimport("ij.macro.Interpreter")
    try:
        if Interpreter.getInstance() is not instance:
            _static_field("ij.macro.Interpreter", "instance").set(None, instance)
        if running is not None:
            _static_field("ij.IJ", "macroRunning").setBoolean(None, running)
    except Exception:  # noqa: BLE001 - best effort; only matters after a failed macro
        pass


def _java_message(exc) -> str:
    getter = getattr(exc, "getMessage", None)
    try:
        message = getter() if getter is not None else None
    except Exception:  # noqa: BLE001
        message = None
    return str(message) if message is not None else str(exc)


def _java_class(exc) -> str:
    try:
        return str(exc.getClass().getName())
    except Exception:  # noqa: BLE001
        return type(exc).__name__


def live_imagej() -> bool:
    """Whether a user works in this ImageJ: pyfiji_dl did not start it (it was handed a
    running Fiji, e.g. in the script editor) and ImageJ's main window is open.

    An ImageJ that pyfiji_dl started, even with its window (``mode="gui"`` under a
    virtual display), has nobody to answer its dialogs.
    """
    jvm.start_imagej()
    return jvm.adopted() and jvm.jimport("ij.IJ").getInstance() is not None


def run_macro(code_or_path, args=None, *, imp=None, timeout: float | None = None,
              poll_interval: float = 0.02, live: bool | None = None) -> MacroResult:
    """Run an ImageJ macro and return its value, log and error (never a dialog).

    Parameters
    ----------
    code_or_path : str or path-like
        Macro code, or the path of an ``.ijm`` file.
    args : str, list, dict or None
        What ``getArgument()`` returns (see :func:`macro_argument`).
    imp : ij.ImagePlus, optional
        Made the macro's current image.
    timeout : float, optional
        Abort the macro after this many seconds (``None``: no limit; dialogs are
        cancelled either way, so only a macro that computes forever needs one).
    live : bool, optional
        A user works in this ImageJ (default: a Fiji handed to pyfiji_dl with its main
        window open, see :func:`live_imagej`): the macro's dialogs are left for the user to answer and
        nothing JVM-wide is swapped; the result still carries the error.
    """
    code, macro_path = load_macro(code_or_path)
    argument = macro_argument(args)
    jvm.start_imagej()
    IJ = jvm.jimport("ij.IJ")
    Interpreter = jvm.jimport("ij.macro.Interpreter")
    System = jvm.jimport("java.lang.System")
    ByteArrayOutputStream = jvm.jimport("java.io.ByteArrayOutputStream")
    PrintStream = jvm.jimport("java.io.PrintStream")

    if live is None:
        live = live_imagej()
    with _lock:
        start = time.monotonic()
        log_window = IJ.getInstance() is not None
        log_before = str(IJ.getLog() or "") if log_window else ""
        batch_before = bool(Interpreter.batchMode)
        state_before = _macro_state()
        interp = Interpreter()
        # live: record the dialogs (read only), the user answers them
        guard = DialogGuard(cancel=not live).arm()
        IJ.getErrorMessage()  # forget errors from before this run
        captured = ByteArrayOutputStream()
        original_out = System.out
        # without a Log window ImageJ prints the log to System.out; in a live ImageJ the
        # stream is everybody's and is left alone
        swap_out = not log_window and not live
        if swap_out:
            System.setOut(PrintStream(captured, True, "UTF-8"))
        outcome: dict = {}
        # Java classes are resolved here, not in the macro thread: ImageJ may stop that thread
        # (threads named "...Macro$") while it runs Python, which must then hold no lock of ours
        java = {name: jvm.jimport(f"{package}.{name}") for package, name in (
            ("ij", "WindowManager"), ("ij.macro", "Interpreter"), ("java.lang", "Thread"),
            ("ij.plugin", "Macro_Runner"))}
        worker = threading.Thread(target=_interpret, args=(interp, code, argument, macro_path, imp, outcome, java),
                                  name="pyfiji_dl-Macro$", daemon=True)
        timed_out = False
        try:
            worker.start()
            timed_out = _wait_for_macro(worker, interp, guard, start, timeout, poll_interval)
        finally:
            if swap_out:
                System.setOut(original_out)
            Interpreter.batchMode = batch_before
            if not worker.is_alive():
                _restore_macro_state(state_before)
            IJ.resetEscape()
        printed = str(captured.toString("UTF-8"))

        try:
            line = int(interp.getLineNumber())
        except Exception:  # noqa: BLE001 - no program (nothing was tokenized)
            line = None
        exception = outcome.get("exception")
        canceled = exception is not None and _java_message(exception) == MACRO_CANCELED
        if log_window:
            log, exit_message = _log_window_text(IJ, log_before), None
        elif not swap_out:
            log, exit_message = "", None  # printed to System.out, which is not ours
        elif canceled:
            log, exit_message = _split_exit_message(code, line, printed)
        else:
            log, exit_message = printed, None
        error, log = _macro_error(interp, guard, log, exit_message, line=line, exception=exception,
                                  canceled=canceled, timed_out=timed_out, timeout=timeout, live=live)
        value = outcome.get("value")
        return MacroResult(
            value=None if value is None else str(value),
            log=log,
            error=error,
            dialogs=list(guard.dialogs),
            images=[i for i in outcome.get("images", []) if i is not None],
            image=outcome.get("image"),
            seconds=time.monotonic() - start,
        )


def _interpret(interp, code: str, argument: str, macro_path, imp, outcome: dict, java: dict) -> None:
    """The macro thread: run ``code`` and put its value (or exception) and images in ``outcome``.

    ``java`` holds the Java classes it needs, resolved by the calling thread.
    """
    WindowManager, Interpreter = java["WindowManager"], java["Interpreter"]
    try:
        # ImageJ stops threads named "...Macro$" when an abort does not end them
        java["Thread"].currentThread().setName("pyfiji_dl-Macro$")
        if imp is not None:
            WindowManager.setTempCurrentImage(imp)
        if macro_path is not None:
            # what getInfo("macro.filepath") reports, as when ImageJ runs the file itself
            java["Macro_Runner"].setFilePath(str(Path(macro_path).resolve()))
        outcome["value"] = interp.run(code, argument)
    except Exception as exc:  # noqa: BLE001 - Java exceptions come back here
        outcome["exception"] = exc
    finally:
        try:
            outcome["image"] = WindowManager.getCurrentImage()
            outcome["images"] = [Interpreter.getBatchModeImage(int(i))
                                 for i in (Interpreter.getBatchModeImageIDs() or [])]
            WindowManager.setTempCurrentImage(None)
        except Exception:  # noqa: BLE001
            pass


def _wait_for_macro(worker: threading.Thread, interp, guard, start: float, timeout: float | None,
                    poll_interval: float) -> bool:
    """Wait for the macro thread, closing (or recording) its dialogs; True when it was aborted at ``timeout``."""
    if guard.wait_for(worker, None if timeout is None else start + timeout, poll_interval):
        return False
    interp.abortMacro()
    worker.join(5.0)
    return True


def _log_window_text(IJ, log_before: str) -> str:
    """What the macro added to ImageJ's Log window, ending with a newline."""
    log_after = str(IJ.getLog() or "")
    log = log_after[len(log_before):] if log_after.startswith(log_before) else log_after
    if log and not log.endswith("\n"):
        log += "\n"
    return log


def _macro_error(interp, guard, log: str, exit_message: str | None, *, line: int | None, exception,
                 canceled: bool, timed_out: bool, timeout: float | None, live: bool) -> tuple[str | None, str]:
    """The run's error in ImageJ's own words (``None`` when it ran through), and its log.

    The first that applies: a timeout, the interpreter's error (as ImageJ's "Macro Error"
    dialog words it), a Java exception, the macro's ``exit("...")`` message, an
    ``IJ.error(...)`` (taken off the log's end), and finally a dialog left open.
    """
    IJ = jvm.jimport("ij.IJ")
    interp_error = interp.getErrorMessage()
    ij_error = IJ.getErrorMessage()  # IJ.error(...) written to System.out without a window
    macro_dialogs = [d for d in guard.dialogs if d.startswith("Macro Error: ")]
    if timed_out:
        return f"the macro did not finish within {timeout:g} s and was aborted", log
    if interp_error is not None and macro_dialogs:
        # ImageJ's own wording: "<message> in line N", then the line with the token marked
        parts = [p.strip() for p in macro_dialogs[0][len("Macro Error: "):].split("\n") if p.strip()]
        return ": ".join(parts), log
    if interp_error is not None:
        return (f"{interp_error} in line {line}" if line else str(interp_error)), log
    if exception is not None and not canceled:
        error = f"{_java_class(exception)}: {_java_message(exception)}"
        return (error + f" (macro line {line})" if line else error), log
    if canceled and exit_message is not None:
        return exit_message, log
    if ij_error is not None:
        error = str(ij_error)
        if log.endswith(error + "\n"):
            log = log[: -len(error) - 1]
        return error, log
    if guard.dialogs and (canceled or not live):
        # live: the dialogs may be the user's own, so only the macro's exit message counts
        title, _, text = guard.dialogs[-1].partition(": ")
        if title == "Macro" and text:  # exit("...") shown as a message (Fiji GUI)
            return text, log
        if live:
            return None, log
        return ("the macro opened a dialog that nobody can answer here, and it was closed: "
                + "; ".join(guard.dialogs)), log
    return None, log
