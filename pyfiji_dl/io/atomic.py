"""Atomic file output: a reader never sees a half-written file."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import threading
from pathlib import Path

from ..errors import PyfijiDLError
from .outputs import is_disk_full, output_write_error

# Temporary files not yet renamed or removed, by the thread writing them. A Ctrl-C can land
# where no cleanup of the writer runs: between a ``with`` statement's ``__enter__`` and its
# block, or in a generator that is only finalised at exit. The command that was interrupted
# removes its thread's leftovers (:func:`remove_abandoned_temporaries`). Names are entered
# before the file exists, so no interrupt falls between creating a file and recording it.
_LIVE: dict = {}
_LIVE_LOCK = threading.Lock()


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
        tmp_path = _new_temporary(path)
    except OSError as exc:
        raise output_write_error(exc, path) from None
    try:
        yield tmp_path
        # the temporary file is owner-only (as mkstemp's); give the result the usual permissions
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        if _about_this_output(exc, tmp_path, path):
            # name the user's file, never our temporary one, and say "disk full" plainly
            raise output_write_error(exc, path) from exc
        raise
    finally:
        _forget(tmp_path)


def _new_temporary(path: Path) -> Path:
    """An empty owner-only file beside ``path``, recorded in ``_LIVE`` before it exists."""
    for _ in range(100):
        # Keep the real suffix last: tifffile and zipfile pick formats by extension.
        tmp_path = path.parent / f".{path.stem}.{secrets.token_hex(4)}.part{path.suffix}"
        with _LIVE_LOCK:
            _LIVE[tmp_path] = threading.get_ident()
        try:
            os.close(os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            _forget(tmp_path)
            continue
        except BaseException:
            _forget(tmp_path)
            raise
        return tmp_path
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(path.parent))


def _forget(tmp_path: Path) -> None:
    with _LIVE_LOCK:
        _LIVE.pop(tmp_path, None)


def remove_abandoned_temporaries() -> list:
    """Remove the temporary files this thread created and neither renamed nor removed.

    Called when a command is interrupted: whatever it was writing is abandoned, and a
    Ctrl-C can land where the writer's own cleanup does not run. Other threads' files
    (another job of the warm worker) are left alone.

    Returns
    -------
    list of Path
        The files removed.
    """
    me = threading.get_ident()
    with _LIVE_LOCK:
        mine = [p for p, owner in _LIVE.items() if owner == me]
        for p in mine:
            del _LIVE[p]
    removed = []
    for tmp_path in mine:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
            removed.append(tmp_path)
    return removed


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
