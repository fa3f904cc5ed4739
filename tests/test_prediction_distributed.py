"""Batch prediction on Dask workers gives exactly the single-process outputs.

A tiny StarDist model is trained once; a handful of small inputs (crops, flips, a
two-frame movie and one corrupt TIFF) are predicted by ``predict_paths`` in this
process and by ``predict_paths_distributed`` on local worker processes, and the
label maps, ROI sets, object tables and summaries are compared.
"""

import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest
import tifffile
from distributed.diagnostics.plugin import WorkerPlugin

from pyfiji_dl.io.tiff import Calibration, write_imagej_tiff, write_label_image
from pyfiji_dl.prediction.distributed import ClusterError, predict_paths_distributed, worker_cache_info
from pyfiji_dl.prediction.run import predict_paths

pytestmark = pytest.mark.slow

GOOD_INPUTS = ["crop.tif", "flipped.tif", "movie.tif", "quarter.tif", "wide.tif"]
CORRUPT_INPUT = "x.tif"


@pytest.fixture(scope="module")
def nuclei():
    from stardist.data import test_image_nuclei_2d

    return test_image_nuclei_2d(return_mask=True)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, nuclei):
    """A tiny StarDist model trained for seconds on four fields of the DSB2018 image."""
    from pyfiji_dl.families.stardist import FAMILY, StarDistOptions

    image, labels = nuclei
    data = tmp_path_factory.mktemp("data")
    for i, (y, x) in enumerate([(0, 0), (0, 128), (128, 0), (128, 128)]):
        write_imagej_tiff(data / "images" / f"field{i}.tif", image[y:y + 128, x:x + 128], "YX")
        write_label_image(data / "masks" / f"field{i}.tif", labels[y:y + 128, x:x + 128], "YX")
    model = tmp_path_factory.mktemp("models") / "tiny"
    options = StarDistOptions(epochs=3, steps=4, patch=(64, 64), batch=2, rays=8, depth=1, filters=8)
    FAMILY.train(data, model, options, progress=False)
    return model


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, nuclei):
    image, _ = nuclei
    folder = tmp_path_factory.mktemp("inputs")
    calibration = Calibration(pixel_width=0.5, pixel_height=0.5, unit="micron")
    write_imagej_tiff(folder / "crop.tif", image[:128, :160], "YX", calibration=calibration)
    write_imagej_tiff(folder / "flipped.tif", np.ascontiguousarray(image[200:328, 100:228][::-1]), "YX")
    movie = np.stack([image[:96, :96], np.ascontiguousarray(image[300:396, 300:396][:, ::-1])])
    write_imagej_tiff(folder / "movie.tif", movie, "TYX", calibration=calibration)
    write_imagej_tiff(folder / "quarter.tif", image[256:, 256:], "YX")
    write_imagej_tiff(folder / "wide.tif", np.ascontiguousarray(image[380:476, :].T), "YX")
    (folder / CORRUPT_INPUT).write_bytes(b"\x00garbage, not a TIFF\xff" * 20)
    return folder


@pytest.fixture(scope="module")
def reference(trained, inputs, tmp_path_factory):
    """Outputs and result of the ordinary single-process run."""
    out = tmp_path_factory.mktemp("single")
    result = predict_paths(trained, [inputs], out, progress=False)
    return out, result


def _names(paths):
    return [p.name for p in paths]


def _zip_members(path):
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def assert_same_outputs(expected_dir, actual_dir):
    """Same label maps (and calibration), ROI sets, object tables and summary."""
    total_objects = 0
    for name in GOOD_INPUTS:
        stem = name[:-4]
        expected_mask, actual_mask = expected_dir / "masks" / name, actual_dir / "masks" / name
        expected_labels, actual_labels = tifffile.imread(expected_mask), tifffile.imread(actual_mask)
        assert np.array_equal(expected_labels, actual_labels), name
        with tifffile.TiffFile(expected_mask) as a, tifffile.TiffFile(actual_mask) as b:
            assert a.imagej_metadata == b.imagej_metadata, name
        total_objects += len(np.unique(expected_labels)) - 1
        expected_rois, actual_rois = expected_dir / "rois" / f"{stem}.zip", actual_dir / "rois" / f"{stem}.zip"
        assert expected_rois.exists() == actual_rois.exists(), name
        if expected_rois.exists():
            assert _zip_members(expected_rois) == _zip_members(actual_rois), name  # every ROI, byte for byte
        expected_csv = (expected_dir / "objects" / f"{stem}.csv").read_text()
        assert expected_csv == (actual_dir / "objects" / f"{stem}.csv").read_text(), name
    assert total_objects > 0  # the comparison means something only if objects were found
    assert (expected_dir / "summary.csv").read_text() == (actual_dir / "summary.csv").read_text()
    assert not (actual_dir / "masks" / CORRUPT_INPUT).exists()


def assert_same_result(expected, actual):
    assert _names(actual.done) == _names(expected.done) == GOOD_INPUTS
    assert actual.failed == expected.failed
    assert [p.name for p, _ in actual.failed] == [CORRUPT_INPUT]
    assert CORRUPT_INPUT in actual.failed[0][1] and "not a readable TIFF" in actual.failed[0][1]
    assert actual.summary is not None and actual.summary.name == "summary.csv"


def test_two_worker_processes_give_the_single_process_outputs(trained, inputs, reference, tmp_path):
    expected_dir, expected = reference
    out = tmp_path / "workers"
    result = predict_paths_distributed(trained, [inputs], out, workers=2, progress=False)
    assert_same_result(expected, result)
    assert_same_outputs(expected_dir, out)


def test_existing_cluster_loads_the_model_once_per_worker_and_skips_finished_files(trained, inputs, reference,
                                                                                   tmp_path):
    from distributed import Client, LocalCluster

    expected_dir, expected = reference
    out = tmp_path / "cluster"
    # context managers: the workers are shut down even when an assertion fails
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        result = predict_paths_distributed(trained, [inputs], out, scheduler=cluster.scheduler_address,
                                           progress=False)
        assert_same_result(expected, result)
        assert_same_outputs(expected_dir, out)

        rerun = predict_paths_distributed(trained, [inputs], out, scheduler=cluster.scheduler_address,
                                          progress=False)
        assert _names(rerun.skipped) == GOOD_INPUTS and rerun.done == []
        assert [p.name for p, _ in rerun.failed] == [CORRUPT_INPUT]  # never finished: tried again

        model_key = str(trained.resolve())
        info = client.run(worker_cache_info)
        assert len(info) == 2
        files = [worker["files"].get(model_key, 0) for worker in info.values()]
        loads = [worker["model_loads"].get(model_key, 0) for worker in info.values()]
        # six files in the first run, only the corrupt one again in the rerun
        assert sum(files) == len(GOOD_INPUTS) + 2
        assert loads == [1 if n else 0 for n in files], info


def test_a_worker_with_two_threads_shares_one_model_and_gives_the_same_outputs(trained, inputs, reference,
                                                                              tmp_path):
    """dask-jobqueue workers often run several threads: they share one model, one prediction at a time."""
    from distributed import Client, LocalCluster

    from pyfiji_dl.prediction.distributed import _cached_model

    expected_dir, expected = reference
    out = tmp_path / "threads"
    # in this process (no spawning, so it is quick); the worker runs two files at once
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        result = predict_paths_distributed(trained, [inputs], out, scheduler=cluster.scheduler_address,
                                           progress=False)
        wrapper = client.submit(lambda path: type(_cached_model(path, None)).__name__, trained.resolve()).result()
    assert wrapper == "_SerializedModel"
    assert_same_result(expected, result)
    assert_same_outputs(expected_dir, out)
    assert worker_cache_info()["model_loads"][str(trained.resolve())] == 1


class FaultyFiles(WorkerPlugin):
    """Worker plugin: ``crash.tif`` kills the worker process, ``bug.tif`` raises a KeyError.

    A plugin (not a one-off ``client.run``) so that a worker restarted after the
    crash is faulty too. Workers import this module by name (pytest put tests/ on
    ``sys.path``, which spawned workers inherit).
    """

    name = "faulty-files"

    def setup(self, worker):
        import os
        from pathlib import Path

        import pyfiji_dl.prediction.distributed as module

        original = module.predict_paths

        def faulty(model_dir, inputs, out_dir, **options):
            name = Path(inputs[0]).name
            if name == "crash.tif":
                os._exit(1)
            if name == "bug.tif":
                raise KeyError("simulated bug")
            return original(model_dir, inputs, out_dir, **options)

        module.predict_paths = faulty


def test_a_task_that_raises_or_kills_its_worker_fails_alone(trained, inputs, tmp_path):
    import dask
    from distributed import Client, LocalCluster

    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("bug.tif", "crash.tif", "good.tif"):
        (folder / name).write_bytes((inputs / "crop.tif").read_bytes())
    # no retries: the crash is reported at once instead of killing three more workers
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                         dashboard_address=None) as cluster, Client(cluster) as client:
        client.register_plugin(FaultyFiles())
        result = predict_paths_distributed(trained, [folder], tmp_path / "out", scheduler=cluster.scheduler_address,
                                           progress=False)
    assert _names(result.done) == ["good.tif"]
    reasons = {path.name: message for path, message in result.failed}
    assert set(reasons) == {"bug.tif", "crash.tif"}
    assert reasons["bug.tif"].startswith(str(folder / "bug.tif")) and "KeyError: 'simulated bug'" in reasons["bug.tif"]
    assert reasons["crash.tif"].startswith(str(folder / "crash.tif")) and "worker predicting it died" in reasons["crash.tif"]
    assert (tmp_path / "out" / "objects" / "good.csv").exists()
    assert (tmp_path / "out" / "summary.csv").read_text().count("good.tif") >= 1


def test_unreachable_scheduler_fails_fast_with_a_clear_message(trained, inputs, tmp_path):
    address = "tcp://127.0.0.1:1"
    started = time.monotonic()
    with pytest.raises(ClusterError) as caught:
        predict_paths_distributed(trained, [inputs], tmp_path / "o", scheduler=address, progress=False)
    assert time.monotonic() - started < 20
    assert address in str(caught.value) and "dask scheduler" in str(caught.value)

    missing = tmp_path / "scheduler.json"
    with pytest.raises(ClusterError, match="does not exist.*dask scheduler --scheduler-file"):
        predict_paths_distributed(trained, [inputs], tmp_path / "o", scheduler=missing, progress=False)


def test_bad_arguments_are_named_before_any_cluster_starts(trained, inputs, tmp_path, monkeypatch):
    from pyfiji_dl.models.card import ModelFolderError

    with pytest.raises(ModelFolderError, match="no such model folder"):
        predict_paths_distributed(tmp_path / "nowhere", [inputs], tmp_path / "o", workers=2)
    with pytest.raises(ValueError, match="either workers=N"):
        predict_paths_distributed(trained, [inputs], tmp_path / "o")
    with pytest.raises(ValueError, match="either workers=N"):
        predict_paths_distributed(trained, [inputs], tmp_path / "o", workers=2, scheduler="tcp://127.0.0.1:1")
    with pytest.raises(ValueError, match="positive"):
        predict_paths_distributed(trained, [inputs], tmp_path / "o", workers=0)

    monkeypatch.setitem(sys.modules, "distributed", None)  # as if Dask were not installed
    with pytest.raises(ClusterError, match=r"pip install 'pyfiji_dl\[cluster\]'"):
        predict_paths_distributed(trained, [inputs], tmp_path / "o", workers=2)


def test_module_imports_neither_tensorflow_nor_dask():
    code = ("import sys, pyfiji_dl.prediction.distributed; "
            "print(sorted(m for m in ('tensorflow', 'dask', 'distributed') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         timeout=300).stdout
    assert out.strip() == "[]"


def test_predict_command_with_workers(trained, inputs, reference, tmp_path, capsys):
    """What a user types: 'pyfiji-dl predict MODEL FOLDER -o OUT --workers 2'."""
    from pyfiji_dl.cli import main

    expected_dir, _ = reference
    out = tmp_path / "cli"
    code = main(["predict", str(trained), str(inputs), "-o", str(out), "--workers", "2", "--quiet"])
    captured = capsys.readouterr()
    assert code == 1 and CORRUPT_INPUT in captured.err  # the corrupt input is named, the rest done
    assert_same_outputs(expected_dir, out)
    assert main(["predict", str(trained), str(inputs), "-o", str(out), "--workers", "2",
                 "--scheduler", "tcp://127.0.0.1:1"]) == 1
    assert "not both" in capsys.readouterr().err


def test_a_local_cluster_that_stops_predicting_is_restarted_once_then_given_up(trained, inputs, tmp_path,
                                                                               monkeypatch, caplog):
    """A worker that never finishes its task and sits idle: restart and resend once, then name the file."""
    import logging
    from pathlib import Path

    import pyfiji_dl.prediction.distributed as module

    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("good.tif", "once.tif", "stuck.tif"):
        (folder / name).write_bytes((inputs / "crop.tif").read_bytes())
    tried = tmp_path / "once-tried"

    def hangs_idle(model_dir, path, *rest):
        # a closure, so the workers get it by value; their module is not patched
        import pyfiji_dl.prediction.distributed as unpatched

        name = Path(path).name
        if name == "stuck.tif" or (name == "once.tif" and not tried.exists()):
            tried.touch()
            time.sleep(3600)  # idle, like a task that never started
        return unpatched._predict_file_on_worker(model_dir, path, *rest)

    monkeypatch.setattr(module, "_predict_file_on_worker", hangs_idle)
    monkeypatch.setattr(module, "STALL_SECONDS", 8)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger=module.__name__):
        result = predict_paths_distributed(trained, [folder], tmp_path / "out", workers=2, progress=False)
    assert time.monotonic() - started < 240
    assert _names(result.done) == ["good.tif", "once.tif"]  # the restart saved the file that hung once
    assert [p.name for p, _ in result.failed] == ["stuck.tif"]
    message = result.failed[0][1]
    assert message.startswith(str(folder / "stuck.tif")) and "idle" in message and "after a restart" in message
    assert "restarted them and sent the files again" in caplog.text
    summary = (tmp_path / "out" / "summary.csv").read_text()
    assert "once.tif" in summary and "good.tif" in summary


def test_busy_worker_processes_are_never_taken_for_stuck():
    """A long prediction keeps its workers busy: only idle workers with files waiting are stuck."""
    from pyfiji_dl.prediction.distributed import IdleWorkers

    class Worker:
        def __init__(self, process):
            self.pid = process.pid

    class Cluster:
        def __init__(self, *processes):
            self.workers = {i: Worker(p) for i, p in enumerate(processes)}

    class Clock:
        now = 0.0

        def __call__(self):
            return self.now

    busy = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 60\nwhile time.time() < end: pass"])
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    # a worker's own upkeep (heartbeats, monitors): spins 8 % of the time; three of them
    # together use more than a tenth of a core, yet none is predicting
    upkeep = "import time\nend = time.time() + 60\nwhile time.time() < end:\n" \
             "    t = time.time() + 0.004\n    while time.time() < t: pass\n    time.sleep(0.046)"
    tickers = [subprocess.Popen([sys.executable, "-c", upkeep]) for _ in range(3)]
    try:
        time.sleep(0.5)  # the interpreters started
        for cluster, stuck in ((Cluster(busy), False), (Cluster(idle), True), (Cluster(idle, busy), False),
                               (Cluster(*tickers), True)):
            clock = Clock()
            watch = IdleWorkers(cluster, stall_seconds=4, clock=clock)
            watch.reset()
            clock.now = 3.0
            assert not watch.stuck()  # too early to tell
            time.sleep(3)  # the busy process uses more than 25 % of the 4 s span, even sharing a core
            clock.now = 4.0
            assert watch.stuck() is stuck
            if not stuck:
                assert watch.idle_seconds() == 0  # busy: measured again from now
    finally:
        for process in (busy, idle, *tickers):
            process.kill()
            process.wait(timeout=30)


def test_the_local_cluster_refuses_whoever_lacks_its_certificate():
    """Loopback ports are open to every user of the machine: the scheduler asks for its own TLS certificate."""
    import urllib.error
    import urllib.request

    import distributed

    from pyfiji_dl.prediction.distributed import _local_cluster

    with _local_cluster(distributed, 1) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tls://127.0.0.1:")
        with distributed.Client(cluster, timeout=30) as client:  # the cluster's own credentials
            assert client.submit(sum, [1, 2], pure=False).result(timeout=60) == 3
        for stranger in (address.replace("tls://", "tcp://"), address):
            with pytest.raises(Exception):  # plain TCP, or TLS without the certificate  # noqa: B017
                distributed.Client(stranger, timeout=3)
        port = cluster.scheduler.http_server.port
        health = urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10).read()
        assert health == b"ok"
        with pytest.raises(urllib.error.HTTPError):  # no worker names or task counts
            urllib.request.urlopen(f"http://127.0.0.1:{port}/info/main/workers.html", timeout=10)
