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

import contextlib
import datetime as _dt
import io
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
from ..models.card import ModelCard
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
PREPROCESSING_MACRO, POSTPROCESSING_MACRO = "pyfiji_dl_preprocessing.ijm", "pyfiji_dl_postprocessing.ijm"
STARDIST_MACRO = "stardist_postprocessing.ijm"
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
    processing = _processing_for(exportable)

    raw, image_origin, calibration = _test_image(exportable, test_image, notes)
    raw = prepare_outside_format(exportable, raw)
    batch = raw[np.newaxis].astype(np.float32)
    network_input = processing.preprocess(batch)
    t0 = time.perf_counter()
    network_output = exportable.predict(network_input)
    runtime = time.perf_counter() - t0
    test_output = processing.postprocess(network_output)

    with tempfile.TemporaryDirectory(prefix="pyfiji_dl_bioimageio_") as staging_name:
        staging = Path(staging_name)
        np.save(staging / TEST_INPUT, batch)
        np.save(staging / TEST_OUTPUT, test_output)
        _save_keras(exportable.network, staging / KERAS_FILE)
        write_saved_model_zip(exportable.network, staging / SAVED_MODEL_FILE, n_channels=exportable.n_channels)
        _write_samples(staging, exportable, batch[0], test_output[0], calibration)
        _write_cover(staging / COVER, exportable, batch[0], network_input[0], test_output[0])
        attachments = _copy_attachments(exportable.model_dir, staging)
        macros = _write_macros(staging, exportable, processing)
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


# --- pre/postprocessing ---------------------------------------------------------------------

@dataclass
class Processing:
    """The package's preprocessing and postprocessing, as spec entries and as NumPy functions."""

    pre: list
    post: list
    description_pre: str
    description_post: str
    deepimagej_pre: str | None = None  # ImageJ macro text
    deepimagej_post: str | None = None
    # a step the format cannot express (Fiji's CLAHE for some U-Nets): the test input
    # and every user's image go through it before the package's preprocessing
    outside_step: str | None = None

    def preprocess(self, batch: np.ndarray) -> np.ndarray:
        return apply_processing(batch, self.pre)

    def postprocess(self, batch: np.ndarray) -> np.ndarray:
        return apply_processing(batch, self.post)


def _processing_for(exportable: ExportableModel) -> Processing:
    card, family = exportable.card, exportable.family
    axes = list(exportable.spatial_axes)
    norm = card.normalization
    if family == "n2v":
        from .fiji import n2v_mean_std

        means, stds = n2v_mean_std(exportable.model.config)
        if means.ndim == 0:
            pre_kwargs = {"mean": float(means), "std": float(stds)}
            post_kwargs = {"gain": float(stds), "offset": float(means)}
        else:
            pre_kwargs = {"mean": means.tolist(), "std": stds.tolist(), "axis": "channel"}
            post_kwargs = {"gain": stds.tolist(), "offset": means.tolist(), "axis": "channel"}
        mean_text, std_text = _numbers(means), _numbers(stds)
        return Processing(
            pre=[{"id": "fixed_zero_mean_unit_variance", "kwargs": pre_kwargs}],
            post=[{"id": "scale_linear", "kwargs": post_kwargs}],
            description_pre=f"subtract the training mean ({mean_text}) and divide by the training standard "
                            f"deviation ({std_text}), as Noise2Void does",
            description_post="multiply by the standard deviation and add the mean again: the output has the "
                             "input's intensity scale",
            deepimagej_pre=_macro_mean_std(means, stds, inverse=False),
            deepimagej_post=_macro_mean_std(means, stds, inverse=True),
        )
    low, high = float(norm.get("low", 1.0)), float(norm.get("high", 99.8))
    pre = [{"id": "scale_range", "kwargs": {"axes": axes, "min_percentile": low, "max_percentile": high}}]
    description_pre = (f"percentile normalisation per image and channel: percentile {low:g} maps to 0 and "
                       f"percentile {high:g} to 1 (computed over {', '.join(axes)})")
    if family == "care":
        post_text = ("none: the output is in normalised units; pyfiji-dl predict maps it back to the input's "
                     "intensity range (out * (p_high - p_low) + p_low, with the input's percentiles), which the "
                     "bioimageio format cannot express")
    elif family == "stardist":
        post_text = ("none in the format's terms: the output holds the object probability (channel 0) and the "
                     f"{len(exportable.output_channel_names) - 1} ray distances, upsampled to the input size; "
                     "objects come from StarDist's non-maximum suppression with the thresholds in config.stardist "
                     f"(deepImageJ: {STARDIST_MACRO})")
    else:
        post_text = (f"none: the output is a probability map; objects are the connected components (8-connected) "
                     f"of probability > {card.details.probability_threshold}"
                     + (f" with at least {card.details.min_area} pixels" if card.details.min_area else "")
                     + f" (pyfiji-dl predict does this; deepImageJ: {POSTPROCESSING_MACRO})")
    outside_step = None
    pre_macro = _macro_percentiles(low, high)
    if family == "unet" and (card.details.contrast or {}).get("method") == "clahe":
        contrast = card.details.contrast
        outside_step = (f"Fiji's CLAHE (Process > Enhance Local Contrast (CLAHE): blocksize "
                        f"{contrast.get('block_size', 127)}, histogram bins {contrast.get('bins', 256)}, maximum "
                        f"slope {contrast.get('max_slope', 3.0)}, not 'fast'), which the bioimageio format cannot "
                        "express: apply it before the package's preprocessing (the test input already has it)")
        description_pre = f"{outside_step}; then {description_pre}"
        pre_macro = _macro_clahe(contrast) + pre_macro
    return Processing(pre=pre, post=[], description_pre=description_pre, description_post=post_text,
                      deepimagej_pre=pre_macro,
                      deepimagej_post=_macro_unet_objects(card) if family == "unet" else None,
                      outside_step=outside_step)


def prepare_outside_format(exportable: ExportableModel, raw: np.ndarray) -> np.ndarray:
    """Steps before the package's preprocessing that the format cannot express (U-Net CLAHE)."""
    if exportable.family != "unet" or (exportable.card.details.contrast or {}).get("method") != "clahe":
        return raw
    contrast = exportable.card.details.contrast
    from ..models import unet

    enhance = unet._clahe_function()
    parameters = {k: contrast.get(k, v) for k, v in unet.CLAHE_PARAMETERS.items()}
    channels = [np.asarray(enhance(raw[..., c], **parameters), np.float32) for c in range(raw.shape[-1])]
    return np.stack(channels, axis=-1)


def _numbers(values) -> str:
    return ", ".join(f"{v:.6g}" for v in np.atleast_1d(values))


# --- ImageJ macros for deepImageJ's legacy config ----------------------------------------------

def _macro_percentiles(low: float, high: float) -> str:
    return f"""// pyfiji_dl export: the package's preprocessing for deepImageJ.
// Percentile normalisation, as the 'scale_range' step of rdf.yaml: in each channel,
// percentile {low:g} of all pixels (all slices) maps to 0 and percentile {high:g} to 1.
low = {low!r};
high = {high!r};
run("32-bit");
getDimensions(width, height, channels, slices, frames);
for (c = 1; c <= channels; c++) {{
    values = newArray(width * height * slices);
    i = 0;
    for (z = 1; z <= slices; z++) {{
        if (channels * slices > 1) Stack.setPosition(c, z, 1);
        for (y = 0; y < height; y++)
            for (x = 0; x < width; x++) {{ values[i] = getPixel(x, y); i++; }}
    }}
    Array.sort(values);
    lower = percentile(values, low);
    upper = percentile(values, high);
    for (z = 1; z <= slices; z++) {{
        if (channels * slices > 1) Stack.setPosition(c, z, 1);
        run("Subtract...", "value=" + d2s(lower, 9) + " slice");
        run("Divide...", "value=" + d2s(upper - lower + 1e-6, 9) + " slice");
    }}
}}

// linear interpolation between the two nearest ranks, as numpy.percentile
function percentile(sorted, p) {{
    position = p / 100 * (sorted.length - 1);
    i = floor(position);
    if (i >= sorted.length - 1) return sorted[sorted.length - 1];
    return sorted[i] + (position - i) * (sorted[i + 1] - sorted[i]);
}}
"""


def _macro_mean_std(means, stds, *, inverse: bool) -> str:
    mean, std = float(np.atleast_1d(means)[0]), float(np.atleast_1d(stds)[0])
    if inverse:
        body = f'run("Multiply...", "value={std!r} stack");\nrun("Add...", "value={mean!r} stack");\n'
        what = "postprocessing: back to intensities (times the training standard deviation, plus the mean)"
    else:
        body = f'run("32-bit");\nrun("Subtract...", "value={mean!r} stack");\nrun("Divide...", "value={std!r} stack");\n'
        what = "preprocessing: the training mean and standard deviation Noise2Void normalises with"
    return f"// pyfiji_dl export: the package's {what}.\n{body}"


def _macro_clahe(contrast: dict) -> str:
    return (f"""// pyfiji_dl export: the contrast enhancement this U-Net was trained with (Fiji's CLAHE).
run("Enhance Local Contrast (CLAHE)", "blocksize={contrast.get('block_size', 127)} """
            f"""histogram={contrast.get('bins', 256)} maximum={contrast.get('max_slope', 3.0)} mask=*None*");
""")


def _macro_unet_objects(card: ModelCard) -> str:
    post = card.details
    threshold = post.probability_threshold
    min_area = int(post.min_area or 0)
    max_area = post.max_area
    size = f"{min_area}-{int(max_area) if max_area else 'Infinity'}"
    watershed = 'run("Watershed");\n' if post.split_touching else ""
    return f"""// pyfiji_dl export: U-Net objects from the probability map, for deepImageJ.
// Threshold at the probability the model was tuned for, then 8-connected particles
// within the model's area limits (pixels), as pyfiji-dl predict does; the objects go
// to the ROI Manager and a label image ('Count Masks').
threshold = {threshold!r};
probability = getTitle();
run("Duplicate...", "title=unet_mask");
setThreshold(threshold, 1e30);
setOption("BlackBackground", true);
run("Convert to Mask");
{watershed}run("Analyze Particles...", "size={size} pixel show=[Count Masks] add");
"""


def _macro_stardist(prob: float, nms: float) -> str:
    return f"""// pyfiji_dl export: StarDist objects from the network output, for deepImageJ.
// Needs the StarDist and CSBDeep Fiji update sites. The output image holds the object
// probability in its first channel and the ray distances in the others.
probThresh = {prob!r};
nmsThresh = {nms!r};
output = getTitle();
getDimensions(width, height, channels, slices, frames);
planes = maxOf(channels, slices);  // deepImageJ may put the channels on the z axis
if (channels > 1) {{
    run("Duplicate...", "title=stardist_prob duplicate channels=1");
    selectWindow(output);
    run("Duplicate...", "title=stardist_dist duplicate channels=2-" + planes);
}} else {{
    run("Duplicate...", "title=stardist_prob duplicate range=1-1");
    selectWindow(output);
    run("Duplicate...", "title=stardist_dist duplicate range=2-" + planes);
}}
run("Properties...", "channels=" + (planes - 1) + " slices=1 frames=1");
run("Command From Macro", "command=[de.csbdresden.stardist.StarDist2DNMS], args=['prob':'stardist_prob', 'dist':'stardist_dist', 'probThresh':'" + probThresh + "', 'nmsThresh':'" + nmsThresh + "', 'outputType':'Both', 'excludeBoundary':'2', 'roiPosition':'Automatic', 'verbose':'false'], process=[false]");
"""


def _write_macros(staging: Path, exportable: ExportableModel, processing: Processing) -> list:
    written = []
    if processing.deepimagej_pre:
        (staging / PREPROCESSING_MACRO).write_text(processing.deepimagej_pre)
        written.append(PREPROCESSING_MACRO)
    if processing.deepimagej_post:
        (staging / POSTPROCESSING_MACRO).write_text(processing.deepimagej_post)
        written.append(POSTPROCESSING_MACRO)
    if exportable.family == "stardist" and exportable.ndim == 2:
        thresholds = exportable.card.thresholds
        (staging / STARDIST_MACRO).write_text(_macro_stardist(float(thresholds.get("prob", 0.5)),
                                                              float(thresholds.get("nms", 0.4))))
        written.append(STARDIST_MACRO)
    return written


# --- files of the package -------------------------------------------------------------------

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
    if exportable.family == "stardist" and exportable.ndim == 2:
        right = _label_colours(_stardist_labels(exportable, normalised), left)
    elif exportable.family == "stardist":
        # 3D non-maximum suppression can take minutes: the object probability shows the result
        right = _grey(flat(output))
    elif exportable.family == "unet":
        from scipy import ndimage

        mask = flat(output) > exportable.card.details.probability_threshold
        labels, _ = ndimage.label(mask, structure=np.ones((3, 3), bool))
        right = _label_colours(labels, left)
    else:
        right = _grey(flat(output))
    cover = np.concatenate([_panel(left), _panel(right)], axis=1)
    iio.imwrite(path, cover, extension=".png")


def _stardist_labels(exportable: ExportableModel, normalised: np.ndarray) -> np.ndarray:
    from ..models.training import quiet_keras

    image = normalised[..., 0] if exportable.n_channels == 1 else normalised
    with quiet_keras(), contextlib.redirect_stderr(io.StringIO()):
        labels, _ = exportable.model.predict_instances(image, show_tile_progress=False)
    return np.asarray(labels)


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
    import tensorflow as tf

    card, family = exportable.card, exportable.family
    title, task, task_tag = _family(exportable).title, _family(exportable).export_task, _family(exportable).task_tag
    spatial = exportable.spatial_axes
    n_in, n_out = exportable.n_channels, len(exportable.output_channel_names)
    input_names = ["raw"] if n_in == 1 else [f"channel{i + 1}" for i in range(n_in)]
    input_axes = ([{"type": "batch"}]
                  + [{"type": "space", "id": a, "size": {"min": m, "step": s}}
                     for a, m, s in zip(spatial, exportable.min_shape, exportable.step)]
                  + [{"type": "channel", "channel_names": input_names}])
    output_axes = ([{"type": "batch"}]
                   + [{"type": "space", "id": a, "size": {"tensor_id": "input", "axis_id": a}, "halo": h}
                      for a, h in zip(spatial, exportable.halo)]
                   + [{"type": "channel", "channel_names": list(exportable.output_channel_names)}])
    tf_version = tf.__version__
    thresholds = card.thresholds if family == "stardist" else {}
    pixel_size = {"x": float(calibration.pixel_width), "y": float(calibration.pixel_height),
                  "z": float(calibration.voxel_depth)}
    has_post_macro = POSTPROCESSING_MACRO in attachments or STARDIST_MACRO in attachments
    deepimagej = {
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
            "postprocess": ([{"spec": "ij.IJ::runMacroFile",
                              "kwargs": STARDIST_MACRO if STARDIST_MACRO in attachments else POSTPROCESSING_MACRO}]
                            if has_post_macro else [{"spec": None}]),
        },
    }
    config = {
        "bioimageio": {
            "architecture_type": "U-Net",
            "architecture_description": f"{title} network ({card.ndim}D) from pyfiji_dl; "
                                        f"{exportable.network.count_params()} parameters",
            "task": task,
            "model_parameter_count": int(exportable.network.count_params()),
            "inference_time": f"{runtime:.3f} s for the test input on the exporting machine",
            "training": _training_details(exportable),
        },
        "pyfiji_dl": {
            "format": FORMAT_MARKER,
            "version": __version__,
            "family": family,
            "card": card.to_json(),
            "model_folder_files": [n for n in MODEL_FOLDER_FILES if n in attachments],
            "preprocessing": processing.description_pre,
            "postprocessing": processing.description_post,
        },
        "deepimagej": deepimagej,
    }
    if family == "stardist":
        config["stardist"] = _stardist_config(exportable)
    rdf = {
        "format_version": _format_version(),
        "type": "model",
        "name": name,
        "description": description,
        "authors": authors,
        "packaged_by": [{"name": f"pyfiji_dl {__version__} (automatic export)"}],
        "cite": _citations(exportable),
        "license": license,
        "tags": sorted(set(["pyfiji_dl", family, f"{exportable.ndim}d", "tensorflow", "keras", "fiji",
                            "deepimagej", task_tag, "unet"] + list(tags or []))),
        "documentation": {"source": README},
        "covers": [{"source": COVER}],
        "attachments": [{"source": n} for n in attachments
                        + [f for f, n_c in ((SAMPLE_INPUT, n_in), (SAMPLE_OUTPUT, n_out)) if n_c > 1]],
        "inputs": [{
            "id": "input",
            "description": (f"image after Fiji's CLAHE (see README), {exportable.ndim}D, {n_in} channel(s), float32"
                            if processing.outside_step else f"image, {exportable.ndim}D, {n_in} channel(s), float32"),
            "axes": input_axes,
            "test_tensor": {"source": TEST_INPUT},
            **({"sample_tensor": {"source": SAMPLE_INPUT}} if n_in == 1 else {}),
            "data": {"type": "float32"},
            "preprocessing": processing.pre,
        }],
        "outputs": [{
            "id": "output",
            "description": _output_description(exportable),
            "axes": output_axes,
            "test_tensor": {"source": TEST_OUTPUT},
            # a sample TIFF in ImageJ's axis order matches the tensor's only with one channel
            **({"sample_tensor": {"source": SAMPLE_OUTPUT}} if n_out == 1 else {}),
            "data": {"type": "float32"},
            "postprocessing": processing.post,
        }],
        "weights": {
            "keras_hdf5": {"source": KERAS_FILE, "tensorflow_version": tf_version,
                           "comment": "whole Keras model (tf.keras, Keras 2) of the network in this package"},
            "tensorflow_saved_model_bundle": {
                # the oldest runtime the frozen graph is proven in, not the writer's version: deepImageJ
                # and bioimage.io tools pick their TensorFlow by it
                "source": SAVED_MODEL_FILE, "tensorflow_version": OLDEST_PROVEN_TENSORFLOW, "parent": "keras_hdf5",
                "comment": f"frozen graph written with TensorFlow {tf_version}, signature 'serving_default' "
                           f"(input -> output), tag 'serve'; tested in {PROVEN_RUNTIMES}",
            },
        },
        "config": config,
    }
    if thresholds:
        rdf["config"]["pyfiji_dl"]["thresholds"] = thresholds
    return rdf


def _output_description(exportable: ExportableModel) -> str:
    family = exportable.family
    if family == "stardist":
        return "object probability (channel 0) and ray distances, upsampled to the input size"
    if family == "unet":
        return "foreground probability"
    return "restored image"


def _format_version() -> str:
    from bioimageio.spec.model.v0_5 import ModelDescr

    return str(ModelDescr.implemented_format_version)


def _stardist_config(exportable: ExportableModel) -> dict:
    """``config.stardist`` as StarDist's own exporter writes it (its importer reads these keys)."""
    import stardist

    model = exportable.model
    config_json = json.loads((exportable.model_dir / "config.json").read_text())
    thresholds = exportable.card.thresholds or {
        "prob": float(model.thresholds.prob), "nms": float(model.thresholds.nms)}
    result = {
        "stardist_version": stardist.__version__,
        "python_version": stardist.__version__,  # StarDist's exporter stores its own version under this key
        "thresholds": {"prob": float(thresholds["prob"]), "nms": float(thresholds["nms"])},
        "weights": "weights_best.h5",
        "config": config_json,
        "n_rays": int(config_json.get("n_rays", exportable.card.details.n_rays or 0)),
        "grid": list(config_json.get("grid", exportable.card.details.grid or [])),
        "output_layout": "single output: probability then distances, upsampled to the input size "
                         "(export_TF(single_output=True, upsample_grid=True))",
    }
    if exportable.ndim == 2:
        result["postprocessing_macro"] = STARDIST_MACRO
    return result


def _training_details(exportable: ExportableModel) -> dict:
    config = getattr(exportable.model, "config", None)
    details: dict = {"optimizer": "Adam"}
    for key, attr in (("training_epochs", "train_epochs"), ("training_batch_size", "train_batch_size"),
                      ("initial_learning_rate", "train_learning_rate")):
        value = getattr(config, attr, None)
        if value is not None:
            details[key] = float(value)
    loss = getattr(config, "train_loss", None)
    if exportable.family == "stardist":
        loss = "StarDist loss (binary cross-entropy on probability + distance loss)"
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
    card, family = exportable.card, exportable.family
    title, task = _family(exportable).title, _family(exportable).export_task
    spatial = exportable.spatial_axes
    lines = [f"# {name}", "", description or _default_description(exportable), "",
             f"Exported on {_dt.date.today().isoformat()} by pyfiji_dl {__version__} from a model folder "
             f"written by `pyfiji-dl train {family}`.", ""]
    lines += ["## What the model does", "", f"{title} ({task}); {exportable.ndim}D images with "
              f"{exportable.n_channels} channel(s).", ""]
    lines += ["## Input", "",
              f"- tensor `input`, axes batch, {', '.join(spatial)}, channel; float32",
              f"- valid sizes along {', '.join(spatial)}: at least {_tuple(exportable.min_shape)}, "
              f"in steps of {_tuple(exportable.step)}; tiles need a halo of {_tuple(exportable.halo)} pixels",
              f"- preprocessing: {processing.description_pre}", ""]
    lines += ["## Output", "",
              f"- tensor `output`: {_output_description(exportable)}; channels: "
              f"{_channel_text(exportable.output_channel_names)}",
              f"- postprocessing: {processing.description_post}", ""]
    if family == "stardist":
        thresholds = card.thresholds
        lines += ["### StarDist thresholds", "",
                  f"- probability threshold: {thresholds.get('prob', 'n/a')}",
                  f"- overlap (NMS) threshold: {thresholds.get('nms', 'n/a')}",
                  f"- rays: {card.details.n_rays}, grid: {card.details.grid}", ""]
    lines += ["## How to use it", "",
              "- **Fiji / deepImageJ**: install the package with deepImageJ's *Install model* (from this zip), "
              "open an image, run it. deepImageJ 3 applies the preprocessing in `rdf.yaml`; older versions run "
              f"`{PREPROCESSING_MACRO}`"
              + (f" and `{STARDIST_MACRO}` (StarDist objects: needs the StarDist update site)"
                 if family == "stardist" and exportable.ndim == 2 else "")
              + (f" and `{POSTPROCESSING_MACRO}`" if processing.deepimagej_post else "") + ".",
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
    if exportable.family in ("stardist", "unet") and pooled.exists():
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
