"""Batch prediction on several processes or on an existing Dask cluster.

:func:`predict_paths_distributed` sends one task per input file to Dask workers.
Each task runs the single-process :func:`~pyfiji_dl.prediction.run.predict_paths`
on its one file with a model the worker loaded once and keeps, so the outputs
(``masks/``, ``rois/``, ``objects/``, ``restored/``) are those of a single-process
run; ``summary.csv`` is written by the calling process at the end.

Two ways to get workers:

* ``workers=N``: a local cluster of N processes is started for the call and closed
  after it. Each worker runs one file at a time with its TensorFlow limited to
  ``cpu_count // N`` threads, so the processes share the cores instead of fighting
  over them. The cluster listens on loopback only, with mutual TLS under a
  throw-away certificate, so other users of the machine cannot reach it; if its
  workers sit idle while files wait, they are restarted once (:class:`IdleWorkers`).
* ``scheduler="tcp://host:8786"`` (or a scheduler file ``*.json``): connect to a
  running cluster, e.g. one started on an HPC system with dask-jobqueue or by hand
  with ``dask scheduler`` and ``dask worker``. The cluster is left running and its
  workers' thread settings are left alone. Workers must see the model, the inputs
  and the output folder under the same paths (a shared file system).

Neither TensorFlow nor Dask is imported when this module is imported: the Dask
pieces are imported by the functions that need them (``pip install
'pyfiji_dl[cluster]'`` installs them), TensorFlow only in the worker processes.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

from ..errors import OptionError, PyfijiDLError
from ..models.card import CARD_FILE, read_card
from .run import PredictionResult, is_finished, outputs_of, predict_paths, prepare_run, summarize_run

log = logging.getLogger(__name__)

# How long to try reaching a scheduler before telling the user it is not there.
CONNECT_TIMEOUT_SECONDS = 10

INSTALL_HINT = "pip install 'pyfiji_dl[cluster]'  (or: pip install 'dask[distributed]' cryptography)"

# A local cluster whose worker processes sit idle for this long while files wait, and none
# finishes, is stuck: its workers are restarted and the waiting files sent again, once; a
# second stall fails those files (named) instead of waiting for ever. Busy workers (a large
# image, a slow first model load) use the CPU and are never taken for stuck.
STALL_SECONDS = 120
# "Idle": each worker process used less than this share of one core meanwhile. An idle
# Dask worker's heartbeats and monitors use 1.5-2 % of a core on our 2-core test machine
# (measured, TLS on) and several times that on slower ones, so the bar is counted per
# worker and kept well above it; a worker predicting or loading TensorFlow uses whole cores.
IDLE_CPU_SHARE = 0.25
# How often the waiting loop looks for finished files and asks whether the cluster is stuck.
POLL_SECONDS = 0.25


class ClusterError(PyfijiDLError, RuntimeError):
    """Dask is missing, or the cluster cannot be reached or used; the message says what to do."""


# --- the client side ------------------------------------------------------------------

def predict_paths_distributed(
    model_dir: str | os.PathLike,
    inputs: list,
    out_dir: str | os.PathLike,
    *,
    workers: int | None = None,
    scheduler: str | os.PathLike | None = None,
    channel: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    threads_per_worker: int | None = None,
    overrides: dict | None = None,
    roi_order: str = "confidence",
) -> PredictionResult:
    """Predict every input on Dask workers, one task per file; outputs as ``predict_paths``.

    Parameters
    ----------
    model_dir : path-like
        A model folder written by ``pyfiji-dl train``, or a BioImage Model Zoo
        package exported from one (unpacked here, once; workers of a remote
        cluster need to see the unpack folder, ``PYFIJI_DL_CACHE_DIR``).
    inputs : list of path-like
        TIFF files and folders of TIFFs.
    out_dir : path-like
    workers : int, optional
        Start a local cluster of this many worker processes (one file at a time
        each) for this call, and close it afterwards.
    scheduler : str or path-like, optional
        Address of a running Dask scheduler (``tcp://host:8786``), or the path of
        its scheduler file (ending in ``.json``). The cluster is not closed. Give
        ``workers`` or ``scheduler``, not both.
    channel : int, optional
        1-based channel of multichannel inputs for a single-channel model.
    overwrite : bool
        Predict again even where outputs exist (default: skip finished inputs,
        before anything is sent to the workers).
    progress : bool
        Progress bar on standard error, advancing as files finish.
    threads_per_worker : int, optional
        TensorFlow intra- and inter-op threads in each worker process. Default
        with ``workers=N``: ``max(1, cpu_count // N)``; with ``scheduler``: the
        cluster's own setting (untouched).
    overrides : dict, optional
        U-Net post-processing instead of the card's, as for ``predict_paths``.
    roi_order : {"confidence", "label"}
        Order of each ROI set, as for ``predict_paths``.

    Returns
    -------
    PredictionResult
        ``done``, ``skipped`` and ``failed`` in input order, as ``predict_paths``
        gives them; ``failed`` also holds files whose task raised or whose worker
        died, with the reason. One failure never stops the other files.

    Raises
    ------
    ModelFolderError
        ``model_dir`` is not a model folder.
    PredictionInputError
        An input does not exist, or two inputs would write the same outputs.
    ClusterError
        Dask is not installed, or the scheduler cannot be reached (within
        ``CONNECT_TIMEOUT_SECONDS``), or its workers cannot import pyfiji_dl.
    ValueError
        Neither or both of ``workers`` and ``scheduler``, or ``workers < 1``.
    """
    if (workers is None) == (scheduler is None):
        raise OptionError("give either workers=N (processes on this machine) or scheduler=ADDRESS "
                          "(a running Dask cluster); for a single process use predict_paths")
    if workers is not None and (isinstance(workers, bool) or int(workers) < 1):
        raise OptionError(f"workers must be a positive number of processes, not {workers!r}")
    if threads_per_worker is not None and int(threads_per_worker) < 1:
        raise OptionError(f"threads_per_worker must be positive, not {threads_per_worker!r}")

    # Everything that can be checked here is checked before a cluster is started.
    model_dir, card, files = prepare_run(model_dir, inputs, out_dir)
    out_dir = Path(out_dir)
    outputs = outputs_of(card)
    result = PredictionResult()
    pending = []
    for path in files:
        if not overwrite and is_finished(out_dir, path, outputs):
            result.skipped.append(path)
        else:
            pending.append(path)

    if pending:
        distributed = _import_distributed()
        task_options = dict(channel=channel, overwrite=overwrite, overrides=overrides, roi_order=roi_order,
                            show_progress=progress and len(files) > 1)
        if workers is not None:
            tf_threads = threads_per_worker or max(1, _cpu_count() // int(workers))
            with _local_cluster(distributed, int(workers)) as cluster, \
                    distributed.Client(cluster, timeout=CONNECT_TIMEOUT_SECONDS) as client:
                _run_tasks(client, model_dir, pending, out_dir, result, tf_threads=tf_threads,
                           stall_watch=IdleWorkers(cluster), **task_options)
        else:
            with _connect(distributed, scheduler) as client:
                _check_workers(client, scheduler)
                _run_tasks(client, model_dir, pending, out_dir, result,
                           tf_threads=threads_per_worker, **task_options)

    order = {path: index for index, path in enumerate(files)}
    result.done.sort(key=order.__getitem__)
    result.skipped.sort(key=order.__getitem__)
    result.failed.sort(key=lambda item: order[item[0]])
    result.summary = summarize_run(out_dir, files, outputs, card=card)  # the tasks write none of their own
    return result


def _run_tasks(client, model_dir: Path, files: list, out_dir: Path, result: PredictionResult, *,
               channel, overwrite: bool, overrides: dict | None, tf_threads: int | None,
               show_progress: bool, roi_order: str = "confidence", stall_watch=None) -> None:
    """Submit one task per file and collect outcomes into ``result`` as they finish.

    With ``stall_watch`` (an :class:`IdleWorkers` of the local cluster we started), a
    cluster that stops predicting is restarted once with the waiting files, then given up.
    """
    from tqdm.auto import tqdm

    model_dir_abs = str(model_dir.resolve())
    out_dir_abs = str(out_dir.resolve())
    futures = {}

    def submit(paths):
        for path in paths:
            # The key names the file on the dashboard; the random part keeps two runs
            # on the same shared cluster from being merged into one task.
            key = f"pyfiji-predict-{path.name}-{uuid.uuid4().hex[:8]}"
            future = client.submit(_predict_file_on_worker, model_dir_abs, str(path.resolve()), out_dir_abs,
                                   channel, overwrite, overrides, tf_threads, roi_order, key=key, pure=False)
            futures[future] = path

    submit(files)
    bar = tqdm(total=len(files), desc="predict", unit="image", disable=not show_progress, file=sys.stderr)
    restarted = False
    try:
        if stall_watch is not None:
            stall_watch.reset()
        while futures:
            finished = [future for future in futures if future.done()]
            for future in finished:
                _collect(result, futures.pop(future), future)
                bar.update(1)
            if finished and stall_watch is not None:
                stall_watch.reset()
            if not futures:
                break
            if stall_watch is None or not stall_watch.stuck():
                time.sleep(POLL_SECONDS)
                continue
            waiting = list(futures.values())
            client.cancel(list(futures))
            futures.clear()
            if restarted or not _restart(client):
                for path in waiting:
                    result.failed.append((path, _stall_message(path, stall_watch, restarted)))
                    bar.update(1)
                break
            restarted = True
            log.warning("the cluster's %d worker processes sat idle for %.0f s with %d file(s) waiting; "
                        "restarted them and sent the files again", stall_watch.n_workers,
                        stall_watch.idle_seconds(), len(waiting))
            submit(waiting)
            stall_watch.reset()
    finally:
        bar.close()
        # on an interrupt, a shared cluster should not go on predicting our files
        unfinished = [f for f in futures if not f.done()]
        if unfinished:
            client.cancel(unfinished)


def _collect(result: PredictionResult, path: Path, future) -> None:
    """Add the outcome of one finished task to ``result``."""
    try:
        outcome = future.result()
    except Exception as exc:  # the task raised, its worker died, or the link was lost
        result.failed.append((path, _task_failure_message(path, exc)))
    else:
        _merge_outcome(result, path, outcome)


def _restart(client) -> bool:
    """Restart the cluster's worker processes; False when even that does not work."""
    try:
        client.restart(timeout=max(STALL_SECONDS, 60), wait_for_workers=True)
    except Exception as exc:  # noqa: BLE001 - a cluster that cannot restart is reported with the files
        log.warning("restarting the stuck cluster failed: %s", exc)
        return False
    return True


def _stall_message(path: Path, watch, restarted: bool) -> str:
    again = " after a restart of the workers" if restarted else " and could not be restarted"
    return (f"{path}: not predicted: the {watch.n_workers} local worker processes sat idle for "
            f"{watch.idle_seconds():.0f} s with it waiting{again}; run the command again (finished files "
            "are kept and skipped), or predict without --workers")


class IdleWorkers:
    """Tells a stuck local cluster from a busy one by its worker processes' CPU time.

    ``stuck()`` is true once no file has finished for :data:`STALL_SECONDS` (since
    ``reset()``) and every worker process used less than :data:`IDLE_CPU_SHARE` of
    one core meanwhile. A worker that is predicting, or loading TensorFlow, uses whole
    cores; one that never started its task does not. Per worker, because an idle
    worker's own upkeep adds up over many workers.

    Parameters
    ----------
    cluster : distributed.LocalCluster
        A cluster of worker processes on this machine (its nannies know their pids).
    stall_seconds : float, optional
        Default :data:`STALL_SECONDS`.
    clock : callable
        Monotonic seconds (tests pass their own).
    """

    def __init__(self, cluster, stall_seconds: float | None = None, clock=time.monotonic):
        self._cluster = cluster
        self.stall_seconds = STALL_SECONDS if stall_seconds is None else stall_seconds
        self._clock = clock
        self._since = clock()
        self._cpu_since = {}

    @property
    def n_workers(self) -> int:
        return len(self._cluster.workers)

    def reset(self) -> None:
        """Progress was made (or the waiting starts): measure idleness from now."""
        self._since = self._clock()
        self._cpu_since = self.cpu_seconds()

    def idle_seconds(self) -> float:
        return self._clock() - self._since

    def cpu_seconds(self) -> dict:
        """CPU seconds used so far by each of the cluster's worker processes, by pid."""
        import psutil  # a dependency of distributed

        used = {}
        for worker in list(self._cluster.workers.values()):
            pid = getattr(worker, "pid", None)
            if not pid:
                continue
            try:
                times = psutil.Process(pid).cpu_times()
            except psutil.Error:  # the process ended; the nanny restarts it
                continue
            used[pid] = times.user + times.system
        return used

    def stuck(self) -> bool:
        elapsed = self.idle_seconds()
        if elapsed < self.stall_seconds:
            return False
        now = self.cpu_seconds()
        if now.keys() != self._cpu_since.keys() or any(
                now[pid] - self._cpu_since[pid] >= IDLE_CPU_SHARE * elapsed for pid in now):
            # busy, or a worker was replaced (a new process, a new count): look again over the next span
            self.reset()
            return False
        return True


def _merge_outcome(result: PredictionResult, path: Path, outcome: PredictionResult) -> None:
    """Add one task's result, naming the file as the caller gave it (workers got absolute paths)."""
    absolute = str(path.resolve())
    if outcome.done:
        result.done.append(path)
    if outcome.skipped:
        result.skipped.append(path)
    for _, message in outcome.failed:
        result.failed.append((path, message.replace(absolute, str(path))))


def _task_failure_message(path: Path, exc: BaseException) -> str:
    from concurrent.futures import CancelledError

    name = type(exc).__name__
    if name == "KilledWorker":  # the scheduler's, imported lazily like the rest of Dask
        return (f"{path}: the worker predicting it died, each time it was tried (often: out of memory); "
                f"try fewer workers or predict this file alone ({exc})")
    if isinstance(exc, CancelledError):
        return f"{path}: cancelled (the connection to the cluster was lost or the run was interrupted)"
    return f"{path}: {name}: {exc}"


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may use (taskset, cgroups)
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _import_distributed():
    try:
        import distributed
    except ImportError as exc:
        raise ClusterError(f"prediction on several processes or a cluster needs Dask: {INSTALL_HINT}") from exc
    return distributed


def _local_cluster(distributed, n_workers: int):
    """N worker processes on this machine that only this process can talk to.

    Dask's processes talk over TCP, and loopback ports are open to every user of the
    machine (an HPC login node has many): anyone who reached the scheduler could run
    code as us. ``security=True`` gives the cluster a throw-away certificate and
    mutual TLS, so clients and workers without it are refused. The scheduler's HTTP
    server (task counts, worker names, a proxy) keeps only its health check.
    """
    import dask

    try:
        import cryptography  # noqa: F401 - what Dask's temporary certificates need
    except ImportError as exc:
        raise ClusterError("a local cluster needs the cryptography package for its private TLS: "
                           f"{INSTALL_HINT}") from exc
    # TensorFlow's C++ start-up chatter from every worker is not for our users
    env = {"TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    # Dask's profiler samples every running task's stack 100 times a second, for a
    # dashboard we do not serve.
    settings = {"distributed.scheduler.http.routes": ["distributed.http.health"],
                "distributed.worker.profile.enabled": False}
    with dask.config.set(settings):
        return distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                        host="127.0.0.1", dashboard_address=None, security=True, env=env)


def _connect(distributed, scheduler):
    """A client of the running scheduler at ``scheduler`` (address or scheduler file)."""
    how_to_start = ("Start one with 'dask scheduler' (it prints its address, tcp://HOST:8786) and "
                    "workers with 'dask worker tcp://HOST:8786', or with dask-jobqueue on an HPC cluster")
    text = str(scheduler)
    if text.lower().endswith(".json"):
        if not Path(text).is_file():
            # Client(scheduler_file=...) would wait for the file forever
            raise ClusterError(f"scheduler file {text} does not exist. {how_to_start} "
                               f"('dask scheduler --scheduler-file {text}').")
        kwargs = {"scheduler_file": text}
    else:
        kwargs = {"address": text}
    try:
        return distributed.Client(timeout=CONNECT_TIMEOUT_SECONDS, **kwargs)
    except (OSError, ValueError, TypeError) as exc:
        raise ClusterError(f"cannot reach a Dask scheduler at {text} ({exc}). {how_to_start}, "
                           "and pass the address it prints.") from exc


def _check_workers(client, scheduler) -> None:
    """Fail early, with a clear message, when the workers cannot run our tasks."""
    try:
        client.run(_worker_probe)
    except ImportError as exc:
        raise ClusterError(f"the workers of the cluster at {scheduler} cannot import pyfiji_dl ({exc}); "
                           "install pyfiji_dl in the workers' Python environment.") from exc
    if not client.scheduler_info().get("workers"):
        # dask-jobqueue workers may still be waiting in the batch queue: wait, but say so
        log.warning("no workers connected to %s yet; the files wait until one joins (start one with "
                    "'dask worker %s').", scheduler, scheduler)


def _worker_probe() -> str:
    from .. import __version__

    return __version__


# --- the worker side ------------------------------------------------------------------
# Module state lives in each worker process: the model is loaded once per process
# and reused for every file that process is given.

_MODEL_CACHE: dict = {}  # (resolved model dir, card mtime_ns) -> (model, its prediction lock)
_MODEL_LOADS: Counter = Counter()  # resolved model dir -> times loaded in this process
_FILES_HANDLED: Counter = Counter()  # resolved model dir -> files predicted in this process
_CACHE_LOCK = threading.RLock()
_tensorflow_threads_set: int | None = None


def worker_cache_info() -> dict:
    """What this process loaded and predicted: ``{"model_loads": {dir: n}, "files": {dir: n}}``.

    Meant for ``client.run(worker_cache_info)``, e.g. to check that each worker
    loaded a model once however many files it predicted.
    """
    with _CACHE_LOCK:
        return {"model_loads": dict(_MODEL_LOADS), "files": dict(_FILES_HANDLED)}


def _predict_file_on_worker(model_dir: str, path: str, out_dir: str, channel, overwrite: bool,
                            overrides: dict | None, tf_threads: int | None,
                            roi_order: str = "confidence") -> PredictionResult:
    """One file, with this worker's cached model; the outputs are ``predict_paths``' own."""
    model = _cached_model(Path(model_dir), tf_threads)
    with _CACHE_LOCK:
        _FILES_HANDLED[model_dir] += 1
    return predict_paths(model_dir, [path], out_dir, channel=channel, overwrite=overwrite,
                         progress=False, model=model, overrides=overrides, summary=False, roi_order=roi_order)


def _cached_model(model_dir: Path, tf_threads: int | None):
    """The model of ``model_dir``, loaded on this process's first call (again if its card changed)."""
    try:
        # a retrained model in the same folder gets a new card: load it again then
        key = (str(model_dir), (model_dir / CARD_FILE).stat().st_mtime_ns)
    except OSError as exc:
        raise ClusterError(f"the model folder {model_dir} is not readable on the worker on "
                           f"{socket.gethostname()} ({exc}); workers need the same paths (a shared file "
                           "system)") from exc
    with _CACHE_LOCK:  # threads of one worker must not load the same model twice
        if key not in _MODEL_CACHE:
            for stale in [k for k in _MODEL_CACHE if k[0] == key[0]]:
                del _MODEL_CACHE[stale]
            _configure_worker_tensorflow(tf_threads)
            from ..models import adapter_for

            model = adapter_for(read_card(model_dir).family).load_model(model_dir)
            _MODEL_LOADS[key[0]] += 1
            _MODEL_CACHE[key] = (model, threading.Lock())
        model, lock = _MODEL_CACHE[key]
    if _worker_threads() > 1:
        # several files at once in this process share one model: one prediction at a time
        return _SerializedModel(model, lock)
    return model


def _configure_worker_tensorflow(tf_threads: int | None) -> None:
    """Thread limits (when asked) and the device choice, before TensorFlow starts its runtime."""
    global _tensorflow_threads_set
    import tensorflow as tf

    from ..models.device import configure_tensorflow

    if tf_threads and _tensorflow_threads_set is None:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(int(tf_threads))
            tf.config.threading.set_inter_op_parallelism_threads(int(tf_threads))
            _tensorflow_threads_set = int(tf_threads)
        except RuntimeError:
            # TensorFlow already runs in this (long-lived) worker: its threads stay as they are
            _tensorflow_threads_set = -1
    configure_tensorflow(quiet=True)


def _worker_threads() -> int:
    try:
        from distributed import get_worker

        return int(get_worker().state.nthreads)
    except (ImportError, ValueError, AttributeError):
        return 1


class _SerializedModel:
    """A model whose ``predict*`` methods run one call at a time across threads.

    TensorFlow already spreads one prediction over the cores; running the network
    for several files at once in one process gains little and Keras models are not
    guaranteed thread-safe. Reading, measuring and writing still overlap.
    """

    def __init__(self, model, lock):
        self._model = model
        self._lock = lock

    def __getattr__(self, name):
        attribute = getattr(self._model, name)
        if not (name.startswith("predict") and callable(attribute)):
            return attribute

        def serialized(*args, **kwargs):
            with self._lock:
                return attribute(*args, **kwargs)

        return serialized
