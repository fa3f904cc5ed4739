"""CARE adapter (supervised restoration with CSBDeep): patches, training, prediction.

Patches come from ``low``/``GT`` pairs with CSBDeep's ``create_patches``
(non-background regions, percentile normalisation); prediction uses CSBDeep's
percentile normaliser and maps the result back to the input's intensity range.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..data.augment import geometric_augmenter
from ..data.holdout import block_centres, patch_centres_clear_of
from ..data.restoration import RestorationDataset, choose_blocks
from . import training
from .card import ModelCard, ModelFolderError, read_card

if TYPE_CHECKING:
    from ..families.care import CareOptions

log = logging.getLogger(__name__)

FAMILY = "care"
OUTPUTS = "restored"  # prediction writes restored images
# What a complete model folder holds besides its card (models/completeness.py checks it).
MODEL_FILES = {"config": "config.json", "weights": ("weights_best.h5", "weights_last.h5")}
PREDICT_PERCENTILES = (2.0, 99.8)  # CSBDeep's PercentileNormalizer defaults


def _patch_size(ndim: int, shapes: list, patch) -> tuple:
    wanted = tuple(patch) if patch else ((64, 64) if ndim == 2 else (16, 64, 64))
    if len(wanted) == 1:
        wanted = wanted * ndim
    smallest = np.min(np.array(shapes), axis=0)
    # CSBDeep wants sizes divisible by 2**depth; 8 covers depths up to 3
    return tuple(int(min(w, max(8, (s // 8) * 8))) for w, s in zip(wanted, smallest))


def make_patches(samples: list, patch_size: tuple, n_patches: int, seed: int, *, where=None):
    """Normalised source/target patches (channels last) from non-background regions.

    ``where(sample)``, when given, is a mask of the patch centres allowed in that sample
    (CSBDeep's convention), and-ed with CSBDeep's background filter; ``n_patches`` is then
    per sample, or every allowed place once when ``n_patches`` is None (validation blocks).
    """
    from csbdeep.data import RawData, create_patches, no_background_patches

    np.random.seed(seed)  # create_patches samples with NumPy's global generator
    axes = "ZYX" if len(patch_size) == 3 else "YX"
    if where is None:
        raw = RawData.from_arrays([s.source for s in samples], [s.target for s in samples], axes=axes)
        with training.quiet_keras():
            X, Y, _ = create_patches(raw, patch_size, n_patches, verbose=False)
        return np.moveaxis(X, 1, -1), np.moveaxis(Y, 1, -1)
    background = no_background_patches()
    Xs, Ys = [], []
    for sample in samples:
        allowed = where(sample)
        count = int(allowed.sum()) if n_patches is None else n_patches
        if count == 0:
            continue

        def within(datas, size, allowed=allowed, exact=n_patches is None):
            return allowed if exact else background(datas, size) & allowed

        raw = RawData.from_arrays([sample.source], [sample.target], axes=axes)
        with training.quiet_keras():
            try:
                X, Y, _ = create_patches(raw, patch_size, count, patch_filter=within, verbose=False)
            except ValueError:  # only background is left clear of the validation blocks
                X, Y, _ = create_patches(raw, patch_size, count, patch_filter=lambda d, s: allowed, verbose=False)
        Xs.append(X)
        Ys.append(Y)
    return np.moveaxis(np.concatenate(Xs), 1, -1), np.moveaxis(np.concatenate(Ys), 1, -1)


def training_and_validation_patches(dataset: RestorationDataset, patch: tuple, options):
    """``X, Y, X_val, Y_val`` and the validation blocks (None unless the dataset validates on blocks).

    With blocks, CSBDeep's random training patches are drawn only where they touch no
    validation block, and each block validates once, normalised with its whole image's
    percentiles as the training patches are. Blocks are chosen among places CSBDeep's
    background filter accepts (a block of empty background says little).
    """
    if dataset.holdout != "blocks":
        X, Y = make_patches(dataset.train, patch, options.patches_per_image, options.seed)
        X_val, Y_val = make_patches(dataset.val, patch, max(8, options.patches_per_image // 4), options.seed + 1)
        return X, Y, X_val, Y_val, None
    from csbdeep.data import no_background_patches

    background = no_background_patches()

    def not_background(sample, corners):
        mask = background((sample.target, sample.source), patch)
        return [c for c in corners if mask[tuple(b + p // 2 for b, p in zip(c, patch))]]

    blocks = choose_blocks(dataset, patch, options.seed, eligible=not_background)

    def corners(sample):
        return blocks.get(sample.source_path.name, [])

    X, Y = make_patches(dataset.train, patch, options.patches_per_image, options.seed,
                        where=lambda s: patch_centres_clear_of(s.source.shape, patch, corners(s)))
    X_val, Y_val = make_patches(dataset.train, patch, None, options.seed + 1,
                                where=lambda s: block_centres(s.source.shape, patch, corners(s)))
    return X, Y, X_val, Y_val, blocks


def _open(model_dir: Path, config=None):
    from csbdeep.models import CARE

    return training.open_model(CARE, model_dir, config)


def load_model(model_dir: Path):
    training.check_family(model_dir, FAMILY, "CARE")
    return _open(model_dir)


def make_config(ndim: int, options: CareOptions, reduce_lr: dict | None = None):
    from csbdeep.models import Config

    extra = {"train_reduce_lr": dict(reduce_lr)} if reduce_lr else {}
    return Config(
        "ZYXC" if ndim == 3 else "YXC", n_channel_in=1, n_channel_out=1,
        probabilistic=options.probabilistic,
        unet_n_depth=options.depth, unet_kern_size=options.kernel or (5 if ndim == 2 else 3),
        unet_n_first=options.filters, train_batch_size=options.batch, train_learning_rate=options.lr,
        train_epochs=options.epochs, train_steps_per_epoch=options.steps, train_tensorboard=False, **extra,
    )


def train(dataset: RestorationDataset, model_dir: Path, options: CareOptions, *, resume: bool = False,
          from_model: Path | None = None, progress: bool = True, extra_callbacks: list | None = None):
    """Train, resume or fine-tune a CARE model into ``model_dir``; return it with its best weights."""
    from .budget import plan_restoration_options
    from .device import configure_tensorflow

    model_dir = Path(model_dir).resolve()
    configure_tensorflow(quiet=not progress)
    options, plan = plan_restoration_options(options.training_profile, dataset, options, progress=progress)

    def config_for(source):
        if source is None:
            return make_config(dataset.ndim, options, plan.reduce_lr)
        if source.config.n_dim != dataset.ndim:
            raise ModelFolderError(f"{from_model} is a {source.config.n_dim}D model; the data are {dataset.ndim}D.")
        config = source.config
        config.train_learning_rate, config.train_epochs = options.lr, options.epochs
        config.train_steps_per_epoch, config.train_batch_size = options.steps, options.batch
        config.train_reduce_lr = dict(plan.reduce_lr)
        return config

    new_patch = _patch_size(dataset.ndim, [s.source.shape for s in dataset.all_samples], options.patch)

    def card_for(model):
        return ModelCard.new(
            FAMILY, ndim=dataset.ndim, n_channels=1, axes="ZYX" if dataset.ndim == 3 else "YX", patch=list(new_patch),
            normalization={"method": "percentile", "low": PREDICT_PERCENTILES[0],
                           "high": PREDICT_PERCENTILES[1], "restore_intensity_range": True})

    start = training.start_training(model_dir, plan, resume=resume, epochs=options.epochs, open_saved=_open,
                                    config_for=config_for, card_for=card_for, from_model=from_model,
                                    load_source=load_model, progress=progress)
    model = start.model
    # a resumed run keeps the patch it trained with (its card's), not one chosen anew
    patch = tuple(read_card(model_dir).patch) if resume else new_patch
    X, Y, X_val, Y_val, blocks = training_and_validation_patches(dataset, patch, options)
    training.record_validation(model_dir, dataset, patch, blocks)

    def fit(epochs):
        with training.validation_share_warning_hidden(bool(blocks)):
            model.train(X, Y, validation_data=(X_val, Y_val), epochs=epochs,
                        steps_per_epoch=model.config.train_steps_per_epoch,
                        augmenter=geometric_augmenter(dataset.ndim, options.seed) if options.augment else None)

    training.fit_with_bookkeeping(model, model_dir, fit, epochs_total=start.epochs_total,
                                  epochs_done=start.epochs_done, progress=progress, description="CARE training",
                                  max_minutes=options.max_minutes, extra_callbacks=extra_callbacks,
                                  early_stopping_patience=start.plan_used.get("early_stopping_patience"),
                                  expected_epochs=start.plan_used.get("expected_epochs"))
    return model


def predict(model, image: np.ndarray, *, n_tiles=None) -> np.ndarray:
    """Restore one image (``YX`` or ``ZYX``, raw intensities); float32, same shape."""
    from csbdeep.data import PercentileNormalizer

    axes = "ZYX" if image.ndim == 3 else "YX"
    normalizer = PercentileNormalizer(*PREDICT_PERCENTILES, do_after=True)
    with training.quiet_keras():
        restored = model.predict(image, axes, normalizer=normalizer, n_tiles=n_tiles)
    return np.asarray(restored, dtype=np.float32)
