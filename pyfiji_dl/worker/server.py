"""The worker process: ``python -m pyfiji_dl.worker.server`` (started by the client).

Threads: the main thread imports TensorFlow and the model adapters once (warm-up) and
then runs the queued commands one at a time (one device: the CPU, or the GPU the
process chose); an accept thread answers clients at once (status, queue position,
refusals) even while a command runs; a monitor thread writes job progress, enforces
cancellations and leases, and removes old job folders. The worker exits after
``--idle-minutes`` without a request (default 30; ``PYFIJI_DL_WORKER_IDLE_MINUTES``).

Only the user who started it can connect: the socket is 0600 in a 0700 folder, and on
Linux each connection's peer user id is checked as well (``SO_PEERCRED``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import queue
import re
import select
import shutil
import signal
import socket
import stat
import struct
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

from .. import __version__, progress
from .jobs import Job, JobCancelled, write_atomic
from .paths import WorkerPaths
from .protocol import Channel, identity, identity_mismatch

log = logging.getLogger("pyfiji_dl.worker")
IDLE_ENV = "PYFIJI_DL_WORKER_IDLE_MINUTES"
DEFAULT_IDLE_MINUTES = 30.0
LEASE_SECONDS = 1.2
KEEP_JOB_DIRS_SECONDS = 600


def default_idle_minutes() -> float:
    try:
        return float(os.environ.get(IDLE_ENV) or DEFAULT_IDLE_MINUTES)
    except ValueError:
        return DEFAULT_IDLE_MINUTES


class Worker:
    def __init__(self, paths: WorkerPaths, idle_minutes: float, warm: bool = True):
        self.paths = paths
        self.idle_seconds = idle_minutes * 60
        self.warm = warm
        self.identity = identity()
        self.started = time.time()
        self.last_activity = time.monotonic()
        self.queue: queue.Queue = queue.Queue()
        self.jobs: dict[str, Job] = {}
        self.current: Job | None = None
        self.stopping = threading.Event()
        self.retired = False
        self.ready = False
        self.jobs_done = 0
        self.model_cache = None
        self._jobs_lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._socket_inode = None
        self._lock_fd: int | None = None

    # ------------------------------------------------------------------ start / stop
    def claim(self) -> bool:
        """Take the lock of this installation's worker; False if another live worker holds it."""
        import fcntl

        self.paths.prepare()
        fd = os.open(self.paths.lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    def listen(self) -> None:
        path = self.paths.socket
        if path.exists() or path.is_symlink():
            log.info("removing a stale socket %s (no worker held the lock)", path)
            path.unlink()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_mask = os.umask(0o177)  # the socket is born 0600: no window where others may connect
        try:
            listener.bind(os.fspath(path))
        finally:
            os.umask(old_mask)
        os.chmod(path, 0o600)
        listener.listen(16)
        listener.settimeout(0.5)
        self._listener = listener
        self._socket_inode = path.stat().st_ino
        write_atomic(self.paths.state, json.dumps({
            "pid": os.getpid(), "version": __version__, "socket": str(path), "started": self.started,
            "log": str(self.paths.log)}))
        os.chmod(self.paths.state, 0o600)

    def release_name(self) -> None:
        """Give up the socket and the lock so that a new worker can take this installation's place."""
        path = self.paths.socket
        try:
            if self._socket_inode is not None and path.stat().st_ino == self._socket_inode:
                path.unlink()
        except FileNotFoundError:
            pass
        self._socket_inode = None
        if self._lock_fd is not None:
            try:
                if json.loads(self.paths.state.read_text()).get("pid") == os.getpid():
                    self.paths.state.unlink()
            except (OSError, ValueError):
                pass
            os.close(self._lock_fd)
            self._lock_fd = None

    def warm_up(self) -> None:
        """Import what commands need (TensorFlow, StarDist, the converters) before the first job."""
        from ..prediction import run as prediction_run
        from .models import ModelCache

        self.model_cache = ModelCache()
        prediction_run.model_cache = self.model_cache
        if not self.warm:
            return
        t0 = time.monotonic()
        try:
            from .. import cli  # noqa: F401  (the parser every job builds, the families registry)
            import pyfiji_dl.annotation.convert  # noqa: F401
            import pyfiji_dl.io.rois  # noqa: F401
            import pyfiji_dl.io.tiff  # noqa: F401
            from ..models.device import configure_tensorflow

            configure_tensorflow(quiet=True)
        except Exception:  # noqa: BLE001 - the commands that need it will say what is missing
            log.warning("warm-up incomplete:\n%s", traceback.format_exc())
        from ..families import REGISTRY

        for family in REGISTRY.values():  # each family's adapter: TensorFlow, CSBDeep, StarDist, n2v
            try:
                family.adapter()
            except Exception:  # noqa: BLE001 - a missing extra only fails the commands that need it
                log.warning("warm-up: the %s adapter did not import:\n%s", family.name, traceback.format_exc())
        log.info("warm-up done in %.1f s", time.monotonic() - t0)

    # ------------------------------------------------------------------ main loop
    def serve(self) -> None:
        os.environ["PYFIJI_DL_WORKER"] = "off"  # commands run here never call a worker
        threading.Thread(target=self._accept_loop, name="accept", daemon=True).start()
        threading.Thread(target=self._monitor_loop, name="monitor", daemon=True).start()
        self.warm_up()
        self.ready = True
        self.last_activity = time.monotonic()  # idle time counts from ready
        log.info("ready (pid %d, pyfiji_dl %s, idle exit after %g min)", os.getpid(), __version__,
                 self.idle_seconds / 60)
        while True:
            try:
                job = self.queue.get(timeout=0.5)
            except queue.Empty:
                if self.stopping.is_set() or (self.retired and not self.current):
                    break
                if time.monotonic() - self.last_activity > self.idle_seconds:
                    log.info("idle for %g min: exiting", self.idle_seconds / 60)
                    break
                continue
            self._execute(job)
            self.last_activity = time.monotonic()
        self._shutdown()

    def _shutdown(self) -> None:
        self.stopping.set()
        while True:
            try:
                job = self.queue.get_nowait()
            except queue.Empty:
                break
            job.request_cancel("the worker stopped")
            self._execute(job)
        self.release_name()
        if self._listener is not None:
            self._listener.close()
        log.info("stopped")

    def _execute(self, job: Job) -> None:
        from .. import cli

        if job.cancel_requested:
            job.write(2, f"pyfiji-dl {job.command}: cancelled before it started ({job.cancel_reason}).\n")
            job.end(130)
            return
        self.current = job
        saved_env = _apply_env(job.env)
        saved_cwd = os.getcwd()
        saved_streams = sys.stdout, sys.stderr
        code = 1
        log.info("job %s: %s (in %s)", job.id, " ".join(job.argv), job.cwd)
        try:
            try:
                os.chdir(job.cwd)
                from .jobs import JobStream

                sys.stdout, sys.stderr = JobStream(job, 1), JobStream(job, 2)
                job.begin()
                with progress.listening(job.plane_done):
                    code = _exit_code(cli.main(list(job.argv)))
            except SystemExit as exc:
                if isinstance(exc.code, str):
                    job.write(2, exc.code + "\n")
                code = _exit_code(exc.code)
            except KeyboardInterrupt:
                code = 130
                reason = f" ({job.cancel_reason})" if job.cancel_reason else ""
                job.write(2, f"pyfiji-dl {job.command}: cancelled{reason}. Finished outputs are kept and no "
                             "half-written file is left; run the same command again to continue (finished "
                             "inputs are skipped).\n")
            except FileNotFoundError as exc:
                code = 1
                job.write(2, f"pyfiji-dl {job.command}: error: {exc}\n")
            except BaseException:  # noqa: BLE001 - a bug of ours: its traceback goes to the user and the log
                code = 1
                text = traceback.format_exc()
                log.error("job %s failed:\n%s", job.id, text)
                job.write(2, text)
        except JobCancelled:
            code = 130  # the cancellation landed while the command was already ending
        finally:
            sys.stdout, sys.stderr = saved_streams
            try:
                os.chdir(saved_cwd)
            except OSError:
                os.chdir("/")
            _restore_env(saved_env)
            self.current = None
        job.end(code)
        if job.macro_gone:
            remove_temporary_inputs(job)  # the macro that would have removed them ended with Esc
        self.jobs_done += 1
        log.info("job %s: exit %d (%s), %.2f s", job.id, code, job.state, job.finished - (job.started or job.finished))

    # ------------------------------------------------------------------ clients
    def _accept_loop(self) -> None:
        while not self.stopping.is_set():
            listener = self._listener
            if listener is None or listener.fileno() < 0:
                return
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(None)
            threading.Thread(target=self._handle, args=(conn,), name="client", daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        channel = Channel(conn)
        try:
            if not _same_user(conn):
                channel.send({"event": "refused", "message": "this worker serves its own user only"})
                return
            request = channel.receive()
            op = request.get("op")
            if op in ("run", "submit"):
                self.last_activity = time.monotonic()  # status requests do not keep it alive
                self._handle_command(channel, request)
            elif op == "status":
                channel.send({"event": "status", **self.status()})
            elif op == "cancel":
                ids = self.cancel(request.get("ids") or None, "cancelled with 'pyfiji-dl worker cancel'")
                channel.send({"event": "cancelled", "ids": ids})
            elif op == "stop":
                self.cancel(None, "the worker was stopped")
                self.stopping.set()
                channel.send({"event": "stopping", "pid": os.getpid()})
            else:
                channel.send({"event": "error", "message": f"unknown request {op!r}"})
        except (OSError, ValueError) as exc:
            log.info("client connection ended: %s", exc)
        finally:
            channel.close()

    def _handle_command(self, channel: Channel, request: dict) -> None:
        from .client import SUBMITTED_COMMANDS, WORKER_COMMANDS

        command = next((a for a in request.get("argv") or [] if not a.startswith("-")), None)
        if command not in WORKER_COMMANDS and not (command in SUBMITTED_COMMANDS and request.get("op") == "submit"):
            # the client sends only these; anything else is not ours to run
            channel.send({"event": "refused", "message": f"the worker does not run {command!r}"})
            return
        why = identity_mismatch(self.identity, request.get("identity") or {})
        if why is None and (self.stopping.is_set() or self.retired):
            why = "this worker is shutting down"
        if why is not None:
            self.retire(why)
            channel.send({"event": "refused", "message": why})
            return
        if command not in SUBMITTED_COMMANDS and self._training():
            # a training may take hours: the command runs in its own process instead of waiting
            channel.send({"event": "busy", "message": f"the pyfiji-dl worker is training a model ({self._training()})"})
            return
        submit = request["op"] == "submit"
        job_dir = None
        if submit:
            job_id_dir = self.paths.jobs / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.urandom(3).hex()}"
            job_dir = job_id_dir
        job = Job(request["argv"], request["cwd"], request.get("env") or {}, for_imagej=bool(request.get("for_imagej")),
                  tty=request.get("tty") or (False, False), job_dir=job_dir,
                  lease=LEASE_SECONDS if request.get("lease") else None)
        with self._jobs_lock:
            self.jobs[job.id] = job
            ahead = self.queue.qsize() + (1 if self.current is not None else 0)
        job.status = (f"{job.command}: waiting for {ahead} job(s) before it" if ahead else
                      f"{job.command}: starting" if self.ready else
                      f"{job.command}: starting the worker (loading TensorFlow)")
        job.write_progress()
        self.queue.put(job)
        if submit:
            channel.send({"event": "job", "id": job.id, "dir": str(job_dir), "ahead": ahead, "pid": os.getpid()})
            return
        channel.send({"event": "queued", "id": job.id, "ahead": ahead, "pid": os.getpid()})
        self._stream(channel, job)

    def _training(self) -> str | None:
        """The model folder of a training queued or running here, if any."""
        from .client import SUBMITTED_COMMANDS

        with self._jobs_lock:
            for job in self.jobs.values():
                if job.state in ("queued", "running") and job.command in SUBMITTED_COMMANDS:
                    model = next((b for a, b in zip(job.argv, job.argv[1:]) if a == "--model"), "")
                    return os.path.join(job.cwd, model) if model else job.command
        return None

    def _stream(self, channel: Channel, job: Job) -> None:
        """Send the job's output to its client; a closed client cancels the job.

        The loop waits on the job's events (each is sent as soon as it is written, the
        last one ends the command at once) and looks at the client between them.
        """
        client_gone = False
        buffer = b""
        while True:
            try:
                events = [job.events.get(timeout=0.05)]
            except queue.Empty:
                events = []
            if not client_gone:
                readable, _, _ = select.select([channel.sock], [], [], 0)
                if readable:
                    chunk = channel.sock.recv(4096)
                    if not chunk:
                        client_gone = True
                        job.request_cancel("the command's terminal went away")
                    buffer += chunk
                    while b"\n" in buffer:
                        line, buffer = buffer.split(b"\n", 1)
                        if json.loads(line).get("op") == "cancel":
                            job.request_cancel("interrupted")
            while events and events[-1]["event"] != "exit":
                try:
                    events.append(job.events.get_nowait())
                except queue.Empty:
                    break
            for event in events:
                if not client_gone:
                    try:
                        channel.send(event)
                    except OSError:
                        client_gone = True
                        job.request_cancel("the command's terminal went away")
                if event["event"] == "exit":
                    return

    def cancel(self, ids, reason: str) -> list:
        with self._jobs_lock:
            jobs = [j for j in self.jobs.values() if j.state in ("queued", "running")
                    and (ids is None or j.id in ids or (j.job_dir and j.job_dir.name in ids))]
        for job in jobs:
            job.request_cancel(reason)
        return [j.id for j in jobs]

    def retire(self, why: str) -> None:
        """Leave the name to a new worker: finish what is queued, then exit."""
        if not self.retired:
            log.info("retiring: %s", why)
            self.retired = True
            self.release_name()

    def status(self) -> dict:
        with self._jobs_lock:
            active = [j.describe() for j in self.jobs.values() if j.state in ("queued", "running")]
        return {
            "pid": os.getpid(), "version": __version__, "identity": self.identity, "ready": self.ready,
            "started": self.started, "uptime": time.time() - self.started,
            "idle_minutes": self.idle_seconds / 60,
            "idle_for": time.monotonic() - self.last_activity, "jobs": active, "jobs_done": self.jobs_done,
            "models": self.model_cache.describe() if self.model_cache else [],
            "model_budget_mb": round(self.model_cache.budget / 2**20) if self.model_cache else None,
            "log": str(self.paths.log), "socket": str(self.paths.socket), "retired": self.retired,
        }

    # ------------------------------------------------------------------ monitor
    def _input_folders(self) -> set:
        """Folders of the paths named by queued or running jobs (their inputs among them)."""
        with self._jobs_lock:
            jobs = [j for j in self.jobs.values() if j.state in ("queued", "running")]
        return {os.path.dirname(os.path.join(job.cwd, arg)) for job in jobs for arg in job.argv}

    def _monitor_loop(self) -> None:
        last_progress = 0.0
        last_sweep = time.monotonic()
        while True:
            time.sleep(0.1)
            if time.monotonic() - last_sweep > SWEEP_EVERY_SECONDS:
                last_sweep = time.monotonic()
                sweep_temporary_images(self._input_folders())
            with self._jobs_lock:
                jobs = list(self.jobs.values())
            now = time.time()
            write = now - last_progress >= 0.25
            for job in jobs:
                try:
                    job.check_files()
                    job.enforce_cancel()
                    if write and job.job_dir is not None and (job.finished is None or now - job.finished < 5):
                        job.write_progress()
                except OSError as exc:
                    log.warning("job %s: %s", job.id, exc)
                if job.finished is not None and now - job.finished > KEEP_JOB_DIRS_SECONDS:
                    with self._jobs_lock:
                        self.jobs.pop(job.id, None)
                    if job.job_dir is not None:
                        shutil.rmtree(job.job_dir, ignore_errors=True)
            if write:
                last_progress = now


def _exit_code(value) -> int:
    if value is None:
        return 0
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    return 1


def _apply_env(env: dict) -> dict:
    from .protocol import ENV_NAMES, ENV_PREFIXES, WORKER_ENV

    saved = {}
    names = {k for k in os.environ if (k.startswith(ENV_PREFIXES) or k in ENV_NAMES) and k not in WORKER_ENV}
    for name in names | set(env):
        saved[name] = os.environ.get(name)
        if name in env:
            os.environ[name] = env[name]
        else:
            del os.environ[name]
    return saved


def _restore_env(saved: dict) -> None:
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def _same_user(conn: socket.socket) -> bool:
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None or not hasattr(os, "getuid"):
        return True  # the socket's 0600 mode and folder's 0700 mode are the guard here
    creds = conn.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    _, uid, _ = struct.unpack("3i", creds)
    return uid == os.getuid()


def clean_old_jobs(paths: WorkerPaths) -> None:
    """Remove job folders nobody updates any more (a retiring worker may still finish its own)."""
    if not paths.jobs.exists():
        return
    for entry in paths.jobs.iterdir():
        progress = entry / "progress.txt"
        try:
            stale = time.time() - (progress if progress.exists() else entry).stat().st_mtime > 60
        except FileNotFoundError:
            continue
        if stale:
            shutil.rmtree(entry, ignore_errors=True)


# The Fiji macros hand the image on screen over as TEMP/pyfiji-dl-<ms>-<random>/NAME.tif and
# remove it when the command ends; a macro stopped with Esc cannot, so the worker sweeps
# those left behind: older than this, and not an input of a job it runs.
TEMPORARY_IMAGE_FOLDER = re.compile(r"pyfiji-dl-\d+-\d+")
TEMPORARY_IMAGE_MAX_AGE_SECONDS = 6 * 3600
SWEEP_EVERY_SECONDS = 600


def sweep_temporary_images(in_use=(), folder: Path | None = None, max_age: float = TEMPORARY_IMAGE_MAX_AGE_SECONDS) -> list:
    """Remove the macros' temporary image folders that were left behind; returns those removed.

    Only folders named as the macros name them, owned by this user, holding nothing but
    TIFFs, untouched for ``max_age`` seconds and not in ``in_use`` (folders of the inputs of
    queued or running jobs).
    """
    folder = Path(folder or tempfile.gettempdir())
    in_use = {os.path.realpath(p) for p in in_use}
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        if not TEMPORARY_IMAGE_FOLDER.fullmatch(entry.name):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if (not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or now - info.st_mtime < max_age
                    or os.path.realpath(entry.path) in in_use):
                continue
            files = list(os.scandir(entry.path))
            if any(not f.is_file(follow_symlinks=False) or not f.name.lower().endswith((".tif", ".tiff"))
                   or now - f.stat(follow_symlinks=False).st_mtime < max_age for f in files):
                continue
            for f in files:
                os.unlink(f.path)
            os.rmdir(entry.path)
            removed.append(entry.path)
        except OSError:
            continue
    if removed:
        log.info("removed %d temporary image folder(s) that stopped macros left behind", len(removed))
    return removed


def remove_temporary_inputs(job: Job) -> None:
    """Remove the temporary image a stopped macro handed to ``job`` (and its folder)."""
    for arg in job.argv:
        path = Path(job.cwd, arg)
        if TEMPORARY_IMAGE_FOLDER.fullmatch(path.parent.name) and path.suffix.lower() in (".tif", ".tiff"):
            try:
                path.unlink()
                path.parent.rmdir()
            except OSError:
                pass


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pyfiji_dl.worker.server")
    parser.add_argument("--idle-minutes", type=float, default=None)
    parser.add_argument("--no-warm-up", action="store_true")
    args = parser.parse_args(argv)
    from ..models.device import wait_passively_in_openmp

    wait_passively_in_openmp()  # before the warm-up imports StarDist and its OpenMP library
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s pid %(process)d %(levelname)s %(message)s")
    paths = WorkerPaths.default()
    worker = Worker(paths, args.idle_minutes if args.idle_minutes is not None else default_idle_minutes(),
                    warm=not args.no_warm_up)
    if not worker.claim():
        log.info("another worker holds %s: not starting", paths.lock)
        return 0
    clean_old_jobs(paths)
    sweep_temporary_images()
    worker.listen()
    signal.signal(signal.SIGTERM, lambda *_: (worker.stopping.set(), worker.cancel(None, "the worker was stopped")))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C belongs to the client's terminal
    try:
        worker.serve()
    finally:
        worker.release_name()
    return 0


if __name__ == "__main__":
    sys.exit(main())
