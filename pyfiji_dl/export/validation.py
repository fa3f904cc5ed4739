"""Offline validation of BioImage Model Zoo packages, with their TensorFlow weights run.

``bioimageio.spec`` checks the description and its files (``perform_io_checks=True``:
presence and SHA-256 of every file, test tensor shapes against the axes, the
documentation). Its status is then ``"valid-format"``; ``"passed"`` needs the weights
run and their test outputs reproduced, which bioimageio.core does, but only with
Keras 3 (``keras.layers.TFSMLayer``): it cannot run TensorFlow 2.15 / Keras 2 weights.
So this module runs them itself, with bioimageio.core's checks and tolerances: each
weights format reproduces the test output from the test input (with the package's
pre- and postprocessing), and takes the smallest valid input and the next size up.

Offline: the spec fetches nothing for a description without URLs (cite entries by
DOI only, no ``git_repo``) and without ``github_user`` names, which is how
:func:`pyfiji_dl.export.bioimageio.export_bioimageio` writes it.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .network import ExportError, call_network

# the valid-size check runs the network at its smallest size; above this, without the halo
SIZE_TEST_BUDGET_BYTES = 256_000_000
# the spec's default reproducibility tolerance (config.bioimageio.reproducibility_tolerance)
RELATIVE_TOLERANCE, ABSOLUTE_TOLERANCE, MISMATCHED_PER_MILLION = 1e-3, 1e-3, 100


class PackageValidationError(ExportError):
    """The written package does not pass validation; nothing was left at the output path."""

    def __init__(self, message: str, report: "ValidationReport | None" = None):
        super().__init__(message)
        self.report = report


@dataclass
class ValidationReport:
    """Outcome of validating a bioimageio package offline.

    The status follows bioimageio's meaning: ``"valid-format"`` when
    ``bioimageio.spec`` accepts the description and its files, ``"passed"`` when
    the model was also run and reproduced its test output, ``"failed"`` otherwise.
    bioimageio.core, which runs models for the status ``"passed"``, needs Keras 3
    (``keras.layers.TFSMLayer``) and cannot run TensorFlow 2.15 / Keras 2 weights, so
    pyfiji_dl runs them itself, with the same checks and tolerances.

    Attributes
    ----------
    status : str
        ``"passed"``, ``"valid-format"`` (weights not run) or ``"failed"``.
    spec_status : str
        ``bioimageio.spec``'s own status (``"valid-format"`` or ``"failed"``).
    format_version : str
    errors, warnings : list of str
        ``location: message`` lines from the validator.
    tests : list of (str, bool, str)
        Dynamic tests run on the weights: name, passed, message.
    reproduced : dict
        Weights format -> largest absolute difference between the test output and
        what those weights compute from the test input (with the package's pre- and
        postprocessing); ``None`` where they could not be run.
    """

    status: str
    spec_status: str
    format_version: str
    errors: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    tests: list = field(default_factory=list)
    reproduced: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def summary(self) -> str:
        """Plain-text lines for the terminal."""
        lines = [f"bioimageio validation (format {self.format_version}, offline): {self.status.upper()} "
                 f"(bioimageio.spec: {self.spec_status}; weights run: "
                 f"{sum(ok for _, ok, _ in self.tests)}/{len(self.tests)} checks passed)"]
        for name, ok, message in self.tests:
            lines.append(f"  {'ok  ' if ok else 'FAIL'} {name}" + (f": {message}" if message else ""))
        lines += [f"  error: {e}" for e in self.errors]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def validate_bioimageio_package(path: str | os.PathLike, *, run_weights: bool = True) -> ValidationReport:
    """Validate a bioimageio package (zip or ``rdf.yaml``) without network access.

    ``bioimageio.spec``'s ``load_description(..., perform_io_checks=True)`` checks the
    format, every file's presence and SHA-256, the test tensors' shapes against the
    axes and the documentation. With ``run_weights``, each TensorFlow weights format
    (Keras HDF5, SavedModel) is also run on the test input with the package's
    pre/postprocessing and must reproduce the test output within the spec's default
    tolerance (relative 1e-3, absolute 1e-3, at most 100 mismatched values per million).

    Offline: nothing is fetched as long as the description names no URL (cite
    entries by DOI only, no ``git_repo``) and no ``github_user``; that is how
    :func:`export_bioimageio` writes it.

    Returns
    -------
    ValidationReport
    """
    _import_spec()
    from bioimageio.spec import load_description

    path = Path(path)
    with _quiet_bioimageio():
        descr = load_description(path, perform_io_checks=True)
    summary = descr.validation_summary
    spec_status = str(summary.status)
    report = ValidationReport(
        status=spec_status,
        spec_status=spec_status,
        format_version=str(getattr(descr, "format_version", summary.format_version)),
        errors=[_entry_text(e) for e in summary.errors],
        warnings=[_entry_text(w) for w in summary.warnings],
    )
    if run_weights and spec_status != "failed":
        _run_weights(path, report)
        report.status = "passed" if report.tests and all(ok for _, ok, _ in report.tests) else "failed"
    return report


def apply_processing(batch: np.ndarray, steps: list) -> np.ndarray:
    """Apply bioimageio 0.5 processing entries to a ``(batch, [z,] y, x, channel)`` array, as the spec defines them.

    Supports the entries pyfiji_dl writes: ``scale_range`` (per sample, over the
    given axes), ``fixed_zero_mean_unit_variance``, ``scale_linear`` and
    ``ensure_dtype``.
    """
    x = np.asarray(batch, dtype=np.float64)
    spatial = tuple(range(1, x.ndim - 1))
    for step in steps:
        kind, kwargs = step["id"], step.get("kwargs", {})
        if kind == "scale_range":
            low = np.percentile(x, kwargs.get("min_percentile", 0.0), axis=spatial, keepdims=True)
            high = np.percentile(x, kwargs.get("max_percentile", 100.0), axis=spatial, keepdims=True)
            x = (x - low) / (high - low + kwargs.get("eps", 1e-6))
        elif kind == "fixed_zero_mean_unit_variance":
            x = (x - np.asarray(kwargs["mean"])) / (np.asarray(kwargs["std"]) + 1e-6)
        elif kind == "scale_linear":
            x = x * np.asarray(kwargs.get("gain", 1.0)) + np.asarray(kwargs.get("offset", 0.0))
        elif kind == "ensure_dtype":
            pass
        else:
            raise ExportError(f"processing step {kind!r} is not supported by pyfiji_dl")
    return x.astype(np.float32)


def _import_spec():
    try:
        import bioimageio.spec as spec
    except ImportError as exc:
        raise ExportError("bioimageio packages need 'bioimageio.spec' (>=0.5.12): "
                          "pip install 'pyfiji_dl[export]'") from exc
    return spec


@contextlib.contextmanager
def _quiet_bioimageio():
    """bioimageio.spec logs every warning through loguru; our report carries them instead."""
    from bioimageio.spec import settings

    previous = settings.log_warnings
    settings.log_warnings = False
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        settings.log_warnings = previous


def _entry_text(entry) -> str:
    loc = ".".join(str(part) for part in getattr(entry, "loc", ()) or ())
    return f"{loc}: {entry.msg}" if loc else str(entry.msg)


def _run_weights(path: Path, report: ValidationReport) -> None:
    """The dynamic tests bioimageio.core runs, for TensorFlow 2 / Keras 2 weights.

    For each weights format: reproduce the test output from the test input (with the
    package's pre/postprocessing; at most 100 values per million may differ by more
    than 1e-3 + 1e-3 * |expected|), and run the smallest valid input and the next
    size up, checking the output shape the description promises.
    """
    with tempfile.TemporaryDirectory(prefix="pyfiji_dl_check_") as tmp:
        folder = _unpacked(path, Path(tmp))
        rdf = _read_rdf(folder)
        inputs, outputs, weights = rdf.get("inputs", []), rdf.get("outputs", []), rdf.get("weights", {})
        if len(inputs) != 1 or len(outputs) != 1:
            report.tests.append(("run weights", False, "only single-input, single-output models can be run"))
            return
        batch = np.load(folder / _source(inputs[0]["test_tensor"]))
        expected = np.load(folder / _source(outputs[0]["test_tensor"]))
        try:
            network_input = apply_processing(batch, inputs[0].get("preprocessing", []))
        except ExportError as exc:
            report.tests.append(("preprocessing", False, str(exc)))
            return
        runners = {"keras_hdf5": _keras_runner, "tensorflow_saved_model_bundle": _saved_model_runner}
        for fmt, make_runner in runners.items():
            if fmt not in weights:
                continue
            name = f"reproduce test output ({fmt})"
            try:
                run = make_runner(folder / _source(weights[fmt]))
                got = apply_processing(run(network_input), outputs[0].get("postprocessing", []))
            except Exception as exc:  # noqa: BLE001 - a failure to run is the finding to report
                report.reproduced[fmt] = None
                report.tests.append((name, False, f"could not run the weights ({exc})"))
                continue
            if got.shape != expected.shape:
                report.reproduced[fmt] = None
                report.tests.append((name, False, f"output shape {got.shape}, test output {expected.shape}"))
                continue
            difference = np.abs(got.astype(np.float64) - expected)
            report.reproduced[fmt] = float(difference.max()) if difference.size else 0.0
            mismatched = np.count_nonzero(difference > ABSOLUTE_TOLERANCE + RELATIVE_TOLERANCE * np.abs(expected))
            ok = mismatched * 1e6 <= MISMATCHED_PER_MILLION * max(expected.size, 1)
            report.tests.append((name, ok, f"largest difference {report.reproduced[fmt]:.2g}"
                                 + ("" if ok else f", {mismatched} of {expected.size} values outside tolerance")))
            report.tests.append(_sizes_test(fmt, run, inputs[0], outputs[0]))


def _sizes_test(fmt: str, run, input_descr: dict, output_descr: dict) -> tuple:
    """Run the smallest valid input and the next size up; the output must have the promised shape."""
    name = f"run valid input sizes ({fmt})"
    spatial = [a for a in input_descr["axes"] if a.get("type") == "space"]
    channels = next((len(a["channel_names"]) for a in input_descr["axes"] if a.get("type") == "channel"), 1)
    out_channels = next((len(a["channel_names"]) for a in output_descr["axes"] if a.get("type") == "channel"), 1)
    minimum = [a["size"]["min"] if isinstance(a["size"], dict) else a["size"] for a in spatial]
    steps = [a["size"]["step"] if isinstance(a["size"], dict) else 0 for a in spatial]
    halos = [next((o.get("halo", 0) for o in output_descr["axes"] if o.get("id") == a["id"]), 0) for a in spatial]
    if np.prod(minimum) * max(channels, out_channels) * 4 > SIZE_TEST_BUDGET_BYTES:
        # the smallest size with its halo is too big to run here (large 3D networks):
        # test the same divisibility on sizes without the halo, as the test tensors do
        minimum = [max(s, m - 2 * h) if s else m for m, s, h in zip(minimum, steps, halos)]
    tried = []
    for n in (0, 1):
        sizes = [m + n * s for m, s in zip(minimum, steps)]
        batch = np.random.default_rng(n).random((1, *sizes, channels), dtype=np.float32)
        try:
            result = run(batch)
        except Exception as exc:  # noqa: BLE001
            return name, False, f"input {tuple(sizes)}: {exc}"
        if result.shape != (1, *sizes, out_channels):
            return name, False, f"input {tuple(sizes)} gave output {result.shape}"
        tried.append("x".join(map(str, sizes)))
    return name, True, ", ".join(tried)


def _keras_runner(path: Path):
    import tensorflow as tf

    from ..models.training import quiet_keras

    with quiet_keras():
        model = tf.keras.models.load_model(str(path), compile=False)

    def run(batch):
        return call_network(model, batch)

    return run


def _saved_model_runner(path: Path):
    import tensorflow as tf

    from .network import INPUT_NAME, OUTPUT_NAME, SIGNATURE_KEY

    folder = path.parent / f"_{path.stem}_unzipped"
    with zipfile.ZipFile(path) as archive:
        archive.extractall(folder)
    function = tf.saved_model.load(str(folder)).signatures[SIGNATURE_KEY]

    def run(batch):
        result = function(**{INPUT_NAME: tf.constant(np.asarray(batch, np.float32))})[OUTPUT_NAME]
        return np.asarray(result.numpy(), np.float32)

    return run


def _source(entry) -> str:
    return entry["source"] if isinstance(entry, dict) else str(entry)


def _unpacked(path: Path, target: Path) -> Path:
    if path.is_dir():
        return path
    if path.name.endswith((".yaml", ".yml")):
        return path.parent
    with zipfile.ZipFile(path) as archive:
        archive.extractall(target)
    return target


def _read_rdf(folder: Path) -> dict:
    import yaml

    for name in ("rdf.yaml", "bioimageio.yaml", "model.yaml"):
        if (folder / name).exists():
            return yaml.safe_load((folder / name).read_text(encoding="utf-8"))
    found = sorted(folder.glob("*.bioimageio.yaml"))
    if found:
        return yaml.safe_load(found[0].read_text(encoding="utf-8"))
    raise ExportError(f"{folder}: no rdf.yaml")
