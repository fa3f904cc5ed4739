"""The Java runtimes that load exported models, as test oracles.

The StarDist and CSBDeep Fiji plugins run TensorFlow for Java 1.15 (``libtensorflow`` +
``libtensorflow_jni``); deepImageJ 3 runs TensorFlow SavedModels through JDLL's TensorFlow 2
engine, TensorFlow for Java 0.5.0 (TensorFlow 2.10.1). The harness programs in
``tests/java/`` load a SavedModel as those consumers do (``SavedModelBundle.load(dir,
"serve")``, the ``serving_default`` signature read from the MetaGraphDef, first input fed and
first output fetched by operation name) and write the output as ``.npy``.

:func:`consumer` compiles a harness with the JDK once (into a cache folder named after the
sources and the class path) against the jars in Maven's cache, where
``scripts/fetch-test-artifacts.sh`` puts them (``tests/java/artifacts.txt``), and raises
:class:`ConsumerUnavailable` with the reason when the JDK or a jar is missing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

JAVA_DIR = Path(__file__).resolve().parent / "java"
ARTIFACT_LIST = JAVA_DIR / "artifacts.txt"

# group:artifact:version[:packaging[:classifier]], as in tests/java/artifacts.txt
RUNTIMES = {
    "tf1.15": {
        "title": "TensorFlow for Java 1.15 (StarDist / CSBDeep Fiji plugins)",
        "main": "RunSavedModelTF1",
        "sources": ("Npy.java", "tf1/RunSavedModelTF1.java"),
        "artifacts": ("org.tensorflow:libtensorflow:1.15.0", "org.tensorflow:libtensorflow_jni:1.15.0",
                      "org.tensorflow:proto:1.15.0", "com.google.protobuf:protobuf-java:3.5.1"),
    },
    "tf2.10": {
        "title": "TensorFlow for Java 0.5.0 = TensorFlow 2.10.1 (deepImageJ 3 / JDLL)",
        "main": "RunSavedModelTF2",
        "sources": ("Npy.java", "tf2/RunSavedModelTF2.java"),
        "artifacts": ("org.tensorflow:tensorflow-core-api:0.5.0",
                      "org.tensorflow:tensorflow-core-api:0.5.0:jar:linux-x86_64",
                      "org.tensorflow:ndarray:0.4.0", "org.bytedeco:javacpp:1.5.8",
                      "org.bytedeco:javacpp:1.5.8:jar:linux-x86_64", "com.google.protobuf:protobuf-java:3.19.4"),
    },
}
RUN_TIMEOUT_SECONDS = 600


class ConsumerUnavailable(RuntimeError):
    """No JDK or a missing jar: the reason a test skips."""


@dataclass
class ConsumerResult:
    """What one model gave in a Java runtime.

    Attributes
    ----------
    ok : bool
    tensorflow_version : str
        ``TensorFlow.version()`` inside the JVM.
    output : ndarray or None
    load_seconds, run_seconds : float or None
        ``SavedModelBundle.load`` and one session run, timed inside the JVM.
    error : str
        The runtime's exception when ``ok`` is false.
    """

    ok: bool
    tensorflow_version: str
    output: np.ndarray | None
    load_seconds: float | None
    run_seconds: float | None
    error: str = ""


def maven_repository() -> Path:
    return Path(os.environ.get("MAVEN_REPO") or Path.home() / ".m2" / "repository")


def jar_path(coordinate: str) -> Path:
    """Where Maven keeps ``group:artifact:version[:packaging[:classifier]]``."""
    parts = coordinate.split(":")
    group, artifact, version = parts[:3]
    packaging = parts[3] if len(parts) > 3 and parts[3] else "jar"
    classifier = f"-{parts[4]}" if len(parts) > 4 and parts[4] else ""
    return maven_repository().joinpath(*group.split("."), artifact, version,
                                       f"{artifact}-{version}{classifier}.{packaging}")


def listed_artifacts() -> set:
    lines = (line.split("#", 1)[0].strip() for line in ARTIFACT_LIST.read_text().splitlines())
    return {line for line in lines if line}


class Consumer:
    """A compiled harness for one runtime; :meth:`run` feeds it models."""

    def __init__(self, name: str, classpath: list, classes: Path):
        self.name = name
        self.title = RUNTIMES[name]["title"]
        self.main = RUNTIMES[name]["main"]
        self.classpath = [classes, *classpath]

    def run(self, jobs: list) -> list:
        """Run ``(saved_model_dir, input_array)`` pairs in one JVM, in order.

        Returns
        -------
        list of ConsumerResult
        """
        with tempfile.TemporaryDirectory(prefix="pyfiji_dl_consumer_") as tmp:
            args = []
            for i, (model_dir, batch) in enumerate(jobs):
                np.save(Path(tmp) / f"in{i}.npy", np.ascontiguousarray(batch, dtype="<f4"))
                args += [str(model_dir), str(Path(tmp) / f"in{i}.npy"), str(Path(tmp) / f"out{i}.npy")]
            command = [shutil.which("java"), "-Xmx2g", "-cp", os.pathsep.join(map(str, self.classpath)),
                       self.main, *args]
            env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "OMP_NUM_THREADS": "1"}
            finished = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS, env=env)
            records = [json.loads(line) for line in finished.stdout.splitlines() if line.startswith("{")]
            if finished.returncode != 0 or len(records) != len(jobs):
                raise RuntimeError(f"{self.main} exited with {finished.returncode} after {len(records)} of "
                                   f"{len(jobs)} models:\n{finished.stderr[-4000:]}")
            results = []
            for i, record in enumerate(records):
                output = np.load(Path(tmp) / f"out{i}.npy") if record["ok"] else None
                results.append(ConsumerResult(
                    ok=record["ok"], tensorflow_version=record["tensorflow_version"], output=output,
                    load_seconds=record.get("load_ms", 0) / 1000 if record["ok"] else None,
                    run_seconds=record.get("run_ms", 0) / 1000 if record["ok"] else None,
                    error=record.get("error", "")))
            return results


def consumer(name: str, cache_dir: str | os.PathLike | None = None) -> Consumer:
    """The harness of runtime ``name`` (``"tf1.15"`` or ``"tf2.10"``), compiled once.

    Raises
    ------
    ConsumerUnavailable
        No ``java``/``javac``, or a jar of the runtime is not in Maven's cache.
    """
    spec = RUNTIMES[name]
    missing_from_list = set(spec["artifacts"]) - listed_artifacts()
    if missing_from_list:  # a bug in this file, not a missing download
        raise AssertionError(f"{sorted(missing_from_list)} are not listed in {ARTIFACT_LIST}")
    java, javac = shutil.which("java"), shutil.which("javac")
    if java is None or javac is None:
        raise ConsumerUnavailable(f"{spec['title']}: no JDK (java and javac on PATH) to compile the harness")
    jars = [jar_path(c) for c in spec["artifacts"]]
    absent = [str(j) for j in jars if not j.is_file()]
    if absent:
        raise ConsumerUnavailable(f"{spec['title']}: {', '.join(absent)} missing; run "
                                  "scripts/fetch-test-artifacts.sh (make test does) with Maven Central reachable")
    sources = [JAVA_DIR / s for s in spec["sources"]]
    digest = hashlib.sha256()
    for path in sources:
        digest.update(path.read_bytes())
    digest.update(os.pathsep.join(map(str, jars)).encode())
    cache = Path(cache_dir or os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pyfiji_dl-tests"
    classes = cache / "java-consumers" / f"{name}-{digest.hexdigest()[:16]}"
    if not (classes / f"{spec['main']}.class").exists():
        classes.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{classes.name}-", dir=classes.parent))
        compiled = subprocess.run([javac, "-encoding", "UTF-8", "-d", str(staging), "-cp",
                                   os.pathsep.join(map(str, jars)), *map(str, sources)],
                                  capture_output=True, text=True, timeout=300)
        if compiled.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            raise RuntimeError(f"javac failed for {spec['main']}:\n{compiled.stderr}")
        try:
            os.rename(staging, classes)
        except OSError:  # another process compiled it first
            shutil.rmtree(staging, ignore_errors=True)
    return Consumer(name, jars, classes)


def largest_difference(got: np.ndarray, expected: np.ndarray) -> tuple:
    """Largest absolute difference, and the output range (max - min of ``expected``) it is measured against."""
    difference = float(np.max(np.abs(np.asarray(got, np.float64) - np.asarray(expected, np.float64))))
    return difference, float(np.max(expected) - np.min(expected))

