"""``pyfiji-dl export --format bioimageio``: a BioImage Model Zoo package (format 0.5).

One zip that deepImageJ (Fiji), the bioimage.io tools and ``pyfiji-dl predict`` all
read:

* ``rdf.yaml`` (written and validated by ``bioimageio.spec``), format 0.5;
* weights twice: Keras HDF5 (whole model) and a zipped TensorFlow SavedModel
  (frozen graph, signature ``serving_default``: ``input`` -> ``output``);
* test tensors (``.npy``) made by running the network on a real image when one is
  at hand (the training data named in ``provenance.json``), the cover picture
  (input | output), a README from the model card with QC figures, training
  history and citations;
* pre/postprocessing in the spec's terms: percentile ``scale_range`` (StarDist,
  CARE, U-Net), ``fixed_zero_mean_unit_variance`` + ``scale_linear`` (Noise2Void);
* ``config.stardist`` (as StarDist's own exporter writes it), ``config.deepimagej``
  with ImageJ macros for the pre/postprocessing, ``config.pyfiji_dl`` (the card);
* the model folder's own files as attachments (``pyfiji_dl.json``,
  ``config.json``, ``thresholds.json``, ``weights_best.h5``), so that
  :func:`pyfiji_dl.models.source.open_model_source` turns the zip back into a
  model folder that predicts exactly as the original.

The package is validated offline before it is moved into place
(:mod:`pyfiji_dl.export.validation`): ``bioimageio.spec`` with ``perform_io_checks=True``
(file hashes, test tensors, documentation), then both weights formats run on the test
input. The description holds no URL and no GitHub user name, the only fields the
validator would look up on the network.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import __version__, families
from ..io.atomic import atomic_path
from ..families.exporting import PREPROCESSING_MACRO, Processing
from ..models.source import FORMAT_MARKER
from .network import (OLDEST_PROVEN_TENSORFLOW, PROVEN_RUNTIMES, ExportError, ExportableModel, load_exportable,
                      write_saved_model_zip)
from .validation import (PackageValidationError, ValidationReport, _entry_text, _import_spec, _quiet_bioimageio,
                         apply_processing, validate_bioimageio_package)

MODEL_FOLDER_FILES = ("pyfiji_dl.json", "config.json", "thresholds.json", "weights_best.h5")
KERAS_FILE = "keras_model.h5"
SAVED_MODEL_FILE = "tf_saved_model.zip"
TEST_INPUT, TEST_OUTPUT = "test_input.npy", "test_output.npy"
SAMPLE_INPUT, SAMPLE_OUTPUT = "sample_input_0.tif", "sample_output_0.tif"
COVER, README = "cover.png", "README.md"
# test outputs stay small: the package carries them, and StarDist's have 1 + n_rays channels
TEST_OUTPUT_BUDGET_BYTES = 4_000_000
TEST_SIZE_CAP_2D = 256

# The package format's own paper; each family's papers come from its declaration
# (pyfiji_dl.families).
DEEPIMAGEJ_PAPER = ("Gomez-de-Mariscal et al. DeepImageJ: A user-friendly environment to run deep learning models "
                    "in ImageJ. Nature Methods 18, 1192-1195 (2021).", "10.1038/s41592-021-01262-9")


@dataclass
class BioimageioExport:
    """What :func:`export_bioimageio` wrote; usable as a path (``os.fspath``).

    Attributes
    ----------
    path : Path
    validation : ValidationReport
    note : str
        Lines to print: where the package is, the validation summary, how to use it.
    seconds : float
    size_bytes : int
    """

    path: Path
    validation: ValidationReport
    note: str
    seconds: float
    size_bytes: int

    def __fspath__(self) -> str:
        return os.fspath(self.path)


# --- public API -------------------------------------------------------------------------

def export_bioimageio(
    model_dir: str | os.PathLike,
    out_zip: str | os.PathLike,
    *,
    name: str | None = None,
    authors: list | None = None,
    license: str = "CC-BY-4.0",
    description: str | None = None,
    tags: list | None = None,
    test_image=None,
    overwrite: bool = True,
) -> BioimageioExport:
    """Write and validate a BioImage Model Zoo package (format 0.5) of a model folder.

    Parameters
    ----------
    model_dir : path-like
        A model folder written by ``pyfiji-dl train``.
    out_zip : path-like
        The package to write (conventionally ``NAME.bioimageio.zip``); written
        atomically, so a failed export leaves no file.
    name : str, optional
        Model name (letters, digits, spaces, ``_+-()``); default: the folder name.
    authors : list of str or dict, optional
        People who trained the model: names, or dicts with ``name`` and optionally
        ``affiliation``, ``email``, ``orcid``. (``github_user`` is left out: checking
        it needs the network.) Default: one author "pyfiji_dl user".
    license : str
        SPDX licence identifier of the weights, default ``CC-BY-4.0``.
    description : str, optional
        One-line description; default from the model card.
    tags : list of str, optional
        Extra tags.
    test_image : path-like or ndarray, optional
        Image for the test tensors and cover (a TIFF, or an array laid out as the
        model takes it: ``[Z,] Y, X[, C]``). Default: the first training image named
        in ``provenance.json`` that still exists, else a synthetic image.
    overwrite : bool

    Returns
    -------
    BioimageioExport
        ``.path``, ``.validation`` (:class:`ValidationReport`), ``.note`` (text to
        print), ``.seconds``, ``.size_bytes``.

    Raises
    ------
    PackageValidationError
        The package failed offline validation (its report is attached); no file written.
    ExportError
        ``bioimageio.spec`` missing, or a model this version cannot export.
    pyfiji_dl.models.card.ModelFolderError
        Not a model folder.
    """
    started = time.perf_counter()
    _import_spec()  # fail early, before any work, when bioimageio.spec is missing
    model_dir, out_zip = Path(model_dir), Path(out_zip)
    if out_zip.suffix.lower() != ".zip":
        raise ExportError(f"{out_zip}: a bioimageio package is a .zip file; name it e.g. {out_zip.stem}.bioimageio.zip")
    if not overwrite and out_zip.exists():
        raise FileExistsError(f"{out_zip} exists; remove it or choose another output name.")
    exportable = load_exportable(model_dir)
    notes = list(exportable.notes)
    processing = _family(exportable).export_processing(exportable)

    raw, image_origin, calibration = _test_image(exportable, test_image, notes)
    raw = _family(exportable).prepare_outside_format(exportable, raw)
    batch = raw[np.newaxis].astype(np.float32)
    network_input = apply_processing(batch, processing.pre)
    t0 = time.perf_counter()
    network_output = exportable.predict(network_input)
    runtime = time.perf_counter() - t0
    test_output = apply_processing(network_output, processing.post)

    with tempfile.TemporaryDirectory(prefix="pyfiji_dl_bioimageio_") as staging_name:
        staging = Path(staging_name)
        np.save(staging / TEST_INPUT, batch)
        np.save(staging / TEST_OUTPUT, test_output)
        _save_keras(exportable.network, staging / KERAS_FILE)
        write_saved_model_zip(exportable.network, staging / SAVED_MODEL_FILE, n_channels=exportable.n_channels)
        _write_samples(staging, exportable, batch[0], test_output[0], calibration)
        _write_cover(staging / COVER, exportable, batch[0], network_input[0], test_output[0])
        attachments = _copy_attachments(exportable.model_dir, staging)
        macros = _write_macros(staging, processing)
        attachments += macros
        rdf_name = _valid_name(name or exportable.model_dir.name)
        readme = _readme(exportable, processing, rdf_name, description, image_origin, runtime, batch.shape)
        (staging / README).write_text(readme, encoding="utf-8")
        rdf = _rdf(exportable, processing, name=rdf_name, authors=_authors(authors, notes), license=license,
                   description=description or _default_description(exportable), tags=tags,
                   attachments=attachments, runtime=runtime, calibration=calibration,
                   input_shape=batch.shape, output_shape=test_output.shape)
        descr = _build(rdf, staging)

        with atomic_path(out_zip, overwrite=overwrite) as tmp:
            _package(descr, tmp)
            report = validate_bioimageio_package(tmp)
            if not report.passed:
                raise PackageValidationError(
                    f"the bioimageio package for {model_dir} failed validation; nothing was written.\n"
                    + report.summary(), report)
    size = out_zip.stat().st_size
    seconds = time.perf_counter() - started
    note = _export_note(out_zip, report, exportable, notes, size, seconds)
    return BioimageioExport(out_zip, report, note, seconds, size)


# --- test image ---------------------------------------------------------------------------

def _test_image(exportable: ExportableModel, test_image, notes: list):
    """The raw test image (``[Z,] Y, X, C`` float32) cropped to a valid size, its origin, its calibration."""
    from ..io.tiff import Calibration

    calibration = Calibration()
    if test_image is None:
        found = _training_image(exportable)
        if found is None:
            notes.append("no training image was found (provenance.json names none that still exists): the test "
                         "tensors and cover use a synthetic image; pass test_image= for a real one")
            image, origin = _synthetic_image(exportable), "a synthetic image (no training image was found)"
        else:
            image, calibration, origin = found
    elif isinstance(test_image, (str, os.PathLike)):
        image, calibration = _read_model_layout(exportable, Path(test_image))
        origin = f"the image {Path(test_image).name}"
    else:
        image, origin = np.asarray(test_image), "an image given to the exporter"
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == exportable.ndim:
        image = image[..., np.newaxis]
    if image.ndim != exportable.ndim + 1 or image.shape[-1] != exportable.n_channels:
        raise ExportError(f"the test image has shape {image.shape}; this {exportable.ndim}D model takes "
                          f"{exportable.n_channels} channel(s), i.e. [Z,] Y, X[, C]")
    return _crop_to_valid(exportable, image), origin, calibration


def _training_image(exportable: ExportableModel):
    """The first training input named in ``provenance.json`` that can still be read."""
    path = exportable.model_dir / "provenance.json"
    if not path.exists():
        return None
    try:
        entries = json.loads(path.read_text()).get("data", [])
    except (OSError, json.JSONDecodeError):
        return None
    targets = {"masks", "gt", "rois", "labels"}
    for entry in entries:
        candidate = Path(entry.get("path", ""))
        if candidate.suffix.lower() not in (".tif", ".tiff") or candidate.parent.name.lower() in targets:
            continue
        if not candidate.is_file():
            continue
        try:
            image, calibration = _read_model_layout(exportable, candidate)
        except (ValueError, OSError):
            continue
        return image, calibration, f"the training image {_short_path(str(candidate))}"
    return None


def _read_model_layout(exportable: ExportableModel, path: Path):
    """A TIFF as the model takes it (``[Z,] Y, X[, C]``), first frame of a time series."""
    from ..io.tiff import read_image
    from ..prediction.run import _model_layout

    image, info = read_image(path)
    data, axes = _model_layout(image, info, exportable.card, None, path)
    spatial = "ZYX" if exportable.ndim == 3 else "YX"
    while len([a for a in axes if a in spatial]) < len(axes):
        leading = next(i for i, a in enumerate(axes) if a not in spatial)
        data = np.take(data, 0, axis=leading)
        axes = axes[:leading] + axes[leading + 1:]
    return data, info.calibration


def _synthetic_image(exportable: ExportableModel) -> np.ndarray:
    """Blurred blobs with noise: something for the network to respond to."""
    from scipy import ndimage

    rng = np.random.default_rng(0)
    shape = tuple(max(m, 64 if exportable.ndim == 2 else 32) for m in exportable.min_shape)
    blobs = ndimage.gaussian_filter((rng.random(shape) > 0.995).astype(np.float32), 3)
    image = 1000 * blobs / max(float(blobs.max()), 1e-6) + rng.normal(100, 10, shape)
    return np.repeat(image[..., np.newaxis], exportable.n_channels, axis=-1).astype(np.float32)


def _crop_to_valid(exportable: ExportableModel, image: np.ndarray) -> np.ndarray:
    """Centre crop (or reflect padding) to a valid input size, within the test-size budget where it allows.

    The size is at least the rdf's minimum (which includes the halo on both sides):
    bioimageio.core refuses test tensors below it ("Array shape ... does not map to
    axes"), although the network itself runs on any multiple of the step. Above the
    minimum the test output stays within :data:`TEST_OUTPUT_BUDGET_BYTES` (and 256 px
    per axis in 2D).
    """
    n_out = len(exportable.output_channel_names)
    budget_pixels = TEST_OUTPUT_BUDGET_BYTES / (4 * max(n_out, exportable.n_channels))
    cap = int(budget_pixels ** (1.0 / exportable.ndim))
    if exportable.ndim == 2:
        cap = min(cap, TEST_SIZE_CAP_2D)
    slices, pads = [], []
    for extent, step, minimum in zip(image.shape[:-1], exportable.step, exportable.min_shape):
        size = max(minimum, (min(extent, cap) // step) * step)
        if extent >= size:
            start = (extent - size) // 2
            slices.append(slice(start, start + size))
            pads.append((0, 0))
        else:
            slices.append(slice(None))
            pads.append((0, size - extent))
    cropped = image[tuple(slices)]
    if any(p[1] for p in pads):
        cropped = np.pad(cropped, pads + [(0, 0)], mode="reflect")
    return np.ascontiguousarray(cropped, dtype=np.float32)


# --- files of the package -------------------------------------------------------------------

def _write_macros(staging: Path, processing: Processing) -> list:
    """The ImageJ macros deepImageJ's legacy configuration runs (the family's :class:`Processing`)."""
    written = []
    if processing.deepimagej_pre:
        (staging / PREPROCESSING_MACRO).write_text(processing.deepimagej_pre)
        written.append(PREPROCESSING_MACRO)
    if processing.deepimagej_post:
        (staging / processing.deepimagej_post_name).write_text(processing.deepimagej_post)
        written.append(processing.deepimagej_post_name)
    return written


def _save_keras(network, path: Path) -> None:
    import warnings

    from ..models.training import quiet_keras

    with warnings.catch_warnings(), quiet_keras():
        warnings.simplefilter("ignore")  # Keras' "HDF5 is a legacy format" notice: the spec asks for HDF5
        network.save(str(path), save_format="h5", include_optimizer=False)


def _ij_layout(array: np.ndarray, ndim: int) -> tuple[np.ndarray, str]:
    """``[Z,] Y, X, C`` -> ImageJ axis order (``[Z][C]YX``), channels dropped when single."""
    if array.shape[-1] == 1:
        return array[..., 0], "ZYX" if ndim == 3 else "YX"
    moved = np.moveaxis(array, -1, -3)
    return moved, "ZCYX" if ndim == 3 else "CYX"


def _write_samples(staging: Path, exportable: ExportableModel, raw: np.ndarray, output: np.ndarray, calibration):
    """Sample TIFFs for deepImageJ (ImageJ hyperstacks, as Fiji opens them)."""
    from ..io.tiff import write_imagej_tiff

    for name, array in ((SAMPLE_INPUT, raw), (SAMPLE_OUTPUT, output)):
        data, axes = _ij_layout(np.asarray(array, np.float32), exportable.ndim)
        write_imagej_tiff(staging / name, np.ascontiguousarray(data), axes, calibration=calibration)


def _qc_pictures(model_dir: Path) -> list:
    """The QC pictures the package carries: the loss curves first, then a few examples (packages stay small)."""
    qc = model_dir / "qc"
    pictures = sorted(qc.glob("*.png")) if qc.is_dir() else []
    pictures.sort(key=lambda p: (p.name != "loss_curves.png", p.name != "metrics_vs_iou.png", p.name))
    return pictures[:4]


def _copy_attachments(model_dir: Path, staging: Path) -> list:
    """The model folder's own files (so ``pyfiji-dl predict`` can use the package), history and QC."""
    names = []
    for name in MODEL_FOLDER_FILES + ("training_history.csv",):
        if (model_dir / name).is_file():
            shutil.copy2(model_dir / name, staging / name)
            names.append(name)
    for picture in _qc_pictures(model_dir):
        # flat names: bioimageio packages keep every file at the zip's root
        shutil.copy2(picture, staging / f"qc_{picture.name}")
        names.append(f"qc_{picture.name}")
    for table in ("matching_pooled.csv", "metrics_per_image.csv"):
        if (model_dir / "qc" / table).is_file():
            shutil.copy2(model_dir / "qc" / table, staging / f"qc_{table}")
            names.append(f"qc_{table}")
    return names


def _grey(image: np.ndarray) -> np.ndarray:
    low, high = np.percentile(image, (1, 99.8)) if image.size else (0, 1)
    scaled = np.clip((image - low) / max(high - low, 1e-6), 0, 1)
    return np.repeat((scaled * 255).astype(np.uint8)[..., np.newaxis], 3, axis=-1)


def _label_colours(labels: np.ndarray, background: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(7)
    palette = rng.integers(60, 256, size=(int(labels.max()) + 1, 3)).astype(np.uint8)
    coloured = background.copy()
    inside = labels > 0
    coloured[inside] = (0.4 * background[inside] + 0.6 * palette[labels[inside]]).astype(np.uint8)
    return coloured


def _panel(rgb: np.ndarray, size: int = 256) -> np.ndarray:
    """Nearest-neighbour resize into a ``size`` x ``size`` square (letterboxed)."""
    h, w = rgb.shape[:2]
    scale = size / max(h, w)
    nh, nw = max(1, int(round(h * scale))), max(1, int(round(w * scale)))
    rows = np.minimum((np.arange(nh) / scale).astype(int), h - 1)
    cols = np.minimum((np.arange(nw) / scale).astype(int), w - 1)
    out = np.zeros((size, size, 3), np.uint8)
    top, left = (size - nh) // 2, (size - nw) // 2
    out[top:top + nh, left:left + nw] = rgb[rows][:, cols]
    return out


def _write_cover(path: Path, exportable: ExportableModel, raw: np.ndarray, normalised: np.ndarray,
                 output: np.ndarray) -> None:
    """Cover picture, 2:1 as the bioimage.io website shows it: input | output."""
    import imageio.v3 as iio

    def flat(a):  # maximum projection for 3D, first channel
        a = a[..., 0]
        return a.max(axis=0) if exportable.ndim == 3 else a

    left = _grey(flat(raw))
    objects = _family(exportable).cover_objects(exportable, normalised, output)
    right = _grey(flat(output)) if objects is None else _label_colours(objects, left)
    cover = np.concatenate([_panel(left), _panel(right)], axis=1)
    iio.imwrite(path, cover, extension=".png")


# --- the description -----------------------------------------------------------------------------

def _valid_name(name: str) -> str:
    """A model name the format accepts: letters, digits, spaces and ``_+-()``, 5 to 128 characters."""
    cleaned = re.sub(r"[^A-Za-z0-9_+\- ()]", "-", str(name)).strip() or "pyfiji_dl model"
    if len(cleaned) < 5:
        cleaned = f"{cleaned} model"
    return cleaned[:128]


def _authors(authors, notes: list) -> list:
    if not authors:
        notes.append("no author given: the package names 'pyfiji_dl user'; give the people who trained the model "
                     "(authors=[...] / --author NAME) before sharing it")
        return [{"name": "pyfiji_dl user"}]
    result = []
    for author in authors:
        entry = {"name": author} if isinstance(author, str) else dict(author)
        if entry.pop("github_user", None):
            notes.append(f"github_user of {entry.get('name')} left out: validating it needs the network")
        result.append({k: v for k, v in entry.items() if k in ("name", "affiliation", "email", "orcid") and v})
    return result


def _family(exportable: ExportableModel):
    return families.get(exportable.family)


def _default_description(exportable: ExportableModel) -> str:
    family = _family(exportable)
    return f"{family.title} {exportable.ndim}D model for {family.export_task}, trained with pyfiji_dl."


def _papers(exportable: ExportableModel) -> list:
    """``[(text, doi)]``: the family's papers, then deepImageJ's."""
    return _family(exportable).citations(exportable.ndim) + [DEEPIMAGEJ_PAPER]


def _citations(exportable: ExportableModel) -> list:
    return [{"text": text, "doi": doi} for text, doi in _papers(exportable)]


def _size_text(shape) -> str:
    """deepImageJ's size notation: ``X x Y x Z x C``."""
    spatial, channels = shape[:-1], shape[-1]
    if len(spatial) == 2:
        y, x = spatial
        z = 1
    else:
        z, y, x = spatial
    return f"{x} x {y} x {z} x {channels}"


def _rdf(exportable: ExportableModel, processing: Processing, *, name, authors, license, description, tags,
         attachments, runtime, calibration, input_shape, output_shape) -> dict:
    """The package's description (format 0.5): the tensors, weights and ``config`` parts below, and the metadata."""
    family = _family(exportable)
    n_in, n_out = exportable.n_channels, len(exportable.output_channel_names)
    rdf = {
        "format_version": _format_version(),
        "type": "model",
        "name": name,
        "description": description,
        "authors": authors,
        "packaged_by": [{"name": f"pyfiji_dl {__version__} (automatic export)"}],
        "cite": _citations(exportable),
        "license": license,
        "tags": sorted(set(["pyfiji_dl", family.name, f"{exportable.ndim}d", "tensorflow", "keras", "fiji",
                            "deepimagej", family.task_tag, "unet"] + list(tags or []))),
        "documentation": {"source": README},
        "covers": [{"source": COVER}],
        "attachments": [{"source": n} for n in attachments
                        + [f for f, n_c in ((SAMPLE_INPUT, n_in), (SAMPLE_OUTPUT, n_out)) if n_c > 1]],
        "inputs": [_input_tensor(exportable, processing)],
        "outputs": [_output_tensor(exportable, processing)],
        "weights": _weights(),
        "config": _config(exportable, processing, attachments=attachments, runtime=runtime,
                          calibration=calibration, input_shape=input_shape, output_shape=output_shape),
    }
    thresholds = family.export_thresholds(exportable.card)
    if thresholds:
        rdf["config"]["pyfiji_dl"]["thresholds"] = thresholds
    return rdf


def _input_tensor(exportable: ExportableModel, processing: Processing) -> dict:
    """The ``input`` tensor: batch, spatial axes with their valid sizes, channels; the preprocessing."""
    n_in = exportable.n_channels
    input_names = ["raw"] if n_in == 1 else [f"channel{i + 1}" for i in range(n_in)]
    axes = ([{"type": "batch"}]
            + [{"type": "space", "id": a, "size": {"min": m, "step": s}}
               for a, m, s in zip(exportable.spatial_axes, exportable.min_shape, exportable.step)]
            + [{"type": "channel", "channel_names": input_names}])
    return {
        "id": "input",
        "description": (f"image after Fiji's CLAHE (see README), {exportable.ndim}D, {n_in} channel(s), float32"
                        if processing.outside_step else f"image, {exportable.ndim}D, {n_in} channel(s), float32"),
        "axes": axes,
        "test_tensor": {"source": TEST_INPUT},
        **({"sample_tensor": {"source": SAMPLE_INPUT}} if n_in == 1 else {}),
        "data": {"type": "float32"},
        "preprocessing": processing.pre,
    }


def _output_tensor(exportable: ExportableModel, processing: Processing) -> dict:
    """The ``output`` tensor: the input's size with a halo per spatial axis, the family's channels."""
    n_out = len(exportable.output_channel_names)
    axes = ([{"type": "batch"}]
            + [{"type": "space", "id": a, "size": {"tensor_id": "input", "axis_id": a}, "halo": h}
               for a, h in zip(exportable.spatial_axes, exportable.halo)]
            + [{"type": "channel", "channel_names": list(exportable.output_channel_names)}])
    return {
        "id": "output",
        "description": _family(exportable).export_output,
        "axes": axes,
        "test_tensor": {"source": TEST_OUTPUT},
        # a sample TIFF in ImageJ's axis order matches the tensor's only with one channel
        **({"sample_tensor": {"source": SAMPLE_OUTPUT}} if n_out == 1 else {}),
        "data": {"type": "float32"},
        "postprocessing": processing.post,
    }


def _weights() -> dict:
    """Both weights formats, the SavedModel derived from the Keras model."""
    tf_version = _tf_version()
    return {
        "keras_hdf5": {"source": KERAS_FILE, "tensorflow_version": tf_version,
                       "comment": "whole Keras model (tf.keras, Keras 2) of the network in this package"},
        "tensorflow_saved_model_bundle": {
            # the oldest runtime the frozen graph is proven in, not the writer's version: deepImageJ
            # and bioimage.io tools pick their TensorFlow by it
            "source": SAVED_MODEL_FILE, "tensorflow_version": OLDEST_PROVEN_TENSORFLOW, "parent": "keras_hdf5",
            "comment": f"frozen graph written with TensorFlow {tf_version}, signature 'serving_default' "
                       f"(input -> output), tag 'serve'; tested in {PROVEN_RUNTIMES}",
        },
    }


def _config(exportable: ExportableModel, processing: Processing, *, attachments, runtime, calibration,
            input_shape, output_shape) -> dict:
    """``config``: bioimage.io's, pyfiji_dl's (the card), deepImageJ's, then the family's own sections."""
    family = _family(exportable)
    parameters = int(exportable.network.count_params())
    config = {
        "bioimageio": {
            "architecture_type": "U-Net",
            "architecture_description": f"{family.title} network ({exportable.card.ndim}D) from pyfiji_dl; "
                                        f"{parameters} parameters",
            "task": family.export_task,
            "model_parameter_count": parameters,
            "inference_time": f"{runtime:.3f} s for the test input on the exporting machine",
            "training": _training_details(exportable),
        },
        "pyfiji_dl": {
            "format": FORMAT_MARKER,
            "version": __version__,
            "family": family.name,
            "card": exportable.card.to_json(),
            "model_folder_files": [n for n in MODEL_FOLDER_FILES if n in attachments],
            "preprocessing": processing.description_pre,
            "postprocessing": processing.description_post,
        },
        "deepimagej": _deepimagej_config(processing, attachments=attachments, runtime=runtime,
                                         calibration=calibration, input_shape=input_shape,
                                         output_shape=output_shape),
    }
    config.update(family.export_config(exportable))
    return config


def _deepimagej_config(processing: Processing, *, attachments, runtime, calibration, input_shape,
                       output_shape) -> dict:
    """``config.deepimagej``: tiling, the TensorFlow keys, the test information and the macros it runs."""
    pixel_size = {"x": float(calibration.pixel_width), "y": float(calibration.pixel_height),
                  "z": float(calibration.voxel_depth)}
    post_macro = processing.deepimagej_post_name if processing.deepimagej_post_name in attachments else None
    return {
        "pyramidal_model": False,
        "allow_tiling": True,
        # deepImageJ reads these two keys literally, including the 'siganture' spelling
        "model_keys": {"tensorflow_model_tag": "tf.saved_model.tag_constants.SERVING",
                       "tensorflow_siganture_def": "tf.saved_model.signature_constants.DEFAULT_SERVING_SIGNATURE_DEF_KEY"},
        "test_information": {
            "inputs": [{"name": SAMPLE_INPUT, "size": _size_text(input_shape[1:]), "pixel_size": pixel_size}],
            "outputs": [{"name": SAMPLE_OUTPUT, "type": "image", "size": _size_text(output_shape[1:])}],
            "memory_peak": None,
            "runtime": f"{runtime:.3f} s",
        },
        "prediction": {
            "preprocess": ([{"spec": "ij.IJ::runMacroFile", "kwargs": PREPROCESSING_MACRO}]
                           if PREPROCESSING_MACRO in attachments else [{"spec": None}]),
            "postprocess": ([{"spec": "ij.IJ::runMacroFile", "kwargs": post_macro}]
                            if post_macro else [{"spec": None}]),
        },
    }


def _format_version() -> str:
    from bioimageio.spec.model.v0_5 import ModelDescr

    return str(ModelDescr.implemented_format_version)


def _training_details(exportable: ExportableModel) -> dict:
    config = getattr(exportable.model, "config", None)
    details: dict = {"optimizer": "Adam"}
    for key, attr in (("training_epochs", "train_epochs"), ("training_batch_size", "train_batch_size"),
                      ("initial_learning_rate", "train_learning_rate")):
        value = getattr(config, attr, None)
        if value is not None:
            details[key] = float(value)
    loss = _family(exportable).export_loss(config)
    if loss:
        details["loss_function"] = str(loss)
    history = exportable.model_dir / "training_history.csv"
    if history.exists():
        from ..models.training import read_history

        rows = read_history(exportable.model_dir)
        seconds = sum((r.get("seconds") or 0) for r in rows)
        if seconds:
            details["training_duration"] = round(seconds / 3600.0, 4)  # hours
    return details


# --- README ------------------------------------------------------------------------------

def _readme(exportable: ExportableModel, processing: Processing, name: str, description: str | None,
            image_origin: str, runtime: float, test_shape) -> str:
    family = _family(exportable)
    spatial = exportable.spatial_axes
    lines = [f"# {name}", "", description or _default_description(exportable), "",
             f"Exported on {_dt.date.today().isoformat()} by pyfiji_dl {__version__} from a model folder "
             f"written by `pyfiji-dl train {family.name}`.", ""]
    lines += ["## What the model does", "", f"{family.title} ({family.export_task}); {exportable.ndim}D images with "
              f"{exportable.n_channels} channel(s).", ""]
    lines += ["## Input", "",
              f"- tensor `input`, axes batch, {', '.join(spatial)}, channel; float32",
              f"- valid sizes along {', '.join(spatial)}: at least {_tuple(exportable.min_shape)}, "
              f"in steps of {_tuple(exportable.step)}; tiles need a halo of {_tuple(exportable.halo)} pixels",
              f"- preprocessing: {processing.description_pre}", ""]
    lines += ["## Output", "",
              f"- tensor `output`: {family.export_output}; channels: "
              f"{_channel_text(exportable.output_channel_names)}",
              f"- postprocessing: {processing.description_post}", ""]
    lines += family.readme_details(exportable)
    lines += ["## How to use it", "",
              "- **Fiji / deepImageJ**: install the package with deepImageJ's *Install model* (from this zip), "
              "open an image, run it. deepImageJ 3 applies the preprocessing in `rdf.yaml`; older versions run "
              f"`{PREPROCESSING_MACRO}`"
              + (f" and `{processing.deepimagej_post_name}`{processing.deepimagej_post_needs}"
                 if processing.deepimagej_post else "") + ".",
              "- **pyfiji_dl**: `pyfiji-dl predict THIS.zip IMAGES -o OUT` (label maps, ROI sets and tables, or "
              "restored images, exactly as from the original model folder, whose files are attached).",
              "- **Python**: `bioimageio.core` can run either weights format.", ""]
    lines += _training_section(exportable)
    lines += _validation_section(exportable, image_origin, runtime, test_shape)
    lines += _provenance_section(exportable)
    lines += ["## Limitations", "",
              "- Trained on the data listed above only; check the results on your own images (the QC report "
              "shows how). Images with other magnification, staining or noise level may need fine-tuning "
              "(`pyfiji-dl train ... --from MODEL`).",
              f"- The TensorFlow SavedModel (a frozen graph written with TensorFlow {_tf_version()}) runs in "
              f"TensorFlow {OLDEST_PROVEN_TENSORFLOW} and later: pyfiji_dl's tests run such SavedModels in "
              f"{PROVEN_RUNTIMES}. Older runtimes are not supported.", ""]
    lines += ["## References", ""]
    lines += [f"- {text} doi:{doi}" for text, doi in _papers(exportable)]
    lines.append("")
    return "\n".join(lines)


def _tf_version() -> str:
    import tensorflow as tf

    return tf.__version__


def _tuple(values) -> str:
    return " x ".join(str(v) for v in values)


def _channel_text(names: list) -> str:
    if len(names) <= 4:
        return ", ".join(names)
    return f"{names[0]}, {names[1]}, ..., {names[-1]} ({len(names)})"


def _training_section(exportable: ExportableModel) -> list:
    from ..models.training import read_history

    card = exportable.card
    config = getattr(exportable.model, "config", None)
    lines = ["## Training", ""]
    facts = [("patch size", card.patch),
             ("epochs", getattr(config, "train_epochs", None)),
             ("steps per epoch", getattr(config, "train_steps_per_epoch", None)),
             ("batch size", getattr(config, "train_batch_size", None)),
             ("learning rate", getattr(config, "train_learning_rate", None)),
             ("U-Net depth", getattr(config, "unet_n_depth", None)),
             ("fine-tuned from", card.fine_tuned_from)]
    lines += ["| setting | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in facts if v is not None]
    lines.append("")
    rows = read_history(exportable.model_dir)
    if rows:
        last = rows[-1]
        shown = ", ".join(f"{k} {last[k]:.4g}" for k in ("loss", "val_loss") if last.get(k) is not None)
        lines += [f"Training history: {len(rows)} epoch(s); last epoch: {shown} "
                  "(`training_history.csv`).", ""]
    if (exportable.model_dir / "qc" / "loss_curves.png").exists():
        lines += ["![Loss curves: training and validation](qc_loss_curves.png)", ""]
    return lines


def _validation_section(exportable: ExportableModel, image_origin: str, runtime: float, test_shape) -> list:
    from ..io.tables import read_csv

    qc = exportable.model_dir / "qc"
    lines = ["## Validation", ""]
    pooled = qc / "matching_pooled.csv"
    per_image = qc / "metrics_per_image.csv"
    if _family(exportable).scored_by_object_matching and pooled.exists():
        rows = read_csv(pooled)
        at_half = next((r for r in rows if abs(float(r["thresh"]) - 0.5) < 1e-9), None)
        if at_half:
            lines += ["Object matching on the held-out validation images at IoU 0.5 (pooled; full sweep in "
                      "`qc_matching_pooled.csv`):", "",
                      "| precision | recall | F1 | mean matched IoU | panoptic quality | objects (true / predicted) |",
                      "|---|---|---|---|---|---|",
                      f"| {_f(at_half['precision'])} | {_f(at_half['recall'])} | {_f(at_half['f1'])} | "
                      f"{_f(at_half['mean_matched_score'])} | {_f(at_half['panoptic_quality'])} | "
                      f"{at_half['n_true']} / {at_half['n_pred']} |", ""]
    elif per_image.exists():
        rows = read_csv(per_image)
        keys = [k for k in ("mssim_prediction_vs_gt", "psnr_prediction_vs_gt", "nrmse_prediction_vs_gt",
                            "mssim_input_vs_gt", "psnr_input_vs_gt", "nrmse_input_vs_gt") if rows and k in rows[0]]
        if keys:
            lines += [f"Restoration quality on {len(rows)} held-out image(s) (mean; per image in "
                      "`qc_metrics_per_image.csv`):", "",
                      "| " + " | ".join(k.replace("_", " ") for k in keys) + " |",
                      "|" + "---|" * len(keys),
                      "| " + " | ".join(_f(np.mean([float(r[k]) for r in rows if r.get(k) not in ("", None)]))
                                        for k in keys) + " |", ""]
    else:
        lines += ["No ground truth was available for a quantitative check when this model was trained.", ""]
    for picture in _qc_pictures(exportable.model_dir):
        if picture.name != "loss_curves.png":
            lines += [f"![{picture.stem.replace('_', ' ')}](qc_{picture.name})", ""]
    lines += [f"Test tensors: {image_origin}, {_tuple(test_shape[1:-1])} pixels; the network took "
              f"{runtime:.3f} s for it on the exporting machine. Both weights formats reproduce the test output "
              "(checked when the package was written).", ""]
    return lines


def _f(value) -> str:
    try:
        return f"{float(value):.3f}"
    except (TypeError, ValueError):
        return str(value)


def _short_path(path: str) -> str:
    """Folder and file name only (``images/a.tif``): enough to tell inputs from targets."""
    parts = Path(path).parts
    return "/".join(parts[-2:])


def _provenance_section(exportable: ExportableModel) -> list:
    path = exportable.model_dir / "provenance.json"
    if not path.exists():
        return []
    try:
        provenance = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return []
    lines = ["## Software and data", ""]
    software = provenance.get("software") or {}
    keep = ("python", "pyfiji_dl", "tensorflow", "csbdeep", "stardist", "n2v", "numpy")
    versions = ", ".join(f"{k} {software[k]}" for k in keep if k in software)
    if versions:
        lines += [f"Trained with {versions}.", ""]
    data = provenance.get("data") or []
    if data:
        # file names and hashes only: full paths can name people and machines
        lines += [f"Training data: {len(data)} file(s) (SHA-256 of each, to recognise the data set):", ""]
        lines += [f"- `{_short_path(d.get('path', ''))}` {str(d.get('sha256', ''))[:16]}..." for d in data[:50]]
        if len(data) > 50:
            lines.append(f"- ... and {len(data) - 50} more")
        lines.append("")
    return lines


# --- building, packaging, validating ---------------------------------------------------------

def _build(rdf: dict, root: Path):
    from bioimageio.spec import ValidationContext, build_description
    from bioimageio.spec.common import InvalidDescr

    with _quiet_bioimageio():
        descr = build_description(rdf, context=ValidationContext(root=root, perform_io_checks=True))
    if isinstance(descr, InvalidDescr):
        summary = descr.validation_summary
        errors = "\n".join(f"  error: {_entry_text(e)}" for e in summary.errors)
        raise PackageValidationError(f"the bioimageio description is invalid; nothing was written.\n{errors}")
    return descr


def _package(descr, zip_path: Path) -> None:
    from bioimageio.spec import save_bioimageio_package

    with _quiet_bioimageio():
        save_bioimageio_package(descr, output_path=zip_path)


def _export_note(out_zip: Path, report: ValidationReport, exportable: ExportableModel, notes: list, size: int,
                 seconds: float) -> str:
    lines = [f"BioImage Model Zoo package written: {out_zip} ({size / 1e6:.2f} MB, {seconds:.1f} s)",
             report.summary(),
             "Use it: Fiji/deepImageJ 'Install model' from this zip; pyfiji-dl predict "
             f"{out_zip.name} IMAGES -o OUT; bioimage.io tools (format {report.format_version})."]
    lines += [f"note: {n}" for n in notes]
    return "\n".join(lines)
