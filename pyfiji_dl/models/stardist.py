"""StarDist adapter: configuration, training, thresholds and prediction.

Thin on purpose: StarDist does the modelling; this module turns our options into
its ``Config2D``/``Config3D``, trains with the shared progress/history/resume
bookkeeping, and predicts with tiling or block-wise processing.
"""

from __future__ import annotations

import contextlib
import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .. import progress as reporting
from ..data.augment import instance_augmenter
from ..data.instances import InstanceDataset
from ..data.normalize import normalize_percentile
from . import training
from .card import CardDetails, ModelCard, ModelFolderError, read_card

if TYPE_CHECKING:
    from ..families.stardist import StarDistOptions

log = logging.getLogger(__name__)

FAMILY = "stardist"
OUTPUTS = "labels"  # prediction writes label maps, ROI sets and object tables
# What a complete model folder holds besides its card (models/completeness.py checks it);
# thresholds.json comes from StarDist's threshold optimisation at the end of training.
MODEL_FILES = {"config": "config.json", "weights": ("weights_best.h5", "weights_last.h5"),
               "thresholds": "thresholds.json"}
NORMALIZATION = {"method": "percentile", "low": 1.0, "high": 99.8}


@dataclass
class StarDistCard(CardDetails):
    """The StarDist part of a model card, written when training ends.

    Attributes
    ----------
    thresholds : dict, optional
        ``{"prob": ..., "nms": ...}`` optimised on the validation images.
    n_rays : int, optional
    grid : list of int, optional
    largest_object_px : int, optional
        Largest annotated object (pixels along its longest axis): the block size of
        prediction on very large images keeps whole objects in a block.
    """

    thresholds: dict | None = None
    n_rays: int | None = None
    grid: list | None = None
    largest_object_px: int | None = None

    def decision_thresholds(self) -> dict:
        return dict(self.thresholds or {})

    def largest_object(self) -> int | None:
        return self.largest_object_px


CARD_DETAILS = StarDistCard


def plan_training(dataset: InstanceDataset, options: StarDistOptions, *, progress: bool = False):
    """The training plan for this device, these objects and the budget; options with it filled in.

    Returns
    -------
    options : StarDistOptions
        Unset (None) patch, batch, steps, epochs and lr taken from the plan.
    plan : pyfiji_dl.models.budget.TrainingPlan
    """
    from ..data.checks import object_extents
    from .budget import plan_options
    from .device import configure_tensorflow

    device = configure_tensorflow(quiet=not progress)["device"]
    extents = [e for s in dataset.all_samples for e in object_extents(np.asarray(s.labels))]
    grid = options.grid if isinstance(options.grid, tuple) else (options.grid,)
    # the U-Net needs sizes divisible by 2**depth, and StarDist's grid subsamples further
    divisor = 2 ** options.depth * int(max(grid))
    return plan_options(options.training_profile, options, [s.labels.shape for s in dataset.all_samples], extents,
                        device=device, divisor=divisor)


def anisotropy_of(dataset: InstanceDataset) -> tuple | None:
    """Voxel anisotropy (z, y, x) from the first sample's calibration, for 3D."""
    if dataset.ndim != 3:
        return None
    cal = dataset.all_samples[0].calibration
    return (cal.voxel_depth / cal.pixel_width, cal.pixel_height / cal.pixel_width, 1.0)


def make_config(dataset: InstanceDataset, options: StarDistOptions):
    """A StarDist ``Config2D``/``Config3D`` for ``dataset`` from ``options``."""
    from stardist.models import Config2D, Config3D

    options, plan = plan_training(dataset, options)
    patch = tuple(options.patch)
    if len(patch) == 1:
        patch = patch * dataset.ndim
    common = dict(
        n_channel_in=dataset.n_channels,
        train_patch_size=patch,
        train_learning_rate=options.lr,
        train_epochs=options.epochs,
        train_steps_per_epoch=options.steps,
        train_tensorboard=False,
        train_reduce_lr=dict(plan.reduce_lr),
        unet_n_depth=options.depth,
        unet_n_filter_base=options.filters,
        use_gpu=False,  # gputools (OpenCL) data generation; TensorFlow still uses the GPU
        **options.extra,
    )
    if dataset.ndim == 2:
        grid = options.grid if isinstance(options.grid, tuple) else (options.grid, options.grid)
        return Config2D(n_rays=options.rays or 32, grid=grid, train_batch_size=options.batch, **common)
    from stardist import Rays_GoldenSpiral

    anisotropy = anisotropy_of(dataset)
    if isinstance(options.grid, tuple):
        grid = options.grid
    else:
        # subsample less along a coarse z axis, as StarDist's 3D notebook does
        grid = tuple(1 if a > 1.5 else options.grid for a in anisotropy[:1]) + (options.grid, options.grid)
    rays = Rays_GoldenSpiral(options.rays or 96, anisotropy=anisotropy)
    return Config3D(rays=rays, grid=grid, anisotropy=anisotropy, train_batch_size=options.batch, **common)


def _model_class(ndim: int):
    from stardist.models import StarDist2D, StarDist3D

    return StarDist2D if ndim == 2 else StarDist3D


def _open(model_dir: Path, config=None):
    ndim = config.n_dim if config is not None else read_card(model_dir).ndim
    return training.open_model(_model_class(ndim), model_dir, config)


def load_model(model_dir: Path):
    """Open a trained StarDist model folder (config, best weights, thresholds)."""
    training.check_family(model_dir, "stardist", "StarDist")
    return _open(model_dir)


def prepare_arrays(samples: list, n_channels: int):
    """Normalised images and label maps as StarDist wants them."""
    channel_axis = -1 if n_channels > 1 else None
    X = [normalize_percentile(s.image, NORMALIZATION["low"], NORMALIZATION["high"], channel_axis=channel_axis)
         for s in samples]
    Y = [np.asarray(s.labels, dtype=np.int32) for s in samples]
    return X, Y


def _check_compatible(config, dataset: InstanceDataset, source: Path) -> None:
    if config.n_dim != dataset.ndim or config.n_channel_in != dataset.n_channels:
        raise ModelFolderError(
            f"{source} is a {config.n_dim}D model for {config.n_channel_in} channel(s); the data are "
            f"{dataset.ndim}D with {dataset.n_channels} channel(s)."
        )


def train(
    dataset: InstanceDataset,
    model_dir: Path,
    options: StarDistOptions,
    *,
    resume: bool = False,
    from_model: Path | None = None,
    progress: bool = True,
    extra_callbacks: list | None = None,
):
    """Train (or resume, or fine-tune) a StarDist model into ``model_dir``.

    Parameters
    ----------
    dataset : InstanceDataset
    model_dir : Path
        Must be new or empty, unless ``resume``.
    options : StarDistOptions
    resume : bool
        Continue an interrupted run from its last checkpoint, up to the same total
        number of epochs.
    from_model : Path, optional
        Fine-tune: start from this model's weights (and its rays/grid/network).
    progress : bool
    extra_callbacks : list, optional
        More Keras callbacks (e.g. to stop early).

    Returns
    -------
    model
        The trained StarDist model with its best weights loaded.
    """
    from .device import configure_tensorflow

    model_dir = Path(model_dir).resolve()
    configure_tensorflow(quiet=not progress)
    options, plan = plan_training(dataset, options, progress=progress)

    def config_for(source):
        if source is None:
            return make_config(dataset, options)
        _check_compatible(source.config, dataset, Path(from_model))
        config = source.config
        config.train_learning_rate = options.lr
        config.train_epochs = options.epochs
        config.train_steps_per_epoch = options.steps
        # the plan gives every axis (one number is the size of every axis, as for a new model)
        patch = tuple(options.patch)
        config.train_patch_size = patch * config.n_dim if len(patch) == 1 else patch
        config.train_batch_size = options.batch
        config.train_reduce_lr = dict(plan.reduce_lr)
        return config

    start = training.start_training(
        model_dir, plan, resume=resume, epochs=options.epochs, open_saved=_open, config_for=config_for,
        card_for=lambda model: ModelCard.new(
            FAMILY, ndim=dataset.ndim, n_channels=dataset.n_channels,
            axes=("ZYX" if dataset.ndim == 3 else "YX") + ("C" if dataset.n_channels > 1 else ""),
            normalization=NORMALIZATION),
        check_resumed=lambda model: _check_compatible(model.config, dataset, model_dir),
        from_model=from_model, load_source=load_model, progress=progress)
    model = start.model

    X, Y = prepare_arrays(dataset.train, dataset.n_channels)
    X_val, Y_val = prepare_arrays(dataset.val, dataset.n_channels)

    def fit(epochs):
        model.train(X, Y, validation_data=(X_val, Y_val),
                    augmenter=instance_augmenter(options.seed) if options.augment else None,
                    epochs=epochs, steps_per_epoch=model.config.train_steps_per_epoch, seed=options.seed)

    training.fit_with_bookkeeping(model, model_dir, fit, epochs_total=start.epochs_total,
                                  epochs_done=start.epochs_done, progress=progress, description="StarDist training",
                                  max_minutes=options.max_minutes, extra_callbacks=extra_callbacks,
                                  early_stopping_patience=start.plan_used.get("early_stopping_patience"),
                                  expected_epochs=start.plan_used.get("expected_epochs"))
    if progress:
        log.info("Optimising the probability and overlap thresholds on %d validation image(s)...", len(X_val))
    with training.quiet_keras(), contextlib.redirect_stderr(io.StringIO()):
        model.optimize_thresholds(X_val, Y_val)
    return model


def thresholds(model) -> dict:
    return {"prob": float(model.thresholds.prob), "nms": float(model.thresholds.nms)}


def predict(model, image: np.ndarray, *, n_tiles=None, block: dict | None = None) -> tuple[np.ndarray, dict]:
    """Instances for one normalised image (``YX``/``ZYX``, channels last if any).

    Returns
    -------
    labels : ndarray of int32
    probabilities : dict
        Object probability by label id.
    """
    with training.quiet_keras():
        if block is not None:
            axes = "YXC" if image.ndim == 3 else "YX"
            labels, details = model.predict_instances_big(image, axes=axes, n_tiles=n_tiles,
                                                          show_progress=False, **block)
        else:
            labels, details = model.predict_instances(image, n_tiles=n_tiles, show_tile_progress=_tile_progress())
            # predict_instances paints polygon i (2D and 3D) with label i + 1
            return labels.astype(np.int32), probabilities_by_label(labels, details, numbered_by_index=True)
    return labels.astype(np.int32), probabilities_by_label(labels, details)


def _tile_progress():
    """StarDist's tile progress for a listener of :mod:`pyfiji_dl.progress`, or False (none).

    StarDist accepts a drop-in replacement for tqdm here (``show_tile_progress``, a
    callable); this one reports each finished tile of a tiled prediction, which the warm
    worker shows in Fiji (and where it can stop a cancelled job).
    """
    if not reporting.listened():
        return False

    def tiles(iterable, disable=False, total=None):
        for index, tile in enumerate(iterable):
            yield tile
            if total:
                reporting.report(index + 1, total, "tile")

    return tiles


def probabilities_by_label(labels: np.ndarray, details: dict, *, numbered_by_index: bool = False) -> dict:
    """Object probability by label id.

    With ``numbered_by_index`` (StarDist's ``predict_instances``: the polygon at index
    ``i`` of ``details`` is label ``i + 1``) every visible object gets the ``prob`` of
    its own polygon. Otherwise (``predict_instances_big`` renumbers the labels) each
    object's probability is looked up at its centre point: every object is painted
    over its own centre unless a more probable object covers it, in which case its
    probability is left out.
    """
    probs = np.asarray(details.get("prob", []), dtype=float)
    if numbered_by_index:
        present = np.unique(labels)
        present = present[(present > 0) & (present <= len(probs))]
        return {int(label): float(probs[label - 1]) for label in present}
    points = np.asarray(details.get("points", np.zeros((0, labels.ndim))), dtype=float)
    if not len(points):
        return {}
    index = np.clip(np.round(points).astype(int), 0, np.array(labels.shape) - 1)
    found = labels[tuple(index.T)]
    # more probable objects are painted last, so they own a shared centre pixel
    order = np.argsort(-probs, kind="stable")
    result: dict = {}
    for label, prob in zip(found[order].tolist(), probs[order].tolist()):
        if label and label not in result:
            result[int(label)] = float(prob)
    return result
