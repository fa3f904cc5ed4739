"""``pyfiji-dl predict``: a model folder applied to files and folders.

Per input ``NAME.tif`` the output folder gets, in the layout training data use (so
corrected predictions can go straight back into training):

* ``masks/NAME.tif``  label map (16-bit, calibration and LUT of the input),
* ``rois/NAME.zip``   ROI Manager set, one exact ROI per object, on its frame/slice,
* ``objects/NAME.csv`` one row per object (written last: it marks the input done),

and ``summary.csv`` with counts per image and per frame. A U-Net adds
``probability/NAME.tif`` (32-bit foreground probability) and ``binary/NAME.tif``
(8-bit 0/255 mask, the thresholded probability). Restoration models (CARE,
Noise2Void) write ``restored/NAME.tif``. Inputs are never modified; every file is
written atomically; finished inputs are skipped on re-run.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import progress
from ..errors import OptionError, PyfijiDLError
from ..data.normalize import normalize_percentile
from ..data.pairs import IMAGE_SUFFIXES
from ..io.outputs import DiskFullError
from ..io.tables import write_csv
from ..io.tiff import (ImageInfo, read_image, require_intensity_pixels, select_channel, write_imagej_tiff,
                       write_label_image)
from ..models import adapter_for, tiling
from ..models.card import ModelCard, read_card
from ..models.source import open_model_source


class PredictionInputError(PyfijiDLError, ValueError):
    """An input cannot be given to this model; the message names it."""


@dataclass
class PredictionResult:
    done: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    summary: Path | None = None


def expand_inputs(inputs: list) -> list[Path]:
    """Files as given, folders expanded to their TIFFs (sorted); missing paths are errors."""
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
            if not found:
                raise PredictionInputError(f"{path}: no .tif images in this folder")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise PredictionInputError(f"{path}: no such file or folder")
    stems = {}
    for path in files:
        if path.stem in stems:
            raise PredictionInputError(f"{stems[path.stem]} and {path} have the same name; outputs would collide")
        stems[path.stem] = path
    return files


# Post-processing a user may override at prediction time (semantic models only).
SEMANTIC_OVERRIDES = ("threshold", "min_area", "max_area", "split_touching")


def outputs_of(card: ModelCard) -> str:
    """What a model's predictions are: ``"labels"``, ``"semantic"`` or ``"restored"`` (its adapter says)."""
    return _adapter(card.family).OUTPUTS


def output_paths(out_dir: Path, stem: str, outputs: str = "labels") -> dict:
    """Where the outputs of input ``stem`` go, for a model whose predictions are ``outputs``;
    ``done`` is written last."""
    if outputs == "restored":
        restored = out_dir / "restored" / f"{stem}.tif"
        return {"restored": restored, "done": restored}
    objects = out_dir / "objects" / f"{stem}.csv"
    paths = {
        "labels": out_dir / "masks" / f"{stem}.tif",
        "rois": out_dir / "rois" / f"{stem}.zip",
        "objects": objects,
        "done": objects,
    }
    if outputs == "semantic":
        paths["probability"] = out_dir / "probability" / f"{stem}.tif"
        paths["binary"] = out_dir / "binary" / f"{stem}.tif"
    return paths


def _model_layout(image: np.ndarray, info: ImageInfo, card: ModelCard, channel: int | None, source: Path):
    """Image with channels last (or the chosen channel), and its axes without C.

    Raises
    ------
    pyfiji_dl.errors.PyfijiDLError
        The image has no pixels, 1-bit or complex pixels, or channels or dimensions
        that do not fit the model; the message names ``source``.
    """
    require_intensity_pixels(image, source)
    n_channels = card.n_channels
    if n_channels > 1 and channel is not None:
        raise PredictionInputError(f"{source}: this model takes {n_channels} channels; --channel picks one "
                                   "for a one-channel model. Leave it out.")
    image, axes = select_channel(image, info.axes, channel, source, all_channels=n_channels > 1)
    given = image.shape[-1] if axes.endswith("C") else 1
    if given != n_channels:
        raise PredictionInputError(f"{source}: has {given} channel(s); the model needs {n_channels}")
    axes = axes.replace("C", "")
    if card.ndim == 3 and "Z" not in axes:
        raise PredictionInputError(f"{source}: is 2D ({info.axes}); this is a 3D model and needs a z-stack")
    return image, axes


def _planes(axes: str, model_ndim: int) -> tuple[list, str]:
    """Leading axes predicted one by one (T always; Z too for a 2D model)."""
    spatial = "ZYX" if model_ndim == 3 else "YX"
    loop = [a for a in axes if a not in spatial]
    return loop, spatial


def predict_image(model, adapter, card: ModelCard, image: np.ndarray, axes: str) -> tuple[np.ndarray, dict]:
    """Labels (axes = ``axes``) and {(frame, label): probability} for one image."""
    loop_axes, spatial = _planes(axes, card.ndim)
    loop_shape = tuple(image.shape[axes.index(a)] for a in loop_axes)
    spatial_shape = tuple(image.shape[axes.index(a)] for a in spatial)
    n_channels = card.n_channels
    flat = image.reshape((-1,) + image.shape[len(loop_axes):])
    labels = np.zeros((flat.shape[0],) + spatial_shape, np.int32)
    probabilities: dict = {}
    # the network's own divisibility, when the adapter's model tells it (its exact tile
    # halo would cost a network run per model; the tiling module's estimate is enough)
    div_by = tuple(model._axes_div_by(spatial)) if hasattr(model, "_axes_div_by") else 1
    block = None
    tiled_shape = spatial_shape
    if card.ndim == 2 and tiling.needs_block_processing(spatial_shape, spatial):
        block = tiling.block_parameters(spatial_shape, card.largest_object or 64, div_by,
                                 axes="YXC" if n_channels > 1 else "YX", divisible_by=div_by)
        tiled_shape = tuple(block["block_size"][:2])  # n_tiles applies to each block
    n_tiles = tuple(tiling.choose_n_tiles(tiled_shape, spatial, n_channels=n_channels, grid=div_by))
    if n_channels > 1:
        n_tiles += (1,)
    low, high = card.percentiles
    for index, plane in enumerate(flat):
        normalized = normalize_percentile(plane, low, high, channel_axis=-1 if n_channels > 1 else None)
        plane_labels, probs = adapter.predict(model, normalized, n_tiles=n_tiles, block=block)
        labels[index] = plane_labels
        frame = index + 1
        probabilities.update({(frame, label): p for label, p in probs.items()})
        if len(flat) > 1:
            progress.report(index + 1, len(flat), _plane_name(loop_axes))
    return labels.reshape(loop_shape + spatial_shape), probabilities


def segment_image(model, adapter, card: ModelCard, image: np.ndarray, axes: str):
    """A semantic model (U-Net) on one image, plane by plane or frame by frame.

    Parameters
    ----------
    model, adapter
        The loaded model and its adapter (``predict`` gives a probability map of a
        raw plane, ``postprocess`` its mask, objects and object probabilities).
    card : ModelCard
        Model card, possibly with overridden post-processing.
    image : ndarray
        Raw image in the model's layout (channels last if the model has several).
    axes : str
        Axes of ``image`` without C.

    Returns
    -------
    probability : ndarray of float32
    mask : ndarray of bool
    labels : ndarray of int32
        Objects numbered per plane (as StarDist's are per frame).
    probabilities : dict
        ``{(plane, label): mean probability}``, planes 1-based.
    """
    loop_axes, spatial = _planes(axes, card.ndim)
    loop_shape = tuple(image.shape[axes.index(a)] for a in loop_axes)
    spatial_shape = tuple(image.shape[axes.index(a)] for a in spatial)
    flat = image.reshape((-1,) + image.shape[len(loop_axes):])
    probability = np.zeros((flat.shape[0],) + spatial_shape, np.float32)
    mask = np.zeros(probability.shape, bool)
    labels = np.zeros(probability.shape, np.int32)
    probabilities: dict = {}
    for index, plane in enumerate(flat):
        probability[index] = adapter.predict(model, plane)
        mask[index], labels[index], probs = adapter.postprocess(probability[index], card)
        probabilities.update({(index + 1, label): p for label, p in probs.items()})
        if len(flat) > 1:
            progress.report(index + 1, len(flat), _plane_name(loop_axes))
    shape = loop_shape + spatial_shape
    return probability.reshape(shape), mask.reshape(shape), labels.reshape(shape), probabilities


def predict_samples(model, adapter, card: ModelCard, samples: list) -> list:
    """Label maps of annotated samples (already in the model's layout), for a QC report."""
    return [predict_image(model, adapter, card, sample.image, card.spatial_axes)[0] for sample in samples]


def segment_samples(model, adapter, card: ModelCard, samples: list) -> tuple[list, list]:
    """Masks and objects of annotated 2D samples with a semantic model (U-Net), for a QC report.

    Each raw image is predicted (``adapter.predict``) and post-processed with the
    card (``adapter.postprocess``: threshold, connected components, area filter).

    Returns
    -------
    masks : list of ndarray of bool
        The thresholded probability (before the area filter).
    labels : list of ndarray of int32
        The objects.
    """
    masks, labels = [], []
    for sample in samples:
        mask, objects, _ = adapter.postprocess(adapter.predict(model, sample.image), card)
        masks.append(mask)
        labels.append(objects)
    return masks, labels


def restore_image(model, adapter, card: ModelCard, image: np.ndarray, axes: str) -> np.ndarray:
    """Restored float32 image (axes = ``axes``), plane by plane or frame by frame."""
    loop_axes, spatial = _planes(axes, card.ndim)
    spatial_shape = tuple(image.shape[axes.index(a)] for a in spatial)
    div_by = tuple(model._axes_div_by(spatial)) if hasattr(model, "_axes_div_by") else 1
    n_tiles = tuple(tiling.choose_n_tiles(spatial_shape, spatial, grid=div_by))
    flat = image.reshape((-1,) + spatial_shape)
    restored = []
    for index, plane in enumerate(flat):
        restored.append(adapter.predict(model, plane, n_tiles=n_tiles))
        if len(flat) > 1:
            progress.report(index + 1, len(flat), _plane_name(loop_axes))
    restored = np.stack(restored)
    return restored.reshape(image.shape).astype(np.float32, copy=False)


def _plane_name(loop_axes: list) -> str:
    return "frame" if "T" in loop_axes else "slice"


def _measurement_axes(axes: str, model_ndim: int) -> str:
    # A 2D model on a z-stack finds objects per slice, not volumes: measure them as
    # frames so each slice's objects get their own rows.
    if model_ndim == 2 and "Z" in axes and "T" not in axes:
        return axes.replace("Z", "T")
    return axes


def predict_paths(
    model_dir: str | os.PathLike,
    inputs: list,
    out_dir: str | os.PathLike,
    *,
    channel: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    model=None,
    overrides: dict | None = None,
    summary: bool = True,
    roi_order: str = "confidence",
) -> PredictionResult:
    """Predict every input and write label maps, ROI sets, object tables and a summary.

    Parameters
    ----------
    model_dir : path-like
        A model folder written by ``pyfiji-dl train``, or a BioImage Model Zoo
        package exported from one (``pyfiji-dl export``).
    inputs : list of path-like
        TIFF files and folders of TIFFs.
    out_dir : path-like
    channel : int, optional
        1-based channel of multichannel inputs for a single-channel model.
    overwrite : bool
        Predict again even where outputs exist (default: skip finished inputs).
    progress : bool
    model : optional
        The model of ``model_dir`` already loaded (e.g. by a worker serving many
        calls); loaded on the first input that needs it otherwise.
    overrides : dict, optional
        For a U-Net: post-processing that replaces the card's (``threshold``,
        ``min_area``, ``max_area``, ``split_touching``); None values are ignored.
    summary : bool
        Write ``summary.csv`` at the end (a caller predicting file by file, such as
        a distributed run, writes it once over all files instead).
    roi_order : {"confidence", "label"}
        Order of each ROI set: least confident objects first (for review), or by
        label id. Either way every ROI is named and coloured by its confidence
        (:mod:`pyfiji_dl.prediction.review`).

    Returns
    -------
    PredictionResult
        A file that fails (unreadable, no pixels or 1-bit ones, channels or
        dimensions the model cannot take, an output that cannot be written, too
        little memory) is reported in ``failed``, its message naming it, and does
        not stop the others. A full disk stops the run; any other exception is a
        bug of ours and is raised.
    """
    from tqdm.auto import tqdm

    model_dir, card, files = prepare_run(model_dir, inputs, out_dir)
    out_dir = Path(out_dir)
    adapter = _adapter(card.family)
    kind = adapter.OUTPUTS
    card = _with_overrides(card, overrides, model_dir, kind)
    result = PredictionResult()
    for path in tqdm(files, desc="predict", unit="image", disable=not progress or len(files) < 2, file=sys.stderr):
        outputs = output_paths(out_dir, path.stem, kind)
        if not overwrite and is_finished(out_dir, path, kind):
            result.skipped.append(path)
            continue
        if model is None:
            # outside the per-file errors: a model that cannot load is one error, not one per image
            model = _load_model(adapter, model_dir)
        try:
            image, info = read_image(path)
            data, axes = _model_layout(image, info, card, channel, path)
            if kind == "restored":
                restored = restore_image(model, adapter, card, data, axes)
                write_imagej_tiff(outputs["restored"], restored, axes, calibration=info.calibration)
                result.done.append(path)
                continue
            if kind == "semantic":
                probability, mask, labels, probabilities = segment_image(model, adapter, card, data, axes)
                write_imagej_tiff(outputs["probability"], probability, axes, calibration=info.calibration,
                                  display_range=(0.0, 1.0))
                write_imagej_tiff(outputs["binary"], np.where(mask, 255, 0).astype(np.uint8), axes,
                                  calibration=info.calibration)
            else:
                labels, probabilities = predict_image(model, adapter, card, data, axes)
            _write_objects(outputs, labels, probabilities, data, axes, info, card, path.name, roi_order)
            result.done.append(path)
        except DiskFullError:
            raise  # every further image would fail the same way: stop, keeping the finished ones
        # Only what a user's file or machine can cause fails one input; any other exception
        # is a bug of ours and keeps its traceback (issue #15's rule).
        except (PyfijiDLError, OSError) as exc:
            result.failed.append((path, str(exc)))
        except MemoryError:
            result.failed.append((path, f"{path}: not enough memory to predict it. Close other programs, or cut "
                                        "it into smaller images (in Fiji: Image > Crop) and predict those."))
    if summary:
        result.summary = summarize_run(out_dir, files, kind, card=card)
    return result


def prepare_run(model_dir, inputs: list, out_dir) -> tuple[Path, ModelCard, list]:
    """Everything a prediction run checks before it reads an image or writes a file.

    Returns
    -------
    model_dir : Path
        The model folder (a bioimageio package unpacked).
    card : ModelCard
    files : list of Path
        The inputs, folders expanded.

    Raises
    ------
    pyfiji_dl.models.completeness.IncompleteModelError
        The model lacks weights, configuration or thresholds (or they are damaged).
    pyfiji_dl.io.outputs.OutputOverwritesInputError
        The output folder is, or holds, an input.
    PredictionInputError
        A missing input, or two inputs with the same name.
    """
    from ..io.outputs import check_output_kinds, refuse_overwriting_inputs
    from ..models.completeness import require_complete

    model_dir = open_model_source(model_dir)
    card = require_complete(model_dir, read_card(model_dir))
    files = expand_inputs(inputs)
    check_output_kinds(folders=[out_dir])
    refuse_overwriting_inputs([*inputs, *files], folders=[out_dir])
    kind = outputs_of(card)
    for path in files:
        # a link inside the output folder pointing at an input is caught here
        refuse_overwriting_inputs(files, files=output_paths(Path(out_dir), path.stem, kind).values())
    return model_dir, card, files


def is_finished(out_dir: Path, path: Path, outputs: str) -> bool:
    """Whether input ``path`` has all its ``outputs``, each readable (the ROI set is optional: no objects,
    no set).

    An output damaged since it was written (truncated, emptied, replaced by another
    file) does not count: the input is predicted again.
    """
    paths = output_paths(Path(out_dir), Path(path).stem, outputs)
    needed = [p for key, p in paths.items() if key != "rois"]
    if not all(p.exists() for p in needed):
        return False
    rois = [paths["rois"]] if "rois" in paths and paths["rois"].exists() else []
    return all(_readable_output(p) for p in {*needed, *rois})


def _readable_output(path: Path) -> bool:
    """Whether an earlier output reads back whole (TIFF pixels, CSV rows, ROI zip entries)."""
    import zipfile

    from ..io.tables import read_csv

    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            read_image(path)
        elif path.suffix.lower() == ".csv":
            read_csv(path)
            return path.stat().st_size > 0
        elif path.suffix.lower() == ".zip":
            with zipfile.ZipFile(path) as archive:
                return archive.testzip() is None
    except (OSError, ValueError, RuntimeError, KeyError, IndexError, zipfile.BadZipFile, UnicodeDecodeError):
        return False
    return True


def summarize_run(out_dir: Path, files: list, outputs: str, card: ModelCard | None = None) -> Path | None:
    """``summary.csv`` over every finished input of a run (skipped ones too); None for restoration.

    With the model's ``card`` the summary gains the review queue (ranking and
    ``review.html``, :mod:`pyfiji_dl.prediction.queue`).
    """
    if outputs == "restored":
        return None
    finished = [p for p in files if output_paths(Path(out_dir), Path(p).stem, outputs)["done"].exists()]
    return write_summary(Path(out_dir), finished, card=card)


def _write_objects(outputs: dict, labels: np.ndarray, probabilities: dict, data: np.ndarray, axes: str,
                   info: ImageInfo, card: ModelCard, image_name: str, roi_order: str = "confidence") -> None:
    """Label map, ROI set and object table of one input; the table last (it marks the input done)."""
    from ..annotation.convert import labels_to_rois
    from ..io.rois import write_rois
    from .measure import object_columns, object_rows
    from .review import confidence_floor, review_rois

    model_ndim = card.ndim
    write_label_image(outputs["labels"], labels, axes, calibration=info.calibration)
    n_z = labels.shape[axes.index("Z")] if "Z" in axes else 1
    rois = review_rois(labels_to_rois(labels, axes), probabilities, n_z=n_z, model_ndim=model_ndim,
                       order=roi_order, floor=confidence_floor(card))
    if rois:
        write_rois(outputs["rois"], rois)
    elif outputs["rois"].exists():
        outputs["rois"].unlink()  # a stale set from an earlier run would mislead
    measure_axes = _measurement_axes(axes, model_ndim)
    rows = object_rows(labels, measure_axes, image=data, calibration=info.calibration,
                       probabilities=probabilities, image_name=image_name)
    n_channels = data.shape[-1] if data.ndim > labels.ndim else 1
    # the review score, under the name every review tool reads (the same number as
    # `probability` today: StarDist's object probability, a U-Net's mean probability)
    for row in rows:
        row["confidence"] = row.get("probability")
    write_csv(outputs["objects"], rows, object_columns(measure_axes, n_channels) + ["confidence"])


def _with_overrides(card: ModelCard, overrides: dict | None, model_dir: Path, outputs: str) -> ModelCard:
    """The card with the user's post-processing; an error for a model that has none."""
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    if not given:
        return card
    unknown = sorted(set(given) - set(SEMANTIC_OVERRIDES))
    if unknown:
        raise OptionError(f"unknown prediction override(s): {', '.join(unknown)}")
    if outputs != "semantic":
        raise PredictionInputError(
            f"{model_dir}: {', '.join(sorted(given))} can only be changed for U-Net models; this is a "
            f"{card.family} model (its own thresholds are in its folder)."
        )
    if "threshold" in given and not 0 < given["threshold"] < 1:
        raise PredictionInputError(f"threshold must be between 0 and 1, not {given['threshold']}")
    return card.copy_with(**given)


def write_summary(out_dir: Path, files: list, card: ModelCard | None = None) -> Path | None:
    """``summary.csv``: counts per image and per frame, from the object tables.

    With the model's ``card``, also the review ranking of every image (the
    ``REVIEW_COLUMNS`` of :mod:`pyfiji_dl.prediction.queue`) and ``review.html``.
    """
    from .measure import summary_rows

    rows = []
    files = [Path(p) for p in files]
    for path in files:
        labels_path = output_paths(out_dir, path.stem)["labels"]
        labels, info = read_image(labels_path)
        rows += summary_rows(path.name, labels, info.axes.replace("C", ""))
    if not rows:
        return None
    if card is None:
        return write_csv(Path(out_dir) / "summary.csv", rows)
    from .queue import add_review_columns, write_review_page

    outputs = {path.name: output_paths(Path(out_dir), path.stem) for path in files}
    rows = add_review_columns(rows, {name: paths["objects"] for name, paths in outputs.items()}, card,
                              inputs={path.name: path for path in files})
    summary = write_csv(Path(out_dir) / "summary.csv", rows)
    write_review_page(Path(out_dir), rows, {path.name: path for path in files}, outputs, card)
    return summary


# A long-lived process (pyfiji_dl.worker) sets this to an object with ``get(model_dir,
# load)`` so that a model loaded for one command serves the next ones.
model_cache = None


def _load_model(adapter, model_dir: Path):
    if model_cache is None:
        return adapter.load_model(model_dir)
    return model_cache.get(model_dir, lambda: adapter.load_model(model_dir))


def _adapter(family: str):
    return adapter_for(family)



def interrupted_note(out_dir, inputs: list, card: ModelCard | None, again_command: str) -> str:
    """What an interrupted prediction kept in ``out_dir`` and how to continue it."""
    try:
        files = expand_inputs(inputs)
    except PyfijiDLError:
        return "no output was written"
    if card is None:
        return "no output was written"
    kind = outputs_of(card)
    finished = [p for p in files if is_finished(Path(out_dir), p, kind)]
    if not finished:
        return f"no image had finished, so nothing was kept in {out_dir}. Start again with: {again_command}"
    return (f"{len(finished)} of {len(files)} image(s) had finished; their outputs are kept in {out_dir} "
            f"(no half-written file). Continue with the same command, which skips finished images: "
            f"{again_command}")
