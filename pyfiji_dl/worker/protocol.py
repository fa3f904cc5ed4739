"""Messages between the ``pyfiji-dl`` client and the worker: one JSON object per line.

A request is ``{"op": ..., "identity": {...}, ...}``; ``op`` is one of

* ``run``: run a command and stream its output (``out`` events), then ``exit``;
* ``submit``: queue a command and answer at once with its job folder (``job``), where
  the worker writes progress and the final output (for ImageJ macros, which can only
  poll files);
* ``status``, ``cancel`` (job ids, or all), ``stop``.

A command is the argument list of our own parser, never code: the worker parses it with
:func:`pyfiji_dl.cli.build_parser` like the command line does. ``run`` and ``submit``
carry the client's identity (pyfiji_dl version, source stamp, device setting); a worker
of another identity refuses them (``refused``) and retires so the client can start a
fresh one.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

from .. import __version__
from .paths import package_dir

PROTOCOL = 1
# Client environment that changes what a command does; applied to each job.
ENV_PREFIXES = ("PYFIJI_DL_", "TQDM_")
ENV_NAMES = ("TF_CPP_MIN_LOG_LEVEL", "XDG_CACHE_HOME", "COLUMNS")
# Settings fixed when the worker starts: a client with other values needs another worker.
IDENTITY_ENV = ("PYFIJI_DL_DEVICE", "PYFIJI_DL_MAX_HEAP", "CUDA_VISIBLE_DEVICES")
WORKER_ENV = ("PYFIJI_DL_WORKER", "PYFIJI_DL_WORKER_DIR", "PYFIJI_DL_WORKER_IDLE_MINUTES",
              "PYFIJI_DL_WORKER_MODEL_MEMORY_MB")


class ConnectionLost(OSError):
    """The other side closed the connection before the answer was complete."""


def source_stamp() -> str:
    """Newest modification time of the package's modules: an edited installation is another one."""
    newest = 0
    for folder, _, names in os.walk(package_dir()):
        for name in names:
            if name.endswith(".py"):
                newest = max(newest, os.stat(os.path.join(folder, name)).st_mtime_ns)
    return str(newest)


def identity() -> dict:
    """What a worker must share with a client to run its commands."""
    return {
        "protocol": PROTOCOL,
        "version": __version__,
        "source": source_stamp(),
        "env": {name: os.environ.get(name) for name in IDENTITY_ENV},
    }


def describe_identity(ident: dict) -> str:
    env = ", ".join(f"{k}={v}" for k, v in sorted((ident.get("env") or {}).items()) if v is not None)
    return f"pyfiji_dl {ident.get('version')}" + (f" ({env})" if env else "")


def identity_mismatch(worker: dict, client: dict) -> str | None:
    """Why a worker of identity ``worker`` cannot serve ``client`` (None if it can)."""
    if worker.get("protocol") != client.get("protocol") or worker.get("version") != client.get("version"):
        return (f"the running pyfiji-dl worker is {describe_identity(worker)} and this command is "
                f"{describe_identity(client)}")
    if worker.get("env") != client.get("env"):
        return (f"the running pyfiji-dl worker was started with {describe_identity(worker)}, this command "
                f"has {describe_identity(client)}")
    if worker.get("source") != client.get("source"):
        return "pyfiji_dl was updated since the running worker started"
    return None


def job_env() -> dict:
    """The client's environment variables that a job runs with."""
    return {k: v for k, v in os.environ.items()
            if (k.startswith(ENV_PREFIXES) or k in ENV_NAMES) and k not in WORKER_ENV}


class Channel:
    """A connected socket speaking JSON lines."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self._buffer = b""

    @classmethod
    def connect(cls, path: Path, timeout: float | None = 5.0) -> "Channel":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(os.fspath(path))
        except BaseException:
            sock.close()
            raise
        return cls(sock)

    def send(self, message: dict) -> None:
        self.sock.sendall(json.dumps(message).encode() + b"\n")

    def has_line(self) -> bool:
        return b"\n" in self._buffer

    def receive(self) -> dict:
        """The next message; :class:`ConnectionLost` when the other side is gone."""
        while b"\n" not in self._buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionLost("connection closed")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
