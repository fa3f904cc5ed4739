"""``pyfiji-dl doctor``: what this machine has, and what to do about what it lacks."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata

REQUIRED_PACKAGES = ("numpy", "tifffile", "roifile", "numba", "scipy", "scikit-image", "scyjava", "JPype1", "tqdm")
DL_PACKAGES = ("tensorflow", "csbdeep", "stardist", "n2v")
OPTIONAL_PACKAGES = ("pyimagej", "matplotlib")


@dataclass
class Check:
    """One line of the doctor's report."""

    name: str
    ok: bool
    detail: str
    hint: str = ""
    required: bool = True

    def line(self) -> str:
        mark = "ok " if self.ok else ("MISSING" if self.required else "note")
        text = f"[{mark:^7}] {self.name}: {self.detail}"
        if not self.ok and self.hint:
            text += "\n          -> " + self.hint.replace("\n", "\n             ")
        return text


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def python_advice() -> str:
    """What to install where the Python is too new or too old; the same text
    scripts/find-python.sh prints when `make` finds no usable Python."""
    from pathlib import Path

    return (Path(__file__).with_name("python_advice.txt")).read_text().strip()


def check_python() -> Check:
    ok = sys.version_info[:2] in ((3, 10), (3, 11))
    return Check("Python", ok, f"{platform.python_version()} at {sys.executable}",
                 "" if ok else python_advice())


def check_packages() -> list[Check]:
    checks = []
    for dist in REQUIRED_PACKAGES:
        version = _version(dist)
        checks.append(Check(f"package {dist}", version is not None, version or "not installed",
                            "Run 'make install' in the pyfiji_dl folder (by hand: pip install -c requirements.lock -e .)."))
    for dist in DL_PACKAGES:
        version = _version(dist)
        checks.append(Check(f"package {dist}", version is not None, version or "not installed",
                            "Training needs the deep-learning stack: pip install -e '.[dl]'."))
    for dist in OPTIONAL_PACKAGES:
        version = _version(dist)
        checks.append(Check(f"package {dist}", version is not None, version or "not installed",
                            f"pip install {dist}", required=False))
    return checks


def check_tensorflow() -> Check:
    if _version("tensorflow") is None:
        return Check("TensorFlow devices", False, "TensorFlow not installed",
                     "pip install -e '.[dl]' (or '.[gpu]' on an NVIDIA machine).")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # hide CUDA plugin chatter
    try:
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        built_cuda = tf.test.is_built_with_cuda()
    except Exception as exc:  # a broken CUDA install raises at import
        return Check("TensorFlow devices", False, f"TensorFlow fails to start: {exc}",
                     "Reinstall: pip install --force-reinstall tensorflow==2.15.1")
    if gpus:
        return Check("TensorFlow devices", True, f"{len(gpus)} GPU(s): " + ", ".join(g.name for g in gpus))
    hint = ("No GPU visible: training runs on the CPU. On an NVIDIA machine install "
            "'tensorflow[and-cuda]==2.15.1' and check nvidia-smi.")
    detail = "CPU only" + ("" if built_cuda else " (this TensorFlow build has no CUDA)")
    return Check("TensorFlow devices", False, detail, hint, required=False)


def check_java() -> Check:
    java_home = os.environ.get("JAVA_HOME")
    java = os.path.join(java_home, "bin", "java") if java_home else shutil.which("java")
    if not java or not os.path.exists(java):
        return Check("Java", False, "no java found (JAVA_HOME unset, none on PATH)",
                     "Install a Java runtime: Debian/Ubuntu 'sudo apt-get install default-jre-headless', "
                     "conda 'conda install openjdk=17'.")
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
        first = (out.stderr or out.stdout).splitlines()[0]
    except (OSError, subprocess.TimeoutExpired, IndexError) as exc:
        return Check("Java", False, f"{java} does not run ({exc})", "Reinstall Java.")
    return Check("Java", True, f"{first} ({java})")


def check_imagej(fiji: str | None = None, start: bool = True) -> Check:
    from .fiji.locate import ImageJNotFoundError, locate_imagej

    try:
        found = locate_imagej(fiji)
    except ImageJNotFoundError as exc:
        return Check("ImageJ/Fiji", False, "not found", str(exc))
    if not start:
        return Check("ImageJ/Fiji", True, found.describe())
    try:
        from .fiji import jvm

        jvm.start_imagej(found)
        version = str(jvm.jimport("ij.IJ").getFullVersion())
    except Exception as exc:  # noqa: BLE001 - report whatever the JVM says
        return Check("ImageJ/Fiji", False, f"{found.describe()} did not start: {exc}",
                     "Check Java (above) and the ImageJ path; set PYFIJI_DL_IJ_JAR or PYFIJI_DL_FIJI.")
    from .fiji.imagej_version import FIJI_IMAGEJ, parse_imagej_version

    try:
        parsed = parse_imagej_version(version)
    except ValueError:  # an ImageJ that spells its version differently: report it as it is
        return Check("ImageJ/Fiji", True, f"ImageJ {version}: {found.describe()}")
    detail = (f"ImageJ {parsed}: {found.describe()}; sessions with it fill ROIs and threshold as ImageJ "
              f"{parsed} does (commands: as {FIJI_IMAGEJ} unless --imagej); ROI Manager: "
              f"{parsed.roi_manager_rule()}")
    if parsed < FIJI_IMAGEJ:
        return Check("ImageJ/Fiji", False, detail,
                     f"Current Fiji runs ImageJ {FIJI_IMAGEJ}; to match it, set PYFIJI_DL_FIJI to your "
                     "Fiji folder (or PYFIJI_DL_IJ_JAR to its jars/ij-*.jar).", required=False)
    return Check("ImageJ/Fiji", True, detail)


def check_display() -> Check:
    display = os.environ.get("DISPLAY")
    xvfb = shutil.which("Xvfb") or shutil.which("xvfb-run")
    if display:
        return Check("display", True, f"DISPLAY={display} (ROI Manager available)", required=False)
    detail = "no DISPLAY: plain ImageJ has no ROI Manager headless; Overlays and ROI zips still work"
    hint = ("Run under a virtual display: 'xvfb-run -a pyfiji-dl ...'" if xvfb
            else "Install a virtual display: 'sudo apt-get install xvfb xauth', then use 'xvfb-run -a'.")
    return Check("display", False, detail, hint, required=False)


def check_worker() -> Check:
    """The warm worker's state (it is optional: commands run in-process without it)."""
    from .worker.client import status_summary

    try:
        _, detail = status_summary()
    except Exception as exc:  # noqa: BLE001 - the doctor reports, it does not fail
        return Check("worker", False, f"cannot tell: {exc}",
                     "'pyfiji-dl worker stop', or turn it off with PYFIJI_DL_WORKER=off", required=False)
    return Check("worker", True, detail, required=False)


def run_doctor(fiji: str | None = None, start_imagej: bool = True) -> int:
    """Print the report; return 0 when every required part is present, else 1."""
    checks = [check_python(), *check_packages(), check_tensorflow(), check_java(),
              check_imagej(fiji, start=start_imagej), check_display(), check_worker()]
    print(f"pyfiji-dl doctor (pyfiji_dl {_version('pyfiji_dl') or 'source tree'}, {platform.platform()})")
    for check in checks:
        print(check.line())
    missing = [c for c in checks if c.required and not c.ok]
    if missing:
        print(f"\n{len(missing)} required part(s) missing: " + ", ".join(c.name for c in missing))
        return 1
    print("\nEverything pyfiji-dl needs is here.")
    return 0
