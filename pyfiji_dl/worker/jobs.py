"""One command run by the worker: its output, its progress and its cancellation.

Output: the command's ``sys.stdout``/``sys.stderr`` are replaced, for the run, by
streams that hand the text to the job (to the connected client, or to the job folder
for ImageJ macros). Progress: the command's own tqdm bars (files of a folder, epochs of
training) are read as they are written and turned into a fraction and a status line.
Cancellation: the job is asked to stop; the next time the command writes progress or
output it raises :class:`JobCancelled`, and if the command has neither stopped nor
acknowledged it (:meth:`JobCancelled.acknowledge`) half a second later the exception is
raised in its thread (``PyThreadState_SetAsyncExc``), so a command busy in one long
computation stops as soon as it returns to Python. Outputs are written
through :mod:`pyfiji_dl.io.atomic`, so a stopped command leaves no half-written file.

Job folder (``submit``, for ImageJ macros, which can only poll files):

* ``progress.txt``: ``state<TAB>fraction<TAB>status<TAB>heartbeat``, rewritten at least
  every half second while the worker lives (``heartbeat`` in ms since the epoch; a stale
  one means the worker is gone);
* ``result.txt``: the command's whole output, as ``exec()`` would have returned it,
  written once at the end;
* ``alive`` (written by the macro while it polls) and ``cancel`` (written to stop the job).
"""

from __future__ import annotations

import ctypes
import io
import os
import queue
import re
import secrets
import threading
import time
from pathlib import Path

# tqdm's default bar: "desc:  45%|####5     | 9/20 [00:03<00:04,  2.51image/s, loss=0.5]"
_TQDM = re.compile(r"^\s*(?:(?P<desc>.*?):\s*)?(?P<pct>\d+)%\|.*\|\s*(?P<n>\d+)/(?P<total>\d+)\s*"
                   r"(?:\[(?P<rest>[^\]]*)\])?\s*$")
STATUS_OK = "PYFIJI-DL STATUS ok"
STATUS_ERROR = "PYFIJI-DL STATUS error"
FORCE_AFTER_SECONDS = 0.5
FORCE_RETRIES = 5
# thread id -> the job running in it (to acknowledge a forced cancellation)
_RUNNING: dict = {}


class JobCancelled(KeyboardInterrupt):
    """The user stopped the job (raised in the command, handled like Ctrl-C).

    :func:`pyfiji_dl.command.run_command` catches it, reports what was kept (which may
    take a while: it looks at every input's outputs) and calls :meth:`acknowledge`, so the
    worker does not raise the cancellation a second time in the middle of that report.
    """

    def __init__(self, *args, job: "Job | None" = None):
        super().__init__(*args)
        self.job = job

    def acknowledge(self) -> None:
        """The command received the stop and is ending: no further interrupt.

        A forced cancellation is raised as the bare class (``PyThreadState_SetAsyncExc``
        cannot carry an instance), so its job is found by the thread it runs in.
        """
        job = self.job or _RUNNING.get(threading.get_ident())
        if job is not None:
            job.stop_received()


def parse_progress(text: str) -> dict | None:
    """The description, count, total and extras (``loss=0.5``) of a tqdm line, or None."""
    match = _TQDM.match(text.strip("\r\n"))
    if not match:
        return None
    rest = match["rest"] or ""
    extras = [part.strip() for part in rest.split(",") if "=" in part]
    return {"desc": (match["desc"] or "").strip(), "n": int(match["n"]), "total": int(match["total"]),
            "extras": extras, "epochs": "epoch" in rest}  # a training's bar ('s/epoch', 'epoch/s')


class JobStream(io.TextIOBase):
    """``sys.stdout`` or ``sys.stderr`` of a job."""

    def __init__(self, job: "Job", number: int):
        self.job = job
        self.number = number

    def write(self, text: str) -> int:
        self.job.write(self.number, text)
        return len(text)

    def isatty(self) -> bool:
        return self.job.tty[self.number - 1]

    def writable(self) -> bool:
        return True

    @property
    def encoding(self):
        return "utf-8"

    def fileno(self):
        raise io.UnsupportedOperation("a pyfiji-dl worker job's stream has no file descriptor")


class Job:
    """A command queued or running in the worker."""

    def __init__(self, argv: list, cwd: str, env: dict, *, for_imagej: bool = False,
                 tty=(False, False), job_dir: Path | None = None, lease: float | None = None):
        self.id = secrets.token_hex(4)
        self.argv = list(argv)
        self.cwd = cwd
        self.env = dict(env)
        if job_dir is not None:
            self.env.pop("TQDM_DISABLE", None)  # the macro shows the bars' progress
        self.for_imagej = for_imagej
        self.job_dir = job_dir
        self.lease = lease
        # macros poll a folder and show progress themselves: let the bars run
        self.tty = (bool(tty[0]), True if job_dir is not None else bool(tty[1]))
        self.state = "queued"
        self.exit_code: int | None = None
        self.submitted = time.time()
        self.started: float | None = None
        self.finished: float | None = None
        self.fraction = 0.0
        self.status = "queued"
        self.events: queue.Queue | None = None if job_dir is not None else queue.Queue()
        self._output: list[str] = []
        self._lock = threading.Lock()
        self._thread_id: int | None = None
        self._cancel_at: float | None = None
        self._cancel_reason = ""
        self._cancel_raised = False
        self._raised_at: float | None = None
        self._forced = 0
        self._stop_received = False
        self._last_was_bar = False
        self._outer: dict = {}
        self._inner: tuple | None = None
        self._tile: tuple | None = None
        self.macro_gone = False  # the macro that follows the job stopped polling (Esc)
        if job_dir is not None:
            job_dir.mkdir(mode=0o700)

    # ---------------------------------------------------------------- description
    @property
    def command(self) -> str:
        return next((a for a in self.argv if not a.startswith("-")), "?")

    def describe(self) -> dict:
        return {"id": self.id, "state": self.state, "argv": self.argv, "cwd": self.cwd,
                "status": self.status, "fraction": round(self.fraction, 3),
                "dir": str(self.job_dir) if self.job_dir else None}

    # ---------------------------------------------------------------- output
    def write(self, number: int, text: str) -> None:
        if not text:
            return
        self._check_cancel()
        progress = parse_progress(text) if "%|" in text else None
        if progress is not None:
            if progress["n"] != self._outer.get("n"):
                self._inner = self._tile = None  # the next input begins
            self._outer = progress
            self._compose()
            self._last_was_bar = True
            if self.for_imagej or self.job_dir is not None:
                return  # shown as progress, not as text
        elif self._last_was_bar and not text.strip() and (self.for_imagej or self.job_dir is not None):
            return  # a bar's line end or clean-up
        else:
            self._last_was_bar = False
        if self.for_imagej:
            number = 1  # ImageJ's exec() reads one stream
        if self.events is not None:
            self.events.put({"event": "out", "stream": number, "text": text})
        else:
            self._output.append(text)

    def plane_done(self, done: int, total: int, what: str) -> None:
        """Listener of :func:`pyfiji_dl.progress.report`: planes of the current input (or
        steps of the current epoch), and tiles of the current plane."""
        self._check_cancel()
        if what == "tile":
            self._tile = (done, total)
        else:
            self._inner = (done, total, what)
            self._tile = None
        self._compose()

    def _compose(self) -> None:
        outer, inner, tile = self._outer, self._inner, self._tile
        tile_fraction = tile[0] / tile[1] if tile else 0.0
        if inner:
            # planes report when they are finished; the tiles are those of the next one
            inner_fraction = min(1.0, (inner[0] + tile_fraction) / inner[1])
            inner_text = f"{inner[2]} {inner[0]}/{inner[1]}"
        else:
            inner_fraction, inner_text = tile_fraction, ""
        if tile:
            inner_text += (", " if inner_text else "") + f"tile {tile[0]}/{tile[1]}"
        if outer.get("total"):
            self.fraction = min(1.0, (outer["n"] + inner_fraction) / outer["total"])
            if outer.get("epochs"):  # the epoch under way, counted from 1
                text = f"{outer['desc'] or self.command}: epoch {min(outer['n'] + 1, outer['total'])}/{outer['total']}"
            else:
                text = f"{outer['desc'] or self.command}: {outer['n']}/{outer['total']}"
            if inner_text:
                text += f", {inner_text}"
            if outer["extras"]:
                text += f" ({', '.join(outer['extras'])})"
        else:
            self.fraction = inner_fraction
            text = f"{self.command}: {inner_text}" if inner_text else f"{self.command}: running"
        self.status = text

    def output(self) -> str:
        return "".join(self._output)

    # ---------------------------------------------------------------- running
    def begin(self) -> None:
        with self._lock:
            self._thread_id = threading.get_ident()
            _RUNNING[self._thread_id] = self
            self.state = "running"
            self.started = time.time()
            self.status = f"{self.command}: running"

    def end(self, code: int) -> None:
        """Record the exit code; drop a cancellation that had not reached the command yet."""
        with self._lock:
            if self._thread_id is not None:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self._thread_id), None)
                if _RUNNING.get(self._thread_id) is self:
                    del _RUNNING[self._thread_id]
            self._thread_id = None
            self.exit_code = code
            self.finished = time.time()
            self.state = "cancelled" if self._cancel_at is not None and code != 0 else "done"
            self.fraction = 1.0 if code == 0 else self.fraction
            self.status = {"done": f"{self.command}: finished", "cancelled": f"{self.command}: cancelled"}[self.state]
            if code != 0 and self.state == "done":
                self.status = f"{self.command}: failed"
        if self.job_dir is not None:
            # what exec() would have returned: the macro reads it from the job folder
            if self.for_imagej:
                self.write(1, (STATUS_OK if code == 0 else STATUS_ERROR) + "\n")
            write_atomic(self.job_dir / "result.txt", self.output())
        if self.events is not None:
            self.events.put({"event": "exit", "code": code})

    # ---------------------------------------------------------------- cancelling
    @property
    def cancel_requested(self) -> bool:
        return self._cancel_at is not None

    @property
    def cancel_reason(self) -> str:
        return self._cancel_reason

    def request_cancel(self, reason: str) -> None:
        with self._lock:
            if self._cancel_at is None and self.state in ("queued", "running"):
                self._cancel_at = time.monotonic()
                self._cancel_reason = reason

    def _check_cancel(self) -> None:
        if self._cancel_at is not None and not self._cancel_raised and self._thread_id == threading.get_ident():
            with self._lock:
                self._cancel_raised = True
                self._raised_at = time.monotonic()
            raise JobCancelled(self._cancel_reason, job=self)

    def stop_received(self) -> None:
        """The command caught the cancellation and reports it: withdraw any forced one."""
        with self._lock:
            self._stop_received = True
            if self._thread_id is not None:  # one set but not yet raised in the thread
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self._thread_id), None)

    def enforce_cancel(self) -> None:
        """Called by the worker's monitor: raise the cancellation in the command's thread if it lingers.

        The command has FORCE_AFTER_SECONDS to stop by itself after the cancellation was
        asked for, and as long again to acknowledge it once it was raised (in between, a
        forced interrupt would land in the middle of its report of what it kept). Until it
        acknowledges, the interrupt is raised again every second (something may have
        swallowed it), at most FORCE_RETRIES times.
        """
        with self._lock:
            if (self._cancel_at is None or self._thread_id is None or self.state != "running"
                    or self._stop_received or self._forced >= FORCE_RETRIES):
                return
            since = self._raised_at if self._raised_at is not None else self._cancel_at
            if time.monotonic() - since < FORCE_AFTER_SECONDS + (1.0 if self._forced else 0.0):
                return
            self._cancel_raised = True
            self._raised_at = time.monotonic()
            self._forced += 1
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self._thread_id),
                                                       ctypes.py_object(JobCancelled))

    def check_files(self) -> None:
        """Cancel when the macro asked (``cancel`` file) or stopped polling (``alive`` grew old)."""
        if self.job_dir is None or self.state not in ("queued", "running") or self.cancel_requested:
            return
        if (self.job_dir / "cancel").exists():
            self.request_cancel("cancelled from ImageJ")
            return
        if self.lease is None:
            return
        try:
            age = time.time() - (self.job_dir / "alive").stat().st_mtime
        except FileNotFoundError:
            age = time.time() - self.submitted - 10.0  # the macro gets 10 s to start polling
        if age > self.lease:
            self.macro_gone = True
            self.request_cancel("the ImageJ macro that started it stopped (Esc)")

    def write_progress(self) -> None:
        if self.job_dir is None or not self.job_dir.exists():
            return
        status = self.status.replace("\t", " ").replace("\n", " ")
        line = f"{self.state}\t{self.fraction:.4f}\tpyfiji-dl {status}\t{int(time.time() * 1000)}\n"
        write_atomic(self.job_dir / "progress.txt", line)


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename (readers see old or new)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)
