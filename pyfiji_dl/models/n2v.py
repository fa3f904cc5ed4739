"""Noise2Void adapter (self-supervised denoising): patches, training, prediction.

Patches are cut on a grid with the 8-fold rotation/flip augmentation of n2v's
examples, and the defaults of the ZeroCostDL4Mic Noise2Void notebook: patch 64, lr 4e-4,
``n2v_perc_pix`` 0.198 (per cent: one masked pixel in each box of 22 x 22 pixels),
``uniform_withCP`` manipulator, neighbourhood radius 5. n2v normalises with the
mean and standard deviation of the training patches, stored in its config.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..data.holdout import grid_corners
from ..data.restoration import RestorationDataset, choose_blocks
from ..errors import OptionError
from . import training
from .card import ModelCard, ModelFolderError, read_card

if TYPE_CHECKING:
    from ..families.n2v import N2VOptions

log = logging.getLogger(__name__)

FAMILY = "n2v"
OUTPUTS = "restored"  # prediction writes restored images
# What a complete model folder holds besides its card (models/completeness.py checks it).
MODEL_FILES = {"config": "config.json", "weights": ("weights_best.h5", "weights_last.h5")}


def _patch_size(ndim: int, shapes: list, patch) -> tuple:
    wanted = tuple(patch) if patch else ((64, 64) if ndim == 2 else (32, 64, 64))
    if len(wanted) == 1:
        wanted = wanted * ndim
    smallest = np.min(np.array(shapes), axis=0)
    size = [int(min(w, max(8, (s // 8) * 8))) for w, s in zip(wanted, smallest)]
    if size[-1] != size[-2]:  # n2v's rotation augmentation needs square YX patches
        size[-1] = size[-2] = min(size[-1], size[-2])
    return tuple(size)


def masked_percentage(patch, wanted: float) -> float:
    """The ``n2v_perc_pix`` to train with: ``wanted``, or more when a patch is too short for it.

    n2v 0.3 masks one pixel at a random place in each box of ``round(sqrt(100 /
    perc_pix))`` pixels along every axis (along Z too in 3D, where the share of masked
    pixels is then lower than ``perc_pix``) and drops the places that fall outside the
    patch. With the default 0.198 % the box is 22 pixels: a patch shorter than that along
    some axis (8 slices of a small stack) often holds no masked pixel, a batch of such
    patches makes n2v's loss 0 / 0 and its NaN gradient ruins the weights. The share is
    raised until the box equals the shortest patch axis, so every patch holds at least
    one masked pixel; patches of the published sizes (64 x 64, 32 x 64 x 64) keep ``wanted``.
    """
    shortest = int(min(patch))
    if shortest >= _mask_box(wanted):
        return float(wanted)
    return 100.0 / shortest ** 2


def _mask_box(perc_pix: float) -> int:
    """The side of n2v's boxes that each hold one masked pixel (its N2V_DataWrapper rounds the same way)."""
    return int(np.round(np.sqrt(100.0 / perc_pix)))


def _masked_share_for(patch, wanted: float) -> float:
    """:func:`masked_percentage`, saying so when it differs from ``wanted``."""
    perc_pix = masked_percentage(patch, wanted)
    if perc_pix != wanted:
        log.info("Noise2Void masks %.3g %% of the pixels instead of %.3g %%: the patch %s is shorter than "
                 "n2v's box of %d pixels, which would leave patches with no masked pixel (a NaN loss).",
                 perc_pix, wanted, "x".join(map(str, patch)), _mask_box(wanted))
    return perc_pix


#: Masked pixels wanted in the validation set. n2v masks about 0.2 % of each validation
#: patch once, before training, and the validation loss is the error on those pixels only:
#: five 64 x 64 validation blocks hold about 40. The best epoch (whose weights are kept)
#: was then chosen by which pixels happened to be masked: two 5-minute runs on the same
#: blocks reached a best validation loss of 0.12 and 0.20, one falling to the end, the
#: other rising from its 30th epoch (kept: a model 0.4 dB worse on the held-out part).
VALIDATION_MASKED_PIXELS = 1000
#: At most this many copies of each validation patch: every copy is predicted after every
#: epoch, and within a budget that time is taken from training.
MAX_VALIDATION_COPIES = 16


def masked_pixels_per_patch(patch, perc_pix: float) -> float:
    """Pixels n2v masks in one patch, on average: one in each box of :func:`_mask_box` pixels a side."""
    box = _mask_box(perc_pix)
    return float(np.prod([size / box for size in patch]))


def validation_copies(n_patches: int, patch, perc_pix: float) -> int:
    """How many times to repeat the validation patches so that about :data:`VALIDATION_MASKED_PIXELS` are masked.

    n2v masks each patch of the validation set independently, so copies of a patch give
    the loss other pixels of the same image to judge by, without taking any from training.
    """
    once = n_patches * masked_pixels_per_patch(patch, perc_pix)
    return int(min(MAX_VALIDATION_COPIES, max(1, np.ceil(VALIDATION_MASKED_PIXELS / max(once, 1e-9)))))


def make_patches(samples: list, patch: tuple, augment: bool, *, keep=None) -> np.ndarray:
    """Noisy patches ``S(Z)YXC`` cut on a regular grid, as n2v's generator does.

    With ``augment``, each patch also appears rotated by 90, 180 and 270 degrees and
    flipped (8-fold), n2v's augmentation; it needs square YX patches. ``keep(sample,
    corner)``, when given, chooses the grid places to cut (training or validation blocks).
    """
    patches = []
    for sample in samples:
        image = np.asarray(sample.source, dtype=np.float32)
        for corner in grid_corners(image.shape, patch):
            if keep is None or keep(sample, corner):
                patches.append(image[tuple(slice(c, c + p) for c, p in zip(corner, patch))])
    if not patches:
        raise OptionError(f"no patch of {patch} fits the images; use a smaller --patch")
    stack = np.stack(patches)[..., np.newaxis]
    if augment and patch[-1] == patch[-2]:
        yx = (stack.ndim - 3, stack.ndim - 2)
        rotated = np.concatenate([np.rot90(stack, k, axes=yx) for k in range(4)])
        stack = np.concatenate([rotated, np.flip(rotated, axis=yx[1])])
    return np.ascontiguousarray(stack)


def training_and_validation_patches(dataset: RestorationDataset, patch: tuple, augment: bool, seed: int):
    """``X, X_val`` and the validation blocks (None unless the dataset validates on blocks).

    Validation blocks are grid places of the patch's size, so a training patch never
    holds a validation pixel, and they are left out before augmentation (n2v's examples
    split after it, so rotated copies of validation patches train).
    """
    if dataset.holdout != "blocks":
        return make_patches(dataset.train, patch, augment), make_patches(dataset.val, patch, False), None
    blocks = choose_blocks(dataset, patch, seed)

    def validates(sample, corner):
        return corner in blocks.get(sample.source_path.name, ())

    X = make_patches(dataset.train, patch, augment, keep=lambda sample, corner: not validates(sample, corner))
    return X, make_patches(dataset.train, patch, False, keep=validates), blocks


def _open(model_dir: Path, config=None):
    from n2v.models import N2V

    return training.open_model(N2V, model_dir, config)


def load_model(model_dir: Path):
    training.check_family(model_dir, FAMILY, "Noise2Void")
    return _open(model_dir)


def make_config(X: np.ndarray, ndim: int, patch: tuple, options: N2VOptions, reduce_lr: dict | None = None):
    from n2v.models import N2VConfig

    extra = {"train_reduce_lr": dict(reduce_lr)} if reduce_lr else {}
    return N2VConfig(
        X, unet_kern_size=3, unet_n_depth=options.depth, unet_n_first=options.filters,
        train_steps_per_epoch=options.steps, train_epochs=options.epochs, train_loss="mse", batch_norm=True,
        train_batch_size=options.batch, n2v_perc_pix=options.perc_pix,
        n2v_patch_shape=patch, n2v_manipulator="uniform_withCP", n2v_neighborhood_radius=options.radius,
        train_learning_rate=options.lr, train_tensorboard=False, **extra,
    )


def train(dataset: RestorationDataset, model_dir: Path, options: N2VOptions, *, resume: bool = False,
          from_model: Path | None = None, progress: bool = True, extra_callbacks: list | None = None):
    """Train, resume or fine-tune a Noise2Void model into ``model_dir``; return it with its best weights."""
    from .budget import plan_restoration_options
    from .device import configure_tensorflow

    model_dir = Path(model_dir).resolve()
    configure_tensorflow(quiet=not progress)
    options, plan = plan_restoration_options(options.training_profile, dataset, options, progress=progress)
    if resume:
        patch = tuple(read_card(model_dir).patch)
    else:
        patch = _patch_size(dataset.ndim, [s.source.shape for s in dataset.all_samples], options.patch)
    X, X_val, blocks = training_and_validation_patches(dataset, patch, options.augment, options.seed)

    def config_for(source):
        if source is None:
            masked = replace(options, perc_pix=_masked_share_for(patch, options.perc_pix))
            return make_config(X, dataset.ndim, patch, masked, plan.reduce_lr)
        if source.config.n_dim != dataset.ndim:
            raise ModelFolderError(f"{from_model} is a {source.config.n_dim}D model; the data are {dataset.ndim}D.")
        config = source.config  # keeps the source's normalisation, which its weights expect
        config.train_learning_rate, config.train_epochs = options.lr, options.epochs
        config.train_steps_per_epoch = options.steps
        config.n2v_patch_shape = patch
        config.n2v_perc_pix = _masked_share_for(patch, config.n2v_perc_pix)
        config.train_reduce_lr = dict(plan.reduce_lr)
        return config

    start = training.start_training(
        model_dir, plan, resume=resume, epochs=options.epochs, open_saved=_open, config_for=config_for,
        card_for=lambda model: ModelCard.new(
            FAMILY, ndim=dataset.ndim, n_channels=1, axes="ZYX" if dataset.ndim == 3 else "YX", patch=list(patch),
            normalization={"method": "mean/std of the training patches (n2v config)"}),
        from_model=from_model, load_source=load_model, progress=progress)
    model = start.model
    copies = validation_copies(len(X_val), patch, model.config.n2v_perc_pix)
    masked = round(len(X_val) * copies * masked_pixels_per_patch(patch, model.config.n2v_perc_pix))
    training.record_validation(model_dir, dataset, patch, blocks, copies=copies, masked_pixels=masked)
    if copies > 1:
        log.info("Noise2Void validates on %d copies of each of its %d validation patch(es), each masked anew: about "
                 "%d masked pixels instead of %d, so that the best epoch is not chosen by a few pixels.",
                 copies, len(X_val), masked, round(masked / copies))
        X_val = np.concatenate([X_val] * copies)

    def fit(epochs):
        with training.validation_share_warning_hidden(bool(blocks)):
            model.train(X, X_val, epochs=epochs, steps_per_epoch=model.config.train_steps_per_epoch)

    training.fit_with_bookkeeping(model, model_dir, fit, epochs_total=start.epochs_total,
                                  epochs_done=start.epochs_done, progress=progress, description="Noise2Void training",
                                  max_minutes=options.max_minutes, extra_callbacks=extra_callbacks,
                                  early_stopping_patience=start.plan_used.get("early_stopping_patience"),
                                  expected_epochs=start.plan_used.get("expected_epochs"))
    return model


def mean_std(config) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation n2v normalises with (its config stores strings)."""
    means = np.asarray([float(m) for m in config.means], np.float32)
    stds = np.asarray([float(s) for s in config.stds], np.float32)
    if means.size == 1:
        return means.reshape(()), stds.reshape(())
    return means, stds


def predict(model, image: np.ndarray, *, n_tiles=None) -> np.ndarray:
    """Denoise one image (``YX`` or ``ZYX``, raw intensities); float32, same shape."""
    axes = "ZYX" if image.ndim == 3 else "YX"
    with training.quiet_keras():
        restored = model.predict(np.asarray(image, dtype=np.float32), axes=axes, n_tiles=n_tiles)
    return np.asarray(restored, dtype=np.float32)
