"""Where the worker keeps its socket, lock, state, log and jobs, readable by its user only.

One worker runs per user and per installation (the pyfiji_dl package folder and the
Python that runs it), so two environments of one user never share a worker that would
run the other's code. Everything lives in ``$PYFIJI_DL_WORKER_DIR``, else
``$XDG_CACHE_HOME/pyfiji_dl/worker``, else ``~/.cache/pyfiji_dl/worker``, in a
sub-folder named after the installation. Folders are 0700 and the socket 0600; a
folder that other users can enter is refused rather than used.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
from pathlib import Path

from ..errors import PyfijiDLError

DIR_ENV = "PYFIJI_DL_WORKER_DIR"
# Unix socket paths are limited to 108 bytes on Linux (104 on macOS) by sockaddr_un.
MAX_SOCKET_PATH = 100


class WorkerDirError(PyfijiDLError, OSError):
    """The worker's folder cannot be made private; the message says which and why."""


def package_dir() -> Path:
    return Path(__file__).resolve().parent.parent


def installation_key() -> str:
    """Short digest of the package folder and the Python running it."""
    text = f"{package_dir()}\n{Path(sys.executable).absolute()}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def base_dir() -> Path:
    if os.environ.get(DIR_ENV):
        return Path(os.environ[DIR_ENV]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "pyfiji_dl" / "worker"


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (0700) if needed and check that only this user can enter it."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    info = path.stat()
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise WorkerDirError(f"{path} belongs to another user; the pyfiji-dl worker needs a folder of its own "
                             f"(set {DIR_ENV} to one).", path=path)
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, 0o700)  # ours, but opened up (a copied home, a permissive umask): close it
    return path


class WorkerPaths:
    """The files of one worker.

    (A plain class, not a dataclass: the client imports this module on every command and
    ``dataclasses`` costs it several milliseconds of imports.)
    """

    __slots__ = ("root",)

    def __init__(self, root: Path):
        self.root = Path(root)

    def __eq__(self, other) -> bool:
        return isinstance(other, WorkerPaths) and other.root == self.root

    def __hash__(self) -> int:
        return hash(self.root)

    def __repr__(self) -> str:
        return f"WorkerPaths({str(self.root)!r})"

    @classmethod
    def default(cls) -> "WorkerPaths":
        return cls(base_dir() / installation_key())

    @property
    def socket(self) -> Path:
        path = self.root / "worker.sock"
        if len(os.fsencode(path)) <= MAX_SOCKET_PATH:
            return path
        # a deep home folder: the socket goes to a short private folder of this user
        uid = os.getuid() if hasattr(os, "getuid") else 0
        return Path("/tmp") / f"pyfiji_dl-{uid}" / f"{self.root.name}.sock"

    @property
    def lock(self) -> Path:
        return self.root / "worker.lock"

    @property
    def state(self) -> Path:
        return self.root / "worker.json"

    @property
    def log(self) -> Path:
        return self.root / "worker.log"

    @property
    def jobs(self) -> Path:
        return self.root / "jobs"

    def prepare(self) -> "WorkerPaths":
        """Create the private folders (0700) the worker and its clients use."""
        ensure_private_dir(self.root.parent)
        ensure_private_dir(self.root)
        ensure_private_dir(self.jobs)
        ensure_private_dir(self.socket.parent)
        return self
