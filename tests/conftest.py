import os
import shutil
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
