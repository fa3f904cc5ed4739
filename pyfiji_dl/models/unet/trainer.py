"""Training a U-Net: configs from options, patches, the fit, the threshold and the model card."""

from __future__ import annotations

import logging
from dataclasses import fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage

from ...data.augment import random_flips_rotations
from ...data.instances import InstanceDataset
from ...errors import OptionError
from .. import training
from ..card import ModelCard, read_card, write_card
from .config import (DEFAULT_PATCH, FAMILY, FULL_CONNECTIVITY, MAX_VALIDATION_PATCHES, MIN_AREA_FRACTION_OF_MEDIAN,
                     PERCENTILES, THRESHOLD_CANDIDATES, WEIGHTS_BEST, UNetConfig, UNetDataError,
                     contrast_parameters, normalization_parameters)
from .inference import _input_with_channels, predict, preprocess
from .network import tile_halo
from .objects import annotation_instances

if TYPE_CHECKING:
    from ...families.unet import UnetOptions
    from .model import UNetModel

log = logging.getLogger(__name__)


def _default_patch(shapes: list, div: int) -> tuple:
    smallest = int(min(min(s[:2]) for s in shapes))
    side = min(DEFAULT_PATCH, (smallest // div) * div)
    if side < div:
        raise UNetDataError(f"the smallest image ({smallest} px) is smaller than {div} px, the least a U-Net of this "
                            "depth takes; use a smaller --depth or larger images")
    return side, side


def plan_training(dataset: InstanceDataset, options: UnetOptions, *, progress: bool = False):
    """The training plan for this device, these objects and the budget; options with it filled in.

    Returns
    -------
    options : UnetOptions
    plan : pyfiji_dl.models.budget.TrainingPlan
    """
    from ...data.checks import object_extents
    from ..budget import plan_options
    from ..device import configure_tensorflow

    device = configure_tensorflow(quiet=not progress)["device"]
    extents = [e for s in dataset.all_samples for e in object_extents(_as_labels(s.labels))]
    # 16 = 2**4, the deepest U-Net: the patch also fits a fine-tuned source of any depth
    options, plan = plan_options(options.training_profile, options, [s.labels.shape[:2] for s in dataset.all_samples], extents,
                                 device=device, divisor=16)
    # the U-Net's early stopping has its own option (--patience), as in Salomon-Sörensen 2023
    return options, replace(plan, early_stopping_patience=options.patience)


def _as_labels(mask: np.ndarray) -> np.ndarray:
    """Objects of a label map or of a binary mask (8-connected components)."""

    mask = np.asarray(mask)
    if mask.max() <= 1 or len(np.unique(mask)) <= 2:
        return ndimage.label(mask > 0, structure=FULL_CONNECTIVITY)[0]
    return mask.astype(np.int32, copy=False)


def make_config(dataset: InstanceDataset, options: UnetOptions, reduce_lr: dict | None = None) -> UNetConfig:
    """A :class:`UNetConfig` for ``dataset`` from ``options`` (class weights from the training masks)."""
    from ...data.weights import balanced_class_weights

    if any(getattr(options, name) is None for name in ("epochs", "steps", "batch", "lr")):
        options, plan = plan_training(dataset, options)
        reduce_lr = reduce_lr or plan.reduce_lr
    options.check()
    div = 2**options.depth
    shapes = [s.labels.shape for s in dataset.all_samples]
    patch = tuple(options.patch) if options.patch else _default_patch(shapes, div)
    if len(patch) == 1:
        patch = patch * 2
    low, high = (0.0, 100.0) if options.contrast == "none" else PERCENTILES
    return UNetConfig(
        n_channel_in=dataset.n_channels, depth=options.depth, filters=options.filters, dropout=options.dropout,
        contrast=options.contrast, normalization_low=low, normalization_high=high, loss=options.loss,
        focal_gamma=options.focal_gamma, focal_alpha=options.focal_alpha, w0=options.w0, sigma=options.sigma,
        class_weights=list(balanced_class_weights([s.labels for s in dataset.train])),
        train_patch_size=tuple(int(p) for p in patch), train_batch_size=options.batch,
        train_learning_rate=options.lr, train_epochs=options.epochs, train_steps_per_epoch=options.steps,
        train_patience=options.patience, train_reduce_lr=dict(reduce_lr) if reduce_lr else None, seed=options.seed,
    )


def _retrain_config(config: UNetConfig, options: UnetOptions, dataset: InstanceDataset) -> UNetConfig:
    """A fine-tuning config: the source's network and preprocessing, our training settings and loss.

    The class weights of the border-weighted loss come from the new training masks.
    """
    from ...data.weights import balanced_class_weights

    defaults = {f.name: f.default for f in fields(options)}
    kept = [f"--{name} {getattr(options, name)}" for name, saved in
            (("contrast", config.contrast), ("filters", config.filters), ("depth", config.depth))
            if getattr(options, name) != saved and getattr(options, name) != defaults[name]]
    if kept:
        log.warning("%s ignored: fine-tuning keeps the source model's network and contrast (%d filters, depth %d, "
                    "contrast %s), which its weights expect", ", ".join(kept), config.filters, config.depth,
                    config.contrast)
    div = config.divisible_by
    patch = tuple(options.patch) if options.patch else None
    if patch and len(patch) == 1:
        patch = patch * 2
    if patch and any(p % div or p < div for p in patch):
        raise OptionError(f"patch {patch} must be made of multiples of {div} (2**depth of the source model)")
    return replace(config, loss=options.loss, focal_gamma=options.focal_gamma, focal_alpha=options.focal_alpha,
                   w0=options.w0, sigma=options.sigma, train_patch_size=patch or config.train_patch_size,
                   class_weights=list(balanced_class_weights([s.labels for s in dataset.train])),
                   train_batch_size=options.batch, train_learning_rate=options.lr, train_epochs=options.epochs,
                   train_steps_per_epoch=options.steps, train_patience=options.patience, seed=options.seed)


def require_2d(dataset: InstanceDataset) -> None:
    """Raise :class:`UNetDataError` for 3D data (this U-Net is 2D)."""
    if dataset.ndim != 2:
        raise UNetDataError(f"the images are {dataset.ndim}D; this U-Net is 2D. Train on single planes "
                            "(time-lapses are split into frames automatically), or use StarDist for 3D.")


def _check_data(config: UNetConfig, dataset: InstanceDataset, source: Path) -> None:
    require_2d(dataset)
    problems = []
    if config.n_channel_in != dataset.n_channels:
        problems.append(f"{source} takes {config.n_channel_in} channel(s); the data have {dataset.n_channels} "
                        "(choose one with --channel)")
    patch = config.train_patch_size
    small = [f"{s.name} {tuple(s.labels.shape)}" for s in dataset.all_samples
             if any(n < p for n, p in zip(s.labels.shape, patch))]
    if small:
        problems.append(f"images smaller than the training patch {tuple(patch)}: {', '.join(small[:6])}; "
                        f"use a smaller --patch (a multiple of {config.divisible_by})")
    if problems:
        raise UNetDataError("the data do not fit the U-Net; nothing was trained:\n  " + "\n  ".join(problems))


def prepare_arrays(samples: list, config: UNetConfig) -> list:
    """``(image, target)`` per sample: the preprocessed image (``YXC``) and ``YX1`` mask or ``YX2`` mask + weights."""
    from ...data.weights import unet_weight_map

    contrast, normalization = contrast_parameters(config), normalization_parameters(config)
    arrays = []
    for sample in samples:
        x = _input_with_channels(preprocess(sample.image, contrast, normalization), config.n_channel_in)
        labels = annotation_instances(sample.labels)
        target = [(labels > 0).astype(np.float32)]
        if config.loss == "weighted-bce":
            target.append(unet_weight_map(labels, config.w0, config.sigma, config.class_weights))
        arrays.append((x, np.stack(target, axis=-1)))
    return arrays


def _jitter_intensity(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # the ranges of data.augment.instance_augmenter (illumination and gain differ between
    # microscopes); applied to the image only, since the targets carry mask and weights
    x = x * rng.uniform(0.6, 2.0) + rng.uniform(-0.2, 0.2)
    if rng.random() < 0.5:
        x = x + rng.normal(0, rng.uniform(0, 0.03), x.shape)
    return x


def patch_batches(arrays: list, patch: tuple, batch: int, seed: int, augment: bool = True):
    """Endless batches of random patches ``(x, y)``, images drawn in proportion to their area.

    Augmentation: flips and 90-degree rotations of image and target together
    (:func:`pyfiji_dl.data.augment.random_flips_rotations`) and intensity changes of
    the image.
    """
    rng = np.random.default_rng(seed)
    sizes = np.array([(x.shape[0] - patch[0] + 1) * (x.shape[1] - patch[1] + 1) for x, _ in arrays], float)
    odds = sizes / sizes.sum()
    while True:
        xs, ys = [], []
        for _ in range(batch):
            x, y = arrays[rng.choice(len(arrays), p=odds)]
            top = int(rng.integers(0, x.shape[0] - patch[0] + 1))
            left = int(rng.integers(0, x.shape[1] - patch[1] + 1))
            px = x[top:top + patch[0], left:left + patch[1]]
            py = y[top:top + patch[0], left:left + patch[1]]
            if augment:
                px, py = random_flips_rotations(px, py, rng, 2)
                px = _jitter_intensity(px, rng)
            xs.append(px)
            ys.append(py)
        yield np.stack(xs).astype(np.float32), np.stack(ys).astype(np.float32)


def validation_patches(arrays: list, patch: tuple, limit: int = MAX_VALIDATION_PATCHES):
    """Patches on a regular grid over the validation images (the last row/column flush with the edge).

    At most ``limit``, evenly spaced, so that validating stays cheap.
    """
    xs, ys = [], []
    for x, y in arrays:
        tops = sorted({*range(0, x.shape[0] - patch[0] + 1, patch[0]), x.shape[0] - patch[0]})
        lefts = sorted({*range(0, x.shape[1] - patch[1] + 1, patch[1]), x.shape[1] - patch[1]})
        for top in tops:
            for left in lefts:
                xs.append(x[top:top + patch[0], left:left + patch[1]])
                ys.append(y[top:top + patch[0], left:left + patch[1]])
    if len(xs) > limit:
        keep = np.unique(np.linspace(0, len(xs) - 1, limit).round().astype(int))
        xs, ys = [xs[i] for i in keep], [ys[i] for i in keep]
    return np.stack(xs).astype(np.float32), np.stack(ys).astype(np.float32)


def optimise_threshold(probabilities: list, truths: list, candidates=THRESHOLD_CANDIDATES) -> tuple[float, float]:
    """The probability threshold with the best pooled pixel IoU on validation images.

    Parameters
    ----------
    probabilities : list of ndarray
        Predicted probability maps.
    truths : list of ndarray
        Annotations (foreground: non-zero).
    candidates : sequence of float

    Returns
    -------
    (threshold, pixel_iou)
        Ties go to the candidate nearest 0.5; (0.5, 0.0) without any foreground.
    """
    best = (0.5, -1.0)
    for threshold in sorted(candidates, key=lambda t: abs(t - 0.5)):
        tp = fp = fn = 0
        for probability, truth in zip(probabilities, truths):
            predicted, actual = probability > threshold, truth > 0
            both = int(np.count_nonzero(predicted & actual))
            tp += both
            fp += int(np.count_nonzero(predicted)) - both
            fn += int(np.count_nonzero(actual)) - both
        iou = tp / (tp + fp + fn) if tp else 0.0
        if iou > best[1]:
            best = (float(threshold), iou)
    return best[0], max(best[1], 0.0)


def default_area_limits(samples: list) -> dict:
    """``min_area`` (a quarter of the median annotated object) and the object sizes it comes from."""
    areas = np.concatenate([np.bincount(annotation_instances(s.labels).ravel())[1:] for s in samples] or [[]])
    areas = areas[areas > 0]
    if not areas.size:
        return {"min_area": None, "median_object_area": None}
    median = float(np.median(areas))
    return {"min_area": max(1, int(MIN_AREA_FRACTION_OF_MEDIAN * median)), "median_object_area": median}


def train(dataset: InstanceDataset, model_dir: Path, options: UnetOptions, *, resume: bool = False,
          from_model: Path | None = None, progress: bool = True, extra_callbacks: list | None = None) -> UNetModel:
    """Train (or resume, or fine-tune) a U-Net into ``model_dir``; return it with its best weights.

    After training, the best weights (lowest validation loss) are loaded, the
    probability threshold is optimised on the validation images (unless
    ``options.threshold`` is given) and the card gets every post-processing
    parameter.

    Parameters
    ----------
    dataset : InstanceDataset
        2D images with label maps or binary masks (foreground: > 0).
    model_dir : Path
        Must be new or empty, unless ``resume``.
    options : UnetOptions
    resume : bool
        Continue an interrupted run from its last checkpoint, to the same total.
    from_model : Path, optional
        Fine-tune: the network, its weights and its preprocessing come from this
        U-Net; the training settings and loss from ``options``.
    progress : bool
    extra_callbacks : list, optional

    Returns
    -------
    UNetModel
    """
    import tensorflow as tf

    from ..device import configure_tensorflow
    from .model import _open, load_model

    options.check(network=from_model is None and not resume)
    model_dir = Path(model_dir).resolve()
    configure_tensorflow(quiet=not progress)
    options, plan = plan_training(dataset, options, progress=progress)

    def config_for(source):
        if source is not None:
            config = _retrain_config(source.config, options, dataset)
            config.train_reduce_lr = dict(plan.reduce_lr)
            _check_data(config, dataset, Path(from_model))
        else:
            config = make_config(dataset, options, plan.reduce_lr)
            _check_data(config, dataset, model_dir)
        tf.random.set_seed(options.seed)  # the same seed gives the same initial weights (made next)
        return config

    start = training.start_training(model_dir, plan, resume=resume, epochs=options.epochs, open_saved=_open,
                                    config_for=config_for, card_for=lambda model: _card(model.config),
                                    check_resumed=lambda model: _check_data(model.config, dataset, model_dir),
                                    from_model=from_model, load_source=load_model, progress=progress)
    model, epochs_done = start.model, start.epochs_done
    config = model.config
    train_arrays = prepare_arrays(dataset.train, config)
    X_val, Y_val = validation_patches(prepare_arrays(dataset.val, config), config.train_patch_size)
    batches = patch_batches(train_arrays, config.train_patch_size, config.train_batch_size,
                            config.seed + epochs_done, augment=options.augment)

    def fit(epochs):
        model.keras_model.fit(batches, epochs=epochs, steps_per_epoch=config.train_steps_per_epoch,
                              validation_data=(X_val, Y_val), validation_batch_size=config.train_batch_size,
                              callbacks=model.callbacks, verbose=0)

    # no early_stopping_patience: the U-Net stops early by itself (--patience, its own callback)
    training.fit_with_bookkeeping(model, model_dir, fit, epochs_total=start.epochs_total, epochs_done=epochs_done,
                                  progress=progress, description="U-Net training",
                                  max_minutes=options.max_minutes, extra_callbacks=extra_callbacks)
    if (model_dir / WEIGHTS_BEST).exists():
        model.load_weights(WEIGHTS_BEST)  # restore the best epoch, not the last
    if model.early_stopped_at and progress:
        log.info("Early stopping after epoch %d: no better validation loss for %d epochs; keeping the best weights.",
                 model.early_stopped_at, config.train_patience)

    card = read_card(model_dir)
    if options.threshold is None:
        if progress:
            log.info("Optimising the probability threshold on %d validation image(s)...", len(dataset.val))
        probabilities = [predict(model, s.image) for s in dataset.val]
        threshold, iou = optimise_threshold(probabilities, [s.labels for s in dataset.val])
        card.update(threshold_optimisation={"criterion": "pooled pixel IoU on the validation images",
                                            "pixel_iou": iou, "candidates": "0.05 to 0.95 in steps of 0.05"})
    else:
        threshold = float(options.threshold)
        card.update(threshold_optimisation=None)
    areas = default_area_limits(dataset.train)
    card.update(
        threshold=threshold,
        min_area=options.min_area if options.min_area is not None else areas["min_area"],
        max_area=options.max_area,
        median_object_area=areas["median_object_area"],
        split_touching=bool(options.split_touching),
        early_stopped_at_epoch=model.early_stopped_at,
        weights=WEIGHTS_BEST,
    )
    write_card(model_dir, card)
    return model


def _card(config: UNetConfig) -> ModelCard:
    """The model card before training: what the network expects and how to post-process it.

    :func:`pyfiji_dl.models.training.start_training` adds the lineage and the plan.
    """
    halo = tile_halo(config.depth, config.kernel_size)
    return ModelCard.new(
        FAMILY,
        ndim=2,
        n_channels=config.n_channel_in,
        axes="YX" + ("C" if config.n_channel_in > 1 else ""),
        patch=list(config.train_patch_size),
        contrast=contrast_parameters(config),
        normalization=normalization_parameters(config),
        input={"keras_shape": [None, None, None, config.n_channel_in], "layout": "byxc",
               "divisible_by": config.divisible_by, "padding": "reflect to a multiple of divisible_by",
               "tile_halo": halo},
        output={"keras_shape": [None, None, None, 1], "meaning": "foreground probability",
                "activation": "sigmoid"},
        network={"architecture": "U-Net", "depth": config.depth, "filters": config.filters,
                 "kernel_size": config.kernel_size, "batch_norm": config.batch_norm, "dropout": config.dropout,
                 "upsampling": config.upsampling, "initializer": "he_normal"},
        loss=({"name": "binary focal", "gamma": config.focal_gamma, "alpha": config.focal_alpha}
              if config.loss == "focal" else
              {"name": "weighted binary cross-entropy (U-Net border weights)", "w0": config.w0,
               "sigma": config.sigma, "class_weights": config.class_weights}),
        threshold=0.5,
        min_area=None,
        max_area=None,
        area_unit="pixel",
        split_touching=False,
        connectivity=8,
    )

