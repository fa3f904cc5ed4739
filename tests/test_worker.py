"""The warm worker: the same outputs as in-process, a private socket, refusal of another
version, cancellation that keeps finished outputs, a killed worker, two clients at once,
and progress shown by a macro in real ImageJ.

Every test talks to a worker of its own folder (``PYFIJI_DL_WORKER_DIR``), never to the
user's; commands run as subprocesses exactly as a user or an ImageJ macro runs them.
"""

import json
import os
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from pyfiji_dl.io.tiff import write_imagej_tiff, write_label_image

PYFIJI_DL = [sys.executable, "-m", "pyfiji_dl.cli"]


def worker_env(folder: Path) -> dict:
    env = dict(os.environ, PYFIJI_DL_WORKER_DIR=str(folder), PYFIJI_DL_WORKER_IDLE_MINUTES="10")
    env.pop("PYFIJI_DL_WORKER", None)  # on (the suite turns it off for every other test)
    return env


def run(args, env, cwd=None, timeout=180, check=True):
    done = subprocess.run(PYFIJI_DL + [str(a) for a in args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def state(folder: Path) -> dict:
    states = list(folder.glob("*/worker.json"))
    return json.loads(states[0].read_text()) if states else {}


def stop_worker(env) -> None:
    folder = Path(env["PYFIJI_DL_WORKER_DIR"])
    pid = state(folder).get("pid")
    subprocess.run(PYFIJI_DL + ["worker", "stop"], env=env, capture_output=True, timeout=60)
    if pid:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def same_outputs(first: Path, second: Path) -> list:
    """Relative paths of the outputs; asserts identical bytes (ROI zips: identical entries)."""
    names = sorted(str(p.relative_to(first)) for p in first.rglob("*") if p.is_file())
    assert names == sorted(str(p.relative_to(second)) for p in second.rglob("*") if p.is_file())
    for name in names:
        if name.endswith(".zip"):
            # a zip entry carries the time it was written; the ROIs themselves must be equal
            with zipfile.ZipFile(first / name) as a, zipfile.ZipFile(second / name) as b:
                assert a.namelist() == b.namelist(), name
                assert all(a.read(n) == b.read(n) for n in a.namelist()), name
        else:
            assert (first / name).read_bytes() == (second / name).read_bytes(), name
    return names


def no_partial_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if ".part" in p.name or p.name.endswith(".tmp")]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A tiny StarDist model (1 epoch), images, a time-lapse, a folder and a label map."""
    from stardist.data import test_image_nuclei_2d

    from pyfiji_dl.cli import main

    image, labels = test_image_nuclei_2d(return_mask=True)
    root = tmp_path_factory.mktemp("worker data")
    for i, (y, x) in enumerate([(0, 0), (0, 256), (256, 0)]):
        write_imagej_tiff(root / "train" / "images" / f"f{i}.tif", image[y:y + 128, x:x + 128], "YX")
        write_label_image(root / "train" / "masks" / f"f{i}.tif", labels[y:y + 128, x:x + 128], "YX")
    model = root / "model"
    assert main(["train", "stardist", "--data", str(root / "train"), "--model", str(model), "--epochs", "1",
                 "--steps", "2", "--patch", "64", "--batch", "2", "--rays", "8", "--depth", "1", "--filters", "8",
                 "--quiet"]) == 0
    write_imagej_tiff(root / "one" / "cells 1.tif", image[256:384, 256:384], "YX")
    for i in range(24):
        y, x = (i // 6) * 64, (i % 6) * 64
        write_imagej_tiff(root / "folder" / f"img{i:02d}.tif", image[y:y + 96, x:x + 96], "YX")
    _few_objects(model, image[:96, :96])
    movie = np.stack([image[i * 40:i * 40 + 96, i * 40:i * 40 + 96] for i in range(6)])
    write_imagej_tiff(root / "movie" / "movie.tif", movie, "TYX")
    write_label_image(root / "labels.tif", labels[:200, :200], "YX")
    return root


def _few_objects(model_dir: Path, image) -> None:
    """Raise the model's probability threshold to its top pixels: a one-epoch network finds
    thousands of objects at its fitted threshold, which only makes the tests slow.

    The threshold is lowered step by step until ``image`` (the first frame of the tests'
    movies, normalised the same way per plane) gives at least one object: a one-epoch
    network's top pixels do not always make a polygon, and the tests need objects to land.
    """
    from pyfiji_dl.data.normalize import normalize_percentile
    from pyfiji_dl.models.stardist import load_model

    model = load_model(model_dir)
    normalized = normalize_percentile(image, 1, 99.8)
    prob, _ = model.predict(normalized)
    thresholds = json.loads((model_dir / "thresholds.json").read_text())
    for quantile in (0.99, 0.98, 0.95, 0.9, 0.8, 0.6, 0.4):
        thresholds["prob"] = float(np.quantile(prob, quantile))
        labels, _ = model.predict_instances(normalized, prob_thresh=thresholds["prob"], nms_thresh=thresholds["nms"])
        if labels.max() > 0:
            break
    assert labels.max() > 0, "the one-epoch test model finds no object at any threshold"
    (model_dir / "thresholds.json").write_text(json.dumps(thresholds))


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory):
    """The in-process outputs of predicting the single image and the time-lapse."""
    out = tmp_path_factory.mktemp("reference")
    env = dict(os.environ, PYFIJI_DL_WORKER="off")
    run(["predict", data / "model", data / "one", data / "movie", "-o", out], env)
    return out


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    env = worker_env(tmp_path_factory.mktemp("worker"))
    yield env
    stop_worker(env)


def test_outputs_identical_through_the_worker(data, env, reference, tmp_path):
    done = run(["predict", data / "model", data / "one", data / "movie", "-o", tmp_path / "predicted"], env)
    assert "PYFIJI-DL" not in done.stdout and "movie.tif: done" in done.stdout
    names = same_outputs(tmp_path / "predicted", reference)
    assert {"masks/movie.tif", "objects/movie.csv", "masks/cells 1.tif", "summary.csv"} <= set(names)
    cases = [
        ["labels-to-rois", data / "labels.tif", "-o", "{out}/rois.zip"],
        ["bootstrap-rois", data / "one", "-o", "{out}", "--method", "Otsu"],
    ]
    for i, case in enumerate(cases, start=1):
        through, alone = tmp_path / f"worker{i}", tmp_path / f"alone{i}"
        run([str(a).replace("{out}", str(through)) for a in case], env)
        run(["--no-worker"] + [str(a).replace("{out}", str(alone)) for a in case], env)
        assert same_outputs(through, alone)
    # the label map's ROIs back to labels, relative paths against the client's folder
    run(["rois-to-labels", "worker1/rois.zip", "--image", data / "labels.tif", "-o", "back.tif"], env, cwd=tmp_path)
    run(["--no-worker", "rois-to-labels", "alone1/rois.zip", "--image", data / "labels.tif", "-o", "back2.tif"],
        env, cwd=tmp_path)
    assert (tmp_path / "back.tif").read_bytes() == (tmp_path / "back2.tif").read_bytes()
    status = run(["worker", "status"], env).stdout
    assert "running" in status and str(data / "model") in status  # the model stays loaded


@pytest.fixture(scope="module")
def other_models(data, tmp_path_factory):
    """Tiny CARE, Noise2Void and U-Net models, and the StarDist model as a bioimageio package."""
    from stardist.data import test_image_nuclei_2d

    from pyfiji_dl.cli import main
    from pyfiji_dl.export import export_bioimageio

    image, labels = test_image_nuclei_2d(return_mask=True)
    root = tmp_path_factory.mktemp("other models")
    clean = image[:128, :128].astype(np.float32)
    rng = np.random.default_rng(0)
    for i in range(2):
        write_imagej_tiff(root / "care" / "low" / f"f{i}.tif", clean + rng.normal(0, 20, clean.shape).astype(np.float32), "YX")
        write_imagej_tiff(root / "care" / "GT" / f"f{i}.tif", clean, "YX")
    write_imagej_tiff(root / "n2v" / "images" / "noisy.tif", clean + rng.normal(0, 20, clean.shape).astype(np.float32), "YX")
    tiny = ["--epochs", "1", "--steps", "1", "--quiet"]
    commands = {
        "care": ["care", "--data", root / "care", "--patch", "32", "--patches-per-image", "4", "--batch", "2",
                 "--depth", "1", "--filters", "4"],
        "n2v": ["n2v", "--data", root / "n2v", "--patch", "32", "--batch", "4", "--depth", "1", "--filters", "4"],
        "unet": ["unet", "--data", data / "train", "--patch", "64", "--batch", "2", "--depth", "2", "--filters", "4"],
    }
    models = {}
    for family, args in commands.items():
        models[family] = root / family / "model"
        assert main(["train", *map(str, args), "--model", str(models[family]), *tiny]) == 0, family
    models["bioimageio"] = root / "stardist.bioimageio.zip"
    export_bioimageio(data / "model", models["bioimageio"], authors=[{"name": "Test Author"}])
    return models


@pytest.mark.parametrize("family", ["care", "n2v", "unet", "bioimageio"])
def test_other_families_identical_through_the_worker(family, data, other_models, env, tmp_path):
    from pyfiji_dl.cli import main

    inputs = [data / "one", data / "movie"]
    run(["predict", other_models[family], *inputs, "-o", tmp_path / "worker"], env)
    # the reference in this process, where the fixtures have already imported TensorFlow
    assert main(["--no-worker", "predict", str(other_models[family]), *map(str, inputs), "-o",
                 str(tmp_path / "alone"), "--quiet"]) == 0
    names = same_outputs(tmp_path / "worker", tmp_path / "alone")
    assert ("restored/movie.tif" if family in ("care", "n2v") else "masks/movie.tif") in names


def test_client_imports_neither_tensorflow_nor_numpy(data, env, tmp_path):
    run(["worker", "start"], env)
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "pyfiji_dl.cli", "predict", str(data / "model"),
                           str(data / "one"), "-o", str(tmp_path / "out")], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    modules = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "pyfiji_dl.worker.client" in modules
    assert not {m for m in modules if m.split(".")[0] in ("numpy", "tensorflow", "stardist", "tifffile")}
    # the fast path: sent before the command line parser's families (card, budget) are imported
    assert not {m for m in modules if m.startswith(("pyfiji_dl.families", "pyfiji_dl.models", "dataclasses"))}


def test_a_mistyped_command_reads_the_same_and_starts_no_worker(env, tmp_path):
    """Without a worker the command line is checked before one would start; through a running
    worker (the fast path, parsed there) the usage error is the parser's, word for word."""
    mistyped = ["predict", "--no-such-option", "model", "image.tif", "-o", "out"]
    alone = run(mistyped, worker_env(tmp_path / "w"), check=False)
    assert alone.returncode == 2 and "unrecognized arguments: --no-such-option" in alone.stderr
    assert not list((tmp_path / "w").glob("*/worker.json"))  # no worker was started for it
    run(["worker", "start"], env)
    through = run(mistyped, env, check=False)
    assert (through.returncode, through.stdout, through.stderr) == (2, alone.stdout, alone.stderr)


def test_socket_and_folders_are_private(env):
    run(["worker", "start"], env)
    root = Path(env["PYFIJI_DL_WORKER_DIR"])
    (install,) = [p for p in root.iterdir() if p.is_dir()]
    sock = Path(state(root)["socket"])
    assert stat.S_ISSOCK(sock.stat().st_mode)
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    for folder in (root, install, install / "jobs", sock.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    for name in ("worker.json", "worker.log", "worker.lock"):
        assert stat.S_IMODE((install / name).stat().st_mode) & 0o077 == 0, name
    # a folder opened up to others is closed again before it is used
    os.chmod(root, 0o755)
    from pyfiji_dl.worker.paths import ensure_private_dir

    ensure_private_dir(root)
    assert stat.S_IMODE(root.stat().st_mode) == 0o700


def test_another_version_is_refused_and_a_new_worker_starts(data, tmp_path):
    env = worker_env(tmp_path / "w")
    try:
        run(["worker", "start"], env)
        old_pid = state(tmp_path / "w")["pid"]
        code = (
            "import json, os, sys\n"
            "from pyfiji_dl.worker.paths import WorkerPaths\n"
            "from pyfiji_dl.worker.protocol import Channel, identity\n"
            "def ask(**fields):\n"
            "    channel = Channel.connect(WorkerPaths.default().socket)\n"
            "    channel.send({'op': 'run', 'identity': identity(), 'cwd': os.getcwd(), 'env': {}, **fields})\n"
            "    return channel.receive()\n"
            "# only the commands the client sends: never another command, never code\n"
            "print(json.dumps(ask(argv=['fiji', 'install', '--fiji', '/tmp/x'])))\n"
            "print(json.dumps(ask(argv=['predict'], identity={**identity(), 'version': '0.0.1'})))\n"
        )
        other, reply = map(json.loads, subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                                      text=True, check=True, timeout=60).stdout.splitlines())
        assert other == {"event": "refused", "message": "the worker does not run 'fiji'"}
        assert reply["event"] == "refused"
        assert "pyfiji_dl 0.1" in reply["message"] and "pyfiji_dl 0.0.1" in reply["message"]
        # the old worker gave up its socket; the next command starts a worker of its own version
        run(["predict", data / "model", data / "one", "-o", tmp_path / "out"], env)
        assert (tmp_path / "out" / "masks" / "cells 1.tif").exists()
        new_pid = state(tmp_path / "w")["pid"]
        assert new_pid != old_pid
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _alive(old_pid):
            time.sleep(0.1)
        assert not _alive(old_pid)  # it retired once idle
    finally:
        stop_worker(env)


def _alive(pid) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _submit(args, env) -> Path:
    out = run(["--for-imagej", "--submit"] + args, env).stdout
    assert out.startswith("PYFIJI-DL JOB "), out
    return Path(out.splitlines()[0][len("PYFIJI-DL JOB "):])


def _poll(job: Path, *, stop_when=None, timeout=180):
    """Poll a job as the macro does (alive file, progress); return the progress lines seen."""
    seen = []
    deadline = time.monotonic() + timeout
    while not (job / "result.txt").exists():
        assert time.monotonic() < deadline, seen[-3:]
        (job / "alive").write_text(str(time.time()))
        if (job / "progress.txt").exists():
            seen.append((job / "progress.txt").read_text().split("\t"))
            if stop_when and stop_when(seen[-1]):
                return seen
        time.sleep(0.1)
    return seen


def test_a_cancelled_command_reports_without_a_second_forced_interrupt():
    """The command catches the cancellation and reports what it kept; the worker's forced
    cancel (after FORCE_AFTER_SECONDS) must not interrupt that report, however long it takes."""
    from pyfiji_dl.command import INTERRUPTED, run_command
    from pyfiji_dl.worker.jobs import FORCE_AFTER_SECONDS, Job

    job = Job(["predict"], os.getcwd(), {})
    outcome = {}

    def command(args):
        job.request_cancel("test")
        job.write(2, "predict:  40%|####      | 4/10 [00:01<00:01,  3.00image/s]\r")  # raises JobCancelled
        raise AssertionError("the cancellation did not stop the command")

    def slow_note(args):
        time.sleep(FORCE_AFTER_SECONDS * 3)  # a long report, as for a folder of many outputs
        outcome["note finished"] = True
        return "kept"

    def thread():
        job.begin()
        try:
            outcome["code"] = run_command(command, None, name="predict", interrupted_note=slow_note)
        except BaseException as exc:  # noqa: BLE001 - the failure this test looks for
            outcome["escaped"] = repr(exc)
        finally:
            job.end(outcome.get("code", 1))

    runner = threading.Thread(target=thread)
    runner.start()
    while runner.is_alive():
        job.enforce_cancel()  # what the worker's monitor does every 0.1 s
        time.sleep(0.05)
    assert outcome == {"note finished": True, "code": INTERRUPTED}, outcome
    assert job.state == "cancelled"


def test_cancel_mid_folder_keeps_finished_outputs_and_rerun_skips_them(data, env, tmp_path):
    out = tmp_path / "out"
    job = _submit(["predict", data / "model", data / "folder", "-o", out], env)
    seen = _poll(job, stop_when=lambda fields: fields[0] == "running" and 0.15 < float(fields[1]) < 0.8)
    assert seen and "predict:" in seen[-1][2], seen[-1]
    (job / "cancel").write_text("")
    cancelled_at = time.monotonic()
    _poll(job)
    stopped_after = time.monotonic() - cancelled_at
    result = (job / "result.txt").read_text()
    assert "cancelled" in result and result.endswith("PYFIJI-DL STATUS error\n"), result
    finished = sorted(p.stem for p in (out / "objects").glob("*.csv"))
    assert 0 < len(finished) < 24, finished
    assert no_partial_files(out)
    print(f"cancelled after {len(finished)} of 24 images; stopped {stopped_after:.2f} s after the cancel file")
    rerun = run(["predict", data / "model", data / "folder", "-o", out], env).stdout
    assert f"skipped {len(finished)} finished input(s)" in rerun
    assert len(list((out / "objects").glob("*.csv"))) == 24


@pytest.fixture(scope="module")
def long_folder(data, tmp_path_factory):
    """240 images (the folder's 24, ten times): a job far longer than the worker needs to
    notice a macro that stopped polling (LEASE_SECONDS), however fast this machine predicts."""
    folder = tmp_path_factory.mktemp("long folder")
    for copy in range(10):
        for image in sorted((data / "folder").glob("*.tif")):
            (folder / f"{image.stem}-{copy}.tif").write_bytes(image.read_bytes())
    return folder


def test_a_macro_that_stops_polling_cancels_its_job(data, long_folder, env, tmp_path):
    out = tmp_path / "out"
    total = len(list(long_folder.glob("*.tif")))
    job = _submit(["predict", data / "model", long_folder, "-o", out], env)
    _poll(job, stop_when=lambda fields: fields[0] == "running" and float(fields[1]) > 0)
    # as when Esc ends the macro: the alive file grows old
    deadline = time.monotonic() + 30
    while not (job / "result.txt").exists():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert "cancelled" in (job / "result.txt").read_text()
    assert no_partial_files(out)
    assert len(list((out / "objects").glob("*.csv"))) < total


def test_worker_killed_mid_job_is_reported_and_replaced(data, env, tmp_path):
    out = tmp_path / "out"
    client = subprocess.Popen(PYFIJI_DL + ["predict", str(data / "model"), str(data / "folder"), "-o", str(out)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(out.glob("objects/*.csv")):
        assert time.monotonic() < deadline and client.poll() is None
        time.sleep(0.1)
    old_pid = state(Path(env["PYFIJI_DL_WORKER_DIR"]))["pid"]
    os.kill(old_pid, signal.SIGKILL)
    stdout, stderr = client.communicate(timeout=60)
    assert client.returncode == 1
    assert "worker" in stderr and "stopped while running" in stderr and "Traceback" not in stderr
    assert no_partial_files(out)
    # the stale socket is detected and the next command starts a fresh worker
    status = run(["worker", "status"], env).stdout
    assert "not running" in status and "stale socket" in status
    run(["predict", str(data / "model"), str(data / "folder"), "-o", str(out)], env)
    assert state(Path(env["PYFIJI_DL_WORKER_DIR"]))["pid"] != old_pid
    assert len(list((out / "objects").glob("*.csv"))) == 24


def test_two_clients_at_once_get_their_own_results(data, env, reference, tmp_path):
    run(["worker", "start"], env)
    jobs = {"a": data / "one", "b": data / "movie"}
    results = {}

    def client(name):
        results[name] = run(["predict", data / "model", jobs[name], "-o", tmp_path / name], env, cwd=tmp_path)

    threads = [threading.Thread(target=client, args=(name,)) for name in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert "cells 1.tif: done" in results["a"].stdout and "movie.tif" not in results["a"].stdout
    assert "movie.tif: done" in results["b"].stdout and "cells 1" not in results["b"].stdout
    for name, source in jobs.items():
        stem = "cells 1" if source.name == "one" else "movie"
        for folder in ("masks", "rois", "objects"):
            # the summary and review pages cover each client's own inputs: checked above
            (tmp_path / f"{name}-ours" / folder).mkdir(parents=True)
            (tmp_path / f"{name}-ref" / folder).mkdir(parents=True)
            for path in (reference / folder).glob(f"{stem}.*"):
                (tmp_path / f"{name}-ref" / folder / path.name).write_bytes(path.read_bytes())
                ours = tmp_path / name / folder / path.name
                (tmp_path / f"{name}-ours" / folder / path.name).write_bytes(ours.read_bytes())
        assert len(same_outputs(tmp_path / f"{name}-ours", tmp_path / f"{name}-ref")) >= 2  # + ROIs if any


IMAGEJ_SCRIPT = r"""
import json, sys, threading, time
from pyfiji_dl.fiji import jvm
from pyfiji_dl.fiji.macro import run_macro

jvm.start_imagej()
ImageJ, KeyEvent = jvm.jimport("ij.ImageJ"), jvm.jimport("java.awt.event.KeyEvent")
System, RoiManager = jvm.jimport("java.lang.System"), jvm.jimport("ij.plugin.frame.RoiManager")
ij = ImageJ(ImageJ.NO_SHOW)  # the ImageJ window: its status bar and progress bar
bar = ij.getProgressBar()
progress = bar.getClass().getDeclaredField("slowX")
progress.setAccessible(True)
macro, model, movie, long_movie, out = sys.argv[1:6]


def run(image, output, escape_at=None):
    progress.set(bar, 0.0)  # what an earlier run left
    jvm.jimport("ij.IJ").showStatus("")
    result, samples = {}, []
    thread = threading.Thread(target=lambda: result.update(r=run_macro(
        macro, {"model": model, "image": image, "output": output})))
    thread.start()
    escaped = None
    while thread.is_alive():
        status, fraction = str(ImageJ.getStatusBarText()), float(progress.get(bar))
        samples.append((status, fraction))
        if escape_at and escaped is None and fraction >= escape_at and "frame" in status:
            # the user presses Esc: ImageJ's own key handler ends the running macro
            ij.keyPressed(KeyEvent(ij, KeyEvent.KEY_PRESSED, 0, 0, KeyEvent.VK_ESCAPE, chr(27)))
            escaped = time.monotonic()
        time.sleep(0.02)
    manager = RoiManager.getInstance()
    return {"samples": samples, "error": result["r"].error, "escaped": escaped,
            "rois": manager.getCount() if manager else 0, "job": str(System.getProperty("pyfiji-dl.job"))}


done = run(movie, out + "/full")
# Esc a few frames into a movie far longer than the time the worker needs to notice
# (lease + monitor + one frame), however fast this machine predicts
stopped = run(long_movie, out + "/escaped", escape_at=0.02)
job = stopped["job"]
assert job != done["job"], "the second command's job never started"
while not __import__("os").path.exists(job + "/result.txt"):
    time.sleep(0.02)
stopped["stopped_after"] = time.monotonic() - stopped["escaped"]
stopped["result"] = open(job + "/result.txt").read()
print("RESULT " + json.dumps({"done": done, "stopped": stopped}))
"""


@pytest.mark.imagej
@pytest.mark.display
def test_macro_shows_progress_and_esc_cancels_in_imagej(data, env, tmp_path):
    if not os.environ.get("DISPLAY"):
        pytest.skip("needs a display (xvfb-run)")
    from pyfiji_dl.fiji.install import install

    root = tmp_path / "Fiji.app"
    (root / "jars").mkdir(parents=True)
    install(root, command=Path(sys.executable).with_name("pyfiji-dl"))
    from stardist.data import test_image_nuclei_2d

    image = test_image_nuclei_2d()
    frames = np.stack([image[(i % 5) * 80:(i % 5) * 80 + 96, (i // 5) * 60:(i // 5) * 60 + 96] for i in range(30)])
    movie = write_imagej_tiff(tmp_path / "movie.tif", frames, "TYX")
    # the Esc'd run: 300 frames, so the job is still running when the worker notices (after
    # LEASE_SECONDS) that the macro stopped polling; the test then sees a real cancellation
    long_movie = write_imagej_tiff(tmp_path / "long movie.tif", np.concatenate([frames] * 10), "TYX")
    run(["worker", "start"], env)
    done = subprocess.run([sys.executable, "-c", IMAGEJ_SCRIPT, str(root / "plugins" / "pyfiji-dl" / "Predict_StarDist.ijm"),
                           str(data / "model"), str(movie), str(long_movie), str(tmp_path / "out")], env=env, capture_output=True,
                          text=True, timeout=600)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, done.stdout[-2000:] + done.stderr[-3000:]
    result = json.loads(lines[0][len("RESULT "):])
    finished, stopped = result["done"], result["stopped"]
    assert finished["error"] is None and finished["rois"] > 0, finished["error"]
    statuses = [s for s, _ in finished["samples"]]
    assert any(s.startswith("pyfiji-dl predict: frame") for s in statuses), sorted(set(statuses))
    fractions = [f for _, f in finished["samples"]]
    assert any(0 < f < 1 for f in fractions)  # the progress bar moved
    # Esc ended the macro; the worker saw nobody follow the job and cancelled it
    assert stopped["escaped"] is not None
    assert "cancelled" in stopped["result"], stopped["result"]
    assert no_partial_files(tmp_path / "out")
    print(f"Esc -> job stopped in {stopped['stopped_after']:.2f} s")


def test_idle_worker_exits_and_cleans_up(tmp_path):
    env = worker_env(tmp_path / "w")
    server = subprocess.run([sys.executable, "-m", "pyfiji_dl.worker.server", "--idle-minutes", "0.02",
                             "--no-warm-up"], env=env, capture_output=True, text=True, timeout=60)
    assert server.returncode == 0, server.stderr
    assert "idle for 0.02 min: exiting" in server.stderr
    (install,) = (tmp_path / "w").iterdir()
    assert not (install / "worker.sock").exists() and not (install / "worker.json").exists()


def test_turned_off_runs_in_process(data, tmp_path):
    env = dict(worker_env(tmp_path / "w"), PYFIJI_DL_WORKER="off")
    done = run(["predict", tmp_path / "no model", data / "one", "-o", tmp_path / "out"], env, check=False)
    assert done.returncode == 1 and "no model" in done.stderr
    done = run(["--no-worker", "predict", tmp_path / "no model", data / "one", "-o", tmp_path / "out"],
               worker_env(tmp_path / "w"), check=False)
    assert done.returncode == 1 and "no model" in done.stderr
    assert not list((tmp_path / "w").glob("*/worker.json"))  # neither started a worker
    done = run(["--for-imagej", "--submit", "labels-to-rois", data / "labels.tif", "-o", tmp_path / "r.zip"], env)
    assert done.stdout.rstrip().endswith("PYFIJI-DL STATUS ok")  # no job: it ran here


TRAINING_SCRIPT = r"""
import json, os, re, sys, threading, time
from pyfiji_dl.fiji import jvm
from pyfiji_dl.fiji.macro import run_macro

jvm.start_imagej()
ImageJ, IJ, System = jvm.jimport("ij.ImageJ"), jvm.jimport("ij.IJ"), jvm.jimport("java.lang.System")
ij = ImageJ(ImageJ.NO_SHOW)
plugins, data, out, tiny = sys.argv[1:5]


def train(model, epochs, cancel_at=None):
    IJ.showStatus("")
    result, samples = {}, []
    options = {"family": "stardist", "data": data, "model": model, "epochs": epochs, "steps": 3, "more": tiny}
    thread = threading.Thread(target=lambda: result.update(r=run_macro(plugins + "/Train_Model.ijm", options)))
    thread.start()
    cancelled = None
    while thread.is_alive():
        status = str(ImageJ.getStatusBarText())
        samples.append(status)
        if cancel_at and cancelled is None and cancel_at(status):
            # Plugins > pyfiji-dl > Cancel Job, run as ImageJ runs a menu command (its own thread)
            IJ.runMacroFile(plugins + "/Cancel_Job.ijm")
            cancelled = time.monotonic()
        time.sleep(0.05)
    stopped = time.monotonic() - cancelled if cancelled else None
    r = result["r"]
    return {"samples": sorted(set(samples)), "error": r.error, "log": r.log, "stopped_after": stopped,
            "status": str(ImageJ.getStatusBarText())}


finished = train(out + "/model", 2)
# once the first epoch ended (its checkpoint kept): epoch 2 or any later one, as the status bar
# is sampled and repainted every 50-150 ms, and tiny epochs can be shorter than that
cancelled = train(out + "/cancelled", 100, cancel_at=lambda status: int(
    (re.search(r"epoch (\d+)/", status) or [0, "0"])[1]) >= 2)
print("RESULT " + json.dumps({"finished": finished, "cancelled": cancelled}))
"""


@pytest.mark.imagej
@pytest.mark.display
def test_training_from_imagej_shows_epochs_and_loss_says_where_the_report_is_and_cancels(data, env, tmp_path):
    """Train Model through the worker: epoch, step and loss in the status bar, then the QC
    report's path; a second training stopped with Cancel Job keeps its last epoch."""
    if not os.environ.get("DISPLAY"):
        pytest.skip("needs a display (xvfb-run)")
    from pyfiji_dl.fiji.install import install

    root = tmp_path / "Fiji.app"
    (root / "jars").mkdir(parents=True)
    install(root, command=Path(sys.executable).with_name("pyfiji-dl"))
    run(["worker", "start"], env)
    tiny = "--patch 64 --batch 2 --rays 8 --depth 1 --filters 8 --seed 1"
    done = subprocess.run([sys.executable, "-c", TRAINING_SCRIPT, str(root / "plugins" / "pyfiji-dl"), str(data / "train"),
                           str(tmp_path), tiny], env=env, capture_output=True, text=True, timeout=900)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, done.stdout[-2000:] + done.stderr[-3000:]
    result = json.loads(lines[0][len("RESULT "):])
    finished, cancelled = result["finished"], result["cancelled"]
    assert finished["error"] is None, finished["error"]
    epochs = [s for s in finished["samples"] if s.startswith("pyfiji-dl StarDist training: epoch")]
    assert any("step" in s for s in epochs), finished["samples"]
    assert any("epoch 2/2" in s and "loss=" in s for s in epochs), finished["samples"]  # the first epoch's loss
    report = tmp_path / "model" / "qc" / "index.html"
    assert report.exists() and f"training finished. QC report (open it in a web browser): {report}" in finished["log"]
    assert finished["status"] == f"pyfiji-dl: training finished; QC report: {report}"
    # Cancel Job: stopped within 2 s, the finished epochs kept, how to continue said
    assert cancelled["stopped_after"] is not None and "cancelled" in (cancelled["error"] or ""), cancelled
    assert "--resume" in cancelled["error"]
    state = json.loads((tmp_path / "cancelled" / "training_state.json").read_text())
    assert 1 <= state["epochs_done"] < 100
    assert no_partial_files(tmp_path / "cancelled")
    print(f"Cancel Job -> training stopped in {cancelled['stopped_after']:.2f} s")


def test_tiles_of_a_big_image_are_reported_and_shown(data):
    """StarDist's tiled prediction reports each tile to the listener (the worker's job, which
    shows 'tile 3/4' in Fiji's status bar); nothing is reported when nobody listens."""
    from stardist.data import test_image_nuclei_2d

    from pyfiji_dl import progress
    from pyfiji_dl.data.normalize import normalize_percentile
    from pyfiji_dl.models.stardist import load_model, predict
    from pyfiji_dl.worker.jobs import Job

    model = load_model(data / "model")
    image = normalize_percentile(test_image_nuclei_2d()[:128, :128], 1, 99.8)
    whole, _ = predict(model, image)
    job = Job(["predict"], os.getcwd(), {})
    job.begin()
    seen = []
    with progress.listening(lambda done, total, what: (seen.append((done, total, what)), job.plane_done(done, total, what))):
        tiled, _ = predict(model, image, n_tiles=(2, 2))
    assert seen == [(1, 4, "tile"), (2, 4, "tile"), (3, 4, "tile"), (4, 4, "tile")]
    assert job.status == "predict: tile 4/4" and job.fraction == 1.0
    assert tiled.shape == whole.shape
    # a time-lapse: the tiles of the frame under way count within it
    job.plane_done(1, 4, "frame")
    job.plane_done(2, 4, "tile")
    assert job.status == "predict: frame 1/4, tile 2/4" and job.fraction == pytest.approx(1.5 / 4)


def test_left_behind_temporary_images_are_swept(tmp_path):
    """Folders of images that macros stopped with Esc could not remove: removed once old,
    never when in use, recent, or not only TIFFs, or not named as the macros name them."""
    from pyfiji_dl.worker.server import sweep_temporary_images

    def folder(name, files=("image.tif",), age=7 * 3600):
        path = tmp_path / name
        path.mkdir()
        for file in files:
            (path / file).write_bytes(b"II*\0")
            os.utime(path / file, (time.time() - age,) * 2)
        os.utime(path, (time.time() - age,) * 2)
        return path

    old = folder("pyfiji-dl-1700000000000-123456")
    in_use = folder("pyfiji-dl-1700000000001-1")
    recent = folder("pyfiji-dl-1700000000002-2", age=60)
    other_files = folder("pyfiji-dl-1700000000003-3", files=("image.tif", "notes.txt"))
    other_name = folder("pyfiji-dl-cache")
    removed = sweep_temporary_images({str(in_use)}, folder=tmp_path)
    assert removed == [str(old)] and not old.exists()
    assert all(p.exists() for p in (in_use, recent, other_files, other_name))


def test_model_cache_drops_models_while_the_gpu_holds_too_much():
    """On a GPU the bound is what TensorFlow really holds there (no GPU here: a stand-in
    reading); the newest model is always kept."""
    from pyfiji_dl.worker.models import ModelCache

    held = {"bytes": 0}
    cache = ModelCache(budget=2**40, gpu_bytes=300, gpu_in_use=lambda: held["bytes"])

    def load(name, size):
        def loader():
            held["bytes"] += size
            return name
        return loader

    folders = []
    for name in ("a", "b", "c"):
        folder = Path(tempfile.mkdtemp(prefix=f"model-{name}-"))
        folders.append(folder)
        cache.get(folder, load(name, 200))
        # TensorFlow frees a dropped model's memory once it is collected: here, at once
        held["bytes"] = 200 * len(cache.describe())
    assert [Path(m["model"]) for m in cache.describe()] == [folders[-1].resolve()]
    assert ModelCache(budget=2**40, gpu_bytes=None, gpu_in_use=lambda: None).gpu_budget is None


def test_while_the_worker_trains_other_commands_run_in_their_own_process(data, env, tmp_path):
    """A training may take hours: a command sent meanwhile does not wait in the queue behind
    it, it runs in its own process (and says why)."""
    run(["worker", "start"], env)
    job = _submit(["train", "stardist", "--data", data / "train", "--model", tmp_path / "model", "--epochs", "100",
                   "--steps", "3", "--patch", "64", "--batch", "2", "--rays", "8", "--depth", "1", "--filters", "8"],
                  env)
    _poll(job, stop_when=lambda fields: fields[0] == "running" and "epoch" in fields[2])
    done = run(["predict", data / "model", data / "one", "-o", tmp_path / "out"], env)
    assert "the pyfiji-dl worker is training a model" in done.stderr and "running the command in this process" in done.stderr
    assert (tmp_path / "out" / "masks" / "cells 1.tif").exists()
    (job / "cancel").write_text("")
    _poll(job)
    assert "cancelled" in (job / "result.txt").read_text()
