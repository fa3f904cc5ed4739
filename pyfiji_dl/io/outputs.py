"""Outputs that cannot hurt inputs, and write errors that name the user's file.

Two things every command shares:

* :func:`refuse_overwriting_inputs` - before any work, refuse an output that is one of
  the command's inputs: the same path, a hard link or symlink to it, or an output
  folder that holds it. The message names both paths.
* :func:`output_write_error` - an ``OSError`` met while writing an output, turned into
  a :class:`OutputWriteError` that names the user's output (never our temporary
  ``.NAME.XXXX.part.tif``) and says what happened in plain words ("disk full while
  writing OUT", "read-only", "permission denied", "a folder is in the way").
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from pathlib import Path
from typing import Iterable

from ..errors import PyfijiDLError

# Less free space than this after a failed write means the disk was full. numpy and
# tifffile report a short write as "65536 requested and 9288 written" with no errno.
_NEARLY_FULL_BYTES = 1 << 20
# The temporary names io.atomic.atomic_path makes: ".STEM.XXXXXXXX.part.SUFFIX"
_TEMPORARY_NAME = re.compile(r"^\.(?P<stem>.+)\.[^.]+\.part(?P<suffix>\.[^.]*)?$")


class OutputOverwritesInputError(PyfijiDLError, ValueError):
    """An output would write over one of the command's inputs."""


class OutputWriteError(PyfijiDLError, OSError):
    """An output could not be written; the message names the user's file."""


class DiskFullError(OutputWriteError):
    """The disk filled up while an output was written."""


def _absolute(path: Path) -> Path:
    return Path(os.path.abspath(path))


def _same_file(a: Path, b: Path) -> bool:
    if _absolute(a) == _absolute(b) or a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)  # hard links and symlinks
    except OSError:
        return False


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies under it, as written or with links followed."""
    for candidate, root in ((_absolute(path), _absolute(folder)), (path.resolve(), folder.resolve())):
        if candidate == root or root in candidate.parents:
            return True
    return False


def refuse_overwriting_inputs(inputs: Iterable, *, files: Iterable = (), folders: Iterable = ()) -> None:
    """Refuse, before any work, outputs that would write over an input.

    Parameters
    ----------
    inputs : iterable of path-like
        Every file and folder the command reads (None entries are ignored).
    files : iterable of path-like
        Output files the command will write.
    folders : iterable of path-like
        Output folders the command writes into.

    Raises
    ------
    OutputOverwritesInputError
        An output file is an input (same path, hard link or symlink), or an output
        folder is an input folder or holds an input.
    """
    sources = [Path(p) for p in inputs if p is not None and Path(p).exists()]
    for output in (Path(p) for p in files if p is not None):
        for source in sources:
            if source.is_file() and _same_file(output, source):
                how = "is" if _absolute(output) == _absolute(source) else "is a link to (the same file as)"
                raise OutputOverwritesInputError(
                    f"the output {output} {how} the input {source}; nothing was written. "
                    "Choose another output name: inputs are never overwritten.")
            if source.is_dir() and _same_file(output, source):
                raise OutputOverwritesInputError(
                    f"the output {output} is the input folder {source}; nothing was written. "
                    "Choose another output name.")
    for folder in (Path(p) for p in folders if p is not None):
        for source in sources:
            if _inside(source, folder):
                what = "folder" if source.is_dir() else "file"
                raise OutputOverwritesInputError(
                    f"the output folder {folder} holds the input {what} {source}; writing there could "
                    "replace inputs, so nothing was written. Choose an output folder outside the inputs.")


def check_output_kinds(*, files: Iterable = (), folders: Iterable = ()) -> None:
    """Refuse an output file where a folder is, and an output folder where a file is."""
    for path in (Path(p) for p in files if p is not None):
        if path.is_dir():
            raise OutputWriteError(f"the output {path} is a folder; give a file name.", path=path)
    for path in (Path(p) for p in folders if p is not None):
        if path.exists() and not path.is_dir():
            raise OutputWriteError(f"the output folder {path} is a file; give a folder name "
                                   "(a new one is created).", path=path)
        for parent in path.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise OutputWriteError(f"cannot create the output folder {path}: {parent} is a file.",
                                           path=path)
                break


def user_path(path: str | os.PathLike) -> Path:
    """The user's file behind one of our temporary names (``.NAME.XXXX.part.tif`` -> ``NAME.tif``)."""
    path = Path(path)
    match = _TEMPORARY_NAME.match(path.name)
    if not match:
        return path
    return path.with_name(match["stem"] + (match["suffix"] or ""))


def is_disk_full(exc: BaseException, near: str | os.PathLike | None = None) -> bool:
    """Whether ``exc`` is a full disk (ENOSPC, EDQUOT, or a short write on a disk with no room left)."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if near is None or not isinstance(exc, (OSError, RuntimeError, ValueError)):
        return False
    if getattr(exc, "errno", None) is not None:
        return False  # the system said what went wrong, and it was not a full disk
    folder = Path(near)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return shutil.disk_usage(folder).free < _NEARLY_FULL_BYTES
    except OSError:
        return False


def output_write_error(exc: BaseException, path: str | os.PathLike) -> OutputWriteError:
    """``exc`` (met while writing ``path``) as one plain message naming ``path``."""
    path = user_path(path)
    if isinstance(exc, OutputWriteError):
        return exc
    if is_disk_full(exc, path.parent):
        return DiskFullError(f"disk full while writing {path}; nothing was written there. Free some space "
                             "(or choose an output on another disk) and run the command again.", path=path)
    code = getattr(exc, "errno", None)
    if code == errno.EROFS:
        why = "the disk is read-only"
    elif code in (errno.EACCES, errno.EPERM):
        why = "permission denied"
    elif code == errno.EISDIR or path.is_dir():
        why = "a folder of that name is in the way"
    elif code in (errno.ENOTDIR, errno.EEXIST):
        why = "a file is in the way of its folder"
    elif code == errno.ENOENT:
        why = "its folder does not exist"
    else:
        why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return OutputWriteError(f"cannot write {path}: {why}. Choose another output.", path=path)
