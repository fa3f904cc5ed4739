"""Atomic file output: a reader never sees a half-written file."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

from ..errors import PyfijiDLError
from .outputs import is_disk_full, output_write_error


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, overwrite: bool = True):
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    The temporary file lives in the destination folder so the final ``os.replace``
    is a rename on the same file system. On any exception the temporary file is
    removed and ``path`` is left as it was.

    Parameters
    ----------
    path : path-like
        Final destination.
    overwrite : bool
        If False and ``path`` exists, raise :class:`OutputExistsError` (a
        ``FileExistsError``) before writing.

    Raises
    ------
    pyfiji_dl.io.outputs.OutputWriteError
        Writing failed (disk full, read-only, permission denied, a folder in the way);
        the message names ``path``, not the temporary file, and ``path`` is unchanged.
    """
    path = Path(path)
    if not overwrite and path.exists():
        raise OutputExistsError(f"{path} exists; remove it or choose another output name.", path=path)
    if path.is_dir():
        raise output_write_error(IsADirectoryError(errno.EISDIR, "Is a directory", str(path)), path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Keep the real suffix last: tifffile and zipfile pick formats by extension.
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{path.suffix}", dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise output_write_error(exc, path) from None
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp makes owner-only files; give the result the usual permissions
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        if _about_this_output(exc, tmp_path, path):
            # name the user's file, never our temporary one, and say "disk full" plainly
            raise output_write_error(exc, path) from exc
        raise


class OutputExistsError(PyfijiDLError, FileExistsError):
    """The output exists and the command was not asked to replace it."""


def _about_this_output(exc: BaseException, tmp_path: Path, path: Path) -> bool:
    """Whether ``exc`` is a failure to write ``path`` (not, say, a bad input read meanwhile)."""
    if isinstance(exc, PyfijiDLError) or not isinstance(exc, OSError):
        return is_disk_full(exc, path.parent) if isinstance(exc, (RuntimeError, ValueError)) else False
    if is_disk_full(exc, path.parent):
        return True
    named = {str(f) for f in (exc.filename, getattr(exc, "filename2", None)) if f}
    return not named or bool(named & {str(tmp_path), str(path)})


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
