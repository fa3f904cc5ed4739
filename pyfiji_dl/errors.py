"""The package's error base.

Every error that a user can cause (a bad file, a bad option, an incomplete model, a full
disk) is a :class:`PyfijiDLError`: the command line and the Fiji macros show it as one
plain message naming the user's file and what to do, with no traceback. Anything else
that escapes is a bug of ours and keeps its traceback.

The concrete errors keep their historical built-in bases (``ValueError``,
``RuntimeError``) as well, so that code catching those keeps working.
"""

from __future__ import annotations

from pathlib import Path


class PyfijiDLError(Exception):
    """An error to show the user as one message.

    Parameters
    ----------
    message : str
        What went wrong, in the user's terms.
    path : str or Path, optional
        The user's file or folder the error is about (never a temporary file of ours).
    hint : str, optional
        What to do about it; appended to the message.
    """

    def __init__(self, message: str = "", *, path: str | Path | None = None,
                 hint: str | None = None):
        super().__init__(message)
        self.path = None if path is None else Path(path)
        self.hint = hint

    def __str__(self) -> str:
        text = super().__str__()
        if self.hint and self.hint not in text:
            text = f"{text} ({self.hint})" if text else self.hint
        return text


class InputError(PyfijiDLError, ValueError):
    """A user's image, label map, ROI set or table cannot be used as it is.

    The message names the file (or the data) and says what it should hold instead.
    """


class OptionError(PyfijiDLError, ValueError):
    """An option's value is unknown, out of range, or does not fit the data it is used on."""


class SetupError(PyfijiDLError, RuntimeError):
    """This installation or machine lacks something the command needs (a package, a GPU)."""


def naming_file(message: str, path: str | Path, shown: str | None = None) -> str:
    """``message`` for the user, after ``shown`` (default: ``path``) unless it already names the file.

    Most of our messages start with the file's path or name already; a message from
    elsewhere (the operating system, a library) does not.
    """
    return message if Path(path).name in message else f"{shown or path}: {message}"
