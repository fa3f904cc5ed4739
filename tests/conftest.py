import os
import shutil

import pytest


def _imagej_available():
    from pyfiji_dl.fiji.locate import ImageJNotFoundError, locate_imagej

    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return False, "no Java runtime"
    try:
        locate_imagej()
    except ImageJNotFoundError as exc:
        return False, str(exc)
    return True, ""


@pytest.fixture(scope="session")
def ij():
    """Real ImageJ 1.x in this process; returns ``jimport`` for its classes.

    The tests use ImageJ as the oracle: what it decodes and fills is the truth.
    """
    ok, why = _imagej_available()
    if not ok:
        if os.environ.get("CI"):
            pytest.fail(f"ImageJ is required in CI: {why}")
        pytest.skip(f"ImageJ not available: {why}")
    from pyfiji_dl.fiji import jvm

    jvm.start_imagej()
    return jvm.jimport
