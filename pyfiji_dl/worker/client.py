"""The ``pyfiji-dl`` side of the worker: send a command, print what comes back.

Standard library only: the point of the client is that it imports neither TensorFlow
nor NumPy. :func:`run_argv` is the fast path :func:`pyfiji_dl.cli.main` tries first: it
reads the raw argument list (client options, then a command the worker runs) and sends
it before the command line parser is built or the model families are imported; the
worker parses it with the very same parser, so usage errors read the same. Anything it
does not recognise (``--help``, a distributed ``predict``, another command) goes the
long way: :func:`run_command`, called after parsing. Both return None when the command
should run in this process (worker turned off, not running for a command that does not
start one, or unusable).
"""

from __future__ import annotations

import errno
import os
import socket
import sys
import time

from .paths import DIR_ENV, WorkerDirError, WorkerPaths
from .protocol import Channel, ConnectionLost, identity, job_env

SWITCH_ENV = "PYFIJI_DL_WORKER"
# Commands the worker runs, and those worth starting it for (they import TensorFlow).
WORKER_COMMANDS = ("predict", "rois-to-labels", "labels-to-rois", "bootstrap-rois")
STARTING_COMMANDS = ("predict",)
# Commands the worker runs only when an ImageJ macro submits them (--submit), so that the
# macro shows their progress and can stop them; in a terminal they run in their own
# process. The worker's job takes the place of 'train --background'.
SUBMITTED_COMMANDS = ("train",)
BACKGROUND_FLAG = "--background"
CLIENT_FLAGS = ("--for-imagej", "--submit", "--no-worker")
START_TIMEOUT = 60.0
REPLY_TIMEOUT = 10.0


def disabled_reason(args=None) -> str | None:
    """Why the worker is not used (None when it is)."""
    if getattr(args, "no_worker", False):
        return "--no-worker"
    if os.environ.get(SWITCH_ENV, "").strip().lower() in ("off", "0", "no", "false"):
        return f"{SWITCH_ENV}={os.environ[SWITCH_ENV]}"
    if not hasattr(socket, "AF_UNIX") or os.name == "nt":
        return "this system has no Unix sockets"
    return None


def eligible(args) -> bool:
    if args.command in SUBMITTED_COMMANDS:
        return bool(getattr(args, "submit", False))
    if args.command not in WORKER_COMMANDS:
        return False
    if args.command == "predict" and (getattr(args, "workers", None) is not None
                                      or getattr(args, "scheduler", None) is not None):
        return False  # a distributed run starts its own processes
    return True


def command_argv(argv: list, command: str) -> list:
    """``argv`` without the client's own options (they come before the command name)."""
    if command not in argv:
        return list(argv)
    cut = argv.index(command)
    rest = list(argv[cut:])
    if command in SUBMITTED_COMMANDS:
        rest = [a for a in rest if a != BACKGROUND_FLAG]  # the worker's job is the background
    return [a for a in argv[:cut] if a not in CLIENT_FLAGS] + rest


# ---------------------------------------------------------------------- connecting

def connect(paths: WorkerPaths | None = None, timeout: float = REPLY_TIMEOUT) -> Channel | None:
    """A channel to the running worker, or None when none listens (a stale socket counts as none)."""
    paths = paths or WorkerPaths.default()
    try:
        return Channel.connect(paths.socket, timeout=timeout)
    except (FileNotFoundError, ConnectionRefusedError):
        return None
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ECONNREFUSED, errno.ENOTSOCK):
            return None
        raise


def start(paths: WorkerPaths | None = None, idle_minutes: float | None = None,
          timeout: float = START_TIMEOUT) -> Channel:
    """Start a worker process (detached, logging to its log file) and connect to it."""
    paths = (paths or WorkerPaths.default()).prepare()
    command = [sys.executable, "-m", "pyfiji_dl.worker.server"]
    if idle_minutes is not None:
        command += ["--idle-minutes", str(idle_minutes)]
    env = dict(os.environ)
    env.pop(SWITCH_ENV, None)
    env[DIR_ENV] = str(paths.root.parent.absolute())  # the worker runs in '/': no relative folder
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    _rotate(paths.log)
    import subprocess  # here only: the client's every call should not pay for its import

    with open(paths.log, "ab") as log:
        os.chmod(paths.log, 0o600)
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True, env=env, cwd="/", close_fds=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        channel = connect(paths)
        if channel is not None:
            return channel
        if process.poll() is not None:
            # it lost the race to another worker of this installation, or failed: try once more
            channel = connect(paths)
            if channel is not None:
                return channel
            if process.returncode != 0:
                break
        time.sleep(0.05)
    raise WorkerUnavailable(f"the pyfiji-dl worker did not start (its log: {paths.log})")


class WorkerUnavailable(RuntimeError):
    """No worker could be reached or started."""


def _rotate(log_path) -> None:
    try:
        if log_path.stat().st_size > 5 * 2**20:
            os.replace(log_path, log_path.with_name(log_path.name + ".1"))
    except FileNotFoundError:
        pass


def request(op: str, paths: WorkerPaths | None = None, timeout: float = REPLY_TIMEOUT, **fields) -> dict | None:
    """One request and its one answer (status, cancel, stop); None when no worker runs."""
    channel = connect(paths, timeout=timeout)
    if channel is None:
        return None
    try:
        channel.send({"op": op, **fields})
        return channel.receive()
    finally:
        channel.close()


# ---------------------------------------------------------------------- running a command

IN_PROCESS = "in-process"  # run_argv's answer: no worker for this command, do not ask again


def run_argv(argv: list):
    """The fast path: send ``argv`` to a running worker without building the command line parser.

    Returns
    -------
    int, None or IN_PROCESS
        The command's exit code when the worker ran it (or took it, with ``--submit``);
        :data:`IN_PROCESS` when it must run in this process (no worker used); None when
        no worker listens yet (the command line is parsed, so that a mistyped command does
        not start one) or this is not a plain worker command (help, a distributed run...):
        the caller parses the command line and decides as before.
    """
    flags = set()
    index = 0
    while index < len(argv) and argv[index] in CLIENT_FLAGS:
        flags.add(argv[index])
        index += 1
    if index >= len(argv):
        return None
    command, rest = argv[index], argv[index + 1:]
    if command not in WORKER_COMMANDS and not (command in SUBMITTED_COMMANDS and "--submit" in flags):
        return None
    for arg in rest:
        if arg == "--":
            break
        # the parser answers these here (help), or they make predict start processes of its own
        if arg == "-h" or (arg.startswith("--") and len(arg) > 3 and
                           any(option.startswith(arg.split("=", 1)[0]) for option in _LOCAL_OPTIONS)):
            return None
    if "--no-worker" in flags or disabled_reason() is not None:
        return IN_PROCESS
    try:
        listening = connect()
    except OSError:
        return None
    if listening is None:
        return None  # no worker yet: the command line is checked before one is started for it
    listening.close()
    submit, for_imagej = "--submit" in flags, "--for-imagej" in flags
    if for_imagej:
        # as pyfiji_dl.cli does for --for-imagej: ImageJ's exec() reads standard output only
        sys.stdout.flush()
        os.dup2(sys.stdout.fileno(), sys.stderr.fileno())
    code = _send(command, command_argv([command] + rest, command), submit=submit, for_imagej=for_imagej)
    if code is None:
        return IN_PROCESS
    if for_imagej:
        print(f"PYFIJI-DL STATUS {'ok' if code == 0 else 'error'}", flush=True)
    return code


# Options that keep a command out of the fast path (matched by prefix, as argparse does).
_LOCAL_OPTIONS = ("--help", "--workers", "--scheduler")


def run_command(args, argv: list) -> int | None:
    """Run the parsed command through the worker; None: run it in this process instead."""
    if disabled_reason(args) or not eligible(args):
        return None
    return _send(args.command, command_argv(argv, args.command), submit=bool(getattr(args, "submit", False)),
                 for_imagej=bool(getattr(args, "for_imagej", False)))


def _send(command: str, argv: list, *, submit: bool, for_imagej: bool) -> int | None:
    paths = WorkerPaths.default()
    try:
        paths.prepare()
    except (WorkerDirError, OSError) as exc:
        _note(f"the worker is not used: {exc}")
        return None
    may_start = command in STARTING_COMMANDS or command in SUBMITTED_COMMANDS
    message = {
        "op": "submit" if submit else "run",
        "argv": argv, "cwd": os.getcwd(), "env": job_env(),
        "for_imagej": for_imagej,
        "tty": [sys.stdout.isatty(), sys.stderr.isatty()],
        "lease": submit,
    }
    for attempt in range(3):
        try:
            channel = connect(paths)
            if channel is None:
                if not may_start:
                    return None
                channel = start(paths)
        except (WorkerUnavailable, OSError) as exc:
            _note(f"{exc}; running the command in this process")
            return None
        try:
            channel.send({**message, "identity": identity()})
            reply = channel.receive()
        except (ConnectionLost, OSError, ValueError) as exc:
            channel.close()
            _note(f"the worker did not answer ({exc}); running the command in this process")
            return None
        if reply.get("event") == "busy":
            channel.close()
            _note(f"{reply.get('message')}; running the command in this process")
            return None
        if reply.get("event") == "refused":
            channel.close()
            _note(f"{reply.get('message')}: starting a new worker")
            may_start = True
            time.sleep(0.05 * (attempt + 1))
            continue
        if reply.get("event") == "job":
            channel.close()
            print(f"PYFIJI-DL JOB {reply['dir']}", flush=True)
            return 0
        return _stream(channel, command, paths, reply)
    _note("no compatible worker could be started; running the command in this process")
    return None


def _stream(channel: Channel, command: str, paths: WorkerPaths, reply: dict) -> int:
    channel.sock.settimeout(None)
    interrupted = False
    while True:
        try:
            event = channel.receive()
        except KeyboardInterrupt:
            if interrupted:
                return 130  # a second Ctrl-C: leave now; the worker stops the job when it sees us gone
            interrupted = True
            try:
                channel.send({"op": "cancel"})
            except OSError:
                pass
            continue
        except (ConnectionLost, OSError, ValueError):
            return _worker_lost(command, paths, reply.get("pid"))
        if event.get("event") == "out":
            stream = sys.stdout if event.get("stream") == 1 else sys.stderr
            stream.write(event["text"])
            stream.flush()
        elif event.get("event") == "exit":
            channel.close()
            return int(event.get("code", 1))


def _worker_lost(command: str, paths: WorkerPaths, pid) -> int:
    message = (f"pyfiji-dl {command}: error: the pyfiji-dl worker (process {pid}) stopped while running "
               f"this command; finished outputs are kept. Run the command again: a new worker starts. "
               f"The worker's log: {paths.log}")
    print(message, file=sys.stderr, flush=True)
    return 1


def _note(text: str) -> None:
    print(f"pyfiji-dl: note: {text}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------- worker start|stop|status|cancel

def describe_status(status: dict | None, paths: WorkerPaths) -> list[str]:
    if status is None:
        lines = ["worker: not running"]
        if paths.socket.exists():
            lines.append(f"  stale socket {paths.socket} (no worker listens; the next start removes it)")
        return lines
    minutes = status["uptime"] / 60
    lines = [f"worker: running, process {status['pid']}, pyfiji_dl {status['version']}, up {minutes:.1f} min"
             + ("" if status.get("ready") else " (loading TensorFlow)"),
             f"  idle exit after {status['idle_minutes']:g} min without a command (idle for "
             f"{status['idle_for'] / 60:.1f} min); {status['jobs_done']} command(s) run"]
    for job in status["jobs"]:
        lines.append(f"  job {job['id']} {job['state']}: {' '.join(job['argv'])} [{job['status']}]")
    models = status.get("models") or []
    lines.append(f"  models loaded: {len(models)} (about {sum(m['mb'] for m in models):.0f} MB of "
                 f"{status.get('model_budget_mb')} MB)")
    for model in models:
        lines.append(f"    {model['model']} (~{model['mb']:.0f} MB)")
    lines.append(f"  log: {status['log']}")
    lines.append(f"  socket: {status['socket']}")
    return lines


def worker_command(action: str, *, idle_minutes: float | None = None, ids=None, say=print) -> int:
    """``pyfiji-dl worker start|stop|status|cancel``."""
    paths = WorkerPaths.default()
    reason = disabled_reason()
    if action == "status":
        status = request("status", paths)
        for line in describe_status(status, paths):
            say(line)
        if reason:
            say(f"  the worker is turned off here ({reason})")
        return 0
    if action == "start":
        if reason and reason.startswith("this system"):
            say(f"pyfiji-dl worker: not available: {reason}")
            return 1
        status = request("status", paths)
        if status is not None:
            say(f"worker already running (process {status['pid']}); log: {status['log']}")
            return 0
        channel = start(paths, idle_minutes=idle_minutes)
        channel.close()
        status = request("status", paths)
        say(f"worker started (process {status['pid']}); it loads TensorFlow now and exits after "
            f"{status['idle_minutes']:g} idle min. Log: {status['log']}")
        return 0
    if action == "stop":
        reply = request("stop", paths)
        if reply is None:
            say("worker: not running")
            return 0
        pid = reply.get("pid")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)
        say(f"worker stopped (process {pid})" if not _alive(pid) else f"worker (process {pid}) is still stopping")
        return 0
    if action == "cancel":
        reply = request("cancel", paths, ids=list(ids or []))
        if reply is None:
            say("worker: not running; nothing to cancel")
            return 0
        cancelled = reply.get("ids") or []
        say(f"cancelled {len(cancelled)} job(s)" + (f": {', '.join(cancelled)}" if cancelled else ""))
        return 0
    raise ValueError(f"unknown worker action {action!r}")


def _alive(pid) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (our own child, not yet reaped) is gone for our purposes
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def status_summary() -> tuple[bool, str]:
    """For ``pyfiji-dl doctor``: (running, one line)."""
    paths = WorkerPaths.default()
    reason = disabled_reason()
    try:
        status = request("status", paths, timeout=3.0)
    except OSError as exc:
        return False, f"cannot reach the worker: {exc} (log: {paths.log})"
    if status is not None:
        jobs = len(status["jobs"])
        return True, (f"running (process {status['pid']}, pyfiji_dl {status['version']}, "
                      f"{len(status['models'])} model(s) loaded, {jobs} job(s) active, "
                      f"idle exit after {status['idle_minutes']:g} min); log: {status['log']}")
    text = "not running; 'pyfiji-dl predict' starts it"
    if reason:
        text = f"turned off ({reason})"
    if paths.socket.exists():
        text += f"; stale socket {paths.socket} (removed by the next start)"
    return False, f"{text}; log: {paths.log}"
