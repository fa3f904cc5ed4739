import faulthandler
import os
import signal
import shutil
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

import pytest

# Commands in the test suite run in the test's own process (or the subprocess it starts),
# not in a long-lived worker that would outlive the test; tests/test_worker.py turns the
# worker on where it is the subject.
os.environ.setdefault("PYFIJI_DL_WORKER", "off")

# `make test` runs the suite twice: everything against ImageJ 1.54p (the ImageJ 1.x of
# current Fiji, fetched from Maven Central by scripts/fetch-test-artifacts.sh), then the
# ImageJ-exactness tests against Debian's ImageJ 1.53t. One JVM per process, so one ImageJ
# per pytest run: --imagej-jar picks it (also for the pyfiji-dl subprocesses the tests start).


def pytest_addoption(parser):
    parser.addoption(
        "--imagej-jar", default=None, metavar="JAR",
        help="the ij.jar the ImageJ-backed tests use as oracle (sets PYFIJI_DL_IJ_JAR); "
             "when it is absent those tests are skipped with the reason",
    )


def pytest_configure(config):
    jar = config.getoption("--imagej-jar")
    if jar:
        config._imagej_jar_missing = None
        if Path(jar).expanduser().is_file():
            os.environ["PYFIJI_DL_IJ_JAR"] = str(Path(jar).expanduser())
        else:
            config._imagej_jar_missing = (
                f"--imagej-jar {jar} is absent (fetched by scripts/fetch-test-artifacts.sh; "
                "Debian's is /usr/share/java/ij.jar from libij-java)"
            )


def pytest_collection_modifyitems(config, items):
    missing = getattr(config, "_imagej_jar_missing", None)
    if missing and not os.environ.get("CI"):
        skip = pytest.mark.skip(reason=f"ImageJ not available: {missing}")
        for item in items:
            if "imagej" in item.keywords:
                item.add_marker(skip)


# A stuck test (a dialog nobody closes, a lock, a child that never answers) must not hold the
# run until CI's own time limit kills it with only pytest's frames in view. After this long
# the watchdog prints every thread's stack, the stuck test's own frames and its child
# processes, names the test last (CI shows the tail of the output) and ends the run.
# The slowest test takes ~30 s on an idle 2-core machine.
STUCK_AFTER_S = float(os.environ.get("PYFIJI_DL_TEST_STUCK_AFTER_S", 600))


# Python children (Dask workers, command-line runs) print every thread's stack on SIGABRT, so
# a stuck child shows where it is too
os.environ.setdefault("PYTHONFAULTHANDLER", "1")


def _descendants() -> list:
    """(pid, ppid, elapsed, args) of this process's children, grandchildren, ..."""
    table = subprocess.run(["ps", "-eo", "pid=,ppid=,etime=,args="], capture_output=True, text=True).stdout
    rows = [row for row in (line.split(None, 3) for line in table.splitlines())
            if len(row) == 4 and not row[3].startswith("ps -eo")]
    descendants, parents = [], {os.getpid()}
    for _ in range(8):
        found = [row for row in rows if int(row[1]) in parents and row not in descendants]
        descendants += found
        parents |= {int(row[0]) for row in found}
    return descendants


# set while the watchdog reports: a test freed by its aborted child waits for the report's end
_REPORTING = threading.Event()


def _report_stuck_test(nodeid: str, main_thread_id: int, capture_manager) -> None:
    _REPORTING.set()
    # pytest holds file descriptors 1 and 2 while a test runs: give them back, keep what the test printed
    captured = ("", "")
    if capture_manager is not None:
        capture_manager.suspend_global_capture()
        captured = capture_manager.read_global_capture()
    err = sys.__stderr__
    for name, text in zip(("stdout", "stderr"), captured):
        if text.strip():
            print(f"\n*** the test's {name} so far (last 3000 characters):\n{text[-3000:]}", file=err)
    print(f"\n\n*** {nodeid} has run for {STUCK_AFTER_S:.0f} s; every thread:", file=err, flush=True)
    faulthandler.dump_traceback(file=err, all_threads=True)
    frame = sys._current_frames().get(main_thread_id)
    if frame is not None:
        ours = [entry for entry in traceback.extract_stack(frame)
                if not entry.filename.startswith("<") and "/site-packages/" not in entry.filename
                and "/lib/python3" not in entry.filename]
        print("*** where the test is (its own and pyfiji_dl's frames):", file=err)
        print("".join(traceback.format_list(ours)), end="", file=err, flush=True)
    descendants = _descendants()
    pythons = [int(pid) for pid, _, _, args in descendants if "python" in args.split(None, 1)[0]]
    for pid in pythons:  # faulthandler prints their stacks to their standard error, still pytest's capture
        try:
            os.kill(pid, signal.SIGABRT)
        except OSError:
            pass
    if pythons and capture_manager is not None:
        time.sleep(3)
        children_err = "".join(capture_manager.read_global_capture())
        print(f"*** its Python children's stacks (SIGABRT; last 12000 characters):\n{children_err[-12000:]}",
              file=err)
    print("*** its child processes (killed now, so none keeps the run's output open):", file=err)
    for pid, _ppid, elapsed, args in descendants:
        print(f"  {pid} {elapsed} {args[:200]}", file=err)
        try:
            os.kill(int(pid), 9)
        except OSError:
            pass
    print(f"*** STUCK: {nodeid} (ran {STUCK_AFTER_S:.0f} s); the test run ends here", file=err, flush=True)
    os._exit(70)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    watchdog = threading.Timer(STUCK_AFTER_S, _report_stuck_test, (
        item.nodeid, threading.get_ident(), item.config.pluginmanager.getplugin("capturemanager")))
    watchdog.daemon = True
    watchdog.start()
    try:
        yield
    finally:
        watchdog.cancel()
        while _REPORTING.is_set():  # the watchdog ends the run (os._exit) when its report is printed
            time.sleep(1)


def pytest_report_header(config):
    jar = config.getoption("--imagej-jar") or os.environ.get("PYFIJI_DL_IJ_JAR")
    return f"ImageJ oracle: {jar or 'located as the product locates it (pyfiji_dl.fiji.locate)'}"


def _imagej_available(config):
    from pyfiji_dl.fiji.locate import ImageJNotFoundError, locate_imagej

    missing = getattr(config, "_imagej_jar_missing", None)
    if missing:
        return False, missing
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return False, "no Java runtime"
    try:
        locate_imagej()
    except ImageJNotFoundError as exc:
        return False, str(exc)
    return True, ""


@pytest.fixture(scope="session")
def ij(pytestconfig):
    """Real ImageJ 1.x in this process; returns ``jimport`` for its classes.

    The tests use ImageJ as the oracle: what it decodes and fills is the truth.
    """
    ok, why = _imagej_available(pytestconfig)
    if not ok:
        if os.environ.get("CI"):
            pytest.fail(f"ImageJ is required in CI: {why}")
        pytest.skip(f"ImageJ not available: {why}")
    from pyfiji_dl.fiji import jvm

    jvm.start_imagej()
    return jvm.jimport


@pytest.fixture(scope="session")
def imagej_version(ij):
    """The running ImageJ's version, whose rules the exactness tests expect."""
    from pyfiji_dl.fiji.imagej_version import running_version

    return running_version()


@pytest.fixture(scope="session")
def stardist_model(tmp_path_factory):
    """A tiny StarDist model (seconds to train) for the tests of the Fiji commands and scripts."""
    from stardist.data import test_image_nuclei_2d

    from pyfiji_dl.cli import main
    from pyfiji_dl.io.tiff import write_imagej_tiff, write_label_image

    image, labels = test_image_nuclei_2d(return_mask=True)
    data = tmp_path_factory.mktemp("sd_data")
    for i, (y, x) in enumerate([(0, 0), (0, 256), (256, 0)]):
        write_imagej_tiff(data / "images" / f"f{i}.tif", image[y:y + 128, x:x + 128], "YX")
        write_label_image(data / "masks" / f"f{i}.tif", labels[y:y + 128, x:x + 128], "YX")
    model = tmp_path_factory.mktemp("sd_models") / "tiny"
    assert main(["train", "stardist", "--data", str(data), "--model", str(model), "--epochs", "1", "--steps", "2",
                 "--patch", "64", "--batch", "2", "--rays", "8", "--depth", "1", "--filters", "8", "--quiet"]) == 0
    return model
